package cekafka

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/state"
)

// pair returns an interruption on chA opened by i1 and closed by the given
// event (nil: expired), with the seed's party.
func pair(o match.Outcome, from, to string, closedBy *state.Ref) match.Interruption {
	return match.Interruption{
		ChannelID:      chA,
		ConversationID: "3e71f453-116a-3abc-7769-bc678ef6e080",
		InteractionID:  "1371f451-116a-4abc-8869-bc678ef67070",
		Party:          vcc.Party{Role: "agent", AgentID: "1544", UserID: "ef71f453-556a-3abc-7769-bc678ef6e090"},
		Outcome:        o,
		InterruptedAt:  testkit.At(from),
		ClosedAt:       testkit.At(to),
		OpenedBy:       state.Ref{Source: "/channel", ID: "i1", Type: "channel.interrupted.v1", At: testkit.At(from)},
		ClosedBy:       closedBy,
		Revision:       1,
	}
}

// closer returns the ref of a closing event.
func closer(typ, id, ts string) *state.Ref {
	return &state.Ref{Source: "/channel", ID: id, Type: typ, At: testkit.At(ts)}
}

// Golden ids, computed independently (Python uuid.uuid5) from the
// namespace ns = uuid5(URL, "urn:interruptions:channel.interruptionended"):
// the interruption uuid5(ns, "ch-a\0/channel\0i1"), its records
// uuid5(ns, interruptionId + "\0" + revision).
const (
	goldenInterruptionID = "2789e4ac-ac02-522a-acd7-75b4d2bf5810" // ch-a, /channel, i1
	goldenRecordIDRev1   = "8ea05151-a947-53e9-a95e-2ce9d5c77531" // revision 1
	goldenRecordIDRev2   = "3914d492-9390-55bc-9fd0-37834702b5b4" // revision 2
)

// dataJSON decodes a record's data as generic JSON.
func dataJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("data %s: %v", b, err)
	}
	return m
}

func TestCloudEventData(t *testing.T) {
	seedParty := map[string]any{"role": "agent", "agentId": "1544", "userId": "ef71f453-556a-3abc-7769-bc678ef6e090"}
	base := func(outcome, from, to string, ms float64) map[string]any {
		return map[string]any{
			"interruptionId": goldenInterruptionID,
			"revision":       1.0,
			"channelId":      chA,
			"conversationId": "3e71f453-116a-3abc-7769-bc678ef6e080",
			"interactionId":  "1371f451-116a-4abc-8869-bc678ef67070",
			"party":          seedParty,
			"outcome":        outcome,
			"interruptedAt":  from,
			"closedAt":       to,
			"durationMs":     ms,
			"openedBy":       map[string]any{"id": "i1", "type": "channel.interrupted.v1"},
		}
	}
	with := func(m map[string]any, k string, v any) map[string]any {
		m[k] = v
		return m
	}
	tests := []struct {
		name string
		in   match.Interruption
		want map[string]any
	}{
		{"resumed",
			pair(match.OutcomeResumed, "08:00:00.123", "08:05:00.456", closer("channel.resumed.v0", "r1", "08:05:00.456")),
			with(base("resumed", "2026-01-05T08:00:00.123Z", "2026-01-05T08:05:00.456Z", 300333), "closedBy",
				map[string]any{"id": "r1", "type": "channel.resumed.v0"})},
		{"ended by disconnected",
			pair(match.OutcomeEnded, "08:00", "08:30", closer("channel.disconnected.v1", "d1", "08:30")),
			with(base("ended", "2026-01-05T08:00:00.000Z", "2026-01-05T08:30:00.000Z", 1800000), "closedBy",
				map[string]any{"id": "d1", "type": "channel.disconnected.v1"})},
		{"expired: no closedBy",
			pair(match.OutcomeExpired, "08:00", "09:00", nil),
			base("expired", "2026-01-05T08:00:00.000Z", "2026-01-05T09:00:00.000Z", 3600000)},
		{"duration 0",
			pair(match.OutcomeResumed, "08:00", "08:00", closer("channel.resumed.v1", "r1", "08:00")),
			with(base("resumed", "2026-01-05T08:00:00.000Z", "2026-01-05T08:00:00.000Z", 0), "closedBy",
				map[string]any{"id": "r1", "type": "channel.resumed.v1"})},
		{"offset times are written in UTC",
			pair(match.OutcomeResumed, "2026-01-05T10:00:00.123+02:00", "2026-01-05T03:05:00.5-05:00", closer("channel.resumed.v0", "r1", "2026-01-05T03:05:00.5-05:00")),
			with(base("resumed", "2026-01-05T08:00:00.123Z", "2026-01-05T08:05:00.500Z", 300377), "closedBy",
				map[string]any{"id": "r1", "type": "channel.resumed.v0"})},
		{"sub-millisecond digits are truncated before the duration",
			pair(match.OutcomeResumed, "08:00:00.0009999", "08:00:01.0001", closer("channel.resumed.v0", "r1", "08:00:01.0001")),
			with(base("resumed", "2026-01-05T08:00:00.000Z", "2026-01-05T08:00:01.000Z", 1000), "closedBy",
				map[string]any{"id": "r1", "type": "channel.resumed.v0"})},
		{"duration of the printed values, not of the exact ones",
			pair(match.OutcomeResumed, "08:00:00.999999999", "08:00:01.000000001", closer("channel.resumed.v0", "r1", "08:00:01.000000001")),
			with(base("resumed", "2026-01-05T08:00:00.999Z", "2026-01-05T08:00:01.000Z", 1), "closedBy",
				map[string]any{"id": "r1", "type": "channel.resumed.v0"})},
		{"external party: agentId omitted",
			func() match.Interruption {
				in := pair(match.OutcomeExpired, "08:00", "09:00", nil)
				in.Party = vcc.Party{Role: "external", UserID: "u1"}
				return in
			}(),
			with(base("expired", "2026-01-05T08:00:00.000Z", "2026-01-05T09:00:00.000Z", 3600000), "party",
				map[string]any{"role": "external", "userId": "u1"})},
		{"party with role only",
			func() match.Interruption {
				in := pair(match.OutcomeExpired, "08:00", "09:00", nil)
				in.Party = vcc.Party{Role: "voicemail"}
				return in
			}(),
			with(base("expired", "2026-01-05T08:00:00.000Z", "2026-01-05T09:00:00.000Z", 3600000), "party",
				map[string]any{"role": "voicemail"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ce, err := codec.RecordEvent(tt.in, "/interruptions")
			if err != nil {
				t.Fatalf("CloudEvent: %v", err)
			}
			if got := dataJSON(t, ce.Data()); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("data:\n got %v\nwant %v", got, tt.want)
			}
			// The typed view agrees with the JSON.
			d := codec.RecordPayload(tt.in)
			if d.DurationMs != int64(tt.want["durationMs"].(float64)) || d.InterruptedAt != tt.want["interruptedAt"] || d.ClosedAt != tt.want["closedAt"] {
				t.Fatalf("RecordPayload() = %+v disagrees with the record", d)
			}
		})
	}
}

func TestCloudEventAttributes(t *testing.T) {
	closed := pair(match.OutcomeResumed, "08:00:00.123", "08:05:00.4567", closer("channel.resumed.v0", "r1", "08:05:00.4567"))
	ce, err := codec.RecordEvent(closed, "/interruptions")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"specversion", ce.SpecVersion(), "1.0"},
		{"type", ce.Type(), "channel.interruptionended.v0"},
		{"source", ce.Source(), "/interruptions"},
		{"subject", ce.Subject(), chA},
		{"id", ce.ID(), goldenRecordIDRev1},
		{"time", ce.Time(), time.Date(2026, 1, 5, 8, 5, 0, 456e6, time.UTC)},
		{"datacontenttype", ce.DataContentType(), "application/json"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if _, err := codec.RecordEvent(closed, ""); err == nil {
		t.Error("CloudEvent with an empty source: no error")
	}
}

func TestRecordIDs(t *testing.T) {
	r1 := closer("channel.resumed.v0", "r1", "08:05")
	base := pair(match.OutcomeResumed, "08:00", "08:05", r1)
	variant := func(f func(*match.Interruption)) match.Interruption {
		in := base
		if in.ClosedBy != nil {
			c := *in.ClosedBy
			in.ClosedBy = &c
		}
		f(&in)
		return in
	}
	tests := []struct {
		name            string
		in              match.Interruption
		sameRecord      bool // same codec.RecordID as base
		sameInterrupted bool // same interruptionId as base
	}{
		{"identical copy", variant(func(*match.Interruption) {}), true, true},
		{"other content, same revision", variant(func(in *match.Interruption) {
			in.ClosedAt, in.InterruptedAt, in.Party, in.ConversationID = 1, 0, vcc.Party{}, "x"
			in.ClosedBy.ID, in.Outcome = "r2", match.OutcomeEnded
		}), true, true},
		{"next revision", variant(func(in *match.Interruption) { in.Revision = 2 }), false, true},
		{"retraction", variant(func(in *match.Interruption) { in.Revision, in.Retracted = 2, true }), false, true},
		{"other opening id", variant(func(in *match.Interruption) { in.OpenedBy.ID = "i2" }), false, false},
		{"other opening source", variant(func(in *match.Interruption) { in.OpenedBy.Source = "/other" }), false, false},
		{"other channel, same events", variant(func(in *match.Interruption) { in.ChannelID = "ch-b" }), false, false},
		{"ids shifted across the separator", variant(func(in *match.Interruption) {
			in.OpenedBy.Source, in.OpenedBy.ID = "/channel\x00i", "1"
		}), false, false},
		{"channel shifted across the separator", variant(func(in *match.Interruption) {
			in.ChannelID, in.OpenedBy.Source = "ch-a\x00/channel", ""
		}), false, false},
	}
	baseRecord, baseInterruption := codec.RecordID(base), codec.RecordPayload(base).InterruptionID
	if baseRecord != goldenRecordIDRev1 || baseInterruption != goldenInterruptionID {
		t.Fatalf("RecordID %s, interruptionId %s; want the golden %s, %s", baseRecord, baseInterruption, goldenRecordIDRev1, goldenInterruptionID)
	}
	rev2 := base
	rev2.Revision = 2
	if got := codec.RecordID(rev2); got != goldenRecordIDRev2 {
		t.Fatalf("revision 2 codec.RecordID %s, want %s", got, goldenRecordIDRev2)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, intr := codec.RecordID(tt.in), codec.RecordPayload(tt.in).InterruptionID
			for _, id := range []string{rec, intr} {
				if u, err := uuid.Parse(id); err != nil || u.Version() != 5 {
					t.Fatalf("id %q is not a v5 UUID: %v", id, err)
				}
			}
			if (rec == baseRecord) != tt.sameRecord {
				t.Errorf("RecordID %s vs base %s: same=%v, want %v", rec, baseRecord, rec == baseRecord, tt.sameRecord)
			}
			if (intr == baseInterruption) != tt.sameInterrupted {
				t.Errorf("interruptionId %s vs base %s: same=%v, want %v", intr, baseInterruption, intr == baseInterruption, tt.sameInterrupted)
			}
			if intr != codec.InterruptionID(tt.in.ChannelID, tt.in.OpenedBy.Source, tt.in.OpenedBy.ID) {
				t.Errorf("interruptionId %s is not codec.InterruptionID of the channel and opening event", intr)
			}
		})
	}
}

// TestRetractionRecord: a retraction is a channel.interruptionretracted.v0
// event keyed by its interruptionId, with the revision and the reason.
func TestRetractionRecord(t *testing.T) {
	in := pair(0, "08:00:00.123", "08:00:00.123", nil)
	in.Revision, in.Retracted, in.Reason = 2, true, match.ReasonAfterEnd
	for _, mode := range []codec.Mode{codec.Binary, codec.Structured} {
		rec, err := Encoder{Source: "/interruptions", Mode: mode}.Record("out", in)
		if err != nil {
			t.Fatal(err)
		}
		if string(rec.Key) != goldenInterruptionID {
			t.Errorf("%s: key %q, want the interruptionId", mode, rec.Key)
		}
		ce, err := DecodeRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		if ce.Type() != codec.RetractionType || ce.ID() != goldenRecordIDRev2 || ce.Subject() != chA ||
			!ce.Time().Equal(time.Date(2026, 1, 5, 8, 0, 0, 123e6, time.UTC)) {
			t.Errorf("%s: attributes type %s id %s subject %s time %s", mode, ce.Type(), ce.ID(), ce.Subject(), ce.Time())
		}
		want := map[string]any{"interruptionId": goldenInterruptionID, "revision": 2.0, "channelId": chA,
			"reason": "after-end", "interruptedAt": "2026-01-05T08:00:00.123Z",
			"openedBy": map[string]any{"id": "i1", "type": "channel.interrupted.v1"}}
		if got := dataJSON(t, ce.Data()); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: data %v, want %v", mode, got, want)
		}
	}
}

// headerMap returns record headers by key; a repeated key fails the test.
func headerMap(t *testing.T, hs []kgo.RecordHeader) map[string]string {
	t.Helper()
	m := make(map[string]string, len(hs))
	for _, h := range hs {
		if _, dup := m[h.Key]; dup {
			t.Fatalf("header %q repeated", h.Key)
		}
		m[h.Key] = string(h.Value)
	}
	return m
}

func TestEncoderRecord(t *testing.T) {
	in := pair(match.OutcomeResumed, "2026-01-05T10:00:00.123+02:00", "08:05:00.456", closer("channel.resumed.v0", "r1", "08:05:00.456"))
	want, err := codec.RecordEvent(in, "/interruptions")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mode        codec.Mode
		headers     map[string]string
		valueIsData bool
	}{
		{codec.Binary, map[string]string{
			"ce_specversion": "1.0",
			"ce_id":          goldenRecordIDRev1,
			"ce_type":        codec.RecordType,
			"ce_source":      "/interruptions",
			"ce_subject":     chA,
			"ce_time":        "2026-01-05T08:05:00.456Z",
			"content-type":   "application/json",
		}, true},
		{codec.Structured, map[string]string{"content-type": "application/cloudevents+json"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			rec, err := Encoder{Source: "/interruptions", Mode: tt.mode}.Record("channel-interruptions", in)
			if err != nil {
				t.Fatalf("Record: %v", err)
			}
			if rec.Topic != "channel-interruptions" || string(rec.Key) != goldenInterruptionID {
				t.Fatalf("topic %q key %q, want channel-interruptions and the interruptionId", rec.Topic, rec.Key)
			}
			hs := headerMap(t, rec.Headers)
			if !reflect.DeepEqual(hs, tt.headers) {
				t.Fatalf("headers:\n got %v\nwant %v", hs, tt.headers)
			}
			if tt.valueIsData {
				if !reflect.DeepEqual(dataJSON(t, rec.Value), dataJSON(t, want.Data())) {
					t.Fatalf("binary value %s is not the data %s", rec.Value, want.Data())
				}
			} else {
				v := dataJSON(t, rec.Value)
				for k, w := range map[string]any{"specversion": "1.0", "id": goldenRecordIDRev1, "type": codec.RecordType,
					"source": "/interruptions", "subject": chA, "time": "2026-01-05T08:05:00.456Z", "datacontenttype": "application/json"} {
					if v[k] != w {
						t.Errorf("structured %s = %v, want %v", k, v[k], w)
					}
				}
				if !reflect.DeepEqual(v["data"], dataJSON(t, want.Data())) {
					t.Errorf("structured data %v, want %s", v["data"], want.Data())
				}
			}

			// Read back as a consumer with the sdk-go Kafka binding does.
			hm := make(map[string][]byte, len(rec.Headers))
			for _, h := range rec.Headers {
				hm[h.Key] = h.Value
			}
			got, err := binding.ToEvent(context.Background(), kafka_sarama.NewMessage(rec.Value, string(hm["content-type"]), hm))
			if err != nil {
				t.Fatalf("read back: %v", err)
			}
			if got.ID() != want.ID() || got.Type() != want.Type() || got.Source() != want.Source() || got.Subject() != want.Subject() ||
				!got.Time().Equal(want.Time()) || got.DataContentType() != want.DataContentType() || got.SpecVersion() != "1.0" {
				t.Fatalf("read back %v\nwant %v", got, want)
			}
			if !reflect.DeepEqual(dataJSON(t, got.Data()), dataJSON(t, want.Data())) {
				t.Fatalf("read back data %s, want %s", got.Data(), want.Data())
			}

			// Our own input path accepts it as a valid, ignored event.
			ev, err := Decode(rec.Value, rec.Headers)
			if err != nil {
				t.Fatalf("Decode of an output record: %v", err)
			}
			if ev.Kind != vcc.Ignored || ev.ID != want.ID() || ev.Type != codec.RecordType || ev.Source != "/interruptions" {
				t.Fatalf("Decode of an output record = %+v", ev)
			}
		})
	}
}

func TestEncoderRecordDeterministic(t *testing.T) {
	in := pair(match.OutcomeExpired, "08:00", "09:00", nil)
	for _, mode := range []codec.Mode{codec.Binary, codec.Structured} {
		enc := Encoder{Source: "/interruptions", Mode: mode}
		a, errA := enc.Record("out", in)
		b, errB := enc.Record("out", in)
		if errA != nil || errB != nil {
			t.Fatalf("%v: %v %v", mode, errA, errB)
		}
		if !bytes.Equal(a.Value, b.Value) || !reflect.DeepEqual(headerMap(t, a.Headers), headerMap(t, b.Headers)) {
			t.Errorf("%v: two records of one interruption differ", mode)
		}
	}
	if _, err := (Encoder{Mode: codec.Binary}).Record("out", in); err == nil {
		t.Error("Record with an empty source: no error")
	}
}

func TestEventRecordKeepsKey(t *testing.T) {
	ce, err := codec.RecordEvent(pair(match.OutcomeExpired, "08:00", "09:00", nil), "/interruptions")
	if err != nil {
		t.Fatal(err)
	}
	ce.SetExtension("partitionkey", "not-the-key")
	for _, mode := range []codec.Mode{codec.Binary, codec.Structured} {
		rec, err := KafkaRecord("t", []byte("the-key"), ce, mode)
		if err != nil {
			t.Fatal(err)
		}
		if string(rec.Key) != "the-key" {
			t.Errorf("%v: key %q, want the given key", mode, rec.Key)
		}
	}
}

func TestParseStructured(t *testing.T) {
	want, err := codec.RecordEvent(pair(match.OutcomeResumed, "08:00", "08:05", closer("channel.resumed.v0", "r1", "08:05")), "/interruptions")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := KafkaRecord("t", nil, want, codec.Structured)
	if err != nil {
		t.Fatal(err)
	}
	got, err := codec.ParseStructured(rec.Value)
	if err != nil {
		t.Fatalf("ParseStructured: %v", err)
	}
	if got.ID() != want.ID() || !bytes.Equal(got.Data(), want.Data()) || !got.Time().Equal(want.Time()) {
		t.Fatalf("ParseStructured = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "{", "[]", `{"specversion":"9"}`} {
		if _, err := codec.ParseStructured([]byte(bad)); err == nil {
			t.Errorf("ParseStructured(%q): no error", bad)
		}
	}
}

func TestDeadLetter(t *testing.T) {
	now := time.Date(2026, 1, 5, 10, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	cause := &codec.DecodeError{Reason: codec.ReasonInvalidTimestamp, Err: errors.New(`parse "x"`)}
	tests := []struct {
		name string
		in   *kgo.Record
	}{
		{"binary record with headers", &kgo.Record{
			Topic: "channel-events", Partition: 3, Offset: 42,
			Key:       []byte("740109c1-12d5-430f-9543-131fe5c4edcb"),
			Value:     []byte("{\"timestamp\":\"x\"}\xff\x00 not utf-8"),
			Headers:   []kgo.RecordHeader{{Key: "ce_type", Value: []byte("channel.resumed.v0")}, {Key: "dup", Value: []byte("1")}, {Key: "dup", Value: nil}},
			Timestamp: time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC),
		}},
		{"tombstone without key or headers", &kgo.Record{Topic: "in", Partition: 0, Offset: 0, Timestamp: time.UnixMilli(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origHeaders := append([]kgo.RecordHeader(nil), tt.in.Headers...)
			origValue := append([]byte(nil), tt.in.Value...)
			out := DeadLetter("channel-events.dlq", tt.in, cause, now)

			if out.Topic != "channel-events.dlq" {
				t.Errorf("topic %q", out.Topic)
			}
			if !bytes.Equal(out.Key, tt.in.Key) || (tt.in.Key == nil) != (out.Key == nil) {
				t.Errorf("key %q, want %q", out.Key, tt.in.Key)
			}
			if !bytes.Equal(out.Value, origValue) || (tt.in.Value == nil) != (out.Value == nil) {
				t.Errorf("value %q, want %q byte for byte", out.Value, origValue)
			}
			if !out.Timestamp.Equal(tt.in.Timestamp) {
				t.Errorf("timestamp %v, want %v", out.Timestamp, tt.in.Timestamp)
			}
			n := len(origHeaders)
			sameHeader := func(a, b kgo.RecordHeader) bool { return a.Key == b.Key && bytes.Equal(a.Value, b.Value) }
			if len(out.Headers) != n+6 || !slices.EqualFunc(out.Headers[:n], origHeaders, sameHeader) {
				t.Fatalf("headers %v: want the original %v first", out.Headers, origHeaders)
			}
			added := headerMap(t, out.Headers[n:])
			wantAdded := map[string]string{
				HeaderDLQReason:    "invalid-timestamp",
				HeaderDLQError:     `invalid-timestamp: parse "x"`,
				HeaderDLQTopic:     tt.in.Topic,
				HeaderDLQPartition: map[int32]string{3: "3", 0: "0"}[tt.in.Partition],
				HeaderDLQOffset:    map[int64]string{42: "42", 0: "0"}[tt.in.Offset],
				HeaderDLQTime:      "2026-01-05T08:00:00.123456789Z",
			}
			if !reflect.DeepEqual(added, wantAdded) {
				t.Errorf("dlq headers:\n got %v\nwant %v", added, wantAdded)
			}
			if !slices.EqualFunc(tt.in.Headers, origHeaders, sameHeader) {
				t.Errorf("input headers changed to %v", tt.in.Headers)
			}
		})
	}
}

// chA is the channel of the encoder tests.
const chA = "ch-a"
