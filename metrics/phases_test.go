package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/interruptions/interruptions/core/match"
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
