package processor

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// fencer ends the open transaction of a member that left the group without
// ending it (a crashed instance), as soon as the group rebalances without
// it, instead of when the broker's transaction timeout fires (its
// transaction timeout, checked every
// transaction.abort.timed.out.transaction.cleanup.interval.ms: 10 to 20 s
// at the defaults). Until then its open transaction holds the last stable
// offset of every changelog and output partition it wrote to: the moved
// partitions' restores wait for it, and read_committed readers of the
// output see nothing past it.
//
// Under exactly-once each member's client id is its transactional id
// (Runner.clientOpts), which the group's description shows. After each
// rebalance the loop describes the group (look); a transactional id seen
// in an earlier description and missing from this one, other than this
// instance's, belongs to a member that left: the fencer initializes a
// producer with that id, which fences the old one and makes the broker
// abort its open transaction at once (Kafka's zombie fencing, as Kafka
// Streams' per-task producers do it). A member that left cleanly ended its
// transaction first, and the fence finds nothing open. A member that was
// only frozen (out of the group after its session timeout) finds itself
// fenced when it wakes, and its session starts again. A static member
// (--instance-id) that restarts within the session timeout causes no
// rebalance and is never fenced.
type fencer struct {
	cfg *Config
	log *zap.Logger
	// own is this instance's transactional id.
	own string
	// known are the transactional ids of the members of the group's last
	// description.
	known []string
	// stale: the group rebalanced since the last description; set by the
	// group client's callbacks, read by the loop.
	stale atomic.Bool
	// fence ends a transactional id's open transaction (fenceID; tests
	// replace it).
	fence func(ctx context.Context, id string) error
}

func newFencer(cfg *Config, log *zap.Logger) *fencer {
	f := &fencer{cfg: cfg, log: log, own: cfg.TransactionalID}
	f.fence = f.fenceID
	return f
}

// rebalanced records that the group's membership may have changed.
func (f *fencer) rebalanced() { f.stale.Store(true) }

// look describes the group after a rebalance and fences the transactional
// ids of the members that left it. A description that fails, or of a group
// still rebalancing, is tried again at the next look.
func (f *fencer) look(ctx context.Context, adm *kadm.Client) {
	if !f.stale.Swap(false) {
		return
	}
	groups, err := adm.DescribeGroups(ctx, f.cfg.Group)
	g, ok := groups[f.cfg.Group]
	if err != nil || !ok || g.Err != nil || g.State != "Stable" {
		f.stale.Store(true)
		return
	}
	var now []string
	for _, m := range g.Members {
		now = append(now, m.ClientID)
	}
	for _, id := range f.known {
		if id == f.own || slices.Contains(now, id) {
			continue
		}
		if err := f.fence(ctx, id); err != nil {
			f.log.Warn("could not fence a member that left the group; its open transaction ends at its timeout",
				zap.String("transactional_id", id), zap.Error(err))
			continue
		}
		f.log.Info("fenced a member that left the group: its open transaction, if any, is aborted",
			zap.String("transactional_id", id))
	}
	f.known = now
}

// fenceID initializes a producer with transactional id id and closes it:
// the broker bumps the id's epoch, so its previous producer is fenced, and
// aborts that producer's open transaction.
func (f *fencer) fenceID(ctx context.Context, id string) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(f.cfg.Brokers...), kgo.TransactionalID(id),
		kgo.TransactionTimeout(f.cfg.TransactionTimeout)}, f.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("fencing client: %w", err)
	}
	defer cl.Close()
	if _, _, err := cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("initialize transactional id %s: %w", id, err)
	}
	return nil
}
