package match

import (
	"hash/fnv"
	"math"
	"time"

	"github.com/interruptions/interruptions/processor/vcc"
	"github.com/interruptions/interruptions/state"
)

// Outcome is how an interruption ended.
type Outcome uint8

// The outcomes of an interruption.
const (
	// OutcomeResumed: a channel.resumed closed it.
	OutcomeResumed Outcome = iota + 1
	// OutcomeEnded: channel.ended or channel.disconnected closed it.
	OutcomeEnded
	// OutcomeExpired: stream time passed interruptedAt + max-interruption.
	OutcomeExpired
)

// String returns the outcome as written in records: resumed, ended, expired.
func (o Outcome) String() string {
	switch o {
	case OutcomeResumed:
		return "resumed"
	case OutcomeEnded:
		return "ended"
	case OutcomeExpired:
		return "expired"
	default:
		return "unknown"
	}
}

// Interruption is one closed interruption: what the engine emits and the
// encoder turns into an output CloudEvent.
type Interruption struct {
	ChannelID      string
	ConversationID string
	InteractionID  string
	Party          vcc.Party
	Outcome        Outcome
	// InterruptedAt and ClosedAt are event times in Unix nanoseconds.
	InterruptedAt int64
	ClosedAt      int64
	OpenedBy      state.Ref
	// ClosedBy is the closing event; nil for OutcomeExpired.
	ClosedBy *state.Ref
}

// Disposition is what became of one input event.
type Disposition uint8

// The dispositions of an event. Every input ends as exactly one of these or
// in the dead-letter topic.
const (
	// Processed: a handled event that changed state (opened, closed or was
	// held).
	Processed Disposition = iota + 1
	// Ignored: a valid event of a type the matcher does not use.
	Ignored
	// Duplicate: an event whose (source, id) the channel already saw.
	Duplicate
)

// String returns the disposition's name.
func (d Disposition) String() string {
	switch d {
	case Processed:
		return "processed"
	case Ignored:
		return "ignored"
	case Duplicate:
		return "duplicate"
	default:
		return "unknown"
	}
}

// Housekeeping counts what stream-time progress did in a call to Process or
// Advance.
type Housekeeping struct {
	// Expired interruptions (also emitted as records).
	Expired int
	// DroppedCloses: held closes that found no interruption in time.
	DroppedCloses int
	// Deleted channels whose retention passed.
	Deleted int
}

// Add adds o's counts to h.
func (h *Housekeeping) Add(o Housekeeping) {
	h.Expired += o.Expired
	h.DroppedCloses += o.DroppedCloses
	h.Deleted += o.Deleted
}

// EngineConfig holds the matching rules' parameters.
type EngineConfig struct {
	// MaxInterruption: an interruption still open when stream time passes
	// interruptedAt + MaxInterruption closes as expired, and a held close
	// is dropped when stream time passes its time + MaxInterruption.
	MaxInterruption time.Duration
	// Retention: a channel's state, seen ids included, is deleted when
	// stream time passes its last event time + Retention and it has no
	// open interruption.
	Retention time.Duration
}

// Engine pairs interruptions with the events that end them. It holds only
// configuration: all state is in the state.Store passed to each call, one
// store per input partition. The engine has no clock; time is the events'
// data.timestamp.
type Engine struct {
	maxNanos       int64
	retentionNanos int64
}

// NewEngine returns an engine for cfg. Durations must be positive.
func NewEngine(cfg EngineConfig) *Engine {
	return &Engine{maxNanos: int64(cfg.MaxInterruption), retentionNanos: int64(cfg.Retention)}
}

// Emit receives the interruptions an engine call closes, in order.
type Emit func(Interruption)

// Process applies one decoded event to its partition's store, emits the
// interruptions it closes, advances stream time and runs what became due.
func (e *Engine) Process(s *state.Store, ev *Event, emit Emit) (Disposition, Housekeeping) {
	d := e.apply(s, ev, emit)
	if ev.HasTimestamp {
		s.AdvanceStreamTime(ev.Timestamp)
	}
	// Also when stream time stayed: a late event can be due at once.
	return d, e.Advance(s, emit)
}

func (e *Engine) apply(s *state.Store, ev *Event, emit Emit) Disposition {
	if ev.Kind == vcc.Ignored {
		return Ignored
	}
	h := eventHash(ev.Source, ev.ID)
	if c := s.Get(ev.ChannelID); c != nil && c.HasSeen(h) {
		return Duplicate
	}
	c := s.Edit(ev.ChannelID)
	c.AddSeen(h)
	if c.LastEventAt < ev.Timestamp || c.NumSeen() == 1 {
		c.LastEventAt = ev.Timestamp
	}
	c.FillIdentity(ev.ConversationID, ev.InteractionID, ev.Party)
	// The channel packs or copies what it keeps of ref; the strings in
	// an emitted close are the event's own.
	ref := state.Ref{Source: ev.Source, ID: ev.ID, Type: ev.Type, At: ev.Timestamp}
	if ev.Kind == vcc.Interrupted {
		e.open(c, ev.ChannelID, ref, emit)
	} else {
		e.close(c, ev.ChannelID, ref, outcomeOf(ev.Kind), emit)
	}
	s.SetDeadline(c, e.deadline(c))
	return Processed
}

func outcomeOf(k vcc.Kind) Outcome {
	if k == vcc.Resumed {
		return OutcomeResumed
	}
	return OutcomeEnded
}

// open pairs an interruption with the earliest held close at or after it
// (within MaxInterruption), or keeps it open.
func (e *Engine) open(c *state.Channel, id string, r state.Ref, emit Emit) {
	for i := range c.NumHeld() {
		at := c.HeldAt(i)
		if at < r.At {
			continue
		}
		if at > addSat(r.At, e.maxNanos) {
			break
		}
		closed := c.Held(i)
		c.RemoveHeld(i)
		emit(interruption(id, c, r, closeOutcome(closed.Type), closed.At, &closed))
		return
	}
	c.InsertOpen(r)
}

// close pairs a closing event with the latest open interruption at or before
// it (within MaxInterruption), or holds it for a late interruption.
func (e *Engine) close(c *state.Channel, id string, r state.Ref, o Outcome, emit Emit) {
	for i := c.NumOpen() - 1; i >= 0; i-- {
		at := c.OpenAt(i)
		if at > r.At {
			continue
		}
		if r.At > addSat(at, e.maxNanos) {
			break
		}
		op := c.Open(i)
		c.RemoveOpen(i)
		closed := r
		emit(interruption(id, c, op, o, r.At, &closed))
		return
	}
	c.InsertHeld(r)
}

// closeOutcome recovers a held close's outcome from its type.
func closeOutcome(typ string) Outcome {
	name, _ := vcc.SplitType(typ)
	kind, _ := vcc.KindOf(name)
	return outcomeOf(kind)
}

func interruption(id string, c *state.Channel, open state.Ref, o Outcome, closedAt int64, by *state.Ref) Interruption {
	conv, inter, party := c.Identity()
	return Interruption{
		ChannelID:      id,
		ConversationID: conv,
		InteractionID:  inter,
		Party:          party,
		Outcome:        o,
		InterruptedAt:  open.At,
		ClosedAt:       closedAt,
		OpenedBy:       open,
		ClosedBy:       by,
	}
}

// Advance runs everything that became due now that stream time has moved:
// expires interruptions, drops held closes, deletes channels past retention.
// Process calls it; callers that restore a store call it once afterwards.
func (e *Engine) Advance(s *state.Store, emit Emit) Housekeeping {
	var hk Housekeeping
	now := s.StreamTime()
	for id := s.NextDue(now); id != ""; id = s.NextDue(now) {
		hk.Add(e.expire(s, id, now, emit))
	}
	return hk
}

// expire handles one due channel.
func (e *Engine) expire(s *state.Store, id string, now int64, emit Emit) Housekeeping {
	var hk Housekeeping
	if c := s.Get(id); e.deadline(c) >= now {
		// An early wake-up (see state.Store.SetDeadline): nothing is due,
		// so state is untouched and the channel is only rescheduled.
		s.SetDeadline(c, e.deadline(c))
		return hk
	}
	c := s.Edit(id)
	for i := 0; i < c.NumOpen(); {
		if bound := addSat(c.OpenAt(i), e.maxNanos); bound < now {
			emit(interruption(id, c, c.Open(i), OutcomeExpired, bound, nil))
			c.RemoveOpen(i)
			hk.Expired++
			continue
		}
		i++
	}
	for i := 0; i < c.NumHeld(); {
		if addSat(c.HeldAt(i), e.maxNanos) < now {
			c.RemoveHeld(i)
			hk.DroppedCloses++
			continue
		}
		i++
	}
	if c.NumOpen() == 0 && addSat(c.LastEventAt, e.retentionNanos) < now {
		hk.DroppedCloses += c.NumHeld()
		hk.Deleted++
		s.Delete(id)
		return hk
	}
	s.SetDeadline(c, e.deadline(c))
	return hk
}

// deadline returns the earliest stream time at which the channel needs
// attention: an open interruption's or held close's bound, or, with nothing
// open, the end of its retention. "Passes" is strict, so the channel is due
// once stream time is beyond the bound.
func (e *Engine) deadline(c *state.Channel) int64 {
	d := addSat(c.LastEventAt, e.retentionNanos)
	if c.NumOpen() > 0 {
		d = addSat(c.OpenAt(0), e.maxNanos)
	}
	if c.NumHeld() > 0 {
		d = min(d, addSat(c.HeldAt(0), e.maxNanos))
	}
	return d
}

// addSat returns t+d for a duration d >= 0, saturated at the largest time:
// a bound past the end of the int64 nanosecond range must not wrap around
// to 1677 (expiring at once, with a negative duration), and a difference
// of two far-apart times must not wrap to a small one (pairing events
// centuries apart).
func addSat(t, d int64) int64 {
	if t > math.MaxInt64-d {
		return math.MaxInt64
	}
	return t + d
}

// Restored schedules every channel of a store just loaded from the changelog
// and runs what is already due.
func (e *Engine) Restored(s *state.Store, emit Emit) Housekeeping {
	s.Range(func(c *state.Channel) bool {
		s.SetDeadline(c, e.deadline(c))
		return true
	})
	return e.Advance(s, emit)
}

// eventHash is the seen-set key of (source, id): FNV-1a 64 over both with a
// separator. Stable across processes, as the changelog needs.
func eventHash(source, id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return h.Sum64()
}
