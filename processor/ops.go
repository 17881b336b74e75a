package processor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/interruptions/interruptions/state"
)

// Operations: readiness, the status behind metrics, eager restores and the
// shutdown budget. opsState is guarded by Runner.mu.

// opsState is the runner's operational state.
type opsState struct {
	started  bool // Run was called
	stopping bool // Run's context ended
	// joined: the group client had its assignment (OnPartitionsAssigned
	// runs after every join, even with nothing new) and was not kicked out
	// since. Reset when the client is rebuilt.
	joined bool
	// assigned are the input partitions the group gave this member.
	assigned map[int32]struct{}
	// stats are each task's store counts as of its last commit or restore,
	// lag its consumer lag at the last fetch; read by Status.
	stats map[int32]state.Stats
	lag   map[int32]int64
}

// PartitionStatus is one owned input partition as of its last commit.
type PartitionStatus struct {
	Partition int32
	state.Stats
	// Lag is the number of input records after the last one fetched
	// (the high watermark, or the last stable offset under exactly-once,
	// minus the next offset) at the last fetch; -1 before any fetch.
	Lag int64
}

// Status is a snapshot of the runner, safe to take from any goroutine.
type Status struct {
	// Ready: in the group, every assigned partition's state restored, and
	// processing. Reason says why not, or what is processed.
	Ready  bool
	Reason string
	// Assigned input partitions; Restoring of them wait for their state.
	Assigned, Restoring int
	// Partitions are the restored partitions, in order.
	Partitions []PartitionStatus
}

// Ready reports whether the runner is processing every partition assigned
// to it, with a short reason when it is not.
func (r *Runner) Ready() (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readyLocked()
}

func (r *Runner) readyLocked() (bool, string) {
	switch {
	case !r.ops.started:
		return false, "not started"
	case r.ops.stopping:
		return false, "shutting down"
	case !r.ops.joined:
		return false, "not in consumer group " + r.cfg.Group + " yet"
	}
	if n := r.restoringLocked(); n > 0 {
		return false, fmt.Sprintf("restoring the state of %d of %d assigned partitions", n, len(r.ops.assigned))
	}
	return true, fmt.Sprintf("processing %d partitions", len(r.ops.assigned))
}

// restoringLocked counts the assigned partitions without a usable task.
func (r *Runner) restoringLocked() int {
	n := 0
	for p := range r.ops.assigned {
		_, dropping := r.drop[p]
		if r.tasks[p] == nil || dropping {
			n++
		}
	}
	return n
}

// Status returns a snapshot of readiness and of the owned partitions.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Status{Assigned: len(r.ops.assigned), Restoring: r.restoringLocked()}
	s.Ready, s.Reason = r.readyLocked()
	for p := range r.tasks {
		if _, dropping := r.drop[p]; dropping {
			continue
		}
		lag, ok := r.ops.lag[p]
		if !ok {
			lag = -1
		}
		s.Partitions = append(s.Partitions, PartitionStatus{Partition: p, Stats: r.ops.stats[p], Lag: lag})
	}
	slices.SortFunc(s.Partitions, func(a, b PartitionStatus) int { return int(a.Partition - b.Partition) })
	return s
}

// onAssigned records the assignment; it runs on the client's goroutine
// after every join.
func (r *Runner) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ops.assigned == nil {
		r.ops.assigned = make(map[int32]struct{})
	}
	for _, p := range assigned[r.cfg.InputTopic] {
		r.ops.assigned[p] = struct{}{}
	}
	r.ops.joined = true
	if ps := assigned[r.cfg.InputTopic]; len(ps) > 0 {
		r.log.Info("partitions assigned", zap.Int32s("partitions", ps), zap.Int("owned", len(r.ops.assigned)))
	}
}

// onLost handles partitions lost (the member was kicked out of the group):
// as revoked, and the member is not in the group until it rejoins.
func (r *Runner) onLost(ctx context.Context, cl *kgo.Client, lost map[string][]int32) {
	r.onRevoked(ctx, cl, lost)
	r.mu.Lock()
	r.ops.joined = false
	r.mu.Unlock()
}

// resetOps forgets the assignment when the group client is torn down;
// called with r.mu held.
func (r *Runner) resetOpsLocked() {
	r.ops.joined = false
	clear(r.ops.assigned)
}

// restoreAssigned restores, on the loop's goroutine and before processing,
// the state of every assigned partition that has none yet, so that a
// partition without records is ready too (otherwise its state would be
// restored on its first record). On a cancelled ctx it gives up and returns
// nil: the loop then finishes as usual.
//
// Under exactly-once it first waits until the group's committed offsets are
// stable: a transaction of the partition's previous owner may still be
// pending (KIP-447 lets it commit after the rebalance), and the state must
// be read after its changelog records are decided, as the consumer reads
// its offsets only then. A partition whose first records arrive before this
// runs is restored by process as before.
func (r *Runner) restoreAssigned(ctx context.Context, adm *kadm.Client) error {
	r.mu.Lock()
	var pending []int32
	for p := range r.ops.assigned {
		_, dropping := r.drop[p]
		if r.tasks[p] == nil && !dropping {
			pending = append(pending, p)
		}
	}
	r.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	slices.Sort(pending)
	if r.cfg.Guarantee == ExactlyOnce {
		if err := waitStableOffsets(ctx, adm, r.cfg.Group, r.cfg.InputTopic, pending); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	for _, p := range pending {
		r.mu.Lock()
		_, still := r.ops.assigned[p]
		r.mu.Unlock()
		if !still {
			continue
		}
		if _, err := r.task(ctx, adm, p); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil
}

// waitStableOffsets returns once no committed offset of partitions ps is
// part of a pending transaction.
func waitStableOffsets(ctx context.Context, adm *kadm.Client, group, topic string, ps []int32) error {
	for {
		resp, err := adm.FetchOffsets(kadm.RequireStable(ctx), group)
		unstable := errors.Is(err, kerr.UnstableOffsetCommit)
		if err != nil && !unstable {
			return fmt.Errorf("fetch committed offsets of group %s: %w", group, err)
		}
		for _, p := range ps {
			if o, ok := resp.Lookup(topic, p); ok && errors.Is(o.Err, kerr.UnstableOffsetCommit) {
				unstable = true
			}
		}
		if !unstable {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// noteLag records each fetched partition's consumer lag.
func (r *Runner) noteLag(fetches kgo.Fetches) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 || fp.Topic != r.cfg.InputTopic {
			return
		}
		end := fp.HighWatermark
		if r.cfg.Guarantee == ExactlyOnce && fp.LastStableOffset >= 0 {
			end = fp.LastStableOffset // read_committed reads no further
		}
		if r.ops.lag == nil {
			r.ops.lag = make(map[int32]int64)
		}
		r.ops.lag[fp.Partition] = max(0, end-(fp.Records[len(fp.Records)-1].Offset+1))
	})
}

// committed runs after a successful commit of n input records (n > 0):
// it refreshes the partitions' counts and calls OnCommit.
func (r *Runner) committed(n int) {
	r.mu.Lock()
	if r.ops.stats == nil {
		r.ops.stats = make(map[int32]state.Stats)
	}
	for p, t := range r.tasks {
		r.ops.stats[p] = t.store.Stats()
	}
	r.mu.Unlock()
	if h := r.cfg.Hooks.OnCommit; h != nil {
		h(n)
	}
}

// restored runs on the loop's goroutine once partition p's state was
// restored from n changelog records.
func (r *Runner) restored(p int32, st *state.Store, n int, took time.Duration) {
	r.mu.Lock()
	if r.ops.stats == nil {
		r.ops.stats = make(map[int32]state.Stats)
	}
	r.ops.stats[p] = st.Stats()
	delete(r.ops.lag, p)
	r.mu.Unlock()
	if h := r.cfg.Hooks.OnRestore; h != nil {
		h(p, n, took)
	}
}

// aborted runs when a transaction or batch of n records did not commit.
func (r *Runner) aborted(n int) {
	if h := r.cfg.Hooks.OnAbort; h != nil {
		h(n)
	}
}

// ---------------------------------------------------------------- shutdown

// shutdownBudget is the time left for the work after Run's context ended.
type shutdownBudget struct {
	timeout time.Duration
	// stopAt is when the context ended, in Unix nanoseconds; 0 before.
	stopAt atomic.Int64
}

type shutdownBudgetKey struct{}

// begin marks the start of the shutdown (once).
func (b *shutdownBudget) begin() int64 {
	b.stopAt.CompareAndSwap(0, time.Now().UnixNano())
	return b.stopAt.Load()
}

// watchShutdown marks the runner started and returns ctx carrying the
// shutdown budget; once ctx ends, the runner is stopping and every step
// (see shutdownCtx) must end within ShutdownTimeout of that moment. The
// returned func releases the watch.
func (r *Runner) watchShutdown(ctx context.Context) (context.Context, func() bool) {
	b := &shutdownBudget{timeout: r.cfg.ShutdownTimeout}
	r.mu.Lock()
	r.ops.started = true
	r.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		b.begin()
		r.mu.Lock()
		r.ops.stopping = true
		r.mu.Unlock()
		r.log.Info("stopping: finishing the batch in flight, committing, leaving the group",
			zap.Duration("shutdown_timeout", b.timeout))
	})
	return context.WithValue(ctx, shutdownBudgetKey{}, b), stop
}

// shutdownDeadline is the deadline of one step of work that must outlive
// ctx: ShutdownTimeout from now while ctx is live (a bound on each commit),
// and ShutdownTimeout after ctx ended once it has, so that the whole
// shutdown fits in it.
func shutdownDeadline(ctx context.Context) time.Time {
	b, _ := ctx.Value(shutdownBudgetKey{}).(*shutdownBudget)
	if b == nil {
		return time.Now().Add(DefaultConfig().ShutdownTimeout)
	}
	if ctx.Err() == nil {
		return time.Now().Add(b.timeout)
	}
	return time.Unix(0, b.begin()).Add(b.timeout)
}
