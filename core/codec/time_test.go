package codec

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/internal/testkit"
)

// rfc3339Edges are the edges of RFC 3339's date-time (section 5.6) with the
// instant each valid one names, written by hand; zero want means rejected.
var rfc3339Edges = []struct {
	name, ts string
	want     time.Time
}{
	{"upper-case T and Z", "2026-01-05T08:00:00Z", time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)},
	{"lower-case t", "2026-01-05t08:00:00Z", time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)},
	{"lower-case z", "2026-01-05T08:00:00.25z", time.Date(2026, 1, 5, 8, 0, 0, 250e6, time.UTC)},
	{"lower-case t and z", "2026-01-05t08:00:00z", time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)},
	{"lower-case t with offset", "2026-01-05t10:00:00+02:00", time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)},
	{"one fractional digit", "2026-01-05T08:00:00.1Z", time.Date(2026, 1, 5, 8, 0, 0, 100e6, time.UTC)},
	{"nine fractional digits", "2026-01-05T08:00:00.123456789Z", time.Date(2026, 1, 5, 8, 0, 0, 123456789, time.UTC)},
	{"twelve fractional digits: truncated to ns", "2026-01-05T08:00:00.123456789999Z", time.Date(2026, 1, 5, 8, 0, 0, 123456789, time.UTC)},
	{"offset -00:00", "2026-01-05T08:00:00-00:00", time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)},
	{"offset +23:59", "2026-01-06T07:59:00+23:59", time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)},
	{"offset -23:59", "2026-01-04T08:01:00-23:59", time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)},
	{"offset crossing a year", "2025-12-31T23:30:00-08:30", time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)},
	{"February 29 of a leap year", "2024-02-29T12:00:00Z", time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)},
	{"February 29 of 2000", "2000-02-29T12:00:00Z", time.Date(2000, 2, 29, 12, 0, 0, 0, time.UTC)},
	{"December 31, 23:59:59.999999999", "2026-12-31T23:59:59.999999999Z", time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC)},
	{"the epoch", "1970-01-01T00:00:00Z", time.Unix(0, 0)},
	{"before the epoch", "1969-12-31T23:59:59.5Z", time.Unix(-1, 5e8)},
	{"first instant in range", "1677-09-21T00:12:43.145224193Z", time.Unix(0, math.MinInt64+1)},
	{"last instant in range", "2262-04-11T23:47:16.854775807Z", time.Unix(0, math.MaxInt64)},

	{"comma before the fraction", "2026-01-05T08:00:00,5Z", time.Time{}},
	{"one-digit hour", "2026-01-05T8:00:00Z", time.Time{}},
	{"one-digit minute", "2026-01-05T08:0:00Z", time.Time{}},
	{"one-digit month", "2026-1-05T08:00:00Z", time.Time{}},
	{"five-digit year", "02026-01-05T08:00:00Z", time.Time{}},
	{"signed year", "+2026-01-05T08:00:00Z", time.Time{}},
	{"offset hour 24", "2026-01-05T08:00:00+24:00", time.Time{}},
	{"offset minute 60", "2026-01-05T08:00:00+01:60", time.Time{}},
	{"one-digit offset hour", "2026-01-05T08:00:00+2:00", time.Time{}},
	{"offset without colon", "2026-01-05T08:00:00+0200", time.Time{}},
	{"offset with seconds", "2026-01-05T08:00:00+02:00:00", time.Time{}},
	{"no offset", "2026-01-05T08:00:00", time.Time{}},
	{"offset Z and another", "2026-01-05T08:00:00Z+00:00", time.Time{}},
	{"empty fraction", "2026-01-05T08:00:00.Z", time.Time{}},
	{"space for T", "2026-01-05 08:00:00Z", time.Time{}},
	{"underscore for T", "2026-01-05_08:00:00Z", time.Time{}},
	{"hour 24", "2026-01-05T24:00:00Z", time.Time{}},
	{"minute 60", "2026-01-05T08:60:00Z", time.Time{}},
	{"leap second", "2016-12-31T23:59:60Z", time.Time{}},
	{"month 00", "2026-00-05T08:00:00Z", time.Time{}},
	{"month 13", "2026-13-05T08:00:00Z", time.Time{}},
	{"day 00", "2026-01-00T08:00:00Z", time.Time{}},
	{"April 31", "2026-04-31T08:00:00Z", time.Time{}},
	{"February 29 of a common year", "2026-02-29T08:00:00Z", time.Time{}},
	{"February 29 of 2100", "2100-02-29T08:00:00Z", time.Time{}},
	{"non-ASCII digit", "2026-01-05T08:00:0\u0660Z", time.Time{}},
	{"leading space", " 2026-01-05T08:00:00Z", time.Time{}},
	{"trailing space", "2026-01-05T08:00:00Z ", time.Time{}},
	{"date only", "2026-01-05", time.Time{}},
	{"empty", "", time.Time{}},
	{"before int64 nanoseconds", "1677-09-21T00:12:43.145224192Z", time.Time{}},
	{"after int64 nanoseconds", "2262-04-11T23:47:16.854775808Z", time.Time{}},
	{"year 9999", "9999-12-31T23:59:59Z", time.Time{}},
}

// TestTimestampRFC3339: data.timestamp is read as RFC 3339 says, by both
// timestamp functions.
func TestTimestampRFC3339(t *testing.T) {
	for _, tt := range rfc3339Edges {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTimestamp(tt.ts)
			fast, ok := fastTimestamp([]byte(tt.ts))
			if tt.want.IsZero() {
				if err == nil || ok {
					t.Fatalf("%q: parseTimestamp = %v, %v; fastTimestamp = %v, %v; want rejected",
						tt.ts, time.Unix(0, got).UTC(), err, time.Unix(0, fast).UTC(), ok)
				}
				return
			}
			want := tt.want.UnixNano()
			if err != nil || got != want || !ok || fast != want {
				t.Fatalf("%q: parseTimestamp = %v, %v; fastTimestamp = %v, %v; want %v",
					tt.ts, time.Unix(0, got).UTC(), err, time.Unix(0, fast).UTC(), ok, tt.want.UTC())
			}
		})
	}
}

// TestDecodeTimestampRFC3339: through Decode, in both content modes, a
// handled event with a timestamp RFC 3339 rejects is a dead letter
// (invalid-timestamp), and an ignored one keeps no timestamp.
func TestDecodeTimestampRFC3339(t *testing.T) {
	var tests []decodeCase
	for _, tt := range rfc3339Edges {
		handled := decodeCase{name: "handled/" + tt.name, typ: "channel.resumed.v0",
			change: []func(testkit.Event){set("data.timestamp", tt.ts)}}
		ignored := decodeCase{name: "ignored/" + tt.name, typ: "channel.held.v0",
			change: []func(testkit.Event){set("data.timestamp", tt.ts)}, want: ignoredEvent("channel.held.v0", false)}
		if tt.want.IsZero() {
			handled.reason = reasons(ReasonInvalidTimestamp)
		} else {
			handled.want = decoded("channel.resumed.v0", vcc.Resumed)
			handled.want.Timestamp = tt.want.UnixNano()
			ignored.want.Timestamp, ignored.want.HasTimestamp = tt.want.UnixNano(), true
		}
		tests = append(tests, handled, ignored)
	}
	runBothModes(t, tests)
}

// TestCheckTime: which timestamps are plausible, against time and the
// record timestamp, for handled and ignored events.
func TestCheckTime(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	const skew = 5 * time.Minute
	event := func(kind vcc.Kind, ts, tm string) match.Event {
		ev := match.Event{ID: "a", Source: "/channel", Type: "channel.resumed.v0", Kind: kind, ChannelID: "c"}
		if kind == vcc.Ignored {
			ev.Type, ev.ChannelID = "channel.held.v0", ""
		}
		if ts != "" {
			ev.Timestamp, ev.HasTimestamp = at(ts).UnixNano(), true
		}
		if tm != "" {
			ev.Time, ev.HasTime = at(tm).UnixNano(), true
		}
		return ev
	}
	const (
		sent     = "2026-01-05T08:00:00Z"
		inSkew   = "2026-01-05T08:05:00Z"           // exactly time + skew: plausible
		pastSkew = "2026-01-05T08:05:00.000000001Z" // one nanosecond more
	)
	tests := []struct {
		name     string
		ev       match.Event
		record   string // Kafka record timestamp; empty: none (replay)
		inFuture bool   // want timestamp-in-future (handled) or the timestamp dropped (ignored)
		against  string // what the error names
	}{
		{name: "before time", ev: event(vcc.Resumed, "2026-01-05T07:59:59.5Z", sent)},
		{name: "equal to time", ev: event(vcc.Resumed, sent, sent)},
		{name: "time + skew", ev: event(vcc.Resumed, inSkew, sent)},
		{name: "past time + skew", ev: event(vcc.Resumed, pastSkew, sent), inFuture: true, against: "time"},
		{name: "year 2100", ev: event(vcc.Interrupted, "2100-01-01T00:00:00Z", sent), inFuture: true, against: "time"},
		{name: "year 2262 after a time of year 9999 (clamped)", ev: event(vcc.Ended, "2262-01-01T00:00:00Z", "2262-04-11T23:47:16.854775807Z")},
		{name: "1970: the past is never implausible here", ev: event(vcc.Interrupted, "1970-01-01T00:00:00Z", sent)},
		{name: "no time, no record: not checked (replay)", ev: event(vcc.Resumed, "2100-01-01T00:00:00Z", "")},
		{name: "no time, record + skew", ev: event(vcc.Resumed, inSkew, ""), record: sent},
		{name: "no time, past record + skew", ev: event(vcc.Resumed, pastSkew, ""), record: sent, inFuture: true, against: "Kafka record timestamp"},
		{name: "time fine, past record + skew", ev: event(vcc.Resumed, pastSkew, "2026-01-05T09:00:00Z"), record: sent, inFuture: true, against: "Kafka record timestamp"},
		{name: "record fine, past time + skew", ev: event(vcc.Resumed, pastSkew, sent), record: "2026-01-05T09:00:00Z", inFuture: true, against: "time"},
		{name: "time and record fine", ev: event(vcc.Resumed, pastSkew, "2026-01-05T09:00:00Z"), record: "2026-01-05T09:00:00Z"},
		{name: "record at the end of time", ev: event(vcc.Resumed, "2262-04-11T23:47:16.854775807Z", ""), record: "2262-04-11T23:47:16.854775807Z"},

		{name: "ignored, plausible", ev: event(vcc.Ignored, sent, sent), record: sent},
		{name: "ignored, year 2100: timestamp dropped", ev: event(vcc.Ignored, "2100-01-01T00:00:00Z", sent), inFuture: true},
		{name: "ignored, past record + skew: timestamp dropped", ev: event(vcc.Ignored, pastSkew, ""), record: sent, inFuture: true},
		{name: "ignored, no timestamp", ev: event(vcc.Ignored, "", sent), record: sent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.ev
			var record time.Time
			if tt.record != "" {
				record = at(tt.record)
			}
			err := CheckTime(&ev, record, tt.record != "", skew)
			switch {
			case tt.ev.Kind == vcc.Ignored:
				want := tt.ev
				if tt.inFuture {
					want.Timestamp, want.HasTimestamp = 0, false
				}
				if err != nil || ev != want {
					t.Fatalf("CheckTime = %v, event %+v; want nil, %+v", err, ev, want)
				}
			case !tt.inFuture:
				if err != nil || ev != tt.ev {
					t.Fatalf("CheckTime = %v, event %+v; want nil, the event unchanged", err, ev)
				}
			default:
				var de *DecodeError
				if !errors.As(err, &de) || de.Reason != ReasonTimestampInFuture {
					t.Fatalf("CheckTime = %v, want a *DecodeError with reason %s", err, ReasonTimestampInFuture)
				}
				if msg := err.Error(); !strings.Contains(msg, "later than the "+tt.against+" ") && !strings.Contains(msg, "later than "+tt.against+" ") ||
					!strings.Contains(msg, "max-clock-skew 5m0s") {
					t.Fatalf("error %q does not name %s and the skew", msg, tt.against)
				}
				if ev != tt.ev {
					t.Fatalf("CheckTime changed a rejected event: %+v", ev)
				}
			}
		})
	}
}

// TestCheckTimeAfterDecode: the time attribute Decode reads is the one
// CheckTime compares with, in both modes and on both decode paths.
func TestCheckTimeAfterDecode(t *testing.T) {
	m := testkit.NewEvent("channel.interrupted.v0").With(set("data.timestamp", "2100-01-05T08:00:00Z"))
	value := testkit.StructuredValue(t, m)
	bvalue, bheaders := binaryValue(t, m)
	for _, in := range []struct {
		name    string
		value   []byte
		headers []Header
	}{{"structured", value, nil}, {"binary", bvalue, bheaders}} {
		for name, dec := range map[string]func([]byte, []Header) (match.Event, error){"Decode": decode, "binding": decodeBinding} {
			t.Run(in.name+"/"+name, func(t *testing.T) {
				ev, err := dec(in.value, in.headers)
				if err != nil {
					t.Fatal(err)
				}
				if err := CheckTime(&ev, time.Time{}, false, time.Hour); err == nil || !strings.Contains(err.Error(), "later than time 2026-01-05T08:00:00.6134321Z") {
					t.Fatalf("CheckTime = %v, want timestamp-in-future against time 2026-01-05T08:00:00.6134321Z", err)
				}
			})
		}
	}
}

// TestTimestampRFC3339AgreesWithJSONSchema: a second implementation of
// RFC 3339, JSON Schema's date-time format as the schemas' validator
// implements it, takes the same edges, but for the valid RFC 3339 times
// that Unix nanoseconds or the decision against leap seconds exclude.
func TestTimestampRFC3339AgreesWithJSONSchema(t *testing.T) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("ts.json", map[string]any{"type": "string", "format": "date-time"}); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("ts.json")
	if err != nil {
		t.Fatal(err)
	}
	rfcButNotOurs := map[string]bool{"leap second": true, "before int64 nanoseconds": true, "after int64 nanoseconds": true, "year 9999": true}
	for _, tt := range rfc3339Edges {
		schemaOK := sch.Validate(tt.ts) == nil
		if want := !tt.want.IsZero() || rfcButNotOurs[tt.name]; schemaOK != want {
			t.Errorf("%s: JSON Schema date-time takes %q: %v, want %v", tt.name, tt.ts, schemaOK, want)
		}
	}
}

// TestUpperTimeLetters: only top-level time members that are RFC 3339
// with a lower-case t or z change, and only those letters.
func TestUpperTimeLetters(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"time":"2026-01-05t08:00:00z","data":{"time":"2026-01-05t08:00:00z"}}`, `{"time":"2026-01-05T08:00:00Z","data":{"time":"2026-01-05t08:00:00z"}}`},
		{"{ \"time\" :\n \"2026-01-05t08:00:00.5Z\" }", "{ \"time\" :\n \"2026-01-05T08:00:00.5Z\" }"},
		{`{"a":"x","time":"2026-01-05t08:00:00+01:00","b":[{"time":"t"}]}`, `{"a":"x","time":"2026-01-05T08:00:00+01:00","b":[{"time":"t"}]}`},
		{`{"time":"2026-01-05t08:00:00Z","time":"2026-01-05T09:00:00z"}`, `{"time":"2026-01-05T08:00:00Z","time":"2026-01-05T09:00:00Z"}`},
		{`{"time":"2026-01-05T08:00:00Z"}`, ""},
		{`{"time":"2026-01-05t8:00:00Z"}`, ""},
		{`{"time":"2026-01-05\u007408:00:00Z"}`, ""},
		{`{"time":"2026-01-05t08:00:00\u007a"}`, ""},
		{`{"Time":"2026-01-05t08:00:00Z"}`, ""},
		{`{"time":1}`, ""},
		{`{"time":""}`, ""},
		{`{"time":"2026-01-05t08:00:00Z",`, ""},
		{`[{"time":"2026-01-05t08:00:00Z"}]`, ""},
		{``, ""},
	} {
		got, ok := upperTimeLetters([]byte(tt.in))
		if ok != (tt.want != "") || ok && string(got) != tt.want {
			t.Errorf("upperTimeLetters(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}
