// Package handle is the transport-neutral handler every door drives: an
// event's bytes and metadata in (Input), a Result out: the event as
// decoded, how the matcher placed it, the interruptions it emitted, or its
// rejection. A door (the Kafka runtime, replay) builds one chain per
// partition, as watermill's router wraps handlers in middleware:
//
//	DeadLetter(Recover(onPanic, matcher.Handle))
//
// hands it each input with the door's Result, then writes what the Result
// holds: each emitted interruption to its output, the rejection to its
// dead-letter output. The chain never calls back into the door for an
// event: decode (the core codec, with the door's binding for the sdk's
// slow path), the time check, the matcher and the state all run inside,
// and one call returns with everything the event caused. The package
// knows no Kafka client and no HTTP.
//
// Nothing here allocates per event: a Result is reused by its door (its
// Out slice keeps its array) and the chain is built once.
package handle

import (
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/state"
)

// Input is one event as a transport delivered it: its value bytes, its
// headers and the transport's metadata.
type Input struct {
	// Value and Headers are the event's bytes as the transport carries
	// them (Headers nil for a structured NDJSON line).
	Value   []byte
	Headers []codec.Header
	// Timestamp is the transport's time of the event (Kafka's record
	// timestamp); HasTimestamp says whether it has one to check the
	// event's time against (codec.CheckTime).
	Timestamp    time.Time
	HasTimestamp bool
	// Partition and Offset say where the event was read, for the dead
	// letter and the hooks; HasOffset says whether Offset is a real
	// arrival offset, given to the event (replay has none).
	Partition int32
	Offset    int64
	HasOffset bool
}

// Result is what handling one input gave. A door keeps one per chain and
// hands it to every call; the handler resets it first.
type Result struct {
	// Event is the event as decoded; Decoded says whether it was (a
	// rejection by the decoder leaves it zero).
	Event   match.Event
	Decoded bool
	// Store is the index, in MatcherConfig.Stores, of the store the event
	// went to; -1 when it went to none (rejected before).
	Store int
	// Disposition and Housekeeping are the engine's answer for a placed
	// event: valid when Placed.
	Disposition  match.Disposition
	Housekeeping match.Housekeeping
	Placed       bool
	// Out is what the engine emitted while handling the input, in order
	// (new interruptions, revisions, retractions): the door writes each
	// to its output, also when the input was then rejected (a panic part
	// way, a too-late event), as they were decided.
	Out []match.Interruption
	// Phases is what the phase matchers emitted (MatcherConfig.Phases),
	// each record naming its phase, in order: the interrupted phase's
	// records are the interruption matcher's Out, named so.
	Phases []match.Interruption
	// Rejected is the input's rejection, set by DeadLetter: the door
	// writes the input to its dead-letter output with the reason.
	Rejected *codec.DecodeError
}

// reset readies r for the next input, keeping Out's array.
func (r *Result) reset() {
	out, phases := r.Out[:0], r.Phases[:0]
	*r = Result{Out: out, Phases: phases, Store: -1}
}

// Handler handles one input into res. It returns nil when the input was
// handled (or, behind DeadLetter, rejected: see res.Rejected) and a
// *codec.DecodeError when it is rejected.
type Handler func(in *Input, res *Result) error

// MatcherConfig is what a door gives a Matcher.
type MatcherConfig struct {
	// Binding is the door's CloudEvents binding, for the events the fast
	// decoder leaves to the sdk (codec.Decode).
	Binding codec.Binding
	Engine  *match.Engine
	// Stores are the stores of the door's partitions: the Kafka runtime
	// gives its task's one; replay one per simulated partition, nil
	// entries made on first use. With more than one, an event goes to
	// the store of its key's partition as Kafka's default partitioner
	// places a keyed record (codec.EventKey, codec.KeyPartition).
	Stores []*state.Store
	// MaxClockSkew is codec.CheckTime's; Retention the engine's, for the
	// too-late rejection.
	MaxClockSkew time.Duration
	Retention    time.Duration
	// Phases, when not empty, turns the phase records on: events are
	// decoded for phases (codec.DecodePhased), each phase matcher places
	// every decoded event on its own stores (an event of a type its phase
	// does not read only moves their clock), and the interruption
	// matcher's records are also the
	// interrupted phase's (match.PhaseInterrupted). An event a matcher
	// cannot place (too late, channel overflow) is rejected with the first
	// such reason after every matcher that could place it did: sending it
	// again is a duplicate to those.
	Phases []PhaseMatcher
}

// PhaseMatcher is one phase matcher of a door: a phase engine
// (match.EngineConfig.Phase) and its stores, one per entry of
// MatcherConfig.Stores (nil entries made on first use).
type PhaseMatcher struct {
	Engine *match.Engine
	Stores []*state.Store
}

// Matcher is the handler at the end of the chain: decode → time check →
// engine.Process on the event's store, what it emits into the Result → a
// too-late or channel-overflow event as a rejection. One per chain: it is not safe for
// concurrent use.
type Matcher struct {
	cfg MatcherConfig
	// res is the result being filled, for emit: in the Matcher, not on
	// the heap per event.
	res       *Result
	emit      match.Emit
	emitPhase match.Emit
}

// NewMatcher returns a Matcher for cfg. It panics if cfg has no store: a
// door that gives none is a bug.
func NewMatcher(cfg MatcherConfig) *Matcher {
	if len(cfg.Stores) == 0 {
		panic("handle: MatcherConfig.Stores is empty")
	}
	for i, p := range cfg.Phases {
		if len(p.Stores) != len(cfg.Stores) {
			panic(fmt.Sprintf("handle: phase matcher %d has %d stores, the door %d", i, len(p.Stores), len(cfg.Stores)))
		}
	}
	m := &Matcher{cfg: cfg}
	m.emit = func(out match.Interruption) { m.res.Out = append(m.res.Out, out) }
	if len(cfg.Phases) > 0 {
		m.emit = func(out match.Interruption) {
			m.res.Out = append(m.res.Out, out)
			out.Phase = match.PhaseInterrupted
			m.res.Phases = append(m.res.Phases, out)
		}
	}
	m.emitPhase = func(out match.Interruption) { m.res.Phases = append(m.res.Phases, out) }
	return m
}

// Handle handles in into res; it is a Handler.
func (m *Matcher) Handle(in *Input, res *Result) error {
	res.reset()
	ev := &res.Event
	var err error
	if len(m.cfg.Phases) > 0 {
		*ev, err = codec.DecodePhased(in.Value, in.Headers, m.cfg.Binding)
	} else {
		*ev, err = codec.Decode(in.Value, in.Headers, m.cfg.Binding)
	}
	if err != nil {
		return err
	}
	res.Decoded = true
	if in.HasOffset {
		ev.Offset, ev.HasOffset = in.Offset, true
	}
	// An event cannot have happened much later than it was sent, nor
	// than it reached the transport: such a timestamp must not move the
	// clock.
	if err := codec.CheckTime(ev, in.Timestamp, in.HasTimestamp, m.cfg.MaxClockSkew); err != nil {
		return err
	}
	res.Store = 0
	if n := len(m.cfg.Stores); n > 1 {
		res.Store = codec.KeyPartition(codec.EventKey(ev), n)
	}
	st := m.cfg.Stores[res.Store]
	if st == nil {
		st = state.New()
		m.cfg.Stores[res.Store] = st
	}
	m.res = res
	d, hk := m.cfg.Engine.Process(st, ev, m.emit)
	m.res = nil
	var rejected error
	switch d {
	case match.TooLate:
		// Older than the clock minus retention: the channel's timeline
		// may be gone, so the event cannot be placed (never a second,
		// silent answer).
		rejected = codec.TooLateError(ev, st.StreamTime(), m.cfg.Retention)
	case match.ChannelOverflow:
		// The channel holds the most events the cap allows: the event
		// is set aside, unplaced, like a too-late one.
		rejected = codec.ChannelOverflowError(ev, st.Get(ev.ChannelID).NumEvents())
	default:
		res.Disposition, res.Housekeeping, res.Placed = d, hk, true
	}
	if len(m.cfg.Phases) > 0 {
		// Every phase store that can place the event does, whatever
		// the others answered; the first rejection is the event's.
		if err := m.phases(ev, res); rejected == nil {
			rejected = err
		}
	}
	return rejected
}

// phases runs the phase matchers on a decoded event: every one of them,
// then the first rejection.
func (m *Matcher) phases(ev *match.Event, res *Result) error {
	var rejected error
	m.res = res
	for _, p := range m.cfg.Phases {
		st := p.Stores[res.Store]
		if st == nil {
			st = state.New()
			p.Stores[res.Store] = st
		}
		switch d, _ := p.Engine.Process(st, ev, m.emitPhase); d {
		case match.TooLate:
			if rejected == nil {
				rejected = codec.TooLateError(ev, st.StreamTime(), m.cfg.Retention)
			}
		case match.ChannelOverflow:
			if rejected == nil {
				rejected = codec.ChannelOverflowError(ev, st.Get(ev.ChannelID).NumEvents())
			}
		}
	}
	m.res = nil
	return rejected
}

// DeadLetter returns next with its rejections (a *codec.DecodeError,
// wrapped or not) set aside in res.Rejected, for the door to write to its
// dead-letter output; the handler then returns nil and the door goes on.
// Other errors pass through.
func DeadLetter(next Handler) Handler {
	return func(in *Input, res *Result) error {
		err := next(in, res)
		var derr *codec.DecodeError
		if err == nil || !errors.As(err, &derr) {
			return err
		}
		res.Rejected = derr
		return nil
	}
}

// PanicLogger logs a panic recovered while handling in, with its stack.
type PanicLogger func(in *Input, v any, stack []byte)

// Recover returns next with a panic turned into a rejection with reason
// processing-panic: bad input must not crash a door, nor stop it in a loop
// of restarts on the same event. log, when not nil, logs the panic with its
// stack; when nil, the stack is in the rejection's error. What the event
// changed in the state up to the panic stays, and what the engine emitted
// up to it stays in res.Out: a panic is a bug, and the log says where.
func Recover(log PanicLogger, next Handler) Handler {
	return func(in *Input, res *Result) (err error) {
		defer func() {
			if v := recover(); v != nil {
				stack := debug.Stack()
				perr := fmt.Errorf("panic: %v", v)
				if log != nil {
					log(in, v, stack)
				} else {
					perr = fmt.Errorf("panic: %v\n%s", v, stack)
				}
				res.Placed = false
				err = &codec.DecodeError{Reason: codec.ReasonProcessingPanic, Err: perr}
			}
		}()
		return next(in, res)
	}
}
