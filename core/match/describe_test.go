package match

import (
	"slices"
	"testing"

	"github.com/interruptions/interruptions/state"
)

// TestDescribe: a channel's description lists its timeline, each derived
// interruption with its status and published revision, and a retraction.
func TestDescribe(t *testing.T) {
	e := NewEngine(day)
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
	e := NewEngine(day)
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
