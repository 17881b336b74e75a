package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/interruptions/interruptions/internal/testkit"
)

// TestRebalanceAndRestoreSeries (issue 24): the restores in flight are the
// last count the runner gave, rebalanced partitions are counted by change,
// and each partition's pause is observed in seconds (a 1.5 s pause lands
// in the 1.6 s bucket, not below 0.8 s, as it would in minutes, nor only
// in +Inf, as in milliseconds).
func TestRebalanceAndRestoreSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.OnRebalance([]int32{0, 1, 2}, nil, nil)
	m.OnRebalance(nil, []int32{2}, nil)
	m.OnRebalance(nil, nil, []int32{0, 1})
	m.OnRestoring(3)
	m.OnRestoring(1)
	m.OnResume(1, 1500*time.Millisecond)
	for change, want := range map[string]float64{"assigned": 3, "revoked": 1, "lost": 2} {
		if got := testkit.Series(t, reg, "interruptions_rebalance_partitions_total", "change", change).GetCounter().GetValue(); got != want {
			t.Errorf("rebalance_partitions_total{change=%s} = %v, want %v", change, got, want)
		}
	}
	if got := testkit.Series(t, reg, "interruptions_restores_in_flight").GetGauge().GetValue(); got != 1 {
		t.Errorf("restores_in_flight = %v, want the last count, 1", got)
	}
	h := histogram(t, reg, "interruptions_partition_paused_seconds")
	if h.GetSampleCount() != 1 || h.GetSampleSum() != 1.5 {
		t.Fatalf("partition_paused_seconds: %d samples, sum %v; want 1, 1.5", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, b := range h.GetBucket() {
		want := uint64(0)
		if b.GetUpperBound() >= 1.5 {
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
}
