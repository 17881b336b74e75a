package processor

import (
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// stallWatch measures how each unit of work ends (Runner.end: flush and
// commit, or abort) and reports the ends that take longer than bound:
// franz-go holds offset commits while the group rebalances (and a
// transaction's End aborts after one), and a rebalance waits for every
// member, one that died without leaving for up to the session timeout. A
// stall begins when one end outlasts bound, which a timer logs at once,
// while the end still waits, with the reason the runner can see; it lasts
// until a unit of work commits, which is logged once with the stall's
// length. The units in between warn no more.
type stallWatch struct {
	bound time.Duration
	log   *zap.Logger
	hooks *hooks
	now   func() time.Time

	mu sync.Mutex
	// since is when the first end of the current stall began; zero when
	// commits are not stalled.
	since time.Time
	// joinSent and joinAnswered are when this member's last JoinGroup
	// request was written and its response read (joinWatch); a request
	// written after the last answer is in flight: the group rebalances.
	joinSent, joinAnswered time.Time
	// assigned is when the group last assigned, revoked or lost
	// partitions of this member.
	assigned time.Time
}

// stallUnit is one unit of work's end being measured.
type stallUnit struct {
	began time.Time
	timer *time.Timer
	// over is set, under the watch's lock, when the end returned: a
	// timer that fired meanwhile does nothing then.
	over *bool
}

// begin starts measuring an end: a timer logs the stall's warning when the
// end outlasts the bound (ended stops it).
func (w *stallWatch) begin() stallUnit {
	began := w.now()
	over := new(bool)
	return stallUnit{began: began, over: over, timer: time.AfterFunc(w.bound, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !*over {
			w.stalledLocked(began)
		}
	})}
}

// stalledLocked begins a stall, and warns, unless one is going on.
func (w *stallWatch) stalledLocked(began time.Time) {
	if !w.since.IsZero() {
		return
	}
	w.since = began
	now := w.now()
	w.log.Warn("commits stalled: ending the unit of work (flush and commit) is taking longer than the bound; "+
		"input is not committed meanwhile",
		zap.Duration("waiting", now.Sub(began)), zap.Duration("bound", w.bound),
		zap.String("reason", w.reasonLocked(now)),
		zap.String("advice", "run each instance with --instance-id (static membership: a restarted instance takes its "+
			"partitions back without a rebalance), and a shorter --session-timeout bounds how long a rebalance waits "+
			"for a dead member"))
}

// reasonLocked is the likely reason of a stall, from what the group client
// shows: a JoinGroup of this member waiting for the coordinator, or none.
func (w *stallWatch) reasonLocked(now time.Time) string {
	switch {
	case w.joinSent.After(w.joinAnswered):
		return fmt.Sprintf("the group is rebalancing: this member's JoinGroup has waited %s for the coordinator, which waits "+
			"for every member (one that died without leaving the group, for up to --session-timeout), and franz-go holds "+
			"commits until the rebalance ends", now.Sub(w.joinSent).Round(time.Millisecond))
	case w.assigned.IsZero():
		return "no rebalance is in flight for this member: a slow broker or transaction coordinator"
	}
	return fmt.Sprintf("no rebalance is in flight for this member (its assignment last changed %s ago): "+
		"a slow broker or transaction coordinator", now.Sub(w.assigned).Round(time.Millisecond))
}

// ended ends the measure of u: the hooks observe it, and a commit ends
// the stall going on, if any.
func (w *stallWatch) ended(u stallUnit, committed bool) {
	u.timer.Stop()
	now := w.now()
	took := now.Sub(u.began)
	stalled := took > w.bound
	w.mu.Lock()
	*u.over = true
	if stalled {
		w.stalledLocked(u.began) // the timer may not have run yet
	}
	w.mu.Unlock()
	w.hooks.onUnitEnd(took, committed, stalled)
	if !committed {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.since.IsZero() {
		return
	}
	w.log.Info("commits resumed", zap.Duration("stalled", now.Sub(w.since)), zap.Duration("last_end", took))
	w.since = time.Time{}
}

// OnRebalance implements HookRebalance: it notes when the assignment
// changed.
func (w *stallWatch) OnRebalance(_, _, _ []int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.assigned = w.now()
}

// joinWatch is a kgo hook noting when the group client's JoinGroup
// requests are written and answered.
type joinWatch struct{ w *stallWatch }

// OnBrokerWrite implements kgo.HookBrokerWrite.
func (j joinWatch) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key != int16(kmsg.JoinGroup) || err != nil {
		return
	}
	j.w.mu.Lock()
	defer j.w.mu.Unlock()
	j.w.joinSent = j.w.now()
}

// OnBrokerRead implements kgo.HookBrokerRead.
func (j joinWatch) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, _ error) {
	if key != int16(kmsg.JoinGroup) {
		return
	}
	j.w.mu.Lock()
	defer j.w.mu.Unlock()
	j.w.joinAnswered = j.w.now()
}
