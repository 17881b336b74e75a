package vccgen

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
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
	open   map[*channel]openTruth
	done   []Interruption
	phases phaseTruth
}

// observe follows one built event.
func (t *truth) observe(raw *rawEvent, id string) {
	if raw.ch == nil {
		return
	}
	t.phases.observe(raw, id)
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

// Phase is one true phase period of a simulated channel, as the phase
// table of issue 25 defines it (alerting, connected, held, parked,
// interrupted, wrap), from the event that opened it to the event that
// closed it. It is derived from the events the simulation built, in the
// order it built them, not from a walk over the delivered stream.
//
// The generator never produces the outcome "expired": the simulation
// closes every phase it opens within hours (talk at most 30 minutes, a
// wrap-up minutes, an email or chat a few hours at most), well under the
// 24 h maximum of every kind. A phase still open when the caller stops
// pulling events is not reported.
type Phase struct {
	ChannelID string `json:"channelId"`
	// Phase is alerting, connected, held, parked, interrupted or wrap.
	Phase string `json:"phase"`
	// Outcome is connected, failed, wrap, retrieved, unparked, resumed,
	// ended or disconnected.
	Outcome string `json:"outcome"`
	// OpenedBy and ClosedBy are the CloudEvent ids of the opening and
	// closing events (ClosedBy would be empty for an expired phase, which
	// the generator never produces).
	OpenedBy  string    `json:"openedBy"`
	ClosedBy  string    `json:"closedBy,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	EndedAt   time.Time `json:"endedAt"`
}

// phaseKind is a kind of phase, indexing phaseNames.
type phaseKind uint8

const (
	phaseAlerting phaseKind = iota
	phaseConnected
	phaseHeld
	phaseParked
	phaseInterrupted
	phaseWrap
	numPhaseKinds
)

// phaseNames are the names of the phase kinds as published.
var phaseNames = [numPhaseKinds]string{"alerting", "connected", "held", "parked", "interrupted", "wrap"}

// effect is what an event does to one kind of phase.
type effect uint8

const (
	effNone   effect = iota
	effOpen          // the kind's opener
	effClose         // one of the kind's closers
	effFinish        // an end: closes any open phase and ends the kind
)

// phaseOpeners are the event kinds that open each kind of phase.
var phaseOpeners = [numPhaseKinds]evKind{
	phaseAlerting:    evAlerted,
	phaseConnected:   evConnected,
	phaseHeld:        evHeld,
	phaseParked:      evParked,
	phaseInterrupted: evInterrupted,
	phaseWrap:        evWrapStarted,
}

// effectOf returns what an event of kind k does to a phase of kind p and
// the outcome it closes an open phase with (issue 25's phase table and
// rule 1).
func effectOf(p phaseKind, k evKind) (effect, string) {
	if k == phaseOpeners[p] {
		return effOpen, ""
	}
	switch {
	case p == phaseAlerting && k == evConnected:
		return effClose, "connected"
	case p == phaseAlerting && k == evConnectionFailed:
		return effClose, "failed"
	case p == phaseConnected && k == evWrapStarted:
		return effClose, "wrap"
	case p == phaseHeld && k == evRetrieved:
		return effClose, "retrieved"
	case p == phaseParked && k == evUnparked:
		return effClose, "unparked"
	case p == phaseInterrupted && k == evResumed:
		return effClose, "resumed"
	case k == evEnded:
		return effFinish, "ended"
	case k == evDisconnected && p == phaseInterrupted:
		return effFinish, "ended" // today's interruption contract
	case k == evDisconnected && p != phaseWrap: // a wrap starts at the disconnect
		return effFinish, "disconnected"
	}
	return effNone, ""
}

// kindState is one kind of phase on one channel.
type kindState struct {
	open, ended bool
	openedBy    string
	openedAt    int64
}

// builtEvent is a channel event as the simulation built it.
type builtEvent struct {
	kind evKind
	id   string
	seq  int // position in the channel's events of the instant, as built
}

// channelPhases is the phase state of one channel: its state before the
// current instant and the events it got at the current instant.
type channelPhases struct {
	id      string
	base    [numPhaseKinds]kindState
	instant []builtEvent
}

// instantResult is what a channel's events of one instant did.
type instantResult struct {
	state           [numPhaseKinds]kindState
	closed          []Phase
	whileOpen, late int // openers that opened nothing: while open, after the end
}

// resolve applies the channel's events of instant at to its state, each
// kind of phase on its own (rule 3), and returns the result.
//
// Rule 4 orders the events of one instant, not the simulation: while a
// phase is open its closer takes effect first, else an end; while it is
// neither open nor ended its opener takes effect first, else an end; the
// remaining events take effect in (source, id) order. Every event here is
// a channel event (one source), so (source, id) order is id order. The
// generator makes ids as KSUIDs of the send time, 0.3 to 0.7 s after the
// event time and drawn independently for each event, so two events at one
// instant (the disconnected and ended of a customer's channel, say) are in
// either id order whatever the order the simulation built them in; the
// outcome is computed from the ids, not from the build order: a connected
// phase closed by a disconnected and an ended at one instant has outcome
// disconnected exactly when the disconnected's id is the smaller.
func (c *channelPhases) resolve(at int64) instantResult {
	r := instantResult{state: c.base}
	byID := slices.Clone(c.instant)
	slices.SortStableFunc(byID, func(a, b builtEvent) int { return cmp.Compare(a.id, b.id) })
	type closing struct {
		seq   int
		phase Phase
	}
	var closed []closing
	for p := range numPhaseKinds {
		s := &r.state[p]
		pending := make([]builtEvent, 0, len(byID))
		for _, e := range byID {
			if eff, _ := effectOf(p, e.kind); eff != effNone {
				pending = append(pending, e)
			}
		}
		apply := func(e builtEvent) {
			eff, outcome := effectOf(p, e.kind)
			switch {
			case eff == effOpen && s.open:
				r.whileOpen++
			case eff == effOpen && s.ended:
				r.late++
			case eff == effOpen:
				s.open, s.openedBy, s.openedAt = true, e.id, at
			case s.open: // a closer or an end
				s.open = false
				closed = append(closed, closing{e.seq, Phase{ChannelID: c.id, Phase: phaseNames[p], Outcome: outcome,
					OpenedBy: s.openedBy, ClosedBy: e.id, StartedAt: time.UnixMilli(s.openedAt).UTC(), EndedAt: time.UnixMilli(at).UTC()}})
			}
			if eff == effFinish {
				s.ended = true
			}
		}
		for len(pending) > 0 {
			pick := -1
			if s.open || !s.ended {
				first := effOpen
				if s.open {
					first = effClose
				}
				for i, e := range pending {
					eff, _ := effectOf(p, e.kind)
					if eff == first {
						pick = i
						break
					}
					if eff == effFinish && pick < 0 {
						pick = i
					}
				}
			}
			if pick < 0 {
				break
			}
			apply(pending[pick])
			pending = slices.Delete(pending, pick, pick+1)
		}
		for _, e := range pending {
			apply(e)
		}
	}
	slices.SortStableFunc(closed, func(a, b closing) int { return cmp.Compare(a.seq, b.seq) })
	for _, cl := range closed {
		r.closed = append(r.closed, cl.phase)
	}
	return r
}

// phaseTruth records the true phase periods as events are built.
// Events come in non-decreasing event time; the events of the current
// instant are kept per channel until a later instant begins, because rule
// 4 decides their effect by their ids, not by the order they were built
// in.
type phaseTruth struct {
	chans  map[string]*channelPhases
	at     int64
	active []*channelPhases // channels with events at the instant at, in order of their first
	done   []Phase
	// Openers that opened nothing at instants before at.
	whileOpen, late int
}

// observe follows one built channel event.
func (t *phaseTruth) observe(raw *rawEvent, id string) {
	if raw.at != t.at {
		t.commit()
		t.at = raw.at
	}
	if t.chans == nil {
		t.chans = map[string]*channelPhases{}
	}
	c := t.chans[raw.ch.id]
	if c == nil {
		c = &channelPhases{id: raw.ch.id}
		t.chans[raw.ch.id] = c
	}
	if len(c.instant) == 0 {
		t.active = append(t.active, c)
	}
	c.instant = append(c.instant, builtEvent{kind: raw.kind, id: id, seq: len(c.instant)})
}

// commit settles the events of the current instant.
func (t *phaseTruth) commit() {
	for _, c := range t.active {
		r := c.resolve(t.at)
		t.done = append(t.done, r.closed...)
		t.whileOpen += r.whileOpen
		t.late += r.late
		c.base, c.instant = r.state, nil
		// A channel with nothing open and nothing ended is as good as
		// new (a failed offer's channel): forget it. Ended channels are
		// kept, so that an opener after the end would open nothing.
		fresh := true
		for _, s := range c.base {
			fresh = fresh && !s.open && !s.ended
		}
		if fresh {
			delete(t.chans, c.id)
		}
	}
	t.active = t.active[:0]
}

// current returns the closed phases and the openers that opened nothing
// (while open, after the end), the current instant included.
func (t *phaseTruth) current() (closed []Phase, whileOpen, late int) {
	closed, whileOpen, late = slices.Clone(t.done), t.whileOpen, t.late
	for _, c := range t.active {
		r := c.resolve(t.at)
		closed = append(closed, r.closed...)
		whileOpen += r.whileOpen
		late += r.late
	}
	return closed, whileOpen, late
}

// openPhases returns the phases open after the events built so far, with
// an empty Outcome and EndedAt.
func (t *phaseTruth) openPhases() []Phase {
	var out []Phase
	add := func(id string, state *[numPhaseKinds]kindState) {
		for p, s := range state {
			if s.open {
				out = append(out, Phase{ChannelID: id, Phase: phaseNames[p], OpenedBy: s.openedBy, StartedAt: time.UnixMilli(s.openedAt).UTC()})
			}
		}
	}
	for id, c := range t.chans {
		if len(c.instant) > 0 {
			r := c.resolve(t.at)
			add(id, &r.state)
		} else {
			add(id, &c.base)
		}
	}
	return out
}

// PhaseTruth returns the true phase periods the simulation closed so far,
// when Config.Truth is set (nil otherwise), in simulation order: by the
// instant they closed, then by the order in which their channels' first
// events of that instant were built, then by the order their closing
// events were built. Like Truth, the simulation runs ahead of delivery;
// callers compare only phases whose events they received. The events of
// the latest instant count as far as they were built: a phase closed by
// a disconnected whose ended at the same instant (with a smaller id) is
// not built yet is reported as closed by the disconnected.
func (g *Generator) PhaseTruth() []Phase {
	if g.truth == nil {
		return nil
	}
	closed, _, _ := g.truth.phases.current()
	if closed == nil {
		closed = []Phase{}
	}
	return closed
}

// WritePhaseTruth writes the true phase periods as NDJSON, one Phase per
// line, beside the events.
func WritePhaseTruth(w io.Writer, phases []Phase) error {
	enc := json.NewEncoder(w)
	for i := range phases {
		if err := enc.Encode(&phases[i]); err != nil {
			return fmt.Errorf("write true phase %d: %w", i, err)
		}
	}
	return nil
}
