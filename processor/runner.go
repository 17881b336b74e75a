package processor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"github.com/interruptions/interruptions/processor/codec"
	"github.com/interruptions/interruptions/processor/match"
	"github.com/interruptions/interruptions/state"
)

// Runner is the Kafka loop: it consumes the input topic in a consumer group,
// keeps one state.Store per assigned partition (restored from the changelog
// once the partition is assigned, or before its first record is processed if
// that comes first; see restoreAssigned), and produces output,
// dead-letter and changelog records, committing them with the input offsets
// as the configured Guarantee says.
//
// A Runner is used once: call Run.
type Runner struct {
	cfg    Config
	log    *zap.Logger
	engine *match.Engine

	// mu guards tasks and drop: group callbacks run on the client's
	// goroutines, everything else on Run's.
	mu    sync.Mutex
	tasks map[int32]*task
	// drop holds partitions revoked or lost since the last safe point;
	// their tasks are dropped there, and restored again if they return.
	drop map[int32]struct{}
	// ops is the assignment, readiness and status (ops.go).
	ops opsState

	// work counts record batches handed to partition workers and not yet
	// processed; settle waits for it (workers.go).
	work sync.WaitGroup
	// sink produces the output and dead-letter records of the current
	// session; set before the session's first task exists.
	sink *sink
}

// task is one assigned input partition and its state.
type task struct {
	partition int32
	store     *state.Store
	// resume is the first input offset the restored state has not seen:
	// records before it are skipped (see restoreResume).
	resume int64
	// next is the input offset after the last record processed, written
	// to the changelog with the state; committed is next at the last
	// commit, where a rollback returns it.
	next, committed int64

	// The partition's worker (workers.go). Between settle points the
	// worker owns store, next, processed and err; the loop touches them
	// only after settle.
	in   chan job
	done chan struct{}
	// processed counts the records processed since the last settle.
	processed int
	// err is the first error of the partition's worker; it processes
	// nothing more once set.
	err error
	// ev and out hold the record being processed and the interruption
	// being emitted, for the hooks.
	ev  match.Event
	out match.Interruption
}

// NewRunner validates cfg and returns a runner.
func NewRunner(cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.TransactionalID == "" {
		host, _ := os.Hostname()
		cfg.TransactionalID = cfg.Group + "-" + host + "-" + strconv.Itoa(os.Getpid())
	}
	return &Runner{
		cfg:    cfg,
		log:    cfg.Logger,
		engine: match.NewEngine(cfg.Engine),
		tasks:  make(map[int32]*task),
		drop:   make(map[int32]struct{}),
	}, nil
}

// Run waits for the brokers, checks or creates the topics, and processes
// until ctx is done. On cancellation it finishes the batch in flight, commits
// it, leaves the group and returns nil. Client failures (a broker restart
// that outlasts the client's retries, an aborted transaction that cannot be
// ended) tear the client down and start again from the last commit, with
// backoff; only fatal errors (authentication, authorization, fencing, bad
// topics) are returned.
func (r *Runner) Run(ctx context.Context) error {
	ctx, unwatch := r.watchShutdown(ctx)
	defer unwatch()
	adminCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(r.cfg.Brokers...)}, r.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	defer adminCl.Close()
	adm := kadm.NewClient(adminCl)
	if err := waitForBrokers(ctx, adm, r.cfg.Brokers, r.cfg.StartTimeout, r.log); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	partitions, err := ensureTopics(ctx, adm, r.cfg, r.log)
	if err != nil {
		return fmt.Errorf("check topics: %w", err)
	}
	r.log.Info("processor starting",
		zap.String("input", r.cfg.InputTopic), zap.Int32("partitions", partitions),
		zap.String("output", r.cfg.OutputTopic), zap.String("dlq", r.cfg.DLQTopic),
		zap.String("changelog", r.cfg.ChangelogTopic()), zap.String("group", r.cfg.Group),
		zap.Stringer("guarantee", r.cfg.Guarantee))

	const minBackoff = time.Second
	backoff := minBackoff
	for {
		began := time.Now()
		err := r.session(ctx, adm)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil || isFatal(err) {
			return err
		}
		if time.Since(began) > time.Minute {
			backoff = minBackoff // a session that ran well is not a repeat failure
		}
		r.log.Warn("client failed; restarting from the last commit", zap.Error(err), zap.Duration("backoff", backoff))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// isFatal reports errors that retrying cannot fix.
func isFatal(err error) bool {
	var missing *MissingTopicError
	return errors.As(err, &missing) ||
		IsAuthenticationError(err) ||
		errors.Is(err, kerr.TopicAuthorizationFailed) ||
		errors.Is(err, kerr.GroupAuthorizationFailed) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed) ||
		errors.Is(err, kerr.ClusterAuthorizationFailed) ||
		errors.Is(err, kerr.ProducerFenced)
}

// clientOpts are the options shared by both guarantees.
func (r *Runner) clientOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(r.cfg.Brokers...),
		kgo.ConsumerGroup(r.cfg.Group),
		kgo.SessionTimeout(r.cfg.SessionTimeout),
		kgo.ConsumeTopics(r.cfg.InputTopic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		kgo.RecordPartitioner(partitioner{changelog: r.cfg.ChangelogTopic(), keyed: kgo.StickyKeyPartitioner(nil)}),
		// Records go out at once: at-least-once latency is one produce
		// round trip, not a linger.
		kgo.ProducerLinger(0),
		// A retriable produce error waits for a metadata refresh before
		// the retry, and refreshes are at most this frequent (default
		// 5s). Under exactly-once a Kafka 4 broker (transactions v2)
		// answers CONCURRENT_TRANSACTIONS when a transaction's first
		// records arrive before the previous one's markers are written:
		// with the default, each such race stalled output for ~5s.
		kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.OnPartitionsAssigned(r.onAssigned),
		kgo.OnPartitionsRevoked(r.onRevoked),
		kgo.OnPartitionsLost(r.onLost),
		kgo.WithLogger(kzapLogger{r.log}),
	}
	return append(append(opts, r.cfg.ClientOpts...), r.cfg.GroupClientOpts...)
}

// onRevoked marks partitions whose state must be dropped at the next safe
// point. It runs on the client's goroutine.
func (r *Runner) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range revoked[r.cfg.InputTopic] {
		r.drop[p] = struct{}{}
		delete(r.ops.assigned, p)
	}
	r.log.Info("partitions revoked", zap.Int32s("partitions", revoked[r.cfg.InputTopic]))
}

// dropRevoked drops the tasks of revoked partitions and stops their
// workers; called between batches, after settle.
func (r *Runner) dropRevoked() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := range r.drop {
		if t := r.tasks[p]; t != nil {
			stopWorker(t)
		}
		delete(r.tasks, p)
		delete(r.drop, p)
	}
}

// dropAll forgets every task and stops its worker, so state is restored
// from the changelog again.
func (r *Runner) dropAll() {
	r.work.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.tasks {
		stopWorker(t)
	}
	clear(r.tasks)
	clear(r.drop)
	r.resetOpsLocked()
}

// session runs one client until ctx is done or the client fails.
func (r *Runner) session(ctx context.Context, adm *kadm.Client) error {
	defer r.dropAll()
	if r.cfg.Guarantee == AtLeastOnce {
		return r.atLeastOnce(ctx, adm)
	}
	return r.exactlyOnce(ctx, adm)
}

// leaveGroup leaves the group within cctx. A session torn down because the
// brokers went away (a restart, an outage) cannot leave at once; its member
// would stay in the group until its session timed out (45s), and the next
// session's join would wait for it all that time. So while Run goes on (ctx
// live), the leave is retried with backoff until the coordinator answers,
// ctx ends, or the session timeout passes (the coordinator has removed the
// member by itself then): waiting here is waiting for the
// brokers, which the next session needs anyway.
func (r *Runner) leaveGroup(ctx, cctx context.Context, cl *kgo.Client) {
	memberID, _ := cl.GroupMetadata()
	err := cl.LeaveGroupContext(cctx)
	if err == nil || memberID == "" || ctx.Err() != nil {
		if err != nil {
			r.log.Warn("leave group", zap.Error(err))
		}
		return
	}
	r.log.Warn("leave group failed; retrying until the coordinator answers", zap.String("member", memberID), zap.Error(err))
	lctx, cancel := context.WithTimeout(ctx, r.cfg.SessionTimeout)
	defer cancel()
	backoff := 250 * time.Millisecond
	for {
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Group = r.cfg.Group
		req.MemberID = memberID
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = memberID
		req.Members = append(req.Members, m)
		resp, err := req.RequestWith(lctx, cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
			for _, m := range resp.Members {
				err = errors.Join(err, kerr.ErrorForCode(m.ErrorCode))
			}
		}
		if err == nil || errors.Is(err, kerr.UnknownMemberID) {
			r.log.Info("left the group", zap.String("member", memberID))
			return // left, or the group forgot the member already
		}
		select {
		case <-lctx.Done():
			r.log.Warn("leave group", zap.Error(err))
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// shutdownCtx bounds the work done after ctx was cancelled: finishing and
// committing the batch in flight, leaving the group. All of it ends within
// Config.ShutdownTimeout of the cancellation (see shutdownDeadline).
func shutdownCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.WithoutCancel(ctx), shutdownDeadline(ctx))
}

// atLeastOnce: poll for CommitInterval with rebalances blocked, the
// partition workers producing outputs and dead letters as they go; then wait
// for their acks, produce the changelog and wait for its acks, commit the
// offsets, and allow rebalancing. A crash between the steps repeats outputs
// with the same ids; it never loses one.
func (r *Runner) atLeastOnce(ctx context.Context, adm *kadm.Client) error {
	cl, err := kgo.NewClient(append(r.clientOpts(), kgo.BlockRebalanceOnPoll())...)
	if err != nil {
		return fmt.Errorf("consumer client: %w", err)
	}
	defer func() {
		cctx, cancel := shutdownCtx(ctx)
		defer cancel()
		r.leaveGroup(ctx, cctx, cl)
		cl.Close()
	}()
	// Records outlive a cancelled ctx: the batch in flight is finished on
	// shutdown, and Flush bounds the wait.
	pctx := context.WithoutCancel(ctx)
	r.sink = newSink(func(rec *kgo.Record, done func(*kgo.Record, error)) { cl.Produce(pctx, rec, done) })
	defer r.work.Wait() // no worker is busy once the client closes
	for {
		r.dropRevoked()
		if err := r.restoreAssigned(ctx, adm); err != nil {
			return err
		}
		polled, err := r.collect(ctx, cl.PollRecords, adm)
		n, werr := r.settle()
		if err = errors.Join(err, werr); err == nil && polled > 0 {
			wctx, cancel := shutdownCtx(ctx)
			err = r.commitAtLeastOnce(wctx, cl, n)
			cancel()
		}
		cl.AllowRebalance()
		if err != nil {
			r.aborted(n)
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// commitAtLeastOnce commits n settled records: it waits for the acks of the
// outputs and dead letters the workers produced, produces the changelog and
// waits for its acks, and commits the offsets.
func (r *Runner) commitAtLeastOnce(ctx context.Context, cl *kgo.Client, n int) error {
	if err := r.flush(ctx, cl, "output and dead-letter"); err != nil {
		return err
	}
	r.produceChangelogs()
	if err := r.flush(ctx, cl, "changelog"); err != nil {
		return err
	}
	r.commitStores()
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	if n > 0 {
		r.committed(n)
	}
	return nil
}

// flush waits until every record the sink was given is acknowledged, and
// returns the errors of those of the named kind.
func (r *Runner) flush(ctx context.Context, cl *kgo.Client, what string) error {
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush %s records: %w", what, err)
	}
	if err := r.sink.take(); err != nil {
		return fmt.Errorf("produce %s records: %w", what, err)
	}
	return nil
}

// exactlyOnce: the transact-session loop. Each transaction collects input
// for CommitInterval; outputs, dead letters, changelog records and offsets
// commit together. When the transaction aborts (a rebalance, a failed
// produce) every store returns to its last committed state and the session
// rewinds to the committed offsets.
func (r *Runner) exactlyOnce(ctx context.Context, adm *kadm.Client) error {
	sess, err := kgo.NewGroupTransactSession(append(r.clientOpts(),
		kgo.TransactionalID(r.cfg.TransactionalID),
		kgo.TransactionTimeout(30*time.Second),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
	)...)
	if err != nil {
		return fmt.Errorf("transact session: %w", err)
	}
	defer func() {
		// Leave within the shutdown budget: Close alone waits for the
		// leave as long as the broker takes.
		cctx, cancel := shutdownCtx(ctx)
		defer cancel()
		r.leaveGroup(ctx, cctx, sess.Client())
		sess.Close()
	}()
	// Produce outlives a cancelled ctx: the batch in flight is finished
	// and committed on shutdown.
	pctx := context.WithoutCancel(ctx)
	r.sink = newSink(func(rec *kgo.Record, done func(*kgo.Record, error)) { sess.Produce(pctx, rec, done) })
	defer r.work.Wait() // no worker is busy once the session closes
	for {
		r.dropRevoked()
		if err := r.restoreAssigned(ctx, adm); err != nil {
			return err
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		_, fetchErr := r.collect(ctx, sess.PollRecords, adm)
		n, werr := r.settle()
		fetchErr = errors.Join(fetchErr, werr)
		if fetchErr == nil {
			r.produceChangelogs()
		}
		wctx, cancel := shutdownCtx(ctx)
		try := kgo.TryCommit
		if fetchErr != nil {
			try = kgo.TryAbort
		}
		committed, endErr := sess.End(wctx, try)
		cancel()
		// End flushed every record: all their promises have run.
		perr := r.sink.take()
		if committed && perr == nil {
			r.commitStores()
			if n > 0 {
				r.committed(n)
			}
		} else {
			r.rollbackStores()
			r.aborted(n)
			if n > 0 {
				r.log.Info("transaction aborted; state rolled back", zap.Int("records", n), zap.NamedError("produce", perr))
			}
		}
		switch {
		case fetchErr != nil:
			return fetchErr
		case endErr != nil:
			return fmt.Errorf("end transaction: %w", endErr)
		case perr != nil && errors.Is(perr, kerr.ProducerFenced):
			return fmt.Errorf("produce in transaction: %w", perr)
		case ctx.Err() != nil:
			return nil
		}
	}
}

// collect polls input for one commit interval and hands it to the
// partition workers. It returns the number of records polled.
func (r *Runner) collect(ctx context.Context, poll func(context.Context, int) kgo.Fetches, adm *kadm.Client) (int, error) {
	deadline := time.Now().Add(r.cfg.CommitInterval)
	polled := 0
	for {
		pctx, cancel := context.WithDeadline(ctx, deadline)
		fetches := poll(pctx, r.cfg.MaxPollRecords)
		cancel()
		if err := fetchError(fetches); err != nil {
			return polled, err
		}
		polled += fetches.NumRecords()
		r.noteLag(fetches)
		wctx, wcancel := shutdownCtx(ctx)
		err := r.dispatch(wctx, adm, fetches)
		wcancel()
		if err != nil {
			return polled, err
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return polled, nil
		}
	}
}

// fetchError returns the first fetch error that is not a context ending or
// a *kgo.ErrGroupSession. The latter only informs (the client logs it and
// rejoins by itself; the lost partitions went through onRevoked, and a
// transact session aborts its transaction): tearing the client down for it
// would make this member leave and rejoin, one more rebalance, and the
// client delivers it late, after a broker outage it reports is long over.
func fetchError(fetches kgo.Fetches) error {
	var first error
	fetches.EachError(func(topic string, p int32, err error) {
		var session *kgo.ErrGroupSession
		if first != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
			errors.As(err, &session) {
			return
		}
		first = fmt.Errorf("fetch %s[%d]: %w", topic, p, err)
	})
	return first
}

func (r *Runner) processRecord(t *task, rec *kgo.Record, produce func(*kgo.Record)) error {
	// The event and the interruption live in the task, not on the heap
	// per record: the hooks receive pointers to them.
	ev := &t.ev
	var err error
	*ev, err = codec.Decode(rec.Value, rec.Headers)
	if err != nil {
		var derr *codec.DecodeError
		if !errors.As(err, &derr) {
			return fmt.Errorf("decode %s[%d]@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
		}
		r.log.Debug("dead letter", zap.Int32("partition", rec.Partition), zap.Int64("offset", rec.Offset), zap.Error(derr))
		produce(codec.DeadLetter(r.cfg.DLQTopic, rec, derr, time.Now()))
		if h := r.cfg.Hooks.OnDeadLetter; h != nil {
			h(rec.Partition, derr)
		}
		return nil
	}
	var encErr error
	d, hk := r.engine.Process(t.store, ev, func(in match.Interruption) {
		out, err := r.cfg.Encoder.Record(r.cfg.OutputTopic, in)
		if err != nil {
			encErr = errors.Join(encErr, err)
			return
		}
		produce(out)
		if h := r.cfg.Hooks.OnOutput; h != nil {
			t.out = in
			h(rec.Partition, &t.out, rec.Timestamp)
		}
	})
	if encErr != nil {
		return fmt.Errorf("encode output for %s[%d]@%d: %w", rec.Topic, rec.Partition, rec.Offset, encErr)
	}
	if d == match.TooLate {
		derr := codec.TooLateError(ev, t.store.StreamTime(), r.cfg.Engine.Retention)
		produce(codec.DeadLetter(r.cfg.DLQTopic, rec, derr, time.Now()))
		if h := r.cfg.Hooks.OnDeadLetter; h != nil {
			h(rec.Partition, derr)
		}
		return nil
	}
	if h := r.cfg.Hooks.OnEvent; h != nil {
		h(rec.Partition, ev, d)
	}
	if h := r.cfg.Hooks.OnHousekeeping; h != nil && hk != (match.Housekeeping{}) {
		h(rec.Partition, hk)
	}
	return nil
}

// task returns the partition's task, restoring its state from the
// changelog first when the partition is new to this instance.
func (r *Runner) task(ctx context.Context, adm *kadm.Client, p int32) (*task, error) {
	r.mu.Lock()
	t := r.tasks[p]
	r.mu.Unlock()
	if t != nil {
		return t, nil
	}
	start := time.Now()
	st, resume, n, err := restoreResume(ctx, adm, r.cfg, p)
	if err != nil {
		return nil, fmt.Errorf("restore partition %d: %w", p, err)
	}
	// Nothing can be due: the changelog was written after Advance ran.
	r.engine.Restored(st, func(match.Interruption) {})
	st.Commit()
	t = &task{partition: p, store: st, resume: resume, next: resume, committed: resume}
	r.startWorker(t)
	r.mu.Lock()
	r.tasks[p] = t
	r.mu.Unlock()
	r.log.Info("partition restored", zap.Int32("partition", p), zap.Int("records", n),
		zap.Int("channels", st.Len()), zap.Duration("took", time.Since(start)))
	r.restored(p, st, n, time.Since(start))
	return t, nil
}

// changelogRecords returns one record per state change of t's store, one
// if its stream time moved, and last one for its next input offset. Only
// t's worker (or the loop after settle) may call it.
func (r *Runner) changelogRecords(t *task) []kgo.Record {
	topic := r.cfg.ChangelogTopic()
	p := t.partition
	changes := t.store.Changes()
	// One allocation for the records and one buffer for all keys and
	// values (grown as needed; each record keeps its own sub-slice).
	recs := make([]kgo.Record, 0, len(changes)+2)
	buf := make([]byte, 0, len(changes)*256)
	add := func(key string, value func([]byte) []byte) {
		start := len(buf)
		buf = append(buf, key...)
		mid := len(buf)
		if value != nil {
			buf = value(buf)
		}
		recs = append(recs, kgo.Record{Topic: topic, Partition: p, Key: buf[start:mid:mid]})
		if value != nil {
			recs[len(recs)-1].Value = buf[mid:len(buf):len(buf)]
		}
	}
	for _, ch := range changes {
		if ch.Channel == nil {
			add(ch.ChannelID, nil) // a tombstone
			continue
		}
		add(ch.ChannelID, func(b []byte) []byte { return state.AppendChannel(b, ch.Channel) })
	}
	if t.store.StreamTimeChanged() {
		add(state.StreamTimeKey, func(b []byte) []byte { return state.AppendStreamTime(b, t.store.StreamTime()) })
	}
	if t.next != t.committed {
		add(inputOffsetKey, func(b []byte) []byte { return state.AppendStreamTime(b, t.next) })
	}
	return recs
}

func (r *Runner) commitStores() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.tasks {
		t.store.Commit()
		t.committed = t.next
	}
}

func (r *Runner) rollbackStores() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.tasks {
		t.store.Rollback()
		t.next = t.committed
	}
}

// partitioner sends changelog records to the partition set on the record
// (the input partition they belong to) and hashes keys for every other
// topic, as Kafka's default partitioner does.
type partitioner struct {
	changelog string
	keyed     kgo.Partitioner
}

func (p partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if topic == p.changelog {
		return kgo.ManualPartitioner().ForTopic(topic)
	}
	return p.keyed.ForTopic(topic)
}
