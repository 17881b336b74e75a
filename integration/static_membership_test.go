package integration

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/interruptions/interruptions/core/codec"
)

// staticResumeBound is how soon after its restart a SIGKILLed static
// member must have processed again: far below its --session-timeout
// (45s), the time a dynamic member's partitions wait for the dead member,
// and below the 10s transaction timeout (plus the broker's 10s check for
// timed-out transactions), the time a restore waits for a dead producer
// that no restart fences. Issue 24 targets 5s; the bound leaves room for a
// shared, loaded machine.
const staticResumeBound = 8 * time.Second

// offsets returns the offset of every partition of topics: the end
// (high watermark), or with stable the last stable offset, below which
// read_committed readers read (an open transaction holds it back).
func (h *harness) offsets(stable bool, topics ...string) map[string]map[int32]int64 {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	list := h.adm.ListEndOffsets
	if stable {
		list = h.adm.ListCommittedOffsets
	}
	listed, err := list(ctx, topics...)
	must(h.t, fmt.Sprintf("list offsets of %v", topics), err)
	out := map[string]map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) {
		must(h.t, fmt.Sprintf("offset of %s[%d]", o.Topic, o.Partition), o.Err)
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	return out
}

// openTransactions is the number of partitions of topics whose last
// stable offset is below their end: an open transaction holds records
// there.
func (h *harness) openTransactions(topics ...string) int {
	h.t.Helper()
	ends, stable := h.offsets(false, topics...), h.offsets(true, topics...)
	open := 0
	for topic, parts := range stable {
		for p, o := range parts {
			if o < ends[topic][p] {
				open++
			}
		}
	}
	return open
}

// stableAtLeast reports whether the last stable offset of every partition
// of want's topics is at least want's offset.
func (h *harness) stableAtLeast(want map[string]map[int32]int64) bool {
	topics := make([]string, 0, len(want))
	for topic := range want {
		topics = append(topics, topic)
	}
	got := h.offsets(true, topics...)
	for topic, parts := range want {
		for p, o := range parts {
			if got[topic][p] < o {
				return false
			}
		}
	}
	return true
}

// committedAtLeast reports whether the group has committed at least want
// on every partition of the input.
func (h *harness) committedAtLeast(want map[int32]int64) (bool, error) {
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	offs, err := h.adm.FetchOffsets(ctx, h.Group)
	if err != nil {
		return false, err
	}
	for p, end := range want {
		o, ok := offs.Lookup(h.Input, p)
		if !ok || o.Err != nil || o.At < end {
			return false, nil
		}
	}
	return true, nil
}

// TestStaticMemberRestartResumesAtOnce: a processor with --instance-id
// and --session-timeout 45s is SIGKILLed mid-stream (its client closed
// without leaving the group, a transaction open) and restarted with the
// same instance id, as Kubernetes restarts a pod. The restarted process
// takes the partitions back without waiting for the dead member's session
// (no rebalance: the static member is replaced) and, its transactional id
// derived from the instance id, fences the dead producer instead of
// waiting for its transaction to time out: the group commits input
// produced after the kill on every partition, and read_committed readers
// of the output and the changelog see past the dead member's open
// transaction, within staticResumeBound of the restart. A measured
// property on the real broker. Then the output is exactly replay's: no
// duplicate, no loss.
func TestStaticMemberRestartResumesAtOnce(t *testing.T) {
	const seed, parts = 2424, 2
	h := setup(t)
	h.createTopic(h.Input, parts)
	gen := h.startGenStream(seed, 400)
	args := []string{"--instance-id", "pod-0", "--session-timeout", "45s", "--commit-interval", "1s", "--partitions", fmt.Sprint(parts),
		"--metrics-addr", "127.0.0.1:0"}

	p1 := h.startRun("run-1", args...)
	// Processing: the group has committed input on every partition.
	h.waitFor("run-1 to commit input on every partition", 100*time.Millisecond, []*proc{p1, gen}, func() (bool, error) {
		return h.committedAtLeast(map[int32]int64{0: 1, 1: 1})
	})
	h.waitFor("run-1 to commit input produced after its first commit", 100*time.Millisecond, []*proc{p1, gen}, func() (bool, error) {
		return h.committedAtLeast(map[int32]int64{0: 200, 1: 200})
	})
	// The kill lands while a transaction holds output records: it
	// collects input for --commit-interval (1s here), and about one
	// event in ten closes an interruption.
	h.waitFor("run-1 to have output records in an open transaction", 10*time.Millisecond, []*proc{p1, gen}, func() (bool, error) {
		return h.openTransactions(h.Output) > 0, nil
	})
	if code, _ := p1.interrupt(syscall.SIGKILL, 10*time.Second); code != -1 {
		t.Fatalf("run-1 exited %d on SIGKILL, want death by the signal", code)
	}
	// What the dead process wrote: its open transaction (records above
	// the last stable offset) holds back read_committed readers of the
	// output and the changelog until it is aborted.
	written := h.offsets(false, h.Output, h.Changelog())
	open := h.openTransactions(h.Output, h.Changelog())
	if open == 0 {
		t.Logf("note: run-1 had no open transaction when it was killed; the test is weaker this time")
	}
	// Input the dead process never saw: the end offsets once the stream
	// has produced more on every partition after the kill.
	atKill := h.offsets(false, h.Input)[h.Input]
	var after map[int32]int64
	h.waitFor("input produced after the kill on every partition", 20*time.Millisecond, []*proc{gen}, func() (bool, error) {
		after = h.offsets(false, h.Input)[h.Input]
		for p, end := range atKill {
			if after[p] <= end {
				return false, nil
			}
		}
		return true, nil
	})

	restarted := time.Now()
	p2 := h.startRun("run-2", args...)
	var processed, visible time.Duration
	resumed := h.waitUpTo(staticResumeBound, "run-2 to commit the input produced after the kill", 50*time.Millisecond,
		[]*proc{p2, gen}, func() (bool, error) {
			var err error
			if visible == 0 && h.stableAtLeast(written) {
				visible = time.Since(restarted)
			}
			if processed == 0 {
				var ok bool
				if ok, err = h.committedAtLeast(after); ok {
					processed = time.Since(restarted)
				}
			}
			return processed > 0 && visible > 0, err
		})
	if !resumed {
		t.Fatalf("%s after its restart (bound %s, session timeout 45s), the restarted static member had processed the input "+
			"produced after the kill: %v (after %s); the dead member's open transaction (%d partitions) was ended: %v (after %s). "+
			"Its partitions waited for the dead member, or the dead producer was not fenced and its transaction waited for the "+
			"transaction timeout", time.Since(restarted), staticResumeBound, processed > 0, processed, open, visible > 0, visible)
	}
	t.Logf("restarted with the same --instance-id: every partition processed again %s after the restart; "+
		"the dead member's open transaction (%d output and changelog partitions) ended, read_committed readers unblocked, %s after the restart",
		processed.Round(10*time.Millisecond), open, visible.Round(10*time.Millisecond))

	h.stopGen(gen)
	h.waitCaughtUp(p2)
	p2.stopClean()
	h.checkExactlyOnce(h.expectedFromInput(parts, 1), codec.Binary)
}
