package processor

import (
	"errors"
	"fmt"
	"time"

	"github.com/interruptions/interruptions/processor/codec"
	"github.com/interruptions/interruptions/processor/match"
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
	// Group is the consumer group. Default "interruptions" (group.id).
	// The state changelog topic is "<Group>-state-changelog".
	Group string
	// Guarantee: ExactlyOnce (default) or AtLeastOnce.
	Guarantee Guarantee
	// TransactionalID for ExactlyOnce. Default "<Group>-<hostname>-<pid>"
	// (transactional.id). Give each instance a stable, unique one so a
	// restarted instance fences its predecessor at once.
	TransactionalID string
	// CommitInterval is how long one transaction or commit batch collects
	// input before it commits. Default 100ms.
	CommitInterval time.Duration
	// Engine holds the matching rules. Defaults: 24h, 24h.
	Engine match.EngineConfig
	// Encoder sets the output records' source and content mode. Default
	// source "/interruptions", mode codec.Binary.
	Encoder codec.Encoder
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
	// Logger receives the runner's logs. Default zap.NewNop().
	Logger *zap.Logger
	// Hooks observe what the runner does; all optional.
	Hooks Hooks
	// ClientOpts are extra franz-go options for every client (TLS, SASL,
	// test hooks). Applied after the runner's own.
	ClientOpts []kgo.Opt
	// GroupClientOpts are extra franz-go options for the group client only
	// (the consumer and producer of the processing loop, rebuilt after a
	// client failure), applied after ClientOpts: for example kprom's
	// metrics hooks, which must not see the admin and restore clients.
	GroupClientOpts []kgo.Opt
	// ShutdownTimeout bounds the work done once Run's context ends:
	// finishing, committing the batch in flight and leaving the group.
	// Default 30s.
	ShutdownTimeout time.Duration
	// SessionTimeout is how long the group coordinator waits for a silent
	// member (a crashed instance) before moving its partitions. Default 45s
	// (session.timeout.ms); the broker bounds it by
	// group.min.session.timeout.ms and group.max.session.timeout.ms.
	SessionTimeout time.Duration
}

// Hooks are optional callbacks from the processing loop; they must be fast.
// OnEvent, OnDeadLetter, OnHousekeeping and OnOutput run on the partition
// workers: calls for one partition are sequential and in input order, calls
// for different partitions may run concurrently. OnCommit, OnAbort and
// OnRestore run on the loop's goroutine, and OnCommit and OnAbort only once
// every worker has finished what the commit or abort covers. Pointers
// passed to a hook are valid only during the call.
type Hooks struct {
	// OnEvent is called for every decoded input with its disposition.
	OnEvent func(partition int32, ev *match.Event, d match.Disposition)
	// OnDeadLetter is called for every rejected input.
	OnDeadLetter func(partition int32, err *codec.DecodeError)
	// OnHousekeeping is called when stream time expired, dropped or
	// deleted something.
	OnHousekeeping func(partition int32, hk match.Housekeeping)
	// OnCommit is called after each successful commit with the number of
	// input records it covered.
	OnCommit func(records int)
	// OnOutput is called for every interruption record produced, with the
	// Kafka timestamp of the input record whose processing closed it. Like
	// OnEvent, it is followed by OnCommit or OnAbort.
	OnOutput func(partition int32, in *match.Interruption, input time.Time)
	// OnAbort is called when a transaction (exactly-once) or a batch
	// (at-least-once) did not commit: what was seen since the last commit
	// is processed again. records may be 0.
	OnAbort func(records int)
	// OnRestore is called after a partition's state was restored from the
	// changelog: the changelog records read and how long it took.
	OnRestore func(partition int32, records int, took time.Duration)
}

// DefaultConfig returns the defaults described on each Config field.
func DefaultConfig() Config {
	return Config{
		Brokers:           []string{"localhost:9092"},
		InputTopic:        "channel-events",
		OutputTopic:       "channel-interruptions",
		DLQTopic:          "channel-events.dlq",
		Group:             "interruptions",
		Guarantee:         ExactlyOnce,
		CommitInterval:    100 * time.Millisecond,
		Engine:            match.EngineConfig{MaxInterruption: 24 * time.Hour, Retention: 48 * time.Hour},
		Encoder:           codec.Encoder{Source: "/interruptions", Mode: codec.Binary},
		CreateTopics:      true,
		Partitions:        6,
		ReplicationFactor: -1,
		StartTimeout:      30 * time.Second,
		MaxPollRecords:    10000,
		ShutdownTimeout:   30 * time.Second,
		SessionTimeout:    45 * time.Second,
	}
}

// ChangelogTopic returns the state changelog topic of the configured group.
func (c Config) ChangelogTopic() string { return c.Group + "-state-changelog" }

// Validate checks the configuration; its errors name the setting.
func (c Config) Validate() error {
	checks := []struct {
		bad bool
		msg string
	}{
		{len(c.Brokers) == 0, "brokers: at least one broker is required"},
		{c.InputTopic == "", "input-topic: must not be empty"},
		{c.OutputTopic == "", "output-topic: must not be empty"},
		{c.DLQTopic == "", "dlq-topic: must not be empty"},
		{c.Group == "", "group: must not be empty"},
		{c.InputTopic == c.OutputTopic || c.InputTopic == c.DLQTopic, "input-topic: must differ from output-topic and dlq-topic"},
		{c.OutputTopic == c.DLQTopic, "output-topic: must differ from dlq-topic"},
		{c.Guarantee > AtLeastOnce, "guarantee: must be exactly-once or at-least-once"},
		{c.CommitInterval <= 0, "commit-interval: must be positive"},
		{c.Engine.MaxInterruption <= 0, "max-interruption: must be positive"},
		{c.Engine.Retention <= 0, "retention: must be positive"},
		{c.Encoder.Source == "", "source: must not be empty"},
		{c.Encoder.Mode > codec.Structured, "output-mode: must be binary or structured"},
		{c.Partitions <= 0, "partitions: must be positive"},
		{c.ReplicationFactor == 0 || c.ReplicationFactor < -1, "replication-factor: must be positive or -1 for the broker default"},
		{c.StartTimeout <= 0, "start-timeout: must be positive"},
		{c.MaxPollRecords <= 0, "max-poll-records: must be positive"},
		{c.ShutdownTimeout <= 0, "shutdown-timeout: must be positive"},
		{c.SessionTimeout < time.Second, "session-timeout: must be at least 1s"},
	}
	var errs []error
	for _, ch := range checks {
		if ch.bad {
			errs = append(errs, errors.New(ch.msg))
		}
	}
	return errors.Join(errs...)
}
