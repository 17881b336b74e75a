package codec

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/interruptions/interruptions/core/match"
)

// PhaseType is the CloudEvent type of a phase record: one revision of one
// period of a channel's phase (match.Phases).
const PhaseType = "channel.phase.v0"

// PhaseRetractionType is the CloudEvent type of a phase's retraction.
const PhaseRetractionType = "channel.phaseretracted.v0"

// phaseNamespace is the UUID namespace of phase and phase record ids.
var phaseNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:interruptions:channel.phase"))

// PhaseID is the deterministic id of the phase period of channel
// channelID opened by the event (source, id): UUIDv5 of channelId NUL
// phase NUL source NUL id; the phase records' Kafka key.
func PhaseID(channelID, phase, source, id string) string {
	return uuidString(phaseID(channelID, phase, source, id))
}

// phaseID is PhaseID as a UUID, the name built on the stack when it fits.
func phaseID(channelID, phase, source, id string) uuid.UUID {
	var buf [160]byte
	name := append(append(append(append(append(append(append(buf[:0], channelID...), 0), phase...), 0), source...), 0), id...)
	return uuidV5In(phaseNamespace, name)
}

// PhaseRecordID is the deterministic CloudEvent id of a phase record:
// UUIDv5 of its phase id NUL its revision.
func PhaseRecordID(in match.Interruption) string {
	var pid [36]byte
	appendUUID(pid[:0], phaseID(in.ChannelID, in.Phase, in.OpenedBy.Source, in.OpenedBy.ID))
	return uuidString(phaseRecordID(pid[:], in.Revision))
}

// phaseRecordID is PhaseRecordID of the phase id pid (its 36-byte text)
// and a revision.
func phaseRecordID(pid []byte, revision int) uuid.UUID {
	var buf [64]byte
	return uuidV5In(phaseNamespace, strconv.AppendInt(append(append(buf[:0], pid...), 0), int64(revision), 10))
}

// uuidV5In is uuid.NewSHA1(ns, name) (RFC 9562's version 5) with the hash
// on the stack when the namespace and the name fit in its buffer. It is
// uuidV5 (encode.go, the interruption ids) with the namespace a parameter:
// uuidV5(name) == uuidV5In(namespace, name).
func uuidV5In(ns uuid.UUID, name []byte) (u uuid.UUID) {
	var buf [256]byte
	var sum [sha1.Size]byte
	if len(ns)+len(name) <= len(buf) {
		sum = sha1.Sum(append(append(buf[:0], ns[:]...), name...))
	} else {
		h := sha1.New()
		h.Write(ns[:])
		h.Write(name)
		h.Sum(sum[:0])
	}
	copy(u[:], sum[:])
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u
}

// appendUUID appends u as u.String() writes it (8-4-4-4-12 lower-case
// hex).
func appendUUID(b []byte, u uuid.UUID) []byte {
	n := len(b)
	b = append(b, "00000000-0000-0000-0000-000000000000"...)
	d := b[n:]
	hex.Encode(d[0:8], u[0:4])
	hex.Encode(d[9:13], u[4:6])
	hex.Encode(d[14:18], u[6:8])
	hex.Encode(d[19:23], u[8:10])
	hex.Encode(d[24:], u[10:])
	return b
}

// PhaseData is the data of a phase record, as JSON.
type PhaseData struct {
	PhaseID        string    `json:"phaseId"`
	Revision       int       `json:"revision"`
	Phase          string    `json:"phase"`
	ChannelID      string    `json:"channelId"`
	ConversationID string    `json:"conversationId"`
	InteractionID  string    `json:"interactionId"`
	Party          PartyData `json:"party"`
	Outcome        string    `json:"outcome"`
	StartedAt      string    `json:"startedAt"`
	EndedAt        string    `json:"endedAt"`
	DurationMs     int64     `json:"durationMs"`
	OpenedBy       EventRef  `json:"openedBy"`
	ClosedBy       *EventRef `json:"closedBy,omitempty"`
}

// PhaseRetractionData is the data of a phase retraction, as JSON.
type PhaseRetractionData struct {
	PhaseID   string   `json:"phaseId"`
	Revision  int      `json:"revision"`
	Phase     string   `json:"phase"`
	ChannelID string   `json:"channelId"`
	Reason    string   `json:"reason"`
	StartedAt string   `json:"startedAt"`
	OpenedBy  EventRef `json:"openedBy"`
}

// PhaseReason is a retraction's reason as phase records write it: the
// interruption's interrupted-while-interrupted is opened-while-open.
func PhaseReason(r match.Reason) string {
	if r == match.ReasonInterruptedWhileInterrupted {
		return "opened-while-open"
	}
	return string(r)
}

// PhasePayload returns the data of a phase record. Both times are
// truncated to milliseconds first, so durationMs is endedAt - startedAt as
// written.
func PhasePayload(in match.Interruption) PhaseData {
	d := recordPayload(in, "") // a phase record has no interruption id
	return PhaseData{
		PhaseID:        PhaseID(in.ChannelID, in.Phase, in.OpenedBy.Source, in.OpenedBy.ID),
		Revision:       d.Revision,
		Phase:          in.Phase,
		ChannelID:      d.ChannelID,
		ConversationID: d.ConversationID,
		InteractionID:  d.InteractionID,
		Party:          d.Party,
		Outcome:        d.Outcome,
		StartedAt:      d.InterruptedAt,
		EndedAt:        d.ClosedAt,
		DurationMs:     d.DurationMs,
		OpenedBy:       d.OpenedBy,
		ClosedBy:       d.ClosedBy,
	}
}

// PhaseRetractionPayload returns the data of a phase retraction.
func PhaseRetractionPayload(in match.Interruption) PhaseRetractionData {
	return PhaseRetractionData{
		PhaseID:   PhaseID(in.ChannelID, in.Phase, in.OpenedBy.Source, in.OpenedBy.ID),
		Revision:  in.Revision,
		Phase:     in.Phase,
		ChannelID: in.ChannelID,
		Reason:    PhaseReason(in.Reason),
		StartedAt: FormatMillis(in.InterruptedAt),
		OpenedBy:  EventRef{ID: in.OpenedBy.ID, Type: in.OpenedBy.Type},
	}
}

// PhaseEvent returns the output CloudEvent of a phase record's revision: a
// channel.phase.v0 record (time: its end), or a retraction (time: its
// start). in.Phase must be set.
func PhaseEvent(in match.Interruption, source string) (event.Event, error) {
	if in.Phase == "" {
		return event.Event{}, fmt.Errorf("phase record of channel %s: no phase", in.ChannelID)
	}
	ce := event.New(event.CloudEventsVersionV1)
	ce.SetID(PhaseRecordID(in))
	ce.SetSource(source)
	ce.SetSubject(in.ChannelID)
	var data any
	if in.Retracted {
		ce.SetType(PhaseRetractionType)
		ce.SetTime(time.UnixMilli(match.Millis(in.InterruptedAt)).UTC())
		data = PhaseRetractionPayload(in)
	} else {
		ce.SetType(PhaseType)
		ce.SetTime(time.UnixMilli(match.Millis(in.ClosedAt)).UTC())
		data = PhasePayload(in)
	}
	if err := ce.SetData(event.ApplicationJSON, data); err != nil {
		return event.Event{}, fmt.Errorf("encode data of phase record %s: %w", ce.ID(), err)
	}
	if err := ce.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("validate phase record %s: %w", ce.ID(), err)
	}
	return ce, nil
}
