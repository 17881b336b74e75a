package processor_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/internal/testkit/records"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/processor/replay"
	"github.com/interruptions/interruptions/state"
	"github.com/interruptions/interruptions/vccgen"
)

const partitions = 3

// fixture is an embedded Kafka with the processor's topics.
type fixture struct {
	t       *testing.T
	cluster *kfake.Cluster
	cfg     processor.Config
	client  *kgo.Client
}

func newFixture(t *testing.T, g processor.Guarantee, mode codec.Mode) *fixture {
	t.Helper()
	cfg := processor.DefaultConfig()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(partitions, cfg.InputTopic, cfg.OutputTopic, cfg.DLQTopic))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(cluster.Close)
	cfg.Brokers = cluster.ListenAddrs()
	cfg.Guarantee = g
	cfg.Encoder.Mode = mode
	cfg.CommitInterval = 20 * time.Millisecond
	cfg.TransactionalID = "test-" + t.Name()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(cl.Close)
	return &fixture{t: t, cluster: cluster, cfg: cfg, client: cl}
}

// start runs a processor until the returned stop function is called; stop
// returns Run's error, and may be called again (deferred as well).
func (f *fixture) start(ctx context.Context) (stop func() error) {
	r, err := processor.NewRunner(f.cfg)
	if err != nil {
		f.t.Fatalf("runner: %v", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var runErr error
	return func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
}

func (f *fixture) produce(ctx context.Context, recs ...*kgo.Record) {
	f.t.Helper()
	if err := f.client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		f.t.Fatalf("produce: %v", err)
	}
}

// readN reads n committed records from topic, failing if ctx ends first.
func (f *fixture) readN(ctx context.Context, topic string, n int) []*kgo.Record {
	f.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.cfg.Brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		f.t.Fatalf("reader: %v", err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			f.t.Fatalf("read %s: got %d of %d records before %v", topic, len(out), n, ctx.Err())
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// expected computes the records `run` must produce from the events, with
// replay's per-partition simulation.
func expected(t *testing.T, cfg processor.Config, events []vccgen.Event) testkit.Records {
	t.Helper()
	var in bytes.Buffer
	for _, ev := range events {
		in.Write(ev.Value)
		in.WriteByte('\n')
	}
	var out bytes.Buffer
	if _, err := replay.Run(context.Background(), &in, &out, nil, replay.Config{
		Engine: cfg.Engine, Encoder: cekafka.Encoder{Source: cfg.Encoder.Source, Mode: codec.Structured},
		Partitions: partitions,
	}); err != nil {
		t.Fatalf("replay: %v", err)
	}
	want, err := records.ParseNDJSON(out.Bytes())
	if err != nil {
		t.Fatalf("replay output: %v", err)
	}
	return want
}

// inputs turns generated events into records, alternating content modes.
func inputs(t *testing.T, topic string, events []vccgen.Event) []*kgo.Record {
	t.Helper()
	recs, err := records.Inputs(topic, events, records.Alternating)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestRunnerMatchesReplay(t *testing.T) {
	for _, tc := range []struct {
		g    processor.Guarantee
		mode codec.Mode
	}{
		{processor.ExactlyOnce, codec.Binary},
		{processor.ExactlyOnce, codec.Structured},
		{processor.AtLeastOnce, codec.Binary},
	} {
		t.Run(tc.g.String()+"/"+tc.mode.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			f := newFixture(t, tc.g, tc.mode)
			events := vccgen.New(vccgen.Config{Seed: 11}).Take(3000)
			want := expected(t, f.cfg, events)
			if want.Len() < 100 {
				t.Fatalf("generator gave only %d interruptions", want.Len())
			}
			f.produce(ctx, inputs(t, f.cfg.InputTopic, events)...)
			stop := f.start(ctx)
			got := records.DecodeOutput(t, f.readN(ctx, f.cfg.OutputTopic, want.Len()), tc.mode)
			if err := stop(); err != nil {
				t.Fatalf("run: %v", err)
			}
			testkit.SameRecords(t, want, got)
		})
	}
}

// TestRunnerAgainstTruth checks `run` against an oracle that is not the
// engine: the true interruptions of vccgen's simulation, with the input
// fully shuffled before it is produced. Every true interruption whose
// opening and closing events were delivered is in run's final table with
// the true outcome and times, and every interruption there is opened by a
// true one's opening event. (How many records to wait for comes from
// replay; what they must say comes from the truth.)
func TestRunnerAgainstTruth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	f := newFixture(t, processor.ExactlyOnce, codec.Binary)
	gen := vccgen.New(vccgen.Config{Seed: 13, Truth: true})
	events := gen.Take(4000)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	n := expected(t, f.cfg, events).Len()
	f.produce(ctx, inputs(t, f.cfg.InputTopic, events)...)
	stop := f.start(ctx)
	out := f.readN(ctx, f.cfg.OutputTopic, n)
	records.DecodeOutput(t, out, codec.Binary) // every record well formed, no id twice
	final, err := records.FinalTable(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	delivered := map[string]bool{}
	for _, ev := range events {
		delivered[ev.ID] = true
	}
	truth := map[string]vccgen.Interruption{}
	complete := 0
	for _, in := range gen.Truth() {
		truth[in.OpenedBy] = in
		if delivered[in.OpenedBy] && delivered[in.ClosedBy] {
			complete++
			if _, ok := final[codec.InterruptionID(in.ChannelID, vccgen.SourceChannel, in.OpenedBy)]; !ok {
				t.Errorf("true interruption %+v: missing from run's final table", in)
			}
		}
	}
	if complete < 50 {
		t.Fatalf("only %d complete true interruptions", complete)
	}
	for id, row := range final {
		var d codec.RecordData
		if err := json.Unmarshal([]byte(row.Data), &d); err != nil {
			t.Fatal(err)
		}
		tr, ok := truth[d.OpenedBy.ID]
		switch {
		case !ok:
			t.Errorf("interruption %s opened by %s: not a true interruption", id, d.OpenedBy.ID)
		case !delivered[tr.ClosedBy]:
			// Its true close was still held for late delivery.
		case d.ChannelID != tr.ChannelID || d.Outcome != tr.Outcome ||
			d.InterruptedAt != codec.FormatMillis(tr.InterruptedAt.UnixNano()) || d.ClosedAt != codec.FormatMillis(tr.ClosedAt.UnixNano()):
			t.Errorf("interruption %s: %s %s %s-%s, truth %+v", id, d.ChannelID, d.Outcome, d.InterruptedAt, d.ClosedAt, tr)
		}
	}
}

func TestRunnerDeadLetters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFixture(t, processor.ExactlyOnce, codec.Binary)
	bad := []*kgo.Record{
		{Key: []byte("k1"), Value: []byte(`{"specversion":"1.0","id":`), Headers: []kgo.RecordHeader{{Key: "x-trace", Value: []byte{0xff, 0}}}},
		{Key: []byte("k2"), Value: []byte(`{"specversion":"1.0","id":"a","source":"/channel","type":"channel.resumed.v0","data":{"timestamp":"2026-01-05T08:00:00Z","channel":{"channelId":""}}}`)},
		{Key: []byte("k3"), Value: []byte(`{"specversion":"1.0","id":"b","source":"/channel","type":"channel.resumed.v9","data":{}}`)},
		{Key: nil, Value: []byte{0xde, 0xad, 0xbe, 0xef}, Headers: []kgo.RecordHeader{{Key: "ce_specversion", Value: []byte("1.0")}}},
	}
	reasons := []codec.Reason{codec.ReasonNotCloudEvent, codec.ReasonMissingChannelID, codec.ReasonUnsupportedVersion, codec.ReasonInvalidCloudEvent}
	for _, r := range bad {
		r.Topic = f.cfg.InputTopic
		r.Partition = 1
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.cfg.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, bad...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	stop := f.start(ctx)
	dl := f.readN(ctx, f.cfg.DLQTopic, len(bad))
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	sort.Slice(dl, func(i, j int) bool {
		return testkit.Header(dl[i], cekafka.HeaderDLQOffset) < testkit.Header(dl[j], cekafka.HeaderDLQOffset)
	})
	for i, r := range dl {
		in := bad[i]
		if !bytes.Equal(r.Value, in.Value) || !bytes.Equal(r.Key, in.Key) {
			t.Errorf("dead letter %d: key %q value %q, want %q %q", i, r.Key, r.Value, in.Key, in.Value)
		}
		for _, h := range in.Headers {
			if got := testkit.Header(r, h.Key); got != string(h.Value) {
				t.Errorf("dead letter %d: original header %s = %q, want %q", i, h.Key, got, h.Value)
			}
		}
		if got := testkit.Header(r, cekafka.HeaderDLQReason); got != string(reasons[i]) {
			t.Errorf("dead letter %d: reason %q, want %q (error %q)", i, got, reasons[i], testkit.Header(r, cekafka.HeaderDLQError))
		}
		if testkit.Header(r, cekafka.HeaderDLQTopic) != f.cfg.InputTopic || testkit.Header(r, cekafka.HeaderDLQPartition) != "1" ||
			testkit.Header(r, cekafka.HeaderDLQOffset) != fmt.Sprint(i) || testkit.Header(r, cekafka.HeaderDLQTime) == "" {
			t.Errorf("dead letter %d: source headers %v", i, r.Headers)
		}
	}
}

// TestRunnerRestartRestoresState stops the processor between two halves of
// the input: the second processor restores open interruptions and seen ids
// from the changelog, so the output equals one uninterrupted run's.
func TestRunnerRestartRestoresState(t *testing.T) {
	for _, g := range []processor.Guarantee{processor.ExactlyOnce, processor.AtLeastOnce} {
		t.Run(g.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			f := newFixture(t, g, codec.Binary)
			events := vccgen.New(vccgen.Config{Seed: 5}).Take(4000)
			half := len(events) / 2
			wantFirst := expected(t, f.cfg, events[:half])
			want := expected(t, f.cfg, events)

			f.produce(ctx, inputs(t, f.cfg.InputTopic, events[:half])...)
			stop := f.start(ctx)
			f.readN(ctx, f.cfg.OutputTopic, wantFirst.Len())
			if err := stop(); err != nil {
				t.Fatalf("first run: %v", err)
			}
			f.produce(ctx, inputs(t, f.cfg.InputTopic, events[half:])...)
			stop = f.start(ctx)
			got := records.DecodeOutput(t, f.readN(ctx, f.cfg.OutputTopic, want.Len()), codec.Binary)
			if err := stop(); err != nil {
				t.Fatalf("second run: %v", err)
			}
			testkit.SameRecords(t, want, got)
		})
	}
}

// TestRunnerIdlePartitionExpires: a partition that receives no more input
// still expires its open interruption, within idle-timeout +
// max-interruption of wall time after the event's arrival, as an ordinary
// expired record.
func TestRunnerIdlePartitionExpires(t *testing.T) {
	for _, g := range []processor.Guarantee{processor.ExactlyOnce, processor.AtLeastOnce} {
		t.Run(g.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			f := newFixture(t, g, codec.Structured)
			f.cfg.IdleTimeout = 200 * time.Millisecond
			f.cfg.Engine.MaxInterruption = 500 * time.Millisecond
			f.cfg.Engine.Retention = time.Second
			stop := f.start(ctx)
			defer stop()
			opened := time.Now().UTC().Truncate(time.Millisecond)
			const ch = "5f0c6f3e-8a61-4f44-9b0e-3c2c1d9a7e10"
			value := fmt.Sprintf(`{"specversion":"1.0","type":"channel.interrupted.v0","source":"/channel","id":"idle-1",`+
				`"subject":%q,"datacontenttype":"application/json","data":{"timestamp":%q,"channel":{"channelId":%q,`+
				`"party":{"role":"agent","agentId":"7"}}}}`, ch, opened.Format(time.RFC3339Nano), ch)
			f.produce(ctx, &kgo.Record{Topic: f.cfg.InputTopic, Key: []byte(ch), Value: []byte(value)})
			recs := f.readN(ctx, f.cfg.OutputTopic, 1)
			took := time.Since(opened)
			var data struct {
				Outcome       string `json:"outcome"`
				InterruptedAt string `json:"interruptedAt"`
				ClosedAt      string `json:"closedAt"`
				DurationMs    int64  `json:"durationMs"`
			}
			ce, err := codec.ParseStructured(recs[0].Value)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(ce.Data(), &data); err != nil {
				t.Fatal(err)
			}
			if data.Outcome != "expired" || data.DurationMs != 500 {
				t.Fatalf("record %+v, want expired after 500ms", data)
			}
			// Expected at arrival + idle-timeout + max-interruption; the
			// clock advances once a commit interval, under a loaded test
			// machine: a generous upper bound, and a strict lower one.
			if took < 700*time.Millisecond || took > 10*time.Second {
				t.Fatalf("expired %v after the event, want about 700ms", took)
			}
		})
	}
}

// runUntil runs a processor until cond holds on its status, then stops it
// and returns the last status.
func (f *fixture) runUntil(ctx context.Context, what string, cond func(processor.Status) bool) processor.Status {
	f.t.Helper()
	r, err := processor.NewRunner(f.cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			f.t.Errorf("run: %v", err)
		}
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		st := r.Status()
		if st.Ready && cond(st) {
			return st
		}
		select {
		case <-ctx.Done():
			f.t.Fatalf("waiting for %s: %v (status %+v)", what, ctx.Err(), st)
		case <-tick.C:
		}
	}
}

// TestRunnerRestoreDistrustsFutureClock: a changelog whose clock an earlier
// version let a far-future event set (2100) is restored with the clock
// lowered to the latest plausible event time; the processor then expires
// nothing on restore, and a restart keeps the clock its events set.
func TestRunnerRestoreDistrustsFutureClock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFixture(t, processor.ExactlyOnce, codec.Binary)
	f.cfg.IdleTimeout = 0
	// The processor writes its changelog; an earlier version's poisoned
	// clock is added to partition 0 by hand.
	cl := f.changelogWriter(ctx)
	poisoned := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: f.cfg.ChangelogTopic(), Partition: 0,
		Key: []byte(state.StreamTimeKey), Value: state.AppendStreamTime(nil, poisoned)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	clock0 := func(st processor.Status) int64 {
		for _, p := range st.Partitions {
			if p.Partition == 0 {
				return p.StreamTime
			}
		}
		return -1
	}
	st := f.runUntil(ctx, "partition 0 restored", func(st processor.Status) bool { return clock0(st) >= 0 })
	if c := clock0(st); c >= poisoned || c > time.Now().Add(f.cfg.MaxClockSkew).UnixNano() {
		t.Fatalf("restored clock %s: the poisoned clock was trusted", time.Unix(0, c).UTC())
	}
	// An event on partition 0 sets the clock; a restart restores it.
	ev := testkit.ChannelEvent("channel.interrupted.v0", "i1", "ch-0", "2026-01-05T08:00:00Z")
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: f.cfg.InputTopic, Partition: 0, Key: []byte("ch-0"),
		Value: testkit.StructuredValue(t, ev)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	want := testkit.At("2026-01-05T08:00:00Z")
	f.runUntil(ctx, "the event processed", func(st processor.Status) bool { return clock0(st) == want })
	st = f.runUntil(ctx, "partition 0 restored again", func(st processor.Status) bool { return clock0(st) >= 0 })
	if c := clock0(st); c != want {
		t.Fatalf("after a restart the clock is %s, want the event's %s", time.Unix(0, c).UTC(), time.Unix(0, want).UTC())
	}
}

// TestRunnerRefusesOldChangelog: state written by the pairing version
// (format 1) cannot be turned into a timeline: Run stops with an error that
// says what to do, instead of restarting forever or starting empty.
func TestRunnerRefusesOldChangelog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFixture(t, processor.AtLeastOnce, codec.Binary)
	cl := f.changelogWriter(ctx)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: f.cfg.ChangelogTopic(), Partition: 1,
		Key: []byte("ch-old"), Value: []byte{1, 0, 0}}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r, err := processor.NewRunner(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Run(ctx)
	var old *state.OldFormatError
	if !errors.As(err, &old) || !strings.Contains(err.Error(), "new --group") {
		t.Fatalf("Run = %v, want the old-format error", err)
	}
}

// changelogWriter creates the changelog topic and returns a client that
// writes records to the partition set on each (closed with the test).
func (f *fixture) changelogWriter(ctx context.Context) *kgo.Client {
	f.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.cfg.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(cl.Close)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, f.cfg.ChangelogTopic()); err != nil {
		f.t.Fatal(err)
	}
	return cl
}

// TestRunnerRestoresVersion2Changelog: a channel written by the previous
// version (format 2: a timeline without arrival offsets) is restored and
// described with its events' offsets unknown; an event processed after
// the restore is placed with the offset it arrived at.
func TestRunnerRestoresVersion2Changelog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFixture(t, processor.AtLeastOnce, codec.Binary)
	f.cfg.IdleTimeout = 0
	const id = "8a0c7e52-0000-4000-8000-0000000000v2"
	p := int32(codec.KeyPartition([]byte(id), partitions))
	at := testkit.At("2026-01-05T08:00:00Z")
	// Format 2, field by field: version; conversationId, interactionId,
	// role, agentId, userId (empty); last event time; open since at;
	// nothing held; one event (source, id, type, time); nothing published.
	v2 := []byte{2, 0, 0, 0, 0, 0}
	v2 = binary.AppendVarint(v2, at)
	v2 = binary.AppendVarint(append(v2, 1), at)
	v2 = append(v2, 0, 1)
	for _, s := range []string{"/channel", "i1", "channel.interrupted.v0"} {
		v2 = append(binary.AppendUvarint(v2, uint64(len(s))), s...)
	}
	v2 = append(binary.AppendVarint(v2, at), 0)
	cl := f.changelogWriter(ctx)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: f.cfg.ChangelogTopic(), Partition: p, Key: []byte(id), Value: v2}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A dead letter first (keyed to the same partition), so the
	// resumed's offset is not 0.
	f.produce(ctx, &kgo.Record{Topic: f.cfg.InputTopic, Key: []byte(id), Value: []byte("not an event")},
		&kgo.Record{Topic: f.cfg.InputTopic, Key: []byte(id), Value: testkit.StructuredValue(t,
			testkit.ChannelEvent("channel.resumed.v0", "r1", id, "2026-01-05T08:05:00Z"))})
	r, err := processor.NewRunner(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	var cs processor.ChannelState
	testkit.Poll(t, 30*time.Second, 10*time.Millisecond, "the resumed placed after the restored timeline", nil, nil, func() (bool, string) {
		cs, err = r.Channel(ctx, id)
		return err == nil && len(cs.Events) == 2, fmt.Sprintf("%+v, %v", cs.Events, err)
	})
	want := []state.Ref{
		{Source: "/channel", ID: "i1", Type: "channel.interrupted.v0", At: at},
		{Source: "/channel", ID: "r1", Type: "channel.resumed.v0", At: testkit.At("2026-01-05T08:05:00Z"), Offset: 1, HasOffset: true},
	}
	if !reflect.DeepEqual(cs.Events, want) {
		t.Fatalf("timeline %+v, want %+v", cs.Events, want)
	}
	if len(cs.Derived) != 1 || cs.Derived[0].Outcome.String() != "resumed" {
		t.Fatalf("derived %+v, want the restored interruption resumed", cs.Derived)
	}
}

// TestQueriesDuringCommits: state API queries run on a partition's worker
// while the loop commits and rolls back the partition's store between
// batches; under -race this fails if the two are not kept apart.
func TestQueriesDuringCommits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFixture(t, processor.ExactlyOnce, codec.Binary)
	f.cfg.IdleTimeout = 0
	r, err := processor.NewRunner(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	const id = "8a0c7e52-0000-4000-8000-000000000001"
	testkit.Poll(t, 30*time.Second, 10*time.Millisecond, "ready", nil, nil, func() (bool, string) {
		return r.Status().Ready, "not ready"
	})
	// Query without pause until the input is committed.
	stopQueries, queried := make(chan struct{}), make(chan int, 1)
	go func(stop <-chan struct{}) {
		n := 0
		for {
			select {
			case <-stop:
				queried <- n
				return
			default:
			}
			if _, err := r.Channel(ctx, id); err == nil {
				n++
			}
			if _, err := r.OpenInterruptions(ctx, 0, 10); err == nil {
				n++
			}
		}
	}(stopQueries)
	defer func() {
		if stopQueries != nil {
			close(stopQueries)
		}
	}()
	for i := range 40 {
		kind := "channel.interrupted.v0"
		if i%2 == 1 {
			kind = "channel.resumed.v0"
		}
		f.produce(ctx, &kgo.Record{Topic: f.cfg.InputTopic, Key: []byte(id), Value: testkit.StructuredValue(t,
			testkit.ChannelEvent(kind, fmt.Sprint("e", i), id, fmt.Sprintf("2026-01-05T08:%02d:00Z", i)))})
	}
	testkit.Poll(t, 30*time.Second, 10*time.Millisecond, "the input committed", nil, nil, func() (bool, string) {
		var n int64
		for _, p := range r.Status().Partitions {
			n += p.Committed
		}
		return n == 40, fmt.Sprint(n, " committed")
	})
	close(stopQueries)
	stopQueries = nil
	if n := <-queried; n == 0 {
		t.Fatal("no query answered")
	}
}
