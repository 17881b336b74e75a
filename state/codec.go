package state

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The changelog encoding of a Channel: a version byte, then fields in a fixed
// order; strings and counts as unsigned varints, times as signed varints,
// seen hashes as 8 bytes little endian. It is compact (no field names) and
// decodes without reflection.
const codecVersion = 1

// StreamTimeKey is the changelog key under which a partition's stream time
// is stored. Channel ids are GUIDs and never start with a NUL byte.
const StreamTimeKey = "\x00stream-time"

// ErrCorrupt reports a changelog value that cannot be decoded.
var ErrCorrupt = errors.New("corrupt state record")

// AppendChannel appends the encoding of c to dst.
func AppendChannel(dst []byte, c *Channel) []byte {
	dst = append(dst, codecVersion)
	dst = appendString(dst, c.ConversationID)
	dst = appendString(dst, c.InteractionID)
	dst = appendString(dst, c.Party.Role)
	dst = appendString(dst, c.Party.AgentID)
	dst = appendString(dst, c.Party.UserID)
	dst = binary.AppendVarint(dst, c.LastEventAt)
	dst = binary.AppendUvarint(dst, uint64(len(c.Seen)))
	for _, h := range c.Seen {
		dst = binary.LittleEndian.AppendUint64(dst, h)
	}
	dst = appendRefs(dst, c.Open)
	dst = appendRefs(dst, c.Held)
	return dst
}

func appendRefs(dst []byte, refs []Ref) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(refs)))
	for _, r := range refs {
		dst = appendString(dst, r.Source)
		dst = appendString(dst, r.ID)
		dst = appendString(dst, r.Type)
		dst = binary.AppendVarint(dst, r.At)
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// DecodeChannel decodes a value written by AppendChannel.
//
// All strings of the channel are substrings of one copy of b: one
// allocation instead of one per field, which is what makes restoring a
// large changelog fast and a channel's state small.
func DecodeChannel(b []byte) (*Channel, error) {
	d := decoder{b: b, s: string(b)}
	if v := d.byte(); v != codecVersion {
		if d.err != nil {
			return nil, d.err
		}
		return nil, fmt.Errorf("%w: unknown version %d", ErrCorrupt, v)
	}
	c := &Channel{}
	c.ConversationID = d.string()
	c.InteractionID = d.string()
	c.Party.Role = d.string()
	c.Party.AgentID = d.string()
	c.Party.UserID = d.string()
	c.LastEventAt = d.varint()
	if n := d.count(8); n > 0 {
		c.Seen = make([]uint64, n)
		for i := range c.Seen {
			c.Seen[i] = d.uint64()
		}
	}
	c.Open = d.refs()
	c.Held = d.refs()
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return c, nil
}

// AppendStreamTime appends the encoding of a stream time to dst.
func AppendStreamTime(dst []byte, t int64) []byte {
	return binary.AppendVarint(append(dst, codecVersion), t)
}

// DecodeStreamTime decodes a value written by AppendStreamTime.
func DecodeStreamTime(b []byte) (int64, error) {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != codecVersion {
		return 0, fmt.Errorf("%w: unknown version %d", ErrCorrupt, v)
	}
	t := d.varint()
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return t, d.err
}

// decoder reads fields in order; the first error sticks and later reads
// return zero values.
type decoder struct {
	b   []byte
	s   string // when set, a copy of the whole input: strings are cut from it
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail("version")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length whose elements take at least min bytes each, and
// rejects lengths the remaining input cannot hold (no huge allocations from
// corrupt input).
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(len(d.b)/min) {
		d.fail("list")
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.count(1)
	if d.err != nil {
		return ""
	}
	var s string
	if d.s != "" {
		off := len(d.s) - len(d.b)
		s = d.s[off : off+n]
	} else {
		s = string(d.b[:n])
	}
	d.b = d.b[n:]
	return s
}

func (d *decoder) uint64() uint64 {
	if d.err != nil || len(d.b) < 8 {
		d.fail("hash")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) refs() []Ref {
	n := d.count(4)
	if d.err != nil || n == 0 {
		return nil
	}
	refs := make([]Ref, n)
	for i := range refs {
		refs[i] = Ref{Source: d.string(), ID: d.string(), Type: d.string(), At: d.varint()}
	}
	return refs
}
