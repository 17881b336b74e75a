package state

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// recount computes Stats the slow way, from every channel.
func recount(s *Store) Stats {
	st := Stats{StreamTime: s.StreamTime()}
	s.Range(func(_ string, c *Channel) bool {
		st.Channels++
		st.Open += len(c.Open)
		st.Held += len(c.Held)
		for _, r := range c.Open {
			if !st.HasOpen || r.At < st.OldestOpen {
				st.OldestOpen, st.HasOpen = r.At, true
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
			c.InsertOpen(ref(fmt.Sprint(step), int64(rng.IntN(50))))
		case op < 60: // close the oldest open interruption
			if c := s.Get(id); c != nil && len(c.Open) > 0 {
				e := s.Edit(id)
				e.Open = e.Open[1:]
			}
		case op < 70:
			s.Edit(id).InsertHeld(ref(fmt.Sprint(step), int64(rng.IntN(50))))
		case op < 75:
			if c := s.Get(id); c != nil && len(c.Held) > 0 {
				e := s.Edit(id)
				e.Held = e.Held[:len(e.Held)-1]
			}
		case op < 80:
			s.Delete(id)
		case op < 83: // a changelog record: bypasses change tracking, so
			// only on a store with no changes pending, as in a restore
			s.Commit()
			s.Restore(id, &Channel{Open: []Ref{ref("r", int64(rng.IntN(50)))}, Held: []Ref{ref("h", 1)}})
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

// TestTimeSetCompacts checks that many adds and removes above a long-lived
// minimum keep the heap small.
func TestTimeSetCompacts(t *testing.T) {
	var ts timeSet
	ts.add(1)
	for i := int64(2); i < 100_000; i++ {
		ts.add(i)
		ts.remove(i)
	}
	if m, ok := ts.min(); !ok || m != 1 {
		t.Fatalf("min = %d, %v; want 1, true", m, ok)
	}
	if len(ts.heap) > 2*len(ts.n)+65 {
		t.Fatalf("heap holds %d entries for %d live times", len(ts.heap), len(ts.n))
	}
	ts.remove(1)
	if _, ok := ts.min(); ok {
		t.Fatal("min of an empty set reports a time")
	}
}
