package codec

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/internal/testkit"
)

// lenientCase is one identity field of the wrong JSON type: the change to
// testkit.NewEvent and what it must decode to, written by hand from the
// rule (the field absent, its bit set), not by the decoder.
type lenientCase struct {
	name   string
	change []func(testkit.Event)
	want   func(*match.Event)
}

// lenientCases are wrong-typed identity fields of a channel.resumed.v0.
func lenientCases() []lenientCase {
	agentIs := func(v any) []func(testkit.Event) { return []func(testkit.Event){set("data.channel.party.agentId", v)} }
	noAgent := func(e *match.Event) { e.Party.AgentID, e.IgnoredIdentity = "", IgnoredAgentID }
	noParty := func(e *match.Event) { e.Party, e.IgnoredIdentity = vcc.Party{}, IgnoredParty }
	return []lenientCase{
		{"agentId a number", agentIs(1544), noAgent},
		{"agentId a float", agentIs(-15.44e2), noAgent},
		{"agentId true", agentIs(true), noAgent},
		{"agentId false", agentIs(false), noAgent},
		{"agentId an object", agentIs(map[string]any{"id": "1544", "n": []any{1, nil}}), noAgent},
		{"agentId an array", agentIs([]any{"1544"}), noAgent},
		{"agentId an empty array", agentIs([]any{}), noAgent},
		// null is JSON's absent: read as absent, as encoding/json always
		// did, and not counted.
		{"agentId null", agentIs(nil), func(e *match.Event) { e.Party.AgentID = "" }},
		{"role a number", []func(testkit.Event){set("data.channel.party.role", 2)},
			func(e *match.Event) { e.Party.Role, e.IgnoredIdentity = "", IgnoredRole }},
		{"userId an object", []func(testkit.Event){set("data.channel.party.userId", map[string]any{})},
			func(e *match.Event) { e.Party.UserID, e.IgnoredIdentity = "", IgnoredUserID }},
		{"party a string", []func(testkit.Event){set("data.channel.party", "agent")}, noParty},
		{"party an array", []func(testkit.Event){set("data.channel.party", []any{map[string]any{"role": "agent", "agentId": "1544"}})}, noParty},
		{"party a number", []func(testkit.Event){set("data.channel.party", 7)}, noParty},
		{"party true", []func(testkit.Event){set("data.channel.party", true)}, noParty},
		{"conversationId a number", []func(testkit.Event){set("data.channel.conversationId", 12)},
			func(e *match.Event) { e.ConversationID, e.IgnoredIdentity = "", IgnoredConversationID }},
		{"interactionId an array", []func(testkit.Event){set("data.channel.interactionId", []any{"inter-1"})},
			func(e *match.Event) { e.InteractionID, e.IgnoredIdentity = "", IgnoredInteractionID }},
		{"every field wrong at once", []func(testkit.Event){set("data.channel.party.role", false), set("data.channel.party.agentId", 1544),
			set("data.channel.party.userId", []any{}), set("data.channel.conversationId", 1), set("data.channel.interactionId", map[string]any{"a": 1})},
			func(e *match.Event) {
				e.Party, e.ConversationID, e.InteractionID = vcc.Party{}, "", ""
				e.IgnoredIdentity = IgnoredRole | IgnoredAgentID | IgnoredUserID | IgnoredConversationID | IgnoredInteractionID
			}},
	}
}

// TestLenientIdentityBothPathsAgree: for each wrong-typed identity field,
// in structured and binary mode, the fast path takes the event and both
// decode paths give the hand-written Event: the field absent, its bit
// set, everything else (timing, channel, the other identity fields) as
// in the unchanged event. Before lenient identity the binding path
// rejected each of these as invalid-data and the fast path declined.
func TestLenientIdentityBothPathsAgree(t *testing.T) {
	const typ = "channel.resumed.v0"
	for _, tt := range lenientCases() {
		want := decoded(typ, vcc.Resumed)
		tt.want(&want)
		e := testkit.NewEvent(typ).With(tt.change...)
		structured := testkit.StructuredValue(t, e)
		bvalue, bheaders := binaryValue(t, e)
		for _, mode := range []struct {
			name    string
			value   []byte
			headers []Header
		}{
			{"structured", structured, nil},
			{"structured, cloudevents content type", structured, []Header{{Key: "content-type", Value: []byte(structuredContentType)}}},
			{"binary", bvalue, bheaders},
		} {
			t.Run(tt.name+"/"+mode.name, func(t *testing.T) {
				slow, err := decodeBinding(mode.value, mode.headers)
				if err != nil {
					t.Fatalf("binding path: %v\nvalue %s", err, mode.value)
				}
				if slow != want {
					t.Fatalf("binding path:\n got %+v\nwant %+v", slow, want)
				}
				fast, ok := DecodeFast(mode.value, mode.headers)
				if !ok {
					t.Fatalf("fast path declined %s", mode.value)
				}
				if fast != want {
					t.Fatalf("fast path:\n got %+v\nwant %+v", fast, want)
				}
				if got, err := decode(mode.value, mode.headers); err != nil || got != want {
					t.Fatalf("Decode = %+v, %v; want %+v", got, err, want)
				}
			})
		}
	}
}

// TestLenientIdentityEdges: the rule at its edges, through the binding
// path (the contract) and Decode. A later duplicate key wins, as
// encoding/json reads duplicates; timing and key fields stay strict; an
// ignored type is never given identity bits but keeps its timestamp.
func TestLenientIdentityEdges(t *testing.T) {
	const ch = testkit.SeedChannelID
	env := func(typ, data string) []byte {
		return []byte(`{"specversion":"1.0","id":"a","source":"/channel","type":"` + typ + `","data":` + data + `}`)
	}
	const ts = `"timestamp":"2026-01-05T08:00:00.123Z"`
	base := match.Event{ID: "a", Source: "/channel", Type: "channel.resumed.v0", Kind: vcc.Resumed,
		Timestamp: testkit.At("2026-01-05T08:00:00.123Z"), HasTimestamp: true, ChannelID: ch}
	with := func(f func(*match.Event)) match.Event { e := base; f(&e); return e }
	tests := []struct {
		name   string
		value  []byte
		want   match.Event
		reason Reason
	}{
		{"wrong type then a string", env("channel.resumed.v0", `{`+ts+`,"channel":{"channelId":"`+ch+`","party":{"agentId":1,"agentId":"7"}}}`),
			with(func(e *match.Event) { e.Party.AgentID = "7" }), ""},
		{"a string then a wrong type", env("channel.resumed.v0", `{`+ts+`,"channel":{"channelId":"`+ch+`","party":{"agentId":"7","agentId":1}}}`),
			with(func(e *match.Event) { e.IgnoredIdentity = IgnoredAgentID }), ""},
		{"a string then null", env("channel.resumed.v0", `{`+ts+`,"channel":{"channelId":"`+ch+`","party":{"agentId":"7","agentId":null}}}`),
			with(func(e *match.Event) { e.Party.AgentID = "7" }), ""},
		{"party an object then a string", env("channel.resumed.v0", `{`+ts+`,"channel":{"channelId":"`+ch+`","party":{"role":"agent"},"party":"x"}}`),
			with(func(e *match.Event) { e.IgnoredIdentity = IgnoredParty }), ""},
		{"party a string then an object", env("channel.resumed.v0", `{`+ts+`,"channel":{"channelId":"`+ch+`","party":"x","party":{"role":"agent","userId":false}}}`),
			with(func(e *match.Event) { e.Party.Role, e.IgnoredIdentity = "agent", IgnoredUserID }), ""},
		{"key in another case", env("channel.resumed.v0", `{`+ts+`,"channel":{"channelId":"`+ch+`","PARTY":{"AgentID":1544}}}`),
			with(func(e *match.Event) { e.IgnoredIdentity = IgnoredAgentID }), ""},
		{"party null", env("channel.resumed.v0", `{`+ts+`,"channel":{"channelId":"`+ch+`","party":null}}`), base, ""},

		{"channelId a number", env("channel.resumed.v0", `{`+ts+`,"channel":{"channelId":1544,"party":{"agentId":1544}}}`), match.Event{}, ReasonInvalidData},
		{"channelId an object", env("channel.resumed.v0", `{`+ts+`,"channel":{"channelId":{"id":"x"}}}`), match.Event{}, ReasonInvalidData},
		{"channelId true", env("channel.resumed.v0", `{`+ts+`,"channel":{"channelId":true}}`), match.Event{}, ReasonInvalidData},
		{"channel a string", env("channel.resumed.v0", `{`+ts+`,"channel":"`+ch+`"}`), match.Event{}, ReasonInvalidData},
		{"timestamp a number", env("channel.resumed.v0", `{"timestamp":1767600000123,"channel":{"channelId":"`+ch+`"}}`), match.Event{}, ReasonInvalidData},
		{"timestamp an object", env("channel.resumed.v0", `{"timestamp":{},"channel":{"channelId":"`+ch+`","party":7}}`), match.Event{}, ReasonInvalidData},

		{"ignored type, wrong-typed agentId", env("channel.held.v0", `{`+ts+`,"channel":{"channelId":"`+ch+`","party":{"agentId":1544}}}`),
			match.Event{ID: "a", Source: "/channel", Type: "channel.held.v0", Timestamp: base.Timestamp, HasTimestamp: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, dec := range map[string]func([]byte, []Header) (match.Event, error){"binding": decodeBinding, "Decode": decode} {
				got, err := dec(tt.value, nil)
				if tt.reason != "" {
					var de *DecodeError
					if !errors.As(err, &de) || de.Reason != tt.reason {
						t.Fatalf("%s = %+v, %v; want reason %s", name, got, err, tt.reason)
					}
					continue
				}
				if err != nil || got != tt.want {
					t.Fatalf("%s:\n got %+v, %v\nwant %+v", name, got, err, tt.want)
				}
			}
			if fast, ok := DecodeFast(tt.value, nil); ok && (tt.reason != "" || fast != tt.want) {
				t.Fatalf("fast path took it as %+v; want %+v (reason %q)", fast, tt.want, tt.reason)
			}
		})
	}
}

// FuzzLenientIdentityAgree: whatever data.channel holds (identity fields
// of any type, duplicates, nulls, odd channelIds), as a structured or a
// binary record of a handled or an ignored type, the fast path either
// declines or gives exactly what the binding path gives, identity bits
// included.
func FuzzLenientIdentityAgree(f *testing.F) {
	for _, c := range []string{
		`{"channelId":"c","party":{"role":"agent","agentId":1544,"userId":"u"}}`,
		`{"channelId":"c","party":"agent","conversationId":1,"interactionId":[1,{"a":null}]}`,
		`{"channelId":"c","party":{"role":true,"agentId":null,"userId":{}},"conversationId":null}`,
		`{"channelId":"c","party":[],"party":{"role":"x"}}`,
		`{"channelId":" c","party":{"agentId":-1.5e3}}`,
		`{"channelId":"c ","conversationId":false}`,
		`{"channelId":"c\u0001","party":7}`,
		`{"channelId":"c","party":{"AgentId":1,"agentId":"2"}}`,
		`{"channelId":"c","party":{"agentId":"\u00e9"}}`,
		`{"channelId":5,"party":{"agentId":1}}`,
	} {
		f.Add(c, "channel.resumed.v0", false)
		f.Add(c, "channel.held.v0", true)
	}
	f.Fuzz(func(t *testing.T, channel, typ string, binary bool) {
		data := `{"timestamp":"2026-01-05T08:00:00.123Z","channel":` + channel + `}`
		var value []byte
		var headers []Header
		if binary {
			value = []byte(data)
			headers = []Header{{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("a")},
				{Key: "ce_source", Value: []byte("/channel")}, {Key: "ce_type", Value: []byte(typ)},
				{Key: "content-type", Value: []byte("application/json")}}
		} else {
			value = []byte(`{"specversion":"1.0","id":"a","source":"/channel","type":` + mustQuote(typ) + `,"data":` + data + `}`)
		}
		fast, ok := DecodeFast(value, headers)
		if !ok {
			return
		}
		slow, err := decodeBinding(value, headers)
		if err != nil {
			t.Fatalf("fast path took what the binding rejects (%v): %s", err, value)
		}
		if fast != slow {
			t.Fatalf("paths disagree on %s:\nfast %+v\nslow %+v", value, fast, slow)
		}
	})
}

// mustQuote is s as a JSON string.
func mustQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
