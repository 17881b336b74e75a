package handle

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/state"
)

// chainUnderTest is a door's chain over one store: what it outputs, what
// its observer is told and what it dead-letters are recorded.
type chainUnderTest struct {
	handler  Handler
	store    *state.Store
	out      []match.Interruption
	outErr   error
	handled  []match.Disposition
	offsets  []int64
	rejected []codec.Reason
}

func newChain(retention time.Duration) *chainUnderTest {
	c := &chainUnderTest{store: state.New()}
	m := NewMatcher(MatcherConfig{
		Decode: func(value []byte, headers []codec.Header) (match.Event, error) {
			return codec.Decode(value, headers, cekafka.Binding)
		},
		Engine: match.NewEngine(match.EngineConfig{MaxInterruption: time.Hour, Retention: retention}),
		Store:  func(*Input, *match.Event) *state.Store { return c.store },
		Output: func(_ *Input, in match.Interruption) error {
			c.out = append(c.out, in)
			return c.outErr
		},
		Observer: ObserverFunc(func(_ *Input, ev *match.Event, d match.Disposition, _ match.Housekeeping) {
			c.handled = append(c.handled, d)
			if ev.HasOffset {
				c.offsets = append(c.offsets, ev.Offset)
			}
		}),
		MaxClockSkew: time.Minute,
		Retention:    retention,
	})
	c.handler = DeadLetter(func(_ *Input, err *codec.DecodeError) error {
		c.rejected = append(c.rejected, err.Reason)
		return nil
	}, Recover(nil, m.Handle))
	return c
}

func event(t *testing.T, typ, id, ts string) []byte {
	return testkit.StructuredValue(t, testkit.ChannelEvent(typ, id, "ch-1", ts))
}

// TestChainMatchesAndRejects: a pair the matcher closes is one output and
// two observed events (with the transport's offsets); bad JSON, an event
// after the transport's timestamp + skew and one older than the clock
// minus retention are rejections with their reasons, handed to the sink,
// and the handler goes on.
func TestChainMatchesAndRejects(t *testing.T) {
	c := newChain(time.Hour)
	steps := []Input{
		{Value: event(t, "channel.interrupted.v1", "i1", "2026-01-05T08:00:00Z"), Offset: 4, HasOffset: true},
		{Value: event(t, "channel.resumed.v0", "r1", "2026-01-05T08:05:00Z"), Offset: 5, HasOffset: true},
		{Value: []byte("{not json")},
		{Value: event(t, "channel.resumed.v0", "r2", "2026-01-05T08:10:00Z"),
			Timestamp: time.Date(2026, 1, 5, 8, 6, 0, 0, time.UTC), HasTimestamp: true},
		{Value: event(t, "channel.interrupted.v1", "i0", "2026-01-05T06:00:00Z")},
	}
	for i := range steps {
		if err := c.handler(&steps[i]); err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
	}
	if len(c.out) != 1 || c.out[0].Outcome != match.OutcomeResumed {
		t.Fatalf("output %+v, want one resumed interruption", c.out)
	}
	if len(c.handled) != 2 || len(c.offsets) != 2 || c.offsets[0] != 4 || c.offsets[1] != 5 {
		t.Fatalf("observed %v at offsets %v, want two events at 4 and 5", c.handled, c.offsets)
	}
	want := []codec.Reason{codec.ReasonNotCloudEvent, codec.ReasonTimestampInFuture, codec.ReasonTooLate}
	if strings.Join(reasons(c.rejected), ",") != strings.Join(reasons(want), ",") {
		t.Fatalf("rejected %v, want %v", c.rejected, want)
	}
	if c.store.StreamTime() != testkit.At("08:05:00") {
		t.Fatalf("clock %s, want 08:05 (rejections do not move it)", testkit.Millis(c.store.StreamTime()))
	}
}

func reasons(rs []codec.Reason) []string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return s
}

// TestChainOutputErrorStops: an output that fails is the handler's error,
// not a rejection.
func TestChainOutputErrorStops(t *testing.T) {
	c := newChain(time.Hour)
	boom := errors.New("disk full")
	c.outErr = boom
	for _, in := range []Input{
		{Value: event(t, "channel.interrupted.v1", "i1", "2026-01-05T08:00:00Z")},
		{Value: event(t, "channel.resumed.v0", "r1", "2026-01-05T08:05:00Z")},
	} {
		if err := c.handler(&in); err != nil {
			if !errors.Is(err, boom) || len(c.out) != 1 || len(c.rejected) != 0 {
				t.Fatalf("error %v after %d outputs, %v rejected; want disk full after one, none", err, len(c.out), c.rejected)
			}
			return
		}
	}
	t.Fatal("the failed output was not returned")
}

// TestRecover: a panic is a processing-panic rejection; with a logger, the
// logger gets the stack and the error is the panic's value alone; without
// one, the stack is in the error.
func TestRecover(t *testing.T) {
	boom := func(*Input) error { panic("boom") }
	var logged []byte
	err := Recover(func(_ *Input, v any, stack []byte) { logged = stack }, boom)(&Input{})
	var derr *codec.DecodeError
	if !errors.As(err, &derr) || derr.Reason != codec.ReasonProcessingPanic || derr.Err.Error() != "panic: boom" {
		t.Fatalf("error %v, want processing-panic: panic: boom", err)
	}
	if !strings.Contains(string(logged), "TestRecover") {
		t.Fatalf("logged stack %q does not name the test", logged)
	}
	err = Recover(nil, boom)(&Input{})
	if !errors.As(err, &derr) || derr.Reason != codec.ReasonProcessingPanic ||
		!strings.HasPrefix(derr.Err.Error(), "panic: boom\n") || !strings.Contains(derr.Err.Error(), "TestRecover") {
		t.Fatalf("error %v, want the panic with its stack", err)
	}
}
