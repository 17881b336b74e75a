package vccgen

import (
	"math/big"
	"testing"
	"time"

	"github.com/interruptions/interruptions/internal/ksuid"
)

func TestAppendTimeMatchesStdlib(t *testing.T) {
	tests := []struct {
		name string
		at   time.Time
	}{
		{"seed page timestamp", time.Date(2022, 8, 30, 14, 34, 36, 88e6, time.UTC)},
		{"default start", DefaultStart()},
		{"unix epoch", time.Unix(0, 0)},
		{"leap day", time.Date(2024, 2, 29, 23, 59, 59, 999_999_900, time.UTC)},
		{"century non-leap", time.Date(2100, 3, 1, 0, 0, 0, 100, time.UTC)},
		{"before 1970", time.Date(1969, 12, 31, 23, 59, 59, 500e6, time.UTC)},
		{"year 1", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"year 9999", time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)},
		{"year 12000 falls back", time.Date(12000, 6, 1, 12, 0, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms := tc.at.UnixMilli()
			wantMs := time.UnixMilli(ms).UTC().Format(layoutMillis)
			if got := string(appendMillis(nil, ms)); got != wantMs {
				t.Errorf("appendMillis = %q, want %q", got, wantMs)
			}
			ticks := tc.at.Unix()*1e7 + int64(tc.at.Nanosecond())/100
			wantTicks := time.Unix(tc.at.Unix(), int64(tc.at.Nanosecond())/100*100).UTC().Format(layoutTicks)
			if got := string(appendTicks(nil, ticks)); got != wantTicks {
				t.Errorf("appendTicks = %q, want %q", got, wantTicks)
			}
		})
	}
}

// decodeKSUID parses a base62 KSUID into its timestamp and payload.
func decodeKSUID(t *testing.T, s string) (ts uint32, payload []byte) {
	t.Helper()
	if len(s) != ksuid.Len {
		t.Fatalf("ksuid %q has length %d, want %d", s, len(s), ksuid.Len)
	}
	n := new(big.Int)
	for _, c := range []byte(s) {
		i := -1
		for j := range len(ksuid.Alphabet) {
			if ksuid.Alphabet[j] == c {
				i = j
			}
		}
		if i < 0 {
			t.Fatalf("ksuid %q: %q is not base62", s, c)
		}
		n.Mul(n, big.NewInt(62)).Add(n, big.NewInt(int64(i)))
	}
	if n.BitLen() > 160 {
		t.Fatalf("ksuid %q overflows 160 bits", s)
	}
	raw := n.FillBytes(make([]byte, 20))
	return uint32(raw[0])<<24 | uint32(raw[1])<<16 | uint32(raw[2])<<8 | uint32(raw[3]), raw[4:]
}

func TestKSUIDRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		id   string
	}{
		{"seed page id", "2Zks0VJxXAegKlhmHygjlZRwu0F"},
		{"all zero", "000000000000000000000000000"},
		{"max", "aWgEPTl1tmebfsQzFP4bxwgy80V"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts, p := decodeKSUID(t, tc.id)
			var hi, lo uint64
			for i := range 8 {
				hi = hi<<8 | uint64(p[i])
				lo = lo<<8 | uint64(p[8+i])
			}
			got := encodeKSUID(ts, hi, lo)
			if string(got[:]) != tc.id {
				t.Errorf("encodeKSUID(decode(%q)) = %q", tc.id, got)
			}
		})
	}
}

func TestGeneratedKSUIDCarriesSendSecond(t *testing.T) {
	r := newRNG(1, 1)
	sendSec := DefaultStart().Unix() + 12345
	id := r.ksuid(sendSec)
	ts, _ := decodeKSUID(t, id)
	if got := int64(ts) + ksuidEpoch; got != sendSec {
		t.Errorf("ksuid timestamp = %d, want %d", got, sendSec)
	}
}
