package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/state"
)

// inputOffsetKey is the changelog key under which a partition's next input
// offset is kept (encoded as a stream time is): the first input record the
// state written with it has not seen.
const inputOffsetKey = "\x00input-offset"

// restore reads partition p of the changelog from its start to its last
// stable offset (read_committed) into a new store. It returns the store and
// the number of changelog records applied.
func restore(ctx context.Context, adm *kadm.Client, cfg Config, p int32) (*state.Store, int, error) {
	st, _, n, err := restoreResume(ctx, adm, cfg, p)
	return st, n, err
}

// restoreResume is restore that also returns the partition's next input
// offset as of the restored state (0 when the changelog has none). Under
// at-least-once the changelog is written before the input offsets are
// committed, so it can be ahead of them: the records in between are in the
// state already, and their outputs were produced before it was written.
func restoreResume(ctx context.Context, adm *kadm.Client, cfg Config, p int32) (*state.Store, int64, int, error) {
	topic := cfg.ChangelogTopic()
	st := state.New()
	var resume int64
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	ends, err := stableEnd(ctx, adm, cfg, topic, p)
	if err != nil {
		return nil, 0, 0, err
	}
	so, ok1 := starts.Lookup(topic, p)
	eo, ok2 := ends.Lookup(topic, p)
	if !ok1 || !ok2 {
		return nil, 0, 0, fmt.Errorf("changelog %s has no partition %d", topic, p)
	}
	if err := errors.Join(so.Err, eo.Err); err != nil {
		return nil, 0, 0, fmt.Errorf("offsets of %s[%d]: %w", topic, p, err)
	}
	if eo.Offset <= so.Offset {
		return st, 0, 0, nil
	}
	// Compaction keeps about one record per channel; the offset range
	// bounds the count from above. Pre-sizing saves rehashing a big map.
	st = state.NewSized(int(min(eo.Offset-so.Offset, 4<<20)))
	end := eo.Offset
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers are kept so that a changelog ending in one
		// is seen to end: the marker is the record at end-1.
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(64 << 20),
	}, cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("changelog client: %w", err)
	}
	defer cl.Close()
	n := 0
	for {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, 0, n, fmt.Errorf("read %s[%d]: %w", topic, p, err)
		}
		if err := fetchError(fetches); err != nil {
			return nil, 0, n, err
		}
		done := false
		var applyErr error
		fetches.EachRecord(func(rec *kgo.Record) {
			if done || applyErr != nil || rec.Offset >= end {
				done = true
				return
			}
			switch {
			case rec.Attrs.IsControl():
			case string(rec.Key) == inputOffsetKey:
				if resume, applyErr = state.DecodeStreamTime(rec.Value); applyErr != nil {
					applyErr = fmt.Errorf("changelog offset %d: input offset: %w", rec.Offset, applyErr)
				}
				n++
			default:
				applyErr = apply(st, rec)
				n++
			}
			done = rec.Offset >= end-1
		})
		if applyErr != nil {
			return nil, 0, n, applyErr
		}
		if done {
			return st, resume, n, nil
		}
	}
}

// apply loads one changelog record into the store.
func apply(st *state.Store, rec *kgo.Record) error {
	key := string(rec.Key)
	if key == state.StreamTimeKey {
		t, err := state.DecodeStreamTime(rec.Value)
		if err != nil {
			return fmt.Errorf("changelog offset %d: stream time: %w", rec.Offset, err)
		}
		st.RestoreStreamTime(t)
		return nil
	}
	if rec.Value == nil {
		st.Restore(key, nil)
		return nil
	}
	c, err := state.DecodeChannel(rec.Value)
	if err != nil {
		return fmt.Errorf("changelog offset %d: channel %s: %w", rec.Offset, key, err)
	}
	st.Restore(key, c)
	return nil
}

// stableEnd returns the changelog's last stable offsets once partition p
// has no transaction in doubt. Under exactly-once the previous owner's last
// transaction can be committed (its input offsets are stable) while its
// markers are still being written to the changelog (Kafka 4 answers EndTxn
// first): the last stable offset then stops before that transaction's
// state, and reading only that far would lose it. Nobody else writes to p
// once this instance owns it, so it waits until the last stable offset
// reaches the high watermark; a zombie's open transaction ends with its
// transaction timeout at the latest.
func stableEnd(ctx context.Context, adm *kadm.Client, cfg Config, topic string, p int32) (kadm.ListedOffsets, error) {
	for {
		// ListCommittedOffsets asks with read_committed: the last stable offset.
		stable, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			return nil, fmt.Errorf("list stable offsets of %s: %w", topic, err)
		}
		if cfg.Guarantee != ExactlyOnce {
			return stable, nil
		}
		high, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
		}
		so, ok1 := stable.Lookup(topic, p)
		ho, ok2 := high.Lookup(topic, p)
		if !ok1 || !ok2 || so.Err != nil || ho.Err != nil || so.Offset >= ho.Offset {
			return stable, nil // errors are reported by the caller
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the transactions on %s[%d] to end: %w", topic, p, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
