package processor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/internal/testkit/records"
	"github.com/interruptions/interruptions/metrics"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/processor/replay"
)

// overflowInput is the input of the channel-overflow tests, all for one
// partition: channel A's cap+1 distinct events (interrupted and resumed
// alternately, one second apart, so its first cap events make cap/2
// resumed interruptions), then a copy of A's first event (a duplicate,
// at the cap), then channel B's interrupted and resumed. It returns the
// record values in order and the index of the one over the cap.
func overflowInput(t *testing.T, capEvents int) (values [][]byte, over int) {
	t.Helper()
	base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	ts := func(s int) string { return base.Add(time.Duration(s) * time.Second).Format(time.RFC3339Nano) }
	for i := 0; i <= capEvents; i++ {
		typ := "channel.interrupted.v0"
		if i%2 == 1 {
			typ = "channel.resumed.v0"
		}
		values = append(values, testkit.StructuredValue(t, testkit.ChannelEvent(typ, fmt.Sprintf("a-%06d", i), "chan-A", ts(i))))
	}
	over = capEvents
	values = append(values, values[0],
		testkit.StructuredValue(t, testkit.ChannelEvent("channel.interrupted.v0", "b-open", "chan-B", ts(capEvents+10))),
		testkit.StructuredValue(t, testkit.ChannelEvent("channel.resumed.v0", "b-close", "chan-B", ts(capEvents+70))))
	return values, over
}

// TestChannelOverflowDeadLettered: with --max-channel-events 100, the 101st
// distinct event of one channel goes to the dead-letter topic byte for byte
// with reason channel-overflow and is counted in
// dead_letters_total{reason="channel-overflow"}; a copy of one of the
// channel's events arriving at the cap is a duplicate, not an overflow
// (nothing else reaches the DLQ); the partition keeps committing to its
// end and a later channel on it is still served. Oracles: the input bytes,
// the count 100/2 of A's interruptions, B's interruption id built from its
// opening event.
func TestChannelOverflowDeadLettered(t *testing.T) {
	const capEvents = 100
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFixture(t, processor.ExactlyOnce, codec.Binary)
	f.cfg.Engine.MaxChannelEvents = capEvents
	reg := prometheus.NewRegistry()
	f.cfg.Hooks = append(f.cfg.Hooks, metrics.New(reg))
	values, over := overflowInput(t, capEvents)
	producePartition0(ctx, t, f, values, []byte("k"))
	stop := f.start(ctx)
	adm := kadm.NewClient(f.client)
	if err := testkit.WaitCommitted(ctx, adm, f.cfg.Group, f.cfg.InputTopic, 20*time.Millisecond, nil); err != nil {
		t.Fatalf("the partition stopped committing: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	dl, err := testkit.ReadAll(ctx, adm, []kgo.Opt{kgo.SeedBrokers(f.cfg.Brokers...)}, f.cfg.DLQTopic)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 1 {
		for _, r := range dl {
			t.Logf("dead letter: reason %s, %s", testkit.Header(r, cekafka.HeaderDLQReason), r.Value)
		}
		t.Fatalf("%d dead letters, want 1 (the event over the cap; the duplicate at the cap is not one)", len(dl))
	}
	if !bytes.Equal(dl[0].Value, values[over]) || testkit.Header(dl[0], cekafka.HeaderDLQReason) != string(codec.ReasonChannelOverflow) ||
		testkit.Header(dl[0], cekafka.HeaderDLQOffset) != fmt.Sprint(over) {
		t.Errorf("dead letter: reason %q offset %s value %s; want %s at offset %d, value %s", testkit.Header(dl[0], cekafka.HeaderDLQReason),
			testkit.Header(dl[0], cekafka.HeaderDLQOffset), dl[0].Value, codec.ReasonChannelOverflow, over, values[over])
	}
	if got := testkit.Series(t, reg, "interruptions_dead_letters_total", "reason", string(codec.ReasonChannelOverflow)).GetCounter().GetValue(); got != 1 {
		t.Errorf("dead_letters_total{reason=channel-overflow} = %v, want 1", got)
	}
	out, err := testkit.ReadAll(ctx, adm, []kgo.Opt{kgo.SeedBrokers(f.cfg.Brokers...)}, f.cfg.OutputTopic)
	if err != nil {
		t.Fatal(err)
	}
	final, err := records.FinalTable(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(final) != capEvents/2+1 {
		t.Errorf("final table has %d interruptions, want %d of channel A and 1 of B", len(final), capEvents/2)
	}
	if _, ok := final[codec.InterruptionID("chan-B", "/channel", "b-open")]; !ok {
		t.Errorf("channel B's interruption, after A's overflow on the same partition, is missing")
	}
}

// TestChannelOverflowReplayAgreesWithRun: replay with the same
// --max-channel-events gives the same records as run and dead-letters the
// same line, the one over the cap, with the same reason.
func TestChannelOverflowReplayAgreesWithRun(t *testing.T) {
	const capEvents = 100
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFixture(t, processor.ExactlyOnce, codec.Binary)
	f.cfg.Engine.MaxChannelEvents = capEvents
	values, over := overflowInput(t, capEvents)

	var in, out, dlq bytes.Buffer
	for _, v := range values {
		in.Write(v)
		in.WriteByte('\n')
	}
	sum, err := replay.Run(ctx, &in, &out, &dlq, replay.Config{Engine: f.cfg.Engine,
		Encoder: cekafka.Encoder{Source: f.cfg.Encoder.Source, Mode: codec.Structured}})
	if err != nil {
		t.Fatal(err)
	}
	want, err := records.ParseNDJSON(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var line replay.DeadLine
	if err := json.Unmarshal(dlq.Bytes(), &line); err != nil {
		t.Fatalf("replay dlq %q: %v", dlq.Bytes(), err)
	}
	if n := bytes.Count(dlq.Bytes(), []byte("\n")); n != 1 || line.Line != over+1 || line.Reason != codec.ReasonChannelOverflow ||
		line.Original != string(values[over]) || sum.DeadLetters[codec.ReasonChannelOverflow] != 1 {
		t.Fatalf("replay dead letters: %d lines, first %+v; want one, line %d, reason %s", n, line, over+1, codec.ReasonChannelOverflow)
	}

	producePartition0(ctx, t, f, values, nil)
	stop := f.start(ctx)
	got := records.DecodeOutput(t, f.readN(ctx, f.cfg.OutputTopic, want.Len()), codec.Binary)
	dl := f.readN(ctx, f.cfg.DLQTopic, 1)
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	testkit.SameRecords(t, want, got)
	if !bytes.Equal(dl[0].Value, values[over]) || testkit.Header(dl[0], cekafka.HeaderDLQReason) != string(line.Reason) {
		t.Errorf("run's dead letter %s (%s) differs from replay's line %d", dl[0].Value, testkit.Header(dl[0], cekafka.HeaderDLQReason), line.Line)
	}
}

// producePartition0 produces values, keyed by key, to partition 0 of the
// input topic, whatever the key hashes to.
func producePartition0(ctx context.Context, t *testing.T, f *fixture, values [][]byte, key []byte) {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: f.cfg.InputTopic, Partition: 0, Key: key, Value: v}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.cfg.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
