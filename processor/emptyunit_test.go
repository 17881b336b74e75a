package processor_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/processor"
)

// endTimes records how long each unit of work's end took, and whether it
// committed.
type endTimes struct {
	mu   sync.Mutex
	took []time.Duration
	bad  []string
}

func (e *endTimes) OnUnitEnd(took time.Duration, committed, _ bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.took = append(e.took, took)
	if !committed {
		e.bad = append(e.bad, fmt.Sprintf("unit %d aborted", len(e.took)))
	}
}

// TestIdleTransactionsDoNotHoldTheSession (issue 24): an exactly-once
// runner with nothing to do ends an empty transaction every commit
// interval. Ended as a commit, franz-go holds the session for 500 ms after
// each (it learns the broker's KIP-447 support only from an offset
// commit), so the next end waits that long and so does the member's
// revoke callback: a member with no partition yet joins a cooperative
// rebalance's second round late, and the members that kept partitions
// stop committing until it does (scale-out paused them 0.6 s). Ended as an
// abort and counted committed, the ends of idle units take milliseconds.
func TestIdleTransactionsDoNotHoldTheSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFixture(t, processor.ExactlyOnce, codec.Binary)
	f.cfg.IdleTimeout = 0
	rec := &endTimes{}
	f.cfg.Hooks = []processor.Hook{rec}
	stop := f.start(ctx)
	defer stop() // again after the stop below: a no-op
	const units = 12
	testkit.Poll(t, 30*time.Second, 10*time.Millisecond, "idle units of work", nil, nil, func() (bool, string) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.took) >= units, fmt.Sprintf("%d ends", len(rec.took))
	})
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.bad) > 0 {
		t.Fatalf("idle units were not committed: %v", rec.bad)
	}
	took := slices.Clone(rec.took[2:units]) // after the first join
	slices.Sort(took)
	if median := took[len(took)/2]; median > 200*time.Millisecond {
		t.Fatalf("the ends of idle units took %v (median %v): each waits for the session the last one held", rec.took[:units], median)
	}
	t.Logf("ends of idle units: %v", rec.took[:units])
}
