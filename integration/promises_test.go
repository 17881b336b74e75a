package integration

// Two delivery promises on the real broker, each under a real fault that
// keeps output from being written: the output topic is created by the test
// with a max.message.bytes smaller than one output record, so the broker
// rejects every produce to it (MESSAGE_TOO_LARGE) while input, changelog
// and dead letters go through. The limit is raised with an
// AlterTopicConfigs once the fault has done its work.
//
//	exactly-once   the transactions abort, the loop goes on with the same
//	               client and partition, and the in-memory rollback of the
//	               tasks is what makes the reprocessed input give its
//	               records again: the output equals replay's, each once.
//	at-least-once  the batch fails before its offsets commit; a SIGKILL in
//	               that window leaves the group's committed offsets short of
//	               every input whose output was never acknowledged, and the
//	               next processor in the group gives every record, repeats
//	               only as identical copies.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/internal/testkit/records"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// promiseTinyBytes is the output topic's max.message.bytes during the
	// fault: less than a record batch holding one output record (its data
	// alone is several hundred bytes), so the broker refuses each.
	promiseTinyBytes = "100"
	// promiseEvents of generated input on one partition: a few dozen
	// interruption records.
	promiseEvents = 1000
	// promiseMinRecords replay must compute from them.
	promiseMinRecords = 20
	// promiseBudget bounds each test, well below the suite's limits.
	promiseBudget = 60 * time.Second
)

// promiseTinyOutput creates the output topic (one partition) with a
// max.message.bytes no output record fits in. The processor must not
// create it: it exists before `run` starts.
func promiseTinyOutput(h *harness) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	tiny := promiseTinyBytes
	must(h.t, "create the output topic", testkit.CreateTopics(ctx, h.adm, 1,
		map[string]*string{"max.message.bytes": &tiny}, h.Output))
}

// promiseRaiseLimit sets the output topic's max.message.bytes to 1 MiB
// (about the broker's default) with AlterTopicConfigs and waits until the
// broker describes it so.
func promiseRaiseLimit(h *harness) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	const key, limit = "max.message.bytes", "1048588"
	must(h.t, "raise max.message.bytes of the output topic", testkit.SetTopicConfig(ctx, h.adm, h.Output, key, limit))
	h.waitFor("max.message.bytes="+limit+" on the output topic", 50*time.Millisecond, nil, func() (bool, error) {
		rcs, err := h.adm.DescribeTopicConfigs(ctx, h.Output)
		if err != nil {
			return false, err
		}
		rc, err := rcs.On(h.Output, nil)
		if err != nil {
			return false, err
		}
		for _, c := range rc.Configs {
			if c.Key == key {
				return c.MaybeValue() == limit, nil
			}
		}
		return false, fmt.Errorf("%s not described", key)
	})
}

// promiseBound brings the test's deadline (every wait of the harness) down
// to d from now.
func promiseBound(h *harness, d time.Duration) {
	ctx, cancel := context.WithTimeout(h.ctx, d)
	h.t.Cleanup(cancel)
	h.ctx = ctx
}

// promiseCheckTooLarge checks that the broker really refuses output
// records: the fault the tests rely on. Outside any transaction and
// compressed as the processor's client compresses by default, it produces
// the data of the smallest record of want (an output record's value holds
// that data, and headers besides).
func promiseCheckTooLarge(h *harness, want testkit.Records) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 20*time.Second)
	defer cancel()
	smallest := ""
	for r := range want {
		if smallest == "" || len(r.Data) < len(smallest) {
			smallest = r.Data
		}
	}
	probe := &kgo.Record{Topic: h.Output, Key: []byte("probe"), Value: []byte(smallest)}
	err := h.cl.ProduceSync(ctx, probe).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		h.t.Fatalf("the data of an output record (%d bytes) on the output topic with max.message.bytes=%s: %v, "+
			"want MESSAGE_TOO_LARGE (the fault these tests use)", len(smallest), promiseTinyBytes, err)
	}
}

// promiseRestores is the number of partition restores the processor made
// (a new client or a moved partition restores again).
func promiseRestores(s metricsSample) float64 {
	return s.get("interruptions_restore_duration_seconds_count")
}

// TestPromiseExactlyOnceAbortInFlight: exactly-once, every transaction with
// output aborts (the broker refuses its output records) while the
// processor keeps its client and its one partition: no rebalance, no
// restart, no restore. The records the aborted transactions processed are
// processed again from the committed offsets on the state rolled back in
// memory. Once the limit is raised the group commits the whole input, and
// the output read_committed equals `interruptions replay` of the input:
// every record once, whole records compared.
func TestPromiseExactlyOnceAbortInFlight(t *testing.T) {
	const seed = 4242
	h := setup(t)
	promiseBound(h, promiseBudget)
	h.createTopic(h.Input, 1)
	promiseTinyOutput(h)
	h.produceGen(promiseEvents, seed, "structured")
	in := h.readTopic(h.Input)
	want := h.replay(inputNDJSON(t, in), 1, promiseMinRecords)
	promiseCheckTooLarge(h, want)
	first := firstClosingOffset(t, in, want)
	t.Logf("input: %d events; the first that closes an interruption is at offset %d", len(in), first)

	addr := shutdownFreePort(t)
	p := h.startRun("run", "--guarantee", "exactly-once", "--create-topics=true", "--partitions", "1",
		"--metrics-addr", addr, "--commit-interval", "200ms")

	// The fault: at least two transactions with records abort. No commit
	// may cover the input at first meanwhile: its output cannot be written.
	var s metricsSample
	h.waitFor("two aborted transactions", 100*time.Millisecond, []*proc{p}, func() (bool, error) {
		if c := h.committedCount(); c > first {
			t.Fatalf("the group committed input offset %d (up to %d) while its output could not be written", first, c)
		}
		var err error
		if s, err = metricsScrape(addr); err != nil {
			return false, err
		}
		return s.get("interruptions_transactions_total", "result", "aborted") >= 2, nil
	})
	if n := len(h.readTopic(h.Output)); n != 0 {
		t.Fatalf("the output topic holds %d committed records while its max.message.bytes is %s: the fault did not hold", n, promiseTinyBytes)
	}
	if c := h.committedCount(); c > first {
		t.Fatalf("the group committed input offset %d (up to %d) while its output could not be written", first, c)
	}
	restores := promiseRestores(s)
	if restores != 1 || s.get("interruptions_partitions_assigned") != 1 {
		t.Fatalf("during the aborts: %v restores, %v partitions assigned; want 1 and 1 (one client, one partition)",
			restores, s.get("interruptions_partitions_assigned"))
	}
	aborted := s.get("interruptions_transactions_total", "result", "aborted")
	t.Logf("%v transactions aborted with records in flight; raising max.message.bytes", aborted)

	promiseRaiseLimit(h)
	h.waitCaughtUp(p)
	s, err := metricsScrape(addr)
	must(t, "metrics once caught up", err)

	// The same client kept the same partition throughout.
	if got := promiseRestores(s); got != restores {
		t.Errorf("restores went from %v to %v: the partition was restored again (a new client or a rebalance)", restores, got)
	}
	if s.get("interruptions_partitions_assigned") != 1 {
		t.Errorf("partitions assigned at the end: %v, want 1", s.get("interruptions_partitions_assigned"))
	}
	// The log up to here: the stop below revokes the partition, as it should.
	logs := p.stderr.String()
	p.stopClean()
	for _, bad := range []string{"client failed; restarting", "partitions revoked", "partitions lost"} {
		if strings.Contains(logs, bad) {
			t.Errorf("the processor's log shows %q: the abort was not handled on the same client and partition", bad)
		}
	}
	if n := strings.Count(logs, "partition restored"); n != 1 {
		t.Errorf("the log shows %d partition restores, want 1", n)
	}
	if !strings.Contains(logs, "transaction aborted; state rolled back") {
		t.Errorf("the log does not show a transaction aborted with records")
	}
	h.checkExactlyOnce(want, codec.Binary)
}

// TestPromiseAtLeastOnceCrashInAckWindow: at-least-once, the processor
// polls the input and produces its outputs, which the broker refuses
// (MESSAGE_TOO_LARGE): they are never acknowledged. The batch fails before
// its offsets commit, the client restarts from the last commit and fails
// again, and the processor is SIGKILLed while that goes on. The group's
// committed offset must not cover any input record whose output was never
// acknowledged (the first input that closes an interruption of replay's
// output). Then the limit is raised and a new processor in the same group
// catches up: the output holds every record of replay's, repeats only as
// identical copies.
//
// A fault that holds the acknowledgement back instead of refusing it was
// tried: min.insync.replicas=2 on the one-replica output topic. The broker
// accepts the config but acknowledges acks=all produces all the same (it
// caps the requirement at the replication factor), so on a one-broker
// cluster the refusal is the real fault at hand.
func TestPromiseAtLeastOnceCrashInAckWindow(t *testing.T) {
	const seed = 4343
	h := setup(t)
	promiseBound(h, promiseBudget)
	h.createTopic(h.Input, 1)
	promiseTinyOutput(h)
	h.produceGen(promiseEvents, seed, "structured")
	in := h.readTopic(h.Input)
	want := h.replay(inputNDJSON(t, in), 1, promiseMinRecords)
	promiseCheckTooLarge(h, want)
	first := firstClosingOffset(t, in, want)
	t.Logf("input: %d events; the first that closes an interruption is at offset %d", len(in), first)

	// A short session, in case the killed member is still in the group:
	// its partition moves to the next processor within seconds.
	args := []string{"--guarantee", "at-least-once", "--create-topics=true", "--partitions", "1",
		"--commit-interval", "200ms", "--session-timeout", "6s"}
	addr := shutdownFreePort(t)
	p := h.startRun("run-1", append(args, "--metrics-addr", addr)...)
	h.waitFor("a batch with input whose outputs the broker refused", 50*time.Millisecond, []*proc{p}, func() (bool, error) {
		s, err := metricsScrape(addr)
		if err != nil {
			return false, err
		}
		return s.get("interruptions_transactions_total", "result", "aborted") >= 1 &&
			strings.Contains(p.stderr.String(), "MESSAGE_TOO_LARGE"), nil
	})
	if code, _ := p.interrupt(syscall.SIGKILL, 10*time.Second); code != -1 {
		t.Fatalf("run-1 exited %d on SIGKILL, want death by the signal", code)
	}

	// The committed offset of the one partition stops short of the first
	// input whose output was refused.
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	offs, err := h.adm.FetchOffsets(ctx, h.Group)
	cancel()
	must(t, "fetch the group's offsets", err)
	committed := int64(0)
	if o, ok := offs.Lookup(h.Input, 0); ok {
		must(t, "committed offset of the input", o.Err)
		committed = o.At
	}
	if committed > first {
		t.Fatalf("after the SIGKILL the group's committed offset is %d: it covers input offset %d, "+
			"whose output was never acknowledged", committed, first)
	}
	if n := len(h.readTopic(h.Output)); n != 0 {
		t.Fatalf("the output topic holds %d records while its max.message.bytes is %s: the fault did not hold", n, promiseTinyBytes)
	}
	t.Logf("after the SIGKILL: committed offset %d of %d (the first closing input at %d)", committed, len(in), first)

	promiseRaiseLimit(h)
	p2 := h.startRun("run-2", append(args, "--metrics-addr", "127.0.0.1:0")...)
	h.waitCaughtUp(p2)
	p2.stopClean()

	recs := h.readTopic(h.Output)
	got := records.DecodeOutput(t, recs, codec.Binary)
	repeats := testkit.CoversRecords(t, want, got)
	t.Logf("output: %d records, %d distinct, %d duplicates (allowed at-least-once); replay computed %d",
		got.Len(), got.Distinct(), repeats, want.Len())
}

// firstClosingOffset returns the offset of the first input record (one
// partition) whose event closes a record of want: the processor produces
// that record while it processes that input.
func firstClosingOffset(t *testing.T, in []*kgo.Record, want testkit.Records) int64 {
	t.Helper()
	closers := map[string]bool{}
	for r := range want {
		var d struct {
			ClosedBy *struct {
				ID string `json:"id"`
			} `json:"closedBy"`
		}
		if err := json.Unmarshal([]byte(r.Data), &d); err != nil {
			t.Fatalf("record %s: %v", r.ID, err)
		}
		if d.ClosedBy == nil {
			t.Fatalf("record %s has no closedBy: the input must close its interruptions", r.ID)
		}
		closers[d.ClosedBy.ID] = true
	}
	first := int64(-1)
	for _, r := range in {
		ev, err := cekafka.Decode(r.Value, nil)
		if err != nil {
			t.Fatalf("input %d@%d: %v", r.Partition, r.Offset, err)
		}
		if closers[ev.ID] && (first < 0 || r.Offset < first) {
			first = r.Offset
		}
	}
	if first < 0 {
		t.Fatal("no input record closes a record of replay's output")
	}
	return first
}
