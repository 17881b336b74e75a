package processor_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/processor"
)

// ownerGroup is a kfake cluster with the processor's topics of parts
// partitions and two runners in one group, each until the test ends.
type ownerGroup struct {
	cfg     processor.Config
	runners []*processor.Runner
	adm     *kadm.Client
	cl      *kgo.Client
}

func startOwnerGroup(t *testing.T, parts int32) *ownerGroup {
	t.Helper()
	cfg := processor.DefaultConfig()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(parts, cfg.InputTopic, cfg.OutputTopic, cfg.DLQTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg.Brokers = c.ListenAddrs()
	cfg.CommitInterval = 20 * time.Millisecond
	cfg.SessionTimeout = 6 * time.Second
	cfg.TransactionTimeout = 6 * time.Second // at most the session timeout
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.DefaultProduceTopic(cfg.InputTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	g := &ownerGroup{cfg: cfg, adm: kadm.NewClient(cl), cl: cl}
	for i := range 2 {
		rc := cfg
		rc.TransactionalID = fmt.Sprintf("owner-%d", i)
		r, err := processor.NewRunner(rc)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("runner %d: %v", i, err)
			}
		})
		g.runners = append(g.runners, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitUntil(ctx, t, "both runners ready with the partitions split", func() bool {
		s0, s1 := g.runners[0].Status(), g.runners[1].Status()
		return s0.Ready && s1.Ready && s0.Assigned > 0 && s1.Assigned > 0 && s0.Assigned+s1.Assigned == int(parts)
	})
	return g
}

// assignment is the group's assignment of input partitions by member id,
// from kadm's DescribeGroups: the broker's view, not the runners'.
func (g *ownerGroup) assignment(ctx context.Context, t *testing.T) map[int32]kadm.DescribedGroupMember {
	t.Helper()
	groups, err := g.adm.DescribeGroups(ctx, g.cfg.Group)
	if err != nil {
		t.Fatal(err)
	}
	owners := map[int32]kadm.DescribedGroupMember{}
	for _, m := range groups[g.cfg.Group].Members {
		a, ok := m.Assigned.AsConsumer()
		if !ok {
			t.Fatalf("member %s: no consumer assignment", m.MemberID)
		}
		for _, tp := range a.Topics {
			if tp.Topic != g.cfg.InputTopic {
				continue
			}
			for _, p := range tp.Partitions {
				owners[p] = m
			}
		}
	}
	return owners
}

// channelOn returns a channel id whose murmur2 partition (Kafka's default
// partitioner, as the state API computes it) is p.
func channelOn(p int32, parts int) string {
	for k := 0; ; k++ {
		id := fmt.Sprintf("8a0c7e52-0000-4000-8000-%012d", k)
		if int32(codec.KeyPartition([]byte(id), parts)) == p {
			return id
		}
	}
}

// TestOwnerNamedByStateAPI: two runners in one group on four partitions;
// each is asked for a channel on every partition the other owns, and the
// *NotOwnedError names exactly the member the group's description (kadm
// DescribeGroups, read by the test) assigns that partition, and lists that
// member, with exactly its partitions, as the one to ask.
func TestOwnerNamedByStateAPI(t *testing.T) {
	const parts = 4
	g := startOwnerGroup(t, parts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	owners := g.assignment(ctx, t)
	if len(owners) != parts {
		t.Fatalf("the group assigns %d of %d partitions", len(owners), parts)
	}
	memberParts := map[string][]int32{}
	for p, m := range owners {
		memberParts[m.MemberID] = append(memberParts[m.MemberID], p)
	}
	if len(memberParts) != 2 {
		t.Fatalf("the group assigns the partitions to %d members, want 2", len(memberParts))
	}
	asked := 0
	for i, r := range g.runners {
		mine := map[int32]bool{}
		for _, ps := range r.Status().Partitions {
			mine[ps.Partition] = true
		}
		for p := range int32(parts) {
			if mine[p] {
				continue
			}
			asked++
			want := owners[p]
			id := channelOn(p, parts)
			_, err := r.Channel(ctx, id)
			var e *processor.NotOwnedError
			if !errors.As(err, &e) {
				t.Fatalf("runner %d, channel %s on partition %d: %v, want a *NotOwnedError", i, id, p, err)
			}
			if e.Partition != p || e.MemberID != want.MemberID || e.ClientID != want.ClientID || e.Host != want.ClientHost {
				t.Errorf("runner %d, partition %d: owner %q (client %q on %q), the group assigns it to %q (client %q on %q)",
					i, p, e.MemberID, e.ClientID, e.Host, want.MemberID, want.ClientID, want.ClientHost)
			}
			wantParts := slices.Sorted(slices.Values(memberParts[want.MemberID]))
			if len(e.Ask) != 1 || e.Ask[0].MemberID != want.MemberID || !slices.Equal(e.Ask[0].Partitions, wantParts) || len(e.Unowned) != 0 {
				t.Errorf("runner %d, partition %d: ask %+v, unowned %v; want member %s with partitions %v", i, p, e.Ask, e.Unowned, want.MemberID, wantParts)
			}
		}
	}
	if asked != parts {
		t.Fatalf("asked about %d partitions, want each of the %d once", asked, parts)
	}
}
