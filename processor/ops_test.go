package processor_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/vccgen"
)

// waitUntil polls cond every 20ms until it holds, failing the test when ctx
// ends first.
func waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestRunnerReadyAndStatus follows readiness from before Run to after it:
// not started, then ready once every assigned partition is restored, also
// without a single record (restored eagerly), then the status and hooks
// after processing, then not ready while stopping.
func TestRunnerReadyAndStatus(t *testing.T) {
	for _, g := range []processor.Guarantee{processor.ExactlyOnce, processor.AtLeastOnce} {
		t.Run(g.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			f := newFixture(t, g, codec.Binary)
			var restores, committed, outputs, aborts atomic.Int64
			f.cfg.Hooks = append(f.cfg.Hooks, &countingHook{
				restore: func() { restores.Add(1) },
				commit:  func(n int) { committed.Add(int64(n)) },
				abort:   func() { aborts.Add(1) },
				output: func(in *match.Interruption, input time.Time) {
					if input.IsZero() || in.ClosedAt < in.InterruptedAt {
						t.Errorf("output hook: input time %v, interruption %+v", input, in)
					}
					outputs.Add(1)
				},
			})
			r, err := processor.NewRunner(f.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if ready, why := r.Ready(); ready || why != "not started" {
				t.Fatalf("before Run: Ready() = %v, %q", ready, why)
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- r.Run(runCtx) }()

			waitUntil(ctx, t, "ready with no input", func() bool { ok, _ := r.Ready(); return ok })
			s := r.Status()
			if s.Assigned != partitions || s.Restoring != 0 || len(s.Partitions) != partitions || restores.Load() != partitions {
				t.Fatalf("ready without input: status %+v, %d restores", s, restores.Load())
			}
			for _, p := range s.Partitions {
				if p.Channels != 0 || p.Open != 0 || p.Lag != -1 {
					t.Errorf("partition %d before any record: %+v", p.Partition, p)
				}
			}

			events := vccgen.New(vccgen.Config{Seed: 11}).Take(3000)
			want := expected(t, f.cfg, events)
			f.produce(ctx, inputs(t, f.cfg.InputTopic, events)...)
			f.readN(ctx, f.cfg.OutputTopic, len(want))
			waitUntil(ctx, t, "every input committed", func() bool { return committed.Load() == int64(len(events)) })
			if outputs.Load() != int64(len(want)) {
				t.Errorf("OnOutput called %d times, want %d (aborts %d)", outputs.Load(), len(want), aborts.Load())
			}
			s = r.Status()
			channels, open := 0, 0
			for _, p := range s.Partitions {
				channels += p.Channels
				open += p.Open
				if p.Lag != 0 || p.StreamTime == 0 {
					t.Errorf("partition %d after all input: %+v", p.Partition, p)
				}
				if p.HasOpen != (p.Open > 0) || (p.HasOpen && p.OldestOpen > p.StreamTime) {
					t.Errorf("partition %d: oldest open %d (has %v) with %d open, stream time %d",
						p.Partition, p.OldestOpen, p.HasOpen, p.Open, p.StreamTime)
				}
			}
			if channels == 0 || open == 0 {
				t.Errorf("status after all input: %d channels, %d open: %+v", channels, open, s)
			}
			if ok, why := r.Ready(); !ok || !strings.Contains(why, "processing 3 partitions") {
				t.Errorf("Ready() = %v, %q while processing", ok, why)
			}

			stop()
			if err := <-done; err != nil {
				t.Fatalf("run: %v", err)
			}
			if ok, why := r.Ready(); ok || why != "shutting down" {
				t.Errorf("after Run: Ready() = %v, %q", ok, why)
			}
		})
	}
}

func TestShutdownTimeoutValidated(t *testing.T) {
	cfg := processor.DefaultConfig()
	if cfg.ShutdownTimeout != 30*time.Second {
		t.Errorf("default shutdown timeout %s, want 30s", cfg.ShutdownTimeout)
	}
	cfg.ShutdownTimeout = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "shutdown-timeout") {
		t.Errorf("Validate with no shutdown timeout: %v", err)
	}
}

// countingHook implements the runner's commit, abort, restore and output
// hooks with funcs.
type countingHook struct {
	restore func()
	commit  func(int)
	abort   func()
	output  func(*match.Interruption, time.Time)
}

func (h *countingHook) OnRestore(int32, int, time.Duration) { h.restore() }
func (h *countingHook) OnCommit(n int)                      { h.commit(n) }
func (h *countingHook) OnAbort(int)                         { h.abort() }
func (h *countingHook) OnOutput(_ int32, in *match.Interruption, input time.Time) {
	h.output(in, input)
}
