package match

import (
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/state"
)

// withIdentity returns e carrying conversation, interaction and party
// values all tagged tag.
func withIdentity(e Event, tag string) Event {
	e.ConversationID, e.InteractionID = "conv-"+tag, "inter-"+tag
	e.Party = vcc.Party{Role: "agent", AgentID: "agent-" + tag, UserID: "user-" + tag}
	return e
}

// processAll runs events in order through a fresh engine and store (each
// committed) and returns every record, the dispositions and housekeeping.
func processAll(cfg EngineConfig, events []Event) ([]Interruption, []Disposition, Housekeeping) {
	e := newTestEngine(cfg)
	s := state.New()
	var out []Interruption
	var disps []Disposition
	var hk Housekeeping
	for i := range events {
		x := events[i]
		d, h := e.Process(s, &x, func(in Interruption) { out = append(out, in) })
		s.Commit()
		disps = append(disps, d)
		hk.Add(h)
	}
	return out, disps, hk
}

// latestWhole returns the latest record of each interruption, whole
// (identity, times, closing event, outcome), with revision and arrival
// offsets cleared, sorted by opening event.
func latestWhole(records []Interruption) []Interruption {
	latest := map[string]Interruption{}
	for _, in := range records {
		k := in.ChannelID + "\x00" + in.OpenedBy.Source + "\x00" + in.OpenedBy.ID
		if old, ok := latest[k]; !ok || in.Revision > old.Revision {
			latest[k] = in
		}
	}
	var out []Interruption
	for _, in := range latest {
		in.Revision = 0
		in.OpenedBy.Offset, in.OpenedBy.HasOffset = 0, false
		if in.ClosedBy != nil {
			c := *in.ClosedBy
			c.Offset, c.HasOffset = 0, false
			in.ClosedBy = &c
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b Interruption) int {
		if a.OpenedBy.ID < b.OpenedBy.ID {
			return -1
		}
		if a.OpenedBy.ID > b.OpenedBy.ID {
			return 1
		}
		return 0
	})
	return out
}

// TestPartyFromEarliestEvent: the identity of a channel (party, and
// conversationId and interactionId) is that of the earliest event on its
// timeline that carries it, whatever the arrival order; when that event
// arrives after a record was published, the record is revised.
func TestPartyFromEarliestEvent(t *testing.T) {
	early := withIdentity(ev("i", "i1", "10:00"), "early")
	late := withIdentity(ev("r", "r2", "10:05"), "late")
	want := []Interruption{{
		ChannelID: chA, ConversationID: "conv-early", InteractionID: "inter-early",
		Party:   vcc.Party{Role: "agent", AgentID: "agent-early", UserID: "user-early"},
		Outcome: OutcomeResumed, InterruptedAt: at("10:00"), ClosedAt: at("10:05"),
		OpenedBy: state.Ref{Source: "/channel", ID: "i1", Type: "channel.interrupted.v0", At: at("10:00")},
		ClosedBy: &state.Ref{Source: "/channel", ID: "r2", Type: "channel.resumed.v0", At: at("10:05")},
	}}
	for _, order := range [][]Event{{early, late}, {late, early}} {
		got, _, _ := processAll(day, order)
		sameRecords(t, "latest records of "+ids(order), latestWhole(got), want)
	}

	// Only the party differs; the earliest carrier arrives last, after the
	// record was published: a revision with its party, the ids unchanged.
	i3 := withIdentity(ev("i", "i3", "10:10"), "x")
	r4 := withIdentity(ev("r", "r4", "10:15"), "x")
	r0 := withIdentity(ev("r", "r0", "09:00"), "x") // resume without interruption
	r0.Party = vcc.Party{Role: "supervisor", UserID: "user-first"}
	got, disps, hk := processAll(day, []Event{i3, r4, r0})
	if !slices.Equal(disps, []Disposition{Processed, Processed, Processed}) {
		t.Fatalf("dispositions %v", disps)
	}
	if len(got) != 2 || got[1].Revision != 2 || got[1].Party != r0.Party || got[0].Party != i3.Party ||
		got[1].ConversationID != "conv-x" || got[1].InterruptedAt != at("10:10") || hk.Corrections != 1 {
		t.Fatalf("records %s\nhousekeeping %+v: want revision 1 with party %+v, then revision 2 with party %+v",
			dump(got), hk, i3.Party, r0.Party)
	}
}

// TestConflictingDuplicateOrderFree: two copies of one (source, id) with
// different data.timestamp: the copy with the earliest timestamp is on the
// timeline, in every arrival order, and the other is counted as a
// conflicting duplicate. The final tables are equal whole.
func TestConflictingDuplicateOrderFree(t *testing.T) {
	a := withIdentity(ev("i", "i1", "10:00"), "a")
	b := withIdentity(ev("i", "i1", "10:03"), "a")
	r := withIdentity(ev("r", "r2", "10:10"), "a")
	want := []Interruption{{
		ChannelID: chA, ConversationID: "conv-a", InteractionID: "inter-a",
		Party:   vcc.Party{Role: "agent", AgentID: "agent-a", UserID: "user-a"},
		Outcome: OutcomeResumed, InterruptedAt: at("10:00"), ClosedAt: at("10:10"),
		OpenedBy: state.Ref{Source: "/channel", ID: "i1", Type: "channel.interrupted.v0", At: at("10:00")},
		ClosedBy: &state.Ref{Source: "/channel", ID: "r2", Type: "channel.resumed.v0", At: at("10:10")},
	}}
	for _, perm := range permutations([]Event{a, b, r}) {
		got, disps, _ := processAll(day, perm)
		sameRecords(t, "final table of "+describe(perm), latestWhole(got), want)
		n := 0
		for _, d := range disps {
			if d == ConflictingDuplicate {
				n++
			}
		}
		if n != 1 {
			t.Errorf("arrival %s: dispositions %v, want one %v", describe(perm), disps, ConflictingDuplicate)
		}
	}
	if got := ConflictingDuplicate.String(); got != "conflicting-duplicate" {
		t.Errorf("String() = %q", got)
	}
}

// TestLateWinningCopyPublishesCorrection: the winning copy of an opening
// event arrives after its interruption was published from the other copy:
// the event moves to its winning time and the record is revised.
func TestLateWinningCopyPublishesCorrection(t *testing.T) {
	b := ev("i", "i1", "10:03")
	r := ev("r", "r2", "10:10")
	a := ev("i", "i1", "10:00")
	got, disps, hk := processAll(day, []Event{b, r, a})
	want := fmt.Sprint([]string{"i1 resumed 10:03-10:10 r2 #1", "i1 resumed 10:00-10:10 r2 #2"})
	var rows []string
	for _, in := range got {
		rows = append(rows, row(in))
	}
	if fmt.Sprint(rows) != want || disps[2] != ConflictingDuplicate || hk.Corrections != 1 {
		t.Fatalf("records %q, dispositions %v, housekeeping %+v; want %s, the last a %v, one correction",
			rows, disps, hk, want, ConflictingDuplicate)
	}
	if got[1].OpenedBy.At != at("10:00") {
		t.Errorf("revision's opening event at %s, want 10:00", hm(got[1].OpenedBy.At))
	}
}

// v3ChannelA is channel ch-a's changelog value as the encoder before
// carriers (version 3) wrote it, generated with that code from r2 (resumed
// 10:05, identity "late") then i1 (interrupted 10:00, identity "early"):
// the identity of the first to arrive ("late"), and i1's interruption
// published as revision 1 with that code's fingerprint.
const v3ChannelA = "0309636f6e762d6c6174650a696e7465722d6c617465056167656e740a6167656e742d6c61746509757365722d6c61746580e0" +
	"87bdfee9e68731000002082f6368616e6e656c026931166368616e6e656c2e696e7465727275707465642e76308080e2a6c3d8e6873100" +
	"082f6368616e6e656c027232126368616e6e656c2e726573756d65642e763080e087bdfee9e68731000195f49459757d75ccf581221de9" +
	"e0c55d0100"

// TestRestoreVersion3Value: a store restored from a value the previous
// encoder wrote publishes nothing new for events that change nothing (its
// identity, set without carriers, is kept against an earlier event; its
// record's legacy fingerprint still matches), and revises the record when
// a conflicting copy moves its start, which the legacy fingerprint did not
// cover.
func TestRestoreVersion3Value(t *testing.T) {
	b, err := hex.DecodeString(v3ChannelA)
	if err != nil {
		t.Fatal(err)
	}
	l := state.NewLoader(1)
	if err := l.Load([]byte(chA), b); err != nil {
		t.Fatalf("Load: %v", err)
	}
	s := l.Store
	s.AdvanceStreamTime(at("10:05"))
	e := newTestEngine(day)
	e.Restored(s)
	var got []Interruption
	emit := func(in Interruption) { got = append(got, in) }
	for _, x := range []Event{withIdentity(ev("r", "r0", "09:00"), "early"), withIdentity(ev("r", "r3", "10:20"), "late")} {
		if d, _ := e.Process(s, &x, emit); d != Processed {
			t.Fatalf("%s: %v", x.ID, d)
		}
		s.Commit()
	}
	if len(got) != 0 {
		t.Fatalf("events that change no record published %s", dump(got))
	}
	x := withIdentity(ev("i", "i1", "09:55"), "early")
	if d, _ := e.Process(s, &x, emit); d != ConflictingDuplicate {
		t.Fatalf("copy of i1: %v", d)
	}
	if len(got) != 1 || row(got[0]) != "i1 resumed 09:55-10:05 r2 #2" || got[0].Party.UserID != "user-late" {
		t.Fatalf("after the earlier copy of i1: %s; want revision 2 from 09:55, identity late", dump(got))
	}
}

// TestLateCopyPastRetentionDeletesChannel: a later copy that changes the
// identity moves the clock past the channel's retention: its expired
// interruption is published with the new identity, and the channel is
// deleted in the same call (its schedule fires once the clock moved).
func TestLateCopyPastRetentionDeletesChannel(t *testing.T) {
	cfg := EngineConfig{MaxInterruption: 30 * time.Minute, Retention: time.Hour}
	first := ev("i", "i1", "10:00")
	first.Party = vcc.Party{}
	later := withIdentity(ev("i", "i1", "12:00"), "b")
	e, s := newTestEngine(cfg), state.New()
	var got []Interruption
	emit := func(in Interruption) { got = append(got, in) }
	e.Process(s, &first, emit)
	s.Commit()
	d, hk := e.Process(s, &later, emit)
	s.Commit()
	if d != ConflictingDuplicate || hk.Deleted != 1 || !buried(s, chA) || s.NextDue(math.MaxInt64) != chA {
		t.Fatalf("later copy: %v, housekeeping %+v, channel kept: %v", d, hk, !buried(s, chA))
	}
	if len(got) != 1 || row(got[0]) != "i1 expired 10:00-10:30 - #1" || got[0].Party != later.Party {
		t.Fatalf("records %s; want i1 expired 10:00-10:30 with party %+v", dump(got), later.Party)
	}
}
