// Package stateapi is the state API's HTTP door (README "Inspecting
// state"): read-only JSON about the state one instance owns, from its last
// committed state, as `run` serves it on its ops endpoint; and the JSON view
// of a channel that `inspect` prints from the changelog.
package stateapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/state"
)

// stateAPITimeout bounds one request's wait for the partition workers.
const stateAPITimeout = 5 * time.Second

// maxOpenLimit caps /v1/interruptions/open's limit.
const maxOpenLimit = 1000

// Event is one timeline event.
type Event struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Source    string `json:"source"`
	ID        string `json:"id"`
	// ArrivalOffset is the input offset of the record that brought the
	// event (its first arrival); null when unknown (state written by a
	// version that did not keep it).
	ArrivalOffset *int64 `json:"arrivalOffset"`
}

// eventView spells a timeline event out as JSON.
func eventView(r state.Ref) Event {
	e := Event{Type: r.Type, Timestamp: codec.FormatMillis(r.At), Source: r.Source, ID: r.ID}
	if r.HasOffset {
		o := r.Offset
		e.ArrivalOffset = &o
	}
	return e
}

// Interruption is one derived interruption: its record as published,
// or as it will be (for an open one: what it becomes at its bound if
// nothing closes it), its status, and the revision published last (0:
// none).
type Interruption struct {
	Status    string           `json:"status"`
	Published int              `json:"publishedRevision"`
	Record    codec.RecordData `json:"record"`
}

// Retraction is one retraction of a published interruption: the event
// that opened it, the revision that retracts it, and whether that was
// published.
type Retraction struct {
	OpenedBy  Event `json:"openedBy"`
	Revision  int   `json:"revision"`
	Published bool  `json:"published"`
}

// Channel is one channel's state: GET /v1/channels/{id}'s answer.
type Channel struct {
	ChannelID      string          `json:"channelId"`
	Partition      int32           `json:"partition"`
	Clock          string          `json:"clock"`
	ConversationID string          `json:"conversationId"`
	InteractionID  string          `json:"interactionId"`
	Party          codec.PartyData `json:"party"`
	Timeline       []Event         `json:"timeline"`
	Interruptions  []Interruption  `json:"interruptions"`
	Retractions    []Retraction    `json:"retractions"`
	// DeleteAt is when (by the partition clock) the channel's state is
	// deleted if nothing else arrives; null while something is open.
	DeleteAt *string `json:"deleteAt"`
	// Phases, with phase records on (--phases-topic), are the phase
	// matchers' views of the channel, one per phase in the phase table's
	// order; absent with phase records off.
	Phases []Phase `json:"phases,omitempty"`
}

// Phase is one phase of a channel: the timeline its matcher keeps (the
// phase's own events and the ends), the periods derived from it with
// their status and record, the retractions of periods published before,
// and the phase stores' clock. The interrupted phase is the channel's
// interruptions, renamed.
type Phase struct {
	Phase string `json:"phase"`
	Clock string `json:"clock"`
	// Found: the phase's store holds state for the channel.
	Found       bool          `json:"found"`
	Timeline    []Event       `json:"timeline"`
	Periods     []PhasePeriod `json:"periods"`
	Retractions []Retraction  `json:"retractions"`
	// DeleteAt is when (by Clock) the phase's state for the channel is
	// deleted if nothing else arrives; null while a period is open or
	// when not Found.
	DeleteAt *string `json:"deleteAt"`
}

// PhasePeriod is one derived phase period: its record as published, or
// as it will be (for an open one: what it becomes at its bound if
// nothing closes it), its status, and the revision published last (0:
// none).
type PhasePeriod struct {
	Status    string          `json:"status"`
	Published int             `json:"publishedRevision"`
	Record    codec.PhaseData `json:"record"`
}

// Error is the answer to a request that found no state: why, and where
// to look instead.
type Error struct {
	Error     string `json:"error"`
	ChannelID string `json:"channelId,omitempty"`
	Partition *int32 `json:"partition,omitempty"`
	Clock     string `json:"clock,omitempty"`
	Owner     *Owner `json:"owner,omitempty"`
	// AskMembers, for a channel this instance has no state for: the
	// members that own the input partitions it does not, where the
	// channel is if its producer used another partitioner than Kafka's
	// default (librdkafka's CRC32, for one). UnownedPartitions: those
	// no member owns.
	AskMembers        []Ask   `json:"askMembers,omitempty"`
	UnownedPartitions []int32 `json:"unownedPartitions,omitempty"`
	Restoring         int     `json:"restoringPartitions,omitempty"`
	Assigned          int     `json:"assignedPartitions,omitempty"`
}

// Owner is a consumer group member, as the group's description names it.
type Owner struct {
	MemberID string `json:"memberId"`
	ClientID string `json:"clientId"`
	Host     string `json:"host"`
}

// Ask is a member to ask for a channel, with the input partitions it
// owns.
type Ask struct {
	Owner
	Partitions []int32 `json:"partitions"`
}

// withElsewhere sets e's members to ask and unowned partitions.
func (e *Error) withElsewhere(el processor.Elsewhere) {
	for _, m := range el.Ask {
		e.AskMembers = append(e.AskMembers, Ask{Owner: Owner{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.Host}, Partitions: m.Partitions})
	}
	e.UnownedPartitions = el.Unowned
}

// Register registers the state API's handlers on mux: GET
// /v1/channels/{id}, /v1/interruptions/open, /v1/phases/open and
// /v1/partitions, answered from r.
func Register(mux *http.ServeMux, r *processor.Runner) {
	mux.HandleFunc("GET /v1/channels/{id}", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), stateAPITimeout)
		defer cancel()
		id := req.PathValue("id")
		cs, err := r.Channel(ctx, id)
		if err != nil {
			writeQueryError(w, id, err)
			return
		}
		if !cs.Found {
			p := cs.Partition
			e := Error{Error: "unknown channel: no state for it on this instance's partitions",
				ChannelID: id, Partition: &p, Clock: codec.FormatMillis(cs.Clock)}
			if len(cs.Ask) > 0 || len(cs.Unowned) > 0 {
				e.Error += "; it may be on a partition another member owns (askMembers)"
			}
			e.withElsewhere(cs.Elsewhere)
			writeJSON(w, http.StatusNotFound, e)
			return
		}
		writeJSON(w, http.StatusOK, ChannelView(cs))
	})
	mux.HandleFunc("GET /v1/interruptions/open", func(w http.ResponseWriter, req *http.Request) {
		olderThan, limit, ok := openParams(w, req)
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), stateAPITimeout)
		defer cancel()
		open, err := r.OpenInterruptions(ctx, olderThan, limit)
		if err != nil {
			writeQueryError(w, "", err)
			return
		}
		writeOpen(w, "interruptions", open, codec.RecordPayload)
	})
	mux.HandleFunc("GET /v1/phases/open", func(w http.ResponseWriter, req *http.Request) {
		olderThan, limit, ok := openParams(w, req)
		if !ok {
			return
		}
		phase := req.URL.Query().Get("phase")
		ctx, cancel := context.WithTimeout(req.Context(), stateAPITimeout)
		defer cancel()
		open, err := r.OpenPhases(ctx, phase, olderThan, limit)
		if errors.Is(err, processor.ErrUnknownPhase) {
			writeJSON(w, http.StatusBadRequest, Error{Error: "phase: one of alerting, connected, held, parked, interrupted, wrap, with phase records on (--phases-topic)"})
			return
		}
		if err != nil {
			writeQueryError(w, "", err)
			return
		}
		writeOpen(w, "phases", open, codec.PhasePayload)
	})
	mux.HandleFunc("GET /v1/partitions", func(w http.ResponseWriter, _ *http.Request) {
		type partitionJSON struct {
			Partition       int32    `json:"partition"`
			State           string   `json:"state"`
			Clock           *string  `json:"clock,omitempty"`
			ClockLagSeconds *float64 `json:"clockLagSeconds,omitempty"`
			Channels        int      `json:"channels"`
			Open            int      `json:"openInterruptions"`
			HeldForGrace    int      `json:"heldForGrace"`
			CommittedOffset int64    `json:"committedOffset"`
			Lag             *int64   `json:"consumerLag,omitempty"`
		}
		st := r.Status()
		out := struct {
			Ready      bool            `json:"ready"`
			Reason     string          `json:"reason"`
			Partitions []partitionJSON `json:"partitions"`
		}{Ready: st.Ready, Reason: st.Reason, Partitions: []partitionJSON{}}
		now := time.Now().UnixNano()
		for _, p := range st.Partitions {
			pj := partitionJSON{Partition: p.Partition, State: "restored", Channels: p.Channels, Open: p.Open,
				HeldForGrace: p.Held, CommittedOffset: p.Committed}
			if p.StreamTime != 0 {
				c, lag := codec.FormatMillis(p.StreamTime), float64(now-p.StreamTime)/1e9
				pj.Clock, pj.ClockLagSeconds = &c, &lag
			}
			if p.Lag >= 0 {
				l := p.Lag
				pj.Lag = &l
			}
			out.Partitions = append(out.Partitions, pj)
		}
		for _, p := range st.RestoringPartitions {
			out.Partitions = append(out.Partitions, partitionJSON{Partition: p, State: "restoring"})
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// openJSON is one entry of an open endpoint's answer: where it is open,
// the partition's clock, for how long, and its record (R: the record's
// data) as it will be published.
type openJSON[R any] struct {
	Partition      int32   `json:"partition"`
	Clock          string  `json:"clock"`
	OpenForSeconds float64 `json:"openForSeconds"`
	Record         R       `json:"record"`
}

// writeOpen answers an open endpoint: under key, each of open with the
// record payload makes of it at the revision it will be published as.
func writeOpen[R any](w http.ResponseWriter, key string, open []processor.OpenInterruption, payload func(match.Interruption) R) {
	out := []openJSON[R]{}
	for _, o := range open {
		in := o.Interruption
		in.Revision++ // the revision it will be published as
		out = append(out, openJSON[R]{Partition: o.Partition, Clock: codec.FormatMillis(o.Clock),
			OpenForSeconds: float64(o.Clock-o.InterruptedAt) / 1e9, Record: payload(in)})
	}
	writeJSON(w, http.StatusOK, map[string][]openJSON[R]{key: out})
}

// openParams reads the olderThan (default 0) and limit (default 100)
// parameters of the open endpoints; false when it answered 400.
func openParams(w http.ResponseWriter, req *http.Request) (olderThan time.Duration, limit int, ok bool) {
	q := req.URL.Query()
	if s := q.Get("olderThan"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			writeJSON(w, http.StatusBadRequest, Error{Error: "olderThan: a non-negative duration such as 1h"})
			return 0, 0, false
		}
		olderThan = d
	}
	limit = 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxOpenLimit {
			writeJSON(w, http.StatusBadRequest, Error{Error: "limit: a number from 1 to " + strconv.Itoa(maxOpenLimit)})
			return 0, 0, false
		}
		limit = n
	}
	return olderThan, limit, true
}

// ChannelView spells a channel's state out as JSON.
func ChannelView(cs processor.ChannelState) Channel {
	v := Channel{ChannelID: cs.ChannelID, Partition: cs.Partition, Clock: codec.FormatMillis(cs.Clock),
		ConversationID: cs.ConversationID, InteractionID: cs.InteractionID,
		Party:    codec.PartyData{Role: cs.Party.Role, AgentID: cs.Party.AgentID, UserID: cs.Party.UserID},
		Timeline: []Event{}, Interruptions: []Interruption{}, Retractions: []Retraction{}}
	for _, e := range cs.Events {
		v.Timeline = append(v.Timeline, eventView(e))
	}
	for _, d := range cs.Derived {
		in := d.Interruption
		rec := codec.RecordPayload(in)
		if d.Status != match.StatusPublished {
			rec.Revision = in.Revision + 1 // the revision it will be published as
		}
		v.Interruptions = append(v.Interruptions, Interruption{Status: d.Status.String(), Published: in.Revision, Record: rec})
	}
	for _, r := range cs.Retractions {
		v.Retractions = append(v.Retractions, Retraction{
			OpenedBy: eventView(r.OpenedBy),
			Revision: r.Revision, Published: r.Done})
	}
	if cs.DeleteAt != 0 {
		s := codec.FormatMillis(cs.DeleteAt)
		v.DeleteAt = &s
	}
	for _, ps := range cs.Phases {
		v.Phases = append(v.Phases, phaseView(ps))
	}
	return v
}

// phaseView spells one phase of a channel out as JSON.
func phaseView(ps processor.PhaseState) Phase {
	v := Phase{Phase: ps.Phase, Clock: codec.FormatMillis(ps.Clock), Found: ps.Found,
		Timeline: []Event{}, Periods: []PhasePeriod{}, Retractions: []Retraction{}}
	for _, e := range ps.Events {
		v.Timeline = append(v.Timeline, eventView(e))
	}
	for _, d := range ps.Derived {
		rec := codec.PhasePayload(d.Interruption)
		if d.Status != match.StatusPublished {
			rec.Revision = d.Revision + 1 // the revision it will be published as
		}
		v.Periods = append(v.Periods, PhasePeriod{Status: d.Status.String(), Published: d.Revision, Record: rec})
	}
	for _, r := range ps.Retractions {
		v.Retractions = append(v.Retractions, Retraction{OpenedBy: eventView(r.OpenedBy), Revision: r.Revision, Published: r.Done})
	}
	if ps.Found && ps.DeleteAt != 0 {
		s := codec.FormatMillis(ps.DeleteAt)
		v.DeleteAt = &s
	}
	return v
}

// writeQueryError answers a failed query: 404 with the owner for a
// partition this instance does not own and the members to ask, 503 while
// it restores or before the processor runs, 504 when the workers did not
// answer in time.
func writeQueryError(w http.ResponseWriter, id string, err error) {
	var notOwned *processor.NotOwnedError
	var restoring *processor.RestoringError
	switch {
	case errors.As(err, &notOwned):
		p := notOwned.Partition
		e := Error{Error: err.Error(), ChannelID: id, Partition: &p}
		if notOwned.MemberID != "" {
			e.Owner = &Owner{MemberID: notOwned.MemberID, ClientID: notOwned.ClientID, Host: notOwned.Host}
		}
		e.withElsewhere(notOwned.Elsewhere)
		writeJSON(w, http.StatusNotFound, e)
	case errors.As(err, &restoring):
		p := restoring.Partition
		writeJSON(w, http.StatusServiceUnavailable, Error{Error: err.Error(), ChannelID: id, Partition: &p,
			Restoring: restoring.Restoring, Assigned: restoring.Assigned})
	case errors.Is(err, processor.ErrNotRunning):
		writeJSON(w, http.StatusServiceUnavailable, Error{Error: err.Error(), ChannelID: id})
	default:
		writeJSON(w, http.StatusGatewayTimeout, Error{Error: err.Error(), ChannelID: id})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
