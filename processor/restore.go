package processor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/interruptions/interruptions/state"
)

// changelogReader restores partitions' state from the changelog (Kafka
// Streams' StoreChangelogReader): every partition asked for at once, with
// one client, each partition's records applied by its own goroutine.
type changelogReader struct {
	cfg *Config
	log *zap.Logger
}

// read loads partitions ps of the changelog, from their start to their
// end, into one state.Loader each. Under at-least-once the changelog is
// written before the input offsets are committed, so the input offset it
// holds can be ahead of the committed one: the records in between are in
// the state already, and their outputs were produced before it was written.
func (cr *changelogReader) read(ctx context.Context, adm *kadm.Client, ps []int32) (map[int32]*state.Loader, error) {
	topic := cr.cfg.ChangelogTopic()
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	ends, err := cr.stableEnds(ctx, adm, topic, ps)
	if err != nil {
		return nil, err
	}
	loaded := make(map[int32]*state.Loader, len(ps))
	// end is the offset each partition is read to; done once its record
	// at end-1 (perhaps a transaction marker) was seen.
	end := make(map[int32]int64)
	consume := make(map[int32]kgo.Offset)
	for _, p := range ps {
		so, ok1 := starts.Lookup(topic, p)
		eo, ok2 := ends.Lookup(topic, p)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("changelog %s has no partition %d", topic, p)
		}
		if err := errors.Join(so.Err, eo.Err); err != nil {
			return nil, fmt.Errorf("offsets of %s[%d]: %w", topic, p, err)
		}
		if eo.Offset <= so.Offset {
			loaded[p] = state.NewLoader(0)
			continue
		}
		// Compaction keeps about one record per channel; the offset range
		// bounds the count from above. Pre-sizing saves rehashing.
		loaded[p] = state.NewLoader(int(min(eo.Offset-so.Offset, 4<<20)))
		end[p] = eo.Offset
		consume[p] = kgo.NewOffset().At(so.Offset)
	}
	if len(consume) == 0 {
		return loaded, nil
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(cr.cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: consume}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers are kept so that a changelog ending in one
		// is seen to end: the marker is the record at end-1.
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(64 << 20),
	}, cr.cfg.ClientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("changelog client: %w", err)
	}
	defer cl.Close()
	for len(end) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", topic, err)
		}
		if err := fetchError(fetches); err != nil {
			return nil, err
		}
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
			fin  []int32
		)
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			e, reading := end[fp.Partition]
			if !reading || len(fp.Records) == 0 {
				return
			}
			l := loaded[fp.Partition]
			wg.Go(func() {
				done, err := load(l, fp.Records, e)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Errorf("%s[%d]: %w", topic, fp.Partition, err))
				}
				if done {
					fin = append(fin, fp.Partition)
				}
			})
		})
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		for _, p := range fin {
			delete(end, p)
		}
		if len(fin) > 0 {
			cl.PauseFetchPartitions(map[string][]int32{topic: fin})
		}
	}
	return loaded, nil
}

// load applies records below end; it reports whether the record at end-1
// was reached.
func load(l *state.Loader, recs []*kgo.Record, end int64) (bool, error) {
	for _, rec := range recs {
		if rec.Offset >= end {
			return true, nil
		}
		if !rec.Attrs.IsControl() {
			if err := l.Load(rec.Key, rec.Value); err != nil {
				return false, fmt.Errorf("offset %d: %w", rec.Offset, err)
			}
		}
		if rec.Offset >= end-1 {
			return true, nil
		}
	}
	return false, nil
}

// stableEnds returns the changelog's last stable offsets once partitions ps
// have no transaction in doubt. Under exactly-once the previous owner's
// last transaction can be committed (its input offsets are stable) while
// its markers are still being written to the changelog (Kafka 4 answers
// EndTxn first): the last stable offset then stops before that
// transaction's state, and reading only that far would lose it. Nobody else
// writes to these partitions once this instance owns them, so it waits
// until each last stable offset reaches its high watermark; a zombie's open
// transaction ends with its transaction timeout at the latest.
func (cr *changelogReader) stableEnds(ctx context.Context, adm *kadm.Client, topic string, ps []int32) (kadm.ListedOffsets, error) {
	for {
		// ListCommittedOffsets asks with read_committed: the last stable offset.
		stable, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			return nil, fmt.Errorf("list stable offsets of %s: %w", topic, err)
		}
		if cr.cfg.Guarantee != ExactlyOnce {
			return stable, nil
		}
		high, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
		}
		doubt := -1
		for _, p := range ps {
			so, ok1 := stable.Lookup(topic, p)
			ho, ok2 := high.Lookup(topic, p)
			if ok1 && ok2 && so.Err == nil && ho.Err == nil && so.Offset < ho.Offset {
				doubt = int(p) // errors are reported by the caller
				break
			}
		}
		if doubt < 0 {
			return stable, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the transactions on %s[%d] to end: %w", topic, doubt, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
