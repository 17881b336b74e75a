// Package partread reads Kafka partitions to their end: each from a start
// offset to an end offset fixed when the read begins, read_committed, with
// one client. The processor restores its state with it, `inspect` reads
// the changelog and the output topic with it, and tests read topics back
// with it.
package partread

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Range is a partition's offsets to read: [Start, End).
type Range struct{ Start, End int64 }

// Bounds returns each partition of topic with its log start offset and
// its end offset (high watermark). A topic that does not exist is an
// error (the broker's UNKNOWN_TOPIC_OR_PARTITION) or has no partitions.
func Bounds(ctx context.Context, adm *kadm.Client, topic string) (map[int32]Range, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	bounds := make(map[int32]Range, len(ends[topic]))
	for p, end := range ends[topic] {
		start, _ := starts.Lookup(topic, p)
		bounds[p] = Range{Start: start.Offset, End: end.Offset}
	}
	return bounds, nil
}

// Reader reads partitions of one topic to their end.
type Reader struct {
	// Topic is the topic read.
	Topic string
	// ClientOpts are the reading client's options: seed brokers, TLS,
	// SASL, fetch sizes. Read adds what it reads and how.
	ClientOpts []kgo.Opt
	// Parallel hands the partitions of one fetch to fn at once, one
	// goroutine each (restoring decodes on every core); otherwise one
	// after the other.
	Parallel bool
	// RetryFetchErrors reads on through fetch errors, which the client
	// retries (a broker restarting), until ctx ends; the last one is in
	// the error then. Otherwise the first one ends the read.
	RetryFetchErrors bool
}

// Read reads each partition in ranges from its Start to its End,
// read_committed, and hands its records to fn, batch by batch in offset
// order: recs are one fetch's records of partition p below End,
// transaction markers included (a partition that ends in one is seen to
// end: the marker is its record at End-1). fn is never called for one
// partition at once, but with Parallel it is for different partitions.
// Partitions with End <= Start are not read. An error from fn ends the
// read, wrapped with the partition.
func (r Reader) Read(ctx context.Context, ranges map[int32]Range, fn func(p int32, recs []*kgo.Record) error) error {
	left := make(map[int32]int64, len(ranges))
	from := make(map[int32]kgo.Offset, len(ranges))
	for p, rg := range ranges {
		if rg.End > rg.Start {
			left[p] = rg.End
			from[p] = kgo.NewOffset().At(rg.Start)
		}
	}
	if len(left) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(r.ClientOpts[:len(r.ClientOpts):len(r.ClientOpts)],
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.Topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords())...)
	if err != nil {
		return fmt.Errorf("reader of %s: %w", r.Topic, err)
	}
	defer cl.Close()
	var lastErr error
	for len(left) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			if lastErr != nil {
				return fmt.Errorf("read %s: %w; partitions not read to their end (partition: end): %v; last fetch error: %v", r.Topic, err, left, lastErr)
			}
			return fmt.Errorf("read %s: %w; partitions not read to their end (partition: end): %v", r.Topic, err, left)
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if ferr == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("fetch %s[%d]: %w", t, p, err)
			}
		})
		if ferr != nil {
			if !r.RetryFetchErrors {
				return ferr
			}
			lastErr = ferr
		}
		done, err := r.hand(fetches, left, fn)
		if err != nil {
			return err
		}
		for _, p := range done {
			delete(left, p)
		}
		if len(done) > 0 {
			cl.PauseFetchPartitions(map[string][]int32{r.Topic: done})
		}
	}
	return nil
}

// hand gives each partition's records below its end in left to fn, and
// returns the partitions read to their end.
func (r Reader) hand(fetches kgo.Fetches, left map[int32]int64, fn func(int32, []*kgo.Record) error) (done []int32, err error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		end, reading := left[fp.Partition]
		if !reading || fp.Topic != r.Topic || len(fp.Records) == 0 {
			return
		}
		one := func() {
			recs, ended := below(fp.Records, end)
			var err error
			if len(recs) > 0 {
				err = fn(fp.Partition, recs)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %w", r.Topic, fp.Partition, err))
			}
			if ended {
				done = append(done, fp.Partition)
			}
		}
		if r.Parallel {
			wg.Go(one)
		} else {
			one()
		}
	})
	wg.Wait()
	return done, errors.Join(errs...)
}

// below returns recs' records below end (recs are in offset order), and
// whether the record at end-1, the partition's last, is among recs or
// passed.
func below(recs []*kgo.Record, end int64) ([]*kgo.Record, bool) {
	n := len(recs)
	for n > 0 && recs[n-1].Offset >= end {
		n--
	}
	return recs[:n], n < len(recs) || n > 0 && recs[n-1].Offset >= end-1
}
