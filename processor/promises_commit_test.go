package processor_test

// Issue 19, "commit and abort": the runtime's promises about what a commit
// and an abort do, each held by a test that injects the fault at a precise
// moment through kfake's control hooks.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/internal/testkit/records"
	"github.com/interruptions/interruptions/metrics"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/vccgen"
)

// commitRecorder is a hook that records what the runner reports about its
// units of work: each commit's and abort's record count, the output
// records produced in each aborted unit, and the restores.
type commitRecorder struct {
	mu       sync.Mutex
	commits  []int
	aborts   []int
	restores int
	// outputs counts the output records since the last commit or abort;
	// abortedOutputs holds it for each abort.
	outputs        int
	abortedOutputs []int
}

func (h *commitRecorder) OnCommit(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.commits = append(h.commits, n)
	h.outputs = 0
}

func (h *commitRecorder) OnAbort(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.aborts = append(h.aborts, n)
	h.abortedOutputs = append(h.abortedOutputs, h.outputs)
	h.outputs = 0
}

func (h *commitRecorder) OnOutput(int32, *match.Interruption, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.outputs++
}

func (h *commitRecorder) OnRestore(int32, int, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.restores++
}

// snapshot returns copies of what h recorded.
func (h *commitRecorder) snapshot() (commits, aborts, abortedOutputs []int, restores int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.commits...), append([]int(nil), h.aborts...),
		append([]int(nil), h.abortedOutputs...), h.restores
}

// commitAbortsWithRecords returns the aborts that covered records, with the
// output records each had produced.
func (h *commitRecorder) commitAbortsWithRecords() (records, outputs []int) {
	_, aborts, outs, _ := h.snapshot()
	for i, n := range aborts {
		if n > 0 {
			records = append(records, n)
			outputs = append(outputs, outs[i])
		}
	}
	return records, outputs
}

// commitMetrics creates the processor's metrics on a registry of their own
// and adds them, and the other hooks, to f's configuration.
func commitMetrics(f *fixture, hooks ...processor.Hook) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	f.cfg.Hooks = append(append(f.cfg.Hooks, metrics.New(reg)), hooks...)
	return reg
}

// commitMetric returns the value of the counter, or the sample count and
// sum of the histogram, named name with exactly the labels given as
// name/value pairs; 0 when no such series exists.
func commitMetric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) (value, sum float64) {
	t.Helper()
	m := testkit.Series(t, reg, name, labels...)
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue(), 0
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount()), m.GetHistogram().GetSampleSum()
	}
	return 0, 0
}

// commitExpectMetrics checks counters (and histogram sample counts) against
// exact values, each keyed by name and its labels, space separated.
func commitExpectMetrics(t *testing.T, reg *prometheus.Registry, want map[string]float64) {
	t.Helper()
	for key, v := range want {
		fields := strings.Fields(key)
		if got, _ := commitMetric(t, reg, fields[0], fields[1:]...); got != v {
			t.Errorf("%s = %v, want %v", key, got, v)
		}
	}
}

// commitTopicIDs returns the topic ids of topics (Produce v13+ names
// topics by id).
func commitTopicIDs(ctx context.Context, t *testing.T, f *fixture, topics ...string) map[[16]byte]string {
	t.Helper()
	details, err := kadm.NewClient(f.client).ListTopics(ctx, topics...)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	ids := make(map[[16]byte]string)
	for _, d := range details {
		if d.Err != nil {
			t.Fatalf("topic %s: %v", d.Topic, d.Err)
		}
		ids[d.ID] = d.Topic
	}
	return ids
}

// commitProduceHas reports whether req writes to topic (named, or by id).
func commitProduceHas(req *kmsg.ProduceRequest, topic string, ids map[[16]byte]string) bool {
	for _, rt := range req.Topics {
		if rt.Topic == topic || ids[rt.TopicID] == topic {
			return true
		}
	}
	return false
}

// commitRunToEnd runs a processor until the group has committed the input
// topic to its end, and stops it: every hook call of that work has
// returned when it returns (the loop calls OnCommit before it stops).
func commitRunToEnd(ctx context.Context, t *testing.T, f *fixture) {
	t.Helper()
	stop := f.start(ctx)
	adm := kadm.NewClient(f.client)
	werr := testkit.WaitCommitted(ctx, adm, f.cfg.Group, f.cfg.InputTopic, 10*time.Millisecond, nil)
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if werr != nil {
		t.Fatal(werr)
	}
}

// failFirstCommit makes the embedded broker answer the first EndTxn commit
// with UNKNOWN_SERVER_ERROR (the session aborts that transaction), and
// returns the count of commits so failed.
func failFirstCommit(f *fixture) *atomic.Int32 {
	var failed atomic.Int32
	f.cluster.ControlKey(int16(kmsg.EndTxn), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		req := kr.(*kmsg.EndTxnRequest)
		if !req.Commit {
			return nil, nil, false
		}
		failed.Add(1)
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp, nil, true // handled: the control is dropped, one EndTxn fails
	})
	return &failed
}

// commitReadOutput reads the whole output topic read_committed.
func commitReadOutput(ctx context.Context, t *testing.T, f *fixture) []*kgo.Record {
	t.Helper()
	out, err := testkit.ReadAll(ctx, kadm.NewClient(f.client), []kgo.Opt{kgo.SeedBrokers(f.cfg.Brokers...)}, f.cfg.OutputTopic)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPromiseAbortedTransactionRollsBackState: exactly-once, the first
// transaction's EndTxn commit fails (the broker answers
// UNKNOWN_SERVER_ERROR: the session aborts it) while it carries records
// and their outputs. The partitions stay with the same client (no restore
// again), their state returns to the last commit, the records are
// processed again, and the committed output equals replay's: nothing the
// aborted transaction produced is lost, nothing is repeated.
func TestPromiseAbortedTransactionRollsBackState(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	f := newFixture(t, processor.ExactlyOnce, codec.Binary)
	f.cfg.IdleTimeout = 0
	// One transaction takes in much of the input: the abort throws away
	// many outputs.
	f.cfg.CommitInterval = 200 * time.Millisecond
	rec := &commitRecorder{}
	f.cfg.Hooks = []processor.Hook{rec}
	events := vccgen.New(vccgen.Config{Seed: 11}).Take(2000)
	want := expected(t, f.cfg, events)
	f.produce(ctx, inputs(t, f.cfg.InputTopic, events)...)

	failed := failFirstCommit(f)
	commitRunToEnd(ctx, t, f)

	if n := failed.Load(); n != 1 {
		t.Fatalf("%d EndTxn commits failed, want 1", n)
	}
	aborted, outputs := rec.commitAbortsWithRecords()
	if len(aborted) != 1 || outputs[0] == 0 {
		t.Fatalf("aborts with records %v (outputs %v), want one that had produced outputs", aborted, outputs)
	}
	if _, _, _, restores := rec.snapshot(); restores != partitions {
		t.Fatalf("%d partition restores, want %d: the abort did not keep the partitions on the same client", restores, partitions)
	}
	got := records.DecodeOutput(t, commitReadOutput(ctx, t, f), codec.Binary)
	testkit.SameRecords(t, want, got)
}

// TestPromiseAbortIsReportedAndNotCounted: exactly-once, a produce inside
// the first transaction fails (INVALID_RECORD), so the transaction that
// processed all ten input records aborts. HookAbort is called once with
// those ten records; the metrics count the aborted transaction as aborted
// and count its records, outputs and durations only once, from the commit
// that processed them again.
func TestPromiseAbortIsReportedAndNotCounted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFixture(t, processor.ExactlyOnce, codec.Structured)
	f.cfg.IdleTimeout = 0
	f.cfg.CommitInterval = 200 * time.Millisecond
	rec := &commitRecorder{}
	reg := commitMetrics(f, rec)

	// Five interruptions of one channel (one partition), each resumed a
	// minute after it began: ten records, fetched together.
	const ch = "8a0c7e52-0000-4000-8000-00000000ab01"
	const pairs = 5
	var events []vccgen.Event
	var recs []*kgo.Record
	for i := range pairs {
		for j, kind := range []string{"channel.interrupted.v0", "channel.resumed.v0"} {
			v := testkit.StructuredValue(t, testkit.ChannelEvent(kind, fmt.Sprintf("e%d-%d", i, j), ch,
				fmt.Sprintf("2026-01-05T08:%02d:00Z", 2*i+j)))
			events = append(events, vccgen.Event{Key: []byte(ch), Value: v})
			recs = append(recs, &kgo.Record{Topic: f.cfg.InputTopic, Key: []byte(ch), Value: v})
		}
	}
	want := expected(t, f.cfg, events)
	if want.Len() != pairs {
		t.Fatalf("replay gives %d records, want %d", want.Len(), pairs)
	}
	f.produce(ctx, recs...)

	var failed atomic.Int32
	f.cluster.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		req := kr.(*kmsg.ProduceRequest)
		if req.TransactionID == nil { // not the processor's
			return nil, nil, false
		}
		failed.Add(1)
		return testkit.FailProduce(req, kerr.InvalidRecord.Code), nil, true
	})
	commitRunToEnd(ctx, t, f)

	if n := failed.Load(); n != 1 {
		t.Fatalf("%d produce requests failed, want 1", n)
	}
	aborted, _ := rec.commitAbortsWithRecords()
	if len(aborted) != 1 || aborted[0] != 2*pairs {
		t.Errorf("OnAbort with records: %v, want once with the %d records of the aborted transaction", aborted, 2*pairs)
	}
	commits, _, _, _ := rec.snapshot()
	sum := 0
	for _, n := range commits {
		sum += n
	}
	if sum != 2*pairs {
		t.Errorf("OnCommit counts %v sum to %d, want each record committed once: %d", commits, sum, 2*pairs)
	}
	commitExpectMetrics(t, reg, map[string]float64{
		"interruptions_transactions_total result aborted":                              1,
		"interruptions_input_events_total type interrupted result processed":           pairs,
		"interruptions_input_events_total type resumed result processed":               pairs,
		"interruptions_input_events_total type interrupted result duplicate":           0,
		"interruptions_input_events_total type resumed result duplicate":               0,
		"interruptions_records_total outcome resumed":                                  pairs,
		"interruptions_interruption_duration_seconds role agent outcome resumed":       pairs,
		"interruptions_housekeeping_total action resume-without-interruption":          0,
		"interruptions_housekeeping_total action interrupted-while-interrupted":        0,
		"interruptions_dead_letters_total reason " + string(codec.ReasonNotCloudEvent): 0,
	})
	if _, s := commitMetric(t, reg, "interruptions_interruption_duration_seconds", "role", "agent", "outcome", "resumed"); s != pairs*60 {
		t.Errorf("duration sum %vs, want %d one-minute interruptions", s, pairs)
	}
	got := records.DecodeOutput(t, commitReadOutput(ctx, t, f), codec.Structured)
	testkit.SameRecords(t, want, got)
}

// TestPromiseAtLeastOnceCommitsOnlyAckedOutput: at-least-once, every
// produce to the output topic fails (INVALID_RECORD, not retriable) for a
// while. Meanwhile the group's committed input offset never passes a
// record whose output was not acknowledged (the first record of each
// partition that closes an interruption, found from replay's records):
// the client restarts and processes the input again. Once the output topic
// takes records again, the output holds every record replay expects.
func TestPromiseAtLeastOnceCommitsOnlyAckedOutput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	f := newFixture(t, processor.AtLeastOnce, codec.Binary)
	f.cfg.IdleTimeout = 0
	rec := &commitRecorder{}
	f.cfg.Hooks = []processor.Hook{rec}
	events := vccgen.New(vccgen.Config{Seed: 7}).Take(600)
	want := expected(t, f.cfg, events)
	recs := inputs(t, f.cfg.InputTopic, events)
	f.produce(ctx, recs...) // sets each record's partition and offset

	// The first input offset, by partition, of an event that closes an
	// interruption: its output cannot be acknowledged while the output
	// topic fails.
	at := make(map[string][]*kgo.Record)
	for i, ev := range events {
		at[ev.ID] = append(at[ev.ID], recs[i])
	}
	firstClose := make(map[int32]int64)
	for r := range want {
		var d struct {
			ClosedBy *struct{ ID string } `json:"closedBy"`
		}
		if err := json.Unmarshal([]byte(r.Data), &d); err != nil {
			t.Fatal(err)
		}
		if d.ClosedBy == nil {
			continue
		}
		for _, in := range at[d.ClosedBy.ID] {
			if o, ok := firstClose[in.Partition]; !ok || in.Offset < o {
				firstClose[in.Partition] = in.Offset
			}
		}
	}
	if len(firstClose) != partitions {
		t.Fatalf("closing events on partitions %v, want all %d", firstClose, partitions)
	}

	ids := commitTopicIDs(ctx, t, f, f.cfg.OutputTopic)
	var failing atomic.Bool
	var failed atomic.Int32
	failing.Store(true)
	f.cluster.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		f.cluster.KeepControl()
		req := kr.(*kmsg.ProduceRequest)
		if !failing.Load() || !commitProduceHas(req, f.cfg.OutputTopic, ids) {
			return nil, nil, false
		}
		failed.Add(1)
		return testkit.FailProduce(req, kerr.InvalidRecord.Code), nil, true
	})
	stop := f.start(ctx)
	defer stop() // again after the stop below: a no-op
	// A restore after the first ones: the first client ended, its batch
	// settled (committed or not) and the second client started over.
	testkit.Poll(t, 30*time.Second, 5*time.Millisecond, "a second client", nil, nil, func() (bool, string) {
		_, _, _, restores := rec.snapshot()
		return restores > partitions && failed.Load() > 0, fmt.Sprintf("%d restores, %d produce requests failed", restores, failed.Load())
	})
	adm := kadm.NewClient(f.client)
	offs, err := adm.FetchOffsets(ctx, f.cfg.Group)
	if err != nil {
		t.Fatal(err)
	}
	for p, closing := range firstClose {
		if o, ok := offs.Lookup(f.cfg.InputTopic, p); ok && o.Err == nil && o.At > closing {
			t.Errorf("partition %d: committed offset %d while the output of the record at %d was never acknowledged", p, o.At, closing)
		}
	}
	failing.Store(false)

	werr := testkit.WaitCommitted(ctx, adm, f.cfg.Group, f.cfg.InputTopic, 10*time.Millisecond, nil)
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if werr != nil {
		t.Fatal(werr)
	}
	got := records.DecodeOutput(t, commitReadOutput(ctx, t, f), codec.Binary)
	testkit.CoversRecords(t, want, got)
}

// TestPromiseDeadLettersCounted: the records that go to the dead-letter
// topic, and only they, are counted in the metrics, each by its reason.
func TestPromiseDeadLettersCounted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFixture(t, processor.ExactlyOnce, codec.Binary)
	f.cfg.IdleTimeout = 0
	reg := commitMetrics(f)
	const ch = "8a0c7e52-0000-4000-8000-00000000dd01"
	valid := func(kind, id, ts string) *kgo.Record {
		return &kgo.Record{Topic: f.cfg.InputTopic, Key: []byte(ch),
			Value: testkit.StructuredValue(t, testkit.ChannelEvent(kind, id, ch, ts))}
	}
	in := []*kgo.Record{valid("channel.interrupted.v0", "v1", "2026-01-05T08:00:00Z")}
	wantReasons := map[codec.Reason]int{}
	for _, b := range []struct {
		key, value string
		reason     codec.Reason
	}{
		{"k1", `{"specversion":"1.0","id":`, codec.ReasonNotCloudEvent},
		{"k2", `not json at all`, codec.ReasonNotCloudEvent},
		{"k3", `{"specversion":"1.0","id":"a","source":"/channel","type":"channel.resumed.v0","data":{"timestamp":"2026-01-05T08:00:00Z","channel":{"channelId":""}}}`, codec.ReasonMissingChannelID},
		{"k4", `{"specversion":"1.0","id":"b","source":"/channel","type":"channel.resumed.v9","data":{}}`, codec.ReasonUnsupportedVersion},
	} {
		in = append(in, &kgo.Record{Topic: f.cfg.InputTopic, Key: []byte(b.key), Value: []byte(b.value)})
		wantReasons[b.reason]++
	}
	in = append(in, valid("channel.resumed.v0", "v2", "2026-01-05T08:01:00Z"))
	f.produce(ctx, in...)
	commitRunToEnd(ctx, t, f)

	// The dead-letter topic holds the bad records with their reasons:
	// the metrics must say the same.
	dl, err := testkit.ReadAll(ctx, kadm.NewClient(f.client), []kgo.Opt{kgo.SeedBrokers(f.cfg.Brokers...)}, f.cfg.DLQTopic)
	if err != nil {
		t.Fatal(err)
	}
	gotReasons := map[codec.Reason]int{}
	for _, r := range dl {
		gotReasons[codec.Reason(testkit.Header(r, cekafka.HeaderDLQReason))]++
	}
	if fmt.Sprint(gotReasons) != fmt.Sprint(wantReasons) {
		t.Fatalf("dead letters by reason %v, want %v", gotReasons, wantReasons)
	}
	want := map[string]float64{
		"interruptions_input_events_total type invalid result dlq":           4,
		"interruptions_input_events_total type interrupted result processed": 1,
		"interruptions_input_events_total type resumed result processed":     1,
	}
	for _, reason := range []codec.Reason{codec.ReasonNotCloudEvent, codec.ReasonInvalidCloudEvent, codec.ReasonSpecVersion,
		codec.ReasonUnsupportedVersion, codec.ReasonDataNotObject, codec.ReasonInvalidData, codec.ReasonMissingChannelID,
		codec.ReasonInvalidTimestamp, codec.ReasonSubjectMismatch, codec.ReasonTimestampInFuture, codec.ReasonTooLate, "other"} {
		want["interruptions_dead_letters_total reason "+string(reason)] = float64(wantReasons[reason])
	}
	commitExpectMetrics(t, reg, want)
}

// TestPromiseIdleExpiryInMetrics: an interruption that only an idle
// advance expires (no input after it) is in the metrics once its record is
// committed, with its outcome and duration: the transaction that carries
// only an idle advance reports its commit like any other.
func TestPromiseIdleExpiryInMetrics(t *testing.T) {
	for _, g := range []processor.Guarantee{processor.ExactlyOnce, processor.AtLeastOnce} {
		t.Run(g.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			f := newFixture(t, g, codec.Structured)
			f.cfg.IdleTimeout = 200 * time.Millisecond
			f.cfg.Engine.MaxInterruption = 500 * time.Millisecond
			f.cfg.Engine.Retention = time.Second
			reg := commitMetrics(f)
			stop := f.start(ctx)
			const ch = "8a0c7e52-0000-4000-8000-00000000e001"
			opened := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
			f.produce(ctx, &kgo.Record{Topic: f.cfg.InputTopic, Key: []byte(ch),
				Value: testkit.StructuredValue(t, testkit.ChannelEvent("channel.interrupted.v0", "idle-1", ch, opened))})
			out := f.readN(ctx, f.cfg.OutputTopic, 1)
			// The record is committed; stopping runs no more input, and
			// Run returns only after the loop reported that commit.
			if err := stop(); err != nil {
				t.Fatalf("run: %v", err)
			}
			ce, err := codec.ParseStructured(out[0].Value)
			if err != nil {
				t.Fatal(err)
			}
			var d codec.RecordData
			if err := json.Unmarshal(ce.Data(), &d); err != nil {
				t.Fatal(err)
			}
			if d.Outcome != "expired" || d.DurationMs != 500 || d.OpenedBy.ID != "idle-1" {
				t.Fatalf("record %+v, want idle-1 expired after 500ms", d)
			}
			commitExpectMetrics(t, reg, map[string]float64{
				"interruptions_input_events_total type interrupted result processed":     1,
				"interruptions_records_total outcome expired":                            1,
				"interruptions_housekeeping_total action expired":                        1,
				"interruptions_interruption_duration_seconds role agent outcome expired": 1,
			})
			if _, s := commitMetric(t, reg, "interruptions_interruption_duration_seconds", "role", "agent", "outcome", "expired"); s != 0.5 {
				t.Errorf("duration sum %vs, want 0.5", s)
			}
			if n, _ := commitMetric(t, reg, "interruptions_idle_clock_advances_total"); n < 1 {
				t.Errorf("idle_clock_advances_total %v, want at least the advance that expired the interruption", n)
			}
		})
	}
}
