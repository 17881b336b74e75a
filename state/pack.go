package state

import (
	"slices"

	"github.com/interruptions/interruptions/core/vcc"
)

// Packed strings. A channel keeps its strings in fixed-size fields instead of
// string headers pointing at heap copies: a canonical lowercase UUID as its
// 16 bytes, a KSUID as its 20 bytes, a short string inline, a well-known
// source, type or role as an index into a table. Anything else is kept as
// the exact string in the channel's overflow (channelExt). Unpacking always
// gives back the exact original string.

// Kinds of a packed 16-byte identifier field. Values 0 to 16 are the length
// of a string held inline.
const (
	// kindUUID: the field holds a canonical lowercase UUID, binary.
	kindUUID = 17
	// kindLong: the string does not fit; it is in channelExt.long.
	kindLong = 18
)

// ident is a packed identifier: a UUID's 16 bytes or up to 16 string bytes.
type ident [16]byte

// packIdent packs s into a field of max inline bytes and returns the field
// and its kind; kindLong means s must be kept as a string.
func packIdent[T string | []byte](s T, max int) (ident, uint8) {
	var id ident
	if len(s) <= max {
		copy(id[:], s)
		return id, uint8(len(s))
	}
	if parseUUID(s, &id) {
		return id, kindUUID
	}
	return ident{}, kindLong
}

// identLen returns the length of the string a field of kind k packs.
func identLen(k uint8, long string) int {
	switch k {
	case kindUUID:
		return 36
	case kindLong:
		return len(long)
	default:
		return int(k)
	}
}

// appendIdent appends the string a field packs.
func appendIdent(dst []byte, id *ident, k uint8, long string) []byte {
	switch k {
	case kindUUID:
		return appendUUID(dst, id)
	case kindLong:
		return append(dst, long...)
	default:
		return append(dst, id[:k]...)
	}
}

// parseUUID parses a canonical lowercase UUID (8-4-4-4-12 hex digits) into
// u. Only that exact form is accepted, so formatting u gives back s.
func parseUUID[T string | []byte](s T, u *ident) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	var bad byte
	for j, p := range uuidHexAt {
		hi, lo := hexValue[s[p]], hexValue[s[p+1]]
		bad |= hi | lo
		u[j] = hi<<4 | lo
	}
	return bad < 16
}

// uuidHexAt are the offsets of a canonical UUID's 16 hex pairs.
var uuidHexAt = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// hexValue maps a lowercase hex digit to its value and anything else to
// 0xff.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range hexDigits {
		t[c] = byte(i)
	}
	return t
}()

const hexDigits = "0123456789abcdef"

func appendUUID(dst []byte, u *ident) []byte {
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[b>>4], hexDigits[b&15])
	}
	return dst
}

// Read-only tables of the well-known sources, types and roles, from the
// vocabulary; a packed field holds the index. Index 0 is the empty string.
// The order is part of the packed layout only (in memory), not of the
// changelog, which holds the strings.
var (
	sourceTable = append([]string{""}, vcc.Sources[:]...)
	typeTable   = typeTableOf(vcc.HandledTypes(), vcc.PhaseTypes())
	roleTable   = append([]string{""}, vcc.Roles[:]...)
)

// typeTableOf returns "" then the handled types, then the phase types not
// among them: the handled types keep their indexes.
func typeTableOf(handled, phased []string) []string {
	t := append([]string{""}, handled...)
	for _, p := range phased {
		if !slices.Contains(t, p) {
			t = append(t, p)
		}
	}
	return t
}

// notInTable is the index of a string that is in no table.
const notInTable = 255

// tableIndex returns s's index in table, or notInTable.
func tableIndex[T string | []byte](table []string, s T) uint8 {
	for i, v := range table {
		if string(s) == v {
			return uint8(i)
		}
	}
	return notInTable
}
