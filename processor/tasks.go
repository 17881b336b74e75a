package processor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/interruptions/interruptions/state"
)

// taskManager owns the tasks (Kafka Streams' TaskManager): it follows the
// group's assignments and revocations, creates a task for each newly
// assigned partition once its state is restored, hands polled records to
// the tasks' workers, settles them at commit points and drops revoked
// tasks there.
//
// Restores run beside processing (Kafka Streams' restoration beside
// running tasks): a newly assigned partition's fetching is paused in the
// assignment callback, before the client fetches it, and one goroutine per
// partition reads its state from the changelog (at most maxRestores at
// once) while the loop goes on committing the partitions it has. The loop
// installs each finished restore as a task at the top of a unit of work
// and resumes the partition's fetching. A restore that waits (for the
// previous owner's open transaction) holds back its own partition only.
// The state API asks it what it holds (snapshot, owned, held, query), and
// never reads its maps.
//
// Group callbacks run on the client's goroutines, the state API's on the
// HTTP server's, everything else on the loop's; mu guards the maps and the
// status fields.
type taskManager struct {
	cfg    *Config
	log    *zap.Logger
	hooks  *hooks
	pipe   *pipeline
	reader *changelogReader

	mu    sync.Mutex
	tasks map[int32]*task
	// drop holds partitions revoked or lost since the last settle point;
	// their tasks are dropped there, and restored again if they return.
	drop map[int32]struct{}
	// assigned are the input partitions the group gave this member.
	assigned map[int32]struct{}
	// joined: the group client had its assignment (OnPartitionsAssigned
	// runs after every join, even with nothing new) and was not kicked out
	// since. Reset when the client is rebuilt.
	joined bool
	// stats are each task's store counts as of its last commit or restore,
	// lag its consumer lag at the last fetch; read by status.
	stats map[int32]state.Stats
	lag   map[int32]int64

	// restoring are the restores running beside processing, by
	// partition; restores counts their goroutines (dropAll waits for
	// them) and slots bounds how many read at once.
	restoring map[int32]*restoring
	restores  sync.WaitGroup
	slots     chan struct{}
	// finished is signalled when a restore ends, joinedCh when the group
	// assigns (capacity 1: a signal pending is enough).
	finished chan struct{}
	joinedCh chan struct{}
	// assignedAt is when each partition without a task yet was assigned,
	// for HookResume.
	assignedAt map[int32]time.Time

	// work counts jobs handed to workers and not yet done; settle waits
	// for it.
	work sync.WaitGroup
	// advanced is the number of idle advances the last settle counted
	// (the loop's alone).
	advanced int
}

func newTaskManager(cfg *Config, log *zap.Logger, h *hooks, pipe *pipeline) *taskManager {
	return &taskManager{
		cfg: cfg, log: log, hooks: h, pipe: pipe,
		reader:     &changelogReader{cfg: cfg, log: log, phases: pipe.numPhases()},
		tasks:      make(map[int32]*task),
		drop:       make(map[int32]struct{}),
		assigned:   make(map[int32]struct{}),
		stats:      make(map[int32]state.Stats),
		lag:        make(map[int32]int64),
		restoring:  make(map[int32]*restoring),
		assignedAt: make(map[int32]time.Time),
		slots:      make(chan struct{}, maxRestores),
		finished:   make(chan struct{}, 1),
		joinedCh:   make(chan struct{}, 1),
	}
}

// maxRestores is how many partitions restore at once; each reads with a
// client of its own.
const maxRestores = 4

// restoring is one partition's restore running beside processing. Its
// goroutine sets loader, took and err, then closes done.
type restoring struct {
	cancel context.CancelFunc
	done   chan struct{}
	loader *state.Loader
	took   time.Duration
	err    error
}

// ------------------------------------------------- group callbacks (client)

// onAssigned records the assignment; it runs after every join, before the
// client fetches what it assigns. The new partitions' fetching is paused
// until their state is restored (restoreAssigned resumes it).
func (m *taskManager) onAssigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	for _, p := range assigned[m.cfg.InputTopic] {
		m.assigned[p] = struct{}{}
		m.assignedAt[p] = now
	}
	if ps := assigned[m.cfg.InputTopic]; len(ps) > 0 {
		cl.PauseFetchPartitions(map[string][]int32{m.cfg.InputTopic: ps})
		m.hooks.onRebalance(ps, nil, nil)
	}
	m.joined = true
	select {
	case m.joinedCh <- struct{}{}:
	default:
	}
	if ps := assigned[m.cfg.InputTopic]; len(ps) > 0 {
		m.log.Info("partitions assigned", zap.Int32s("partitions", ps), zap.Int("owned", len(m.assigned)))
	}
}

// onRevoked marks partitions whose tasks must be dropped at the next
// settle point.
func (m *taskManager) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	m.revoke(revoked[m.cfg.InputTopic], false)
}

// revoke marks partitions ps, revoked or lost, to be dropped.
func (m *taskManager) revoke(ps []int32, lost bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range ps {
		m.drop[p] = struct{}{}
		delete(m.assigned, p)
		// A restore in flight may read a state the next owner
		// changes: it is abandoned (its goroutine ends on the
		// cancellation; dropAll waits for it).
		if r := m.restoring[p]; r != nil {
			r.cancel()
			delete(m.restoring, p)
			m.hooks.onRestoring(len(m.restoring))
		}
		delete(m.assignedAt, p)
	}
	if lost {
		m.log.Info("partitions lost", zap.Int32s("partitions", ps))
		m.hooks.onRebalance(nil, nil, ps)
		return
	}
	m.log.Info("partitions revoked", zap.Int32s("partitions", ps))
	if len(ps) > 0 {
		m.hooks.onRebalance(nil, ps, nil)
	}
}

// onLost handles partitions lost (the member was kicked out of the group):
// as revoked, and the member is not in the group until it rejoins.
func (m *taskManager) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	m.revoke(lost[m.cfg.InputTopic], true)
	m.mu.Lock()
	m.joined = false
	m.mu.Unlock()
}

// ------------------------------------------------------ the loop's side

// awaitJoined waits until the group client has its assignment, for at most
// limit or until ctx ends.
func (m *taskManager) awaitJoined(ctx context.Context, limit time.Duration) {
	m.mu.Lock()
	joined := m.joined
	m.mu.Unlock()
	if joined {
		return
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-m.joinedCh:
	case <-t.C:
	case <-ctx.Done():
	}
}

// restoreAssigned starts a restore for every assigned partition without a
// task, then installs the restores that ended as tasks (which produce
// through out) and resumes their partitions' fetching on cl. It does not
// wait while the instance has a task: the loop processes the partitions it
// has meanwhile. With none (at start, say) there is nothing to commit, and
// it waits for the restores (awaitRestores) instead of running empty units
// of work. It returns a restore's error (the session ends and starts
// again), nil when ctx ended.
func (m *taskManager) restoreAssigned(ctx context.Context, adm *kadm.Client, out *collector, cl *kgo.Client) error {
	m.mu.Lock()
	m.startRestoresLocked(ctx, adm)
	idle := len(m.tasks) == 0
	m.mu.Unlock()
	if idle {
		m.awaitRestores(ctx)
	}
	return m.installFinished(ctx, out, cl)
}

// startRestoresLocked starts a restore for every assigned partition
// without a task or a restore. Call it with mu held.
func (m *taskManager) startRestoresLocked(ctx context.Context, adm *kadm.Client) {
	var start []int32
	for p := range m.assigned {
		_, dropping := m.drop[p]
		if m.tasks[p] == nil && !dropping && m.restoring[p] == nil {
			start = append(start, p)
		}
	}
	slices.Sort(start)
	for _, p := range start {
		m.startRestoreLocked(ctx, adm, p)
	}
	if len(start) > 0 {
		m.hooks.onRestoring(len(m.restoring))
	}
}

// awaitRestores waits, while the instance has no task, for the restores in
// flight to end together, so that their partitions resume at once: all of
// them, or a second after the first ended (one that waits for an open
// transaction holds back only itself), or ctx. Resuming them one by one
// would cost a partition resumed while a fetch waits for data (up to
// kgo's FetchMaxWait) that long.
func (m *taskManager) awaitRestores(ctx context.Context) {
	var grace <-chan time.Time
	for m.restoresRunning() > 0 {
		select {
		case <-m.finished:
			if grace == nil {
				t := time.NewTimer(time.Second)
				defer t.Stop()
				grace = t.C
			}
		case <-grace:
			return
		case <-ctx.Done():
			return
		}
	}
}

// restoresRunning is the number of restores in flight not ended yet.
func (m *taskManager) restoresRunning() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range m.restoring {
		select {
		case <-r.done:
		default:
			n++
		}
	}
	return n
}

// installFinished installs the restores that ended as tasks (which produce
// through out) and resumes their partitions' fetching on cl. It returns a
// restore's error (the session ends and starts again), nil when ctx ended.
func (m *taskManager) installFinished(ctx context.Context, out *collector, cl *kgo.Client) error {
	m.mu.Lock()
	var finished []int32
	for p, r := range m.restoring {
		select {
		case <-r.done:
			finished = append(finished, p)
		default:
		}
	}
	slices.Sort(finished)
	var resume []int32
	var errs []error
	for _, p := range finished {
		r := m.restoring[p]
		delete(m.restoring, p)
		if r.err != nil {
			errs = append(errs, fmt.Errorf("restore partition %d: %w", p, r.err))
			continue
		}
		if _, dropping := m.drop[p]; dropping || m.tasks[p] != nil {
			continue // revoked meanwhile (onRevoked forgets those) or restored already
		}
		if _, ok := m.assigned[p]; !ok {
			continue
		}
		m.installLocked(p, r.loader, r.took, out)
		resume = append(resume, p)
	}
	if len(finished) > 0 {
		m.hooks.onRestoring(len(m.restoring))
	}
	m.mu.Unlock()
	if len(resume) > 0 {
		cl.ResumeFetchPartitions(map[string][]int32{m.cfg.InputTopic: resume})
	}
	if ctx.Err() != nil {
		return nil
	}
	return errors.Join(errs...)
}

// startRestoreLocked starts partition p's restore beside processing. Call
// it with mu held.
func (m *taskManager) startRestoreLocked(ctx context.Context, adm *kadm.Client, p int32) {
	rctx, cancel := context.WithCancel(ctx)
	r := &restoring{cancel: cancel, done: make(chan struct{})}
	m.restoring[p] = r
	m.restores.Add(1)
	go func() {
		defer m.restores.Done()
		defer func() {
			close(r.done)
			select {
			case m.finished <- struct{}{}:
			default:
			}
		}()
		defer cancel()
		select {
		case m.slots <- struct{}{}:
		case <-rctx.Done():
			r.err = rctx.Err()
			return
		}
		defer func() { <-m.slots }()
		var loaded map[int32]*state.Loader
		loaded, r.took, r.err = m.load(rctx, adm, []int32{p})
		r.loader = loaded[p]
	}()
}

// restoreNow restores partitions ps, whose records were fetched before
// they have a task, and starts their tasks: a restore in flight is waited
// for, the others are read here. Fetching is paused until a partition is
// restored, so this is the exception (a fetch that raced the pause).
func (m *taskManager) restoreNow(ctx context.Context, adm *kadm.Client, out *collector, ps []int32) error {
	var read []int32
	for _, p := range ps {
		m.mu.Lock()
		r := m.restoring[p]
		m.mu.Unlock()
		if r == nil {
			read = append(read, p)
			continue
		}
		select {
		case <-r.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		m.mu.Lock()
		if m.restoring[p] == r {
			delete(m.restoring, p)
			m.hooks.onRestoring(len(m.restoring))
		}
		if r.err == nil && m.tasks[p] == nil {
			m.installLocked(p, r.loader, r.took, out)
		}
		m.mu.Unlock()
		if r.err != nil {
			return r.err
		}
	}
	if len(read) == 0 {
		return nil
	}
	loaded, took, err := m.load(ctx, adm, read)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range read {
		m.installLocked(p, loaded[p], took, out)
	}
	return nil
}

// load reads the state of partitions ps from the changelog. Under
// exactly-once it first waits until the group's committed offsets of ps
// are stable: a transaction of the partitions' previous owner may still be
// pending (KIP-447 lets it commit after the rebalance), and the state must
// be read after its changelog records are decided, as the consumer reads
// its offsets only then.
func (m *taskManager) load(ctx context.Context, adm *kadm.Client, ps []int32) (map[int32]*state.Loader, time.Duration, error) {
	start := time.Now()
	if m.cfg.Guarantee == ExactlyOnce {
		if err := waitStableOffsets(ctx, adm, m.cfg.Group, m.cfg.InputTopic, ps); err != nil {
			return nil, 0, err
		}
	}
	loaded, err := m.reader.read(ctx, adm, ps)
	return loaded, time.Since(start), err
}

// installLocked starts partition p's task on its restored state, producing
// through out. Call it with mu held.
func (m *taskManager) installLocked(p int32, l *state.Loader, took time.Duration, out *collector) {
	st := l.Store
	// Nothing can be due: the changelog was written after the engine ran
	// what was due.
	m.pipe.engine.Restored(st)
	st.Commit()
	m.distrustFutureClock(p, st)
	phases := make([]*state.Store, len(m.pipe.phases))
	for i, e := range m.pipe.phases {
		phases[i] = state.New()
		if i < len(l.Phases) {
			phases[i] = l.Phases[i].Store
		}
		e.Restored(phases[i])
		phases[i].Commit()
		m.distrustFutureClock(p, phases[i])
	}
	now := time.Now()
	t := &task{partition: p, store: st, phases: phases, resume: l.InputOffset, next: l.InputOffset, committed: l.InputOffset,
		handle: m.pipe.handler(), pipe: m.pipe, produce: out.add, lastInput: now, moveClock: st.StreamTime(), moveArrival: now}
	t.start(&m.work)
	m.tasks[p] = t
	m.stats[p] = st.Stats()
	delete(m.lag, p)
	m.log.Info("partition restored", zap.Int32("partition", p), zap.Int("records", l.Records),
		zap.Int("channels", st.Len()), zap.Duration("took", took))
	m.hooks.onRestore(p, l.Records, took)
	if at, ok := m.assignedAt[p]; ok {
		m.hooks.onResume(p, now.Sub(at))
		delete(m.assignedAt, p)
	}
}

// distrustFutureClock lowers a restored clock that is later than wall time
// + max-clock-skew: no event this version accepts can have set it (an
// event's timestamp may not be later than its Kafka record's + skew), so it
// was set by an earlier version, which had no such check, or the host's
// clock is far behind. Trusting it would expire everything open at once.
// It becomes the latest event time of the partition's channels that is
// plausible, the value is written to the changelog at the next commit, and
// a warning says so.
func (m *taskManager) distrustFutureClock(p int32, st *state.Store) {
	limit := time.Now().Add(m.cfg.MaxClockSkew).UnixNano()
	if st.StreamTime() <= limit {
		return
	}
	var clock int64
	st.Range(func(c *state.Channel) bool {
		if c.LastEventAt <= limit {
			clock = max(clock, c.LastEventAt)
		}
		return true
	})
	m.log.Warn("restored a partition clock later than wall time + max-clock-skew; lowered to the latest plausible event time",
		zap.Int32("partition", p), zap.Time("restored", time.Unix(0, st.StreamTime()).UTC()),
		zap.Time("lowered_to", time.Unix(0, clock).UTC()))
	st.ResetStreamTime(clock)
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

// dispatch hands every fetched partition's records to its task's worker,
// restoring first a partition fetched before it has a task (restoreNow;
// its task produces through out).
func (m *taskManager) dispatch(ctx context.Context, adm *kadm.Client, out *collector, fetches kgo.Fetches) error {
	var missing []int32
	m.mu.Lock()
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) > 0 && m.tasks[fp.Partition] == nil {
			missing = append(missing, fp.Partition)
		}
	})
	m.mu.Unlock()
	if len(missing) > 0 {
		if err := m.restoreNow(ctx, adm, out, missing); err != nil {
			return fmt.Errorf("restore partitions %v: %w", missing, err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		t := m.tasks[fp.Partition]
		m.work.Add(1)
		// The worker always drains its queue, so this send ends.
		t.in <- job{recs: fp.Records}
	})
	return nil
}

// tick asks every task to check whether its partition is idle (task.idle).
// It does not wait.
func (m *taskManager) tick(now time.Time) {
	if m.cfg.IdleTimeout <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.tasks {
		m.work.Add(1)
		t.in <- job{tick: now}
	}
}

// settle waits until every worker has done all it was handed. It returns
// the number of input records processed since the last settle and the
// workers' errors.
func (m *taskManager) settle() (int, error) {
	m.work.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	m.advanced = 0
	var errs []error
	for _, t := range m.tasks {
		n += t.processed
		t.processed = 0
		m.advanced += t.advances
		t.advances = 0
		if t.err != nil {
			errs = append(errs, t.err)
		}
	}
	return n, errors.Join(errs...)
}

// produceChangelogs has every worker produce its partition's changelog
// records through its collector, and settles.
func (m *taskManager) produceChangelogs() {
	j := &changelogJob{topic: m.cfg.ChangelogTopic()}
	m.mu.Lock()
	for _, t := range m.tasks {
		m.work.Add(1)
		t.in <- job{changelog: j}
	}
	m.mu.Unlock()
	m.work.Wait()
}

// commit makes every task's current state the one a rollback returns to,
// and refreshes the counts status reports. Call it after settle.
func (m *taskManager) commit() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p, t := range m.tasks {
		t.commit()
		m.stats[p] = t.store.Stats()
	}
}

// rollback returns every task to its last commit. Call it after settle.
func (m *taskManager) rollback() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.tasks {
		t.rollback()
	}
}

// dropRevoked drops the tasks of revoked partitions and stops their
// workers; call it after settle.
func (m *taskManager) dropRevoked() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := range m.drop {
		if t := m.tasks[p]; t != nil {
			t.stop()
		}
		delete(m.tasks, p)
		delete(m.drop, p)
	}
}

// dropAll waits for the workers, drops every task and forgets the
// assignment, so that state is restored from the changelog again: the
// group client is being torn down.
func (m *taskManager) dropAll() {
	m.work.Wait()
	m.mu.Lock()
	for _, r := range m.restoring {
		r.cancel()
	}
	if len(m.restoring) > 0 {
		clear(m.restoring)
		m.hooks.onRestoring(0)
	}
	m.mu.Unlock()
	m.restores.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.tasks {
		t.stop()
	}
	clear(m.tasks)
	clear(m.drop)
	clear(m.assignedAt)
	m.joined = false
	clear(m.assigned)
}

// noteLag records each fetched input partition's consumer lag.
func (m *taskManager) noteLag(fetches kgo.Fetches) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 || fp.Topic != m.cfg.InputTopic {
			return
		}
		end := fp.HighWatermark
		if m.cfg.Guarantee == ExactlyOnce && fp.LastStableOffset >= 0 {
			end = fp.LastStableOffset // read_committed reads no further
		}
		m.lag[fp.Partition] = max(0, end-(fp.Records[len(fp.Records)-1].Offset+1))
	})
}

// ------------------------------------------------------- the state API's side

// assignment is a snapshot of the task manager, for readiness and status.
type assignment struct {
	// joined: in the group (see taskManager.joined).
	joined bool
	// assigned is the number of input partitions assigned.
	assigned int
	// partitions are the restored partitions (tasks not being dropped),
	// in order; restoring the assigned partitions without a usable
	// task, in order.
	partitions []PartitionStatus
	restoring  []int32
}

// snapshot returns the assignment and each restored partition's counts as
// of its last commit.
func (m *taskManager) snapshot() assignment {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := assignment{joined: m.joined, assigned: len(m.assigned)}
	for p, t := range m.tasks {
		if _, dropping := m.drop[p]; dropping {
			continue
		}
		lag, ok := m.lag[p]
		if !ok {
			lag = -1
		}
		a.partitions = append(a.partitions, PartitionStatus{Partition: p, Stats: m.stats[p], Lag: lag, Committed: t.committed})
	}
	a.restoring = m.restoringLocked()
	slices.SortFunc(a.partitions, func(x, y PartitionStatus) int { return int(x.Partition - y.Partition) })
	return a
}

// restoringLocked returns the assigned partitions without a usable task, in
// order.
func (m *taskManager) restoringLocked() []int32 {
	var ps []int32
	for p := range m.assigned {
		if _, dropping := m.drop[p]; m.tasks[p] == nil || dropping {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	return ps
}

// owned returns the input partitions assigned to this instance or held by
// its tasks, in order; not those revoked whose tasks wait for the next
// settle point to be dropped (another member owns them already).
func (m *taskManager) owned() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := slices.Collect(maps.Keys(m.assigned))
	for p := range m.tasks {
		if _, dropping := m.drop[p]; !dropping { // revoked: another member's now
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	return slices.Compact(ps)
}

// held returns the partitions that have a task, in order.
func (m *taskManager) held() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.tasks))
}

// query hands fn to partition p's worker, which runs it on the task's
// committed state (it reads only), and returns a channel closed once fn
// has run. It returns errNotHere when p is neither restored nor assigned
// here, and a *RestoringError when p is assigned and not restored yet.
// The task cannot be dropped while fn is handed over: its worker's queue
// closes only under mu.
func (m *taskManager) query(ctx context.Context, p int32, fn func(*task)) (<-chan struct{}, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tasks[p]
	_, dropping := m.drop[p]
	if t == nil || dropping {
		if _, assigned := m.assigned[p]; assigned {
			return nil, &RestoringError{Partition: p, Restoring: len(m.restoringLocked()), Assigned: len(m.assigned)}
		}
		return nil, errNotHere
	}
	done := make(chan struct{})
	select {
	case t.in <- job{query: func(t *task) { defer close(done); fn(t) }}:
		return done, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("query partition %d: %w", p, ctx.Err())
	}
}
