package state

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/interruptions/interruptions/internal/ksuid"
)

// The changelog encoding of a Channel: a version byte, then fields in a fixed
// order; strings and counts as unsigned varints, times as signed varints,
// seen hashes as 8 bytes little endian. It is compact (no field names) and
// decodes without reflection.
const codecVersion = 1

// ErrCorrupt reports a changelog value that cannot be decoded.
var ErrCorrupt = errors.New("corrupt state record")

// AppendChannel appends the encoding of c to dst.
func AppendChannel(dst []byte, c *Channel) []byte {
	dst = append(dst, codecVersion)
	dst = appendIdentField(dst, c, fieldConversation)
	dst = appendIdentField(dst, c, fieldInteraction)
	role := c.roleString()
	dst = binary.AppendUvarint(dst, uint64(len(role)))
	dst = append(dst, role...)
	dst = binary.AppendUvarint(dst, uint64(c.agentLen()))
	dst = c.appendAgent(dst)
	dst = appendIdentField(dst, c, fieldUser)
	dst = binary.AppendVarint(dst, c.LastEventAt)
	dst = binary.AppendUvarint(dst, uint64(c.NumSeen()))
	for _, h := range c.seen[:c.nSeen] {
		dst = binary.LittleEndian.AppendUint64(dst, h)
	}
	if c.ext != nil {
		for _, h := range c.ext.seen {
			dst = binary.LittleEndian.AppendUint64(dst, h)
		}
	}
	if c.flags&flagOpenInline != 0 {
		dst = binary.AppendUvarint(dst, 1)
		dst = appendPackedRef(dst, &c.open)
	} else if c.ext != nil {
		dst = appendRefs(dst, c.ext.open)
	} else {
		dst = appendRefs(dst, nil)
	}
	if c.ext == nil {
		return appendRefs(dst, nil)
	}
	return appendRefs(dst, c.ext.held)
}

func appendIdentField(dst []byte, c *Channel, f int) []byte {
	dst = binary.AppendUvarint(dst, uint64(c.identLen(f)))
	return c.appendIdent(dst, f)
}

func appendPackedRef(dst []byte, p *packedRef) []byte {
	dst = appendString(dst, sourceTable[p.src])
	if p.idk == refKSUID {
		dst = binary.AppendUvarint(dst, ksuid.Len)
		dst = ksuid.Append(dst, &p.id)
	} else {
		dst = binary.AppendUvarint(dst, uint64(p.idk))
		dst = append(dst, p.id[:p.idk]...)
	}
	dst = appendString(dst, typeTable[p.typ])
	return binary.AppendVarint(dst, p.at)
}

func appendRefs(dst []byte, refs []storedRef) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(refs)))
	for i := range refs {
		if refs[i].raw == nil {
			dst = appendPackedRef(dst, &refs[i].packedRef)
			continue
		}
		r := refs[i].raw
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
// The channel is packed straight from b: identifiers that pack take no
// allocation, and only strings that do not pack are copied.
func DecodeChannel(b []byte) (*Channel, error) {
	d := decoder{b: b}
	if v := d.byte(); v != codecVersion {
		if d.err != nil {
			return nil, d.err
		}
		return nil, fmt.Errorf("%w: unknown version %d", ErrCorrupt, v)
	}
	c := &Channel{}
	setIdent(c, fieldConversation, d.bytes())
	setIdent(c, fieldInteraction, d.bytes())
	role, agent, user := d.bytes(), d.bytes(), d.bytes()
	setParty(c, role, agent, user)
	c.LastEventAt = d.varint()
	n := d.count(8)
	for range n {
		c.AddSeen(d.uint64())
	}
	d.openRefs(c)
	if held := d.refs(); d.err == nil && len(held) > 0 {
		c.ownExt().held = held
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	c.tidy()
	return c, nil
}

// decoder reads fields in order; the first error sticks and later reads
// return zero values.
type decoder struct {
	b   []byte
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

// bytes reads a length-prefixed string; the result aliases the input.
func (d *decoder) bytes() []byte {
	n := d.count(1)
	if d.err != nil {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
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

// refs reads a list of Refs, packed where they pack.
func (d *decoder) refs() []storedRef {
	n := d.count(4)
	if d.err != nil || n == 0 {
		return nil
	}
	refs := make([]storedRef, n)
	for i := range refs {
		refs[i] = d.ref()
	}
	return refs
}

// openRefs reads the list of open interruptions into c. The common single
// one that packs is read without allocating a list.
func (d *decoder) openRefs(c *Channel) {
	if len(d.b) > 0 && d.b[0] == 1 {
		d.b = d.b[1:]
		if len(d.b) < 4 { // as count(4) checks
			d.fail("list")
			return
		}
		if r := d.ref(); r.raw == nil {
			c.open = r.packedRef
			c.flags |= flagOpenInline
		} else {
			c.setOpen([]storedRef{r})
		}
		return
	}
	if open := d.refs(); d.err == nil {
		c.setOpen(open)
	}
}

func (d *decoder) ref() storedRef {
	src, id, typ, at := d.bytes(), d.bytes(), d.bytes(), d.varint()
	if p, ok := packRefOf(src, id, typ, at); ok {
		return storedRef{packedRef: p}
	}
	return storedRef{packedRef: packedRef{at: at}, raw: &Ref{
		Source: internBytes(sourceTable, src), ID: string(id), Type: internBytes(typeTable, typ), At: at}}
}

// internBytes returns b as a string: a table entry, or a copy.
func internBytes(table []string, b []byte) string {
	if i := tableIndex(table, b); i != notInTable {
		return table[i]
	}
	return string(b)
}
