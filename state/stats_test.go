package state

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
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
	// committedOpen is "id@start" of each channel open in the committed
	// state, in RangeOpen's order; RangeOpen must list it at every step,
	// whatever the epoch in progress changed.
	var committedOpen []string
	openNow := func() []string {
		type open struct {
			at int64
			id string
		}
		var os []open
		s.Range(func(c *Channel) bool {
			if ok, at, _ := c.Summary(); ok {
				os = append(os, open{at, c.ID()})
			}
			return true
		})
		slices.SortFunc(os, func(a, b open) int { return cmp.Or(cmp.Compare(a.at, b.at), strings.Compare(a.id, b.id)) })
		var out []string
		for _, o := range os {
			out = append(out, fmt.Sprintf("%s@%d", o.id, o.at))
		}
		return out
	}
	check := func(step int, what string) {
		t.Helper()
		if got, want := s.Stats(), recount(s); got != want {
			t.Fatalf("step %d, after %s: Stats() = %+v, recount %+v", step, what, got, want)
		}
		committedOpen = openNow()
	}
	checkOpen := func(step int) {
		t.Helper()
		var got []string
		s.RangeOpen(func(c *Channel) bool {
			ok, at, _ := c.Summary()
			if !ok {
				t.Fatalf("step %d: RangeOpen handed %s, not open", step, c.ID())
			}
			if s.Committed(c.ID()) != c {
				t.Fatalf("step %d: RangeOpen handed %s not as committed", step, c.ID())
			}
			got = append(got, fmt.Sprintf("%s@%d", c.ID(), at))
			return true
		})
		if !slices.Equal(got, committedOpen) {
			t.Fatalf("step %d: RangeOpen lists %v, committed state %v", step, got, committedOpen)
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
		checkOpen(step)
	}
}

// TestOpenIndexAgainstSorted adds and removes entries at random, many
// sharing a start, and checks after every step that the index holds
// exactly the entries of a plain sorted list, in order, in well-formed
// blocks.
func TestOpenIndexAgainstSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	chans := make([]*Channel, 3000)
	ids := map[*Channel]string{}
	for i := range chans {
		chans[i] = &Channel{}
		k := makeKey(fmt.Sprintf("%08x-0000-4000-8000-%012d", rng.Uint32(), i))
		if i%7 == 0 {
			k = makeKey(fmt.Sprintf("short-%d", i)) // not a UUID
		}
		chans[i].setKey(&k)
		ids[chans[i]] = chans[i].ID()
	}
	var x openIndex
	in := map[*Channel]int64{}
	var want []openEntry
	for step := range 30_000 {
		c := chans[rng.IntN(len(chans))]
		if at, ok := in[c]; ok && rng.IntN(100) < 55 {
			x.remove(openEntry{at: at, c: c})
			delete(in, c)
		} else if !ok {
			at := int64(rng.IntN(40))
			x.add(openEntry{at: at, c: c})
			in[c] = at
		}
		if step%97 != 0 && step < 29_900 {
			continue
		}
		want = want[:0]
		for c, at := range in {
			want = append(want, openEntry{at: at, c: c})
		}
		slices.SortFunc(want, func(a, b openEntry) int {
			if a.at != b.at {
				return cmp.Compare(a.at, b.at)
			}
			return strings.Compare(ids[a.c], ids[b.c])
		})
		var got []openEntry
		x.each(func(e openEntry) bool { got = append(got, e); return true })
		if !slices.Equal(got, want) || x.n != len(want) {
			t.Fatalf("step %d: index holds %d entries (n %d), want %d in order", step, len(got), x.n, len(want))
		}
		for bi, b := range x.blocks {
			if len(b) == 0 || len(b) > openBlockMax {
				t.Fatalf("step %d: block %d holds %d entries", step, bi, len(b))
			}
		}
		if f, ok := x.first(); ok != (len(want) > 0) || ok && f != want[0] {
			t.Fatalf("step %d: first = %+v, %v", step, f, ok)
		}
	}
	// Emptied, it holds no blocks.
	for c, at := range in {
		x.remove(openEntry{at: at, c: c})
	}
	if x.n != 0 || len(x.blocks) != 0 {
		t.Fatalf("emptied index: n %d, %d blocks", x.n, len(x.blocks))
	}
}

// TestOpenIndexRemoveUnknownPanics: removing an entry the index does not
// hold (another start, or another object of the same id) is a bug in the
// store's bookkeeping, not something to ignore.
func TestOpenIndexRemoveUnknownPanics(t *testing.T) {
	a, b := &Channel{}, &Channel{}
	k := makeKey("same-id")
	a.setKey(&k)
	b.setKey(&k)
	for name, e := range map[string]openEntry{"other start": {at: 2, c: a}, "other object": {at: 1, c: b}} {
		t.Run(name, func(t *testing.T) {
			var x openIndex
			x.add(openEntry{at: 1, c: a})
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			x.remove(e)
		})
	}
}

// TestOpenIndexShrinks: opening and closing many interruptions above a
// long-lived oldest one leaves no trail of blocks behind.
func TestOpenIndexShrinks(t *testing.T) {
	s := New()
	s.Edit("old").SetSummary(true, 1, 0)
	s.Commit()
	ids := make([]string, 5000)
	for i := range ids {
		ids[i] = fmt.Sprintf("x-%d", i)
		s.Edit(ids[i]).SetSummary(true, int64(2+i), 0)
	}
	s.Commit()
	for _, id := range ids {
		s.Edit(id).SetSummary(false, 0, 0)
	}
	s.Commit()
	if st := s.Stats(); !st.HasOpen || st.OldestOpen != 1 || st.Open != 1 {
		t.Fatalf("Stats = %+v, want one open interruption at 1", st)
	}
	if n := len(s.counts.opens.blocks); n != 1 {
		t.Fatalf("the open index keeps %d blocks for one open interruption", n)
	}
	s.Edit("old").SetSummary(false, 0, 0)
	s.Commit()
	if st := s.Stats(); st.HasOpen {
		t.Fatalf("Stats = %+v, want nothing open", st)
	}
}
