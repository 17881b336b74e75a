package state

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// recount computes Stats the slow way, from every channel.
func recount(s *Store) Stats {
	st := Stats{StreamTime: s.StreamTime()}
	s.Range(func(c *Channel) bool {
		st.Channels++
		d := c.Data()
		st.Held += d.Held
		if d.HasOpen {
			st.Open++
			if !st.HasOpen || d.OpenAt < st.OldestOpen {
				st.OldestOpen, st.HasOpen = d.OpenAt, true
			}
		}
		return true
	})
	return st
}

// TestStatsFollowCommits edits, deletes, restores, commits and rolls back at
// random and checks after every commit, restore and rollback (Stats counts
// the committed state) that Stats, kept incrementally, equals a recount.
func TestStatsFollowCommits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := New()
	ids := make([]string, 40)
	for i := range ids {
		ids[i] = fmt.Sprintf("ch-%d", i)
	}
	check := func(step int, what string) {
		t.Helper()
		if got, want := s.Stats(), recount(s); got != want {
			t.Fatalf("step %d, after %s: Stats() = %+v, recount %+v", step, what, got, want)
		}
	}
	for step := range 20_000 {
		id := ids[rng.IntN(len(ids))]
		switch op := rng.IntN(100); {
		case op < 40: // open an interruption, mostly at a few shared times
			c := s.Edit(id)
			_, _, held := c.Summary()
			c.SetSummary(true, int64(rng.IntN(50)), held)
		case op < 60: // close the open interruption
			if c := s.Get(id); c != nil {
				e := s.Edit(id)
				_, _, held := e.Summary()
				e.SetSummary(false, 0, held)
			}
		case op < 75: // closed interruptions waiting for grace
			c := s.Edit(id)
			open, at, _ := c.Summary()
			c.SetSummary(open, at, rng.IntN(3))
		case op < 80:
			s.Delete(id)
		case op < 83: // a changelog record: bypasses change tracking, so
			// only on a store with no changes pending, as in a restore
			s.Commit()
			s.Restore(id, NewChannel(ChannelData{HasOpen: true, OpenAt: int64(rng.IntN(50)), Held: 1}))
			check(step, "restore")
		case op < 85:
			s.Commit()
			s.Restore(id, nil)
			check(step, "restore tombstone")
		case op < 88:
			s.AdvanceStreamTime(int64(step))
		case op < 96:
			s.Commit()
			check(step, "commit")
		default:
			s.Rollback()
			check(step, "rollback")
		}
	}
}

// TestOpenTimesCompact checks that many opens and closes above a
// long-lived oldest open interruption keep the set of open times small.
func TestOpenTimesCompact(t *testing.T) {
	s := New()
	s.Edit("old").SetSummary(true, 1, 0)
	s.Commit()
	for i := int64(2); i < 20_000; i++ {
		s.Edit("x").SetSummary(true, i, 0)
		s.Commit()
		s.Edit("x").SetSummary(false, 0, 0)
		s.Commit()
	}
	if st := s.Stats(); !st.HasOpen || st.OldestOpen != 1 || st.Open != 1 {
		t.Fatalf("Stats = %+v, want one open interruption at 1", st)
	}
	if n := len(s.counts.opens.added) + len(s.counts.opens.removed); n > 300 {
		t.Fatalf("the set of open times holds %d entries for one open interruption", n)
	}
	s.Edit("old").SetSummary(false, 0, 0)
	s.Commit()
	if st := s.Stats(); st.HasOpen {
		t.Fatalf("Stats = %+v, want nothing open", st)
	}
}

func TestTimeSetMin(t *testing.T) {
	var ts timeSet
	if _, ok := ts.min(); ok {
		t.Fatal("min of an empty set reports a time")
	}
	for _, v := range []int64{5, 3, 3, 9, -2} {
		ts.add(v)
	}
	steps := []struct {
		remove int64
		min    int64
		ok     bool
	}{{-2, 3, true}, {3, 3, true}, {3, 5, true}, {9, 5, true}, {5, 0, false}}
	for _, st := range steps {
		ts.remove(st.remove)
		if m, ok := ts.min(); m != st.min || ok != st.ok {
			t.Fatalf("after removing %d: min = %d, %v; want %d, %v", st.remove, m, ok, st.min, st.ok)
		}
	}
}
