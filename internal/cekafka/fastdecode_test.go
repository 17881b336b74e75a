package cekafka

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/vccgen"
)

// checkAgree fails when the fast path accepts input that the sdk-go
// binding path rejects or decodes differently.
func checkAgree(t *testing.T, value []byte, headers []codec.Header) bool {
	t.Helper()
	// The phased decoder (phase records on) is held to its binding path
	// on the same input.
	if fast, ok := codec.DecodeFastPhased(value, headers); ok {
		slow, err := codec.DecodeBindingPhased(value, headers, Binding)
		if err != nil {
			t.Fatalf("phased fast path accepted what the binding rejects (%v):\nheaders %v\nvalue %q", err, headers, value)
		}
		if fast != slow {
			t.Fatalf("phased paths disagree:\nfast %+v\nslow %+v\nvalue %q", fast, slow, value)
		}
	}
	fast, ok := codec.DecodeFast(value, headers)
	if !ok {
		return false
	}
	slow, err := codec.DecodeBinding(value, headers, Binding)
	if err != nil {
		t.Fatalf("fast path accepted what the binding rejects (%v):\nheaders %v\nvalue %q", err, headers, value)
	}
	if fast != slow {
		t.Fatalf("paths disagree:\nfast %+v\nslow %+v\nvalue %q", fast, slow, value)
	}
	return true
}

func fastBinaryRecord(t testing.TB, value []byte) *kgo.Record {
	ce, err := codec.ParseStructured(value)
	if err != nil {
		t.Fatal(err)
	}
	r, err := KafkaRecord("t", nil, ce, codec.Binary)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestFastDecodeAgreesOnGeneratedTraffic: the fast path takes nearly all
// realistic traffic, in both modes, and decodes it exactly as the binding.
func TestFastDecodeAgreesOnGeneratedTraffic(t *testing.T) {
	events := vccgen.New(vccgen.Config{Seed: 8}).Take(20_000)
	structured := []codec.Header{{Key: "content-type", Value: []byte("application/cloudevents+json")}}
	fastS, fastB := 0, 0
	for _, ev := range events {
		if checkAgree(t, ev.Value, structured) {
			fastS++
		}
		checkAgree(t, ev.Value, nil) // no content type reads as structured
		r := fastBinaryRecord(t, ev.Value)
		if checkAgree(t, r.Value, Headers(r.Headers)) {
			fastB++
		}
	}
	if fastS < len(events)*99/100 || fastB < len(events)*99/100 {
		t.Errorf("fast path took %d structured and %d binary of %d events; want 99%%", fastS, fastB, len(events))
	}
}

// binaryHeaders returns the headers of a binary-mode record with the given
// attributes; an empty subject or time is left out.
func binaryHeaders(id, source, typ, subject, tm string) []codec.Header {
	hs := []codec.Header{
		{Key: "ce_id", Value: []byte(id)},
		{Key: "ce_source", Value: []byte(source)},
		{Key: "ce_specversion", Value: []byte("1.0")},
		{Key: "ce_type", Value: []byte(typ)},
		{Key: "content-type", Value: []byte("application/json")},
	}
	if subject != "" {
		hs = append(hs, codec.Header{Key: "ce_subject", Value: []byte(subject)})
	}
	if tm != "" {
		hs = append(hs, codec.Header{Key: "ce_time", Value: []byte(tm)})
	}
	return hs
}

// TestFastDecodeEdges: inputs at the edges of what the fast path takes.
// Each must agree with the binding; fast says whether the fast path is
// expected to take it (declining is always allowed, so this only keeps
// the fast path from silently giving up the common case).
func TestFastDecodeEdges(t *testing.T) {
	const ch = "6a1c5e3b-2f5c-4972-ace7-32f1f773ac4f"
	const handledData = `{"timestamp":"2026-01-05T08:00:00.123Z","channel":{"channelId":"` + ch + `","party":{"role":"agent","agentId":"42"}}}`
	tests := []struct {
		name    string
		value   string
		headers []codec.Header
		fast    bool
		want    match.Event // checked when not zero
	}{
		{name: "handled", value: handledData, headers: binaryHeaders("a", "/channel", "channel.resumed.v0", ch, "2026-01-05T08:00:00.5Z"), fast: true,
			want: match.Event{ID: "a", Source: "/channel", Type: "channel.resumed.v0", Subject: ch, Kind: vcc.Resumed,
				Timestamp: time.Date(2026, 1, 5, 8, 0, 0, 123e6, time.UTC).UnixNano(), HasTimestamp: true,
				Time: time.Date(2026, 1, 5, 8, 0, 0, 5e8, time.UTC).UnixNano(), HasTime: true,
				ChannelID: ch, Party: vcc.Party{Role: "agent", AgentID: "42"}}},
		{name: "handled, no subject", value: handledData, headers: binaryHeaders("a", "/channel", "channel.interrupted.v1", "", ""), fast: true,
			want: match.Event{ID: "a", Source: "/channel", Type: "channel.interrupted.v1", Kind: vcc.Interrupted,
				Timestamp: time.Date(2026, 1, 5, 8, 0, 0, 123e6, time.UTC).UnixNano(), HasTimestamp: true,
				ChannelID: ch, Party: vcc.Party{Role: "agent", AgentID: "42"}}},
		{name: "unknown type, unknown source", value: `{"timestamp":"2026-01-05T08:00:00Z"}`, headers: binaryHeaders("a", "/x", "x.y", "", ""), fast: true,
			want: match.Event{ID: "a", Source: "/x", Type: "x.y", Timestamp: time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC).UnixNano(), HasTimestamp: true}},
		{name: "handled type, version v2, binding rejects", value: handledData, headers: binaryHeaders("a", "/channel", "channel.resumed.v2", ch, "")},
		{name: "handled type, no version", value: handledData, headers: binaryHeaders("a", "/channel", "channel.resumed", ch, "")},

		// ce_time: read as the sdk reads it (time.Parse), which is not
		// quite RFC 3339 (see attrTime).
		{name: "ce_time with offset", value: handledData, headers: binaryHeaders("a", "/channel", "channel.resumed.v0", ch, "2026-01-05T10:00:00.5+02:00"), fast: true,
			want: match.Event{ID: "a", Source: "/channel", Type: "channel.resumed.v0", Subject: ch, Kind: vcc.Resumed,
				Timestamp: time.Date(2026, 1, 5, 8, 0, 0, 123e6, time.UTC).UnixNano(), HasTimestamp: true,
				Time: time.Date(2026, 1, 5, 8, 0, 0, 5e8, time.UTC).UnixNano(), HasTime: true,
				ChannelID: ch, Party: vcc.Party{Role: "agent", AgentID: "42"}}},
		{name: "ce_time with long fraction", value: handledData, headers: binaryHeaders("a", "/channel", "channel.resumed.v0", ch, "2026-01-05T08:00:00.1234567890123Z"), fast: true},
		{name: "ce_time year 0", value: handledData, headers: binaryHeaders("a", "/channel", "channel.resumed.v0", ch, "0000-02-29T00:00:00Z"), fast: true},
		{name: "ce_time lower-case t", value: handledData, headers: binaryHeaders("a", "/channel", "channel.resumed.v0", ch, "2026-01-05t08:00:00.5Z"), fast: true,
			want: match.Event{ID: "a", Source: "/channel", Type: "channel.resumed.v0", Subject: ch, Kind: vcc.Resumed,
				Timestamp: time.Date(2026, 1, 5, 8, 0, 0, 123e6, time.UTC).UnixNano(), HasTimestamp: true,
				Time: time.Date(2026, 1, 5, 8, 0, 0, 5e8, time.UTC).UnixNano(), HasTime: true,
				ChannelID: ch, Party: vcc.Party{Role: "agent", AgentID: "42"}}},
		{name: "ce_time lower-case z", value: handledData, headers: binaryHeaders("a", "/channel", "channel.resumed.v0", ch, "2026-01-05T08:00:00z"), fast: true},
		{name: "structured, time lower-case t and z", value: `{"specversion":"1.0","id":"a","source":"/x","type":"x.y","time":"2026-01-05t08:00:00.5z","data":{}}`, fast: true,
			want: match.Event{ID: "a", Source: "/x", Type: "x.y", Time: time.Date(2026, 1, 5, 8, 0, 0, 5e8, time.UTC).UnixNano(), HasTime: true}},
		{name: "structured, time lower-case t, leap second", value: `{"specversion":"1.0","id":"a","source":"/x","type":"x.y","time":"2016-12-31t23:59:60Z","data":{}}`},
		{name: "structured, time lower-case t, one-digit hour", value: `{"specversion":"1.0","id":"a","source":"/x","type":"x.y","time":"2026-01-05t8:00:00Z","data":{}}`},
		{name: "ce_time leap second", value: handledData, headers: binaryHeaders("a", "/channel", "channel.resumed.v0", ch, "2016-12-31T23:59:60Z")},
		{name: "ce_time February 29 of 2100", value: handledData, headers: binaryHeaders("a", "/channel", "channel.resumed.v0", ch, "2100-02-29T00:00:00Z")},
		// RFC 3339 forbids these three, time.Parse (so the sdk) takes them:
		// the fast path takes them as the sdk does.
		{name: "ce_time offset hour 24", value: handledData, headers: binaryHeaders("a", "/channel", "channel.resumed.v0", ch, "2026-01-05T08:00:00+24:00"), fast: true},
		{name: "ce_time one-digit hour", value: handledData, headers: binaryHeaders("a", "/channel", "channel.resumed.v0", ch, "2026-01-05T8:00:00Z"), fast: true},
		{name: "ce_time comma fraction", value: handledData, headers: binaryHeaders("a", "/channel", "channel.resumed.v0", ch, "2026-01-05T08:00:00,5Z"), fast: true},
		{name: "ce_time non-ASCII", value: handledData, headers: binaryHeaders("a", "/channel", "channel.resumed.v0", ch, "2026-01-05T08:00:00Z\u00e9")},

		// Ignored types: never rejected for their data, which only lends
		// its timestamp when encoding/json decodes it into payload.
		{name: "ignored, timestamp garbage", value: `{"timestamp":"later"}`, headers: binaryHeaders("a", "/channel", "channel.held.v0", ch, ""), fast: true,
			want: match.Event{ID: "a", Source: "/channel", Type: "channel.held.v0", Subject: ch}},
		{name: "ignored, timestamp out of range", value: `{"timestamp":"2262-04-12T00:00:00Z"}`, headers: binaryHeaders("a", "/channel", "channel.held.v0", ch, ""), fast: true,
			want: match.Event{ID: "a", Source: "/channel", Type: "channel.held.v0", Subject: ch}},
		// data.timestamp is RFC 3339 as the standard says (parseRFC3339).
		{name: "ignored, timestamp lower-case t and z", value: `{"timestamp":"2026-01-05t08:00:00z"}`, headers: binaryHeaders("a", "/channel", "channel.held.v0", ch, ""), fast: true,
			want: match.Event{ID: "a", Source: "/channel", Type: "channel.held.v0", Subject: ch,
				Timestamp: time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC).UnixNano(), HasTimestamp: true}},
		{name: "ignored, timestamp comma fraction", value: `{"timestamp":"2026-01-05T08:00:00,5Z"}`, headers: binaryHeaders("a", "/channel", "channel.held.v0", ch, ""), fast: true,
			want: match.Event{ID: "a", Source: "/channel", Type: "channel.held.v0", Subject: ch}},
		{name: "ignored, timestamp one-digit hour", value: `{"timestamp":"2026-01-05T8:00:00Z"}`, headers: binaryHeaders("a", "/channel", "channel.held.v0", ch, ""), fast: true,
			want: match.Event{ID: "a", Source: "/channel", Type: "channel.held.v0", Subject: ch}},
		{name: "ignored, timestamp offset hour 24", value: `{"timestamp":"2026-01-05T08:00:00+24:00"}`, headers: binaryHeaders("a", "/channel", "channel.held.v0", ch, ""), fast: true,
			want: match.Event{ID: "a", Source: "/channel", Type: "channel.held.v0", Subject: ch}},
		{name: "handled, timestamp lower-case t", value: `{"timestamp":"2026-01-05t08:00:00.123Z","channel":{"channelId":"` + ch + `"}}`,
			headers: binaryHeaders("a", "/channel", "channel.resumed.v0", ch, ""), fast: true,
			want: match.Event{ID: "a", Source: "/channel", Type: "channel.resumed.v0", Subject: ch, Kind: vcc.Resumed,
				Timestamp: time.Date(2026, 1, 5, 8, 0, 0, 123e6, time.UTC).UnixNano(), HasTimestamp: true, ChannelID: ch}},
		{name: "handled, timestamp comma fraction", value: `{"timestamp":"2026-01-05T08:00:00,123Z","channel":{"channelId":"` + ch + `"}}`,
			headers: binaryHeaders("a", "/channel", "channel.resumed.v0", ch, "")},
		{name: "ignored, timestamp 1700 at +23:59", value: `{"timestamp":"1700-01-01T00:00:00+23:59"}`, headers: binaryHeaders("a", "/channel", "channel.held.v0", ch, ""), fast: true,
			want: match.Event{ID: "a", Source: "/channel", Type: "channel.held.v0", Subject: ch,
				Timestamp: time.Date(1699, 12, 31, 0, 1, 0, 0, time.UTC).UnixNano(), HasTimestamp: true}},
		{name: "ignored, timestamp 1677", value: `{"timestamp":"1677-09-21T00:12:43Z"}`, headers: binaryHeaders("a", "/channel", "channel.held.v0", ch, ""), fast: true,
			want: match.Event{ID: "a", Source: "/channel", Type: "channel.held.v0", Subject: ch}},
		{name: "ignored, timestamp 1677 in range", value: `{"timestamp":"1677-09-21T00:12:44Z","x":1}`, headers: binaryHeaders("a", "/channel", "channel.held.v0", ch, ""), fast: true,
			want: match.Event{ID: "a", Source: "/channel", Type: "channel.held.v0", Subject: ch,
				Timestamp: time.Date(1677, 9, 21, 0, 12, 44, 0, time.UTC).UnixNano(), HasTimestamp: true}},
		{name: "ignored, leap day 2024", value: `{"timestamp":"2024-02-29T23:59:59.999999999-23:59"}`, headers: binaryHeaders("a", "/agent", "agent.presencechanged.v1", "42", ""), fast: true,
			want: match.Event{ID: "a", Source: "/agent", Type: "agent.presencechanged.v1", Subject: "42",
				Timestamp: time.Date(2024, 3, 1, 23, 58, 59, 999999999, time.UTC).UnixNano(), HasTimestamp: true}},
		{name: "ignored, channel a number", value: `{"timestamp":"2026-01-05T08:00:00Z","channel":5}`, headers: binaryHeaders("a", "/channel", "channel.held.v0", ch, "")},
		{name: "ignored, channelId a number", value: `{"timestamp":"2026-01-05T08:00:00Z","channel":{"channelId":5}}`, headers: binaryHeaders("a", "/channel", "channel.held.v0", ch, "")},
		{name: "ignored, party role a number", value: `{"timestamp":"2026-01-05T08:00:00Z","channel":{"party":{"role":1}}}`, headers: binaryHeaders("a", "/channel", "channel.held.v0", ch, "")},
		{name: "ignored, Timestamp in another case", value: `{"timestamp":"2026-01-05T08:00:00Z","TIMESTAMP":"2026-01-05T09:00:00Z"}`, headers: binaryHeaders("a", "/channel", "channel.held.v0", ch, "")},
		{name: "ignored, data not JSON", value: `{"timestamp":`, headers: binaryHeaders("a", "/channel", "channel.held.v0", ch, "")},
		{name: "ignored, data an array", value: `[1]`, headers: binaryHeaders("a", "/channel", "channel.held.v0", ch, "")},
		{name: "ignored, other fields skipped", value: ` {"reason":"released","n":[-1.5e3,true,null,{"a":"\u00e9\n"}],"timestamp":"2026-01-05T08:00:00Z"} `,
			headers: binaryHeaders("a", "/channel", "channel.held.v9", ch, ""), fast: true,
			want: match.Event{ID: "a", Source: "/channel", Type: "channel.held.v9", Subject: ch,
				Timestamp: time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC).UnixNano(), HasTimestamp: true}},

		// Headers.
		{name: "extension header", value: handledData, headers: append(binaryHeaders("a", "/channel", "channel.resumed.v0", ch, ""), codec.Header{Key: "ce_traceparent", Value: []byte("x")})},
		{name: "upper-case header key", value: handledData, headers: append(binaryHeaders("a", "/channel", "channel.resumed.v0", ch, ""), codec.Header{Key: "X-Trace", Value: []byte("x")})},
		{name: "duplicate ce_id", value: handledData, headers: append(binaryHeaders("a", "/channel", "channel.resumed.v0", ch, ""), codec.Header{Key: "ce_id", Value: []byte("b")})},
		{name: "other header", value: handledData, headers: append(binaryHeaders("a", "/channel", "channel.resumed.v0", ch, ""), codec.Header{Key: "x-trace", Value: []byte("x")}), fast: true},
		{name: "source //", value: `{}`, headers: binaryHeaders("a", "//", "x.y", "", "")}, // the sdk: source REQUIRED
		{name: "source //x", value: `{}`, headers: binaryHeaders("a", "//x", "x.y", "", "")},
		{name: "structured, source //", value: `{"specversion":"1.0","id":"a","source":"//","type":"x.y","data":{}}`},
		{name: "structured, source /x//", value: `{"specversion":"1.0","id":"a","source":"/x//","type":"x.y","data":{}}`, fast: true,
			want: match.Event{ID: "a", Source: "/x//", Type: "x.y"}},
		{name: "id with a space", value: handledData, headers: binaryHeaders("a b", "/channel", "channel.resumed.v0", ch, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			took := checkAgree(t, []byte(tt.value), tt.headers)
			if took != tt.fast {
				t.Fatalf("fast path took it: %v, want %v", took, tt.fast)
			}
			if tt.want == (match.Event{}) {
				return
			}
			if got, _ := codec.DecodeFast([]byte(tt.value), tt.headers); got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func FuzzFastDecodeBinary(f *testing.F) {
	for _, ev := range vccgen.New(vccgen.Config{Seed: 9}).Take(20) {
		r := fastBinaryRecord(f, ev.Value)
		attr := map[string]string{}
		for _, h := range r.Headers {
			attr[h.Key] = string(h.Value)
		}
		f.Add(r.Value, attr["ce_id"], attr["ce_source"], attr["ce_type"], attr["ce_subject"], attr["ce_time"])
	}
	f.Add([]byte(`{"timestamp":"2026-01-05T08:00:00z"}`), "a", "/channel", "channel.held.v0", "c", "2026-01-05t08:00:00Z")
	f.Add([]byte(`{"timestamp":"2026-01-05t08:00:00,5Z","channel":{"channelId":"c"}}`), "a", "/channel", "channel.resumed.v0", "c", "2026-01-05T8:00:00,5+24:00")
	f.Add([]byte(`{"timestamp":"1700-01-01T00:00:00+23:59","channel":{"channelId":5}}`), "a", "/agent", "agent.presencechanged.v0", "", "2026-01-05T08:00:00+24:00")
	f.Fuzz(func(t *testing.T, value []byte, id, source, typ, subject, tm string) {
		checkAgree(t, value, binaryHeaders(id, source, typ, subject, tm))
	})
}

// FuzzFastDecode: whatever the input, the fast path either declines or
// agrees with the sdk-go binding path.
func FuzzFastDecode(f *testing.F) {
	for _, ev := range vccgen.New(vccgen.Config{Seed: 9}).Take(40) {
		f.Add(ev.Value, false)
		f.Add(ev.Value, true)
	}
	f.Add([]byte(`{"specversion":"1.0","id":"a","source":"/channel","type":"channel.resumed.v0","subject":"c","data":{"timestamp":"2026-01-05T08:00:00Z","channel":{"channelId":"c","ChannelId":"d"}}}`), false)
	f.Add([]byte(`{"specversion":"1.0","id":"a","source":"/channel","type":"channel.held.v0","data":{"timestamp":"2026-01-05T08:00:00Z","x":[1,-2.5e3,{"y":"\u00e9"}]}}`), false)
	f.Add([]byte(`{"specversion":"1.0","id":"a","source":"/channel","type":"channel.resumed.v0","time":"2026-01-05t08:00:00.5z","subject":"c","data":{"timestamp":"2026-01-05t08:00:00z","channel":{"channelId":"c"}}}`), false)
	f.Add([]byte(`{"specversion":"1.0","id":"a","source":"/channel","type":"channel.resumed.v0","time":"2026-01-05t08:00:00.5z","time":"2026-01-05T8:00:00Z","data":{}}`), true)
	f.Fuzz(func(t *testing.T, value []byte, binary bool) {
		if binary {
			ce, err := codec.ParseStructured(value)
			if err != nil {
				return
			}
			r, err := KafkaRecord("t", nil, ce, codec.Binary)
			if err != nil {
				return
			}
			checkAgree(t, r.Value, Headers(r.Headers))
			return
		}
		checkAgree(t, value, nil)
		checkAgree(t, value, []codec.Header{{Key: "content-type", Value: []byte("application/cloudevents+json")}})
	})
}

// BenchmarkDecode measures Decode over the realistic generated VCC mix
// (seed 1, as BenchmarkPipeline and the end-to-end benchmark use), with
// the records in binary content mode (ce_* headers, as the end-to-end
// preload writes them) and in structured mode. One op is one event.
func BenchmarkDecode(b *testing.B) {
	const n = 50_000
	events := vccgen.New(vccgen.Config{Seed: 1}).Take(n)
	binary := make([]*kgo.Record, n)
	for i, ev := range events {
		binary[i] = fastBinaryRecord(b, ev.Value)
	}
	structured := []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/cloudevents+json")}}
	b.Run("mode=binary", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			r := binary[i%n]
			if _, err := Decode(r.Value, r.Headers); err != nil {
				b.Fatalf("record %d: %v", i%n, err)
			}
		}
	})
	b.Run("mode=structured", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := Decode(events[i%n].Value, structured); err != nil {
				b.Fatalf("event %d: %v", i%n, err)
			}
		}
	})
}
