package processor_test

// Issue 24: commits that hang while the group rebalances are bounded in
// the log and the metrics: a unit of work whose end outlasts
// Config.CommitStallWarning is warned about once, while it waits, with the
// likely reason; counted as a stall; and the commit that follows logs how
// long the stall lasted.

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/vccgen"
)

// TestCommitStallWarnsOnceAndResumes holds the broker's answer to the
// first commit of a unit of work (EndTxn under exactly-once, OffsetCommit
// under at-least-once) with kfake's SleepControl until the stall warning
// is logged, then releases it. While held: one warning, whose waiting time
// is at least the bound and which names the reason (no JoinGroup in flight:
// no rebalance) and the advice, and no stall counted yet (the end has not
// returned: the warning came while it waited). After release: one
// "commits resumed" log with the stall's length (at least the bound),
// still one warning, the stall counter at 1, and the committed end
// observed in interruptions_commit_duration_seconds with at least the
// bound's seconds.
func TestCommitStallWarnsOnceAndResumes(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    processor.Guarantee
		key  kmsg.Key
	}{
		{"exactly-once", processor.ExactlyOnce, kmsg.EndTxn},
		{"at-least-once", processor.AtLeastOnce, kmsg.OffsetCommit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			const bound = time.Second
			f := newFixture(t, tc.g, codec.Binary)
			f.cfg.IdleTimeout = 0
			f.cfg.CommitStallWarning = bound
			core, logs := observer.New(zapcore.InfoLevel)
			f.cfg.Logger = zap.New(core)
			reg := commitMetrics(f)
			f.produce(ctx, inputs(t, f.cfg.InputTopic, vccgen.New(vccgen.Config{Seed: 24}).Take(200))...)

			held, release := make(chan struct{}), make(chan struct{})
			var once atomic.Bool
			f.cluster.ControlKey(int16(tc.key), func(kr kmsg.Request) (kmsg.Response, error, bool) {
				if req, ok := kr.(*kmsg.EndTxnRequest); ok && !req.Commit {
					return nil, nil, false
				}
				if !once.CompareAndSwap(false, true) {
					return nil, nil, false
				}
				close(held)
				f.cluster.SleepControl(func() { <-release })
				return nil, nil, false // answered as usual, late
			})
			released := false
			defer func() {
				if !released {
					close(release)
				}
			}()
			stop := f.start(ctx)
			defer stop() // again after the stop below: a no-op
			select {
			case <-held:
			case <-ctx.Done():
				t.Fatal("no commit was sent")
			}
			warnings := func() []observer.LoggedEntry {
				return logs.FilterMessageSnippet("commits stalled").All()
			}
			testkit.Poll(t, 15*time.Second, 10*time.Millisecond, "the stall warning", nil, nil, func() (bool, string) {
				return len(warnings()) > 0, "no warning"
			})
			if got, _ := commitMetric(t, reg, "interruptions_commit_stalls_total"); got != 0 {
				t.Errorf("commit_stalls_total = %v while the end still waits, want 0: the warning must come while it waits", got)
			}
			w := warnings()
			if len(w) != 1 {
				t.Fatalf("%d stall warnings while held, want 1", len(w))
			}
			fields := w[0].ContextMap()
			if w[0].Level != zapcore.WarnLevel {
				t.Errorf("stall logged at %v, want warn", w[0].Level)
			}
			if waiting, _ := fields["waiting"].(time.Duration); waiting < bound {
				t.Errorf("warning says commits waited %v, want at least the bound %v", fields["waiting"], bound)
			}
			if reason, _ := fields["reason"].(string); !strings.Contains(reason, "no rebalance is in flight") {
				t.Errorf("reason %q, want no rebalance in flight (no JoinGroup was waiting)", reason)
			}
			if advice, _ := fields["advice"].(string); !strings.Contains(advice, "--instance-id") || !strings.Contains(advice, "--session-timeout") {
				t.Errorf("advice %q, want --instance-id and --session-timeout", advice)
			}

			close(release)
			released = true
			testkit.Poll(t, 15*time.Second, 10*time.Millisecond, "the resumed log", nil, nil, func() (bool, string) {
				return logs.FilterMessage("commits resumed").Len() > 0, "not resumed"
			})
			resumed := logs.FilterMessage("commits resumed").All()
			if stalled, _ := resumed[0].ContextMap()["stalled"].(time.Duration); stalled < bound {
				t.Errorf("resumed after a stall of %v, want at least %v", resumed[0].ContextMap()["stalled"], bound)
			}
			if n := len(warnings()); n != 1 {
				t.Errorf("%d stall warnings, want 1", n)
			}
			if got, _ := commitMetric(t, reg, "interruptions_commit_stalls_total"); got != 1 {
				t.Errorf("commit_stalls_total = %v, want 1", got)
			}
			count, sum := commitMetric(t, reg, "interruptions_commit_duration_seconds", "result", "committed")
			if count < 1 || sum < bound.Seconds() {
				t.Errorf("commit_duration_seconds{result=committed}: %v samples, sum %v s; want the held end's %v among them", count, sum, bound)
			}
			if err := stop(); err != nil {
				t.Fatalf("run: %v", err)
			}
		})
	}
}

// TestCommitStallWarningValidated: a negative bound is refused, naming
// the setting; 0 derives it from the session timeout.
func TestCommitStallWarningValidated(t *testing.T) {
	cfg := processor.DefaultConfig()
	cfg.CommitStallWarning = -time.Second
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "commit-stall-warning") {
		t.Fatalf("Validate with a negative commit stall warning: %v, want an error naming commit-stall-warning", err)
	}
	cfg.CommitStallWarning = 0
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate with 0 (derived): %v", err)
	}
}
