package match

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/interruptions/interruptions/state"
)

// TestDescribe: a channel's description lists its timeline, each derived
// interruption with its status and published revision, and a retraction.
func TestDescribe(t *testing.T) {
	e := newTestEngine(day)
	s := state.New()
	process := func(evs ...Event) {
		for i := range evs {
			e.Process(s, &evs[i], func(Interruption) {})
		}
	}
	process(ev("i", "i1", "08:00"), ev("r", "r1", "08:10"))
	process(ev("r", "r0", "08:05")) // a correction: revision 2
	process(ev("i", "i2", "08:20"))
	d := e.Describe(s.Get(chA), s.StreamTime())
	if len(d.Events) != 4 || d.Events[0].ID != "i1" || d.Events[3].ID != "i2" {
		t.Fatalf("events %+v, want the timeline in time order", d.Events)
	}
	if len(d.Derived) != 2 {
		t.Fatalf("derived %+v, want two interruptions", d.Derived)
	}
	first, second := d.Derived[0], d.Derived[1]
	if first.Status != StatusPublished || first.Revision != 2 || first.ClosedBy == nil || first.ClosedBy.ID != "r0" {
		t.Errorf("first: %s revision %d closed by %+v; want published revision 2 closed by r0", first.Status, first.Revision, first.ClosedBy)
	}
	if second.Status != StatusOpen || second.Revision != 0 || second.OpenedBy.ID != "i2" {
		t.Errorf("second: %s revision %d; want open, unpublished", second.Status, second.Revision)
	}
	if d.DeleteAt != 0 {
		t.Errorf("delete at %d with an interruption open", d.DeleteAt)
	}

	// A late end before the first interruption retracts both.
	process(ev("e", "e0", "07:00"))
	d = e.Describe(s.Get(chA), s.StreamTime())
	if len(d.Derived) != 0 || len(d.Retractions) != 1 || !d.Retractions[0].Done || d.Retractions[0].OpenedBy.ID != "i1" ||
		d.Retractions[0].Revision != 3 {
		t.Fatalf("after the late end: derived %+v, retractions %+v; want i1 retracted at revision 3", d.Derived, d.Retractions)
	}
	if want := at("08:20") + int64(day.Retention); d.DeleteAt != want {
		t.Errorf("delete at %d, want the last event + retention %d", d.DeleteAt, want)
	}
}

// TestDescribeArrivalOffsets: each timeline event keeps the offset of the
// record that first brought it; a duplicate arriving later at another
// offset changes nothing, and an event without one stays unknown.
func TestDescribeArrivalOffsets(t *testing.T) {
	e := newTestEngine(day)
	s := state.New()
	process := func(ev Event, offset int64, known bool) Disposition {
		ev.Offset, ev.HasOffset = offset, known
		d, _ := e.Process(s, &ev, func(Interruption) {})
		return d
	}
	process(ev("i", "i1", "08:00"), 40, true)
	process(ev("r", "r1", "08:10"), 41, true)
	process(ev("r", "r0", "08:05"), 0, false) // a replay's event: no offset
	if d := process(ev("i", "i1", "08:00"), 57, true); d != Duplicate {
		t.Fatalf("the same event again: %s, want duplicate", d)
	}
	type arrival struct {
		id     string
		offset int64
		known  bool
	}
	var got []arrival
	for _, r := range e.Describe(s.Get(chA), s.StreamTime()).Events {
		got = append(got, arrival{r.ID, r.Offset, r.HasOffset})
	}
	want := []arrival{{"i1", 40, true}, {"r0", 0, false}, {"r1", 41, true}}
	if !slices.Equal(got, want) {
		t.Fatalf("timeline arrivals %+v, want %+v", got, want)
	}
}

// TestReportsAgreeWithReference: after every event of random streams with
// random settings, what Describe and Pending say of each interruption is
// what the reference model's state says: published as derived (Describe's
// published, absent from Pending), open (not settled: open in both), held
// (settled, never published, in its grace period: pending, and not open in
// Pending), and every retraction done. Nothing is left changed (due but not
// published) once Process returns.
func TestReportsAgreeWithReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	n := 1500
	if testing.Short() {
		n = 300
	}
	for round := range n {
		b := make([]byte, 4*(1+rng.IntN(40)))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		cfg := configFromBytes(byte(rng.UintN(256)), byte(rng.UintN(256)), byte(rng.UintN(256)))
		evs := eventsFromBytes(b)
		e, s, ref := newTestEngine(cfg), state.New(), newRef(cfg)
		for i := range evs {
			x := evs[i]
			e.Process(s, &x, func(Interruption) {})
			s.Commit()
			ref.process(evs[i])
			fail := func(format string, args ...any) {
				t.Fatalf("round %d, settings %+v, after event %d: %s\nevents: %s", round, cfg, i, fmt.Sprintf(format, args...), describe(evs[:i+1]))
			}
			type pend struct {
				rev  int
				open bool
			}
			wantPending := map[string]pend{}
			for id, ch := range ref.channels {
				c := s.Get(id)
				if c == nil {
					fail("channel %s deleted, the reference keeps it", id)
				}
				got := e.Describe(c, s.StreamTime())
				gotDerived := map[string]string{}
				for _, d := range got.Derived {
					gotDerived[key(Event{Source: d.OpenedBy.Source, ID: d.OpenedBy.ID})] = fmt.Sprint(d.Status, " #", d.Revision)
				}
				list, _, _, _ := ref.derive(ch.events, ch.tomb)
				wantDerived := map[string]string{}
				for _, d := range list {
					k := key(d.open)
					p, published := ch.published[k]
					rev := 0
					if published {
						rev = p.rev
					}
					var st Status
					switch {
					case published && !p.retracted && p.content == d.content(ch.identity()):
						st = StatusPublished
					case d.close == nil && ref.clock <= d.bound:
						st = StatusOpen
						wantPending[id+"\x00"+k] = pend{rev + 1, true}
					case published:
						fail("the reference left %s on %s settled and not published again", k, id)
					default:
						st = StatusPending // settled, never published: in its grace period
						wantPending[id+"\x00"+k] = pend{1, false}
					}
					wantDerived[k] = fmt.Sprint(st, " #", rev)
				}
				if !maps.Equal(gotDerived, wantDerived) {
					fail("channel %s: Describe says %q, the reference %q", id, gotDerived, wantDerived)
				}
				var gotRetracted, wantRetracted []string
				for _, r := range got.Retractions {
					gotRetracted = append(gotRetracted, fmt.Sprint(key(Event{Source: r.OpenedBy.Source, ID: r.OpenedBy.ID}), " #", r.Revision, " done ", r.Done))
				}
				for _, k := range ch.order {
					if _, derived := wantDerived[k]; !derived {
						p := ch.published[k]
						wantRetracted = append(wantRetracted, fmt.Sprint(k, " #", p.rev, " done ", p.retracted))
					}
				}
				slices.Sort(gotRetracted)
				slices.Sort(wantRetracted)
				if !slices.Equal(gotRetracted, wantRetracted) {
					fail("channel %s: Describe retractions %q, the reference %q", id, gotRetracted, wantRetracted)
				}
			}
			gotPending := map[string]pend{}
			e.Pending(s, func(in Interruption, open bool) {
				gotPending[in.ChannelID+"\x00"+key(Event{Source: in.OpenedBy.Source, ID: in.OpenedBy.ID})] = pend{in.Revision, open}
			})
			if !maps.Equal(gotPending, wantPending) {
				fail("Pending says %v, the reference %v", gotPending, wantPending)
			}
		}
	}
}
