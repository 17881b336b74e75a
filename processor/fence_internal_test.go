package processor

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// TestFencerAbortsTheTransactionOfAMemberThatLeft: a member's producer
// (transactional id "gone") holds a transaction open on a topic, so
// read_committed readers see nothing past it; the member is no longer in
// the group. After a rebalance the fencer's look describes the group (two
// members: "here", this instance, and "other"), finds "gone" missing since
// its last look, and fences it, and only it: the broker aborts the open transaction (the
// last stable offset reaches the high watermark at once, not at the
// transaction timeout, one minute here), and the old producer can no
// longer commit. The members still in the group are never fenced.
func TestFencerAbortsTheTransactionOfAMemberThatLeft(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "out", "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()

	gone, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("gone"), kgo.TransactionTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	if err := gone.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := gone.ProduceSync(ctx, &kgo.Record{Topic: "out", Value: []byte("pending")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	cfg := DefaultConfig()
	cfg.Brokers, cfg.Group, cfg.TransactionalID, cfg.TransactionTimeout = brokers, "g", "here", time.Minute
	var members []*kgo.Client
	for _, id := range []string{"here", "other"} {
		m, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID(id), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("in"))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		members = append(members, m)
	}
	adminCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer adminCl.Close()
	adm := kadm.NewClient(adminCl)

	f := newFencer(&cfg, zap.NewNop())
	var fenced []string
	fence := f.fence
	f.fence = func(ctx context.Context, id string) error { fenced = append(fenced, id); return fence(ctx, id) }
	f.known = []string{"gone", "here", "other"} // all were members at the last look
	// The two members join (polling); the fencer looks once the group is
	// stable with both.
	for {
		for _, m := range members {
			pctx, pcancel := context.WithTimeout(ctx, 50*time.Millisecond)
			m.PollRecords(pctx, 1)
			pcancel()
		}
		described, err := adm.DescribeGroups(ctx, "g")
		if g := described["g"]; err == nil && g.State == "Stable" && len(g.Members) == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the group never became stable with both members")
		}
	}
	f.rebalanced()
	f.look(ctx, adm)
	if f.stale.Load() {
		t.Fatal("the fencer did not describe the stable group")
	}
	if len(fenced) != 1 || fenced[0] != "gone" {
		t.Fatalf("fenced %q, want [gone]", fenced)
	}
	committed, err := adm.ListCommittedOffsets(ctx, "out") // read_committed: the last stable offset
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, "out")
	if err != nil {
		t.Fatal(err)
	}
	lso, _ := committed.Lookup("out", 0)
	hw, _ := ends.Lookup("out", 0)
	if lso.Offset != hw.Offset {
		t.Fatalf("last stable offset %d, high watermark %d: the transaction of the member that left is still open", lso.Offset, hw.Offset)
	}
	// The broker refuses the old producer's commit (kfake: as an invalid
	// transaction state, Kafka: fenced or an invalid epoch).
	if err := gone.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the fenced producer committed its transaction")
	}
	// Nothing left the group since: no more fencing.
	f.rebalanced()
	f.look(ctx, adm)
	if len(fenced) != 1 {
		t.Fatalf("fenced again: %q", fenced)
	}
}
