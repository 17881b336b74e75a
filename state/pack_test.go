package state

import (
	"math/rand/v2"
	"testing"
)

func TestKSUIDRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 10_000 {
		var k [ksuidBytes]byte
		for j := range k {
			k[j] = byte(rng.Uint32())
		}
		if i == 0 {
			k = [ksuidBytes]byte{} // the smallest
		}
		if i == 1 {
			for j := range k {
				k[j] = 0xff // the largest
			}
		}
		s := string(appendKSUID(nil, &k))
		var back [ksuidBytes]byte
		if len(s) != ksuidLen || !parseKSUID(s, &back) || back != k {
			t.Fatalf("%x: encoded %q, parsed back %x", k, s, back)
		}
	}
	for _, s := range []string{
		"aWgEPTl1tmebfsQzFP4bxwgy80W", // 2^160: one too many
		"zzzzzzzzzzzzzzzzzzzzzzzzzzz",
		"2Zks0VJxXAegKlhmHygjlZRwu0",   // short
		"2Zks0VJxXAegKlhmHygjlZRwu0FF", // long
		"2Zks0VJxXAegKlhmHygjlZRwu0-",
	} {
		var k [ksuidBytes]byte
		if parseKSUID(s, &k) {
			t.Errorf("parseKSUID(%q) accepted it", s)
		}
	}
}

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
