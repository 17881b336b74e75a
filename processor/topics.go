package processor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/state"
)

// ErrBrokersUnreachable is returned when no broker answered within the start
// timeout.
var ErrBrokersUnreachable = errors.New("brokers unreachable")

// MissingTopicError names a topic that does not exist and that the runner
// was not allowed to create.
type MissingTopicError struct {
	Topic string
}

// Error names the topic and how to fix it.
func (e *MissingTopicError) Error() string {
	return fmt.Sprintf("topic %q does not exist; create it or allow the processor to create topics", e.Topic)
}

// waitForBrokers polls metadata until a broker answers or timeout passes,
// backing off between tries.
func waitForBrokers(ctx context.Context, adm *kadm.Client, brokers []string, timeout time.Duration, log *zap.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		reqCtx, reqCancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := adm.BrokerMetadata(reqCtx)
		reqCancel()
		if err == nil {
			return nil
		}
		// Wrong credentials or an untrusted certificate: fail at once.
		if IsAuthenticationError(err) {
			return fmt.Errorf("%w at %s: %w", ErrAuthentication, strings.Join(brokers, ","), err)
		}
		log.Info("waiting for brokers", zap.Strings("brokers", brokers), zap.Int("attempt", attempt), zap.Error(err))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: no answer from %s within %s: %w", ErrBrokersUnreachable, strings.Join(brokers, ","), timeout, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// ensureTopics checks the runner's topics, creating missing ones when
// allowed, and returns the input topic's partition count. The changelog is
// created compacted with the input's partition count, and must have it.
func ensureTopics(ctx context.Context, adm *kadm.Client, cfg Config, log *zap.Logger) (int32, error) {
	input, err := topicPartitions(ctx, adm, cfg.InputTopic)
	if err != nil {
		return 0, err
	}
	if input == 0 {
		if err := createTopic(ctx, adm, cfg, cfg.InputTopic, cfg.Partitions, nil, log); err != nil {
			return 0, err
		}
		// Read the count back: when someone else created the topic
		// first (TopicAlreadyExists), theirs is the count, not ours, and
		// the changelog must match it.
		if input, err = topicPartitions(ctx, adm, cfg.InputTopic); err != nil {
			return 0, err
		}
	}
	compact := "compact"
	for _, t := range []struct {
		name       string
		partitions int32
		configs    map[string]*string
	}{
		{cfg.OutputTopic, cfg.Partitions, nil},
		{cfg.DLQTopic, cfg.Partitions, nil},
		{cfg.PhasesTopic, cfg.Partitions, nil}, // "" when the phases are off
		{cfg.ChangelogTopic(), input, map[string]*string{"cleanup.policy": &compact}},
	} {
		if t.name == "" {
			continue
		}
		n, err := topicPartitions(ctx, adm, t.name)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			if err := createTopic(ctx, adm, cfg, t.name, t.partitions, t.configs, log); err != nil {
				return 0, err
			}
			continue
		}
		if t.name == cfg.ChangelogTopic() && n != input {
			return 0, fmt.Errorf("changelog topic %q has %d partitions, input topic %q has %d: they must match", t.name, n, cfg.InputTopic, input)
		}
	}
	return input, nil
}

// topicPartitions returns a topic's partition count, 0 when it is missing.
// It asks the broker, bypassing kadm's metadata cache (WithAuthorizedOps
// does that): a cached "unknown topic" answer would otherwise outlive the
// topic's creation for MetadataMinAge (5s), and the changelog restore, which
// lists offsets through the same cache, would find no partitions.
func topicPartitions(ctx context.Context, adm *kadm.Client, topic string) (int32, error) {
	md, err := adm.Metadata(kadm.WithAuthorizedOps(ctx), topic)
	if err != nil {
		return 0, fmt.Errorf("metadata of topic %q: %w", topic, err)
	}
	td, ok := md.Topics[topic]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return 0, nil
	}
	if td.Err != nil {
		return 0, fmt.Errorf("metadata of topic %q: %w", topic, td.Err)
	}
	return int32(len(td.Partitions)), nil
}

func createTopic(ctx context.Context, adm *kadm.Client, cfg Config, topic string, partitions int32, configs map[string]*string, log *zap.Logger) error {
	if !cfg.CreateTopics {
		return &MissingTopicError{Topic: topic}
	}
	resp, err := adm.CreateTopic(ctx, partitions, cfg.ReplicationFactor, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %q: %w", topic, err)
	}
	// Wait until the broker's metadata shows the topic: it is used at once
	// (restore lists the changelog's offsets), and the uncached answer also
	// refreshes the admin client's cache.
	for {
		n, err := topicPartitions(ctx, adm, topic)
		if err == nil && n > 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %q was created but its metadata did not appear: %w", topic, context.Cause(ctx))
		case <-time.After(50 * time.Millisecond):
		}
	}
	log.Info("created topic", zap.String("topic", topic), zap.Int32("partitions", partitions))
	return nil
}

// EnsureTopics checks that each of topics exists and creates the missing
// ones as the runner does: with cfg.Partitions partitions and
// cfg.ReplicationFactor replicas when cfg.CreateTopics, and otherwise a
// *MissingTopicError. It waits until a created topic's metadata appears,
// at most until ctx ends. Only those three fields of cfg are read; `ingest`
// uses it for its topic and dead-letter topic.
func EnsureTopics(ctx context.Context, adm *kadm.Client, cfg Config, log *zap.Logger, topics ...string) error {
	for _, topic := range topics {
		n, err := topicPartitions(ctx, adm, topic)
		if err != nil {
			return err
		}
		if n == 0 {
			if err := createTopic(ctx, adm, cfg, topic, cfg.Partitions, nil, log); err != nil {
				return err
			}
		}
	}
	return nil
}

// ------------------------------------------------- record size limits

// maxMessageBytesConfig is the topic configuration that bounds a record
// batch on the broker: the whole batch as it is written to the log, its
// 61-byte header included.
const maxMessageBytesConfig = "max.message.bytes"

// kafkaDefaultMaxMessageBytes is Kafka's default message.max.bytes (1 MiB +
// the 12-byte log overhead), assumed for a topic whose configuration the
// processor may not read (no DescribeConfigs permission).
const kafkaDefaultMaxMessageBytes = 1_048_588

// changelogKeyBytes is the longest changelog key that the changelog value
// limit allows for: a segment record's key (state.MaxKeyExtra bytes and
// the channelId) for the longest channelId; codec.ValidChannelID refuses
// longer ones at every door. A record refused because its key was longer anyway
// raises the assumption to that key's length (recordLimits.refused): the
// bound only grows.
const changelogKeyBytes = codec.MaxChannelIDBytes + state.MaxKeyExtra

// batchHeaderBytes is the size franz-go counts for a record batch with no
// records when it decides whether a record fits ProducerBatchMaxBytes: the
// v2 record batch header that brokers count against max.message.bytes, 61
// bytes (baseOffset 8, batchLength 4, partitionLeaderEpoch 4, magic 1, crc
// 4, attributes 2, lastOffsetDelta 4, baseTimestamp 8, maxTimestamp 8,
// producerId 8, producerEpoch 2, baseSequence 4, record count 4), plus 4
// for the length of the records field of the produce request (a 4-byte
// int32 before it knows the broker's produce version, a uvarint of the
// batch length once it knows the version is flexible, which is at most 4
// bytes below 2^28). Counting 65 keeps a record franz-go takes within what
// the broker takes; it costs 4 bytes of the limit.
func batchHeaderBytes(maxMessageBytes int32) int {
	return 61 + max(4, kbin.UvarintLen(uint32(maxMessageBytes)+1))
}

// changelogValueLimit is the longest changelog value a record whose key has
// keyBytes bytes can carry, alone in its batch, within a topic's
// max.message.bytes (0 when none can). A record of format v2 is
//
//	length varint (of what follows)
//	attributes int8            1
//	timestampDelta varlong     1 (0: the first record of its batch)
//	offsetDelta varint         1 (0: likewise)
//	keyLength varint + key     varint(k) + k
//	valueLength varint + value varint(v) + v
//	headers count varint       1 (0: changelog records carry no header)
//
// (varints zig-zag encoded: 1 byte up to 63, 2 up to 8191, 3 up to
// 1048575, ...). Alone in a batch it must satisfy
//
//	batchHeaderBytes + varint(body) + body ≤ max.message.bytes, body = 4 + varint(k) + k + varint(v) + v
//
// A batch of several records is franz-go's to bound (ProducerBatchMaxBytes,
// set to max.message.bytes: recordLimits.batchMax). A topic whose
// compression.type makes the broker recompress a batch is checked after
// recompression, which this does not foresee; the default ("producer")
// keeps the producer's batch, which franz-go compresses only when that makes
// it smaller.
func changelogValueLimit(maxMessageBytes int32, keyBytes int) int {
	header := batchHeaderBytes(maxMessageBytes)
	size := func(v int) int {
		body := 4 + kbin.VarintLen(int32(keyBytes)) + keyBytes + kbin.VarintLen(int32(v)) + v
		return header + kbin.VarintLen(int32(body)) + body
	}
	v := int(maxMessageBytes) - header - 4 - keyBytes // every varint at 0 bytes: an upper bound
	for v > 0 && size(v) > int(maxMessageBytes) {
		v--
	}
	return max(v, 0)
}

// readMaxMessageBytes returns each topic's max.message.bytes as the broker
// applies it: the topic's own value or the broker's default (DescribeConfigs
// answers with the one in force). When the processor may not describe the
// topics' configuration it logs a warning and assumes Kafka's default.
func readMaxMessageBytes(ctx context.Context, adm *kadm.Client, log *zap.Logger, topics ...string) (map[string]int32, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	out := make(map[string]int32, len(topics))
	for _, topic := range topics {
		rerr := err
		var rc kadm.ResourceConfig
		if rerr == nil {
			rc, rerr = rcs.On(topic, nil)
			if rerr == nil {
				rerr = rc.Err
			}
		}
		if errors.Is(rerr, kerr.TopicAuthorizationFailed) || errors.Is(rerr, kerr.ClusterAuthorizationFailed) {
			log.Warn("cannot read the topic's max.message.bytes (grant DescribeConfigs on it); assuming Kafka's default",
				zap.String("topic", topic), zap.Int("max_message_bytes", kafkaDefaultMaxMessageBytes), zap.Error(rerr))
			out[topic] = kafkaDefaultMaxMessageBytes
			continue
		}
		if rerr != nil {
			return nil, fmt.Errorf("describe the configuration of topic %q: %w", topic, rerr)
		}
		found := false
		for _, c := range rc.Configs {
			if c.Key != maxMessageBytesConfig || c.Value == nil {
				continue
			}
			n, perr := strconv.ParseInt(*c.Value, 10, 32)
			if perr != nil || n <= 0 {
				return nil, fmt.Errorf("topic %q: %s %q is not a positive 32-bit number", topic, maxMessageBytesConfig, *c.Value)
			}
			out[topic], found = int32(n), true
		}
		if !found {
			return nil, fmt.Errorf("topic %q: the broker did not describe its %s", topic, maxMessageBytesConfig)
		}
	}
	return out, nil
}

// tooLargeError is the error of one record a broker (or franz-go, before
// sending it) refused as too large: kerr.MessageTooLarge or
// kerr.RecordListTooLarge, with what recordLimits.refused needs to explain
// it. The collector wraps such errors (collector.done).
type tooLargeError struct {
	topic                string
	partition            int32
	keyBytes, valueBytes int
	err                  error
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("record of %s[%d] (key %d B, value %d B): %v", e.topic, e.partition, e.keyBytes, e.valueBytes, e.err)
}

func (e *tooLargeError) Unwrap() error { return e.err }

// asTooLarge wraps a produce error of rec in a *tooLargeError when it says
// the record (or its batch) was too large, and returns other errors as they
// are.
func asTooLarge(rec *kgo.Record, err error) error {
	if !errors.Is(err, kerr.MessageTooLarge) && !errors.Is(err, kerr.RecordListTooLarge) {
		return err
	}
	return &tooLargeError{topic: rec.Topic, partition: rec.Partition, keyBytes: len(rec.Key), valueBytes: len(rec.Value), err: err}
}

// tooLargeRecords returns every *tooLargeError in errs' trees (errors.Join
// and %w chains).
func tooLargeRecords(errs ...error) []*tooLargeError {
	var out []*tooLargeError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *tooLargeError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	for _, err := range errs {
		walk(err)
	}
	return out
}

// RecordTooLargeError: the brokers refused a record the processor produced
// as too large, and neither a lower max.message.bytes of its topic nor a
// longer changelog key than assumed explains it. Processing it again would
// be refused again, so Run stops with this error.
type RecordTooLargeError struct {
	Topic      string
	Partition  int32
	KeyBytes   int
	ValueBytes int
	// MaxMessageBytes is the topic's max.message.bytes, read again after
	// the refusal and equal to the one in force when it was produced.
	MaxMessageBytes int32
	// ValueLimit is the changelog value limit the engine applied (0 for
	// the other topics).
	ValueLimit int
	Err        error
}

// Error names the topic, partition, sizes and limit.
func (e *RecordTooLargeError) Error() string {
	s := fmt.Sprintf("the broker refused a record of %s[%d] as too large (key %d B, value %d B; the topic's max.message.bytes is %d, unchanged",
		e.Topic, e.Partition, e.KeyBytes, e.ValueBytes, e.MaxMessageBytes)
	if e.ValueLimit > 0 {
		s += fmt.Sprintf("; changelog values are limited to %d B", e.ValueLimit)
	}
	return s + fmt.Sprintf("): %v", e.Err)
}

// Unwrap returns the producer's error.
func (e *RecordTooLargeError) Unwrap() error { return e.Err }

// errLimitsChanged ends a session whose unit of work was refused because a
// record size limit changed: the runner starts a new session at once, its
// client built with the new limits.
var errLimitsChanged = errors.New("record size limits changed")

// recordLimits holds the record size limits in force: each written topic's
// max.message.bytes (franz-go's batch bound for it, batchMax) and the
// changelog value limit the engine applies (match.Engine.SetMaxChannelBytes).
//
// What a refused record does (refused), decided for issue 21: a record
// refused as too large (kerr.MessageTooLarge, kerr.RecordListTooLarge) aborts
// its unit of work as every refused record does (state rolled back, the
// input processed again); the runner then reads the topics'
// max.message.bytes again, and
//   - when the topic's limit changed since the session's client was built
//     (an operator lowered it), or the record is a changelog record whose key
//     is longer than the key length assumed and would not fit with it, the
//     new limits are applied (the engine's value limit, logged) and the
//     session restarts at once with a client that bounds batches by them;
//     the engine then dead-letters the events that would overflow
//     (channel-overflow) and the partition goes on;
//   - otherwise, for a changelog record, nothing explains the refusal
//     (the engine let a value over its limit through), and Run stops with
//     a *RecordTooLargeError naming the topic, partition, sizes and limit;
//   - an output or dead-letter record refused under an unchanged limit
//     does what every refused record does (exactly-once: the loop goes on
//     with the same client and processes the unit again; at-least-once: the
//     session restarts with backoff), each abort logged and the runner not
//     ready, until an operator raises the topic's limit: that is a change,
//     and the session restarts with it. The engine cannot make an
//     interruption record smaller, so nothing else could help it.
//
// The changelog never retries unchanged: each restart needs a topic's
// configuration to have changed, or the assumed key length to have grown
// (it only grows, up to the longest key refused).
type recordLimits struct {
	changelog string
	topics    []string // changelog, output, dead-letter
	// configured is Config.Engine.MaxChannelBytes: a lower value than the
	// derived one wins.
	configured int
	engine     *match.Engine
	// phases are the phase matchers' engines: their changelog keys are
	// state.PhaseKeyExtra bytes longer (state.PhaseKeyPrefix), so their
	// value limit is that much lower.
	phases []*match.Engine
	log    *zap.Logger

	mu       sync.Mutex
	max      map[string]int32 // the max.message.bytes in force
	keyBytes int              // the changelog key length assumed
}

func newRecordLimits(cfg *Config, engine *match.Engine, phases []*match.Engine, log *zap.Logger) *recordLimits {
	topics := []string{cfg.ChangelogTopic(), cfg.OutputTopic, cfg.DLQTopic}
	if cfg.PhasesTopic != "" {
		topics = append(topics, cfg.PhasesTopic)
	}
	return &recordLimits{changelog: cfg.ChangelogTopic(), topics: topics,
		configured: cfg.Engine.MaxChannelBytes, engine: engine, phases: phases, log: log, keyBytes: changelogKeyBytes}
}

// franzDefaultBatchMax is franz-go's default ProducerBatchMaxBytes.
const franzDefaultBatchMax = 1_000_012

// batchMax is the kgo.ProducerBatchMaxBytesFn of the group client: the
// bound of batchBound for the topic's max.message.bytes, franz-go's
// default for a topic not read. franz-go asks once per partition and
// client, which is why a change restarts the session.
func (l *recordLimits) batchMax(topic string) int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, ok := l.max[topic]
	if !ok {
		return franzDefaultBatchMax
	}
	return batchBound(topic == l.changelog, m)
}

// batchBound is franz-go's batch bound for a topic whose max.message.bytes
// is m (franz-go takes 512 B to 1 GiB). The changelog's is m itself, which
// its value limit is derived from. An output or dead-letter topic's is m
// up to franz-go's default, which it keeps above: no batch the topic
// refuses, and no record refused that franz-go took before this bound
// existed. Below 512 bytes, which franz-go cannot bound and which no
// output record fits in anyway, it is franz-go's default: each record is
// refused by the broker as any refused record (recordLimits).
func batchBound(changelog bool, m int32) int32 {
	switch {
	case changelog:
		return min(max(m, 512), 1<<30)
	case m < 512:
		return franzDefaultBatchMax
	}
	return min(m, franzDefaultBatchMax)
}

// valueLimit is the engine's changelog value limit for the limits in
// force; l.mu is held.
func (l *recordLimits) valueLimit() int { return l.valueLimitFor(l.keyBytes) }

// valueLimitFor is valueLimit for keys of up to keyBytes.
func (l *recordLimits) valueLimitFor(keyBytes int) int {
	v := changelogValueLimit(l.max[l.changelog], keyBytes)
	if l.configured > 0 && v > 0 {
		v = min(v, l.configured)
	}
	return v
}

// load reads the topics' limits at start and applies them.
func (l *recordLimits) load(ctx context.Context, adm *kadm.Client) error {
	now, err := readMaxMessageBytes(ctx, adm, l.log, l.topics...)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.max = now
	return l.apply()
}

// apply gives the engine the value limit in force and logs it; l.mu is
// held.
func (l *recordLimits) apply() error {
	v := l.valueLimit()
	if v <= 0 {
		return fmt.Errorf("changelog topic %q: max.message.bytes %d leaves no room for a channel's value (keys up to %d B)",
			l.changelog, l.max[l.changelog], l.keyBytes)
	}
	if old := l.engine.MaxChannelBytes(); old != v {
		l.engine.SetMaxChannelBytes(v)
		l.log.Info("changelog value limit", zap.String("topic", l.changelog),
			zap.Int32("max_message_bytes", l.max[l.changelog]), zap.Int("key_bytes", l.keyBytes),
			zap.Int("max_value_bytes", v), zap.Int("previous_max_value_bytes", old))
	}
	if pv := l.valueLimitFor(l.keyBytes + state.PhaseKeyExtra); len(l.phases) > 0 {
		if pv <= 0 {
			return fmt.Errorf("changelog topic %q: max.message.bytes %d leaves no room for a phase store's value (keys up to %d B)",
				l.changelog, l.max[l.changelog], l.keyBytes+state.PhaseKeyExtra)
		}
		for _, e := range l.phases {
			e.SetMaxChannelBytes(pv)
		}
	}
	return nil
}

// refused decides what the records refused as too large in a unit of work
// (which aborted) do (see recordLimits). It returns errLimitsChanged
// (wrapped) when new limits explain the refusals, a *RecordTooLargeError
// when a changelog record's is not explained, nil when only output or
// dead-letter records were refused under unchanged limits (the loop goes on
// as for any refused record), or the error of reading the limits (the
// session restarts with backoff, and the next refusal is decided again).
func (l *recordLimits) refused(ctx context.Context, adm *kadm.Client, recs []*tooLargeError) error {
	now, err := readMaxMessageBytes(ctx, adm, l.log, l.topics...)
	if err != nil {
		return fmt.Errorf("records refused as too large (%w); reading the topics' limits: %w", recs[0], err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	keyBytes, changed, unexplained := explainRefusals(l.max, now, l.changelog, l.keyBytes, recs)
	if unexplained != nil {
		e := &RecordTooLargeError{Topic: unexplained.topic, Partition: unexplained.partition, KeyBytes: unexplained.keyBytes,
			ValueBytes: unexplained.valueBytes, MaxMessageBytes: now[unexplained.topic], Err: unexplained.err}
		if unexplained.topic == l.changelog {
			e.ValueLimit = l.engine.MaxChannelBytes()
		}
		return e
	}
	if !changed {
		return nil // output or dead-letter records: refused as before
	}
	for _, t := range l.topics {
		if now[t] != l.max[t] {
			l.log.Info("topic max.message.bytes changed", zap.String("topic", t),
				zap.Int32("max_message_bytes", now[t]), zap.Int32("previous", l.max[t]))
		}
	}
	l.max, l.keyBytes = now, keyBytes
	if err := l.apply(); err != nil {
		return err
	}
	return fmt.Errorf("%w: records refused as too large (%w)", errLimitsChanged, recs[0])
}

// explainRefusals decides each refused record against the limits in force
// (was) and those read after the refusal (now): explained by a change when
// its topic's max.message.bytes changed (for an output or dead-letter
// topic: changed its batchBound, all the client depends on), or when it is
// a changelog record
// whose key is longer than keyBytes and which does not fit the changelog's
// limit with it. It returns the key length to assume from now on, whether
// a change explains a refusal, and the first changelog record nothing
// explains (nil when none). An output or dead-letter record refused under
// an unchanged limit is neither.
func explainRefusals(was, now map[string]int32, changelog string, keyBytes int, recs []*tooLargeError) (next int, changed bool, unexplained *tooLargeError) {
	next = keyBytes
	for _, r := range recs {
		switch {
		case r.topic == changelog && now[r.topic] != was[r.topic],
			r.topic != changelog && batchBound(false, now[r.topic]) != batchBound(false, was[r.topic]):
			changed = true
		case r.topic != changelog: // output, dead letters: as any refused record
		case r.keyBytes > keyBytes && r.valueBytes > changelogValueLimit(now[r.topic], r.keyBytes) &&
			r.valueBytes <= changelogValueLimit(now[r.topic], keyBytes):
			// Within the value limit of the key length assumed, over the
			// one of its own key: a longer key than assumed.
			next, changed = max(next, r.keyBytes), true
		default:
			return keyBytes, false, r
		}
	}
	return next, changed, nil
}
