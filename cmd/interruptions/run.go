package main

import (
	"context"
	"errors"
	"runtime/debug"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/processor"
	"go.uber.org/zap"
)

// engineFlags are the settings `run`, `demo` and `replay` share: the
// matching rules, the plausibility of event time and the output source.
type engineFlags struct {
	maxInterruption positiveDuration
	retention       positiveDuration
	grace           nonNegativeDuration
	source          string
	maxClockSkew    positiveDuration
	maxEvents       int
	maxPhase        phaseMaxima
}

func (f *engineFlags) register(c *command) {
	def := processor.DefaultConfig()
	f.maxInterruption = positiveDuration(def.Engine.MaxInterruption)
	f.retention = positiveDuration(def.Engine.Retention)
	f.grace = nonNegativeDuration(def.Engine.Grace)
	c.fs.Var(&f.maxInterruption, "max-interruption", "an interruption with no resumed or ended within this long after it began (in event time) is expired at that bound; at least 1ms")
	c.fs.Var(&f.retention, "retention", "a channel's timeline is kept this long after its last event; events older than the partition clock minus this are too late (DLQ); at least --max-interruption")
	c.fs.Var(&f.grace, "grace", "publish a closed interruption only once the partition clock reaches its close plus this (0: at once); later changes still publish revisions")
	c.fs.StringVar(&f.source, "source", def.Encoder.Source, "CloudEvent source of the output records")
	c.fs.IntVar(&f.maxEvents, "max-channel-events", def.Engine.MaxChannelEvents, "a new event of a channel that already holds this many timeline events goes to the DLQ as channel-overflow; at least 1")

	c.fs.Var(&f.maxPhase, "max-phase", "with phase records on: a phase with no close within this long after it began is expired at that bound, as phase=duration items, comma separated (alerting=2m,wrap=30m); each phase not given: 24h, or --retention when shorter; the interrupted phase takes --max-interruption")

	f.maxClockSkew = positiveDuration(def.MaxClockSkew)
	c.fs.Var(&f.maxClockSkew, "max-clock-skew", "an event whose data.timestamp is later than its time attribute (run: or its Kafka record timestamp) by more than this goes to the DLQ as timestamp-in-future")
}

func (f *engineFlags) engine() match.EngineConfig {
	return match.EngineConfig{MaxInterruption: time.Duration(f.maxInterruption), Retention: time.Duration(f.retention),
		Grace: time.Duration(f.grace), MaxChannelEvents: f.maxEvents}
}

// nonNegativeDuration is a duration flag that may be zero.
type nonNegativeDuration time.Duration

func (d *nonNegativeDuration) String() string { return time.Duration(*d).String() }

func (d *nonNegativeDuration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return errors.New("must not be negative")
	}
	*d = nonNegativeDuration(v)
	return nil
}

// kafkaFlags are the settings of the Kafka loop.
type kafkaFlags struct {
	engineFlags
	brokers           listFlag
	input, output     string
	dlq, group        string
	phasesTopic       string
	outputMode        *enumFlag
	guarantee         *enumFlag
	transactionalID   string
	instanceID        string
	txnTimeout        positiveDuration
	stallWarning      nonNegativeDuration
	commitInterval    positiveDuration
	sessionTimeout    positiveDuration
	heartbeat         positiveDuration
	idleTimeout       time.Duration
	fetchPartition    byteSize
	memoryLimit       byteSize
	createTopics      bool
	partitions        int
	replicationFactor int
	startTimeout      positiveDuration
	logLevel          string
}

func (f *kafkaFlags) register(c *command) {
	def := processor.DefaultConfig()
	f.engineFlags.register(c)
	f.brokers = listFlag(def.Brokers)
	f.outputMode = &enumFlag{value: "binary", allowed: []string{"binary", "structured"}}
	f.guarantee = &enumFlag{value: "exactly-once", allowed: []string{"exactly-once", "at-least-once"}}
	f.commitInterval = positiveDuration(def.CommitInterval)
	f.sessionTimeout = positiveDuration(def.SessionTimeout)
	f.heartbeat = positiveDuration(def.HeartbeatInterval)
	f.txnTimeout = positiveDuration(def.TransactionTimeout)
	f.stallWarning = nonNegativeDuration(def.CommitStallWarning)
	f.startTimeout = positiveDuration(def.StartTimeout)
	c.fs.Var(&f.brokers, "brokers", "Kafka seed brokers, comma separated")
	c.fs.StringVar(&f.input, "input-topic", def.InputTopic, "topic of VCC channel CloudEvents")
	c.fs.StringVar(&f.output, "output-topic", def.OutputTopic, "topic of interruption records")
	c.fs.StringVar(&f.dlq, "dlq-topic", def.DLQTopic, "dead-letter topic for rejected input, byte for byte with the reason in headers")
	c.fs.StringVar(&f.phasesTopic, "phases-topic", def.PhasesTopic, "topic of phase records (channel.phase.v0: each alerting, connected, held, parked, interrupted and wrap period of a channel, keyed by phaseId, revised like interruption records); empty: phase records off")
	c.fs.StringVar(&f.group, "group", def.Group, "consumer group; the state changelog is <group>-state-changelog")
	c.fs.Var(f.outputMode, "output-mode", "CloudEvents content mode of output records: binary or structured")
	c.fs.Var(f.guarantee, "guarantee", "exactly-once (Kafka transactions) or at-least-once")
	c.fs.StringVar(&f.transactionalID, "transactional-id", "", "transactional id for exactly-once; empty: <group>-<instance-id>, or without --instance-id <group>-<hostname>-<pid>. Give each instance a stable one")
	c.fs.StringVar(&f.instanceID, "instance-id", def.InstanceID, "static group membership (group.instance.id), e.g. the pod name: restarted with the same id within --session-timeout, the instance takes its partitions back without a rebalance; unique per instance; empty: dynamic membership")
	c.fs.Var(&f.txnTimeout, "transaction-timeout", "exactly-once: how long the broker lets a transaction stay open before aborting it (transaction.timeout.ms), which bounds how long a crashed instance's transaction blocks read_committed readers; at least --commit-interval + 5s, at most --session-timeout")
	c.fs.Var(&f.stallWarning, "commit-stall-warning", "a unit of work whose flush and commit take longer than this logs one warning with the likely reason (a rebalance waiting for a member) and counts in commit_stalls_total; 0: a quarter of --session-timeout, at least 2s")
	c.fs.Var(&f.commitInterval, "commit-interval", "how long a transaction (at-least-once: a commit batch) collects input before it commits")
	c.fs.Var(&f.heartbeat, "heartbeat-interval", "how often the member heartbeats to the group coordinator, which is how it learns a rebalance began: in a cooperative rebalance the members that keep their partitions commit again only once every member rejoined; at most a third of --session-timeout")
	c.fs.Var(&f.sessionTimeout, "session-timeout", "how long the group waits for a crashed instance (with --instance-id: also a stopped one) before moving its partitions (session.timeout.ms; the broker bounds it)")
	c.fs.DurationVar(&f.idleTimeout, "idle-timeout", def.IdleTimeout, "when a partition has had no input this long, its clock advances with wall time so open interruptions still expire; 0: off")
	f.fetchPartition = byteSize(def.FetchMaxPartitionBytes)
	c.fs.Var(&f.fetchPartition, "fetch-max-partition-bytes", "input fetched per partition at most (max.partition.fetch.bytes, compressed); the fetched input is most of the process's memory")
	c.fs.Var(&f.memoryLimit, "memory-limit", "soft memory limit of the Go runtime (as GOMEMLIMIT, which applies when this is not set); at least 1.5x the live heap, see README Memory")
	c.fs.BoolVar(&f.createTopics, "create-topics", def.CreateTopics, "create missing topics; when false a missing topic is an error")
	c.fs.IntVar(&f.partitions, "partitions", int(def.Partitions), "partitions of topics created by the processor (the changelog gets the input's count)")
	c.fs.IntVar(&f.replicationFactor, "replication-factor", int(def.ReplicationFactor), "replication factor of created topics; -1: the broker's default")
	c.fs.Var(&f.startTimeout, "start-timeout", "how long to wait for unreachable brokers at start before failing")
	c.fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
}

func (f *kafkaFlags) config() (processor.Config, error) {
	cfg := processor.DefaultConfig()
	cfg.Brokers = f.brokers
	cfg.InputTopic, cfg.OutputTopic, cfg.DLQTopic, cfg.Group = f.input, f.output, f.dlq, f.group
	cfg.PhasesTopic = f.phasesTopic
	mode, err := codec.ParseMode(f.outputMode.value)
	if err != nil {
		return cfg, usageError("output-mode: %v", err)
	}
	cfg.Encoder.Mode = mode
	f.apply(&cfg)
	g, err := processor.ParseGuarantee(f.guarantee.value)
	if err != nil {
		return cfg, usageError("guarantee: %v", err)
	}
	cfg.Guarantee = g
	cfg.TransactionalID = f.transactionalID
	cfg.InstanceID = f.instanceID
	cfg.TransactionTimeout = time.Duration(f.txnTimeout)
	cfg.CommitStallWarning = time.Duration(f.stallWarning)
	cfg.CommitInterval = time.Duration(f.commitInterval)
	cfg.SessionTimeout = time.Duration(f.sessionTimeout)
	cfg.HeartbeatInterval = time.Duration(f.heartbeat)
	cfg.IdleTimeout = f.idleTimeout
	if f.fetchPartition > 1<<30 {
		return cfg, usageError("fetch-max-partition-bytes: at most 1GiB")
	}
	cfg.FetchMaxPartitionBytes = int32(f.fetchPartition)
	cfg.CreateTopics = f.createTopics
	cfg.Partitions = int32(f.partitions)
	cfg.ReplicationFactor = int16(f.replicationFactor)
	cfg.StartTimeout = time.Duration(f.startTimeout)
	if err := cfg.Validate(); err != nil {
		return cfg, usageError("%v", err)
	}
	return cfg, nil
}

func cmdRun(ctx context.Context, args []string, e env) error {
	c := newCommand("run", "Consume VCC channel CloudEvents from Kafka, pair each interruption with the event that ends it,\nand publish one interruption record per interruption.")
	var f kafkaFlags
	f.register(c)
	var sec securityFlags
	sec.register(c)
	var of opsFlags
	of.register(c)
	if err := parseOrHelp(c, args, e); err != nil {
		return err
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	if err := sec.apply(&cfg); err != nil {
		return err
	}
	log, err := newLogger(f.logLevel, false, e.stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	cfg.Logger = log
	log.Info("broker connection", sec.logFields(cfg.Brokers)...)
	f.applyMemoryLimit(log)
	op := of.apply(&cfg)
	r, err := processor.NewRunner(cfg)
	if err != nil {
		return usageError("%v", err)
	}
	if err := op.run(ctx, r, log); err != nil {
		log.Error("processor stopped", zapError(err))
		return err
	}
	log.Info("processor stopped cleanly")
	return nil
}

// applyMemoryLimit sets the Go runtime's soft memory limit from
// --memory-limit; without it GOMEMLIMIT, read by the runtime at start,
// stays in force.
func (f *kafkaFlags) applyMemoryLimit(log *zap.Logger) {
	if f.memoryLimit > 0 {
		debug.SetMemoryLimit(int64(f.memoryLimit))
		log.Info("memory limit set", zap.Int64("bytes", int64(f.memoryLimit)))
	}
}
