// Package handle is the transport-neutral handler every door drives: an
// event's bytes and metadata in (Input), the records the matcher emits and
// a rejection out. A door (the Kafka runtime, replay) builds one chain per
// partition, as watermill's router wraps handlers in middleware:
//
//	DeadLetter(sink, Recover(onPanic, matcher.Handle))
//
// and hands it each input. The door gives what is its own: the decode
// function (its binding), the store of the event's partition, the output
// function that encodes and writes each interruption, the dead-letter
// sink and the logger. The package knows no Kafka client and no HTTP.
//
// Nothing here allocates per event: a Matcher holds the decoded event it
// reuses, and the chain is built once.
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

// Handler handles one input. It returns nil when the input was handled or
// disposed of, a *codec.DecodeError when it is rejected, and any other
// error when the door must stop (an output could not be written).
type Handler func(in *Input) error

// Decoder reads an event's value and headers as a matcher event. Every
// rejection must be a *codec.DecodeError.
type Decoder func(value []byte, headers []codec.Header) (match.Event, error)

// Output encodes and writes one interruption the matcher emitted while
// handling in. An error stops the door (it is returned by the handler).
type Output func(in *Input, out match.Interruption) error

// Observer is told the disposition of each event the matcher placed (not
// of rejected ones: those go to the dead-letter sink) and the housekeeping
// its processing did.
type Observer interface {
	Handled(in *Input, ev *match.Event, d match.Disposition, hk match.Housekeeping)
}

// ObserverFunc is a function as an Observer.
type ObserverFunc func(in *Input, ev *match.Event, d match.Disposition, hk match.Housekeeping)

// Handled calls f.
func (f ObserverFunc) Handled(in *Input, ev *match.Event, d match.Disposition, hk match.Housekeeping) {
	f(in, ev, d, hk)
}

// MatcherConfig is what a door gives a Matcher.
type MatcherConfig struct {
	Decode Decoder
	Engine *match.Engine
	// Store returns the store of the event's partition.
	Store func(in *Input, ev *match.Event) *state.Store
	// Output writes the interruptions the engine emits.
	Output Output
	// Observer, when not nil, is told each placed event's disposition.
	Observer Observer
	// MaxClockSkew is codec.CheckTime's; Retention the engine's, for the
	// too-late rejection.
	MaxClockSkew time.Duration
	Retention    time.Duration
}

// Matcher is the handler at the end of the chain: decode → time check →
// engine.Process on the partition's store, its emitted interruptions to
// the door's output → a too-late event as a rejection → the observer. One
// per chain: it is not safe for concurrent use.
type Matcher struct {
	cfg MatcherConfig
	// ev is the event being handled, cur its input, err the output
	// errors of its processing: in the Matcher, not on the heap per event.
	ev   match.Event
	cur  *Input
	err  error
	emit match.Emit
}

// NewMatcher returns a Matcher for cfg.
func NewMatcher(cfg MatcherConfig) *Matcher {
	m := &Matcher{cfg: cfg}
	m.emit = func(out match.Interruption) {
		if err := m.cfg.Output(m.cur, out); err != nil {
			if m.err == nil {
				m.err = err
			} else {
				m.err = errors.Join(m.err, err)
			}
		}
	}
	return m
}

// Handle handles in; it is a Handler.
func (m *Matcher) Handle(in *Input) error {
	ev := &m.ev
	var err error
	if *ev, err = m.cfg.Decode(in.Value, in.Headers); err != nil {
		return err
	}
	if in.HasOffset {
		ev.Offset, ev.HasOffset = in.Offset, true
	}
	// An event cannot have happened much later than it was sent, nor
	// than it reached the transport: such a timestamp must not move the
	// clock.
	if err := codec.CheckTime(ev, in.Timestamp, in.HasTimestamp, m.cfg.MaxClockSkew); err != nil {
		return err
	}
	st := m.cfg.Store(in, ev)
	m.cur, m.err = in, nil
	d, hk := m.cfg.Engine.Process(st, ev, m.emit)
	m.cur = nil
	if m.err != nil {
		err, m.err = m.err, nil
		return err
	}
	if d == match.TooLate {
		// Older than the clock minus retention: the channel's timeline
		// may be gone, so the event cannot be placed (never a second,
		// silent answer).
		return codec.TooLateError(ev, st.StreamTime(), m.cfg.Retention)
	}
	if m.cfg.Observer != nil {
		m.cfg.Observer.Handled(in, ev, d, hk)
	}
	return nil
}

// Sink takes a rejected input: the door writes it to its dead-letter
// output (and counts it). An error stops the door.
type Sink func(in *Input, err *codec.DecodeError) error

// DeadLetter returns next with its rejections (a *codec.DecodeError,
// wrapped or not) handed to sink; the handler then goes on (the sink's
// error, if any, is returned). Other errors pass through.
func DeadLetter(sink Sink, next Handler) Handler {
	return func(in *Input) error {
		err := next(in)
		var derr *codec.DecodeError
		if err == nil || !errors.As(err, &derr) {
			return err
		}
		return sink(in, derr)
	}
}

// PanicLogger logs a panic recovered while handling in, with its stack.
type PanicLogger func(in *Input, v any, stack []byte)

// Recover returns next with a panic turned into a rejection with reason
// processing-panic: bad input must not crash a door, nor stop it in a loop
// of restarts on the same event. log, when not nil, logs the panic with its
// stack; when nil, the stack is in the rejection's error. What the event
// changed in the state up to the panic stays: a panic is a bug, and the log
// says where.
func Recover(log PanicLogger, next Handler) Handler {
	return func(in *Input) (err error) {
		defer func() {
			if v := recover(); v != nil {
				stack := debug.Stack()
				perr := fmt.Errorf("panic: %v", v)
				if log != nil {
					log(in, v, stack)
				} else {
					perr = fmt.Errorf("panic: %v\n%s", v, stack)
				}
				err = &codec.DecodeError{Reason: codec.ReasonProcessingPanic, Err: perr}
			}
		}()
		return next(in)
	}
}
