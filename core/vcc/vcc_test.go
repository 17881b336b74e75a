package vcc

import "testing"

// docTypes is the event family as vcc-channel-events.md lists it, written
// out by hand: the oracle the tables are held to.
var docTypes = map[string]Kind{
	"channel.alerted": Ignored, "channel.connected": Ignored, "channel.connectionfailed": Ignored,
	"channel.held": Ignored, "channel.retrieved": Ignored, "channel.parked": Ignored,
	"channel.unparked": Ignored, "channel.wrapstarted": Ignored, "agent.presencechanged": Ignored,
	"channel.interrupted": Interrupted, "channel.resumed": Resumed,
	"channel.ended": Ended, "channel.disconnected": Ended,
}

func TestLookupTypeAgreesWithClassify(t *testing.T) {
	if len(Known) != len(docTypes) {
		t.Fatalf("Known has %d types, the document %d", len(Known), len(docTypes))
	}
	for name, wantKind := range docTypes {
		for _, v := range []string{"v0", "v1"} {
			typ := name + "." + v
			s, kind, handled, phased := LookupType([]byte(typ))
			wantHandled := wantKind != Ignored
			wantPhased := name != "agent.presencechanged"
			if s != typ || kind != wantKind || handled != wantHandled || phased != wantPhased {
				t.Errorf("LookupType(%q) = %q, %v, %v, %v; want %q, %v, %v, %v", typ, s, kind, handled, phased, typ, wantKind, wantHandled, wantPhased)
			}
			ck, ch, ok := Classify(typ)
			if ck != wantKind || ch != wantHandled || !ok {
				t.Errorf("Classify(%q) = %v, %v, %v", typ, ck, ch, ok)
			}
			pk, ph, pp, ok := ClassifyPhased(typ)
			if pk != wantKind || ph != wantHandled || pp != wantPhased || !ok {
				t.Errorf("ClassifyPhased(%q) = %v, %v, %v, %v", typ, pk, ph, pp, ok)
			}
		}
	}
	for _, typ := range []string{"channel.resumed.v2", "channel.resumed", "channel.held.v2", "x", ""} {
		if s, _, _, _ := LookupType([]byte(typ)); s != "" {
			t.Errorf("LookupType(%q) = %q, want not known", typ, s)
		}
	}
	for typ, want := range map[string]bool{"channel.resumed.v2": false, "channel.resumed": false, "channel.held.v7": true, "other.thing.v3": true} {
		if _, _, ok := Classify(typ); ok != want {
			t.Errorf("Classify(%q) ok = %v, want %v", typ, ok, want)
		}
	}
	// Read for phases, every channel type's version is checked.
	for typ, want := range map[string]bool{"channel.resumed.v2": false, "channel.held.v7": false, "channel.held.v1": true,
		"agent.presencechanged.v9": true, "other.thing.v3": true} {
		if _, _, _, ok := ClassifyPhased(typ); ok != want {
			t.Errorf("ClassifyPhased(%q) ok = %v, want %v", typ, ok, want)
		}
	}
}

func TestSplitType(t *testing.T) {
	for in, want := range map[string][2]string{
		"channel.resumed.v0": {"channel.resumed", "v0"}, "channel.resumed.v12": {"channel.resumed", "v12"},
		"channel.resumed": {"channel.resumed", ""}, "channel.resumed.vx": {"channel.resumed.vx", ""},
		"channel.resumed.v": {"channel.resumed", "v"}, // a bare v is a version no one supports, "": {"", ""},
	} {
		if n, v := SplitType(in); n != want[0] || v != want[1] {
			t.Errorf("SplitType(%q) = %q, %q; want %q, %q", in, n, v, want[0], want[1])
		}
	}
}

func TestInternAndHandledTypes(t *testing.T) {
	for _, s := range []string{"/channel", "/agent", "external", "agent", "monitor", "voicemail"} {
		if Intern([]byte(s)) != s {
			t.Errorf("Intern(%q) = %q", s, Intern([]byte(s)))
		}
	}
	if Intern([]byte("/channel/eu")) != "" {
		t.Error("Intern of an unknown source is not empty")
	}
	want := []string{"channel.interrupted.v0", "channel.interrupted.v1", "channel.resumed.v0", "channel.resumed.v1",
		"channel.ended.v0", "channel.ended.v1", "channel.disconnected.v0", "channel.disconnected.v1"}
	got := HandledTypes()
	if len(got) != len(want) {
		t.Fatalf("HandledTypes() = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("HandledTypes() = %v, want %v", got, want)
		}
	}
}

// TestTypesAreTheDocumentedFamily: Types lists each documented type name in
// v0 and v1, once: the 26 types vcc-channel-events.md documents.
func TestTypesAreTheDocumentedFamily(t *testing.T) {
	want := map[string]bool{}
	for name := range docTypes {
		want[name+".v0"], want[name+".v1"] = true, true
	}
	got := Types()
	if len(got) != 26 || len(want) != 26 {
		t.Fatalf("Types() has %d types, the document %d; want 26: %v", len(got), len(want), got)
	}
	for _, typ := range got {
		if !want[typ] {
			t.Errorf("Types() has %q, not documented or listed twice", typ)
		}
		delete(want, typ)
	}
	if Type(TypeConnectionFailed, "v1") != "channel.connectionfailed.v1" || Type(TypePresenceChanged, "v0") != "agent.presencechanged.v0" {
		t.Errorf("Type spells %q, %q", Type(TypeConnectionFailed, "v1"), Type(TypePresenceChanged, "v0"))
	}
}

// TestEventFamilies: the channel family is every type starting "channel.",
// documented or not, of any version; the agent family every type starting
// "agent."; the prefix is case-sensitive and must be whole.
func TestEventFamilies(t *testing.T) {
	for typ, want := range map[string][2]bool{ // {channel, agent}
		"channel.resumed.v0":           {true, false},
		"channel.held.v7":              {true, false},
		"channel.interruptionended.v0": {true, false},
		"channel.":                     {true, false},
		"agent.presencechanged.v1":     {false, true},
		"agent.login":                  {false, true},
		"channel":                      {false, false},
		"channelx.resumed.v0":          {false, false},
		"Channel.resumed.v0":           {false, false},
		"com.vonage.channel.resumed":   {false, false},
		"agents.presencechanged.v0":    {false, false},
		"":                             {false, false},
	} {
		if got := [2]bool{IsChannelEvent(typ), IsAgentEvent(typ)}; got != want {
			t.Errorf("%q: IsChannelEvent, IsAgentEvent = %v, want %v", typ, got, want)
		}
	}
	for name := range docTypes {
		if got, want := IsChannelEvent(Type(name, "v0")), name != "agent.presencechanged"; got != want {
			t.Errorf("IsChannelEvent(%q) = %v", name, got)
		}
	}
}
