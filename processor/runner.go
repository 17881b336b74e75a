package processor

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/state"
)

// Runner is the Kafka runtime (Kafka Streams' StreamThread): it consumes the
// input topic in a consumer group and runs one loop,
//
//	poll → dispatch to the tasks' workers → settle → flush → changelog → flush → commit (or abort)
//
// over a guarantee (guarantee.go) that says how each step is done and owns
// the client and its producer side, the collector (collector.go) the tasks
// produce through. The taskManager (tasks.go) owns the tasks, one per
// assigned partition with its state (task.go), restored from the changelog
// (restore.go) when the partition is assigned.
//
// A Runner is used once: call Run.
type Runner struct {
	cfg   Config
	log   *zap.Logger
	hooks hooks
	pipe  pipeline
	tm    *taskManager

	// started is set by Run, stopping once Run's context ended; read by
	// Ready and Status.
	started, stopping atomic.Bool
	shutdown          shutdownBudget
	// inputPartitions and adm are set once Run has checked the topics;
	// the state API reads them (query.go).
	inputPartitions atomic.Int32
	adm             atomic.Pointer[kadm.Client]
	health          health // how units of work end, for Ready (health.go)
	stall           stallWatch
	// limits are the record size limits: the topics' max.message.bytes
	// and the engine's changelog value limit (topics.go).
	limits *recordLimits
	// fence fences the members that left the group with a transaction
	// open (exactly-once; nil under at-least-once).
	fence *fencer
}

// NewRunner validates cfg and returns a runner.
func NewRunner(cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	cfg.TransactionalID = cfg.transactionalID()
	r := &Runner{cfg: cfg, log: cfg.Logger, hooks: newHooks(cfg.Hooks)}
	r.shutdown.timeout = cfg.ShutdownTimeout
	r.pipe = pipeline{cfg: &r.cfg, log: r.log, engine: match.NewEngine(cfg.Engine), hooks: &r.hooks}
	if cfg.PhasesTopic != "" {
		for _, pc := range match.PhaseConfigs(cfg.Engine, cfg.MaxPhase) {
			r.pipe.phases = append(r.pipe.phases, match.NewEngine(pc))
		}
	}
	r.tm = newTaskManager(&r.cfg, r.log, &r.hooks, &r.pipe)
	r.limits = newRecordLimits(&r.cfg, r.pipe.engine, r.pipe.phases, r.log)
	if r.cfg.Guarantee == ExactlyOnce {
		r.fence = newFencer(&r.cfg, r.log)
	}
	r.stall = stallWatch{bound: cfg.commitStallBound(), log: r.log, hooks: &r.hooks, now: time.Now}
	r.hooks.rebalance = append(r.hooks.rebalance, &r.stall) // the time of the last assignment change
	return r, nil
}

// Run waits for the brokers, checks or creates the topics, and processes
// until ctx is done. On cancellation it finishes the batch in flight, commits
// it, leaves the group and returns nil, within Config.ShutdownTimeout.
// Client failures (a broker restart that outlasts the client's retries, an
// aborted transaction that cannot be ended) tear the client down and start
// again from the last commit, with backoff; only fatal errors
// (authentication, authorization, fencing, bad topics, a changelog record
// refused as too large that no new max.message.bytes explains:
// *RecordTooLargeError) are returned. A record refused because a topic's
// max.message.bytes changed starts a new session at once, with the new
// limits (recordLimits in topics.go).
func (r *Runner) Run(ctx context.Context) error {
	r.started.Store(true)
	unwatch := context.AfterFunc(ctx, func() {
		r.shutdown.begin()
		r.stopping.Store(true)
		r.log.Info("stopping: finishing the batch in flight, committing, leaving the group",
			zap.Duration("shutdown_timeout", r.shutdown.timeout))
	})
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
	// No changelog record may exceed the changelog's max.message.bytes,
	// and no batch its topic's: read them before the first client.
	if err := r.limits.load(ctx, adm); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("check topics: %w", err)
	}
	r.inputPartitions.Store(partitions)
	r.adm.Store(adm)
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
		r.health.sessionEnded(err)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil || isFatal(err) {
			return err
		}
		if errors.Is(err, errLimitsChanged) {
			// Logged with the new limits (recordLimits.refused); each
			// restart needs a new limit, so this cannot spin.
			backoff = minBackoff
			continue
		}
		if time.Since(began) > time.Minute {
			backoff = minBackoff // a session that ran well is not a repeat failure
		}
		if errors.Is(err, kerr.ProducerFenced) {
			// A member out of the group (paused past its session
			// timeout) is fenced by the one that took its partitions
			// (fencer): it rejoins with a new session, as Kafka
			// Streams does for a migrated task.
			r.log.Warn("this instance's transactional producer was fenced: it left the group (a pause longer than --session-timeout) "+
				"and another member fenced it, or another process uses its transactional id (two instances with one --instance-id); "+
				"restarting from the last commit", zap.String("transactional_id", r.cfg.TransactionalID), zap.Duration("backoff", backoff))
		} else {
			r.log.Warn("client failed; restarting from the last commit", zap.Error(err), zap.Duration("backoff", backoff))
		}
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
	var oldFormat *state.OldFormatError
	var tooLarge *RecordTooLargeError
	return errors.As(err, &missing) || errors.As(err, &oldFormat) || errors.As(err, &tooLarge) ||
		IsAuthenticationError(err) ||
		errors.Is(err, kerr.TopicAuthorizationFailed) ||
		errors.Is(err, kerr.GroupAuthorizationFailed) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed) ||
		errors.Is(err, kerr.ClusterAuthorizationFailed)
}

// clientOpts are the group client's options, shared by both guarantees.
func (r *Runner) clientOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(r.cfg.Brokers...),
		kgo.ConsumerGroup(r.cfg.Group),
		kgo.SessionTimeout(r.cfg.SessionTimeout),
		kgo.HeartbeatInterval(r.cfg.HeartbeatInterval),
		kgo.ConsumeTopics(r.cfg.InputTopic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		kgo.FetchMaxPartitionBytes(r.cfg.FetchMaxPartitionBytes),
		// A partition resumed after its restore is fetched with the
		// next fetch request; one waiting for data on the same broker
		// waits at most this long (kgo's default 5s; the Java
		// consumer's fetch.max.wait.ms).
		kgo.FetchMaxWait(500 * time.Millisecond),
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
		// No batch larger than its topic's max.message.bytes (franz-go's
		// default is 1,000,012 for every topic).
		kgo.ProducerBatchMaxBytesFn(r.limits.batchMax),
		kgo.OnPartitionsAssigned(r.rebalancing(r.tm.onAssigned)),
		kgo.OnPartitionsRevoked(r.rebalancing(r.tm.onRevoked)),
		kgo.OnPartitionsLost(r.rebalancing(r.tm.onLost)),
		kgo.WithLogger(kzapLogger{r.log}),
		kgo.WithHooks(joinWatch{&r.stall}),
	}
	if r.cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(r.cfg.InstanceID))
	}
	if r.fence != nil {
		// The members' transactional ids are in the group's
		// description, for the fencer.
		opts = append(opts, kgo.ClientID(r.cfg.TransactionalID))
	}
	return append(append(opts, r.cfg.ClientOpts...), r.cfg.GroupClientOpts...)
}

// rebalancing returns the group callback fn, telling the fencer (when
// there is one) of each call first: assigned and revoked are called at
// every rebalance, empty or not, so the fencer looks at the group again
// after each.
func (r *Runner) rebalancing(fn func(context.Context, *kgo.Client, map[string][]int32)) func(context.Context, *kgo.Client, map[string][]int32) {
	if r.fence == nil {
		return fn
	}
	return func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
		r.fence.rebalanced()
		fn(ctx, cl, m)
	}
}

// session runs one group client until ctx is done or the client fails.
// One unit of work per iteration, in commit order:
//
//	install finished restores → begin → poll → dispatch → settle → flush outputs → produce changelog → flush → commit (or abort)
//
// then the tasks commit or roll back. Restores run beside the loop
// (taskManager.restoreAssigned): a partition being restored is paused, and
// the others go on committing. The guarantee owns the client and the
// record collector the tasks produce through; nothing is swapped per
// session and the guarantee calls nothing back.
//
// Shutdown, in this order: the loop ends (the batch in flight committed),
// the workers are waited for, the member leaves the group within the
// shutdown budget, the client closes, and the tasks are dropped (their
// state is restored again by the next session).
func (r *Runner) session(ctx context.Context, adm *kadm.Client) error {
	var (
		g   guarantee
		err error
	)
	if r.cfg.Guarantee == AtLeastOnce {
		g, err = newAtLeastOnce(ctx, r.clientOpts())
	} else {
		g, err = newExactlyOnce(ctx, r.clientOpts(), &r.cfg)
	}
	if err != nil {
		return err
	}
	g = r.health.watch(g)
	out := g.collector()
	defer func() {
		r.tm.work.Wait() // no worker is busy once the client closes
		// Leave within the shutdown budget: Close alone waits for the
		// leave as long as the broker takes.
		lctx, cancel := r.shutdown.context(ctx)
		leaveGroup(ctx, lctx, g.client(), r.cfg.Group, r.log)
		cancel()
		g.close()
		r.tm.dropAll()
	}()
	// The first unit of work waits for the group's first assignment (at
	// most a session timeout): before it there is nothing to poll, and
	// under exactly-once an empty transaction's End holds the session for
	// 500ms (franz-go learns the broker's KIP-447 support only from an
	// offset commit), which would delay the first commit by as much.
	r.tm.awaitJoined(ctx, r.cfg.SessionTimeout)
	for {
		r.tm.dropRevoked()
		if r.fence != nil {
			// Before the restores: a moved partition's restore waits
			// for its previous owner's open transaction.
			r.fence.look(ctx, adm)
		}
		if err := r.tm.restoreAssigned(ctx, adm, out, g.client()); err != nil {
			return err
		}
		if err := g.begin(); err != nil {
			return err
		}
		polled, pollErr := r.collect(ctx, g, adm)
		r.tm.tick(time.Now())
		n, werr := r.tm.settle()
		pollErr = errors.Join(pollErr, werr)
		wctx, cancel := r.shutdown.context(ctx)
		unit := r.stall.begin()
		end := r.end(wctx, g, pollErr == nil, polled+r.tm.advanced)
		r.stall.ended(unit, end.committed)
		cancel()
		if end.committed {
			r.tm.commit()
			// An idle advance's expiries commit with no input: the
			// hooks see them in this commit, not the next one with
			// input (or never, if that one aborts).
			if n > 0 || r.tm.advanced > 0 {
				r.hooks.onCommit(n)
			}
		} else {
			r.tm.rollback()
			r.hooks.onAbort(n)
			if n > 0 {
				r.log.Info("transaction aborted; state rolled back", zap.Int("records", n),
					zap.NamedError("poll", pollErr), zap.NamedError("end", end.err), zap.NamedError("refused", end.refused))
			}
		}
		// A record refused as too large: new limits and a new session,
		// or a stop; never a changelog record again unchanged
		// (recordLimits).
		if tl := tooLargeRecords(end.refused, end.err); len(tl) > 0 && ctx.Err() == nil {
			if err := r.limits.refused(ctx, adm, tl); err != nil {
				return err
			}
		}
		switch {
		case pollErr != nil:
			return pollErr
		case end.err != nil:
			return end.err
		case ctx.Err() != nil:
			return nil
		}
	}
}

// end ends the unit of work the loop settled, in commit order: the outputs
// and dead letters acknowledged (at-least-once; exactly-once flushes them
// with the rest), the changelog produced, every record acknowledged, and
// the commit. It aborts instead when the poll or a worker failed (ok false)
// or a flush did. work is the number of records polled plus idle advances.
func (r *Runner) end(ctx context.Context, g guarantee, ok bool, work int) outcome {
	if !ok {
		return g.abort(ctx, nil)
	}
	if work > 0 || g.transactional() {
		if err := g.flushOutputs(ctx); err != nil {
			return g.abort(ctx, err)
		}
		r.tm.produceChangelogs()
		if err := g.flush(ctx); err != nil {
			return g.abort(ctx, err)
		}
	}
	return g.commit(ctx)
}

// collect polls input for one commit interval and hands it to the tasks.
// It returns the number of records polled.
func (r *Runner) collect(ctx context.Context, g guarantee, adm *kadm.Client) (int, error) {
	deadline := time.Now().Add(r.cfg.CommitInterval)
	polled := 0
	for {
		pctx, cancel := context.WithDeadline(ctx, deadline)
		fetches := g.poll(pctx, r.cfg.MaxPollRecords)
		cancel()
		if err := fetchError(fetches); err != nil {
			return polled, err
		}
		polled += fetches.NumRecords()
		r.tm.noteLag(fetches)
		wctx, wcancel := r.shutdown.context(ctx)
		err := r.tm.dispatch(wctx, adm, g.collector(), fetches)
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

// partitioner sends changelog records to the partition set on the record
// (the input partition they belong to) and hashes keys for every other
// topic, as Kafka's default partitioner does.
type partitioner struct {
	changelog string
	keyed     kgo.Partitioner
}

// ForTopic implements kgo.Partitioner.
func (p partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if topic == p.changelog {
		return kgo.ManualPartitioner().ForTopic(topic)
	}
	return p.keyed.ForTopic(topic)
}
