package state

import (
	"encoding/hex"
	"reflect"
	"testing"

	"github.com/interruptions/interruptions/core/vcc"
)

// v3Channel is a changelog value written by the version 3 encoder (the
// encoder before carriers), generated with that code: identity conv-old,
// inter-old, party agent/1544/user-old; events i1 at 1 ms (offset 7) and r2
// at 2 ms (offset 8); one published interruption opened by i1, revision 1,
// fingerprint 0x1234567890abcdef.
const v3Channel = "0308636f6e762d6f6c6409696e7465722d6f6c64056167656e74043135343408757365722d6f6c648092f401000002" +
	"082f6368616e6e656c026931166368616e6e656c2e696e7465727275707465642e763080897a08082f6368616e6e656c027232126368616e" +
	"6e656c2e726573756d65642e76308092f401090195f49459757d75ccefcdab90785634120100"

// TestDecodeVersion3WithoutCarriers: a value of the encoder before carriers
// is read whole, its identity kept with no carrier (it ranks before every
// event: an earlier event does not replace it), its fingerprint marked
// legacy; it is written back as the current version and reads the same.
func TestDecodeVersion3WithoutCarriers(t *testing.T) {
	b, err := hex.DecodeString(v3Channel)
	if err != nil {
		t.Fatal(err)
	}
	c, err := DecodeChannel(b)
	if err != nil {
		t.Fatalf("DecodeChannel(v3): %v", err)
	}
	want := ChannelData{ConversationID: "conv-old", InteractionID: "inter-old",
		Party: vcc.Party{Role: "agent", AgentID: "1544", UserID: "user-old"}, LastEventAt: 2_000_000,
		Events: []Ref{{Source: "/channel", ID: "i1", Type: "channel.interrupted.v0", At: 1_000_000, Offset: 7, HasOffset: true},
			{Source: "/channel", ID: "r2", Type: "channel.resumed.v0", At: 2_000_000, Offset: 8, HasOffset: true}},
		Published: []Published{{Open: HashEvent("/channel", "i1"), Fingerprint: 0x1234567890abcdef, Revision: 1, Legacy: true}}}
	if got := c.Data(); !reflect.DeepEqual(got, want) {
		t.Fatalf("v3 decoded as\n%+v\nwant\n%+v", got, want)
	}
	if c.OffersIdentity(0, "/channel", "i0", "conv-new", "inter-new", vcc.Party{Role: "customer", UserID: "u"}) ||
		c.OfferIdentity(0, "/channel", "i0", "conv-new", "inter-new", vcc.Party{Role: "customer", UserID: "u"}) {
		t.Fatalf("an event at 0 replaced a v3 identity: %+v", c.Data())
	}
	again := AppendChannel(nil, c)
	if again[0] != tombVersion {
		t.Fatalf("re-encoded as version %d", again[0])
	}
	c4, err := DecodeChannel(again)
	if err != nil || !reflect.DeepEqual(c4.Data(), want) {
		t.Fatalf("v3 → v%d round trip: %+v, %v", codecVersion, c4.Data(), err)
	}
}

// TestCodecCarriers: carriers and legacy fingerprints survive the codec,
// and a carrier or published flag byte out of range is corrupt.
func TestCodecCarriers(t *testing.T) {
	d := ChannelData{ConversationID: "c", Party: vcc.Party{Role: "agent", UserID: "u"}, LastEventAt: 5,
		Events:    []Ref{{Source: "/channel", ID: "a", Type: "channel.interrupted.v0", At: 5}},
		Published: []Published{{Open: 1, Fingerprint: 2, Revision: 3, Legacy: true}, {Open: 4, Revision: 5, Retracted: true, Legacy: true}, {Open: 6, Fingerprint: 7, Revision: 1}},
		Carriers:  [NumCarriers]Carrier{CarrierConversation: {At: -5, Hash: 1<<64 - 1, Known: true}, CarrierParty: {At: 5, Hash: 9, Known: true}}}
	b := AppendChannel(nil, NewChannel(d))
	c, err := DecodeChannel(b)
	if err != nil || !reflect.DeepEqual(c.Data(), d) {
		t.Fatalf("round trip: %+v, %v\nwant %+v", c.Data(), err, d)
	}
	bad := append([]byte(nil), b...)
	bad[len(bad)-1-8-1-1] = 2 // the interaction carrier's flag, before the party's (flag, at, hash)
	if _, err := DecodeChannel(bad); err == nil {
		t.Fatalf("carrier flag 2 decoded")
	}
}

// TestOfferIdentityOrderFree: each identity field comes from the first
// copy carrying it by time, then source, then id, then value, whatever the
// order the copies are offered in; the party comes whole from one copy.
func TestOfferIdentityOrderFree(t *testing.T) {
	type copyOf struct {
		src, id     string
		at          int64
		conv, inter string
		party       vcc.Party
	}
	pA := vcc.Party{Role: "agent", AgentID: "1", UserID: "zz"}
	copies := []copyOf{
		{"/a", "e2", 100, "", "", vcc.Party{Role: "agent", AgentID: "0", UserID: "b"}},
		{"/a", "e1", 100, "", "inter-e1", vcc.Party{Role: "agent", AgentID: "2", UserID: "a"}},
		{"/a", "e1", 100, "", "", pA}, // a copy of e1: smaller party
		{"/b", "e0", 100, "", "", vcc.Party{Role: "agent", AgentID: "0", UserID: "a"}},
		{"/a", "e9", 200, "conv-late", "inter-late", vcc.Party{}},
		{"/a", "e3", 150, "conv-mid", "", vcc.Party{}},
	}
	// The oracle, by the rule: party from the /a e1 copies at 100 (/a < /b,
	// e1 < e2), the smaller of the two: pA; conversationId from e3 at 150;
	// interactionId from e1 at 100.
	want := []string{"conv-mid", "inter-e1", pA.Role, pA.AgentID, pA.UserID}
	var perm func(rest []copyOf, done []copyOf)
	n := 0
	perm = func(rest []copyOf, done []copyOf) {
		if len(rest) == 0 {
			// As the engine does: each event placed when its first copy
			// comes, then offered (an event placed before the first one
			// takes its index 0, where carriers are kept as flags).
			c := &Channel{}
			for _, x := range done {
				if c.FindEvent(x.src, x.id) < 0 {
					c.InsertEvent(Ref{Source: x.src, ID: x.id, Type: "channel.interrupted.v0", At: x.at})
				}
				c.OfferIdentity(x.at, x.src, x.id, x.conv, x.inter, x.party)
			}
			if d, err := DecodeChannel(AppendChannel(nil, c)); err != nil || d.Carriers() != c.Carriers() {
				t.Fatalf("offered %+v: carriers %+v read back as %+v, %v", done, c.Carriers(), d.Carriers(), err)
			}
			conv, inter, party := c.Identity()
			if got := []string{conv, inter, party.Role, party.AgentID, party.UserID}; !reflect.DeepEqual(got, want) {
				t.Fatalf("offered %+v: identity %q, want %q", done, got, want)
			}
			if k := c.Carriers()[CarrierParty]; k != (Carrier{At: 100, Hash: HashEvent("/a", "e1"), Known: true}) {
				t.Fatalf("offered %+v: party carrier %+v", done, k)
			}
			n++
			return
		}
		for i := range rest {
			next := append(append([]copyOf(nil), rest[:i]...), rest[i+1:]...)
			perm(next, append(append([]copyOf(nil), done...), rest[i]))
		}
	}
	perm(copies, nil)
	if n != 720 {
		t.Fatalf("%d permutations", n)
	}
}
