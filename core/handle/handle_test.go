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

// chainUnderTest is a door's chain over one store: what the chain
// answers for each input is recorded as a door would write it.
type chainUnderTest struct {
	handler  Handler
	store    *state.Store
	res      Result
	out      []match.Interruption
	handled  []match.Disposition
	offsets  []int64
	rejected []codec.Reason
}

func newChain(retention time.Duration) *chainUnderTest {
	c := &chainUnderTest{store: state.New()}
	m := NewMatcher(MatcherConfig{
		Binding:      cekafka.Binding,
		Engine:       match.NewEngine(match.EngineConfig{MaxInterruption: time.Hour, Retention: retention}),
		Stores:       []*state.Store{c.store},
		MaxClockSkew: time.Minute,
		Retention:    retention,
	})
	c.handler = DeadLetter(Recover(nil, m.Handle))
	return c
}

// handle hands in to the chain and records its answer.
func (c *chainUnderTest) handle(t *testing.T, in *Input) {
	t.Helper()
	if err := c.handler(in, &c.res); err != nil {
		t.Fatalf("handler: %v", err)
	}
	c.out = append(c.out, c.res.Out...)
	switch {
	case c.res.Rejected != nil:
		c.rejected = append(c.rejected, c.res.Rejected.Reason)
	case c.res.Placed:
		c.handled = append(c.handled, c.res.Disposition)
		if c.res.Event.HasOffset {
			c.offsets = append(c.offsets, c.res.Event.Offset)
		}
	default:
		t.Fatalf("result neither placed nor rejected: %+v", c.res)
	}
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
		c.handle(t, &steps[i])
	}
	if len(c.out) != 1 || c.out[0].Outcome != match.OutcomeResumed {
		t.Fatalf("output %+v, want one resumed interruption", c.out)
	}
	if len(c.handled) != 2 || len(c.offsets) != 2 || c.offsets[0] != 4 || c.offsets[1] != 5 {
		t.Fatalf("observed %v at offsets %v, want two events at 4 and 5", c.handled, c.offsets)
	}
	// The door's Result is reset for each input: the last (too late)
	// holds no output, only its rejection.
	if len(c.res.Out) != 0 || c.res.Placed || c.res.Store != 0 || c.res.Event.ID != "i0" {
		t.Fatalf("last result %+v, want i0 rejected with no output", c.res)
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

// TestRecover: a panic is a processing-panic rejection; with a logger, the
// logger gets the stack and the error is the panic's value alone; without
// one, the stack is in the error.
func TestRecover(t *testing.T) {
	boom := func(*Input, *Result) error { panic("boom") }
	var logged []byte
	err := Recover(func(_ *Input, v any, stack []byte) { logged = stack }, boom)(&Input{}, &Result{})
	var derr *codec.DecodeError
	if !errors.As(err, &derr) || derr.Reason != codec.ReasonProcessingPanic || derr.Err.Error() != "panic: boom" {
		t.Fatalf("error %v, want processing-panic: panic: boom", err)
	}
	if !strings.Contains(string(logged), "TestRecover") {
		t.Fatalf("logged stack %q does not name the test", logged)
	}
	err = Recover(nil, boom)(&Input{}, &Result{})
	if !errors.As(err, &derr) || derr.Reason != codec.ReasonProcessingPanic ||
		!strings.HasPrefix(derr.Err.Error(), "panic: boom\n") || !strings.Contains(derr.Err.Error(), "TestRecover") {
		t.Fatalf("error %v, want the panic with its stack", err)
	}
}

// TestMatcherStoresByKey: with several stores, each event goes to the
// store of its channel's partition as Kafka's default partitioner places a
// record keyed by the channelId (the key ingest and gen give it), made on
// first use; the others stay untouched.
func TestMatcherStoresByKey(t *testing.T) {
	stores := make([]*state.Store, 4)
	h := NewMatcher(MatcherConfig{
		Binding: cekafka.Binding,
		Engine:  match.NewEngine(match.EngineConfig{MaxInterruption: time.Hour, Retention: time.Hour}),
		Stores:  stores, MaxClockSkew: time.Minute, Retention: time.Hour,
	}).Handle
	used := map[int]string{}
	for _, ch := range []string{"ch-1", "ch-2", "ch-3", "ch-4", "ch-5", "ch-6"} {
		var res Result
		in := Input{Value: testkit.StructuredValue(t, testkit.ChannelEvent("channel.interrupted.v1", "i-"+ch, ch, "2026-01-05T08:00:00Z"))}
		if err := h(&in, &res); err != nil || !res.Placed {
			t.Fatalf("%s: %v, placed %v", ch, err, res.Placed)
		}
		want := codec.KeyPartition(ch, len(stores))
		if res.Store != want {
			t.Fatalf("%s went to store %d, want partition %d", ch, res.Store, want)
		}
		if stores[want].Get(ch) == nil {
			t.Fatalf("%s is not in store %d", ch, want)
		}
		used[want] += ch + " "
	}
	for i, st := range stores {
		if _, ok := used[i]; !ok && st != nil {
			t.Fatalf("store %d made with no event for it", i)
		}
	}
}
