package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/internal/testkit"
)

// histogram returns the histogram series name{labels} of reg.
func histogram(t *testing.T, reg *prometheus.Registry, name string, labels ...string) *dto.Histogram {
	t.Helper()
	m := testkit.Series(t, reg, name, labels...)
	if m == nil {
		t.Fatalf("%s%v: no such series", name, labels)
	}
	if m.GetHistogram() == nil {
		t.Fatalf("%s%v is not a histogram", name, labels)
	}
	return m.GetHistogram()
}

// TestMetricsDurationUnits: interruption_duration_seconds observes
// closedAt - interruptedAt in seconds, as its name and buckets say. Known
// interruptions (90 s and 5 min resumed, 1.5 s and 20 min ended, an
// expiry after a day) give the exact sums and cumulative bucket counts
// worked out by hand from those durations; a histogram in milliseconds
// (or minutes) would put every one of them in another bucket.
func TestMetricsDurationUnits(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return t0.Add(48 * time.Hour) }
	out := func(part int32, role string, o match.Outcome, d time.Duration) {
		m.OnOutput(part, &match.Interruption{Party: vcc.Party{Role: role, AgentID: "1544"}, Outcome: o,
			InterruptedAt: t0.UnixNano(), ClosedAt: t0.Add(d).UnixNano()}, t0.Add(d))
	}
	out(0, "agent", match.OutcomeResumed, 90*time.Second)
	out(1, "agent", match.OutcomeResumed, 5*time.Minute)
	out(2, "external", match.OutcomeEnded, 1500*time.Millisecond)
	out(2, "external", match.OutcomeEnded, 20*time.Minute)
	out(3, "agent", match.OutcomeExpired, 24*time.Hour)
	m.OnCommit(5)

	for _, tc := range []struct {
		role, outcome string
		seconds       []float64 // the durations fed, in seconds
		sum           float64
		spot          map[float64]uint64 // cumulative count at some bounds, by hand
	}{
		// 90 s: above 60, up to 120. 300 s: up to 300 (bounds are
		// inclusive), above 120.
		{"agent", "resumed", []float64{90, 300}, 390, map[float64]uint64{60: 0, 120: 1, 300: 2}},
		// 1.5 s: above 1, up to 5. 1200 s: up to 1200, above 600.
		{"external", "ended", []float64{1.5, 1200}, 1201.5, map[float64]uint64{1: 0, 5: 1, 600: 1, 1200: 2}},
		// A day: only in the last bound, 86400.
		{"agent", "expired", []float64{86400}, 86400, map[float64]uint64{28800: 0, 86400: 1}},
	} {
		what := tc.role + "/" + tc.outcome
		h := histogram(t, reg, "interruptions_interruption_duration_seconds", "role", tc.role, "outcome", tc.outcome)
		if got := h.GetSampleSum(); got != tc.sum {
			t.Errorf("%s: sum %v s, want %v s", what, got, tc.sum)
		}
		if got := h.GetSampleCount(); got != uint64(len(tc.seconds)) {
			t.Errorf("%s: %d samples, want %d", what, got, len(tc.seconds))
		}
		if len(h.GetBucket()) != len(durationBuckets) {
			t.Fatalf("%s: %d buckets, want %d", what, len(h.GetBucket()), len(durationBuckets))
		}
		spotted := 0
		for _, b := range h.GetBucket() {
			ub := b.GetUpperBound()
			var want uint64
			for _, s := range tc.seconds {
				if s <= ub {
					want++
				}
			}
			if got := b.GetCumulativeCount(); got != want {
				t.Errorf("%s: bucket le=%v holds %d, want %d", what, ub, got, want)
			}
			if w, ok := tc.spot[ub]; ok {
				spotted++
				if w != want {
					t.Fatalf("%s: the test's own counts disagree at le=%v: %d by hand, %d from the durations", what, ub, w, want)
				}
			}
		}
		if spotted != len(tc.spot) {
			t.Errorf("%s: %d of the %d hand-checked bounds are buckets", what, spotted, len(tc.spot))
		}
	}
	// No other series got an observation.
	for _, role := range roleNames {
		for _, o := range outcomeNames {
			if (role == "agent" && (o == "resumed" || o == "expired")) || (role == "external" && o == "ended") {
				continue
			}
			if n := histogram(t, reg, "interruptions_interruption_duration_seconds", "role", role, "outcome", o).GetSampleCount(); n != 0 {
				t.Errorf("%s/%s: %d samples, want 0", role, o, n)
			}
		}
	}
}
