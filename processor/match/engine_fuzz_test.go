package match

import (
	"fmt"
	"testing"
	"time"

	"github.com/interruptions/interruptions/processor/vcc"
	"github.com/interruptions/interruptions/state"
)

// FuzzEngine drives the engine, with rollbacks, through event sequences
// built from fuzz bytes: 4 bytes an event (kind, channel, id, time step,
// arrival jitter). Invariants: no panic; every event ends as exactly one
// of processed, ignored or duplicate; every interruption is emitted at
// most once, with a duration in [0, max-interruption]; a rollback followed
// by the same input emits the same records; and once stream time passes
// every channel's retention, no state remains.
func FuzzEngine(f *testing.F) {
	f.Add([]byte{0, 0, 0, 10, 1, 0, 1, 10, 2, 1, 2, 0, 0, 1, 3, 5})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 1, 0, 3, 0, 2, 0, 2, 0, 3, 0})
	f.Add([]byte{0, 0, 0, 200, 0, 0, 0, 200, 5, 3, 9, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg := EngineConfig{MaxInterruption: 30 * time.Minute, Retention: time.Hour}
		types := []string{"channel.interrupted.v0", "channel.resumed.v0", "channel.ended.v1", "channel.disconnected.v0", "channel.held.v0", "channel.interrupted.v1"}
		kinds := []vcc.Kind{vcc.Interrupted, vcc.Resumed, vcc.Ended, vcc.Ended, vcc.Ignored, vcc.Interrupted}
		base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC).UnixNano()
		var evs []Event
		now := base
		for i := 0; i+4 <= len(b) && len(evs) < 200; i += 4 {
			k := int(b[i]) % len(types)
			now += int64(b[i+3]%16) * int64(time.Minute)
			jitter := int64(b[i+3]/16) * int64(time.Minute)
			ch := fmt.Sprintf("ch-%d", b[i+1]%4)
			evs = append(evs, Event{
				ID: fmt.Sprintf("e%d", b[i+2]%32), Source: "/channel", Type: types[k], Kind: kinds[k],
				Timestamp: now - jitter, HasTimestamp: true, ChannelID: ch, Subject: ch,
			})
		}
		e := NewEngine(cfg)
		s := state.New()
		emitted := map[string]int{}
		var epoch []Interruption
		run := func(x *Event) Disposition {
			d, _ := e.Process(s, x, func(in Interruption) {
				if in.ClosedAt < in.InterruptedAt || in.ClosedAt-in.InterruptedAt > int64(cfg.MaxInterruption) {
					t.Fatalf("interruption %+v: duration out of [0, %s]", in, cfg.MaxInterruption)
				}
				if (in.Outcome == OutcomeExpired) != (in.ClosedBy == nil) {
					t.Fatalf("interruption %+v: closedBy must be absent exactly when expired", in)
				}
				epoch = append(epoch, in)
			})
			switch d {
			case Processed, Ignored, Duplicate:
			default:
				t.Fatalf("event %+v: disposition %v", x, d)
			}
			return d
		}
		for i := range evs {
			// Every third event is first applied and rolled back, as an
			// aborted transaction does; the retry must emit the same.
			if i%3 == 2 {
				epoch = nil
				d1 := run(&evs[i])
				first := epoch
				s.Rollback()
				epoch = nil
				if d2 := run(&evs[i]); d2 != d1 || describeAll(epoch) != describeAll(first) {
					t.Fatalf("event %d after rollback: %v %v, first %v %v", i, d2, epoch, d1, first)
				}
			} else {
				epoch = nil
				run(&evs[i])
			}
			for _, in := range epoch {
				emitted[in.OpenedBy.ID+"/"+in.ChannelID+"/"+fmt.Sprint(in.InterruptedAt)]++
			}
			s.Commit()
		}
		for k, n := range emitted {
			if n > 1 {
				t.Fatalf("interruption %s emitted %d times", k, n)
			}
		}
		late := Event{ID: "tick", Source: "/agent", Type: "agent.presencechanged.v0", Kind: vcc.Ignored,
			Timestamp: now + int64(cfg.Retention) + int64(cfg.MaxInterruption) + 1, HasTimestamp: true}
		run(&late)
		if s.Len() != 0 {
			t.Fatalf("%d channels left after retention passed", s.Len())
		}
	})
}

// describeAll prints interruptions by value (ClosedBy is a pointer).
func describeAll(ins []Interruption) string {
	out := ""
	for _, in := range ins {
		c := in
		c.ClosedBy = nil
		out += fmt.Sprintf("%+v", c)
		if in.ClosedBy != nil {
			out += fmt.Sprintf(" by %+v", *in.ClosedBy)
		}
		out += ";"
	}
	return out
}
