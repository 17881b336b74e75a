package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/twmb/franz-go/pkg/kgo"
)

// structuredHeader marks a structured-mode CloudEvent record.
var structuredHeader = kgo.RecordHeader{Key: "content-type", Value: []byte("application/cloudevents+json")}

// TestDeadLetterTopic produces malformed records of every kind next to one
// valid interruption and checks the dead-letter topic: one record per bad
// input with its key, value, timestamp and headers byte for byte (non-UTF-8
// bytes, empty values and repeated keys included), then the dlq-* headers
// naming the reason, the error, and the source topic, partition and offset.
// The valid pair still gives its interruption record.
func TestDeadLetterTopic(t *testing.T) {
	const parts = 3
	h := setup(t)
	h.createTopic(h.Input, parts)

	ts := time.Now().Add(-48 * time.Hour).Truncate(time.Millisecond)
	oddHeaders := []kgo.RecordHeader{
		structuredHeader,
		{Key: "x-trace", Value: []byte{0xff, 0x00, 0xc3, 0x28, 0xfe}}, // not UTF-8, with a NUL
		{Key: "x-empty", Value: []byte{}},
		{Key: "x-repeated", Value: []byte("first")},
		{Key: "x-repeated", Value: []byte("second")},
		{Key: "x-ünïcödé", Value: []byte("välue")},
	}
	event := func(typ, id, channelID, ts string, changes ...func(testkit.Event)) []byte {
		return testkit.StructuredValue(t, testkit.ChannelEvent(typ, id, channelID, ts).With(changes...))
	}
	valid := event("channel.interrupted.v1", "ok-1", "ch-ok", "2026-01-05T08:00:00.000Z")
	bad := []struct {
		rec    *kgo.Record
		reason codec.Reason
	}{
		{&kgo.Record{Key: []byte{0xff, 0xfe, 'k', 0x00}, Value: valid[:len(valid)/2], Headers: oddHeaders},
			codec.ReasonNotCloudEvent},
		{&kgo.Record{Key: []byte("ch-missing"), Headers: []kgo.RecordHeader{structuredHeader},
			Value: event("channel.resumed.v0", "bad-2", "", "2026-01-05T08:00:01.000Z", testkit.Set("subject", testkit.Absent))},
			codec.ReasonMissingChannelID},
		{&kgo.Record{Key: []byte("ch-version"), Headers: []kgo.RecordHeader{structuredHeader},
			Value: event("channel.interrupted.v7", "bad-3", "ch-version", "2026-01-05T08:00:02.000Z")},
			codec.ReasonUnsupportedVersion},
		{&kgo.Record{Key: []byte("ch-binary"), Value: []byte{0xde, 0xad, 0xbe, 0xef, 0x00, 0xff},
			Headers: []kgo.RecordHeader{
				{Key: "ce_specversion", Value: []byte("1.0")},
				{Key: "ce_id", Value: []byte("bad-4")},
				{Key: "ce_source", Value: []byte("/channel")},
				{Key: "ce_type", Value: []byte("channel.interrupted.v1")},
				{Key: "ce_subject", Value: []byte("ch-binary")},
				{Key: "content-type", Value: []byte("application/json")},
				{Key: "x-bin", Value: []byte{0x80, 0x81}},
			}},
			codec.ReasonDataNotObject},
		{&kgo.Record{Value: []byte{0xde, 0xad, 0xbe, 0xef},
			Headers: []kgo.RecordHeader{{Key: "ce_specversion", Value: []byte("1.0")}}},
			codec.ReasonInvalidCloudEvent},
		{&kgo.Record{Key: []byte("ch-spec"), Headers: []kgo.RecordHeader{structuredHeader},
			Value: event("channel.interrupted.v1", "bad-6", "ch-spec", "2026-01-05T08:00:03.000Z", testkit.Set("specversion", "2.0"))},
			codec.ReasonNotCloudEvent},
		{&kgo.Record{Key: []byte("ch-time"), Headers: []kgo.RecordHeader{structuredHeader},
			Value: event("channel.interrupted.v1", "bad-7", "ch-time", "2026-01-05T08:00:04.000Z", testkit.Set("data.timestamp", "yesterday"))},
			codec.ReasonInvalidTimestamp},
		{&kgo.Record{Key: []byte("tombstone"), Value: nil}, codec.ReasonNotCloudEvent},
	}
	var recs []*kgo.Record
	for i, b := range bad {
		b.rec.Topic, b.rec.Partition, b.rec.Timestamp = h.Input, int32(i%parts), ts
		recs = append(recs, b.rec)
	}
	// One valid interruption, resumed 30s later, on partition 0.
	good := []*kgo.Record{
		{Topic: h.Input, Partition: 0, Key: []byte("ch-ok"), Value: valid, Headers: []kgo.RecordHeader{structuredHeader}},
		{Topic: h.Input, Partition: 0, Key: []byte("ch-ok"), Headers: []kgo.RecordHeader{structuredHeader},
			Value: event("channel.resumed.v0", "ok-2", "ch-ok", "2026-01-05T08:00:30.000Z")},
	}
	recs = append(recs, good...)
	producer, err := kgo.NewClient(kgo.SeedBrokers(h.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	must(t, "producer", err)
	defer producer.Close()
	must(t, "produce", producer.ProduceSync(h.ctx, recs...).FirstErr())

	started := time.Now()
	p := h.startRun("run")
	h.waitCaughtUp(p)
	p.stopClean()
	stopped := time.Now()

	// The dead letters, by source partition and offset.
	dlq := h.readTopic(h.DLQ)
	if len(dlq) != len(bad) {
		t.Errorf("%d dead letters, want %d", len(dlq), len(bad))
	}
	bySource := map[string]*kgo.Record{}
	for _, r := range dlq {
		src := testkit.Header(r, cekafka.HeaderDLQPartition) + "@" + testkit.Header(r, cekafka.HeaderDLQOffset)
		if bySource[src] != nil {
			t.Errorf("two dead letters for input %s", src)
		}
		bySource[src] = r
	}
	for i, b := range bad {
		in := b.rec
		src := fmt.Sprintf("%d@%d", in.Partition, in.Offset)
		r := bySource[src]
		if r == nil {
			t.Errorf("bad input %d (%s, %s): no dead letter", i, src, b.reason)
			continue
		}
		if !bytes.Equal(r.Key, in.Key) || (r.Key == nil) != (in.Key == nil) {
			t.Errorf("dead letter %d: key %q, want %q", i, r.Key, in.Key)
		}
		if !bytes.Equal(r.Value, in.Value) || (r.Value == nil) != (in.Value == nil) {
			t.Errorf("dead letter %d: value %q, want %q", i, r.Value, in.Value)
		}
		if !r.Timestamp.Equal(ts) {
			t.Errorf("dead letter %d: timestamp %s, want the input's %s", i, r.Timestamp, ts)
		}
		// The original headers first, in order, byte for byte.
		n := len(in.Headers)
		if len(r.Headers) != n+6 {
			t.Errorf("dead letter %d: %d headers, want %d original + 6: %v", i, len(r.Headers), n, r.Headers)
			continue
		}
		for j, hd := range in.Headers {
			if got := r.Headers[j]; got.Key != hd.Key || !bytes.Equal(got.Value, hd.Value) {
				t.Errorf("dead letter %d: header %d = %q:%q, want %q:%q", i, j, got.Key, got.Value, hd.Key, hd.Value)
			}
		}
		// Then the dead-letter headers, in order.
		dl := r.Headers[n:]
		keys := []string{cekafka.HeaderDLQReason, cekafka.HeaderDLQError, cekafka.HeaderDLQTopic,
			cekafka.HeaderDLQPartition, cekafka.HeaderDLQOffset, cekafka.HeaderDLQTime}
		for j, k := range keys {
			if dl[j].Key != k {
				t.Errorf("dead letter %d: header %d is %q, want %q", i, n+j, dl[j].Key, k)
			}
		}
		reason, msg := string(dl[0].Value), string(dl[1].Value)
		if reason != string(b.reason) {
			t.Errorf("dead letter %d: reason %q, want %q (error %q)", i, reason, b.reason, msg)
		}
		if !strings.HasPrefix(msg, reason+": ") || len(msg) <= len(reason)+2 {
			t.Errorf("dead letter %d: error %q does not start with its reason %q", i, msg, reason)
		}
		if got := string(dl[2].Value); got != h.Input {
			t.Errorf("dead letter %d: source topic %q, want %q", i, got, h.Input)
		}
		if got := string(dl[3].Value); got != strconv.Itoa(int(in.Partition)) {
			t.Errorf("dead letter %d: source partition %q, want %d", i, got, in.Partition)
		}
		if got := string(dl[4].Value); got != strconv.FormatInt(in.Offset, 10) {
			t.Errorf("dead letter %d: source offset %q, want %d", i, got, in.Offset)
		}
		at, err := time.Parse(time.RFC3339Nano, string(dl[5].Value))
		if err != nil || at.Before(started.Add(-time.Second)) || at.After(stopped.Add(time.Second)) {
			t.Errorf("dead letter %d: dlq-time %q (%v) not between the processor's start %s and stop %s",
				i, dl[5].Value, err, started.UTC().Format(time.RFC3339Nano), stopped.UTC().Format(time.RFC3339Nano))
		}
	}

	// The valid pair gives one record, next to the dead letters.
	out := h.readTopic(h.Output)
	if len(out) != 1 {
		t.Fatalf("%d output records, want 1", len(out))
	}
	ce, err := cekafka.DecodeRecord(out[0])
	must(t, "decode output", err)
	var d codec.RecordData
	must(t, "output data", json.Unmarshal(ce.Data(), &d))
	if d.ChannelID != "ch-ok" || d.Outcome != "resumed" || d.DurationMs != 30000 || d.OpenedBy.ID != "ok-1" ||
		d.ClosedBy == nil || d.ClosedBy.ID != "ok-2" {
		t.Errorf("output record: %s", ce.Data())
	}
}
