package processor

import (
	"bytes"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/handle"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/state"
)

// header returns the value of the first header named key.
func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// testPipeline returns a pipeline whose records are appended to *out, and
// a task with an empty store.
func testPipeline(out *[]*kgo.Record) (*pipeline, *task) {
	cfg := DefaultConfig()
	h := newHooks(nil)
	p := &pipeline{cfg: &cfg, log: zap.NewNop(), engine: match.NewEngine(cfg.Engine), hooks: &h}
	return p, &task{partition: 3, store: state.New(), produce: func(r *kgo.Record) { *out = append(*out, r) }}
}

// TestHandlerDeadLettersBadInput: input the codec rejects becomes one
// dead letter, byte for byte, with the reason; processing goes on.
func TestHandlerDeadLettersBadInput(t *testing.T) {
	var out []*kgo.Record
	p, tk := testPipeline(&out)
	rec := &kgo.Record{Topic: "in", Partition: 3, Offset: 9, Key: []byte("k"), Value: []byte("{not json")}
	if err := p.handler()(tk, rec); err != nil {
		t.Fatalf("handler: %v", err)
	}
	if len(out) != 1 || out[0].Topic != p.cfg.DLQTopic || !bytes.Equal(out[0].Value, rec.Value) ||
		header(out[0], cekafka.HeaderDLQReason) != string(codec.ReasonNotCloudEvent) {
		t.Fatalf("records %+v, want one dead letter of the input", out)
	}
}

// TestHandlerRecoversPanics: a panic while handling a record becomes a
// dead letter with reason processing-panic, and the worker goes on.
func TestHandlerRecoversPanics(t *testing.T) {
	var out []*kgo.Record
	p, tk := testPipeline(&out)
	h := p.wrap(func(*task) handle.Handler { return func(*handle.Input, *handle.Result) error { panic("boom") } })
	rec := &kgo.Record{Topic: "in", Partition: 3, Offset: 10, Value: []byte(`{"x":1}`)}
	if err := h(tk, rec); err != nil {
		t.Fatalf("handler: %v", err)
	}
	if len(out) != 1 || !bytes.Equal(out[0].Value, rec.Value) || header(out[0], cekafka.HeaderDLQReason) != "processing-panic" ||
		header(out[0], cekafka.HeaderDLQError) != "processing-panic: panic: boom" {
		t.Fatalf("records %+v, want one processing-panic dead letter", out)
	}
}

// TestHandlerTimestampInFuture: a handled event dated after its Kafka
// record timestamp + max-clock-skew is a timestamp-in-future dead letter
// and leaves the clock where it was; within the skew it is processed.
func TestHandlerTimestampInFuture(t *testing.T) {
	var out []*kgo.Record
	p, tk := testPipeline(&out)
	arrived := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	event := func(id string, ts time.Time) *kgo.Record {
		e := testkit.ChannelEvent("channel.interrupted.v0", id, "ch-1", ts.Format(time.RFC3339Nano)).
			With(testkit.Set("time", testkit.Absent))
		return &kgo.Record{Topic: "in", Partition: 3, Value: testkit.StructuredValue(t, e), Timestamp: arrived}
	}
	h := p.handler()
	if err := h(tk, event("far", arrived.Add(p.cfg.MaxClockSkew+time.Millisecond))); err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || header(out[0], cekafka.HeaderDLQReason) != string(codec.ReasonTimestampInFuture) {
		t.Fatalf("records %+v, want one timestamp-in-future dead letter", out)
	}
	if tk.store.StreamTime() != 0 {
		t.Fatalf("the clock moved to %d", tk.store.StreamTime())
	}
	if err := h(tk, event("near", arrived.Add(p.cfg.MaxClockSkew))); err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || tk.store.StreamTime() != arrived.Add(p.cfg.MaxClockSkew).UnixNano() {
		t.Fatalf("within the skew: %d records, clock %d", len(out), tk.store.StreamTime())
	}
}
