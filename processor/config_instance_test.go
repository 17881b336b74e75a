package processor_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/interruptions/interruptions/processor"
)

// seenRequests is what the group clients asked a kfake cluster: the
// instance id of every JoinGroup, the transactional id and timeout of
// every InitProducerID (the broker's view, not the runner's).
type seenRequests struct {
	mu    sync.Mutex
	joins []string // "" for a JoinGroup without an instance id
	inits []kmsg.InitProducerIDRequest
}

func (s *seenRequests) counts() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.joins), len(s.inits)
}

// since returns the requests from the ith join and jth init on.
func (s *seenRequests) since(i, j int) ([]string, []kmsg.InitProducerIDRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.joins[i:]...), append([]kmsg.InitProducerIDRequest(nil), s.inits[j:]...)
}

// watchedCluster is a kfake cluster with the processor's topics of 2
// partitions whose JoinGroup and InitProducerID requests are recorded and
// then handled as usual.
func watchedCluster(t *testing.T, cfg processor.Config) (*kfake.Cluster, *seenRequests) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, cfg.InputTopic, cfg.OutputTopic, cfg.DLQTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	seen := &seenRequests{}
	c.ControlKey(int16(kmsg.JoinGroup), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		req := kr.(*kmsg.JoinGroupRequest)
		id := ""
		if req.InstanceID != nil {
			id = *req.InstanceID
			if id == "" {
				id = "<empty>"
			}
		}
		seen.mu.Lock()
		seen.joins = append(seen.joins, id)
		seen.mu.Unlock()
		return nil, nil, false // observed, handled by the cluster
	})
	c.ControlKey(int16(kmsg.InitProducerID), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		req := kr.(*kmsg.InitProducerIDRequest)
		seen.mu.Lock()
		seen.inits = append(seen.inits, *req)
		seen.mu.Unlock()
		return nil, nil, false
	})
	return c, seen
}

// runUntilReady runs a processor on cfg until it is ready with both input
// partitions, then stops it (Run must return nil) and returns the JoinGroup
// instance ids and InitProducerID requests its client sent meanwhile.
func runUntilReady(t *testing.T, cfg processor.Config, seen *seenRequests) ([]string, []kmsg.InitProducerIDRequest) {
	t.Helper()
	return runUntilReadyWith(t, cfg, seen, func() {})
}

// txnIDs returns the transactional ids of the InitProducerID requests;
// a request without one fails the test.
func txnIDs(t *testing.T, inits []kmsg.InitProducerIDRequest) []string {
	t.Helper()
	var ids []string
	for _, r := range inits {
		if r.TransactionalID == nil {
			t.Fatalf("an InitProducerID request without a transactional id under exactly-once")
		}
		ids = append(ids, *r.TransactionalID)
	}
	return ids
}

// TestInstanceIDStaticMemberAndStableTransactionalID: with InstanceID the
// group client joins as a static member (every JoinGroup carries the
// instance id, and the coordinator lists the member under it); its
// producer asks for Config.TransactionTimeout (7s, not the default, so a
// runner that ignores the setting fails), and its transactional id is the
// same for two processes of one instance id (a restart fences the dead
// producer) and different for another instance id in the same group.
// Without InstanceID the JoinGroup carries none (dynamic membership, as
// before).
func TestInstanceIDStaticMemberAndStableTransactionalID(t *testing.T) {
	base := processor.DefaultConfig()
	base.CommitInterval = 20 * time.Millisecond
	base.SessionTimeout = 10 * time.Second
	base.TransactionTimeout = 7 * time.Second
	base.IdleTimeout = 0

	// One cluster: pod-a, then pod-a again (a restart takes the static
	// member's place in the group).
	c, seen := watchedCluster(t, base)
	cfg := base
	cfg.Brokers = c.ListenAddrs()
	cfg.InstanceID = "pod-a"
	joinsA, initsA := runUntilReady(t, cfg, seen)

	// The coordinator's view of the member, while pod-a runs again.
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var described string
	joinsA2, initsA2 := runUntilReadyWith(t, cfg, seen, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		groups, err := kadm.NewClient(cl).DescribeGroups(ctx, cfg.Group)
		if err != nil {
			t.Fatalf("describe group: %v", err)
		}
		for _, m := range groups[cfg.Group].Members {
			if m.InstanceID != nil {
				described += *m.InstanceID
			}
		}
	})

	// Another cluster for pod-c and a dynamic member: in pod-a's group a
	// new member would wait for pod-a's session to expire (static members
	// do not leave when they stop).
	c2, seen2 := watchedCluster(t, base)
	cfg2 := base
	cfg2.Brokers = c2.ListenAddrs()
	cfg2.InstanceID = "pod-c"
	joinsC, initsC := runUntilReady(t, cfg2, seen2)
	c3, seen3 := watchedCluster(t, base)
	cfg3 := base
	cfg3.Brokers = c3.ListenAddrs()
	joinsD, _ := runUntilReady(t, cfg3, seen3)

	for _, tc := range []struct {
		name  string
		joins []string
		want  string
	}{{"pod-a", joinsA, "pod-a"}, {"pod-a restarted", joinsA2, "pod-a"}, {"pod-c", joinsC, "pod-c"}, {"dynamic", joinsD, ""}} {
		if len(tc.joins) == 0 {
			t.Errorf("%s: no JoinGroup seen", tc.name)
		}
		for _, id := range tc.joins {
			if id != tc.want {
				t.Errorf("%s: JoinGroup with instance id %q, want %q", tc.name, id, tc.want)
			}
		}
	}
	if described != "pod-a" {
		t.Errorf("the coordinator lists the group's members with instance ids %q, want pod-a", described)
	}
	for _, inits := range [][]kmsg.InitProducerIDRequest{initsA, initsA2, initsC} {
		for _, r := range inits {
			if r.TransactionTimeoutMillis != 7000 {
				t.Errorf("InitProducerID with transaction timeout %dms, want 7000 (Config.TransactionTimeout)", r.TransactionTimeoutMillis)
			}
		}
	}
	idsA, idsA2, idsC := txnIDs(t, initsA), txnIDs(t, initsA2), txnIDs(t, initsC)
	t.Logf("transactional ids: pod-a %q, pod-a restarted %q, pod-c %q", idsA, idsA2, idsC)
	for _, id := range append(idsA2, idsA...) {
		if id != idsA[0] {
			t.Errorf("pod-a's processes used transactional ids %q and %q: a restart would not fence the dead producer", idsA[0], id)
		}
	}
	for _, id := range idsC {
		if id == idsA[0] {
			t.Errorf("pod-a and pod-c share the transactional id %q: they would fence each other", id)
		}
	}
}

// runUntilReadyWith is runUntilReady that calls during while the runner is
// ready, before stopping it.
func runUntilReadyWith(t *testing.T, cfg processor.Config, seen *seenRequests, during func()) ([]string, []kmsg.InitProducerIDRequest) {
	t.Helper()
	j0, i0 := seen.counts()
	r, err := processor.NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	waitUntil(wctx, t, "the runner ready with both partitions, its producer initialized", func() bool {
		s := r.Status()
		_, i := seen.counts()
		return s.Ready && s.Assigned == 2 && i > i0
	})
	during()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	return seen.since(j0, i0)
}
