package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/interruptions/interruptions/internal/ksuid"
)

// The changelog encoding of a Channel: a version byte, then fields in a fixed
// order; strings and counts as unsigned varints, times as signed varints,
// hashes as 8 bytes little endian. It is compact (no field names) and
// decodes without reflection.
//
// Version 4 holds the timeline (every distinct handled event, each with
// its arrival offset), the published interruptions (a flags byte: 1
// retracted, 2 legacy fingerprint), then the carrier of each identity
// field (Carrier, by Carrier* index: a byte 0, or 1, the time as a signed
// varint and the hash as 8 bytes). Version 5 is version 4 followed by
// the channel's tomb (Tomb): a byte 0 (none), or 1, Until as a signed
// varint, a byte 0, or 1 (Ended) and EndedUntil as a signed varint, and the count and the sorted hashes of
// the events it held, 8 bytes each. A value of version 4 or older has
// no tomb. Version 3 is the same without carriers
// and with a retracted byte (0 or 1): it is still read, its identity
// fields set without a carrier (they rank before every event, see
// Channel.OfferIdentity) and its fingerprints legacy (Published.Legacy).
// Version 2 is version 3 without arrival offsets: its events' offsets are
// unknown. Version 1 (open interruptions, held closes and seen hashes) is
// no longer read.
const (
	codecVersion = 6
	// tombVersion is the version of a channel that is not segmented;
	// segmentedVersion of a segmented channel's head.
	tombVersion      = 5
	segmentedVersion = 6
	// minCodecVersion is the oldest version DecodeChannel reads.
	minCodecVersion = 2
)

// ErrCorrupt reports a changelog value that cannot be decoded.
var ErrCorrupt = errors.New("corrupt state record")

// AppendChannel appends the encoding of c to dst.
//
// A segmented channel's value (Channel.Segmented) is its head: version 6,
// the tail's events and the published entries not in sealed chunks, then
// the layout (segment.go): the number of sealed event segments, the
// tail's start and the number of sealed published chunks. Its other
// records are written by ChangelogEntries; a Loader puts them together.
// Every other channel is written as version 5.
func AppendChannel(dst []byte, c *Channel) []byte {
	segmented := c.Segmented()
	if segmented {
		dst = append(dst, segmentedVersion)
	} else {
		dst = append(dst, tombVersion)
	}
	dst = appendIdentField(dst, c, fieldConversation)
	dst = appendIdentField(dst, c, fieldInteraction)
	role := c.roleString()
	dst = binary.AppendUvarint(dst, uint64(len(role)))
	dst = append(dst, role...)
	dst = binary.AppendUvarint(dst, uint64(c.agentLen()))
	dst = c.appendAgent(dst)
	dst = appendIdentField(dst, c, fieldUser)
	dst = binary.AppendVarint(dst, c.LastEventAt)
	hasOpen, openAt, held := c.Summary()
	if hasOpen {
		dst = append(dst, 1)
		dst = binary.AppendVarint(dst, openAt)
	} else {
		dst = append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(held))
	dst = c.appendEvents(dst, c.tailFrom(), len(c.events))
	dst = appendPublished(dst, c.published[c.headPublished():])
	for _, k := range c.Carriers() {
		if !k.Known {
			dst = append(dst, 0)
			continue
		}
		dst = append(dst, 1)
		dst = binary.AppendVarint(dst, k.At)
		dst = binary.LittleEndian.AppendUint64(dst, k.Hash)
	}
	dst = appendTomb(dst, c.Tomb())
	if segmented {
		s := c.segs()
		dst = binary.AppendUvarint(dst, uint64(len(s.starts)))
		dst = binary.AppendVarint(dst, s.tail)
		dst = binary.AppendUvarint(dst, uint64(s.pubSealed))
	}
	return dst
}

// appendEvents appends the count and the encoding of timeline events
// [lo, hi) of c.
func (c *Channel) appendEvents(dst []byte, lo, hi int) []byte {
	dst = binary.AppendUvarint(dst, uint64(hi-lo))
	for i := lo; i < hi; i++ {
		p := &c.events[i]
		if p.idk == refRaw {
			r := c.ext.raw[p.rawIndex()]
			dst = appendString(dst, r.Source)
			dst = appendString(dst, r.ID)
			dst = appendString(dst, r.Type)
			dst = binary.AppendVarint(dst, r.At)
			dst = appendOffset(dst, r.Offset, r.HasOffset)
			continue
		}
		dst = appendPackedRef(dst, p)
	}
	return dst
}

// appendPublished appends the count and the encoding of published
// entries.
func appendPublished(dst []byte, list []Published) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(list)))
	for _, p := range list {
		dst = binary.LittleEndian.AppendUint64(dst, p.Open)
		dst = binary.LittleEndian.AppendUint64(dst, p.Fingerprint)
		dst = binary.AppendUvarint(dst, uint64(p.Revision))
		var flags byte
		if p.Retracted {
			flags |= 1
		}
		if p.Legacy {
			flags |= 2
		}
		dst = append(dst, flags)
	}
	return dst
}

// appendTomb appends a tomb section (a byte 0 when t is nil).
func appendTomb(dst []byte, t *Tomb) []byte {
	if t == nil {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	dst = binary.AppendVarint(dst, t.Until)
	if t.Ended {
		dst = append(dst, 1)
		dst = binary.AppendVarint(dst, t.EndedUntil)
	} else {
		dst = append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(t.Events)))
	for _, h := range t.Events {
		dst = binary.LittleEndian.AppendUint64(dst, h)
	}
	return dst
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
	dst = binary.AppendVarint(dst, p.time())
	off, ok := p.offset()
	return appendOffset(dst, off, ok)
}

// appendOffset appends an arrival offset as an unsigned varint of the
// offset + 1, 0 when unknown (not ok).
func appendOffset(dst []byte, off int64, ok bool) []byte {
	if !ok {
		return append(dst, 0)
	}
	return binary.AppendUvarint(dst, uint64(off)+1)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// DecodeChannel decodes a value written by AppendChannel.
//
// The channel is packed straight from b: identifiers that pack take no
// allocation, and only strings that do not pack are copied.
//
// It reads versions 2 to 5; a value before version 5 has no tomb; the events of a version 2 value have no
// arrival offset, and a value before version 4 has no carriers and legacy
// fingerprints.
//
// A version 6 value is the head of a segmented channel: it is refused
// (ErrSegmented) when its layout names other records; a Loader reads it.
func DecodeChannel(b []byte) (*Channel, error) {
	c, l, err := decodeHead(b)
	if err == nil && (l.segments > 0 || l.pubSealed > 0) {
		return nil, ErrSegmented
	}
	return c, err
}

// ErrSegmented reports the head of a segmented channel given to
// DecodeChannel: its other records are needed (Loader).
var ErrSegmented = errors.New("the head of a segmented channel: load it with its segments")

// headLayout is the layout a version 6 head names.
type headLayout struct {
	segments  int
	tail      int64
	pubSealed int
}

// decodeHead decodes a value written by AppendChannel and the layout it
// names (zero before version 6).
func decodeHead(b []byte) (*Channel, headLayout, error) {
	var l headLayout
	d := decoder{b: b}
	v := d.byte()
	if d.err != nil {
		return nil, l, d.err
	}
	if v < minCodecVersion || v > codecVersion {
		return nil, l, fmt.Errorf("%w: unknown version %d", ErrCorrupt, v)
	}
	d.offsets = v >= 3
	c := &Channel{}
	setIdent(c, fieldConversation, d.bytes())
	setIdent(c, fieldInteraction, d.bytes())
	role, agent, user := d.bytes(), d.bytes(), d.bytes()
	setParty(c, role, agent, user)
	c.LastEventAt = d.varint()
	if open := d.byte(); open > 1 {
		d.fail("open flag")
	} else if open == 1 {
		c.flags |= flagHasOpen
		c.openAt = d.varint()
	}
	c.held = uint8(min(d.uvarint(), 255))
	c.events = d.refs(c)
	c.published = d.publishedList(v)
	if v >= 4 {
		var ks [NumCarriers]Carrier
		for g := range ks {
			switch d.byte() {
			case 0:
			case 1:
				ks[g] = Carrier{At: d.varint(), Hash: d.uint64(), Known: true}
			default:
				d.fail("carrier flag")
			}
		}
		if d.err == nil {
			for g, k := range ks {
				c.setCarrier(g, k)
			}
		}
	}
	if v >= 5 {
		d.tomb(c)
	}
	if v >= segmentedVersion {
		l.segments = d.size()
		l.tail = d.varint()
		l.pubSealed = d.size()
		if d.err == nil && l.segments == 0 && l.pubSealed == 0 {
			d.err = fmt.Errorf("%w: a segmented head without segments", ErrCorrupt)
		}
	}
	if err := d.end(""); err != nil {
		return nil, l, err
	}
	c.tidy()
	c.flags |= flagStale // the engine checks it whole first (Channel.Stale)
	return c, l, nil
}

// refs reads a list of timeline events into c, in time order.
func (d *decoder) refs(c *Channel) []packedRef {
	n := d.count(4)
	if n == 0 {
		return nil
	}
	events := make([]packedRef, n)
	for i := range events {
		events[i] = d.ref(c)
		if i > 0 && events[i].time() < events[i-1].time() && d.err == nil {
			d.err = fmt.Errorf("%w: timeline out of order", ErrCorrupt)
		}
	}
	return events
}

// end returns the first error, or one for bytes left after the value
// (where names the value in the message, after "trailing bytes").
func (d *decoder) end(where string) error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes%s", ErrCorrupt, len(d.b), where)
	}
	return d.err
}

// publishedList reads a list of published entries of a value of version
// v.
func (d *decoder) publishedList(v byte) []Published {
	var list []Published
	if n := d.count(17); n > 0 {
		list = make([]Published, n)
		for i := range list {
			p := &list[i]
			p.Open, p.Fingerprint = d.uint64(), d.uint64()
			if rev := d.uvarint(); rev > 1<<32-1 {
				d.fail("revision")
			} else {
				p.Revision = uint32(rev)
			}
			maxFlags := byte(1)
			if v >= 4 {
				maxFlags = 3
			}
			switch f := d.byte(); {
			case f > maxFlags:
				d.fail("retracted flag")
			default:
				p.Retracted = f&1 != 0
				p.Legacy = f&2 != 0 || v < 4
			}
		}
	}
	return list
}

// tomb reads the tomb section of a version 5 value into c.
func (d *decoder) tomb(c *Channel) {
	switch d.byte() {
	case 0:
		return
	case 1:
	default:
		d.fail("tomb flag")
		return
	}
	t := &Tomb{Until: d.varint()}
	switch d.byte() {
	case 0:
	case 1:
		t.Ended, t.EndedUntil = true, d.varint()
	default:
		d.fail("tomb ended flag")
	}
	if n := d.count(8); n > 0 {
		t.Events = make([]uint64, n)
		for i := range t.Events {
			t.Events[i] = d.uint64()
			if i > 0 && t.Events[i] <= t.Events[i-1] && d.err == nil {
				d.err = fmt.Errorf("%w: tomb events out of order", ErrCorrupt)
			}
		}
	}
	if d.err == nil {
		c.ownExt().tomb = t
	}
}

// decoder reads fields in order; the first error sticks and later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
	// offsets: timeline events carry their arrival offset (version 3).
	offsets bool
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

// size reads a number of records (at most 2^31).
func (d *decoder) size() int {
	n := d.uvarint()
	if n > 1<<31 {
		d.fail("size")
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

// ref reads one timeline event into c: packed, or in c's overflow.
func (d *decoder) ref(c *Channel) packedRef {
	src, id, typ, at := d.bytes(), d.bytes(), d.bytes(), d.varint()
	off, hasOff := d.offset()
	if p, ok := packRefOf(src, id, typ, at, off, hasOff); ok || d.err != nil {
		return p
	}
	return c.pack(Ref{Source: internBytes(sourceTable, src), ID: string(id), Type: internBytes(typeTable, typ), At: at,
		Offset: off, HasOffset: hasOff})
}

// offset reads an event's arrival offset, written by appendOffset; a
// version 2 value has none.
func (d *decoder) offset() (int64, bool) {
	if !d.offsets {
		return 0, false
	}
	v := d.uvarint()
	if v == 0 || d.err != nil {
		return 0, false
	}
	if v-1 > math.MaxInt64 {
		d.fail("offset")
		return 0, false
	}
	return int64(v - 1), true
}

// internBytes returns b as a string: a table entry, or a copy.
func internBytes(table []string, b []byte) string {
	if i := tableIndex(table, b); i != notInTable {
		return table[i]
	}
	return string(b)
}

// SizeBound returns an upper bound of the length of AppendChannel(nil, c)
// (the head of a segmented channel), computed without encoding: each
// packed timeline event at its longest (refBound), the others and every
// string at their lengths, each varint at its longest. Its cost does not
// grow with the timeline, except for the head's events that do not pack
// and the tomb's hashes (counted, not read).
func (c *Channel) SizeBound() int {
	n := 1 + 4*binary.MaxVarintLen64 + 3*binary.MaxVarintLen64 // version, LastEventAt, open, held, counts
	for _, f := range []int{fieldConversation, fieldInteraction, fieldUser} {
		n += uvarintLen(uint64(c.identLen(f))) + c.identLen(f)
	}
	n += stringLen(c.roleString()) + uvarintLen(uint64(c.agentLen())) + c.agentLen()
	n += c.eventsBound(c.tailFrom(), len(c.events))
	n += (len(c.published) - c.headPublished()) * publishedBound
	n += NumCarriers * (1 + binary.MaxVarintLen64 + 8)
	if t := c.Tomb(); t != nil {
		n += 2 + 3*binary.MaxVarintLen64 + 8*len(t.Events)
	}
	return n + 1 + 3*binary.MaxVarintLen64 // the tomb flag, the layout
}

// eventsBound is the part of a bound for timeline events [lo, hi).
func (c *Channel) eventsBound(lo, hi int) int {
	if c.ext == nil || len(c.ext.raw) == 0 {
		return (hi - lo) * refBound
	}
	n := 0
	for i := lo; i < hi; i++ {
		if p := &c.events[i]; p.idk == refRaw {
			r := c.ext.raw[p.rawIndex()]
			n += EventSizeBound(r.Source, r.ID, r.Type)
		} else {
			n += refBound
		}
	}
	return n
}

// RecordBound returns an upper bound of the length of the changelog
// record that holds the timeline's events at time at: the head
// (SizeBound) when at is in it, or a sealed segment.
func (c *Channel) RecordBound(at int64) int {
	s := c.segs()
	if s == nil || len(s.starts) == 0 || at >= s.tail {
		return c.SizeBound()
	}
	lo, hi := c.segRange(s, s.find(at))
	return segmentOverhead + c.eventsBound(lo, hi)
}

// WriteBound returns an upper bound of the longest changelog record a
// write of c's changes holds: its head and its dirty segments and chunks.
func (c *Channel) WriteBound() int {
	n := c.SizeBound()
	if s := c.segs(); s != nil {
		for _, start := range s.dirty {
			if j := s.find(start); j >= 0 {
				lo, hi := c.segRange(s, j)
				n = max(n, segmentOverhead+c.eventsBound(lo, hi))
			}
		}
		if len(s.dirtyPub) > 0 {
			n = max(n, segmentOverhead+pubChunk*publishedBound)
		}
	}
	return n
}

// WriteLen returns the length of the longest changelog record a write of
// c's changes holds (WriteBound, encoded).
func (c *Channel) WriteLen() int {
	n := len(AppendChannel(nil, c))
	if s := c.segs(); s != nil {
		for _, start := range s.dirty {
			if j := s.find(start); j >= 0 {
				n = max(n, len(c.appendSegment(nil, s, j)))
			}
		}
		for _, k := range s.dirtyPub {
			n = max(n, len(c.appendChunk(nil, k)))
		}
	}
	return n
}

// segmentOverhead bounds a segment's or chunk's bytes besides its
// entries: the version and the count.
const segmentOverhead = 1 + binary.MaxVarintLen64

// EventSizeBound returns an upper bound of the bytes one timeline event
// with this source, id and type takes in a channel's encoding.
func EventSizeBound(source, id, typ string) int {
	return stringLen(source) + stringLen(id) + stringLen(typ) + 2*binary.MaxVarintLen64 // time, offset
}

// stringLen is the length of appendString(nil, s).
func stringLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// PublishedSizeBound is an upper bound of the bytes one published record
// takes in a channel's encoding.
const PublishedSizeBound = publishedBound

const (
	// publishedBound: two hashes, a revision varint, the flags.
	publishedBound = 8 + 8 + binary.MaxVarintLen32 + 1
)

// refBound is the longest encoding of a packed timeline event: the
// longest table source and type, an id of ksuid.Len characters.
var refBound = func() int {
	long := func(t []string) int {
		m := 0
		for _, s := range t {
			m = max(m, len(s))
		}
		return m
	}
	// A packed offset is at most 2^40 - 1: 6 bytes, not 10.
	return EventSizeBound(strings.Repeat("s", long(sourceTable)), strings.Repeat("i", max(ksuid.Len, ksuid.Bytes)), strings.Repeat("t", long(typeTable))) - 4
}()
