package vccgen

import (
	"encoding/binary"
	"math"
	"math/bits"
	"math/rand/v2"

	"github.com/interruptions/interruptions/internal/ksuid"
)

// rng is a small deterministic random source. It wraps the PCG generator of
// math/rand/v2 (a fixed, specified algorithm) and implements its own helpers
// so that the generated stream depends only on PCG's output and not on the
// helper methods of math/rand/v2.
type rng struct {
	src rand.PCG
}

// newRNG returns a generator seeded from seed; stream separates independent
// sequences drawn from the same seed.
func newRNG(seed int64, stream uint64) rng {
	return rng{src: *rand.NewPCG(uint64(seed), stream)}
}

func (r *rng) u64() uint64 { return r.src.Uint64() }

// intn returns a uniform integer in [0, n); n must be > 0 (Lemire's method).
func (r *rng) intn(n int64) int64 {
	un := uint64(n)
	hi, lo := bits.Mul64(r.u64(), un)
	if lo < un {
		thresh := -un % un
		for lo < thresh {
			hi, lo = bits.Mul64(r.u64(), un)
		}
	}
	return int64(hi)
}

// between returns a uniform integer in [lo, hi]; if hi <= lo it returns lo.
func (r *rng) between(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + r.intn(hi-lo+1)
}

// float returns a uniform float64 in [0, 1).
func (r *rng) float() float64 {
	return float64(r.u64()>>11) / (1 << 53)
}

// chance reports true with probability p.
func (r *rng) chance(p float64) bool {
	return r.float() < p
}

// exp returns an exponentially distributed integer with the given mean,
// truncated at 8 times the mean so that no single draw stalls the simulation.
func (r *rng) exp(mean int64) int64 {
	v := -math.Log(1-r.float()) * float64(mean)
	if limit := float64(8 * mean); v > limit {
		v = limit
	}
	return int64(v)
}

// logUniform returns an integer in [lo, hi] whose logarithm is uniform.
func (r *rng) logUniform(lo, hi int64) int64 {
	l, h := math.Log(float64(lo)), math.Log(float64(hi))
	v := int64(math.Exp(l + r.float()*(h-l)))
	return min(max(v, lo), hi)
}

// uuid returns a random version-4 UUID in lowercase canonical form.
func (r *rng) uuid() string {
	var raw [16]byte
	a, b := r.u64(), r.u64()
	for i := range 8 {
		raw[i] = byte(a >> (56 - 8*i))
		raw[8+i] = byte(b >> (56 - 8*i))
	}
	raw[6] = raw[6]&0x0f | 0x40 // version 4
	raw[8] = raw[8]&0x3f | 0x80 // RFC 4122 variant
	const hexDigits = "0123456789abcdef"
	var s [36]byte
	j := 0
	for i, c := range raw {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hexDigits[c>>4], hexDigits[c&0x0f]
		j += 2
	}
	return string(s[:])
}

// ksuidEpoch is the KSUID epoch (2014-05-13T16:53:20Z) in Unix seconds.
const ksuidEpoch = 1400000000

// ksuid returns a KSUID string: a 32-bit timestamp (seconds since the KSUID
// epoch, taken from unixSec) followed by 128 random bits, big-endian, in
// zero-padded base62.
func (r *rng) ksuid(unixSec int64) string {
	ts := uint32(max(unixSec-ksuidEpoch, 0))
	out := encodeKSUID(ts, r.u64(), r.u64())
	return string(out[:])
}

// encodeKSUID encodes the 160-bit number ts||hi||lo in base62.
func encodeKSUID(ts uint32, hi, lo uint64) [ksuid.Len]byte {
	var k [ksuid.Bytes]byte
	binary.BigEndian.PutUint32(k[0:], ts)
	binary.BigEndian.PutUint64(k[4:], hi)
	binary.BigEndian.PutUint64(k[12:], lo)
	var out [ksuid.Len]byte
	ksuid.Append(out[:0], &k)
	return out
}
