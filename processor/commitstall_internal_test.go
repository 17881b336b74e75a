package processor

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// unitEnds records HookUnitEnd calls.
type unitEnds struct{ calls []string }

func (u *unitEnds) OnUnitEnd(took time.Duration, committed, stalled bool) {
	s := took.String()
	if committed {
		s += " committed"
	} else {
		s += " aborted"
	}
	if stalled {
		s += " stalled"
	}
	u.calls = append(u.calls, s)
}

// TestStallWatchReasonAndOneWarningPerStall drives the stall watch with a
// test clock (the bound, an hour, is never reached in wall time: the ends
// themselves find they outlasted it). While this member's JoinGroup is
// unanswered, two slow aborted ends make one stall: one warning, whose
// reason is the rebalance and how long the JoinGroup has waited, both
// counted as stalled; the commit after the JoinGroup's answer logs once
// that commits resumed, with the stall's length from the first slow end's
// start. A later slow end with no JoinGroup in flight is a new stall whose
// reason says no rebalance is in flight and when the assignment last
// changed.
func TestStallWatchReasonAndOneWarningPerStall(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	var clock atomic.Int64
	base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	now := func() time.Time { return base.Add(time.Duration(clock.Load())) }
	advance := func(d time.Duration) { clock.Add(int64(d)) }
	rec := &unitEnds{}
	h := newHooks([]Hook{rec})
	w := &stallWatch{bound: time.Hour, log: zap.New(core), hooks: &h, now: now}
	join := joinWatch{w}
	var meta kgo.BrokerMetadata

	join.OnBrokerWrite(meta, int16(kmsg.JoinGroup), 100, 0, 0, nil)
	advance(10 * time.Minute)
	u := w.begin()
	advance(2 * time.Hour)
	w.ended(u, false)
	u = w.begin()
	advance(3 * time.Hour)
	w.ended(u, false)
	join.OnBrokerRead(meta, int16(kmsg.JoinGroup), 100, 0, 0, nil)
	w.OnRebalance([]int32{1}, nil, nil)
	u = w.begin()
	advance(time.Second)
	w.ended(u, true)

	warnings := logs.FilterMessageSnippet("commits stalled").All()
	if len(warnings) != 1 {
		t.Fatalf("%d warnings for one stall of two slow ends, want 1", len(warnings))
	}
	f := warnings[0].ContextMap()
	if f["waiting"] != 2*time.Hour {
		t.Errorf("waiting %v, want the first slow end's 2h", f["waiting"])
	}
	if r, _ := f["reason"].(string); !strings.Contains(r, "the group is rebalancing") || !strings.Contains(r, "JoinGroup has waited 2h10m0s") {
		t.Errorf("reason %q, want the rebalance and the JoinGroup's 2h10m0s wait", r)
	}
	resumed := logs.FilterMessage("commits resumed").All()
	if len(resumed) != 1 || resumed[0].ContextMap()["stalled"] != 5*time.Hour+time.Second {
		t.Fatalf("resumed logs %v, want one with stalled 5h0m1s", resumed)
	}
	want := []string{"2h0m0s aborted stalled", "3h0m0s aborted stalled", "1s committed"}
	if strings.Join(rec.calls, "; ") != strings.Join(want, "; ") {
		t.Errorf("unit ends %q, want %q", rec.calls, want)
	}

	advance(time.Minute)
	u = w.begin()
	advance(90 * time.Minute)
	w.ended(u, true)
	warnings = logs.FilterMessageSnippet("commits stalled").All()
	if len(warnings) != 2 {
		t.Fatalf("%d warnings after a second stall, want 2", len(warnings))
	}
	if r, _ := warnings[1].ContextMap()["reason"].(string); !strings.Contains(r, "no rebalance is in flight") ||
		!strings.Contains(r, "last changed 1h31m1s ago") {
		t.Errorf("second stall's reason %q, want no rebalance, assignment changed 1h31m1s ago", r)
	}
	if n := logs.FilterMessage("commits resumed").Len(); n != 2 {
		t.Errorf("%d resumed logs, want 2", n)
	}
}

// TestCommitStallBoundDefault: 0 derives the bound from the session
// timeout, a quarter of it and at least 2s; a set bound is kept.
func TestCommitStallBoundDefault(t *testing.T) {
	for _, c := range []struct{ session, set, want time.Duration }{
		{45 * time.Second, 0, 11250 * time.Millisecond},
		{10 * time.Second, 0, 2500 * time.Millisecond},
		{6 * time.Second, 0, 2 * time.Second},
		{45 * time.Second, 300 * time.Millisecond, 300 * time.Millisecond},
	} {
		cfg := DefaultConfig()
		cfg.SessionTimeout, cfg.CommitStallWarning = c.session, c.set
		if got := cfg.commitStallBound(); got != c.want {
			t.Errorf("session %v, set %v: bound %v, want %v", c.session, c.set, got, c.want)
		}
	}
}
