package match

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/interruptions/interruptions/state"
)

// buried reports whether channel id of s holds only the tomb its deletion
// left (state.Tomb): no events.
func buried(s *state.Store, id string) bool {
	c := s.Get(id)
	return c != nil && c.NumEvents() == 0 && c.Tomb() != nil
}

// reload writes s's changes since its last commit to the changelog, loads
// a new store from all the records written so far (log), and schedules it
// as a restart does.
func reload(t *testing.T, e *Engine, s *state.Store, log map[string][]byte) *state.Store {
	t.Helper()
	state.ChangelogEntries(nil, s, 0, 0, func(k, v []byte) {
		if v != nil {
			v = slices.Clone(v)
		}
		log[string(k)] = v
	})
	s.Commit()
	l := state.NewLoader(len(log))
	for k, v := range log {
		if err := l.Load([]byte(k), v); err != nil {
			t.Fatalf("load %q: %v", k, err)
		}
	}
	e.Restored(l.Store)
	return l.Store
}

// TestOpenerAfterDeletionIsDuplicate (issue 21, item 5a): an opener's
// (source, id) arriving again after its channel's state was deleted, with
// a time that is not too late, is a duplicate: it does not publish
// revision 1 of the same interruption (same record id) again with other
// content. Also across a restart from the changelog (the tomb is in it).
func TestOpenerAfterDeletionIsDuplicate(t *testing.T) {
	cfg := EngineConfig{MaxInterruption: 30 * time.Minute, Retention: time.Hour}
	for _, restart := range []bool{false, true} {
		e, s := newTestEngine(cfg), state.New()
		log := map[string][]byte{} // the changelog, compacted
		commit := func() {
			if !restart {
				s.Commit()
				return
			}
			s = reload(t, e, s, log) // a restart after every event: the store from the changelog
		}
		var records []string
		var disps []Disposition
		step := func(x Event) {
			d, _ := e.Process(s, &x, func(in Interruption) { checkRecord(t, cfg, in); records = append(records, row(in)) })
			disps = append(disps, d)
			commit()
		}
		step(ev("i", "i1", "10:00"))
		step(ev("r", "r1", "10:10"))
		step(evOn(chB, "i", "b1", "11:10:00.001")) // past 10:10 + 1h: channel a deleted
		if !buried(s, chA) {
			t.Fatalf("restart %v: channel a not deleted at 11:10:00.001", restart)
		}
		// 11:00 is within retention of the clock (11:10:00.001 - 1h).
		step(ev("i", "i1", "11:00"))
		step(evOn(chB, "r", "b2", "11:40")) // past 11:00 + 30m
		equal(t, fmt.Sprintf("restart %v: records", restart), records, []string{"i1 resumed 10:00-10:10 r1 #1", "ch-b:b1 resumed 11:10:00.001-11:40 b2 #1"})
		if disps[3] != Duplicate {
			t.Errorf("restart %v: opener after deletion: %v, want duplicate", restart, disps[3])
		}
	}
}

// TestEndedStaysEndedAfterDeletion (issue 21, item 5b): an interrupted
// after its channel ended is after-end whether it arrives before the
// channel's state is deleted or after: the deletion keeps the end.
func TestEndedStaysEndedAfterDeletion(t *testing.T) {
	cfg := EngineConfig{MaxInterruption: 30 * time.Minute, Retention: time.Hour}
	late := ev("i", "i2", "11:00")
	deleting := evOn(chB, "i", "b1", "11:10:00.001") // past 10:10 + 1h
	closing := evOn(chB, "r", "b2", "11:40")         // past 11:00 + 30m
	want := []string{"ch-b:b1 resumed 11:10:00.001-11:40 b2 #1", "i1 ended 10:00-10:10 e1 #1"}
	for _, order := range [][]Event{
		{ev("i", "i1", "10:00"), ev("e", "e1", "10:10"), late, deleting, closing}, // before the deletion
		{ev("i", "i1", "10:00"), ev("e", "e1", "10:10"), deleting, late, closing}, // after it
	} {
		records, disps, hk, _ := run(t, cfg, order...)
		sorted := slices.Clone(records)
		slices.Sort(sorted)
		equal(t, "records of "+ids(order), sorted, want)
		if hk.AfterEnd != 1 || slices.Contains(disps, TooLate) {
			t.Errorf("%s: after-end %d, dispositions %v; want the late interrupted placed after the end", ids(order), hk.AfterEnd, disps)
		}
	}
}

// TestEndHoldsForRetention: the end holds for the channel's events up to
// the end + retention, alive or deleted; an interrupted later than that
// opens an interruption (in either arrival order the ended would be too
// late for it).
func TestEndHoldsForRetention(t *testing.T) {
	cfg := EngineConfig{MaxInterruption: 30 * time.Minute, Retention: time.Hour}
	records, _, _, _ := run(t, cfg,
		ev("i", "i1", "10:00"), ev("e", "e1", "10:10"),
		ev("i", "i2", "11:10"),        // 10:10 + 1h: still ended
		ev("i", "i3", "11:10:00.001"), // past it: opens
		evOn(chB, "i", "b1", "11:45")) // past 11:10:00.001 + 30m
	equal(t, "records", records, []string{"i1 ended 10:00-10:10 e1 #1", "i3 expired 11:10:00.001-11:40:00.001 - #1"})
}

// TestTombDroppedAfterItsRetention: the tomb is dropped once every event
// it governs (up to its Until: a retention after the clock at the
// deletion, here later than the horizon) is too late;
// until then a copy of the deleted channel's events is a duplicate.
func TestTombDroppedAfterItsRetention(t *testing.T) {
	cfg := EngineConfig{MaxInterruption: 30 * time.Minute, Retention: time.Hour}
	_, disps, hk, s := run(t, cfg,
		ev("i", "i1", "10:00"), ev("r", "r1", "10:10"),
		evOn(chB, "x", "b0", "11:10:00.001"), // ignored: the clock stays
		evOn(chB, "r", "b1", "11:10:00.001"), // deletes a (horizon 11:10): tomb until 12:10:00.001
		ev("r", "r1", "12:10:00.001"),        // a copy, within the tomb: duplicate
		evOn(chB, "r", "b2", "13:10:00.001"), // the tomb still lives (until + 1h)
	)
	if disps[4] != Duplicate || hk.Deleted != 1 || !buried(s, chA) {
		t.Fatalf("dispositions %v, deleted %d, a buried %v", disps, hk.Deleted, buried(s, chA))
	}
	e := newTestEngine(cfg)
	x := evOn(chB, "r", "b3", "13:10:00.002")
	e.Process(s, &x, func(Interruption) {})
	if s.Get(chA) != nil {
		t.Fatalf("tomb kept at 13:10:00.002, past 12:10:00.001 + 1h")
	}
}

// TestDeletionPropertyOrderFree is the property of item 5 over generated
// inputs with deletions: phases of events further apart than the
// retention (so channels are deleted between them, and some tombs
// dropped), redelivered openers and other copies of earlier phases' events
// with new times, and events after an end. The records are compared with
// the reference's (which has its own tomb rule); the latest record per
// key (a compacted topic) and the first record per id give the same
// final table; and arrival order within a phase does not change it.
func TestDeletionPropertyOrderFree(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	n := 300
	if testing.Short() {
		n = 80
	}
	kinds := []string{"i", "i", "i", "r", "r", "e", "d"}
	deletions := 0
	for round := range n {
		cfg := configFromBytes(byte(rng.UintN(256)), byte(rng.UintN(256)), byte(rng.UintN(256)))
		ret := int64(cfg.Retention)
		span := ret / 2 // events of a phase: within half a retention
		var phases [][]Event
		var prev []Event
		held := map[string]int64{}
		base := at("10:00")
		for p := range 2 + rng.IntN(3) {
			var evs []Event
			for i := range 2 + rng.IntN(8) {
				e := evOn(fmt.Sprintf("ch-%d", rng.IntN(2)), kinds[rng.IntN(len(kinds))], fmt.Sprintf("p%de%d", p, i), "10:00")
				e.Timestamp = base + rng.Int64N(span)
				evs = append(evs, e)
			}
			originals := len(evs)
			for range 1 + rng.IntN(4) { // copies of the last phase's events, at new times
				if len(prev) == 0 {
					break
				}
				c := prev[rng.IntN(len(prev))]
				c.Timestamp = base + rng.Int64N(span)
				// The rule's reach: up to two retentions after the copy
				// the channel held (beyond, a copy of a deleted channel's
				// event may be placed as a new event).
				if c.Timestamp <= held[key(c)]+2*ret {
					evs = append(evs, c)
				}
			}
			phases = append(phases, evs)
			prev = evs[:originals]
			for _, e := range prev {
				held[key(e)] = e.Timestamp
			}
			// The next phase starts past every deletion horizon of this
			// one (last event, or an expiry bound, + retention), sometimes
			// past a tomb's life too.
			gap := int64(cfg.MaxInterruption) + ret + int64(cfg.Grace) + rng.Int64N(2*ret)
			base += span + gap
		}
		tick := evOn("ch-tick", "e", "tick", "10:00")
		tick.Timestamp = base + 3*ret
		arrive := func(shuffle bool) []Event {
			var out []Event
			for _, ph := range phases {
				ph = slices.Clone(ph)
				if shuffle {
					rng.Shuffle(len(ph), func(i, j int) { ph[i], ph[j] = ph[j], ph[i] })
				}
				out = append(out, ph...)
			}
			return append(out, tick)
		}
		ref := newRef(cfg)
		var want []Interruption
		for _, e := range arrive(false) {
			_, recs, d := ref.process(e)
			want = append(want, recs...)
			deletions += d
		}
		for p := range 4 {
			evs := arrive(p > 0)
			compareWithReference(t, cfg, evs, p%2 == 1)
			if t.Failed() {
				t.Fatalf("round %d, permutation %d", round, p)
			}
			e, s := newTestEngine(cfg), state.New()
			var got []Interruption
			var trace []string
			for i := range evs {
				d, _ := e.Process(s, &evs[i], func(in Interruption) { got = append(got, in); trace = append(trace, "  rec "+refRow(in)) })
				trace = append(trace, fmt.Sprintf("%s %s %s %s -> %v", evs[i].ChannelID, evs[i].Type, evs[i].ID, hm(evs[i].Timestamp), d))
				s.Commit()
			}
			latest, first := latestPerID(got), firstPerID(got)
			if !slices.Equal(latest, first) {
				t.Fatalf("round %d, permutation %d, settings %+v: latest per id %q, first per id %q\narrival: %s",
					round, p, cfg, latest, first, describe(evs))
			}
			if w := wholeFinal(want); !slices.Equal(wholeFinal(got), w) {
				{ // what happened, for the failure below
					for _, l := range trace {
						t.Log(l)
					}
					for _, e := range arrive(false) {
						t.Logf("unshuffled %s %s %s %s", e.ChannelID, e.Type, e.ID, hm(e.Timestamp))
					}
					for _, in := range want {
						t.Logf("want rec %s", refRow(in))
					}
					for _, in := range got {
						t.Logf("got rec %s", refRow(in))
					}
				}
				t.Fatalf("round %d, permutation %d, settings %+v:\n got %q\nwant %q\narrival: %s", round, p, cfg, wholeFinal(got), w, describe(evs))
			}
		}
	}
	if deletions < n {
		t.Fatalf("only %d deletions in %d rounds: the inputs do not cover deletion", deletions, n)
	}
}

// recordID is a record's key: its channel and opening event.
func recordID(in Interruption) string {
	return in.ChannelID + "\x00" + in.OpenedBy.Source + "\x00" + in.OpenedBy.ID
}

// latestPerID is the final table a compacted topic keeps: per record id,
// the last record written, retractions dropped, compared whole with its
// revision.
func latestPerID(records []Interruption) []string {
	m := map[string]Interruption{}
	for _, in := range records {
		m[recordID(in)] = in
	}
	return tableOf(m)
}

// firstPerID is the final table of a reader that keeps the first record
// of each revision of an id: per id, the highest revision, and of that
// revision the first copy.
func firstPerID(records []Interruption) []string {
	m := map[string]Interruption{}
	for _, in := range records {
		if old, ok := m[recordID(in)]; !ok || in.Revision > old.Revision {
			m[recordID(in)] = in
		}
	}
	return tableOf(m)
}

func tableOf(m map[string]Interruption) []string {
	var out []string
	for _, in := range m {
		if !in.Retracted {
			out = append(out, fmt.Sprintf("%s #%d", refRow(in), in.Revision))
		}
	}
	slices.SortFunc(out, cmp.Compare)
	return out
}

// TestDescribeTomb: the state API's description of a deleted channel's
// tomb has no events and says when the tomb goes: a retention after its
// Until.
func TestDescribeTomb(t *testing.T) {
	cfg := EngineConfig{MaxInterruption: 30 * time.Minute, Retention: time.Hour}
	_, _, _, s := run(t, cfg, ev("i", "i1", "10:00"), ev("r", "r1", "10:10"), evOn(chB, "r", "b1", "11:10:00.001"))
	if !buried(s, chA) {
		t.Fatal("channel a not deleted")
	}
	d := newTestEngine(cfg).Describe(s.Get(chA), s.StreamTime())
	// Until: the clock at the deletion (later than the horizon 11:10) + 1h.
	if len(d.Events) != 0 || len(d.Derived) != 0 || d.DeleteAt != at("13:10:00.001") {
		t.Fatalf("description %+v; want no events, deleteAt %s", d, hm(at("13:10:00.001")))
	}
}
