package state

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// record is one changelog record; a nil value is a tombstone.
type record struct {
	key   string
	value []byte
}

// changelog is an in-memory changelog partition: every record written, in
// offset order.
type changelog []record

// write appends the store's records since its last commit.
func (l *changelog) write(s *Store) {
	ChangelogEntries(nil, s, 0, 0, func(k, v []byte) {
		if v != nil {
			v = bytes.Clone(v)
		}
		*l = append(*l, record{string(k), v})
	})
}

// compacted returns the log as compaction leaves it: the last record of
// each key, in offset order, tombstones kept or dropped.
func (l changelog) compacted(dropTombstones bool) changelog {
	last := map[string]int{}
	for i, r := range l {
		last[r.key] = i
	}
	var out changelog
	for i, r := range l {
		if last[r.key] == i && (r.value != nil || !dropTombstones) {
			out = append(out, r)
		}
	}
	return out
}

// load loads the log into a new store.
func (l changelog) load(t *testing.T) *Loader {
	t.Helper()
	ld := NewLoader(0)
	for _, r := range l {
		if err := ld.Load([]byte(r.key), r.value); err != nil {
			t.Fatalf("Load %q: %v", r.key, err)
		}
	}
	if err := ld.Finish(); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return ld
}

// sameStores fails unless the two stores hold the same channels, field for
// field (Data).
func sameStores(t *testing.T, what string, got, want *Store) {
	t.Helper()
	ids := func(s *Store) []string {
		var out []string
		s.Range(func(c *Channel) bool { out = append(out, c.ID()); return true })
		slices.Sort(out)
		return out
	}
	if g, w := ids(got), ids(want); !slices.Equal(g, w) {
		t.Fatalf("%s: channels %q, want %q", what, g, w)
	}
	for _, id := range ids(want) {
		if g, w := got.Get(id).Data(), want.Get(id).Data(); !reflect.DeepEqual(g, w) {
			t.Fatalf("%s: channel %s loaded as\n%+v\nwant\n%+v\n%s", what, id, summarize(g), summarize(w), diffData(g, w))
		}
	}
}

func summarize(d ChannelData) string {
	return fmt.Sprintf("%d events %d published tomb %v", len(d.Events), len(d.Published), d.Tomb != nil)
}

// mutate applies one random change to the store, as the engine's
// mutators would: events in order, late, at one instant, moved; published
// entries added and revised; a channel deleted or buried (set whole).
func mutate(r *rand.Rand, s *Store, clock *int64, seq *int) (id string, op int) {
	id = []string{"a", "b", "c"}[r.IntN(3)]
	*seq++
	op = r.IntN(100)
	switch {
	case op < 55: // in order, sometimes a tie
		if r.IntN(4) > 0 {
			*clock += int64(r.IntN(3))
		}
		s.Edit(id).InsertEvent(Ref{Source: "/channel", ID: fmt.Sprint("e", *seq), Type: "channel.interrupted.v0", At: *clock, Offset: int64(*seq), HasOffset: true})
	case op < 75: // late
		s.Edit(id).InsertEvent(Ref{Source: "/other", ID: fmt.Sprint("late-", *seq), Type: "t", At: *clock - int64(r.IntN(500)), Offset: int64(*seq), HasOffset: true})
	case op < 80: // a copy at another time
		c := s.Get(id)
		if c == nil || c.NumEvents() == 0 {
			return id, op
		}
		i := r.IntN(c.NumEvents())
		ev := c.Event(i)
		ev.At = *clock - int64(r.IntN(800))
		s.Edit(id).MoveEvent(i, ev)
	case op < 95: // publish or revise
		c := s.Get(id)
		if c == nil || c.NumEvents() == 0 {
			return id, op
		}
		open := c.EventHash(r.IntN(c.NumEvents()))
		i := c.FindPublished(open)
		rev := uint32(1)
		if i >= 0 {
			rev = c.Published(i).Revision + 1
		}
		s.Edit(id).PutPublishedAt(i, Published{Open: open, Fingerprint: r.Uint64(), Revision: rev, Retracted: r.IntN(5) == 0})
	case op < 97:
		if s.Get(id) != nil {
			s.Delete(id)
		}
	case op < 98:
		if s.Get(id) != nil {
			s.Edit(id).Set(ChannelData{LastEventAt: *clock, Tomb: &Tomb{Until: *clock + 10, Events: []uint64{1, 2}}})
		}
	default:
		if c := s.Get(id); c != nil {
			d := c.Data()
			s.Edit(id).Set(d) // set whole: laid out again
		}
	}
	return id, op
}

// TestSegmentedChangelogRoundTrip: a store changed at random over many
// units of work, long channels among them, some units rolled back, is
// written unit by unit; after each committed unit the changelog, loaded
// as written and as compaction leaves it, gives back every channel field
// for field. The oracle is the store itself (Data), which keeps every
// event in memory.
func TestSegmentedChangelogRoundTrip(t *testing.T) {
	segmentedSeen := false
	for seed := range 40 {
		r := rand.New(rand.NewPCG(uint64(seed), 21))
		s := New()
		var log changelog
		clock, seq := int64(1_000_000), 0
		committed := map[string]ChannelData{}
		sameAsCommitted := func(what string, get func(string) *Channel) {
			t.Helper()
			for _, id := range []string{"a", "b", "c"} {
				c, want := get(id), committed[id]
				if c == nil {
					if want.Events != nil || want.Tomb != nil {
						t.Fatalf("seed %d %s: channel %s gone", seed, what, id)
					}
					continue
				}
				if got := c.Data(); !reflect.DeepEqual(got, want) {
					t.Fatalf("seed %d %s: channel %s differs from its committed value:\n%s", seed, what, id, diffData(got, want))
				}
			}
		}
		for unit := range 300 {
			for range 1 + r.IntN(12) {
				mutate(r, s, &clock, &seq)
			}
			// The committed view while the epoch is open, and after a
			// rollback, is the value at the last Commit.
			sameAsCommitted(fmt.Sprintf("unit %d, Committed", unit), s.Committed)
			if r.IntN(6) == 0 {
				s.Rollback()
				sameAsCommitted(fmt.Sprintf("unit %d, rolled back", unit), s.Get)
				continue
			}
			log.write(s)
			s.Commit()
			clear(committed)
			s.Range(func(c *Channel) bool { committed[c.ID()] = c.Data(); return true })
			s.Range(func(c *Channel) bool { segmentedSeen = segmentedSeen || c.Segmented(); return true })
			if unit%10 == 9 || unit == 299 {
				what := fmt.Sprintf("seed %d unit %d", seed, unit)
				sameStores(t, what+" (as written)", log.load(t).Store, s)
				sameStores(t, what+" (compacted)", log.compacted(false).load(t).Store, s)
				ld := log.compacted(true).load(t)
				sameStores(t, what+" (compacted, tombstones gone)", ld.Store, s)
				if len(ld.Store.orphans) != 0 {
					t.Fatalf("%s: orphans %q after complete writes", what, ld.Store.orphans)
				}
			}
		}
	}
	if !segmentedSeen {
		t.Fatal("no channel was segmented: the test does not exercise segments")
	}
}

// inOrder returns a channel of n events in order, 1 ms apart, written to
// the log committing every unit events, and the bytes written.
func inOrder(n, unit int) (*Store, changelog, int) {
	s := New()
	var log changelog
	bytes := 0
	for i := range n {
		c := s.Edit("long")
		c.InsertEvent(Ref{Source: "/channel", ID: fmt.Sprint("e", i), Type: "channel.interrupted.v0", At: int64(i) * 1e6, Offset: int64(i), HasOffset: true})
		if i%2 == 1 {
			c.PutPublishedAt(-1, Published{Open: c.EventHash(c.NumEvents() - 2), Revision: 1})
		}
		if i%unit == unit-1 || i == n-1 {
			from := len(log)
			log.write(s)
			for _, r := range log[from:] {
				bytes += len(r.key) + len(r.value)
			}
			s.Commit()
		}
	}
	return s, log, bytes
}

// TestChangelogBytesPerEventFlat: a channel committed after every event
// writes about the same bytes per event at 2,000 and at 20,000 events (a
// whole value per unit would write ten times more), and none of its
// records holds more than a few segments' worth of events.
func TestChangelogBytesPerEventFlat(t *testing.T) {
	_, _, small := inOrder(2_000, 1)
	_, log, large := inOrder(20_000, 1)
	perSmall, perLarge := float64(small)/2_000, float64(large)/20_000
	t.Logf("changelog bytes per event: %.0f at 2,000 events, %.0f at 20,000", perSmall, perLarge)
	if perLarge > 1.2*perSmall {
		t.Fatalf("bytes per event grew with the channel: %.0f at 2,000, %.0f at 20,000 events", perSmall, perLarge)
	}
	longest := 0
	for _, r := range log {
		longest = max(longest, len(r.value))
	}
	if bound := 5 * segEvents * refBound; longest > bound {
		t.Fatalf("longest record %d bytes, above %d", longest, bound)
	}
	ld := log.compacted(true).load(t)
	if got := ld.Store.Get("long").NumEvents(); got != 20_000 {
		t.Fatalf("loaded %d events, want 20000", got)
	}
}

// TestCutShortWrites: under at-least-once a unit's records can be cut off
// at any point. Loading any prefix of a unit's records on top of the last
// complete unit gives a channel holding every event the complete unit
// held; a deleted channel's segments that a cut left behind are found and
// deleted by the next write.
func TestCutShortWrites(t *testing.T) {
	s, log, _ := inOrder(500, 7)
	before := s.Get("long").Data()
	// A unit that adds late events (rewriting sealed segments) and
	// splits one.
	for i := range 200 {
		s.Edit("long").InsertEvent(Ref{Source: "/other", ID: fmt.Sprint("late", i), Type: "t", At: int64(100+i%20) * 1e6})
	}
	if st := s.Get("long").segs(); !slices.ContainsFunc(st.starts, func(b int64) bool { return b > 100e6 && b < 120e6 }) {
		t.Fatalf("late events into one segment did not split it: starts %v", st.starts)
	}
	var unit changelog
	unit.write(s)
	if len(unit) < 3 {
		t.Fatalf("the unit wrote %d records, want segments and a head", len(unit))
	}
	after := s.Get("long").Data()
	for cut := range len(unit) + 1 {
		ld := append(slices.Clone(log), unit[:cut]...).load(t)
		c := ld.Store.Get("long")
		got := map[string]bool{}
		for i := range c.NumEvents() {
			e := c.Event(i)
			if got[e.Source+e.ID] {
				t.Fatalf("cut %d: event %s%s twice", cut, e.Source, e.ID)
			}
			got[e.Source+e.ID] = true
		}
		for _, e := range before.Events {
			if !got[e.Source+e.ID] {
				t.Fatalf("cut %d of %d: event %s lost", cut, len(unit), e.ID)
			}
		}
		if cut == len(unit) && !reflect.DeepEqual(c.Data(), after) {
			t.Fatalf("the whole unit loads as %s, want %s", summarize(c.Data()), summarize(after))
		}
	}
	s.Commit()
	log = append(log, unit...)

	// Deleted, the write cut after the head's tombstone.
	s.Delete("long")
	var del changelog
	del.write(s)
	if len(del) < 3 || del[0].key != "long" || del[0].value != nil {
		t.Fatalf("a deletion writes the head's tombstone first, then the segments': %d records", len(del))
	}
	s.Commit()
	log = append(log, del[:2]...)
	ld := log.load(t)
	if ld.Store.Get("long") != nil {
		t.Fatal("a deleted channel came back")
	}
	if len(ld.Store.orphans) == 0 {
		t.Fatal("no orphan segment found after a cut deletion")
	}
	log.write(ld.Store) // the next unit of the restored store
	ld.Store.Commit()
	if again := log.load(t); len(again.Store.orphans) != 0 || again.Records == 0 {
		t.Fatalf("orphans left after the next write: %q", again.Store.orphans)
	}
	for _, r := range log.compacted(true) {
		if r.key[0] == 0 {
			t.Fatalf("segment record %q left in the compacted changelog", r.key)
		}
	}
}

// diffData spells out how two channel values differ.
func diffData(a, b ChannelData) string {
	out := ""
	if len(a.Events) == len(b.Events) {
		for i := range a.Events {
			if a.Events[i] != b.Events[i] {
				out += fmt.Sprintf("event %d: %+v vs %+v\n", i, a.Events[i], b.Events[i])
			}
		}
	}
	if !reflect.DeepEqual(a.Published, b.Published) {
		for i := range a.Published {
			if a.Published[i] != b.Published[i] {
				out += fmt.Sprintf("pub %d: %+v vs %+v\n", i, a.Published[i], b.Published[i])
			}
		}
	}
	if !reflect.DeepEqual(a.Tomb, b.Tomb) {
		out += fmt.Sprintf("tomb %+v vs %+v\n", a.Tomb, b.Tomb)
	}
	a.Events, b.Events, a.Published, b.Published, a.Tomb, b.Tomb = nil, nil, nil, nil, nil, nil
	if !reflect.DeepEqual(a, b) {
		out += fmt.Sprintf("rest %+v vs %+v\n", a, b)
	}
	return out
}
