package codec

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/interruptions/interruptions/core/match"
	"github.com/twmb/franz-go/pkg/kgo"
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
	return uuid.NewSHA1(namespace, []byte(channelID+"\x00"+source+"\x00"+id)).String()
}

// RecordID is the deterministic CloudEvent id of an output record: derived
// from its interruption's id and its revision, so a record published again
// (at-least-once) carries the same id and a new revision a new one.
func RecordID(in match.Interruption) string {
	return recordID(InterruptionID(in.ChannelID, in.OpenedBy.Source, in.OpenedBy.ID), in.Revision)
}

func recordID(interruptionID string, revision int) string {
	b := make([]byte, 0, 48)
	b = append(b, interruptionID...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(revision), 10)
	return uuid.NewSHA1(namespace, b).String()
}

// millisLayout is RFC 3339 in UTC with exactly millisecond precision.
const millisLayout = "2006-01-02T15:04:05.000Z"

// truncMillis truncates Unix nanoseconds to whole milliseconds, toward the
// past (also before 1970).
func truncMillis(ns int64) int64 {
	ms := ns / 1e6
	if ns%1e6 < 0 {
		ms--
	}
	return ms
}

// FormatMillis formats Unix nanoseconds as RFC 3339 UTC with milliseconds.
func FormatMillis(ns int64) string {
	return time.UnixMilli(truncMillis(ns)).UTC().Format(millisLayout)
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
	opened, closed := truncMillis(in.InterruptedAt), truncMillis(in.ClosedAt)
	d := RecordData{
		InterruptionID: InterruptionID(in.ChannelID, in.OpenedBy.Source, in.OpenedBy.ID),
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
	ce.SetTime(time.UnixMilli(truncMillis(in.ClosedAt)).UTC())
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
	ce.SetTime(time.UnixMilli(truncMillis(in.InterruptedAt)).UTC())
	if err := ce.SetData(event.ApplicationJSON, RetractionPayload(in)); err != nil {
		return event.Event{}, fmt.Errorf("encode data of retraction %s: %w", ce.ID(), err)
	}
	if err := ce.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("validate retraction %s: %w", ce.ID(), err)
	}
	return ce, nil
}

// Encoder turns interruptions and CloudEvents into Kafka records through the
// sdk-go Kafka binding.
type Encoder struct {
	// Source is the output records' CloudEvent source.
	Source string
	// Mode is the output content mode.
	Mode Mode
}

// Record returns the Kafka record for an interruption's revision, keyed by
// its interruptionId: a compacted output topic keeps the latest revision of
// every interruption, and all revisions of one stay in one partition.
//
// Records whose strings need no JSON escaping are written by fastRecord,
// byte for byte what the binding writes (a test holds them equal); the
// rest go through the sdk-go binding.
func (enc Encoder) Record(topic string, in match.Interruption) (*kgo.Record, error) {
	if r, ok := enc.fastRecord(topic, in); ok {
		return r, nil
	}
	return enc.bindingRecord(topic, in)
}

// bindingRecord is Record through the sdk-go binding alone: the reference
// fastRecord must equal.
func (enc Encoder) bindingRecord(topic string, in match.Interruption) (*kgo.Record, error) {
	ce, err := RecordEvent(in, enc.Source)
	if err != nil {
		return nil, err
	}
	key := InterruptionID(in.ChannelID, in.OpenedBy.Source, in.OpenedBy.ID)
	r, err := KafkaRecord(topic, []byte(key), ce, enc.Mode)
	if err != nil {
		return nil, fmt.Errorf("record for interruption of channel %s: %w", in.ChannelID, err)
	}
	return r, nil
}

// KafkaRecord writes any CloudEvent as a Kafka record in the given mode
// through the sdk-go Kafka binding.
func KafkaRecord(topic string, key []byte, ce event.Event, mode Mode) (*kgo.Record, error) {
	ctx := kafka_sarama.WithSkipKeyMapping(context.Background())
	if mode == Structured {
		ctx = binding.WithForceStructured(ctx)
	} else {
		ctx = binding.WithForceBinary(ctx)
	}
	var pm sarama.ProducerMessage
	if err := kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(&ce), &pm); err != nil {
		return nil, fmt.Errorf("write %s event %s: %w", mode, ce.ID(), err)
	}
	r := &kgo.Record{Topic: topic, Key: key}
	if pm.Value != nil {
		v, err := pm.Value.Encode()
		if err != nil {
			return nil, fmt.Errorf("encode value of event %s: %w", ce.ID(), err)
		}
		r.Value = v
	}
	r.Headers = make([]kgo.RecordHeader, len(pm.Headers))
	for i, h := range pm.Headers {
		r.Headers[i] = kgo.RecordHeader{Key: string(h.Key), Value: h.Value}
	}
	return r, nil
}

// ParseStructured reads one structured-mode CloudEvent in JSON.
func ParseStructured(b []byte) (event.Event, error) {
	var ce event.Event
	if err := json.Unmarshal(b, &ce); err != nil {
		return event.Event{}, fmt.Errorf("parse structured cloudevent: %w", err)
	}
	return ce, nil
}

// The headers of a dead-letter record, beside the original record's own.
const (
	HeaderDLQReason    = "dlq-reason"
	HeaderDLQError     = "dlq-error"
	HeaderDLQTopic     = "dlq-source-topic"
	HeaderDLQPartition = "dlq-source-partition"
	HeaderDLQOffset    = "dlq-source-offset"
	HeaderDLQTime      = "dlq-time"
)

// DeadLetter returns the dead-letter record for a rejected input: key, value,
// headers and timestamp preserved byte for byte, with the reason, the error,
// the source topic, partition and offset and the time of rejection added as
// headers.
func DeadLetter(topic string, in *kgo.Record, err *DecodeError, now time.Time) *kgo.Record {
	headers := make([]kgo.RecordHeader, 0, len(in.Headers)+6)
	headers = append(headers, in.Headers...)
	headers = append(headers,
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(err.Reason)},
		kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(err.Error())},
		kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(in.Topic)},
		kgo.RecordHeader{Key: HeaderDLQPartition, Value: strconv.AppendInt(nil, int64(in.Partition), 10)},
		kgo.RecordHeader{Key: HeaderDLQOffset, Value: strconv.AppendInt(nil, in.Offset, 10)},
		kgo.RecordHeader{Key: HeaderDLQTime, Value: []byte(now.UTC().Format(time.RFC3339Nano))},
	)
	return &kgo.Record{
		Topic:     topic,
		Key:       in.Key,
		Value:     in.Value,
		Headers:   headers,
		Timestamp: in.Timestamp,
	}
}
