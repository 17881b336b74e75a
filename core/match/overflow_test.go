package match

import (
	"testing"
	"time"

	"github.com/interruptions/interruptions/state"
)

// TestChannelOverflowCap: with MaxChannelEvents 3, a channel's fourth
// distinct event is a ChannelOverflow that changes nothing (no change to
// write, clock unmoved, no record, still three events), whether it is
// later or earlier than the channel's events; copies of held events at the
// cap are still Duplicate and ConflictingDuplicate (a winning copy moves
// its event); the cap is per channel.
func TestChannelOverflowCap(t *testing.T) {
	cfg := EngineConfig{MaxInterruption: time.Hour, Retention: 2 * time.Hour, MaxChannelEvents: 3}
	e := newTestEngine(cfg)
	s := state.New()
	var out []string
	emit := func(in Interruption) { out = append(out, row(in)) }
	for _, x := range []Event{ev("i", "i1", "10:00"), ev("r", "r2", "10:05"), ev("i", "i3", "10:10")} {
		if d, _ := e.Process(s, &x, emit); d != Processed {
			t.Fatalf("%s: %s, want processed", x.ID, d)
		}
	}
	s.Commit()
	clock := s.StreamTime()
	for _, x := range []Event{ev("r", "r4", "10:20"), ev("r", "r0", "10:01")} {
		out = out[:0]
		d, _ := e.Process(s, &x, emit)
		if d != ChannelOverflow {
			t.Errorf("%s, the channel's 4th event: %s, want channel-overflow", x.ID, d)
		}
		if n := s.Get(chA).NumEvents(); n != 3 || len(s.Changes()) != 0 || s.StreamTime() != clock || len(out) != 0 {
			t.Errorf("%s over the cap changed the store: %d events, %d changes, clock %s (was %s), records %v",
				x.ID, n, len(s.Changes()), hm(s.StreamTime()), hm(clock), out)
		}
	}
	dup := ev("r", "r2", "10:05")
	if d, _ := e.Process(s, &dup, emit); d != Duplicate {
		t.Errorf("copy of r2 at the cap: %s, want duplicate", d)
	}
	early := ev("r", "r2", "10:04")
	if d, _ := e.Process(s, &early, emit); d != ConflictingDuplicate {
		t.Errorf("earlier copy of r2 at the cap: %s, want conflicting-duplicate", d)
	}
	if c := s.Get(chA); c.NumEvents() != 3 || c.EventAt(1) != at("10:04") {
		t.Errorf("the winning copy did not move r2 to 10:04: %d events, r2 at %s", c.NumEvents(), hm(c.EventAt(1)))
	}
	b := evOn(chB, "i", "b1", "10:21")
	if d, _ := e.Process(s, &b, emit); d != Processed {
		t.Errorf("another channel's first event: %s, want processed", d)
	}
	if got := ChannelOverflow.String(); got != "channel-overflow" {
		t.Errorf("ChannelOverflow.String() = %q", got)
	}
}
