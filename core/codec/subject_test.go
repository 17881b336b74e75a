package codec

import (
	"errors"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/internal/testkit"
)

// channelIDCases are channelIds at the edge of the subject rule: bad ones
// have white space the sdk trims from a subject, or a control character.
var channelIDCases = []struct {
	id  string
	bad bool
}{
	{"c-1", false},
	{"a b", false},             // inner space: the sdk keeps it
	{"a\u00a0b", false},        // inner no-break space, likewise
	{"\u00e9t\u00e9-1", false}, // non-ASCII, not space
	{" c-1", true},
	{"c-1 ", true},
	{" ", true},
	{"   ", true}, // white space only: no subject at all
	{"\tc-1", true},
	{"c-1\n", true},
	{"\u00a0c-1", true}, // no-break space: strings.TrimSpace trims it
	{"c-1\u3000", true}, // ideographic space
	{"c\u0000-1", true}, // control characters inside
	{"c\x7f-1", true},
	{"c\u0085-1", true},
	{"c\u0001", true},
	{strings.Repeat("c", MaxChannelIDBytes), false}, // the longest
	{strings.Repeat("c", MaxChannelIDBytes+1), true},
	{strings.Repeat("\u00e9", 128), true}, // 128 characters, 256 bytes
}

// TestChannelIDSubjectRuleBindingPath: through the binding path, with and
// without a subject, in both modes, a channelId the sdk would trim as a
// subject, or with a control character, is rejected as
// invalid-channel-id; any other is accepted, and then setting it as a
// record's subject through the sdk (the oracle: event.SetSubject, which
// the record encoder uses) gives it back byte for byte.
func TestChannelIDSubjectRuleBindingPath(t *testing.T) {
	for _, tt := range channelIDCases {
		for _, withSubject := range []bool{false, true} {
			e := testkit.NewEvent("channel.resumed.v0").With(set("data.channel.channelId", tt.id), set("subject", absent))
			if withSubject {
				e = e.With(set("subject", tt.id))
			}
			bv, bh := binaryValue(t, e)
			for mode, in := range map[string]struct {
				value   []byte
				headers []Header
			}{"structured": {testkit.StructuredValue(t, e), nil}, "binary": {bv, bh}} {
				ev, err := decodeBinding(in.value, in.headers)
				if tt.bad {
					// A white-space-only subject attribute is no
					// subject to the sdk's validation, before data.
					var de *DecodeError
					if !errors.As(err, &de) || de.Reason != ReasonInvalidChannelID &&
						!(withSubject && strings.TrimSpace(tt.id) == "" && de.Reason == ReasonInvalidCloudEvent) {
						t.Errorf("%q (subject %v, %s): got %+v, %v; want reason %s", tt.id, withSubject, mode, ev, err, ReasonInvalidChannelID)
					}
					continue
				}
				if err != nil || ev.ChannelID != tt.id || ev.Kind != vcc.Resumed {
					t.Errorf("%q (subject %v, %s): got %+v, %v; want it accepted", tt.id, withSubject, mode, ev, err)
					continue
				}
				out := event.New()
				if err := out.Context.SetSubject(ev.ChannelID); err != nil || out.Subject() != tt.id {
					t.Errorf("%q: a record's subject would be %q (%v)", tt.id, out.Subject(), err)
				}
			}
		}
	}
}

// TestChannelIDSubjectRuleFastPath: the fast path never takes a channelId
// that the binding path rejects (it can see only a plain space among
// them), and Decode, whichever path takes the event, gives the same
// reason; a channelId with an inner space it takes as is.
func TestChannelIDSubjectRuleFastPath(t *testing.T) {
	ids := []string{" c-1", "c-1 ", " ", "   ", "  c-1  ", strings.Repeat("c", 256)}
	for _, id := range ids {
		e := testkit.NewEvent("channel.resumed.v0").With(set("data.channel.channelId", id), set("subject", absent))
		bv, bh := binaryValue(t, e)
		for _, in := range []struct {
			value   []byte
			headers []Header
		}{{testkit.StructuredValue(t, e), nil}, {bv, bh}} {
			if ev, ok := DecodeFast(in.value, in.headers); ok {
				t.Errorf("fast path took channelId %q: %+v", id, ev)
			}
			var de *DecodeError
			if _, err := decode(in.value, in.headers); !errors.As(err, &de) || de.Reason != ReasonInvalidChannelID {
				t.Errorf("Decode of channelId %q: %v; want reason %s", id, err, ReasonInvalidChannelID)
			}
		}
	}
	const inner = "c 1"
	e := testkit.NewEvent("channel.resumed.v0").With(set("data.channel.channelId", inner), set("subject", absent))
	ev, ok := DecodeFast(testkit.StructuredValue(t, e), nil)
	if !ok || ev.ChannelID != inner || ev.Subject != "" {
		t.Fatalf("fast path on channelId %q: %+v, %v; want it taken as is", inner, ev, ok)
	}
	// A subject with spaces around the channelId is the binding's: the
	// fast path leaves it. The sdk trims a ce_subject header (binary
	// mode), which then equals the channelId, and keeps a structured
	// subject as it is, which then differs from it.
	e = testkit.NewEvent("channel.resumed.v0").With(set("data.channel.channelId", "c-1"), set("subject", " c-1 "))
	bv, bh := binaryValue(t, e)
	for _, in := range []struct {
		value   []byte
		headers []Header
	}{{testkit.StructuredValue(t, e), nil}, {bv, bh}} {
		if _, ok := DecodeFast(in.value, in.headers); ok {
			t.Fatal("fast path took a subject with spaces")
		}
	}
	if ev, err := decode(bv, bh); err != nil || ev.Subject != "c-1" || ev.ChannelID != "c-1" {
		t.Fatalf("Decode of ce_subject %q: %+v, %v; want it trimmed and accepted", " c-1 ", ev, err)
	}
	var de *DecodeError
	if ev, err := decode(testkit.StructuredValue(t, e), nil); !errors.As(err, &de) || de.Reason != ReasonSubjectMismatch {
		t.Fatalf("Decode of subject %q: %+v, %v; want reason %s", " c-1 ", ev, err, ReasonSubjectMismatch)
	}
}
