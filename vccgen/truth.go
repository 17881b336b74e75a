package vccgen

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Interruption is one true interruption of a simulated channel: what the
// simulation did, from the channel.interrupted it sent when a call
// interrupted the email or chat to the channel.resumed (the call's wrap-up
// ended) or the channel.disconnected / channel.ended (the email or chat
// was aborted while interrupted) that closed it, in the order the
// simulation produced them. It is the oracle for the matcher: it knows the
// lifecycle, not only the events.
type Interruption struct {
	ChannelID string `json:"channelId"`
	// OpenedBy and ClosedBy are the CloudEvent ids of the opening and
	// closing events; ClosedBy is the first closing event the simulation
	// sent (an abort sends disconnected and ended at the same instant).
	OpenedBy string `json:"openedBy"`
	ClosedBy string `json:"closedBy"`
	// Outcome is "resumed" or "ended".
	Outcome       string    `json:"outcome"`
	InterruptedAt time.Time `json:"interruptedAt"`
	ClosedAt      time.Time `json:"closedAt"`
}

// openTruth is an interruption the simulation has not closed yet.
type openTruth struct {
	id string
	at int64
}

// truth records the simulated lifecycle as events are built (in
// simulation order).
type truth struct {
	open map[*channel]openTruth
	done []Interruption
}

// observe follows one built event.
func (t *truth) observe(raw *rawEvent, id string) {
	if raw.ch == nil {
		return
	}
	o, isOpen := t.open[raw.ch]
	switch raw.kind {
	case evInterrupted:
		if !isOpen {
			t.open[raw.ch] = openTruth{id: id, at: raw.at}
		}
	case evResumed, evDisconnected, evEnded:
		if !isOpen {
			return
		}
		outcome := "ended"
		if raw.kind == evResumed {
			outcome = "resumed"
		}
		delete(t.open, raw.ch)
		t.done = append(t.done, Interruption{ChannelID: raw.ch.id, OpenedBy: o.id, ClosedBy: id, Outcome: outcome,
			InterruptedAt: time.UnixMilli(o.at).UTC(), ClosedAt: time.UnixMilli(raw.at).UTC()})
	}
}

// Truth returns the true interruptions the simulation closed so far, in
// the order it closed them, when Config.Truth is set (nil otherwise). The
// simulation runs ahead of delivery: an interruption's events may still be
// held for late delivery; callers compare only interruptions whose events
// they received.
func (g *Generator) Truth() []Interruption {
	if g.truth == nil {
		return nil
	}
	return g.truth.done
}

// WriteTruth writes the true interruptions as NDJSON, one Interruption per
// line, beside the events.
func WriteTruth(w io.Writer, truth []Interruption) error {
	enc := json.NewEncoder(w)
	for i := range truth {
		if err := enc.Encode(&truth[i]); err != nil {
			return fmt.Errorf("write true interruption %d: %w", i, err)
		}
	}
	return nil
}
