package metrics

import (
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/testkit"
)

// TestPhaseRecordsCountedAtCommit (issue 25): phase records are counted
// by phase and outcome, a retraction as outcome retracted, only once the
// unit of work that produced them commits: nothing shows before the
// commit, and what an aborted unit produced is never counted, even by the
// commit after the abort. Every series of the phase table exists from the
// start at 0, and none for a combination the table cannot publish.
func TestPhaseRecordsCountedAtCommit(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	const name = "interruptions_phase_records_total"

	feed := func() {
		m.OnPhase(0, &match.Interruption{Phase: "alerting", Outcome: match.OutcomeConnected, Revision: 1})
		m.OnPhase(1, &match.Interruption{Phase: "alerting", Outcome: match.OutcomeConnected, Revision: 1})
		m.OnPhase(2, &match.Interruption{Phase: "alerting", Outcome: match.OutcomeFailed, Revision: 1})
		m.OnPhase(0, &match.Interruption{Phase: "connected", Outcome: match.OutcomeWrap, Revision: 2})
		m.OnPhase(17, &match.Interruption{Phase: "held", Retracted: true, Revision: 2})
		m.OnPhase(1, &match.Interruption{Phase: "wrap", Outcome: match.OutcomeExpired, Revision: 1})
		m.OnPhase(1, &match.Interruption{Phase: "interrupted", Outcome: match.OutcomeEnded, Revision: 1})
	}
	want := map[[2]string]float64{
		{"alerting", "connected"}: 2, {"alerting", "failed"}: 1, {"connected", "wrap"}: 1,
		{"held", "retracted"}: 1, {"wrap", "expired"}: 1, {"interrupted", "ended"}: 1,
	}
	check := func(when string, times float64) {
		t.Helper()
		for _, s := range []struct {
			phase    string
			outcomes []string
		}{
			{"alerting", []string{"connected", "failed", "ended", "disconnected", "expired", "retracted"}},
			{"connected", []string{"wrap", "ended", "disconnected", "expired", "retracted"}},
			{"held", []string{"retrieved", "ended", "disconnected", "expired", "retracted"}},
			{"parked", []string{"unparked", "ended", "disconnected", "expired", "retracted"}},
			{"interrupted", []string{"resumed", "ended", "expired", "retracted"}},
			{"wrap", []string{"ended", "expired", "retracted"}},
		} {
			for _, o := range s.outcomes {
				got, ok := value(t, reg, name, "phase", s.phase, "outcome", o)
				if w := times * want[[2]string{s.phase, o}]; !ok || got != w {
					t.Errorf("%s: %s{phase=%s,outcome=%s} = %v (exists %v), want %v", when, name, s.phase, o, got, ok, w)
				}
			}
		}
		for _, c := range [][2]string{{"wrap", "disconnected"}, {"interrupted", "disconnected"}, {"held", "connected"}} {
			if _, ok := value(t, reg, name, "phase", c[0], "outcome", c[1]); ok {
				t.Errorf("%s: a series %v the phase table cannot publish", when, c)
			}
		}
	}

	feed()
	check("before the commit", 0)
	m.OnCommit(7)
	check("after the commit", 1)

	feed()
	m.OnAbort(7)
	m.OnCommit(0) // the commit after the abort adds nothing
	check("after an abort", 1)

	feed()
	m.OnCommit(7)
	check("after a second commit", 2)
}

// TestPhaseDurationsObservedAtCommit (issue 25): phase_duration_seconds
// observes each committed phase record's durationMs in seconds, by phase
// and outcome, only once its unit of work commits; an aborted unit's
// records and retractions are never observed. Each series' sample count
// and sum are compared with the durations fed, computed here from the
// millisecond times.
func TestPhaseDurationsObservedAtCommit(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	const name = "interruptions_phase_duration_seconds"
	base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC).UnixNano()
	at := func(ms int64) int64 { return base + ms*int64(time.Millisecond) }
	type fed struct {
		phase   string
		outcome match.Outcome
		fromMs  int64 // startedAt, ms after base
		toMs    int64 // endedAt
		extraNs int64 // sub-millisecond part of endedAt, not in durationMs
		retract bool
	}
	feeds := []fed{
		{phase: "alerting", outcome: match.OutcomeConnected, fromMs: 0, toMs: 7_250},
		{phase: "alerting", outcome: match.OutcomeConnected, fromMs: 100, toMs: 400, extraNs: 999_999},
		{phase: "connected", outcome: match.OutcomeWrap, fromMs: 7_250, toMs: 367_250},
		{phase: "held", outcome: match.OutcomeRetrieved, fromMs: 10_000, toMs: 70_000},
		{phase: "held", outcome: match.OutcomeRetrieved, retract: true, fromMs: 10_000},
		{phase: "wrap", outcome: match.OutcomeExpired, fromMs: 0, toMs: 86_400_000},
	}
	feed := func() {
		for i, f := range feeds {
			in := match.Interruption{Phase: f.phase, Outcome: f.outcome, Revision: 1, Retracted: f.retract,
				InterruptedAt: at(f.fromMs), ClosedAt: at(f.toMs) + f.extraNs}
			m.OnPhase(int32(i), &in)
		}
	}
	type key struct {
		phase, outcome string
	}
	want := map[key][2]float64{} // sample count, sum in seconds, after one commit
	for _, f := range feeds {
		if f.retract {
			continue
		}
		k := key{f.phase, f.outcome.String()}
		w := want[k]
		want[k] = [2]float64{w[0] + 1, w[1] + float64(f.toMs-f.fromMs)/1000}
	}
	check := func(when string, times float64) {
		t.Helper()
		for _, k := range []key{{"alerting", "connected"}, {"alerting", "failed"}, {"connected", "wrap"},
			{"held", "retrieved"}, {"held", "ended"}, {"wrap", "expired"}, {"interrupted", "resumed"}} {
			h := histogram(t, reg, name, "phase", k.phase, "outcome", k.outcome)
			w := want[k]
			if got := float64(h.GetSampleCount()); got != times*w[0] {
				t.Errorf("%s: %s{%s,%s} count = %v, want %v", when, name, k.phase, k.outcome, got, times*w[0])
			}
			if got := h.GetSampleSum(); math.Abs(got-times*w[1]) > 1e-9 {
				t.Errorf("%s: %s{%s,%s} sum = %v, want %v", when, name, k.phase, k.outcome, got, times*w[1])
			}
		}
		if m := testkit.Series(t, reg, name, "phase", "held", "outcome", "retracted"); m != nil {
			t.Errorf("%s: a duration series for retractions", when)
		}
	}

	feed()
	check("before the commit", 0)
	m.OnCommit(6)
	check("after the commit", 1)

	feed()
	m.OnAbort(6)
	m.OnCommit(0)
	check("after an abort", 1)

	feed()
	m.OnCommit(6)
	check("after a second commit", 2)
}
