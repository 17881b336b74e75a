package match

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/state"
)

// Channels of the engine tests.
const (
	chA = "ch-a"
	chB = "ch-b"
)

// at returns a short or full test time in Unix nanoseconds.
var at = testkit.At

// hm formats a test time as the rows below write it: "10:05", or
// "10:05:00.001" when it has a fraction, or the full time on another day.
func hm(ns int64) string {
	s := testkit.Millis(ns)
	if !strings.HasPrefix(s, testkit.Day) {
		return s
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, testkit.Day), "Z")
	return strings.TrimSuffix(strings.TrimSuffix(s, ".000"), ":00")
}

// ev returns a decoded event on channel ch. kind is i (interrupted), r
// (resumed), e (ended), d (disconnected) or x (an ignored type).
func evOn(ch, kind, id, ts string) Event {
	types := map[string]string{"i": "channel.interrupted.v0", "r": "channel.resumed.v0", "e": "channel.ended.v0",
		"d": "channel.disconnected.v0", "x": "channel.held.v0"}
	kinds := map[string]vcc.Kind{"i": vcc.Interrupted, "r": vcc.Resumed, "e": vcc.Ended, "d": vcc.Ended, "x": vcc.Ignored}
	e := Event{ID: id, Source: "/channel", Type: types[kind], Kind: kinds[kind], Subject: ch,
		Timestamp: at(ts), HasTimestamp: true, ChannelID: ch}
	if e.Kind != vcc.Ignored {
		e.ConversationID, e.InteractionID = "conv-"+ch, "inter-"+ch
		e.Party = vcc.Party{Role: "agent", AgentID: "1544", UserID: "user-" + ch}
	}
	return e
}

func ev(kind, id, ts string) Event { return evOn(chA, kind, id, ts) }

// row is a record as the tests write it: "i1 resumed 10:00-10:05 r2 #1"
// (opening id, outcome, interruptedAt-closedAt, closing id or -, revision),
// or "i1 retracted after-end #2".
func row(in Interruption) string {
	if in.Retracted {
		return fmt.Sprintf("%s retracted %s #%d", in.OpenedBy.ID, in.Reason, in.Revision)
	}
	by := "-"
	if in.ClosedBy != nil {
		by = in.ClosedBy.ID
	}
	s := fmt.Sprintf("%s %s %s-%s %s #%d", in.OpenedBy.ID, in.Outcome, hm(in.InterruptedAt), hm(in.ClosedAt), by, in.Revision)
	if in.ChannelID != chA {
		s = in.ChannelID + ":" + s
	}
	return s
}

// run processes events in order on a fresh store and returns every record
// emitted, the dispositions and the summed housekeeping.
func run(t *testing.T, cfg EngineConfig, events ...Event) (records []string, disps []Disposition, hk Housekeeping, s *state.Store) {
	t.Helper()
	e := newTestEngine(cfg)
	s = state.New()
	for i := range events {
		d, h := e.Process(s, &events[i], func(in Interruption) {
			checkRecord(t, cfg, in)
			records = append(records, row(in))
		})
		s.Commit()
		disps = append(disps, d)
		hk.Add(h)
	}
	return records, disps, hk, s
}

// checkRecord asserts what every record must satisfy.
func checkRecord(t *testing.T, cfg EngineConfig, in Interruption) {
	t.Helper()
	if in.Revision < 1 {
		t.Errorf("record %s: revision %d", row(in), in.Revision)
	}
	if in.Retracted {
		if in.Reason != ReasonAfterEnd && in.Reason != ReasonInterruptedWhileInterrupted && in.Reason != ReasonReopened {
			t.Errorf("retraction %s: reason %q", row(in), in.Reason)
		}
		return
	}
	d := in.ClosedAt - in.InterruptedAt
	if d < 0 || d > int64(cfg.MaxInterruption) {
		t.Errorf("record %s lasts %v: outside [0, %v]", row(in), time.Duration(d), cfg.MaxInterruption)
	}
	if (in.Outcome == OutcomeExpired) != (in.ClosedBy == nil) {
		t.Errorf("record %s: outcome %v with ClosedBy %v", row(in), in.Outcome, in.ClosedBy)
	}
	if in.Outcome == OutcomeExpired && d != int64(cfg.MaxInterruption) {
		t.Errorf("expired record %s: duration %v, want %v", row(in), time.Duration(d), cfg.MaxInterruption)
	}
}

// final returns the final table of records: the latest revision of each
// interruption, retractions dropped, sorted.
func final(records []Interruption) []string { return finalBy(records, row) }

// finalBy is final with each record written by rowOf.
func finalBy(records []Interruption, rowOf func(Interruption) string) []string {
	latest := map[string]Interruption{}
	for _, in := range records {
		k := in.ChannelID + "\x00" + in.OpenedBy.Source + "\x00" + in.OpenedBy.ID
		if old, ok := latest[k]; !ok || in.Revision > old.Revision {
			latest[k] = in
		}
	}
	var out []string
	for _, in := range latest {
		if !in.Retracted {
			in.Revision = 0 // revisions depend on arrival order; content does not
			out = append(out, rowOf(in))
		}
	}
	slices.Sort(out)
	return out
}

// finalOf processes events in order and returns the final table.
func finalOf(cfg EngineConfig, events []Event) []string {
	all, _, _ := processAll(cfg, events)
	return final(all)
}

var day = EngineConfig{MaxInterruption: 24 * time.Hour, Retention: 48 * time.Hour}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// TestIssueArrivalFamily is the issue's i1 r4 i3 r2 case: interrupted and
// resumed at 10:00, 10:15, 10:10 and 10:05 arriving as i1 r4 i3 r2. The
// truth is two interruptions of 5 minutes, whatever the arrival order.
func TestIssueArrivalFamily(t *testing.T) {
	i1, r2, i3, r4 := ev("i", "i1", "10:00"), ev("r", "r2", "10:05"), ev("i", "i3", "10:10"), ev("r", "r4", "10:15")
	records, _, hk, _ := run(t, day, i1, r4, i3, r2)
	equal(t, "records", records, []string{
		"i1 resumed 10:00-10:15 r4 #1",
		"i1 resumed 10:00-10:05 r2 #2",
		"i3 resumed 10:10-10:15 r4 #1",
	})
	if hk.Corrections != 1 || hk.Retractions != 0 {
		t.Errorf("housekeeping %+v: want 1 correction", hk)
	}
	want := []string{"i1 resumed 10:00-10:05 r2 #0", "i3 resumed 10:10-10:15 r4 #0"}
	for _, perm := range permutations([]Event{i1, r2, i3, r4}) {
		equal(t, "final table of "+ids(perm), finalOf(day, perm), want)
	}
}

// TestInterruptedInterruptedEnded: the second interrupted is inside the
// first interruption; the end closes it. No expired record after the end.
func TestInterruptedInterruptedEnded(t *testing.T) {
	records, _, hk, _ := run(t, day, ev("i", "i1", "10:00"), ev("i", "i2", "10:02"), ev("e", "e1", "10:10"),
		ev("x", "tick", "2026-01-07T10:00:00Z"), ev("i", "late", "2026-01-07T10:00:00Z"))
	equal(t, "records", records, []string{"i1 ended 10:00-10:10 e1 #1"})
	if hk.InterruptedWhileInterrupted != 1 {
		t.Errorf("interrupted-while-interrupted %d, want 1", hk.InterruptedWhileInterrupted)
	}
}

// TestInterruptedInterruptedResumed: 3 minutes... no: one interruption from
// the first interrupted to the resume, 5 minutes, and no expired record.
func TestInterruptedInterruptedResumed(t *testing.T) {
	events := []Event{ev("i", "i1", "10:00"), ev("i", "i2", "10:02"), ev("r", "r1", "10:05"),
		evOn(chB, "i", "later", "2026-01-07T10:00:00Z")}
	records, _, _, _ := run(t, day, events...)
	equal(t, "records", records, []string{"i1 resumed 10:00-10:05 r1 #1"})
	for _, perm := range permutations(events[:3]) {
		equal(t, "final table of "+ids(perm), finalOf(day, perm), []string{"i1 resumed 10:00-10:05 r1 #0"})
	}
}

// TestLateResumedAfterExpiry: a resumed arriving after its interruption was
// published as expired revises it.
func TestLateResumedAfterExpiry(t *testing.T) {
	cfg := EngineConfig{MaxInterruption: time.Hour, Retention: 2 * time.Hour}
	records, _, hk, _ := run(t, cfg, ev("i", "i1", "10:00"), evOn(chB, "x", "t", "11:30"), evOn(chB, "i", "b1", "11:30"),
		ev("r", "r1", "10:20"))
	equal(t, "records", records, []string{"i1 expired 10:00-11:00 - #1", "i1 resumed 10:00-10:20 r1 #2"})
	if hk.Corrections != 1 || hk.Expired != 1 {
		t.Errorf("housekeeping %+v: want 1 expired, 1 correction", hk)
	}
	// A resumed after the bound does not revise it.
	records, _, hk, _ = run(t, cfg, ev("i", "i1", "10:00"), evOn(chB, "i", "b1", "11:30"), ev("r", "r1", "11:10"))
	equal(t, "records", records, []string{"i1 expired 10:00-11:00 - #1"})
	if hk.ResumeWithoutInterruption != 1 {
		t.Errorf("resume-without-interruption %d, want 1", hk.ResumeWithoutInterruption)
	}
}

// TestExpiryBoundIsInclusive: a close exactly at interruptedAt +
// max-interruption closes the interruption; one a millisecond later does
// not, and the interruption expires at the bound.
func TestExpiryBoundIsInclusive(t *testing.T) {
	cfg := EngineConfig{MaxInterruption: time.Hour, Retention: 2 * time.Hour}
	records, _, _, _ := run(t, cfg, ev("i", "i1", "10:00"), ev("r", "r1", "11:00"))
	equal(t, "at the bound", records, []string{"i1 resumed 10:00-11:00 r1 #1"})
	records, _, _, _ = run(t, cfg, ev("i", "i1", "10:00"), ev("r", "r1", "11:00:00.001"))
	equal(t, "after the bound", records, []string{"i1 expired 10:00-11:00 - #1"})
	// Published only once the clock passes the bound.
	records, _, _, _ = run(t, cfg, ev("i", "i1", "10:00"), evOn(chB, "i", "b", "11:00"))
	equal(t, "clock at the bound", records, nil)
}

// TestSameInstantTies: two closes and a late interrupted in one
// millisecond; zero-length and back-to-back interruptions.
func TestSameInstantTies(t *testing.T) {
	tests := []struct {
		name   string
		events []Event
		want   []string
	}{
		{"two closes and a late interrupted", []Event{ev("i", "i1", "10:00"), ev("e", "e1", "10:05"), ev("r", "r1", "10:05"), ev("i", "i2", "10:05")},
			[]string{"i1 resumed 10:00-10:05 r1 #0", "i2 ended 10:05-10:05 e1 #0"}},
		{"zero-length", []Event{ev("r", "r1", "10:00"), ev("i", "i1", "10:00")},
			[]string{"i1 resumed 10:00-10:00 r1 #0"}},
		{"zero-length ended", []Event{ev("d", "d1", "10:00"), ev("i", "i1", "10:00")},
			[]string{"i1 ended 10:00-10:00 d1 #0"}},
		{"back-to-back", []Event{ev("i", "i1", "10:00"), ev("i", "i2", "10:05"), ev("r", "r1", "10:05"), ev("r", "r2", "10:07")},
			[]string{"i1 resumed 10:00-10:05 r1 #0", "i2 resumed 10:05-10:07 r2 #0"}},
		{"sub-millisecond times are one instant", []Event{ev("i", "i1", "10:00"), ev("i", "i2", "10:05:00.0009"), ev("r", "r1", "10:05:00.0001")},
			[]string{"i1 resumed 10:00-10:05 r1 #0"}},
		{"two resumes: the first by id closes", []Event{ev("i", "i1", "10:00"), ev("r", "rb", "10:05"), ev("r", "ra", "10:05")},
			[]string{"i1 resumed 10:00-10:05 ra #0"}},
		{"resumed before ended", []Event{ev("i", "i1", "10:00"), ev("e", "a", "10:05"), ev("r", "z", "10:05")},
			[]string{"i1 resumed 10:00-10:05 z #0"}},
		{"interrupted after the end at one instant", []Event{ev("e", "e1", "10:00"), ev("i", "i1", "10:00"), ev("i", "i2", "10:00")},
			[]string{"i1 ended 10:00-10:00 e1 #0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, perm := range permutations(tt.events) {
				equal(t, "final table of "+ids(perm), finalOf(day, perm), tt.want)
			}
		})
	}
}

// TestLateEventsRetract: a late earlier interrupted takes over a published
// interruption, a late earlier end cancels one; an event that then closes
// the earlier one brings the retracted one back as a new revision.
func TestLateEventsRetract(t *testing.T) {
	records, _, hk, _ := run(t, day, ev("i", "i2", "10:05"), ev("r", "r1", "10:10"), ev("i", "i1", "10:00"), ev("r", "r0", "10:02"))
	equal(t, "earlier interrupted", records, []string{
		"i2 resumed 10:05-10:10 r1 #1",
		"i2 retracted interrupted-while-interrupted #2",
		"i1 resumed 10:00-10:10 r1 #1",
		"i1 resumed 10:00-10:02 r0 #2",
		"i2 resumed 10:05-10:10 r1 #3",
	})
	if hk.Retractions != 1 || hk.Corrections != 2 {
		t.Errorf("housekeeping %+v: want 1 retraction, 2 corrections", hk)
	}
	records, _, _, _ = run(t, day, ev("i", "i1", "10:05"), ev("r", "r1", "10:10"), ev("e", "e0", "10:00"))
	equal(t, "earlier end", records, []string{"i1 resumed 10:05-10:10 r1 #1", "i1 retracted after-end #2"})
	// An earlier interruption takes the close: the later one is open again.
	records, _, _, _ = run(t, day, ev("i", "i2", "10:05"), ev("r", "r1", "10:05"), ev("i", "i1", "10:00"))
	equal(t, "reopened", records, []string{"i2 resumed 10:05-10:05 r1 #1", "i2 retracted reopened #2", "i1 resumed 10:00-10:05 r1 #1"})
}

// TestGrace: with a grace period a closed interruption waits until the
// clock reaches its close plus grace; a late change within it publishes
// one record, not a correction.
func TestGrace(t *testing.T) {
	cfg := EngineConfig{MaxInterruption: time.Hour, Retention: 2 * time.Hour, Grace: time.Minute}
	records, _, hk, s := run(t, cfg, ev("i", "i1", "10:00"), ev("r", "r2", "10:05"), ev("r", "r1", "10:04:30"))
	equal(t, "within grace", records, nil)
	if st := s.Stats(); st.Held != 1 {
		t.Errorf("held %d, want 1", st.Held)
	}
	records, _, hk, _ = run(t, cfg, ev("i", "i1", "10:00"), ev("r", "r2", "10:05"), ev("r", "r1", "10:04:30"), evOn(chB, "i", "b", "10:05:30"))
	equal(t, "grace reached", records, []string{"i1 resumed 10:00-10:04:30 r1 #1"})
	if hk.Corrections != 0 {
		t.Errorf("corrections %d, want 0", hk.Corrections)
	}
	// Expired: published once the clock is past the bound and bound+grace.
	records, _, _, s = run(t, cfg, ev("i", "i1", "10:00"), evOn(chB, "i", "b", "11:00:59.999"))
	equal(t, "expired within grace", records, nil)
	// Past its bound, i1 is no longer open but held for grace: its
	// channel was woken at the bound to say so (metrics and the state
	// API's open-interruptions index read the summary).
	if st := s.Stats(); st.Open != 1 || st.Held != 1 || st.OldestOpen != at("11:00:59.999") {
		t.Errorf("expired within grace: %d open (oldest %s), %d held; want b open, i1 held", st.Open, hm(st.OldestOpen), st.Held)
	}
	records, _, _, s = run(t, cfg, ev("i", "i1", "10:00"), evOn(chB, "i", "b", "10:59:59.999"))
	equal(t, "open at its bound", records, nil)
	if st := s.Stats(); st.Open != 2 || st.Held != 0 {
		t.Errorf("at the bound: %d open, %d held; want both open", st.Open, st.Held)
	}
	records, _, _, _ = run(t, cfg, ev("i", "i1", "10:00"), evOn(chB, "i", "b", "11:01"))
	equal(t, "expired after grace", records, []string{"i1 expired 10:00-11:00 - #1"})
}

// TestTooLateAndClock: an event older than clock - retention is too late
// and changes nothing; only placed events move the clock.
func TestTooLateAndClock(t *testing.T) {
	cfg := EngineConfig{MaxInterruption: time.Hour, Retention: 2 * time.Hour}
	_, disps, _, s := run(t, cfg, ev("i", "i1", "12:00"), ev("i", "old", "09:59:59.999"), ev("r", "ok", "10:00"),
		ev("x", "ignored", "23:00"))
	if want := []Disposition{Processed, TooLate, Processed, Ignored}; !slices.Equal(disps, want) {
		t.Errorf("dispositions %v, want %v", disps, want)
	}
	if got := s.StreamTime(); got != at("12:00") {
		t.Errorf("clock %s, want 12:00 (ignored events do not move it)", hm(got))
	}
	if c := s.Get(chA); c == nil || c.FindEvent("/channel", "old") >= 0 {
		t.Errorf("too-late event placed on the timeline")
	}
}

// TestRetentionCloseToMaxInterruption: with retention equal to
// max-interruption, an expired interruption is published before its
// channel is deleted, a late close within retention still revises it, and
// a duplicate after deletion is too late, never a second answer.
func TestRetentionCloseToMaxInterruption(t *testing.T) {
	cfg := EngineConfig{MaxInterruption: time.Hour, Retention: time.Hour}
	records, disps, hk, s := run(t, cfg,
		ev("i", "i1", "10:00"),
		evOn(chB, "i", "b1", "11:00:00.001"), // clock past the bound: expired, published
		ev("r", "r1", "10:30"),               // still within retention: a correction
		evOn(chB, "i", "b2", "11:30:00.001"), // past channel a's retention (last event 10:30)
		ev("i", "i1", "10:00"),               // a duplicate after deletion
	)
	equal(t, "records", records, []string{"i1 expired 10:00-11:00 - #1", "i1 resumed 10:00-10:30 r1 #2"})
	if hk.Deleted != 1 || !buried(s, chA) {
		t.Errorf("deleted %d, channel %v: want channel a deleted (a tomb)", hk.Deleted, s.Get(chA))
	}
	if disps[4] != TooLate {
		t.Errorf("duplicate after deletion: %v, want too-late", disps[4])
	}
}

// TestDuplicates: a redelivered event is a duplicate and publishes nothing;
// the same id from another source is another event.
func TestDuplicates(t *testing.T) {
	i1 := ev("i", "i1", "10:00")
	other := i1
	other.Source = "/other"
	records, disps, _, _ := run(t, day, i1, ev("r", "r1", "10:05"), i1, other, ev("r", "r1", "10:05"))
	if want := []Disposition{Processed, Processed, Duplicate, Processed, Duplicate}; !slices.Equal(disps, want) {
		t.Errorf("dispositions %v, want %v", disps, want)
	}
	equal(t, "records", records, []string{"i1 resumed 10:00-10:05 r1 #1"})
}

// TestCounters: the effect of each placed event when it arrived.
func TestCounters(t *testing.T) {
	_, _, hk, _ := run(t, day, ev("r", "r0", "09:00"), ev("i", "i1", "10:00"), ev("i", "i2", "10:01"),
		ev("e", "e1", "10:02"), ev("i", "i3", "10:03"), ev("e", "e2", "10:04"))
	want := Housekeeping{InterruptedWhileInterrupted: 1, AfterEnd: 1, ResumeWithoutInterruption: 1}
	if hk != want {
		t.Errorf("housekeeping %+v, want %+v", hk, want)
	}
}

func permutations(events []Event) [][]Event {
	if len(events) <= 1 {
		return [][]Event{slices.Clone(events)}
	}
	var out [][]Event
	for i := range events {
		rest := slices.Concat(events[:i:i], events[i+1:])
		for _, p := range permutations(rest) {
			out = append(out, append([]Event{events[i]}, p...))
		}
	}
	return out
}

func ids(events []Event) string {
	var s []string
	for _, e := range events {
		s = append(s, e.ID)
	}
	return strings.Join(s, " ")
}

// TestRestoredPublishesOnNextCall: a store restored from its changelog
// encoding carries on as the original: what became due under new settings
// is published by the next call, not by Restored (whose records a runtime
// discards), and published revisions are not repeated.
func TestRestoredPublishesOnNextCall(t *testing.T) {
	slow := EngineConfig{MaxInterruption: time.Hour, Retention: 2 * time.Hour, Grace: 10 * time.Minute}
	e := newTestEngine(slow)
	s := state.New()
	var got []string
	emit := func(in Interruption) { got = append(got, row(in)) }
	for _, x := range []Event{ev("i", "i1", "10:00"), ev("r", "r1", "10:05"), ev("i", "i2", "10:06"), ev("r", "r2", "10:20")} {
		e.Process(s, &x, emit)
		s.Commit()
	}
	equal(t, "before restart", got, []string{"i1 resumed 10:00-10:05 r1 #1"})
	restored := state.New()
	s.Range(func(c *state.Channel) bool {
		d, err := state.DecodeChannel(state.AppendChannel(nil, c))
		if err != nil {
			t.Fatal(err)
		}
		restored.Restore(c.ID(), d)
		return true
	})
	restored.RestoreStreamTime(s.StreamTime())
	fast := newTestEngine(EngineConfig{MaxInterruption: time.Hour, Retention: 2 * time.Hour})
	got = nil
	fast.Restored(restored)
	// Restored publishes nothing: i2, held under the old grace, is due
	// but not published yet.
	if d := fast.Describe(restored.Get(chA), restored.StreamTime()).Derived; len(d) != 2 ||
		d[0].Status != StatusPublished || d[1].Status != StatusChanged || d[1].Revision != 0 {
		t.Fatalf("after Restored: %+v; want i1 published, i2 changed and unpublished", d)
	}
	x := evOn(chB, "x", "tick", "10:21")
	fast.Process(restored, &x, emit) // an ignored event: the clock stays, what is due is published
	equal(t, "after restart", got, []string{"i2 resumed 10:06-10:20 r2 #1"})
}
