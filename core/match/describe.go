package match

import "github.com/interruptions/interruptions/state"

// Status is where one derived interruption stands.
type Status uint8

// The statuses of a derived interruption.
const (
	// StatusOpen: not closed, and the clock has not passed its bound.
	StatusOpen Status = iota + 1
	// StatusPending: closed (or expired) and never published, waiting for
	// the grace period (--grace).
	StatusPending
	// StatusPublished: the published revision says what the timeline
	// says.
	StatusPublished
	// StatusChanged: settled, but not published as the timeline now says
	// it (never, or with other content); the next call that runs what is
	// due publishes it.
	StatusChanged
)

// String returns the status as the state API writes it.
func (s Status) String() string {
	switch s {
	case StatusOpen:
		return "open"
	case StatusPending:
		return "pending"
	case StatusPublished:
		return "published"
	case StatusChanged:
		return "changed"
	default:
		return "unknown"
	}
}

// Derived is one interruption as a channel's timeline says it is now.
type Derived struct {
	// Interruption is what a record of it says (for an open one: what it
	// becomes at its bound if nothing closes it). Revision is the revision
	// published last (0: none yet).
	Interruption
	Status Status
}

// Retracted is an interruption a channel published whose opening event no
// longer starts one: its last revision is a retraction, or is about to be.
type Retracted struct {
	OpenedBy state.Ref
	Revision int
	// Done: the retraction is published.
	Done bool
}

// Description is one channel as the matcher sees it: its timeline, the
// interruptions it derives from it, and what was published.
type Description struct {
	Events      []state.Ref
	Derived     []Derived
	Retractions []Retracted
	// DeleteAt is the stream time at which the channel's state is deleted
	// if nothing else arrives (0: not before what is open is settled);
	// for a channel holding only the tomb of its deleted state (no
	// Events), when the tomb is dropped.
	DeleteAt int64
}

// Describe derives c's interruptions from its timeline, at clock now, and
// compares them with what c published: each status is what the engine's
// one publishing decision (decide) says at now. It changes nothing.
func (e *Engine) Describe(c *state.Channel, now int64) Description {
	var desc Description
	for i := range c.NumEvents() {
		desc.Events = append(desc.Events, c.Event(i))
	}
	var w walk
	e.walk(c, -1, &w)
	seen := map[uint64]bool{}
	id := c.ID()
	anyOpen := false
	for k := range w.n {
		d := w.at(k)
		seen[d.h] = true
		dec := e.decide(c, d, c.FindPublished(d.h), now)
		var st Status
		switch dec.fate {
		case fateOpen, fateRetraction:
			st, anyOpen = StatusOpen, true
		case fateHeld:
			st = StatusPending
		case fateCurrent:
			st = StatusPublished
		default:
			st = StatusChanged
		}
		desc.Derived = append(desc.Derived, Derived{Interruption: e.record(id, c, d, int(dec.pub.Revision)), Status: st})
	}
	for i := range c.NumPublished() {
		p := c.Published(i)
		if seen[p.Open] {
			continue
		}
		r := Retracted{Revision: int(p.Revision), Done: e.decide(c, nil, i, now).fate == fateCurrent}
		if ev := c.FindEventHash(p.Open); ev >= 0 {
			r.OpenedBy = c.Event(ev)
		}
		desc.Retractions = append(desc.Retractions, r)
	}
	if !anyOpen {
		desc.DeleteAt = addSat(c.LastEventAt, e.retentionNanos)
		if t := c.Tomb(); t != nil {
			// A tomb (no events), or a channel revived while its tomb
			// lives: kept until the tomb is past.
			desc.DeleteAt = max(desc.DeleteAt, e.tombDeadline(t))
		}
	}
	return desc
}
