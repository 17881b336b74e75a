package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/interruptions/interruptions/internal/testkit"
)

// TestCommitDurationAndStallSeries (issue 24): each unit of work's end is
// observed in seconds under its result, and only the ends the runner
// reports as stalled are counted as stalls: a committed 30 ms end and a
// stalled 12 s one, an aborted 3 s stalled one. The 12 s end lands in the
// 20 s bucket and not the 10 s one, as it would in minutes or
// milliseconds.
func TestCommitDurationAndStallSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.OnUnitEnd(30*time.Millisecond, true, false)
	m.OnUnitEnd(12*time.Second, true, true)
	m.OnUnitEnd(3*time.Second, false, true)

	if got := testkit.Series(t, reg, "interruptions_commit_stalls_total").GetCounter().GetValue(); got != 2 {
		t.Errorf("commit_stalls_total = %v, want 2", got)
	}
	committed := testkit.Series(t, reg, "interruptions_commit_duration_seconds", "result", "committed").GetHistogram()
	if committed.GetSampleCount() != 2 || committed.GetSampleSum() != 12.03 {
		t.Errorf("committed: %d samples, sum %v; want 2, 12.03", committed.GetSampleCount(), committed.GetSampleSum())
	}
	for _, b := range committed.GetBucket() {
		var want uint64
		switch ub := b.GetUpperBound(); {
		case ub >= 12:
			want = 2
		case ub >= 0.03:
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("committed bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	aborted := testkit.Series(t, reg, "interruptions_commit_duration_seconds", "result", "aborted").GetHistogram()
	if aborted.GetSampleCount() != 1 || aborted.GetSampleSum() != 3 {
		t.Errorf("aborted: %d samples, sum %v; want 1, 3", aborted.GetSampleCount(), aborted.GetSampleSum())
	}
}
