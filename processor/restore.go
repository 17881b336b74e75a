package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/interruptions/interruptions/internal/partread"
	"github.com/interruptions/interruptions/state"
)

// changelogReader restores partitions' state from the changelog (Kafka
// Streams' StoreChangelogReader): every partition asked for at once, with
// one client, each partition's records applied by its own goroutine.
type changelogReader struct {
	cfg *Config
	log *zap.Logger
	// phases is the number of phase stores a partition has (0: the
	// phase records are off, and the records of phase stores are
	// skipped).
	phases int
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
	ranges := make(map[int32]partread.Range, len(ps))
	for _, p := range ps {
		so, ok1 := starts.Lookup(topic, p)
		eo, ok2 := ends.Lookup(topic, p)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("changelog %s has no partition %d", topic, p)
		}
		if err := errors.Join(so.Err, eo.Err); err != nil {
			return nil, fmt.Errorf("offsets of %s[%d]: %w", topic, p, err)
		}
		// Compaction keeps about one record per channel; the offset range
		// bounds the count from above. Pre-sizing saves rehashing.
		loaded[p] = state.NewLoader(int(min(max(eo.Offset-so.Offset, 0), 4<<20))).WithPhases(cr.phases)
		ranges[p] = partread.Range{Start: so.Offset, End: eo.Offset}
	}
	r := partread.Reader{
		Topic:      topic,
		ClientOpts: append([]kgo.Opt{kgo.SeedBrokers(cr.cfg.Brokers...), kgo.FetchMaxBytes(64 << 20)}, cr.cfg.ClientOpts...),
		// Each partition's records are decoded by a goroutine of its own.
		Parallel: true,
	}
	if err := r.Read(ctx, ranges, func(p int32, recs []*kgo.Record) error { return load(loaded[p], recs) }); err != nil {
		return nil, err // it names the topic and partition
	}
	for p, l := range loaded {
		if err := l.Finish(); err != nil {
			return nil, fmt.Errorf("changelog %s[%d]: %w", topic, p, err)
		}
	}
	return loaded, nil
}

// load applies records, transaction markers left out.
func load(l *state.Loader, recs []*kgo.Record) error {
	for _, rec := range recs {
		if !rec.Attrs.IsControl() {
			if err := l.Load(rec.Key, rec.Value); err != nil {
				return fmt.Errorf("offset %d: %w", rec.Offset, err)
			}
		}
	}
	return nil
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
