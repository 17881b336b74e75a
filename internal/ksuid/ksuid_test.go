package ksuid

import (
	"math/rand/v2"
	"testing"
)

func TestKSUIDRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 10_000 {
		var k [Bytes]byte
		for j := range k {
			k[j] = byte(rng.Uint32())
		}
		if i == 0 {
			k = [Bytes]byte{} // the smallest
		}
		if i == 1 {
			for j := range k {
				k[j] = 0xff // the largest
			}
		}
		s := string(Append(nil, &k))
		var back [Bytes]byte
		if len(s) != Len || !Parse(s, &back) || back != k {
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
		var k [Bytes]byte
		if Parse(s, &k) {
			t.Errorf("Parse(%q) accepted it", s)
		}
	}
}
