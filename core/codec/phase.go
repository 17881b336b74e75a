package codec

import (
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
	name := make([]byte, 0, len(channelID)+len(phase)+len(source)+len(id)+3)
	name = append(append(append(append(append(append(append(name, channelID...), 0), phase...), 0), source...), 0), id...)
	return uuid.NewSHA1(phaseNamespace, name).String()
}

// PhaseRecordID is the deterministic CloudEvent id of a phase record:
// UUIDv5 of its phase id NUL its revision.
func PhaseRecordID(in match.Interruption) string {
	pid := PhaseID(in.ChannelID, in.Phase, in.OpenedBy.Source, in.OpenedBy.ID)
	return uuid.NewSHA1(phaseNamespace, strconv.AppendInt(append([]byte(pid), 0), int64(in.Revision), 10)).String()
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
	d := RecordPayload(in)
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
