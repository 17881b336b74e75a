package processor

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Guarantee is the processing guarantee of the Kafka loop.
type Guarantee uint8

// The guarantees.
const (
	// ExactlyOnce: output, DLQ and changelog records and input offsets
	// commit in one Kafka transaction.
	ExactlyOnce Guarantee = iota
	// AtLeastOnce: produce, wait for acks, then commit offsets. After a
	// crash records may repeat, always with identical ids.
	AtLeastOnce
)

// ParseGuarantee parses "exactly-once" or "at-least-once".
func ParseGuarantee(s string) (Guarantee, error) {
	switch s {
	case "exactly-once":
		return ExactlyOnce, nil
	case "at-least-once":
		return AtLeastOnce, nil
	}
	return 0, fmt.Errorf("guarantee %q is not exactly-once or at-least-once", s)
}

// String returns "exactly-once" or "at-least-once".
func (g Guarantee) String() string {
	if g == AtLeastOnce {
		return "at-least-once"
	}
	return "exactly-once"
}

// Config configures a Runner. Start from DefaultConfig; every field's doc
// names its default and the Kafka setting it maps to, if any.
type Config struct {
	// Brokers are the seed brokers. Default ["localhost:9092"]
	// (bootstrap.servers).
	Brokers []string
	// InputTopic is consumed. Default "channel-events".
	InputTopic string
	// OutputTopic receives one record per closed interruption. Default
	// "channel-interruptions".
	OutputTopic string
	// DLQTopic receives rejected input, byte for byte. Default
	// "channel-events.dlq".
	DLQTopic string
	// PhasesTopic, when not empty, turns the phase records on: one
	// channel.phase.v0 record per period of each phase of a channel
	// (match.Phases), keyed by phaseId. Default "" (off).
	PhasesTopic string
	// MaxPhase holds the phases' maxima by name (match.PhaseConfigs): a
	// phase not closed by its start + this is expired there. A phase not
	// in it has match.DefaultMaxPhase, or Engine.Retention when shorter;
	// the interrupted phase has Engine.MaxInterruption.
	MaxPhase map[string]time.Duration
	// Group is the consumer group. Default "interruptions" (group.id).
	// The state changelog topic is "<Group>-state-changelog".
	Group string
	// Guarantee: ExactlyOnce (default) or AtLeastOnce.
	Guarantee Guarantee
	// TransactionalID for ExactlyOnce (transactional.id). Default, with
	// InstanceID: "<Group>-<InstanceID>", stable across restarts, so a
	// restarted instance fences its predecessor and aborts its open
	// transaction at once; without: "<Group>-<hostname>-<pid>", new with
	// every process. Give each instance a stable, unique one.
	TransactionalID string
	// InstanceID makes the instance a static member of the group
	// (group.instance.id, KIP-345): restarted with the same id within
	// SessionTimeout, it takes its partitions back without a rebalance.
	// A static member does not leave the group when it stops: its
	// partitions wait for it for SessionTimeout. Each running instance
	// needs its own (a pod name). Default "" (dynamic membership). At
	// most 249 of a-z A-Z 0-9 . _ - (Kafka's rule), not "." or "..".
	InstanceID string
	// TransactionTimeout is how long the broker lets a transaction of
	// ExactlyOnce stay open before it aborts it (transaction.timeout.ms),
	// and so how long a crashed instance's open transaction holds back
	// read_committed readers of the output and the changelog restore of
	// its partitions. Default 10s (as Kafka Streams under exactly-once).
	// Under ExactlyOnce it must be at least CommitInterval plus 5s (a
	// live transaction the broker aborts fences its producer), at most
	// SessionTimeout (moved partitions then never wait for the dead
	// transaction longer than for the dead member), and at most 15m
	// (the broker's default transaction.max.timeout.ms).
	TransactionTimeout time.Duration
	// CommitInterval is how long one transaction or commit batch collects
	// input before it commits. Default 100ms.
	CommitInterval time.Duration
	// Engine holds the matching rules. Defaults: 24h, 24h. Retention must
	// be at least MaxInterruption. MaxChannelEvents (--max-channel-events)
	// defaults to DefaultMaxChannelEvents and must be at least 1.
	Engine match.EngineConfig
	// MaxClockSkew is how much later than its time attribute, or than its
	// Kafka record timestamp, an event's data.timestamp may be; a later
	// one is implausible and goes to the DLQ as timestamp-in-future
	// (codec.CheckTime). Default codec.DefaultMaxClockSkew (5m).
	MaxClockSkew time.Duration
	// Encoder sets the output records' source and content mode. Default
	// source "/interruptions", mode codec.Binary.
	Encoder cekafka.Encoder
	// CreateTopics creates missing topics at start. Default true. When
	// false, a missing topic is an error that names it.
	CreateTopics bool
	// Partitions of topics the runner creates. Default 6 (num.partitions).
	// The changelog always gets the input topic's partition count.
	Partitions int32
	// ReplicationFactor of topics the runner creates; -1 uses the broker's
	// default. Default -1 (default.replication.factor).
	ReplicationFactor int16
	// StartTimeout bounds the wait for the brokers at start. Default 30s.
	StartTimeout time.Duration
	// MaxPollRecords bounds the records taken from one poll. Default 10000.
	MaxPollRecords int
	// FetchMaxPartitionBytes bounds what one fetch returns per partition
	// (max.partition.fetch.bytes; compressed). The fetched input is the
	// largest part of the process's memory: about brokers × assigned
	// partitions × this × (1 + the compression ratio, ~5 for JSON with
	// snappy). Default 256 KiB (Kafka's and franz-go's default is 1 MiB,
	// which keeps ~4× more input in memory for no throughput gained).
	FetchMaxPartitionBytes int32
	// Logger receives the runner's logs. Default zap.NewNop().
	Logger *zap.Logger
	// Hooks observe what the runner does (hooks.go): each implements any
	// of the Hook* interfaces. Default none.
	Hooks []Hook
	// ClientOpts are extra franz-go options for every client (TLS, SASL,
	// test hooks). Applied after the runner's own.
	ClientOpts []kgo.Opt
	// GroupClientOpts are extra franz-go options for the group client only
	// (the consumer and producer of the processing loop, rebuilt after a
	// client failure), applied after ClientOpts: for example kprom's
	// metrics hooks, which must not see the admin and restore clients.
	GroupClientOpts []kgo.Opt
	// IdleTimeout: when an input partition has had no input for this
	// long, its clock advances with wall time from the arrival of the
	// event that last moved it, less IdleTimeout, so that what is open
	// there expires although no traffic comes (see task.idle). Default 1m;
	// 0 turns it off.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds the work done once Run's context ends:
	// finishing, committing the batch in flight and leaving the group.
	// Default 30s.
	ShutdownTimeout time.Duration
	// SessionTimeout is how long the group coordinator waits for a silent
	// member (a crashed instance) before moving its partitions. Default 45s
	// (session.timeout.ms); the broker bounds it by
	// group.min.session.timeout.ms and group.max.session.timeout.ms.
	SessionTimeout time.Duration
	// HeartbeatInterval is how often the member heartbeats to the group
	// coordinator, which is how it learns that a rebalance began.
	// Default 250ms (Kafka's is 3s): in a cooperative rebalance a member
	// that kept its partitions cannot commit until every member rejoined
	// the second round, and a member learns of that round at its next
	// heartbeat (franz-go checks once after 500ms otherwise). At most a
	// third of SessionTimeout.
	HeartbeatInterval time.Duration
	// CommitStallWarning bounds how long ending one unit of work (flush
	// and commit, or abort) may take before the runner logs a warning
	// with the likely reason and counts a stall: franz-go holds commits
	// while the group rebalances, and a rebalance waits for a member that
	// died without leaving for up to SessionTimeout. 0 (the default): a
	// quarter of SessionTimeout, at least 2s; a healthy end takes a few
	// round trips, and produce retries after a metadata refresh take
	// about a second, so 2s does not warn for those, while a quarter of
	// the session leaves most of a rebalance's wait reported as it
	// happens. Must not be negative.
	CommitStallWarning time.Duration
}

// commitStallBound is CommitStallWarning, or its default derived from
// SessionTimeout.
func (c Config) commitStallBound() time.Duration {
	if c.CommitStallWarning > 0 {
		return c.CommitStallWarning
	}
	return max(c.SessionTimeout/4, 2*time.Second)
}

// DefaultConfig returns the defaults described on each Config field.
func DefaultConfig() Config {
	return Config{
		Brokers:                []string{"localhost:9092"},
		InputTopic:             "channel-events",
		OutputTopic:            "channel-interruptions",
		DLQTopic:               "channel-events.dlq",
		Group:                  "interruptions",
		Guarantee:              ExactlyOnce,
		CommitInterval:         100 * time.Millisecond,
		Engine:                 match.EngineConfig{MaxInterruption: 24 * time.Hour, Retention: 48 * time.Hour, MaxChannelEvents: DefaultMaxChannelEvents},
		Encoder:                cekafka.Encoder{Source: "/interruptions", Mode: codec.Binary},
		CreateTopics:           true,
		Partitions:             6,
		ReplicationFactor:      -1,
		StartTimeout:           30 * time.Second,
		MaxPollRecords:         10000,
		FetchMaxPartitionBytes: 256 << 10,
		ShutdownTimeout:        30 * time.Second,
		IdleTimeout:            time.Minute,
		SessionTimeout:         45 * time.Second,
		HeartbeatInterval:      250 * time.Millisecond,
		TransactionTimeout:     10 * time.Second,
		MaxClockSkew:           codec.DefaultMaxClockSkew,
	}
}

// DefaultMaxChannelEvents is the default per-channel event cap
// (--max-channel-events). A VCC channel (one call, chat or email) holds tens
// to a few hundred events. Neither a channel's work per event nor the
// changelog bytes it writes per event grow with it (a long channel's state
// is in segments, state/segment.go), so the cap bounds only what a runaway
// or hostile channel holds: about 40 bytes of memory and 80 bytes of
// changelog per event (TestDefaultChannelCapFitsChangelogRecord), 2,000
// events about 160 KB of changelog. Raise it for channels that hold more
// (a 50,000-event channel is tested on a real broker).
const DefaultMaxChannelEvents = 2_000

// Bounds of TransactionTimeout (see Config.TransactionTimeout).
const (
	// txnTimeoutMargin is how much longer than CommitInterval a
	// transaction may stay open: its flush and its commit are a few
	// round trips, but a slow or moving partition leader makes them take
	// seconds (produce retries after a metadata refresh), and a
	// transaction the broker aborts as timed out fences the live
	// instance's producer (its epoch is bumped).
	txnTimeoutMargin = 5 * time.Second
	// maxTxnTimeout is Kafka's default transaction.max.timeout.ms: a
	// longer timeout makes the broker refuse the producer at start.
	maxTxnTimeout = 15 * time.Minute
)

// instanceIDRE is Kafka's rule for group.instance.id (as for topic names).
var instanceIDRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// transactionalID is the transactional id a Runner uses:
// TransactionalID when set; else, with InstanceID, "<Group>-<InstanceID>",
// the same for every process of that instance, so a restart fences the
// dead producer at once; else "<Group>-<hostname>-<pid>".
func (c Config) transactionalID() string {
	switch {
	case c.TransactionalID != "":
		return c.TransactionalID
	case c.InstanceID != "":
		return c.Group + "-" + c.InstanceID
	}
	host, _ := os.Hostname()
	return c.Group + "-" + host + "-" + strconv.Itoa(os.Getpid())
}

// ChangelogTopic returns the state changelog topic of the configured group.
func (c Config) ChangelogTopic() string { return c.Group + "-state-changelog" }

// Validate checks the configuration as a whole: every setting, and the
// settings that constrain each other. Each error is a sentence that starts
// with the names of the settings it is about; all of them are returned,
// joined.
func (c Config) Validate() error {
	sourceErr := codec.CheckSource(c.Encoder.Source)
	type check struct {
		bad bool
		msg string
	}
	checks := []check{
		{len(c.Brokers) == 0, "brokers: at least one broker is required"},
		{c.InputTopic == "", "input-topic: must not be empty"},
		{c.OutputTopic == "", "output-topic: must not be empty"},
		{c.DLQTopic == "", "dlq-topic: must not be empty"},
		{c.Group == "", "group: must not be empty"},
		{c.InputTopic == c.OutputTopic || c.InputTopic == c.DLQTopic, "input-topic: must differ from output-topic and dlq-topic"},
		{c.OutputTopic == c.DLQTopic, "output-topic: must differ from dlq-topic"},
		{c.PhasesTopic != "" && slices.Contains([]string{c.InputTopic, c.OutputTopic, c.DLQTopic}, c.PhasesTopic),
			"phases-topic: must differ from input-topic, output-topic and dlq-topic"},
		{c.Guarantee > AtLeastOnce, "guarantee: must be exactly-once or at-least-once"},
		{c.CommitInterval <= 0, "commit-interval: must be positive"},
		{c.Engine.MaxInterruption < time.Millisecond, fmt.Sprintf("max-interruption: %s is shorter than 1ms, the precision of event times; "+
			"it must be at least 1ms", c.Engine.MaxInterruption)},
		{c.Engine.Retention <= 0, "retention: must be positive"},
		{c.Engine.Retention < c.Engine.MaxInterruption, fmt.Sprintf("retention and max-interruption: retention %s is shorter than max-interruption %s; "+
			"a channel's state, seen event ids included, could then be deleted while events of one of its interruptions are still expected",
			c.Engine.Retention, c.Engine.MaxInterruption)},
		{c.Engine.MaxChannelEvents < 1, fmt.Sprintf("max-channel-events: %d is less than 1; a channel must hold at least one event",
			c.Engine.MaxChannelEvents)},
		{c.MaxClockSkew <= 0, "max-clock-skew: must be positive"},
		{sourceErr != nil, fmt.Sprintf("source: %v", sourceErr)},
		{c.Encoder.Mode > codec.Structured, "output-mode: must be binary or structured"},
		{c.Partitions <= 0, "partitions: must be positive"},
		{c.ReplicationFactor == 0 || c.ReplicationFactor < -1, "replication-factor: must be positive or -1 for the broker default"},
		{c.StartTimeout <= 0, "start-timeout: must be positive"},
		{c.MaxPollRecords <= 0, "max-poll-records: must be positive"},
		{c.FetchMaxPartitionBytes < 1<<10, "fetch-max-partition-bytes: must be at least 1KiB"},
		{c.ShutdownTimeout <= 0, "shutdown-timeout: must be positive"},
		{c.IdleTimeout < 0, "idle-timeout: must not be negative (0 turns it off)"},
		{c.SessionTimeout < time.Second, "session-timeout: must be at least 1s"},
		{c.HeartbeatInterval < 10*time.Millisecond || c.HeartbeatInterval > c.SessionTimeout/3,
			fmt.Sprintf("heartbeat-interval: %s must be at least 10ms and at most a third of session-timeout (%s), so that a member "+
				"that misses two heartbeats is still in the group", c.HeartbeatInterval, c.SessionTimeout)},
		{c.CommitStallWarning < 0, "commit-stall-warning: must not be negative (0 derives it from session-timeout)"},
		{c.InstanceID != "" && (!instanceIDRE.MatchString(c.InstanceID) || c.InstanceID == "." || c.InstanceID == ".."),
			fmt.Sprintf("instance-id: %q is not a valid group.instance.id: use at most 249 of a-z, A-Z, 0-9, '.', '_' and '-' "+
				"(a pod name is), not \".\" or \"..\"", c.InstanceID)},
		{c.TransactionTimeout <= 0, "transaction-timeout: must be positive"},
		{c.TransactionTimeout > maxTxnTimeout, fmt.Sprintf("transaction-timeout: %s is longer than 15m, the broker's default "+
			"transaction.max.timeout.ms, above which the broker refuses the producer", c.TransactionTimeout)},
		{c.Guarantee == ExactlyOnce && c.TransactionTimeout > 0 && c.TransactionTimeout < c.CommitInterval+txnTimeoutMargin,
			fmt.Sprintf("transaction-timeout and commit-interval: transaction-timeout %s is shorter than commit-interval %s plus 5s; "+
				"a transaction stays open for the commit interval and then while it is flushed and committed, and one the broker "+
				"aborts as timed out fences the instance's producer", c.TransactionTimeout, c.CommitInterval)},
		{c.Guarantee == ExactlyOnce && c.TransactionTimeout > c.SessionTimeout,
			fmt.Sprintf("transaction-timeout and session-timeout: transaction-timeout %s is longer than session-timeout %s; "+
				"the partitions of a crashed instance would then wait for its open transaction to time out after the group "+
				"has moved them", c.TransactionTimeout, c.SessionTimeout)},
	}
	for _, name := range slices.Sorted(maps.Keys(c.MaxPhase)) {
		d := c.MaxPhase[name]
		_, known := match.PhaseByName(name)
		checks = append(checks,
			check{!known || name == match.PhaseInterrupted, fmt.Sprintf("max-phase: %q is not a phase with its own maximum: use alerting, connected, held, "+
				"parked or wrap (the interrupted phase takes max-interruption)", name)},
			check{d < time.Millisecond, fmt.Sprintf("max-phase: %s=%s is shorter than 1ms, the precision of event times", name, d)},
			check{c.Engine.Retention < d, fmt.Sprintf("retention and max-phase: retention %s is shorter than max-phase %s=%s; a channel's state "+
				"could then be deleted while events of one of its %s phases are still expected", c.Engine.Retention, name, d, name)})
	}
	var errs []error
	for _, ch := range checks {
		if ch.bad {
			errs = append(errs, errors.New(ch.msg))
		}
	}
	return errors.Join(errs...)
}
