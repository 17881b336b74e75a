package codec

import (
	"encoding/base64"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/internal/testkit"
)

// seedEvent is what Decode makes of the seed example.
var seedEvent = match.Event{
	ID:             "2Zks0VJxXAegKlhmHygjlZRwu0F",
	Source:         "/channel",
	Type:           "channel.resumed.v0",
	Subject:        "740109c1-12d5-430f-9543-131fe5c4edcb",
	Kind:           vcc.Resumed,
	Timestamp:      time.Date(2022, 8, 30, 14, 34, 36, 88e6, time.UTC).UnixNano(),
	HasTimestamp:   true,
	Time:           time.Date(2022, 8, 30, 14, 34, 36, 613432100, time.UTC).UnixNano(),
	HasTime:        true,
	ChannelID:      "740109c1-12d5-430f-9543-131fe5c4edcb",
	ConversationID: "3e71f453-116a-3abc-7769-bc678ef6e080",
	InteractionID:  "1371f451-116a-4abc-8869-bc678ef67070",
	Party:          vcc.Party{Role: "agent", AgentID: "1544", UserID: "ef71f453-556a-3abc-7769-bc678ef6e090"},
}

func TestDecodeSeed(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		headers []Header
	}{
		{"structured, no content type", testkit.SeedResumed, nil},
		{"structured, cloudevents content type", testkit.SeedResumed, []Header{{Key: "content-type", Value: []byte("application/cloudevents+json")}}},
		{"structured, content type with charset", testkit.SeedResumed, []Header{{Key: "Content-Type", Value: []byte("application/cloudevents+json; charset=utf-8")}}},
		{"structured, unrelated headers", testkit.SeedResumed, []Header{{Key: "traceparent", Value: []byte("00-x")}}},
		{"binary", testkit.SeedData, seedHeaders()},
		{"binary, header keys in upper case", testkit.SeedData, func() []Header {
			hs := seedHeaders()
			for i := range hs {
				hs[i].Key = strings.ToUpper(hs[i].Key)
			}
			return hs
		}()},
		{"binary, no content type", testkit.SeedData, seedHeaders()[:6]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decode([]byte(tt.value), tt.headers)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got != seedEvent {
				t.Fatalf("Decode:\n got %+v\nwant %+v", got, seedEvent)
			}
		})
	}
}

// Attribute and data values of the events decodeCase builds.
const (
	tsDefault   = testkit.DefaultTimestamp
	timeDefault = testkit.DefaultTime
	chDefault   = testkit.SeedChannelID
)

// set and absent edit a testkit.Event.
var (
	set    = testkit.Set
	absent = testkit.Absent
)

// timeDefaultNanos is timeDefault in Unix nanoseconds.
var timeDefaultNanos = testkit.At(timeDefault)

// seedNoSubject is seedEvent decoded from a variant without a subject and
// a time.
var seedNoSubject = func() match.Event { e := seedEvent; e.Subject, e.Time, e.HasTime = "", 0, false; return e }()

// decoded is the match.Event Decode makes of testkit.NewEvent(typ) unchanged.
func decoded(typ string, k vcc.Kind) match.Event {
	return match.Event{
		ID: "2Zks0VJxXAegKlhmHygjlZRwu0F", Source: "/channel", Type: typ, Subject: chDefault, Kind: k,
		Timestamp: time.Date(2026, 1, 5, 8, 0, 0, 123e6, time.UTC).UnixNano(), HasTimestamp: true,
		Time: timeDefaultNanos, HasTime: true,
		ChannelID: chDefault, ConversationID: "conv-1", InteractionID: "inter-1",
		Party: vcc.Party{Role: "agent", AgentID: "1544", UserID: "user-1"},
	}
}

// ignoredEvent is the match.Event Decode makes of an ignored testkit.NewEvent(typ).
func ignoredEvent(typ string, hasTimestamp bool) match.Event {
	e := match.Event{ID: "2Zks0VJxXAegKlhmHygjlZRwu0F", Source: "/channel", Type: typ, Subject: chDefault, Kind: vcc.Ignored,
		Time: timeDefaultNanos, HasTime: true}
	if hasTimestamp {
		e.Timestamp, e.HasTimestamp = decoded(typ, 0).Timestamp, true
	}
	return e
}

// decodeCase is one row of the tables run in both content modes.
type decodeCase struct {
	name   string
	typ    string
	change []func(testkit.Event)
	want   match.Event // when reasons is empty
	reason []Reason    // acceptable reasons of the *DecodeError
}

// checkDecode asserts the outcome of one Decode call.
func checkDecode(t *testing.T, got match.Event, err error, want match.Event, reasons []Reason) {
	t.Helper()
	if len(reasons) == 0 {
		if err != nil {
			t.Fatalf("Decode: unexpected error %v", err)
		}
		if got != want {
			t.Fatalf("Decode:\n got %+v\nwant %+v", got, want)
		}
		return
	}
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("Decode = %+v, %v; want a *DecodeError with reason %v", got, err, reasons)
	}
	if !slices.Contains(reasons, de.Reason) {
		t.Fatalf("Decode reason = %q (%v), want one of %v", de.Reason, de, reasons)
	}
	if de.Unwrap() == nil || !strings.HasPrefix(de.Error(), string(de.Reason)+": ") {
		t.Fatalf("DecodeError %q: Unwrap %v; want the reason as prefix and a cause", de.Error(), de.Unwrap())
	}
	if got != (match.Event{}) {
		t.Fatalf("Decode returned an error and a non-zero event %+v", got)
	}
}

// runBothModes runs each case as a structured and as a binary record.
func runBothModes(t *testing.T, tests []decodeCase) {
	t.Helper()
	for _, tt := range tests {
		m := testkit.NewEvent(tt.typ)
		for _, c := range tt.change {
			c(m)
		}
		t.Run(tt.name+"/structured", func(t *testing.T) {
			got, err := decode(testkit.StructuredValue(t, m), nil)
			checkDecode(t, got, err, tt.want, tt.reason)
		})
		t.Run(tt.name+"/binary", func(t *testing.T) {
			value, hs := binaryValue(t, m)
			got, err := decode(value, hs)
			checkDecode(t, got, err, tt.want, tt.reason)
		})
	}
}

func reasons(r ...Reason) []Reason { return r }

func TestDecodeHandledTypes(t *testing.T) {
	var tests []decodeCase
	for _, h := range []struct {
		name string
		kind vcc.Kind
	}{
		{"channel.interrupted", vcc.Interrupted},
		{"channel.resumed", vcc.Resumed},
		{"channel.ended", vcc.Ended},
		{"channel.disconnected", vcc.Ended},
	} {
		for _, v := range []string{"v0", "v1"} {
			typ := h.name + "." + v
			tests = append(tests, decodeCase{name: typ, typ: typ, want: decoded(typ, h.kind)})
		}
		for _, v := range []string{"", ".v2", ".v10", ".v01", ".v"} {
			typ := h.name + v
			tests = append(tests, decodeCase{name: "version " + typ, typ: typ, reason: reasons(ReasonUnsupportedVersion)})
		}
	}
	// The version is checked before the data.
	tests = append(tests, decodeCase{name: "unsupported version with bad data", typ: "channel.resumed.v2",
		change: []func(testkit.Event){set("data", "x")}, reason: reasons(ReasonUnsupportedVersion)})
	runBothModes(t, tests)
}

func TestDecodeFields(t *testing.T) {
	const typ = "channel.interrupted.v1"
	with := func(f func(*match.Event)) match.Event {
		e := decoded(typ, vcc.Interrupted)
		f(&e)
		return e
	}
	type change = func(testkit.Event)
	tests := []decodeCase{
		{name: "subject absent", change: []change{set("subject", absent)}, want: with(func(e *match.Event) { e.Subject = "" })},
		{name: "time absent", change: []change{set("time", absent)}, want: with(func(e *match.Event) { e.Time, e.HasTime = 0, false })},
		{name: "time years after data.timestamp", change: []change{set("time", "2030-12-31T23:59:59Z")},
			want: with(func(e *match.Event) { e.Time = time.Date(2030, 12, 31, 23, 59, 59, 0, time.UTC).UnixNano() })},
		{name: "time with an offset", change: []change{set("time", "2026-01-05T10:00:00.6134321+02:00")}, want: decoded(typ, vcc.Interrupted)},
		// time is the sdk's (time.Parse): laxer than RFC 3339 in places.
		{name: "time with a comma fraction", change: []change{set("time", "2026-01-05T08:00:00,6134321Z")}, want: decoded(typ, vcc.Interrupted)},
		{name: "time with a one-digit hour", change: []change{set("time", "2026-01-05T8:00:00.6134321Z")}, want: decoded(typ, vcc.Interrupted)},
		{name: "time with offset hour 24", change: []change{set("time", "2026-01-06T08:00:00.6134321+24:00")}, want: decoded(typ, vcc.Interrupted)},
		{name: "time year 1", change: []change{set("time", "0001-01-01T00:00:00Z")}, want: with(func(e *match.Event) { e.Time = math.MinInt64 + 1 })},
		{name: "time year 9999", change: []change{set("time", "9999-12-31T23:59:59Z")}, want: with(func(e *match.Event) { e.Time = math.MaxInt64 })},
		{name: "datacontenttype absent", change: []change{set("datacontenttype", absent)}, want: decoded(typ, vcc.Interrupted)},
		{name: "unknown data fields and reason", change: []change{set("data.reason", "released"), set("data.extra", []any{1, "x"}), set("data.channel.extra", map[string]any{"a": 1})},
			want: decoded(typ, vcc.Interrupted)},
		{name: "extension attribute", change: []change{set("partitionkey", "k")}, want: decoded(typ, vcc.Interrupted)},
		{name: "external party without agentId", change: []change{set("data.channel.party", map[string]any{"role": "external", "userId": "u"})},
			want: with(func(e *match.Event) { e.Party = vcc.Party{Role: "external", UserID: "u"} })},
		{name: "no party", change: []change{set("data.channel.party", absent)}, want: with(func(e *match.Event) { e.Party = vcc.Party{} })},
		{name: "null party", change: []change{set("data.channel.party", nil)}, want: with(func(e *match.Event) { e.Party = vcc.Party{} })},
		{name: "no conversation and interaction ids", change: []change{set("data.channel.conversationId", absent), set("data.channel.interactionId", absent)},
			want: with(func(e *match.Event) { e.ConversationID, e.InteractionID = "", "" })},
		{name: "offset timestamp", change: []change{set("data.timestamp", "2026-01-05T10:00:00.123+02:00")}, want: decoded(typ, vcc.Interrupted)},
		{name: "other source", change: []change{set("source", "/channel/eu")}, want: with(func(e *match.Event) { e.Source = "/channel/eu" })},

		{name: "subject differs from channelId", change: []change{set("subject", "other")}, reason: reasons(ReasonSubjectMismatch)},
		{name: "subject differs only in case", change: []change{set("subject", strings.ToUpper(chDefault))}, reason: reasons(ReasonSubjectMismatch)},
		{name: "channelId absent", change: []change{set("data.channel.channelId", absent)}, reason: reasons(ReasonMissingChannelID)},
		{name: "channelId empty", change: []change{set("data.channel.channelId", "")}, reason: reasons(ReasonMissingChannelID)},
		{name: "channelId null", change: []change{set("data.channel.channelId", nil)}, reason: reasons(ReasonMissingChannelID)},
		{name: "channel absent", change: []change{set("data.channel", absent)}, reason: reasons(ReasonMissingChannelID)},
		{name: "channel null", change: []change{set("data.channel", nil)}, reason: reasons(ReasonMissingChannelID)},
		{name: "empty data object", change: []change{set("data", map[string]any{})}, reason: reasons(ReasonMissingChannelID)},
		{name: "channelId a number", change: []change{set("data.channel.channelId", 42)}, reason: reasons(ReasonInvalidData)},
		{name: "channel a string", change: []change{set("data.channel", "x")}, reason: reasons(ReasonInvalidData)},
		{name: "party a string", change: []change{set("data.channel.party", "agent")},
			want: with(func(e *match.Event) { e.Party, e.IgnoredIdentity = vcc.Party{}, IgnoredParty })},
		{name: "timestamp absent", change: []change{set("data.timestamp", absent)}, reason: reasons(ReasonInvalidTimestamp)},
		{name: "timestamp null", change: []change{set("data.timestamp", nil)}, reason: reasons(ReasonInvalidTimestamp)},
		{name: "timestamp empty", change: []change{set("data.timestamp", "")}, reason: reasons(ReasonInvalidTimestamp)},
		{name: "timestamp garbage", change: []change{set("data.timestamp", "yesterday")}, reason: reasons(ReasonInvalidTimestamp)},
		// A JSON number is a wrongly typed field, not an unparsable string.
		{name: "timestamp a number", change: []change{set("data.timestamp", 1767600000123)}, reason: reasons(ReasonInvalidData)},
		{name: "data a string", change: []change{set("data", "hello")}, reason: reasons(ReasonDataNotObject)},
		{name: "data a JSON object in a string", change: []change{set("data", `{"timestamp":"2026-01-05T08:00:00Z"}`)}, reason: reasons(ReasonDataNotObject)},
		{name: "data an array", change: []change{set("data", []any{map[string]any{"timestamp": tsDefault}})}, reason: reasons(ReasonDataNotObject)},
		{name: "data null", change: []change{set("data", nil)}, reason: reasons(ReasonDataNotObject)},
		{name: "data a number", change: []change{set("data", 7)}, reason: reasons(ReasonDataNotObject)},
		{name: "data absent", change: []change{set("data", absent)}, reason: reasons(ReasonDataNotObject)},

		{name: "specversion 0.3", change: []change{set("specversion", "0.3")}, reason: reasons(ReasonSpecVersion)},
		{name: "specversion 2.0", change: []change{set("specversion", "2.0")}, reason: reasons(ReasonSpecVersion, ReasonNotCloudEvent)},
		{name: "specversion absent", change: []change{set("specversion", absent)}, reason: reasons(ReasonNotCloudEvent, ReasonSpecVersion)},
		{name: "id absent", change: []change{set("id", absent)}, reason: reasons(ReasonInvalidCloudEvent, ReasonNotCloudEvent)},
		{name: "id empty", change: []change{set("id", "")}, reason: reasons(ReasonInvalidCloudEvent, ReasonNotCloudEvent)},
		{name: "source absent", change: []change{set("source", absent)}, reason: reasons(ReasonInvalidCloudEvent, ReasonNotCloudEvent)},
		{name: "source empty", change: []change{set("source", "")}, reason: reasons(ReasonInvalidCloudEvent, ReasonNotCloudEvent)},
		{name: "type absent", change: []change{set("type", absent)}, reason: reasons(ReasonInvalidCloudEvent, ReasonNotCloudEvent)},
		{name: "type empty", change: []change{set("type", "")}, reason: reasons(ReasonInvalidCloudEvent, ReasonNotCloudEvent)},
		{name: "time not a timestamp", change: []change{set("time", "soon")}, reason: reasons(ReasonNotCloudEvent, ReasonInvalidCloudEvent)},
		// RFC 3339 allows them, the sdk does not: Decode gives it upper case (see attrTime).
		{name: "time with a lower-case t and z", change: []change{set("time", "2026-01-05t08:00:00.6134321z")}, want: decoded(typ, vcc.Interrupted)},
		{name: "time with a lower-case t, extension attribute", change: []change{set("time", "2026-01-05t08:00:00.6134321Z"), set("traceparent", "00-x")},
			want: decoded(typ, vcc.Interrupted)},
		{name: "time with a lower-case t, leap second", change: []change{set("time", "2016-12-31t23:59:60Z")}, reason: reasons(ReasonNotCloudEvent, ReasonInvalidCloudEvent)},
	}
	for i := range tests {
		tests[i].typ = typ
	}
	runBothModes(t, tests)
}

func TestDecodeIgnored(t *testing.T) {
	type change = func(testkit.Event)
	ign := func(typ string, ts bool) match.Event { return ignoredEvent(typ, ts) }
	tests := []decodeCase{
		{name: "held", typ: "channel.held.v0", want: ign("channel.held.v0", true)},
		{name: "connected v1", typ: "channel.connected.v1", want: ign("channel.connected.v1", true)},
		{name: "wrapstarted", typ: "channel.wrapstarted.v0", want: ign("channel.wrapstarted.v0", true)},
		{name: "connectionfailed", typ: "channel.connectionfailed.v1", change: []change{set("data.reason", "released")}, want: ign("channel.connectionfailed.v1", true)},
		{name: "unknown version of an ignored type", typ: "channel.held.v7", want: ign("channel.held.v7", true)},
		{name: "future channel type", typ: "channel.transferred.v3", want: ign("channel.transferred.v3", true)},
		{name: "agent.presencechanged without data.channel", typ: "agent.presencechanged.v0",
			change: []change{set("source", "/agent"), set("subject", "1544"), set("data.channel", absent), set("data.agent", map[string]any{"agentId": "1544", "presence": "ready"})},
			want: func() match.Event {
				e := ign("agent.presencechanged.v0", true)
				e.Source, e.Subject = "/agent", "1544"
				return e
			}()},
		{name: "interruptionended output type", typ: RecordType, want: ign(RecordType, true)},
		{name: "handled name with upper-case version", typ: "channel.resumed.V1", want: ign("channel.resumed.V1", true)},
		{name: "handled name with a non-numeric version", typ: "channel.resumed.vX", want: ign("channel.resumed.vX", true)},

		// Never rejected for odd data; a readable timestamp still counts.
		{name: "subject mismatch", typ: "channel.held.v0", change: []change{set("subject", "other")},
			want: func() match.Event { e := ign("channel.held.v0", true); e.Subject = "other"; return e }()},
		{name: "channelId missing", typ: "channel.held.v0", change: []change{set("data.channel", absent)}, want: ign("channel.held.v0", true)},
		{name: "channel a number", typ: "channel.held.v0", change: []change{set("data.channel", 5)}, want: ign("channel.held.v0", false)},
		{name: "timestamp garbage", typ: "channel.held.v0", change: []change{set("data.timestamp", "later")}, want: ign("channel.held.v0", false)},
		{name: "timestamp a number", typ: "channel.held.v0", change: []change{set("data.timestamp", 5)}, want: ign("channel.held.v0", false)},
		{name: "timestamp absent", typ: "channel.held.v0", change: []change{set("data.timestamp", absent)}, want: ign("channel.held.v0", false)},
		{name: "data a string", typ: "channel.parked.v0", change: []change{set("data", "x")}, want: ign("channel.parked.v0", false)},
		{name: "data an array", typ: "channel.parked.v0", change: []change{set("data", []any{1})}, want: ign("channel.parked.v0", false)},
		{name: "data null", typ: "channel.parked.v0", change: []change{set("data", nil)}, want: ign("channel.parked.v0", false)},
		{name: "data absent", typ: "channel.parked.v0", change: []change{set("data", absent)}, want: ign("channel.parked.v0", false)},

		// Envelope errors still apply to ignored types.
		{name: "ignored type, specversion 0.3", typ: "channel.held.v0", change: []change{set("specversion", "0.3")}, reason: reasons(ReasonSpecVersion)},
		{name: "ignored type, id absent", typ: "channel.held.v0", change: []change{set("id", absent)}, reason: reasons(ReasonInvalidCloudEvent, ReasonNotCloudEvent)},
	}
	runBothModes(t, tests)
}

func TestDecodeTimestamp(t *testing.T) {
	utc := func(h, m, s, ns int) int64 { return time.Date(2026, 1, 5, h, m, s, ns, time.UTC).UnixNano() }
	tests := []struct {
		ts   string
		want int64 // Unix nanoseconds; 0 means rejected
	}{
		{"2026-01-05T08:00:00Z", utc(8, 0, 0, 0)},
		{"2026-01-05T08:00:00.1Z", utc(8, 0, 0, 100e6)},
		{"2026-01-05T08:00:00.123Z", utc(8, 0, 0, 123e6)},
		{"2026-01-05T08:00:00.1234567Z", utc(8, 0, 0, 123456700)},
		{"2026-01-05T08:00:00.123456789Z", utc(8, 0, 0, 123456789)},
		{"2026-01-05T08:00:00.123456789012Z", utc(8, 0, 0, 123456789)}, // beyond ns: truncated
		{"2026-01-05T08:00:00.000Z", utc(8, 0, 0, 0)},
		{"2026-01-05T10:00:00.123+02:00", utc(8, 0, 0, 123e6)},
		{"2026-01-05T02:30:00-05:30", utc(8, 0, 0, 0)},
		{"2026-01-05T08:00:00+00:00", utc(8, 0, 0, 0)},
		{"2026-01-05T08:00:00.1234567-00:00", utc(8, 0, 0, 123456700)},
		{"2026-01-06T01:00:00+17:00", utc(8, 0, 0, 0)},
		{"2022-08-30T14:34:36.088Z", time.Date(2022, 8, 30, 14, 34, 36, 88e6, time.UTC).UnixNano()},
		{"1970-01-01T00:00:00.000000001Z", 1},

		{"", 0},
		{"2026-01-05", 0},
		{"2026-01-05T08:00:00", 0},           // no zone
		{"2026-01-05T08:00:00.123", 0},       // no zone
		{"2026-01-05 08:00:00Z", 0},          // space
		{"2026-01-05T08:00:00+0200", 0},      // offset without colon
		{"2026-01-05T08:00:00+02", 0},        // offset without minutes
		{"2026-01-05T08:00Z", 0},             // no seconds
		{"2026-01-05T08:00:00.Z", 0},         // empty fraction
		{"2026-13-05T08:00:00Z", 0},          // month 13
		{"2026-02-30T08:00:00Z", 0},          // February 30
		{"2026-01-05T24:00:00Z", 0},          // hour 24
		{"1767600000", 0},                    // Unix seconds in a string
		{"2262-04-12T00:00:00Z", 0},          // beyond int64 nanoseconds
		{"1677-09-21T00:00:00Z", 0},          // before int64 nanoseconds
		{" 2026-01-05T08:00:00Z", 0},         // leading space
		{"2026-01-05T08:00:00Z trailing", 0}, // trailing text
	}
	for _, tt := range tests {
		t.Run(tt.ts, func(t *testing.T) {
			m := testkit.NewEvent("channel.resumed.v0")
			set("data.timestamp", tt.ts)(m)
			got, err := decode(testkit.StructuredValue(t, m), nil)
			if tt.want == 0 {
				checkDecode(t, got, err, match.Event{}, reasons(ReasonInvalidTimestamp))
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !got.HasTimestamp || got.Timestamp != tt.want {
				t.Fatalf("Timestamp = %d (%v), want %d (%v)", got.Timestamp, time.Unix(0, got.Timestamp).UTC(), tt.want, time.Unix(0, tt.want).UTC())
			}
		})
	}
}

func TestDecodeRaw(t *testing.T) {
	seedWith := func(old, new string) string {
		if !strings.Contains(testkit.SeedResumed, old) {
			t.Fatalf("seed has no %q", old)
		}
		return strings.Replace(testkit.SeedResumed, old, new, 1)
	}
	ct := func(v string) []Header { return []Header{{Key: "content-type", Value: []byte(v)}} }
	b64 := base64.StdEncoding.EncodeToString([]byte(testkit.SeedData))
	tests := []struct {
		name    string
		value   string
		headers []Header
		want    match.Event
		reason  []Reason
	}{
		{name: "seed with data first", value: `{"data":` + testkit.SeedData + `,"specversion":"1.0","type":"channel.resumed.v0","id":"2Zks0VJxXAegKlhmHygjlZRwu0F","source":"/channel"}`,
			want: seedNoSubject},
		{name: "seed with data_base64", value: `{"specversion":"1.0","type":"channel.resumed.v0","id":"2Zks0VJxXAegKlhmHygjlZRwu0F","source":"/channel","data_base64":"` + b64 + `"}`,
			want: seedNoSubject},
		{name: "seed with data_base64 first", value: `{"data_base64":"` + b64 + `","specversion":"1.0","type":"channel.resumed.v0","id":"2Zks0VJxXAegKlhmHygjlZRwu0F","source":"/channel"}`,
			want: seedNoSubject},
		{name: "seed with leading and trailing space", value: "\n\t " + testkit.SeedResumed + "\n ", want: seedEvent},

		{name: "empty value", value: "", reason: reasons(ReasonNotCloudEvent)},
		{name: "not JSON", value: "not json", reason: reasons(ReasonNotCloudEvent)},
		{name: "truncated JSON", value: testkit.SeedResumed[:len(testkit.SeedResumed)/2], reason: reasons(ReasonNotCloudEvent)},
		{name: "JSON null", value: "null", reason: reasons(ReasonNotCloudEvent)},
		{name: "JSON array", value: "[" + testkit.SeedResumed + "]", reason: reasons(ReasonNotCloudEvent)},
		{name: "JSON string", value: `"channel.resumed.v0"`, reason: reasons(ReasonNotCloudEvent)},
		{name: "empty object", value: "{}", reason: reasons(ReasonNotCloudEvent)},
		{name: "specversion twice", value: seedWith(`"specversion":"1.0",`, `"specversion":"1.0","specversion":"1.0",`), reason: reasons(ReasonNotCloudEvent)},
		{name: "specversion a number", value: seedWith(`"specversion":"1.0"`, `"specversion":1.0`), reason: reasons(ReasonNotCloudEvent)},
		{name: "id a number", value: seedWith(`"id":"2Zks0VJxXAegKlhmHygjlZRwu0F"`, `"id":7`), reason: reasons(ReasonNotCloudEvent, ReasonInvalidCloudEvent)},
		{name: "data_base64 a number", value: `{"specversion":"1.0","type":"channel.resumed.v0","id":"a","source":"/s","data_base64":1}`,
			reason: reasons(ReasonNotCloudEvent)},
		{name: "data_base64 a number before specversion", value: `{"data_base64":1,"specversion":"1.0","type":"channel.resumed.v0","id":"a","source":"/s"}`,
			reason: reasons(ReasonNotCloudEvent)},
		{name: "data_base64 not base64", value: `{"specversion":"1.0","type":"channel.resumed.v0","id":"a","source":"/s","data_base64":"!!!"}`,
			reason: reasons(ReasonNotCloudEvent)},
		{name: "trailing comma in data", value: seedWith(`"userId":"ef71f453-556a-3abc-7769-bc678ef6e090"`, `"userId":"ef71f453-556a-3abc-7769-bc678ef6e090",`),
			reason: reasons(ReasonNotCloudEvent)},
		// application/json is not a structured format: without
		// ce_specversion the record is in neither mode.
		{name: "structured with application/json content type", value: testkit.SeedResumed, headers: ct("application/json"), reason: reasons(ReasonNotCloudEvent)},
		{name: "structured with unknown content type", value: testkit.SeedResumed, headers: ct("text/plain"), reason: reasons(ReasonNotCloudEvent)},
		{name: "binary with ce_specversion 2.0", value: testkit.SeedData, headers: func() []Header {
			hs := seedHeaders()
			hs[0].Value = []byte("2.0")
			return hs
		}(), reason: reasons(ReasonNotCloudEvent)},
		{name: "binary with invalid JSON value", value: `{"timestamp":`, headers: seedHeaders(), reason: reasons(ReasonDataNotObject)},
		{name: "binary with JSON object and trailing text", value: testkit.SeedData + ` x`, headers: seedHeaders(), reason: reasons(ReasonDataNotObject)},
		{name: "binary with empty value", value: "", headers: seedHeaders(), reason: reasons(ReasonDataNotObject)},
		{name: "binary, ignored type, invalid JSON value", value: `{"timestamp":`, headers: func() []Header {
			hs := seedHeaders()
			hs[1].Value = []byte("channel.held.v0")
			return hs
		}(), want: match.Event{ID: "2Zks0VJxXAegKlhmHygjlZRwu0F", Source: "/channel", Type: "channel.held.v0", Subject: chDefault,
			Time: seedEvent.Time, HasTime: true}},
		// A structured content type wins over ce_* headers, so the data
		// alone is read as the whole event.
		{name: "binary headers with structured content type", value: testkit.SeedData, headers: append(seedHeaders()[:6], ct("application/cloudevents+json")...),
			reason: reasons(ReasonNotCloudEvent)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decode([]byte(tt.value), tt.headers)
			checkDecode(t, got, err, tt.want, tt.reason)
		})
	}
}

// FuzzDecode: Decode never panics, and returns either a valid match.Event or a
// *DecodeError with a known reason and a zero match.Event.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(testkit.SeedResumed), "", "", "")
	f.Add([]byte(testkit.SeedResumed), "application/cloudevents+json", "", "")
	f.Add([]byte(testkit.SeedData), "application/json", "1.0", "channel.resumed.v0")
	f.Add([]byte(testkit.SeedData), "application/json", "1.0", "channel.interrupted.v1")
	f.Add([]byte(testkit.SeedData), "application/json", "0.3", "channel.ended.v2")
	f.Add([]byte(`{"specversion":"1.0","type":"channel.held.v0","id":"a","source":"/s","data":"x"}`), "", "", "")
	f.Add([]byte(`{"specversion":"1.0","type":"channel.resumed.v0","id":"a","source":"/s","data_base64":1}`), "", "", "")
	f.Add([]byte(`{"specversion":"0.3","type":"channel.resumed.v0","id":"a","source":"/s","datacontentencoding":"base64","data":"e30="}`), "", "", "")
	f.Add([]byte(`[1,{"a":null}]`), "", "1.0", "")
	known := []Reason{ReasonNotCloudEvent, ReasonInvalidCloudEvent, ReasonSpecVersion, ReasonUnsupportedVersion,
		ReasonDataNotObject, ReasonInvalidData, ReasonMissingChannelID, ReasonInvalidTimestamp, ReasonSubjectMismatch, ReasonInvalidChannelID}
	kinds := map[string]vcc.Kind{"channel.interrupted": vcc.Interrupted, "channel.resumed": vcc.Resumed,
		"channel.ended": vcc.Ended, "channel.disconnected": vcc.Ended}
	f.Fuzz(func(t *testing.T, value []byte, contentType, specVersion, typ string) {
		var hs []Header
		if contentType != "" {
			hs = append(hs, Header{Key: "content-type", Value: []byte(contentType)})
		}
		if specVersion != "" {
			hs = append(hs,
				Header{Key: "ce_specversion", Value: []byte(specVersion)},
				Header{Key: "ce_id", Value: []byte("id-1")},
				Header{Key: "ce_source", Value: []byte("/channel")},
				Header{Key: "ce_type", Value: []byte(typ)})
		}
		ev, err := decode(value, hs)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			if !slices.Contains(known, de.Reason) || de.Err == nil {
				t.Fatalf("DecodeError with reason %q, cause %v", de.Reason, de.Err)
			}
			if ev != (match.Event{}) {
				t.Fatalf("error %v with non-zero event %+v", err, ev)
			}
			return
		}
		if ev.ID == "" || ev.Source == "" || ev.Type == "" {
			t.Fatalf("valid event without id, source or type: %+v", ev)
		}
		name, version := ev.Type, ""
		if i := strings.LastIndexByte(ev.Type, '.'); i >= 0 {
			name, version = ev.Type[:i], ev.Type[i+1:]
		}
		want := vcc.Ignored
		if k, ok := kinds[name]; ok && (version == "v0" || version == "v1") {
			want = k
		}
		if ev.Kind != want {
			t.Fatalf("type %q decoded as kind %v, want %v", ev.Type, ev.Kind, want)
		}
		if ev.Kind != vcc.Ignored && (ev.ChannelID == "" || !ev.HasTimestamp) {
			t.Fatalf("handled event without channel or timestamp: %+v", ev)
		}
		if !ev.HasTimestamp && ev.Timestamp != 0 {
			t.Fatalf("timestamp %d without HasTimestamp", ev.Timestamp)
		}
		if !ev.HasTime && ev.Time != 0 {
			t.Fatalf("time %d without HasTime", ev.Time)
		}
	})
}
