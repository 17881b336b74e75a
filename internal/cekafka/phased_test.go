package cekafka

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/vccgen"
)

// reasonOf is the dead-letter reason of a decode error; "" for none.
func reasonOf(t *testing.T, err error) codec.Reason {
	t.Helper()
	if err == nil {
		return ""
	}
	var de *codec.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("decode error %v is not a *codec.DecodeError", err)
	}
	return de.Reason
}

// checkPhasedAgree decodes one input in phased mode three ways: the fast
// path alone, the sdk-go binding alone, and DecodePhased (the fast path,
// the binding when it declines). It fails when the fast path accepts what
// the binding rejects or decodes it differently, or when DecodePhased's
// event or rejection reason differs from the binding's. It returns
// whether the fast path took the input, and the binding's event and
// reason.
func checkPhasedAgree(t *testing.T, value []byte, headers []codec.Header) (bool, match.Event, codec.Reason) {
	t.Helper()
	slow, err := codec.DecodeBindingPhased(value, headers, Binding)
	reason := reasonOf(t, err)
	fast, took := codec.DecodeFastPhased(value, headers)
	if took {
		if err != nil {
			t.Fatalf("phased fast path accepted what the binding rejects (%v):\nheaders %v\nvalue %q", err, headers, value)
		}
		if fast != slow {
			t.Fatalf("phased paths disagree:\nfast %+v\nslow %+v\nvalue %q", fast, slow, value)
		}
	}
	full, ferr := codec.DecodePhased(value, headers, Binding)
	if r := reasonOf(t, ferr); r != reason || full != slow {
		t.Fatalf("DecodePhased gave %+v (%q), the binding %+v (%q)\nvalue %q", full, r, slow, reason, value)
	}
	return took, slow, reason
}

// checkNormalAgree is checkPhasedAgree for the normal (interruption
// matcher's) mode: Decode against DecodeBinding, the fast path through
// checkAgree.
func checkNormalAgree(t *testing.T, value []byte, headers []codec.Header) (match.Event, codec.Reason) {
	t.Helper()
	checkAgree(t, value, headers)
	slow, err := codec.DecodeBinding(value, headers, Binding)
	reason := reasonOf(t, err)
	full, ferr := Decode(value, recordHeaders(headers))
	if r := reasonOf(t, ferr); r != reason || full != slow {
		t.Fatalf("Decode gave %+v (%q), the binding %+v (%q)\nvalue %q", full, r, slow, reason, value)
	}
	return slow, reason
}

// TestPhasedFastDecodeAgreesOnGeneratedTraffic: in phased mode the fast
// path takes nearly all realistic traffic in both content modes and
// decodes it exactly as the binding does; every channel event comes out
// Phased, every agent event not.
func TestPhasedFastDecodeAgreesOnGeneratedTraffic(t *testing.T) {
	events := vccgen.New(vccgen.Config{Seed: 11}).Take(20_000)
	structured := []codec.Header{{Key: "content-type", Value: []byte("application/cloudevents+json")}}
	fastS, fastB, phased := 0, 0, 0
	for _, ev := range events {
		took, got, reason := checkPhasedAgree(t, ev.Value, structured)
		if took {
			fastS++
		}
		checkPhasedAgree(t, ev.Value, nil) // no content type reads as structured
		r := fastBinaryRecord(t, ev.Value)
		if took, _, _ := checkPhasedAgree(t, r.Value, Headers(r.Headers)); took {
			fastB++
		}
		if reason != "" {
			continue
		}
		if want := strings.HasPrefix(got.Type, "channel."); got.Phased != want {
			t.Fatalf("event %s of type %s: Phased %v, want %v", got.ID, got.Type, got.Phased, want)
		}
		if got.Phased {
			phased++
		}
	}
	if fastS < len(events)*99/100 || fastB < len(events)*99/100 {
		t.Errorf("phased fast path took %d structured and %d binary of %d events; want 99%%", fastS, fastB, len(events))
	}
	if phased < len(events)/2 {
		t.Errorf("%d of %d events decoded as phased: the channel events go untested", phased, len(events))
	}
}

// TestPhasedDecodeEdges: hand-made inputs for every channel type (and the
// agent type), in both content modes, decoded in phased and in normal
// mode. Both paths of each mode must agree (event and rejection reason),
// and the reasons are the spec's: in phased mode every channel type is
// read as strictly as a handled one (bad or missing timestamp, missing or
// non-string channelId, version v2 rejected), in normal mode only the
// four handled types are and the rest are ignored; identity fields of the
// wrong JSON type are read as absent in both; agent.presencechanged is
// ignored in both, whatever its data.
func TestPhasedDecodeEdges(t *testing.T) {
	const ch = "6a1c5e3b-2f5c-4972-ace7-32f1f773ac4f"
	const ts = "2026-01-05T08:00:00.123Z"
	wantTS := time.Date(2026, 1, 5, 8, 0, 0, 123e6, time.UTC).UnixNano()
	// The channel types, with their kinds for the interruption matcher
	// (written here, not asked of vcc).
	channelTypes := map[string]vcc.Kind{
		"channel.interrupted": vcc.Interrupted, "channel.resumed": vcc.Resumed, "channel.ended": vcc.Ended,
		"channel.disconnected": vcc.Ended, "channel.alerted": vcc.Ignored, "channel.connected": vcc.Ignored,
		"channel.connectionfailed": vcc.Ignored, "channel.held": vcc.Ignored, "channel.retrieved": vcc.Ignored,
		"channel.parked": vcc.Ignored, "channel.unparked": vcc.Ignored, "channel.wrapstarted": vcc.Ignored,
	}
	if len(channelTypes) != len(vcc.PhaseNames) {
		t.Fatalf("the test knows %d channel types, vcc.PhaseNames has %d", len(channelTypes), len(vcc.PhaseNames))
	}
	type edge struct {
		name, typ, source, subject, data string
		// phased and normal are the rejection reasons in each mode, ""
		// for an accepted event.
		phased, normal codec.Reason
		// check, when set, is run on an accepted event of each mode.
		check func(t *testing.T, ev match.Event)
	}
	var edges []edge
	for name, kind := range channelTypes {
		handled := kind != vcc.Ignored
		strict := func(r codec.Reason) codec.Reason { // the normal mode's reason
			if handled {
				return r
			}
			return ""
		}
		good := func(identity string) string {
			return `{"timestamp":"` + ts + `","channel":{"channelId":"` + ch + `"` + identity + `}}`
		}
		edges = append(edges,
			edge{name: "valid", typ: name + ".v1", data: good(`,"conversationId":"c","interactionId":"i","party":{"role":"agent","agentId":"42","userId":"u"}`),
				check: func(t *testing.T, ev match.Event) {
					if !ev.Phased && kind == vcc.Ignored { // normal mode, an ignored type: data not read
						if ev.ChannelID != "" || ev.Kind != vcc.Ignored || ev.Timestamp != wantTS {
							t.Fatalf("an ignored event decoded as %+v", ev)
						}
						return
					}
					if ev.ChannelID != ch || ev.Timestamp != wantTS || ev.ConversationID != "c" || ev.InteractionID != "i" ||
						ev.Party != (vcc.Party{Role: "agent", AgentID: "42", UserID: "u"}) || ev.IgnoredIdentity != 0 || ev.Kind != kind {
						t.Fatalf("decoded %+v", ev)
					}
				}},
			edge{name: "timestamp garbage", typ: name + ".v0", data: `{"timestamp":"later","channel":{"channelId":"` + ch + `"}}`,
				phased: codec.ReasonInvalidTimestamp, normal: strict(codec.ReasonInvalidTimestamp)},
			edge{name: "timestamp a number", typ: name + ".v0", data: `{"timestamp":5,"channel":{"channelId":"` + ch + `"}}`,
				phased: codec.ReasonInvalidData, normal: strict(codec.ReasonInvalidData)},
			edge{name: "timestamp missing", typ: name + ".v1", data: `{"channel":{"channelId":"` + ch + `"}}`,
				phased: codec.ReasonInvalidTimestamp, normal: strict(codec.ReasonInvalidTimestamp)},
			edge{name: "channelId missing", typ: name + ".v0", data: `{"timestamp":"` + ts + `","channel":{"party":{"role":"agent"}}}`,
				phased: codec.ReasonMissingChannelID, normal: strict(codec.ReasonMissingChannelID)},
			edge{name: "channel missing", typ: name + ".v1", data: `{"timestamp":"` + ts + `"}`,
				phased: codec.ReasonMissingChannelID, normal: strict(codec.ReasonMissingChannelID)},
			edge{name: "channelId a number", typ: name + ".v0", data: `{"timestamp":"` + ts + `","channel":{"channelId":5}}`,
				phased: codec.ReasonInvalidData, normal: strict(codec.ReasonInvalidData)},
			edge{name: "data an array", typ: name + ".v0", data: `[1]`,
				phased: codec.ReasonDataNotObject, normal: strict(codec.ReasonDataNotObject)},
			edge{name: "version v2", typ: name + ".v2", data: good(""),
				phased: codec.ReasonUnsupportedVersion, normal: strict(codec.ReasonUnsupportedVersion),
				check: func(t *testing.T, ev match.Event) { // normal mode, an ignored type
					if ev.Phased || ev.Kind != vcc.Ignored || ev.ChannelID != "" {
						t.Fatalf("an ignored v2 event decoded as %+v", ev)
					}
				}},
			edge{name: "no version", typ: name, data: good(""),
				phased: codec.ReasonUnsupportedVersion, normal: strict(codec.ReasonUnsupportedVersion)},
			edge{name: "subject mismatch", typ: name + ".v0", subject: "other", data: good(""),
				phased: codec.ReasonSubjectMismatch, normal: strict(codec.ReasonSubjectMismatch)},
			edge{name: "identity of the wrong types", typ: name + ".v0",
				data: good(`,"conversationId":{"a":1},"interactionId":[1],"party":{"role":1,"agentId":true,"userId":2.5}`),
				check: func(t *testing.T, ev match.Event) {
					if !ev.Phased && kind == vcc.Ignored {
						return
					}
					const want = codec.IgnoredRole | codec.IgnoredAgentID | codec.IgnoredUserID | codec.IgnoredConversationID | codec.IgnoredInteractionID
					if ev.ChannelID != ch || ev.IgnoredIdentity != want || ev.Party != (vcc.Party{}) || ev.ConversationID != "" || ev.InteractionID != "" {
						t.Fatalf("decoded %+v, want identity bits %b and no identity", ev, want)
					}
				}},
			edge{name: "party a string", typ: name + ".v1", data: good(`,"party":"agent","conversationId":null`),
				check: func(t *testing.T, ev match.Event) {
					if !ev.Phased && kind == vcc.Ignored {
						return
					}
					if ev.ChannelID != ch || ev.IgnoredIdentity != codec.IgnoredParty || ev.Party != (vcc.Party{}) {
						t.Fatalf("decoded %+v, want identity bits %b", ev, codec.IgnoredParty)
					}
				}},
		)
	}
	for _, v := range []string{".v0", ".v1", ".v2", ""} {
		for _, data := range []string{`{"timestamp":"later"}`, `{"agent":{"agentId":5}}`, `[1]`, `{"timestamp":"` + ts + `","channel":{"channelId":5}}`} {
			edges = append(edges, edge{name: "agent " + data, typ: "agent.presencechanged" + v, source: "/agent", subject: "42", data: data,
				check: func(t *testing.T, ev match.Event) {
					if ev.Phased || ev.Kind != vcc.Ignored || ev.ChannelID != "" || ev.Subject != "42" {
						t.Fatalf("agent event decoded as %+v", ev)
					}
				}})
		}
	}
	structured := []codec.Header{{Key: "content-type", Value: []byte("application/cloudevents+json")}}
	checked, fastTook := map[string]int{}, map[string]int{}
	for _, e := range edges {
		source, subject := e.source, e.subject
		if source == "" {
			source = "/channel"
		}
		if subject == "" {
			subject = ch
		}
		inputs := []struct {
			mode    string
			value   []byte
			headers []codec.Header
		}{
			{"structured", []byte(`{"specversion":"1.0","type":"` + e.typ + `","id":"e1","source":"` + source + `","subject":"` + subject +
				`","datacontenttype":"application/json","data":` + e.data + `}`), structured},
			{"binary", []byte(e.data), binaryHeaders("e1", source, e.typ, subject, "")},
		}
		for _, in := range inputs {
			t.Run(e.typ+"/"+e.name+"/"+in.mode, func(t *testing.T) {
				took, ev, reason := checkPhasedAgree(t, in.value, in.headers)
				if took {
					fastTook[e.name]++
				}
				if reason != e.phased {
					t.Fatalf("phased mode: reason %q, want %q", reason, e.phased)
				}
				if reason == "" {
					if want := strings.HasPrefix(e.typ, "channel."); ev.Phased != want {
						t.Fatalf("phased mode: Phased %v, want %v (%+v)", ev.Phased, want, ev)
					}
					if e.check != nil {
						e.check(t, ev)
					}
				}
				ev, reason = checkNormalAgree(t, in.value, in.headers)
				if reason != e.normal {
					t.Fatalf("normal mode: reason %q, want %q", reason, e.normal)
				}
				if reason == "" {
					if ev.Phased {
						t.Fatalf("normal mode: Phased (%+v)", ev)
					}
					if e.check != nil {
						e.check(t, ev)
					}
				}
				checked[e.typ]++
			})
		}
	}
	// The fast path may decline anything, but not the common case: every
	// accepted channel event, in both modes.
	for _, name := range []string{"valid", "identity of the wrong types", "party a string"} {
		if fastTook[name] != 2*len(channelTypes) {
			t.Errorf("the phased fast path took %d of the %d %q edges", fastTook[name], 2*len(channelTypes), name)
		}
	}
	if !t.Failed() && checked["channel.held.v2"] != 2 {
		t.Errorf("channel.held.v2 checked %d times, want once in each mode", checked["channel.held.v2"])
	}
}
