package processor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
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
		{cfg.ChangelogTopic(), input, map[string]*string{"cleanup.policy": &compact}},
	} {
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
