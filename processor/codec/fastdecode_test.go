package codec

import (
	"math"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/vccgen"
)

// checkAgree fails when the fast path accepts input that the sdk-go
// binding path rejects or decodes differently.
func checkAgree(t *testing.T, value []byte, headers []Header) bool {
	t.Helper()
	fast, ok := decodeFast(value, headers)
	if !ok {
		return false
	}
	slow, err := decodeBinding(value, headers)
	if err != nil {
		t.Fatalf("fast path accepted what the binding rejects (%v):\nheaders %v\nvalue %q", err, headers, value)
	}
	if fast != slow {
		t.Fatalf("paths disagree:\nfast %+v\nslow %+v\nvalue %q", fast, slow, value)
	}
	return true
}

func fastBinaryRecord(t testing.TB, value []byte) *kgo.Record {
	ce, err := ParseStructured(value)
	if err != nil {
		t.Fatal(err)
	}
	r, err := KafkaRecord("t", nil, ce, Binary)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestFastDecodeAgreesOnGeneratedTraffic: the fast path takes nearly all
// realistic traffic, in both modes, and decodes it exactly as the binding.
func TestFastDecodeAgreesOnGeneratedTraffic(t *testing.T) {
	events := vccgen.New(vccgen.Config{Seed: 8}).Take(20_000)
	structured := []Header{{Key: "content-type", Value: []byte(structuredContentType)}}
	fastS, fastB := 0, 0
	for _, ev := range events {
		if checkAgree(t, ev.Value, structured) {
			fastS++
		}
		checkAgree(t, ev.Value, nil) // no content type reads as structured
		r := fastBinaryRecord(t, ev.Value)
		if checkAgree(t, r.Value, r.Headers) {
			fastB++
		}
	}
	if fastS < len(events)*99/100 || fastB < len(events)*99/100 {
		t.Errorf("fast path took %d structured and %d binary of %d events; want 99%%", fastS, fastB, len(events))
	}
}

// binaryHeaders returns the headers of a binary-mode record with the given
// attributes; an empty subject or time is left out.
func binaryHeaders(id, source, typ, subject, tm string) []Header {
	hs := []Header{
		{Key: "ce_id", Value: []byte(id)},
		{Key: "ce_source", Value: []byte(source)},
		{Key: "ce_specversion", Value: []byte("1.0")},
		{Key: "ce_type", Value: []byte(typ)},
		{Key: "content-type", Value: []byte("application/json")},
	}
	if subject != "" {
		hs = append(hs, Header{Key: "ce_subject", Value: []byte(subject)})
	}
	if tm != "" {
		hs = append(hs, Header{Key: "ce_time", Value: []byte(tm)})
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
		headers []Header
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
		{name: "extension header", value: handledData, headers: append(binaryHeaders("a", "/channel", "channel.resumed.v0", ch, ""), Header{Key: "ce_traceparent", Value: []byte("x")})},
		{name: "upper-case header key", value: handledData, headers: append(binaryHeaders("a", "/channel", "channel.resumed.v0", ch, ""), Header{Key: "X-Trace", Value: []byte("x")})},
		{name: "duplicate ce_id", value: handledData, headers: append(binaryHeaders("a", "/channel", "channel.resumed.v0", ch, ""), Header{Key: "ce_id", Value: []byte("b")})},
		{name: "other header", value: handledData, headers: append(binaryHeaders("a", "/channel", "channel.resumed.v0", ch, ""), Header{Key: "x-trace", Value: []byte("x")}), fast: true},
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
			if got, _ := decodeFast([]byte(tt.value), tt.headers); got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestFastTimestamp: the timestamp functions agree with the RFC 3339
// oracle, and attrTime with time.Parse, on forms at and past their edges.
func TestFastTimestamp(t *testing.T) {
	for _, s := range []string{
		"2026-01-05T08:00:00Z", "2026-01-05T08:00:00.5465745Z", "2026-01-05T08:00:00.123456789012Z",
		"2026-01-05T10:00:00+02:00", "2026-01-05T02:30:00.1-05:30", "2026-01-05T08:00:00-00:00",
		"2026-01-05T08:00:00+23:59", "2026-01-05T08:00:00-23:59", "2026-01-05T08:00:00+24:00", "2026-01-05T08:00:00+01:60",
		"2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
		"2026-04-31T00:00:00Z", "2026-12-31T23:59:59.999999999Z", "2016-12-31T23:59:60Z", "2026-01-05T24:00:00Z",
		"2026-01-05t08:00:00Z", "2026-01-05T08:00:00z", "2026-01-05t08:00:00.5z", "2026-01-05T8:00:00Z", "2026-01-05T08:00:00,5Z", "2026-01-05T08:00:00.Z",
		"2026-1-05T08:00:00Z", "+026-01-05T08:00:00Z", "2026-01-05T08:00:00.5", "2026-01-05T08:00:00Z ", " 2026-01-05T08:00:00Z",
		"1700-01-01T00:00:00+23:59", "1699-12-31T23:59:59Z", "1677-09-21T00:12:43.145224192Z", "1677-09-21T00:12:43.145224193Z",
		"1677-09-21T00:12:43.145224193+00:01", "1677-09-21T00:13:43.145224193+00:01",
		"2200-12-31T23:59:59.999999999-23:59", "2201-01-01T00:00:00Z", "2262-04-11T23:47:16.854775807Z", "2262-04-11T23:47:16.854775808Z",
		"2262-04-11T23:47:16.854775807-00:01", "2262-04-12T00:46:16.854775807+23:59",
		"0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999999999Z",
		"2026-01-05T08:00:00+02:00:00", "2026-01-05T08:00:00+0200", "", "2026",
	} {
		t.Run(s, func(t *testing.T) { checkTimestamp(t, s) })
	}
}

// rfc3339 is the date-time grammar of RFC 3339 section 5.6 as a regular
// expression: with refRFC3339, the oracle the hand-written parser did not
// compute.
var rfc3339 = regexp.MustCompile(`^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?([Zz]|([+-])([0-9]{2}):([0-9]{2}))$`)

// refRFC3339 reads s by the RFC 3339 grammar and its ranges (month 01-12,
// day in the month, hour 00-23, minute 00-59, second 00-59: no leap
// second, offset hours 00-23 and minutes 00-59), building the time with
// time.Date.
func refRFC3339(s string) (time.Time, bool) {
	m := rfc3339.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	year, month, day, hour, minute, second := n(1), n(2), n(3), n(4), n(5), n(6)
	// The last day of a month is day 0 of the next.
	if month < 1 || month > 12 || day < 1 || day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() ||
		hour > 23 || minute > 59 || second > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if frac := m[7]; frac != "" {
		digits := (frac[1:] + "000000000")[:9]
		nsec, _ = strconv.Atoi(digits)
	}
	offset := 0
	if m[9] != "" {
		oh, om := n(10), n(11)
		if oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if m[9] == "-" {
			offset = -offset
		}
	}
	return time.Date(year, time.Month(month), day, hour, minute, second, nsec, time.FixedZone("", offset)), true
}

// checkTimestamp fails when the timestamp functions disagree with the
// RFC 3339 oracle, or attrTime with time.Parse (the sdk's parser), on s.
func checkTimestamp(t *testing.T, s string) {
	t.Helper()
	ref, refOK := refRFC3339(s)
	sec, nsec, ok := parseRFC3339(s)
	bsec, bnsec, bok := parseRFC3339([]byte(s))
	if ok != refOK || refOK && (sec != ref.Unix() || nsec != int64(ref.Nanosecond())) {
		t.Fatalf("parseRFC3339(%q) = %d, %d, %v; RFC 3339: %v, %v", s, sec, nsec, ok, ref, refOK)
	}
	if bsec != sec || bnsec != nsec || bok != ok {
		t.Fatalf("parseRFC3339 of %q as bytes = %d, %d, %v; as a string %d, %d, %v", s, bsec, bnsec, bok, sec, nsec, ok)
	}
	inRange := refOK && !ref.Before(time.Unix(0, math.MinInt64+1)) && !ref.After(time.Unix(0, math.MaxInt64))
	want := int64(0)
	if inRange {
		want = ref.UnixNano()
	}
	got, err := parseTimestamp(s)
	if (err == nil) != inRange || got != want {
		t.Fatalf("parseTimestamp(%q) = %d, %v; want %d (RFC 3339 %v, in range %v)", s, got, err, want, refOK, inRange)
	}
	if got, ok := fastTimestamp([]byte(s)); got != want || ok != inRange {
		t.Fatalf("fastTimestamp(%q) = %d, %v; want %d, %v", s, got, ok, want, inRange)
	}
	// attrTime: RFC 3339, or what time.Parse (the sdk) accepts.
	sdk, err := time.Parse(time.RFC3339Nano, s)
	if refOK {
		sdk, err = ref, nil
	}
	wantAttr := err == nil && s != "" && isPlain([]byte(s))
	gotAttr, ok := attrTime([]byte(s))
	if ok != wantAttr {
		t.Fatalf("attrTime(%q) ok = %v, want %v (time.Parse: %v)", s, ok, wantAttr, err)
	}
	if ok {
		wantNanos := int64(math.MaxInt64)
		switch {
		case sdk.Before(time.Unix(0, math.MinInt64+1)):
			wantNanos = math.MinInt64 + 1
		case !sdk.After(time.Unix(0, math.MaxInt64)):
			wantNanos = sdk.UnixNano()
		}
		if gotAttr != wantNanos {
			t.Fatalf("attrTime(%q) = %d, want %d (%v)", s, gotAttr, wantNanos, sdk)
		}
	}
}

// FuzzTimestamp: the fast timestamp functions agree with the standard
// library on any string.
func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{"2026-01-05T08:00:00.5465745Z", "2026-01-05T10:00:00.123+02:00", "2024-02-29T23:59:59.999999999-23:59",
		"1700-01-01T00:00:00+23:59", "2200-12-31T23:59:59Z", "2262-04-11T23:47:16.854775807Z", "0000-01-01T00:00:00Z",
		"2026-01-05t08:00:00.5z", "2026-01-05T08:00:00,5Z", "2026-01-05T8:00:00Z", "2026-01-05T08:00:00+24:00", "2016-12-31T23:59:60Z"} {
		f.Add(s)
	}
	f.Fuzz(checkTimestamp)
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
			ce, err := ParseStructured(value)
			if err != nil {
				return
			}
			r, err := KafkaRecord("t", nil, ce, Binary)
			if err != nil {
				return
			}
			checkAgree(t, r.Value, r.Headers)
			return
		}
		checkAgree(t, value, nil)
		checkAgree(t, value, []Header{{Key: "content-type", Value: []byte(structuredContentType)}})
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
	structured := []Header{{Key: "content-type", Value: []byte(structuredContentType)}}
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
