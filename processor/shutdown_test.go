package processor

import (
	"context"
	"testing"
	"time"
)

// TestShutdownDeadline: while the context lives, each step gets the whole
// timeout; once it ended, every step shares one deadline, the timeout after
// the end.
func TestShutdownDeadline(t *testing.T) {
	b := &shutdownBudget{timeout: 2 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())

	before := time.Now()
	if d := b.deadline(ctx); d.Before(before.Add(2*time.Second)) || d.After(time.Now().Add(2*time.Second)) {
		t.Errorf("live context: deadline in %s, want 2s", time.Until(d))
	}
	cancel()
	first := b.deadline(ctx)
	// A later step gets the same deadline (a deadline computed from now
	// would differ: the clock has moved by the next call).
	if again := b.deadline(ctx); !again.Equal(first) {
		t.Errorf("after the end, deadlines differ: %v then %v", first, again)
	}
	if left := time.Until(first); left > 2*time.Second || left < time.Second {
		t.Errorf("after the end: %s left, want just under 2s", left)
	}
	sctx, scancel := b.context(ctx)
	defer scancel()
	if d, ok := sctx.Deadline(); !ok || !d.Equal(first) || sctx.Err() != nil {
		t.Errorf("step context: deadline %v (%v), err %v; want %v and live", d, ok, sctx.Err(), first)
	}
}

// TestReadyWhileStopping: once Run's context ended, the runner is not ready.
func TestReadyWhileStopping(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Brokers = []string{"127.0.0.1:1"} // nothing listens: Run waits for brokers
	cfg.StartTimeout = time.Minute
	r, err := NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := r.Ready(); ok || why != "not started" {
		t.Errorf("before Run: Ready() = %v, %q", ok, why)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if ok, why := r.Ready(); ok || why != "shutting down" {
		t.Errorf("after cancel: Ready() = %v, %q", ok, why)
	}
}
