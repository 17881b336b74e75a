package state

import "testing"

func TestUUIDRoundTrip(t *testing.T) {
	for _, s := range []string{"00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "3e71f453-116a-3abc-7769-bc678ef6e080"} {
		var u ident
		if !parseUUID(s, &u) || string(appendUUID(nil, &u)) != s {
			t.Errorf("UUID %q does not round-trip", s)
		}
	}
	for _, s := range []string{"3E71F453-116A-3ABC-7769-BC678EF6E080", "3e71f453-116a-3abc-7769-bc678ef6e08", "3e71f453x116a-3abc-7769-bc678ef6e080", "3e71f453-116a-3abc-7769-bc678ef6e08g", "{3e71f453-116a-3abc-7769-bc678ef6e08}"} {
		var u ident
		if parseUUID(s, &u) {
			t.Errorf("parseUUID(%q) accepted it", s)
		}
	}
}
