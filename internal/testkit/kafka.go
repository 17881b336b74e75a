package testkit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/interruptions/interruptions/internal/partread"
)

// Lag is how many records of topic the consumer group has not committed
// yet, summed over the topic's partitions, as kadm's Lag computes it
// (committed offset to high watermark). A partition that kadm leaves out
// (neither assigned nor committed, as during a rebalance) counts whole.
func Lag(ctx context.Context, adm *kadm.Client, group, topic string) (int64, error) {
	lags, err := adm.Lag(ctx, group)
	if err != nil {
		return 0, fmt.Errorf("lag of group %s: %w", group, err)
	}
	gl, ok := lags[group]
	if !ok {
		return 0, fmt.Errorf("lag of group %s: not described", group)
	}
	switch err := gl.Error(); {
	case errors.Is(err, kerr.GroupIDNotFound):
		// No such group yet (some brokers say so): nothing committed.
		gl.Lag = nil
	case err != nil:
		return 0, fmt.Errorf("lag of group %s: %w", group, err)
	}
	bounds, err := partread.Bounds(ctx, adm, topic)
	if err != nil {
		return 0, err
	}
	var total int64
	var perr error
	for p, b := range bounds {
		from := b.Start
		m, ok := gl.Lag.Lookup(topic, p)
		switch {
		case ok && m.Err != nil:
			perr = errors.Join(perr, fmt.Errorf("lag of group %s on %s[%d]: %w", group, topic, p, m.Err))
		case ok && m.Commit.At >= 0:
			from = m.Commit.At
		}
		// kadm lists end offsets of its own; these, listed after, count
		// (a record produced in between is not committed either).
		total += max(0, b.End-from)
	}
	if perr != nil {
		return 0, perr
	}
	return total, nil
}

// CaughtUp reports whether group has committed topic to its end on every
// partition (Lag 0).
func CaughtUp(ctx context.Context, adm *kadm.Client, group, topic string) (bool, error) {
	lag, err := Lag(ctx, adm, group, topic)
	return err == nil && lag == 0, err
}

// WaitCommitted polls every interval until group has committed topic to
// its end (producers must be done), ctx ends, or alive (when not nil)
// returns an error, such as "the processor exited". Errors of single looks
// are retried; the last one is in the error returned when ctx ends.
func WaitCommitted(ctx context.Context, adm *kadm.Client, group, topic string, interval time.Duration, alive func() error) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	lag, lastErr := int64(-1), error(nil)
	for {
		if alive != nil {
			if err := alive(); err != nil {
				return err
			}
		}
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		l, err := Lag(lctx, adm, group, topic)
		cancel()
		if err == nil && l == 0 {
			return nil
		}
		if err != nil {
			lastErr = err
		} else {
			lag = l
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("group %s has not committed %s to its end: %d records behind (last error: %v): %w", group, topic, lag, lastErr, ctx.Err())
		case <-tick.C:
		}
	}
}

// ReadCommitted reads every partition of topic read_committed from its
// start offset to its high watermark as listed when called, and calls fn
// with each record (transaction markers included, so a partition that
// ends in one is seen to end) in partition order. Reading to the high
// watermark waits for a transaction still open or still writing its
// markers (Kafka 4 answers EndTxn before the markers are written) to end,
// or for ctx.
func ReadCommitted(ctx context.Context, adm *kadm.Client, opts []kgo.Opt, topic string, fn func(*kgo.Record)) error {
	bounds, err := partread.Bounds(ctx, adm, topic)
	if err != nil {
		return err
	}
	// The client retries what can be retried (a broker restarting); the
	// errors it reports are in the error returned when ctx ends.
	r := partread.Reader{Topic: topic, ClientOpts: opts, RetryFetchErrors: true}
	return r.Read(ctx, bounds, func(_ int32, recs []*kgo.Record) error {
		for _, rec := range recs {
			fn(rec)
		}
		return nil
	})
}

// ReadAll is ReadCommitted returning the records, transaction markers
// left out.
func ReadAll(ctx context.Context, adm *kadm.Client, opts []kgo.Opt, topic string) ([]*kgo.Record, error) {
	var out []*kgo.Record
	err := ReadCommitted(ctx, adm, opts, topic, func(r *kgo.Record) {
		if !r.Attrs.IsControl() {
			out = append(out, r)
		}
	})
	return out, err
}

// CreateTopics creates topics with partitions partitions, replication
// factor 1 and configs, and waits until the broker's metadata lists each
// with all its partitions (a processor started next must see them).
func CreateTopics(ctx context.Context, adm *kadm.Client, partitions int32, configs map[string]*string, topics ...string) error {
	resp, err := adm.CreateTopics(ctx, partitions, 1, configs, topics...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("create topics %v: %w", topics, err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// WithAuthorizedOps bypasses kadm's metadata cache.
		md, err := adm.Metadata(kadm.WithAuthorizedOps(ctx), topics...)
		ready := err == nil
		for _, t := range topics {
			td, ok := md.Topics[t]
			ready = ready && ok && td.Err == nil && len(td.Partitions) == int(partitions)
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics %v created but not in the metadata (last error: %v): %w", topics, err, ctx.Err())
		case <-tick.C:
		}
	}
}

// SetTopicConfig sets one configuration key of topic (AlterTopicConfigs)
// and returns the broker's answer for it. The broker may apply the value
// a moment after it answers.
func SetTopicConfig(ctx context.Context, adm *kadm.Client, topic, key, value string) error {
	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: key, Value: &value}}, topic)
	if err == nil {
		_, err = resp.On(topic, nil)
	}
	if err != nil {
		return fmt.Errorf("set %s=%s on topic %s: %w", key, value, topic, err)
	}
	return nil
}

// Committed sums the offsets group has committed on topic's partitions
// (partitions with an error left out): the number of records it has
// committed when the topic starts at 0.
func Committed(ctx context.Context, adm *kadm.Client, group, topic string) (int64, error) {
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return 0, fmt.Errorf("committed offsets of group %s: %w", group, err)
	}
	var n int64
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil && o.At > 0 {
			n += o.At
		}
	})
	return n, nil
}

// FailProduce is a broker's answer refusing req: code for every partition
// it writes, no offset. kfake tests return it from a Produce control
// function (kfake.Cluster.ControlKey) to inject the refusal.
func FailProduce(req *kmsg.ProduceRequest, code int16) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.ErrorCode, sp.BaseOffset = rp.Partition, code, -1
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
