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
	cfg := DefaultConfig()
	cfg.ShutdownTimeout = 2 * time.Second
	r, err := NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	parent, cancel := context.WithCancel(context.Background())
	ctx, unwatch := r.watchShutdown(parent)
	defer unwatch()

	before := time.Now()
	if d := shutdownDeadline(ctx); d.Before(before.Add(2*time.Second)) || d.After(time.Now().Add(2*time.Second)) {
		t.Errorf("live context: deadline in %s, want 2s", time.Until(d))
	}
	cancel()
	first := shutdownDeadline(ctx)
	time.Sleep(20 * time.Millisecond)
	if again := shutdownDeadline(ctx); !again.Equal(first) {
		t.Errorf("after the end, deadlines differ: %v then %v", first, again)
	}
	if left := time.Until(first); left > 2*time.Second || left < time.Second {
		t.Errorf("after the end: %s left, want just under 2s", left)
	}
	if ok, why := r.Ready(); ok || (why != "shutting down" && why != "not in consumer group interruptions yet") {
		t.Errorf("Ready() = %v, %q", ok, why)
	}

	// Without a budget in the context (a step outside Run): the default.
	if left := time.Until(shutdownDeadline(context.Background())); left < 29*time.Second {
		t.Errorf("no budget: %s left, want 30s", left)
	}
}
