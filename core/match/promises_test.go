package match

import (
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/state"
)

// records runs events in order through a fresh engine and store, as the
// runtime does (each event committed), and returns every record emitted
// and the summed housekeeping.
func records(t *testing.T, cfg EngineConfig, events []Event) ([]Interruption, Housekeeping) {
	t.Helper()
	e := newTestEngine(cfg)
	s := state.New()
	var out []Interruption
	var hk Housekeeping
	for i := range events {
		d, h := e.Process(s, &events[i], func(in Interruption) { out = append(out, in) })
		if d != Processed {
			t.Fatalf("event %s: %v, want processed", events[i].ID, d)
		}
		s.Commit()
		hk.Add(h)
	}
	return out, hk
}

// sameRecords fails unless got and want are equal field by field.
func sameRecords(t *testing.T, what string, got, want []Interruption) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", what, dump(got), dump(want))
	}
}

func dump(ins []Interruption) string {
	s := ""
	for _, in := range ins {
		by := "<nil>"
		if in.ClosedBy != nil {
			by = fmt.Sprintf("%+v", *in.ClosedBy)
		}
		s += fmt.Sprintf("\n  %+v ClosedBy=%s (%s..%s)", in, by, utcNanos(in.InterruptedAt), utcNanos(in.ClosedAt))
	}
	return s
}

func utcNanos(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// TestIdentityFromFirstEvent: a channel whose events disagree on
// conversationId, interactionId and party (every field of it) publishes
// every record with the identity of its first event, not of the event that
// arrived last. The events arrive in timeline order, so the first to
// arrive is also the earliest on the timeline. The records are compared
// whole; the identity of the later events is never the expected one, so a
// record that took any part of it fails.
func TestIdentityFromFirstEvent(t *testing.T) {
	const src = "/channel"
	identities := []struct {
		conv, inter string
		party       vcc.Party
	}{
		{"conv-first", "inter-first", vcc.Party{Role: "agent", AgentID: "1544", UserID: "user-first"}},
		{"conv-second", "inter-second", vcc.Party{Role: "external", AgentID: "", UserID: "user-second"}},
		{"conv-third", "inter-third", vcc.Party{Role: "monitor", AgentID: "7000", UserID: "user-third"}},
		// Only the party's user differs: the party is kept whole, not
		// mended field by field.
		{"conv-first", "inter-first", vcc.Party{Role: "agent", AgentID: "1544", UserID: "user-fourth"}},
	}
	events := []Event{ev("i", "i1", "10:00"), ev("r", "r2", "10:05"), ev("i", "i3", "10:10"), ev("e", "e4", "10:20")}
	for i := range events {
		events[i].ConversationID, events[i].InteractionID, events[i].Party = identities[i].conv, identities[i].inter, identities[i].party
		events[i].Offset, events[i].HasOffset = int64(100+i), true
	}
	ref := func(i int) state.Ref {
		e := events[i]
		return state.Ref{Source: src, ID: e.ID, Type: e.Type, At: at([]string{"10:00", "10:05", "10:10", "10:20"}[i]),
			Offset: int64(100 + i), HasOffset: true}
	}
	first := identities[0]
	want := []Interruption{{
		ChannelID: chA, ConversationID: first.conv, InteractionID: first.inter, Party: first.party,
		Outcome: OutcomeResumed, InterruptedAt: at("10:00"), ClosedAt: at("10:05"),
		OpenedBy: ref(0), ClosedBy: ptr(ref(1)), Revision: 1,
	}, {
		ChannelID: chA, ConversationID: first.conv, InteractionID: first.inter, Party: first.party,
		Outcome: OutcomeEnded, InterruptedAt: at("10:10"), ClosedAt: at("10:20"),
		OpenedBy: ref(2), ClosedBy: ptr(ref(3)), Revision: 1,
	}}
	got, _ := records(t, day, events)
	sameRecords(t, "records", got, want)

	// Each field alone: the later events change only it.
	for _, field := range []string{"conversationId", "interactionId", "party"} {
		t.Run(field, func(t *testing.T) {
			evs := []Event{ev("i", "i1", "10:00"), ev("r", "r2", "10:05")}
			later := evs[0]
			switch field {
			case "conversationId":
				later.ConversationID = "conv-later"
			case "interactionId":
				later.InteractionID = "inter-later"
			case "party":
				later.Party = vcc.Party{Role: "external", UserID: "user-later"}
			}
			evs[1].ConversationID, evs[1].InteractionID, evs[1].Party = later.ConversationID, later.InteractionID, later.Party
			got, _ := records(t, day, evs)
			first := evs[0]
			want := []Interruption{{
				ChannelID: chA, ConversationID: first.ConversationID, InteractionID: first.InteractionID, Party: first.Party,
				Outcome: OutcomeResumed, InterruptedAt: at("10:00"), ClosedAt: at("10:05"),
				OpenedBy: first.Ref(), ClosedBy: ptr(evs[1].Ref()), Revision: 1,
			}}
			sameRecords(t, "records", got, want)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestTruncMillisFloorsBefore1970: event times are truncated to the
// millisecond toward the past, also before 1970, where truncating toward
// zero would move them forward in time.
func TestTruncMillisFloorsBefore1970(t *testing.T) {
	for _, tc := range []struct{ ns, want int64 }{
		{0, 0},
		{1, 0},
		{999_999, 0},
		{1_000_000, 1_000_000},
		{1_234_567, 1_000_000},
		{-1, -1_000_000},
		{-999_999, -1_000_000},
		{-1_000_000, -1_000_000},
		{-1_000_001, -2_000_000},
		{-1_500_000, -2_000_000},
		// 1969-07-20T20:17:39.9995Z
		{time.Date(1969, 7, 20, 20, 17, 39, 999_500_000, time.UTC).UnixNano(), time.Date(1969, 7, 20, 20, 17, 39, 999_000_000, time.UTC).UnixNano()},
		{math.MaxInt64, math.MaxInt64 / 1_000_000 * 1_000_000},
	} {
		if got := truncMillis(tc.ns); got != tc.want {
			t.Errorf("truncMillis(%d) = %d, want %d", tc.ns, got, tc.want)
		}
	}
	// The smallest times have no whole millisecond at or before them: the
	// result stays negative (no wrap to a time after 1970), within a
	// millisecond.
	for _, ns := range []int64{math.MinInt64, math.MinInt64 + 1, math.MinInt64 + 999_999} {
		if got := truncMillis(ns); got >= 0 || got-ns >= 1_000_000 || got%1_000_000 != 0 {
			t.Errorf("truncMillis(%d) = %d: not the millisecond nearest above", ns, got)
		}
	}
}

// TestPre1970EventsTruncatedTowardThePast: a channel before 1970 gives the
// records the same channel gives after 1970, shifted by a whole number of
// milliseconds: the engine keeps event times at millisecond precision, and
// truncating toward the past is the same rule on both sides of 1970. The
// expected records are also written out.
func TestPre1970EventsTruncatedTowardThePast(t *testing.T) {
	const shift = int64(20_000 * 24 * time.Hour) // 20,000 days: from 1969 to 2024
	mk := func(kind, id string, ns int64) Event {
		e := ev(kind, id, "10:00")
		e.Timestamp = ns
		return e
	}
	for _, tc := range []struct {
		name   string
		events []Event
		want   func(events []Event) []Interruption
		hk     Housekeeping
	}{{
		// Sub-millisecond parts before 1970: 20:17:39.9995 is
		// 20:17:39.999, 20:18:39.00025 is 20:18:39.000. On the last
		// day before 1970: a fresh store's clock is 0 (1970-01-01)
		// and pre-1970 events never move it, so an interruption that
		// began more than max-interruption before 1970 expires at once.
		name: "record times",
		events: []Event{
			mk("i", "i1", time.Date(1969, 12, 31, 20, 17, 39, 999_500_000, time.UTC).UnixNano()),
			mk("r", "r1", time.Date(1969, 12, 31, 20, 18, 39, 250_000, time.UTC).UnixNano()),
		},
		want: func(evs []Event) []Interruption {
			i1, r1 := evs[0].Ref(), evs[1].Ref()
			i1.At = time.Date(1969, 12, 31, 20, 17, 39, 999_000_000, time.UTC).UnixNano()
			r1.At = time.Date(1969, 12, 31, 20, 18, 39, 0, time.UTC).UnixNano()
			return []Interruption{{ChannelID: chA, ConversationID: evs[0].ConversationID, InteractionID: evs[0].InteractionID,
				Party: evs[0].Party, Outcome: OutcomeResumed, InterruptedAt: i1.At, ClosedAt: r1.At,
				OpenedBy: i1, ClosedBy: &r1, Revision: 1}}
		},
	}, {
		// i2 at 23:59:59.999 exactly and r1 at 23:59:59.9996 are one
		// instant: r1 closes i1 there and i2 opens the next
		// interruption, which r2 closes (as TestSameInstantTies'
		// "sub-millisecond times are one instant"). Were r1 moved to
		// 00:00:00.000, i2 would be an interrupted while interrupted and
		// r2 a resumed without interruption.
		name: "one millisecond before 1970",
		events: []Event{
			mk("i", "i1", -2_000_000_000),
			mk("i", "i2", -1_000_000),
			mk("r", "r1", -400_000),
			mk("r", "r2", 1_000_000_000),
		},
		want: func(evs []Event) []Interruption {
			i1, i2, r1, r2 := evs[0].Ref(), evs[1].Ref(), evs[2].Ref(), evs[3].Ref()
			r1.At = -1_000_000
			id := func(in Interruption) Interruption {
				in.ChannelID, in.ConversationID, in.InteractionID, in.Party, in.Revision = chA, evs[0].ConversationID, evs[0].InteractionID, evs[0].Party, 1
				return in
			}
			return []Interruption{
				id(Interruption{Outcome: OutcomeResumed, InterruptedAt: -2_000_000_000, ClosedAt: -1_000_000, OpenedBy: i1, ClosedBy: &r1}),
				id(Interruption{Outcome: OutcomeResumed, InterruptedAt: -1_000_000, ClosedAt: 1_000_000_000, OpenedBy: i2, ClosedBy: &r2}),
			}
		},
		// i2 arrives while i1 is open.
		hk: Housekeeping{InterruptedWhileInterrupted: 1},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, hk := records(t, day, tc.events)
			sameRecords(t, "records", got, tc.want(tc.events))
			if hk != tc.hk {
				t.Errorf("housekeeping %+v, want %+v", hk, tc.hk)
			}

			// The same channel after 1970.
			later := append([]Event(nil), tc.events...)
			for i := range later {
				later[i].Timestamp += shift
			}
			after, _ := records(t, day, later)
			if len(after) != len(got) {
				t.Fatalf("%d records after 1970, %d before", len(after), len(got))
			}
			for i := range after {
				in := after[i]
				in.InterruptedAt -= shift
				in.ClosedAt -= shift
				in.OpenedBy.At -= shift
				if in.ClosedBy != nil {
					in.ClosedBy = ptr(*in.ClosedBy)
					in.ClosedBy.At -= shift
				}
				after[i] = in
			}
			sameRecords(t, "records before 1970 against the same after 1970, shifted back", got, after)
		})
	}
}
