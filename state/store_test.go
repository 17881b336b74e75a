package state

import (
	"reflect"
	"strings"
	"testing"

	"github.com/interruptions/interruptions/core/vcc"
)

// ref builds a Ref terse enough for table rows.
func ref(id string, at int64) Ref {
	return Ref{Source: "/channel", ID: id, Type: "channel.interrupted.v0", At: at}
}

// chanWith returns a channel value whose fields identify it in comparisons.
func chanWith(conv string, last int64) ChannelData {
	return ChannelData{ConversationID: conv, LastEventAt: last, Events: []Ref{ref("e", last)}}
}

// put creates or overwrites channel id through Edit, as the engine does.
func put(s *Store, id string, d ChannelData) { s.Edit(id).Set(d) }

// edit changes channel id's value through Edit.
func edit(s *Store, id string, f func(d *ChannelData)) {
	c := s.Edit(id)
	d := c.Data()
	f(&d)
	c.Set(d)
}

// snapshot returns every channel's value by id.
func snapshot(s *Store) map[string]ChannelData {
	out := make(map[string]ChannelData)
	s.Range(func(c *Channel) bool {
		out[c.ID()] = c.Data()
		return true
	})
	return out
}

// changes returns Changes as "id" or "id:deleted" in order.
func changes(s *Store) []string {
	var out []string
	for _, ch := range s.Changes() {
		if ch.Channel == nil {
			out = append(out, ch.ChannelID+":deleted")
		} else {
			out = append(out, ch.ChannelID+":"+ch.Channel.Data().ConversationID)
		}
	}
	return out
}

// drain pops every id due before now, in order.
func drain(s *Store, now int64) []string {
	var out []string
	for id := s.NextDue(now); id != ""; id = s.NextDue(now) {
		out = append(out, id)
	}
	return out
}

func TestStoreEditGetDelete(t *testing.T) {
	s := New()
	if s.Get("a") != nil || s.Len() != 0 {
		t.Fatalf("new store: Get(a)=%v Len=%d, want nil, 0", s.Get("a"), s.Len())
	}
	c := s.Edit("a")
	if c == nil || s.Get("a") != c || s.Len() != 1 {
		t.Fatalf("Edit(a) did not create a channel reachable by Get")
	}
	c.fillIdentity("conv", "", vcc.Party{})
	if again := s.Edit("a"); again != c || again.Data().ConversationID != "conv" {
		t.Fatalf("second Edit(a) returned a different channel")
	}
	s.Delete("a")
	if s.Get("a") != nil || s.Len() != 0 {
		t.Fatalf("after Delete(a): Get=%v Len=%d", s.Get("a"), s.Len())
	}
	s.Delete("never-existed") // no panic, no change
	if got := changes(s); !reflect.DeepEqual(got, []string{"a:deleted"}) {
		t.Fatalf("Changes = %v, want [a:deleted] (deleting an absent channel is not a change)", got)
	}
}

func TestStoreChangesAndCommit(t *testing.T) {
	s := New()
	put(s, "b", chanWith("B", 1))
	put(s, "a", chanWith("A", 2))
	put(s, "c", chanWith("C", 3))
	if got, want := changes(s), []string{"b:B", "a:A", "c:C"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Changes = %v, want %v (in order of first change)", got, want)
	}
	s.Commit()
	if got := s.Changes(); len(got) != 0 {
		t.Fatalf("Changes after Commit = %v, want none", got)
	}
	edit(s, "b", func(d *ChannelData) { d.ConversationID = "B2" })
	s.Delete("c")
	_ = s.Get("a") // reading is not a change
	if got, want := changes(s), []string{"b:B2", "c:deleted"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Changes = %v, want %v", got, want)
	}
	// Created and deleted in one epoch: reported as a deletion.
	s.Edit("d")
	s.Delete("d")
	if got, want := changes(s), []string{"b:B2", "c:deleted", "d:deleted"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Changes = %v, want %v", got, want)
	}
}

func TestStoreStreamTime(t *testing.T) {
	s := New()
	if s.StreamTime() != 0 || s.StreamTimeChanged() {
		t.Fatalf("new store: stream time %d changed %v", s.StreamTime(), s.StreamTimeChanged())
	}
	steps := []struct {
		advance   int64
		moved     bool
		wantTime  int64
		wantDirty bool
	}{
		{advance: 100, moved: true, wantTime: 100, wantDirty: true},
		{advance: 50, moved: false, wantTime: 100, wantDirty: true},
		{advance: 100, moved: false, wantTime: 100, wantDirty: true},
		{advance: 101, moved: true, wantTime: 101, wantDirty: true},
	}
	for i, st := range steps {
		if got := s.AdvanceStreamTime(st.advance); got != st.moved {
			t.Errorf("step %d: AdvanceStreamTime(%d) = %v, want %v", i, st.advance, got, st.moved)
		}
		if s.StreamTime() != st.wantTime || s.StreamTimeChanged() != st.wantDirty {
			t.Errorf("step %d: stream time %d changed %v, want %d %v", i, s.StreamTime(), s.StreamTimeChanged(), st.wantTime, st.wantDirty)
		}
	}
	s.Commit()
	if s.StreamTimeChanged() {
		t.Fatal("StreamTimeChanged after Commit")
	}
	if s.AdvanceStreamTime(90) || s.StreamTimeChanged() {
		t.Fatal("moving back marked stream time changed")
	}
}

func TestStoreRollback(t *testing.T) {
	tests := []struct {
		name string
		// epoch mutates a committed store holding a:A, b:B at stream time 10.
		epoch func(s *Store)
	}{
		{"nothing", func(s *Store) {}},
		{"modify", func(s *Store) {
			edit(s, "a", func(d *ChannelData) { d.ConversationID = "A2" })
			c := s.Edit("a")
			c.InsertEvent(ref("o", 5))
			c.InsertEvent(Ref{Source: "/odd", ID: "x", Type: "t", At: 0})
			c.PutPublished(Published{Open: 1, Fingerprint: 2, Revision: 1})
			c.PutPublished(Published{Open: 1, Fingerprint: 3, Revision: 2})
			c.SetSummary(true, 5, 1)
		}},
		{"modify twice", func(s *Store) {
			edit(s, "a", func(d *ChannelData) { d.ConversationID = "A2" })
			edit(s, "a", func(d *ChannelData) { d.ConversationID = "A3" })
		}},
		{"modify the overflow", func(s *Store) {
			edit(s, "b", func(d *ChannelData) {
				d.Party = vcc.Party{Role: "unusual", AgentID: "a-very-long-agent-id", UserID: "u"}
				d.Events = append(d.Events, Ref{Source: "/odd", ID: "x", Type: "t", At: 9})
				d.Published = []Published{{Open: 9, Revision: 2, Retracted: true}}
			})
		}},
		{"delete", func(s *Store) { s.Delete("b") }},
		{"create", func(s *Store) { put(s, "c", chanWith("C", 7)) }},
		{"modify then delete", func(s *Store) {
			s.Edit("a").LastEventAt = 1000
			s.Delete("a")
		}},
		{"delete then recreate", func(s *Store) {
			s.Delete("a")
			s.Edit("a").fillIdentity("new", "", vcc.Party{})
		}},
		{"stream time", func(s *Store) { s.AdvanceStreamTime(500) }},
		{"everything", func(s *Store) {
			edit(s, "a", func(d *ChannelData) { d.Published = []Published{{Open: 1, Revision: 1}} })
			s.Delete("b")
			put(s, "c", chanWith("C", 7))
			s.AdvanceStreamTime(20)
			s.AdvanceStreamTime(30)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			a := chanWith("A", 1)
			a.Events = append(a.Events, ref("a-open", 1))
			a.HasOpen, a.OpenAt = true, 1
			put(s, "a", a)
			b := chanWith("B", 2)
			b.Events = append(b.Events, Ref{Source: "/odd", ID: "b-raw", Type: "t", At: 3})
			b.Published = []Published{{Open: 7, Fingerprint: 8, Revision: 1}}
			put(s, "b", b)
			s.AdvanceStreamTime(10)
			s.Commit()
			before := snapshot(s)

			tt.epoch(s)
			s.Rollback()

			if got := snapshot(s); !reflect.DeepEqual(got, before) {
				t.Errorf("after Rollback:\n got %+v\nwant %+v", got, before)
			}
			if s.StreamTime() != 10 {
				t.Errorf("stream time after Rollback = %d, want 10", s.StreamTime())
			}
			if len(s.Changes()) != 0 || s.StreamTimeChanged() {
				t.Errorf("after Rollback: Changes %v, StreamTimeChanged %v; want none", s.Changes(), s.StreamTimeChanged())
			}
			// The restored values are independent of what the epoch changed.
			edit(s, "a", func(d *ChannelData) { d.Events[0].ID = "mutated" })
			s.Edit("b").InsertEvent(ref("b-6", 6))
			s.Edit("b").InsertEvent(Ref{Source: "/odd", ID: "b-raw-2", Type: "t", At: 1})
			s.Edit("b").PutPublished(Published{Open: 7, Fingerprint: 9, Revision: 2})
			s.Rollback()
			if got := snapshot(s); !reflect.DeepEqual(got, before) {
				t.Errorf("after second Rollback:\n got %+v\nwant %+v", got, before)
			}
		})
	}
}

func TestStoreRollbackOnlyToLastCommit(t *testing.T) {
	s := New()
	put(s, "a", chanWith("A", 1))
	s.Commit()
	edit(s, "a", func(d *ChannelData) { d.ConversationID = "A2" })
	s.AdvanceStreamTime(5)
	s.Commit()
	edit(s, "a", func(d *ChannelData) { d.ConversationID = "A3" })
	s.AdvanceStreamTime(9)
	s.Rollback()
	if got := s.Get("a").Data().ConversationID; got != "A2" {
		t.Errorf("ConversationID = %q, want A2 (the last committed value)", got)
	}
	if s.StreamTime() != 5 {
		t.Errorf("stream time = %d, want 5", s.StreamTime())
	}
}

func TestStoreNextDue(t *testing.T) {
	s := New()
	for _, d := range []struct {
		id string
		at int64
	}{{"c", 30}, {"b", 10}, {"a", 10}, {"z", 5}, {"never", 0}} {
		s.SetDeadline(s.Edit(d.id), d.at)
	}
	tests := []struct {
		now  int64
		want []string
	}{
		{now: 5, want: nil},                 // strictly before now: 5 is not due at 5
		{now: 6, want: []string{"z"}},       // earliest first
		{now: 11, want: []string{"a", "b"}}, // ties in id order
		{now: 30, want: nil},
		{now: 1 << 62, want: []string{"c"}}, // a zero deadline never fires
		{now: 1 << 62, want: nil},           // popped entries are gone
	}
	for _, tt := range tests {
		if got := drain(s, tt.now); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("NextDue(%d) = %v, want %v", tt.now, got, tt.want)
		}
	}
}

func TestStoreSetDeadline(t *testing.T) {
	tests := []struct {
		name string
		run  func(s *Store)
		now  int64
		want []string
	}{
		{"rescheduled later keeps the earlier wake-up", func(s *Store) {
			// One heap entry per channel: the wake-up at 10 stays, and
			// the engine reschedules when it finds nothing due.
			c := s.Edit("a")
			s.SetDeadline(c, 10)
			s.SetDeadline(c, 50)
		}, 20, []string{"a"}},
		{"rescheduled later fires at the new time", func(s *Store) {
			c := s.Edit("a")
			s.SetDeadline(c, 10)
			s.SetDeadline(c, 50)
		}, 51, []string{"a"}},
		{"rescheduled earlier", func(s *Store) {
			c := s.Edit("a")
			s.SetDeadline(c, 50)
			s.SetDeadline(c, 10)
		}, 11, []string{"a"}},
		{"same deadline twice fires once", func(s *Store) {
			c := s.Edit("a")
			s.SetDeadline(c, 10)
			s.SetDeadline(c, 10)
		}, 11, []string{"a"}},
		{"cancelled with zero", func(s *Store) {
			c := s.Edit("a")
			s.SetDeadline(c, 10)
			s.SetDeadline(c, 0)
		}, 1 << 62, nil},
		{"deleted channel never fires", func(s *Store) {
			s.SetDeadline(s.Edit("a"), 10)
			s.Delete("a")
		}, 11, nil},
		{"deleted and recreated fires by its new deadline", func(s *Store) {
			s.SetDeadline(s.Edit("a"), 10)
			s.Delete("a")
			s.SetDeadline(s.Edit("a"), 20)
		}, 21, []string{"a"}},
		{"negative deadline", func(s *Store) {
			s.SetDeadline(s.Edit("a"), -10)
		}, -9, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			tt.run(s)
			if got := drain(s, tt.now); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("due before %d = %v, want %v", tt.now, got, tt.want)
			}
		})
	}
}

func TestStoreDeadlineAfterNextDueIsRearmed(t *testing.T) {
	s := New()
	c := s.Edit("a")
	s.SetDeadline(c, 10)
	if got := drain(s, 11); !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("due = %v, want [a]", got)
	}
	if c.Deadline() != 10 {
		t.Fatalf("Deadline() = %d, want 10", c.Deadline())
	}
	// Popped, so not scheduled: setting the same deadline again re-arms it.
	s.SetDeadline(c, 10)
	if got := drain(s, 11); !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("re-armed: due = %v, want [a]", got)
	}
}

func TestStoreDeadlinesFireAfterRollback(t *testing.T) {
	tests := []struct {
		name string
		// epoch runs after a:10 and b:20 were scheduled and committed.
		epoch func(s *Store)
		want  []string // due before 100 after the rollback
	}{
		{"nothing popped", func(s *Store) {}, []string{"a", "b"}},
		{"popped and edited, as the engine does", func(s *Store) {
			for _, id := range drain(s, 100) {
				s.Edit(id).fillIdentity("changed", "", vcc.Party{})
				s.SetDeadline(s.Get(id), 0)
			}
		}, []string{"a", "b"}},
		{"popped, channel deleted", func(s *Store) {
			for _, id := range drain(s, 100) {
				s.Edit(id)
				s.Delete(id)
			}
		}, []string{"a", "b"}},
		{"popped without an edit", func(s *Store) {
			drain(s, 100)
		}, []string{"a", "b"}},
		{"one popped, one rescheduled", func(s *Store) {
			if id := s.NextDue(100); id != "a" {
				t.Fatalf("NextDue = %q, want a", id)
			}
			s.SetDeadline(s.Edit("b"), 500)
		}, []string{"a", "b"}},
		{"channel created and scheduled in the epoch", func(s *Store) {
			s.SetDeadline(s.Edit("c"), 5)
		}, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			s.SetDeadline(s.Edit("a"), 10)
			s.SetDeadline(s.Edit("b"), 20)
			s.Commit()
			tt.epoch(s)
			s.Rollback()
			if got := drain(s, 100); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("due after Rollback = %v, want %v", got, tt.want)
			}
			if got := drain(s, 1<<62); got != nil {
				t.Errorf("due again = %v, want none (each deadline fires once)", got)
			}
			for _, id := range tt.want {
				if d := s.Get(id).Deadline(); d != map[string]int64{"a": 10, "b": 20}[id] {
					t.Errorf("%s.Deadline() = %d after Rollback", id, d)
				}
			}
		})
	}
}

func TestStoreRestore(t *testing.T) {
	s := New()
	s.Restore("a", NewChannel(chanWith("A", 1)))
	s.Restore("b", NewChannel(chanWith("B", 2)))
	s.Restore("b", nil)
	s.Restore("missing", nil)
	s.RestoreStreamTime(40)
	s.RestoreStreamTime(30) // never moves back
	if s.Len() != 1 || s.Get("a") == nil || s.Get("b") != nil {
		t.Fatalf("after Restore: Len %d, a %v, b %v", s.Len(), s.Get("a"), s.Get("b"))
	}
	if s.StreamTime() != 40 {
		t.Fatalf("stream time = %d, want 40", s.StreamTime())
	}
	if len(s.Changes()) != 0 || s.StreamTimeChanged() {
		t.Fatalf("Restore is not tracked: Changes %v, StreamTimeChanged %v", s.Changes(), s.StreamTimeChanged())
	}
	// Nothing is scheduled until the caller schedules it.
	if id := s.NextDue(1 << 62); id != "" {
		t.Fatalf("NextDue after Restore = %q, want none", id)
	}
}

func TestStoreRange(t *testing.T) {
	s := New()
	for _, id := range []string{"a", "b", "c"} {
		s.Edit(id)
	}
	seen := map[string]bool{}
	s.Range(func(c *Channel) bool {
		id := c.ID()
		if c != s.Get(id) {
			t.Errorf("Range gave %s a different channel than Get", id)
		}
		seen[id] = true
		return true
	})
	if len(seen) != 3 {
		t.Errorf("Range visited %v, want a, b, c", seen)
	}
	n := 0
	s.Range(func(*Channel) bool { n++; return false })
	if n != 1 {
		t.Errorf("Range after false visited %d channels, want 1", n)
	}
}

func TestChannelInsertSorted(t *testing.T) {
	tests := []struct {
		name  string
		in    []Ref
		order []string
	}{
		{"empty", nil, nil},
		{"ascending", []Ref{ref("a", 1), ref("b", 2), ref("c", 3)}, []string{"a", "b", "c"}},
		{"descending", []Ref{ref("c", 3), ref("b", 2), ref("a", 1)}, []string{"a", "b", "c"}},
		{"middle", []Ref{ref("a", 1), ref("c", 3), ref("b", 2)}, []string{"a", "b", "c"}},
		{"ties keep arrival order", []Ref{ref("x", 5), ref("y", 5), ref("w", 1), ref("z", 5)}, []string{"w", "x", "y", "z"}},
		{"negative times", []Ref{ref("b", -1), ref("a", -2), ref("c", 0)}, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Channel
			for _, r := range tt.in {
				c.InsertEvent(r)
			}
			var got []string
			for _, r := range c.Data().Events {
				got = append(got, r.ID)
			}
			if !reflect.DeepEqual(got, tt.order) {
				t.Errorf("timeline order = %v, want %v", got, tt.order)
			}
		})
	}
}

func TestChannelCloneIsDeep(t *testing.T) {
	var nilChan *Channel
	if nilChan.Clone() != nil {
		t.Fatal("nil.Clone() != nil")
	}
	for name, d := range map[string]ChannelData{
		"packed": {ConversationID: "c", Events: []Ref{ref("o", 1)}, Published: []Published{{Open: 1, Revision: 1}}},
		"overflow": {ConversationID: strings.Repeat("c", 40), Events: []Ref{ref("o", 1), {Source: "/odd", ID: "p", Type: "t", At: 2}},
			Published: []Published{{Open: 2, Revision: 3, Retracted: true}}},
	} {
		c := NewChannel(d)
		want := c.Data()
		n := c.Clone()
		if !reflect.DeepEqual(n.Data(), want) {
			t.Fatalf("%s: clone differs: %+v vs %+v", name, n.Data(), want)
		}
		n.InsertEvent(ref("x", 0))
		n.InsertEvent(Ref{Source: "/odd", ID: "y", Type: "t", At: 5})
		n.PutPublished(Published{Open: 2, Revision: 9})
		n.SetSummary(true, 3, 2)
		n.fillIdentity("other", "other", vcc.Party{Role: "agent"})
		if got := c.Data(); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: mutating the clone changed the original: %+v", name, got)
		}
	}
}

func TestChannelFindEvent(t *testing.T) {
	c := NewChannel(ChannelData{Events: []Ref{ref("a", 1), ref("2Zks0VJxXAegKlhmHygjlZRwu0F", 2),
		{Source: "/odd", ID: "a", Type: "t", At: 3}, {Source: "/channel", ID: strings.Repeat("x", 40), Type: "channel.resumed.v0", At: 4}}})
	for _, tt := range []struct {
		source, id string
		want       int
	}{
		{"/channel", "a", 0}, {"/channel", "2Zks0VJxXAegKlhmHygjlZRwu0F", 1}, {"/odd", "a", 2},
		{"/channel", strings.Repeat("x", 40), 3}, {"/channel", "b", -1}, {"/agent", "a", -1}, {"/odd", "b", -1},
	} {
		if got := c.FindEvent(tt.source, tt.id); got != tt.want {
			t.Errorf("FindEvent(%q, %q) = %d, want %d", tt.source, tt.id, got, tt.want)
		}
		if tt.want >= 0 {
			if h := c.EventHash(tt.want); h != HashEvent(tt.source, tt.id) || c.FindEventHash(h) != tt.want {
				t.Errorf("EventHash(%d) = %x, FindEventHash = %d", tt.want, h, c.FindEventHash(h))
			}
		}
	}
}

// TestStoreUndoSharesOverflowSafely checks the copy-on-write overflow:
// the value saved by an epoch's first Edit shares the channel's overflow,
// so every change to the overflow must leave the saved value intact, in
// this epoch and in later ones.
func TestStoreUndoSharesOverflowSafely(t *testing.T) {
	changes := map[string]func(c *Channel){
		"insert event":     func(c *Channel) { c.InsertEvent(ref("n", 3)) },
		"insert raw event": func(c *Channel) { c.InsertEvent(Ref{Source: "/odd", ID: "n", Type: "t", At: 3}) },
		"put published":    func(c *Channel) { c.PutPublished(Published{Open: 1, Revision: 5}) },
		"add published":    func(c *Channel) { c.PutPublished(Published{Open: uint64(c.NumEvents()), Revision: 1}) },
		"summary":          func(c *Channel) { c.SetSummary(true, 42, 3) },
		"long identity":    func(c *Channel) { c.Set(ChannelData{ConversationID: strings.Repeat("z", 50)}) },
		"fill identity":    func(c *Channel) { c.fillIdentity("a", "b", vcc.Party{Role: "odd", AgentID: strings.Repeat("9", 20)}) },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			s := New()
			d := ChannelData{ConversationID: strings.Repeat("c", 40), Events: []Ref{ref("o1", 1), {Source: "/odd", ID: "o2", Type: "t", At: 2}},
				Published: []Published{{Open: 1, Revision: 1}, {Open: 2, Revision: 2, Retracted: true}}}
			put(s, "a", d)
			s.Commit()
			committed := snapshot(s)
			for epoch := range 3 {
				change(s.Edit("a"))
				change(s.Edit("a"))
				if epoch == 1 {
					s.Commit()
					committed = snapshot(s)
					continue
				}
				s.Rollback()
				if got := snapshot(s); !reflect.DeepEqual(got, committed) {
					t.Fatalf("epoch %d: after Rollback\n got %+v\nwant %+v", epoch, got, committed)
				}
			}
		})
	}
}

// TestCommittedIgnoresTheEpoch: Committed and CommittedStreamTime see the
// state of the last commit, not the changes since.
func TestCommittedIgnoresTheEpoch(t *testing.T) {
	s := New()
	c := s.Edit("a")
	c.LastEventAt = 5
	s.AdvanceStreamTime(10)
	if s.Committed("a") != nil || s.CommittedStreamTime() != 0 {
		t.Fatal("an uncommitted channel or clock is visible")
	}
	s.Commit()
	s.Edit("a").LastEventAt = 7
	s.Edit("b")
	s.AdvanceStreamTime(20)
	if got := s.Committed("a"); got == nil || got.LastEventAt != 5 {
		t.Fatalf("committed a = %+v, want LastEventAt 5", got)
	}
	if s.Committed("b") != nil || s.CommittedStreamTime() != 10 {
		t.Fatal("the epoch's channel or clock is visible")
	}
	s.Delete("a")
	if got := s.Committed("a"); got == nil || got.LastEventAt != 5 {
		t.Fatal("a channel deleted in the epoch is gone from the committed view")
	}
	s.Commit()
	if s.Committed("a") != nil || s.Committed("b") == nil || s.CommittedStreamTime() != 20 {
		t.Fatal("after commit the view does not follow")
	}
}
