package processor_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/processor"
)

// TestRestoreBesideProcessing (issue 24): a partition whose restore waits
// for its previous owner's open transaction holds back that partition
// only. Exactly-once; the broker answers the processor's stable-offsets
// check (an OffsetFetch of the whole group, RequireStable) with
// UNSTABLE_OFFSET_COMMIT for input partition 1, as it does while a
// transaction that commits that partition's offsets is open. Partitions 0
// and 2 are restored, processed and committed to their ends meanwhile;
// partition 1 has no commit and shows as restoring. Once the transaction
// is "decided", partition 1 is restored and committed to its end too. The
// hooks are told: three partitions assigned, a restore in flight while
// partition 1 waits and none after, and partition 1 paused at least as
// long as the broker held it.
func TestRestoreBesideProcessing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFixture(t, processor.ExactlyOnce, codec.Binary)
	f.cfg.IdleTimeout = 0
	h := &besideHook{paused: map[int32]time.Duration{}}
	f.cfg.Hooks = append(f.cfg.Hooks, h)
	adm := kadm.NewClient(f.client)
	topics, err := adm.ListTopics(ctx, f.cfg.InputTopic)
	if err != nil {
		t.Fatal(err)
	}
	inputID := topics[f.cfg.InputTopic].ID

	var holding, held atomic.Bool
	var heldSince atomic.Int64
	holding.Store(true)
	f.cluster.ControlKey(int16(kmsg.OffsetFetch), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		f.cluster.KeepControl()
		req := kreq.(*kmsg.OffsetFetchRequest)
		// Only the check of the whole group (no topics named); the
		// consumer's own fetch of its offsets names its partitions.
		if !holding.Load() || !req.RequireStable || len(req.Groups) != 1 || req.Groups[0].Topics != nil {
			return nil, nil, false
		}
		if !held.Swap(true) {
			heldSince.Store(time.Now().UnixNano())
		}
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		g := kmsg.NewOffsetFetchResponseGroup()
		g.Group = req.Groups[0].Group
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.Topic, rt.TopicID = f.cfg.InputTopic, inputID
		rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		rp.Partition, rp.Offset, rp.ErrorCode = 1, -1, kerr.UnstableOffsetCommit.Code
		rt.Partitions = append(rt.Partitions, rp)
		g.Topics = append(g.Topics, rt)
		resp.Groups = append(resp.Groups, g)
		return resp, nil, true
	})

	// Two interruptions on each partition.
	base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	for p := int32(0); p < partitions; p++ {
		ch := restoreChannelOn(p, "beside")
		f.produce(ctx,
			restoreEvent(t, f.cfg.InputTopic, "channel.interrupted.v1", ch+"-i", ch, base),
			restoreEvent(t, f.cfg.InputTopic, "channel.resumed.v0", ch+"-r", ch, base.Add(5*time.Minute)))
	}
	ends := map[int32]int64{}
	le, err := adm.ListEndOffsets(ctx, f.cfg.InputTopic)
	if err != nil {
		t.Fatal(err)
	}
	le.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })

	r, stop := restoreRun(ctx, t, f)
	committed := func() map[int32]int64 {
		out := map[int32]int64{}
		offs, err := adm.FetchOffsetsForTopics(ctx, f.cfg.Group, f.cfg.InputTopic)
		if err != nil {
			return out
		}
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil && o.At >= 0 {
				out[o.Partition] = o.At
			}
		})
		return out
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s: %v; committed %v", what, ctx.Err(), committed())
			case <-tick.C:
			}
		}
	}
	waitFor("partitions 0 and 2 committed to their ends while partition 1's restore waits", func() bool {
		c := committed()
		return held.Load() && c[0] == ends[0] && c[2] == ends[2]
	})
	if c := committed(); c[1] != 0 {
		t.Fatalf("partition 1 committed at %d while its restore waits", c[1])
	}
	st := r.Status()
	if st.Restoring != 1 || len(st.RestoringPartitions) != 1 || st.RestoringPartitions[0] != 1 {
		t.Fatalf("status restoring %v, want [1]", st.RestoringPartitions)
	}

	if n := h.last(); n != 1 {
		t.Fatalf("restores in flight %d while partition 1 waits, want 1", n)
	}
	holding.Store(false)
	heldFor := time.Since(time.Unix(0, heldSince.Load()))
	waitFor("partition 1 committed to its end once its restore goes on", func() bool {
		return committed()[1] == ends[1]
	})
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.assigned != partitions || h.inFlight != 0 {
		t.Fatalf("hooks: %d partitions assigned, %d restores in flight at the end; want %d, 0", h.assigned, h.inFlight, partitions)
	}
	if p1, ok := h.paused[1]; !ok || p1 < heldFor {
		t.Fatalf("partition 1 paused %v (told: %v), want at least the %v the broker held it", p1, ok, heldFor)
	}
	out := f.readN(ctx, f.cfg.OutputTopic, partitions)
	if len(out) != partitions {
		t.Fatalf("%d output records, want %d (one per partition's interruption)", len(out), partitions)
	}
}

// besideHook records what the restore and rebalance hooks are told.
type besideHook struct {
	mu       sync.Mutex
	assigned int
	inFlight int
	paused   map[int32]time.Duration
}

func (h *besideHook) OnRebalance(assigned, _, _ []int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.assigned += len(assigned)
}

func (h *besideHook) OnRestoring(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inFlight = n
}

func (h *besideHook) OnResume(p int32, paused time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.paused[p] = paused
}

func (h *besideHook) last() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inFlight
}
