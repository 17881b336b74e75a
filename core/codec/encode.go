package codec

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/interruptions/interruptions/core/match"
)

// RecordType is the CloudEvent type of an output record: one revision of an
// interruption.
const RecordType = "channel.interruptionended.v0"

// RetractionType is the CloudEvent type of a retraction: the interruption
// no longer exists (a late event placed its opening event inside another
// interruption or after the channel's end).
const RetractionType = "channel.interruptionretracted.v0"

// ReasonTooLate is the dead-letter reason of a handled event older than the
// partition clock minus retention (match.TooLate).
const ReasonTooLate Reason = "too-late"

// ReasonProcessingPanic is the dead-letter reason of a record whose
// processing panicked (the processor recovers it and dead-letters the
// record); the dead-letter metric counts it as "other".
const ReasonProcessingPanic Reason = "processing-panic"

// TooLateError returns the dead-letter error of an event the engine
// refused as too late.
func TooLateError(ev *match.Event, clock int64, retention time.Duration) *DecodeError {
	return &DecodeError{Reason: ReasonTooLate, Err: fmt.Errorf("event %s of channel %s at %s is older than the partition clock %s minus retention %s",
		ev.ID, ev.ChannelID, FormatMillis(ev.Timestamp), FormatMillis(clock), retention)}
}

// Mode is a CloudEvents Kafka content mode.
type Mode uint8

// The content modes.
const (
	// Binary: attributes in ce_* headers, data as the record value.
	Binary Mode = iota
	// Structured: the whole event as JSON in the record value.
	Structured
)

// ParseMode parses "binary" or "structured".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "binary":
		return Binary, nil
	case "structured":
		return Structured, nil
	}
	return 0, fmt.Errorf("content mode %q is not binary or structured", s)
}

// String returns "binary" or "structured".
func (m Mode) String() string {
	if m == Structured {
		return "structured"
	}
	return "binary"
}

// namespace is the UUID namespace of interruption and record ids (a v5 UUID
// of the product's name in the URL namespace), so ids are deterministic.
var namespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:interruptions:channel.interruptionended"))

// InterruptionID is the deterministic id of the interruption of channel
// channelID opened by the event (source, id): the output records' Kafka key.
func InterruptionID(channelID, source, id string) string {
	var buf [128]byte
	name := append(append(append(append(append(buf[:0], channelID...), 0), source...), 0), id...)
	return uuidString(uuidV5(name))
}

// RecordID is the deterministic CloudEvent id of an output record: derived
// from its interruption's id and its revision, so a record published again
// (at-least-once) carries the same id and a new revision a new one.
func RecordID(in match.Interruption) string {
	return recordID(InterruptionID(in.ChannelID, in.OpenedBy.Source, in.OpenedBy.ID), in.Revision)
}

func recordID(interruptionID string, revision int) string {
	var buf [64]byte
	name := strconv.AppendInt(append(append(buf[:0], interruptionID...), 0), int64(revision), 10)
	return uuidString(uuidV5(name))
}

// uuidV5 is uuid.NewSHA1(namespace, name) (RFC 9562's version 5) with the
// hash on the stack: ids are made for every output record.
func uuidV5(name []byte) uuid.UUID { return uuidV5In(namespace, name) }

// uuidString is u.String() (8-4-4-4-12 lower-case hex) in one allocation.
func uuidString(u uuid.UUID) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// millisLayout is RFC 3339 in UTC with exactly millisecond precision.
const millisLayout = "2006-01-02T15:04:05.000Z"

// FormatMillis formats Unix nanoseconds as RFC 3339 UTC with milliseconds.
func FormatMillis(ns int64) string {
	return time.UnixMilli(match.Millis(ns)).UTC().Format(millisLayout)
}

// RecordData is the data of an output record, as JSON.
type RecordData struct {
	InterruptionID string    `json:"interruptionId"`
	Revision       int       `json:"revision"`
	ChannelID      string    `json:"channelId"`
	ConversationID string    `json:"conversationId"`
	InteractionID  string    `json:"interactionId"`
	Party          PartyData `json:"party"`
	Outcome        string    `json:"outcome"`
	InterruptedAt  string    `json:"interruptedAt"`
	ClosedAt       string    `json:"closedAt"`
	DurationMs     int64     `json:"durationMs"`
	OpenedBy       EventRef  `json:"openedBy"`
	ClosedBy       *EventRef `json:"closedBy,omitempty"`
}

// PartyData is the party in an output record; ids only as present.
type PartyData struct {
	Role    string `json:"role"`
	AgentID string `json:"agentId,omitempty"`
	UserID  string `json:"userId,omitempty"`
}

// EventRef names a source event in an output record.
type EventRef struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// RecordPayload returns the record data of an interruption. Both times are truncated
// to milliseconds first, so durationMs is exactly closedAt - interruptedAt
// as written.
func RecordPayload(in match.Interruption) RecordData {
	return recordPayload(in, InterruptionID(in.ChannelID, in.OpenedBy.Source, in.OpenedBy.ID))
}

// recordPayload is RecordPayload with the interruption id given (phase
// records, which have none, give "").
func recordPayload(in match.Interruption, iid string) RecordData {
	opened, closed := match.Millis(in.InterruptedAt), match.Millis(in.ClosedAt)
	d := RecordData{
		InterruptionID: iid,
		Revision:       in.Revision,
		ChannelID:      in.ChannelID,
		ConversationID: in.ConversationID,
		InteractionID:  in.InteractionID,
		Party:          PartyData{Role: in.Party.Role, AgentID: in.Party.AgentID, UserID: in.Party.UserID},
		Outcome:        in.Outcome.String(),
		InterruptedAt:  time.UnixMilli(opened).UTC().Format(millisLayout),
		ClosedAt:       time.UnixMilli(closed).UTC().Format(millisLayout),
		DurationMs:     closed - opened,
		OpenedBy:       EventRef{ID: in.OpenedBy.ID, Type: in.OpenedBy.Type},
	}
	if in.ClosedBy != nil {
		d.ClosedBy = &EventRef{ID: in.ClosedBy.ID, Type: in.ClosedBy.Type}
	}
	return d
}

// RetractionData is the data of a retraction record, as JSON.
type RetractionData struct {
	InterruptionID string   `json:"interruptionId"`
	Revision       int      `json:"revision"`
	ChannelID      string   `json:"channelId"`
	Reason         string   `json:"reason"`
	InterruptedAt  string   `json:"interruptedAt"`
	OpenedBy       EventRef `json:"openedBy"`
}

// RetractionPayload returns the data of a retraction.
func RetractionPayload(in match.Interruption) RetractionData {
	return RetractionData{
		InterruptionID: InterruptionID(in.ChannelID, in.OpenedBy.Source, in.OpenedBy.ID),
		Revision:       in.Revision,
		ChannelID:      in.ChannelID,
		Reason:         string(in.Reason),
		InterruptedAt:  FormatMillis(in.InterruptedAt),
		OpenedBy:       EventRef{ID: in.OpenedBy.ID, Type: in.OpenedBy.Type},
	}
}

// RecordEvent returns the output CloudEvent of an interruption's revision:
// a channel.interruptionended record, or a retraction.
func RecordEvent(in match.Interruption, source string) (event.Event, error) {
	if in.Retracted {
		return retractionEvent(in, source)
	}
	ce := event.New(event.CloudEventsVersionV1)
	ce.SetID(RecordID(in))
	ce.SetType(RecordType)
	ce.SetSource(source)
	ce.SetSubject(in.ChannelID)
	ce.SetTime(time.UnixMilli(match.Millis(in.ClosedAt)).UTC())
	if err := ce.SetData(event.ApplicationJSON, RecordPayload(in)); err != nil {
		return event.Event{}, fmt.Errorf("encode data of record %s: %w", ce.ID(), err)
	}
	if err := ce.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("validate record %s: %w", ce.ID(), err)
	}
	return ce, nil
}

func retractionEvent(in match.Interruption, source string) (event.Event, error) {
	ce := event.New(event.CloudEventsVersionV1)
	ce.SetID(RecordID(in))
	ce.SetType(RetractionType)
	ce.SetSource(source)
	ce.SetSubject(in.ChannelID)
	ce.SetTime(time.UnixMilli(match.Millis(in.InterruptedAt)).UTC())
	if err := ce.SetData(event.ApplicationJSON, RetractionPayload(in)); err != nil {
		return event.Event{}, fmt.Errorf("encode data of retraction %s: %w", ce.ID(), err)
	}
	if err := ce.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("validate retraction %s: %w", ce.ID(), err)
	}
	return ce, nil
}

// ParseStructured reads one structured-mode CloudEvent in JSON.
func ParseStructured(b []byte) (event.Event, error) {
	var ce event.Event
	if err := json.Unmarshal(b, &ce); err != nil {
		return event.Event{}, fmt.Errorf("parse structured cloudevent: %w", err)
	}
	return ce, nil
}
