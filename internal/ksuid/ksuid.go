// Package ksuid reads and writes KSUIDs, VCC's event ids: 27 base62 digits
// encoding a 160-bit number (a 32-bit timestamp and 128 random bits, big
// endian). The state store packs them to 20 bytes; the traffic generator
// makes them.
package ksuid

// The sizes and the alphabet of a KSUID.
const (
	// Len is the length of a KSUID's string form.
	Len = 27
	// Bytes is the length of its binary form.
	Bytes = 20
	// Alphabet holds the base62 digits in order of value.
	Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// Parse parses a 27-digit base62 KSUID into its 20 bytes, big endian.
// Every such string of at most 2^160-1 round-trips exactly through
// Append: the encoding is fixed-width with leading zeros.
func Parse[T string | []byte](s T, out *[Bytes]byte) bool {
	if len(s) != Len {
		return false
	}
	var w [5]uint32 // big endian words
	// Five digits at a time (62^5 < 2^32): 27 = 2 + 5*5.
	for i := 0; i < Len; {
		n, mul := 5, uint64(62*62*62*62*62)
		if i == 0 {
			n, mul = 2, 62*62
		}
		var chunk uint64
		for k := i; k < i+n; k++ {
			d := base62Value[s[k]]
			if d > 61 {
				return false
			}
			chunk = chunk*62 + uint64(d)
		}
		i += n
		carry := chunk
		for j := len(w) - 1; j >= 0; j-- {
			acc := uint64(w[j])*mul + carry
			w[j] = uint32(acc)
			carry = acc >> 32
		}
		if carry != 0 {
			return false // more than 160 bits
		}
	}
	for j, v := range w {
		out[4*j], out[4*j+1], out[4*j+2], out[4*j+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	return true
}

// base62Value maps a base62 digit to its value and anything else to 0xff.
var base62Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range Alphabet {
		t[c] = byte(i)
	}
	return t
}()

// Append appends the 27 base62 digits of the 160-bit number k.
func Append(dst []byte, k *[Bytes]byte) []byte {
	var w [5]uint32
	for j := range w {
		w[j] = uint32(k[4*j])<<24 | uint32(k[4*j+1])<<16 | uint32(k[4*j+2])<<8 | uint32(k[4*j+3])
	}
	var out [Len]byte
	const chunk = 62 * 62 * 62 * 62 * 62 // five digits per long division
	i := len(out)
	for i > 0 {
		var rem uint64
		for j := range w {
			acc := rem<<32 | uint64(w[j])
			w[j] = uint32(acc / chunk)
			rem = acc % chunk
		}
		for n := 0; n < 5 && i > 0; n++ {
			i--
			out[i] = Alphabet[rem%62]
			rem /= 62
		}
	}
	return append(dst, out[:]...)
}
