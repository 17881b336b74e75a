// Package processor turns VCC channel CloudEvents into interruption records.
//
// One path for data, each step in one file:
//
//	Kafka record --Decode--> Event --Engine--> Record + state changes --Encode--> Kafka records
//	                 |                  |
//	          DecodeError -> DLQ   state.Store (one per input partition)
//
// The engine (engine.go) is pure: no I/O, no clock, no Kafka types. The Kafka
// loop (runner.go), the file replay (replay.go) and the tests all drive it.
package processor

import "github.com/interruptions/interruptions/state"

// Kind is what an event means to the matcher.
type Kind uint8

// The kinds of event.
const (
	// KindIgnored is a valid event the matcher does not use: another
	// channel.* type or another family such as agent.presencechanged.
	KindIgnored Kind = iota
	// KindInterrupted opens an interruption (channel.interrupted).
	KindInterrupted
	// KindResumed closes one with outcome resumed (channel.resumed).
	KindResumed
	// KindEnded closes one with outcome ended (channel.ended,
	// channel.disconnected).
	KindEnded
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindInterrupted:
		return "interrupted"
	case KindResumed:
		return "resumed"
	case KindEnded:
		return "ended"
	default:
		return "ignored"
	}
}

// handled maps the type names the matcher uses (without version) to kinds.
var handled = map[string]Kind{
	"channel.interrupted":  KindInterrupted,
	"channel.resumed":      KindResumed,
	"channel.ended":        KindEnded,
	"channel.disconnected": KindEnded,
}

// supportedVersion reports whether a handled type's version suffix is one
// the matcher understands.
func supportedVersion(v string) bool { return v == "v0" || v == "v1" }

// Event is a decoded VCC event with only the fields the matcher needs.
type Event struct {
	// ID and Source identify the notification; together they are unique.
	ID     string
	Source string
	// Type is the full CloudEvent type, e.g. "channel.resumed.v0".
	Type string
	// Subject is the CloudEvent subject (the channelId, for channel events).
	Subject string
	Kind    Kind

	// Timestamp is data.timestamp (event time) in Unix nanoseconds;
	// HasTimestamp is false only for ignored events that carry none.
	Timestamp    int64
	HasTimestamp bool

	ChannelID      string
	ConversationID string
	InteractionID  string
	Party          state.Party
}

// Ref returns the event's reference as stored in state.
func (e *Event) Ref() state.Ref {
	return state.Ref{Source: e.Source, ID: e.ID, Type: e.Type, At: e.Timestamp}
}
