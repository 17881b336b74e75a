package match

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/interruptions/interruptions/state"
)

// progressBound is how long one engine call may run before the test calls
// it a hang. Every call takes microseconds; the bound only turns a
// scheduler that never returns into a failure instead of a test that hangs.
const progressBound = 10 * time.Second

// within runs fn, one engine call, on its own goroutine and fails the test
// if fn has not returned within progressBound. fn may report with
// t.Errorf, never t.Fatal. A call that never returns cannot be stopped
// from outside: its goroutine is left to the test binary's exit, and the
// test stops at the first hang.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	timer := time.NewTimer(progressBound)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("%s has not returned after %v: the engine's scheduler does not progress", what, progressBound)
	}
}

// TestGraceLongerThanRetentionProgresses is issue 21's hang: with a grace
// longer than the retention, an expired interruption waits for its grace
// past its channel's retention horizon; the channel was scheduled at that
// horizon, already before the clock, so Advance took it again at once,
// for ever. The five events of the report, with the report's settings,
// then a sixth past the grace: the held interruption is published once,
// its channel kept until then and deleted after.
func TestGraceLongerThanRetentionProgresses(t *testing.T) {
	cfg := EngineConfig{MaxInterruption: time.Minute, Retention: 2 * time.Minute, Grace: 10 * time.Minute}
	evs := []Event{
		evOn("ch-1", "i", "e0", "10:00"),
		evOn("ch-0", "r", "e0", "10:07"), // clock 10:07: ch-1's horizon (10:01 + 2m) has passed, its grace (10:11) not
		evOn("ch-0", "i", "e1", "09:36"),
		evOn("ch-0", "r", "e2", "09:36"),
		evOn("ch-0", "i", "e7", "09:36"),
		evOn("ch-2", "r", "tick", "10:11:00.001"), // past ch-1's bound + grace
	}
	e := newTestEngine(cfg)
	s := state.New()
	var (
		records []string
		disps   []Disposition
		deleted []int
	)
	for i := range evs {
		var held []string
		within(t, fmt.Sprintf("Process of event %d (%s %s at %s)", i, evs[i].ChannelID, evs[i].ID, hm(evs[i].Timestamp)), func() {
			d, hk := e.Process(s, &evs[i], func(in Interruption) {
				checkRecord(t, cfg, in)
				records = append(records, row(in))
			})
			disps, deleted = append(disps, d), append(deleted, hk.Deleted)
			e.Pending(s, func(in Interruption, open bool) {
				if !open {
					held = append(held, row(in))
				}
			})
		})
		s.Commit()
		if i == 4 {
			// Past its retention horizon, but waiting for its grace:
			// not published, not deleted.
			equal(t, "held after the five events", held, []string{"ch-1:e0 expired 10:00-10:01 - #1"})
			equal(t, "records after the five events", records, nil)
			if s.Get("ch-1") == nil {
				t.Errorf("ch-1 deleted while its interruption waits for its grace")
			}
		}
	}
	if want := []Disposition{Processed, Processed, TooLate, TooLate, TooLate, Processed}; !slices.Equal(disps, want) {
		t.Errorf("dispositions %v, want %v (09:36 is before 10:07 - 2m)", disps, want)
	}
	equal(t, "records", records, []string{"ch-1:e0 expired 10:00-10:01 - #1"})
	// At 10:11:00.001 both ch-1 (nothing waits any more, horizon 10:03)
	// and ch-0 (last event 10:07, horizon 10:09) are past retention.
	if want := []int{0, 0, 0, 0, 0, 2}; !slices.Equal(deleted, want) {
		t.Errorf("deleted per event %v, want %v", deleted, want)
	}
	if !buried(s, "ch-0") || !buried(s, "ch-1") || s.Get("ch-2") == nil || buried(s, "ch-2") {
		t.Errorf("channels buried: ch-0 %v, ch-1 %v, ch-2 %v; want all but ch-2", buried(s, "ch-0"), buried(s, "ch-1"), buried(s, "ch-2"))
	}
}

// acceptedSettings draws engine settings from everything validation
// accepts (processor.Config.Validate): max-interruption at least 1ms,
// retention at least max-interruption, grace not negative. It favours the
// edges: the minimums, retention equal to max-interruption, fractions of a
// millisecond, and a grace shorter than, equal to and far longer than the
// retention.
func acceptedSettings(rng *rand.Rand) EngineConfig {
	ms := int64(time.Millisecond)
	var maxI int64
	switch rng.IntN(5) {
	case 0:
		maxI = ms
	case 1:
		maxI = ms + rng.Int64N(ms) // not a whole millisecond
	case 2:
		maxI = ms * (1 + rng.Int64N(1000))
	case 3:
		maxI = int64(time.Minute) * (1 + rng.Int64N(120))
	default:
		maxI = int64(24 * time.Hour)
	}
	ret := maxI + []int64{0, 0, 1, ms, rng.Int64N(3 * maxI)}[rng.IntN(5)]
	grace := []int64{0, 1, ms, ret - 1, ret, ret + ms, rng.Int64N(4 * ret), 10 * ret, maxI, int64(24 * time.Hour)}[rng.IntN(10)]
	return EngineConfig{MaxInterruption: time.Duration(maxI), Retention: time.Duration(ret), Grace: time.Duration(grace)}
}

// eventsAtScale returns a small random event sequence whose time steps are
// on the scale of cfg: zero, a millisecond, and up to a few times each of
// max-interruption, retention and grace, forward and back, so that bounds,
// horizons and grace periods are passed, met exactly and missed.
func eventsAtScale(rng *rand.Rand, cfg EngineConfig) []Event {
	kinds := []string{"i", "i", "i", "r", "r", "r", "e", "d", "x"}
	scales := []int64{int64(cfg.MaxInterruption), int64(cfg.Retention), int64(cfg.Grace) + 1}
	now := at("10:00")
	var evs []Event
	for range 1 + rng.IntN(24) {
		var step int64
		switch rng.IntN(6) {
		case 0: // same instant
		case 1:
			step = int64(time.Millisecond)
		case 2:
			step = scales[rng.IntN(3)] // exactly one of the settings
		default:
			step = rng.Int64N(2 * scales[rng.IntN(3)])
		}
		if rng.IntN(4) == 0 {
			step = -step
		}
		now += step
		e := evOn(fmt.Sprintf("ch-%d", rng.IntN(3)), kinds[rng.IntN(len(kinds))], fmt.Sprintf("e%d", rng.IntN(12)), "10:00")
		e.Timestamp = now
		if rng.IntN(8) == 0 {
			e.Source = "/channel/eu"
		}
		evs = append(evs, e)
	}
	return evs
}

// progressAgainstReference runs evs through the engine, every call bounded
// by within, and requires at every step the reference's disposition,
// records (as a set) and deletions; with rollbacks, every third event is
// processed, rolled back and processed again first. Afterwards, a second
// Advance at the same clock must find nothing left to do.
func progressAgainstReference(t *testing.T, cfg EngineConfig, evs []Event, rollbacks bool) {
	t.Helper()
	e := newTestEngine(cfg)
	s := state.New()
	ref := newRef(cfg)
	for i := range evs {
		what := fmt.Sprintf("settings %+v, event %d (%s %s %s at %s)", cfg, i, evs[i].ChannelID, evs[i].Type, evs[i].ID, hm(evs[i].Timestamp))
		if rollbacks && i%3 == 2 {
			within(t, what+" before its rollback", func() {
				x := evs[i]
				e.Process(s, &x, func(Interruption) {})
			})
			s.Rollback()
		}
		var (
			got   []string
			d     Disposition
			hk    Housekeeping
			again Housekeeping
			extra []string
		)
		within(t, what, func() {
			x := evs[i]
			d, hk = e.Process(s, &x, func(in Interruption) {
				checkRecord(t, cfg, in)
				got = append(got, refRow(in))
			})
			again = e.Advance(s, func(in Interruption) { extra = append(extra, refRow(in)) })
		})
		s.Commit()
		rd, recs, deleted := ref.process(evs[i])
		var want []string
		for _, in := range recs {
			want = append(want, refRow(in))
		}
		slices.Sort(got)
		slices.Sort(want)
		if d != rd || !slices.Equal(got, want) || hk.Deleted != deleted {
			t.Fatalf("%s: engine %v %q deleted %d; reference %v %q deleted %d\nevents: %s",
				what, d, got, hk.Deleted, rd, want, deleted, describe(evs))
		}
		if extra != nil || again != (Housekeeping{}) {
			t.Fatalf("%s: Advance at the same clock again published %q, %+v\nevents: %s", what, extra, again, describe(evs))
		}
	}
}

// TestSchedulerProgressesUnderAcceptedSettings: for settings drawn from
// everything validation accepts and random small event sequences on their
// scale, every engine call returns (within progressBound), leaves nothing
// due, and the engine agrees with the reference model at every step.
// Then the store is restored under other accepted settings (as after a
// restart with new flags) and the rest of the events must progress too.
func TestSchedulerProgressesUnderAcceptedSettings(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 7))
	n := 2000
	if testing.Short() {
		n = 300
	}
	for round := range n {
		cfg := acceptedSettings(rng)
		evs := eventsAtScale(rng, cfg)
		progressAgainstReference(t, cfg, evs, round%3 == 0)
		if t.Failed() {
			return
		}
		restartProgresses(t, cfg, acceptedSettings(rng), evs, rng.IntN(len(evs)+1))
		if t.Failed() {
			return
		}
	}
}

// restartProgresses processes evs[:cut] under from, restores the store
// from its changelog encoding under to, and processes the rest: every
// call must return, and every record satisfy the new settings.
func restartProgresses(t *testing.T, from, to EngineConfig, evs []Event, cut int) {
	t.Helper()
	what := fmt.Sprintf("restart from %+v to %+v after %d events", from, to, cut)
	e := newTestEngine(from)
	s := state.New()
	for i := range evs[:cut] {
		within(t, fmt.Sprintf("%s: event %d", what, i), func() {
			x := evs[i]
			e.Process(s, &x, func(Interruption) {})
		})
		s.Commit()
	}
	restored := state.New()
	s.Range(func(c *state.Channel) bool {
		d, err := state.DecodeChannel(state.AppendChannel(nil, c))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		restored.Restore(c.ID(), d)
		return true
	})
	restored.RestoreStreamTime(s.StreamTime())
	e = newTestEngine(to)
	emit := func(in Interruption) { checkRecord(t, to, in) }
	within(t, what+": Restored and Advance", func() {
		e.Restored(restored)
		e.Advance(restored, emit)
	})
	restored.Commit()
	for i := cut; i < len(evs); i++ {
		within(t, fmt.Sprintf("%s: event %d", what, i), func() {
			x := evs[i]
			e.Process(restored, &x, emit)
		})
		restored.Commit()
	}
	if t.Failed() {
		t.Logf("events: %s", describe(evs))
	}
}
