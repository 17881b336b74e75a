// Package match is the matcher: given one partition's store and a decoded
// event, it decides the event's fate, places it on its channel's timeline,
// derives the channel's interruptions by walking the timeline, and emits
// what changed since it last published them (new interruptions,
// revisions, retractions) once the partition clock allows. It is pure: no
// I/O, no wall clock, no Kafka types. The Kafka runtime (package processor), the file replay (package
// replay) and the tests all drive it through Engine.
package match

import (
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/state"
)

// Event is a decoded VCC event with only the fields the matcher needs.
type Event struct {
	// ID and Source identify the notification; together they are unique.
	ID     string
	Source string
	// Type is the full CloudEvent type, e.g. "channel.resumed.v0".
	Type string
	// Subject is the CloudEvent subject (the channelId, for channel events).
	Subject string
	Kind    vcc.Kind
	// Phased: the event is of a phase type (vcc.PhaseNames) and was
	// decoded for the phase matchers (codec.DecodePhased), as strictly as
	// a handled one: ChannelID, Timestamp and the identity are set. Kind
	// is still vcc.Ignored for the types the interruption matcher does
	// not use.
	Phased bool

	// Timestamp is data.timestamp (event time) in Unix nanoseconds;
	// HasTimestamp is false only for ignored events that carry none.
	Timestamp    int64
	HasTimestamp bool

	// Time is the CloudEvent time attribute (when the notification was
	// sent) in Unix nanoseconds, clamped to what an int64 holds; HasTime
	// is false when the event has none. Only the codec's plausibility
	// check (codec.CheckTime) reads it.
	Time    int64
	HasTime bool

	ChannelID      string
	ConversationID string
	InteractionID  string
	Party          vcc.Party

	// IgnoredIdentity is a bitmask of the identity fields (party,
	// party.role, party.agentId, party.userId, conversationId,
	// interactionId) that a handled event carried with the wrong JSON type
	// (a number, bool, array or object where a string is due, or a party
	// that is not an object) and that the decoder therefore read as
	// absent; the bits are codec's Ignored* constants. Zero for ignored
	// types, whose identity is not read.
	IgnoredIdentity uint8

	// Offset is the Kafka offset of the input record that brought the
	// event, when HasOffset; the timeline keeps it as the event's arrival
	// offset (the first arrival's: a duplicate is not placed). The Kafka
	// runtime sets it, not the decoder; a replay leaves it unknown.
	Offset    int64
	HasOffset bool
}

// Ref returns the event's reference as stored in state.
func (e *Event) Ref() state.Ref {
	return state.Ref{Source: e.Source, ID: e.ID, Type: e.Type, At: e.Timestamp, Offset: e.Offset, HasOffset: e.HasOffset}
}
