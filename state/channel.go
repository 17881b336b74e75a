// Package state holds the per-partition state of the interruption matcher:
// one Channel per channelId, the partition's stream time, and the bookkeeping
// that makes every change explicit (for the changelog) and reversible (for an
// aborted transaction).
//
// The store knows nothing about Kafka, clocks or matching rules. The engine in
// package core/match decides what changes; the store records it.
package state

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
	"unsafe"

	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/internal/ksuid"
)

// Ref identifies one source event: its CloudEvent source and id, its type,
// its event time (data.timestamp) in Unix nanoseconds, and its arrival
// offset.
type Ref struct {
	Source string
	ID     string
	Type   string
	At     int64
	// Offset is the Kafka offset of the input record that brought the
	// event (its first arrival: a duplicate does not change it), when
	// HasOffset. A channel keeps it canonical: an unknown offset (an
	// event of a version 2 changelog value, or of a replay) is 0 with
	// HasOffset false, and a negative offset is unknown.
	Offset    int64
	HasOffset bool
}

// arrival returns r's offset in canonical form (see Ref.Offset).
func (r *Ref) arrival() (int64, bool) {
	if !r.HasOffset || r.Offset < 0 {
		return 0, false
	}
	return r.Offset, true
}

// Published is what a channel remembers of one interruption it published:
// the opening event (by its hash, found again in the timeline), the
// revision last published, a fingerprint of that revision's content, and
// whether that revision was a retraction.
type Published struct {
	// Open is the hash of the opening event's (source, id).
	Open uint64
	// Fingerprint is a hash of the published content (outcome, close
	// time, closing event); the engine defines it.
	Fingerprint uint64
	// Revision is the last revision published (1, 2, ...).
	Revision uint32
	// Retracted: the last revision published was a retraction.
	Retracted bool
	// Legacy: Fingerprint was computed by the engine's earlier definition
	// (a changelog value of version 3 or older, before the fingerprint
	// covered the interruption's start, its events' types and the
	// identity). The engine compares it by that definition until it
	// publishes the next revision.
	Legacy bool
}

// The identity fields a channel keeps the carrier of (Carrier): the
// conversationId, the interactionId, and the party as a whole.
const (
	CarrierConversation = iota
	CarrierInteraction
	CarrierParty
	NumCarriers
)

// Carrier is the sort key of the event copy an identity field of a channel
// came from: its data.timestamp (Unix nanoseconds at millisecond
// precision) and the hash of its (source, id) (HashEvent). Known is false
// when the channel does not know it: the field is empty (no event carried
// it), or it was set without a carrier (a changelog value of version 3 or
// older), which then ranks before every event.
type Carrier struct {
	At    int64
	Hash  uint64
	Known bool
}

// ChannelData is a channel's value spelled out: what the changelog holds
// for it. Channel keeps the same value packed.
//
// Events is the channel's timeline: its distinct handled events, sorted by
// At (ties in the order added). Published lists the interruptions the
// channel published, in the order first published. OpenAt, HasOpen and
// Held are the engine's summary of the timeline for metrics: the start of
// the interruption still open, and how many closed interruptions wait for
// their grace period.
type ChannelData struct {
	ConversationID string
	InteractionID  string
	Party          vcc.Party
	// LastEventAt is the largest data.timestamp of the channel's handled
	// events, in Unix nanoseconds.
	LastEventAt int64
	Events      []Ref
	Published   []Published
	OpenAt      int64
	HasOpen     bool
	Held        int
	// Carriers are the carriers of the identity fields, by Carrier*
	// index (see Channel.OfferIdentity).
	Carriers [NumCarriers]Carrier
	// Tomb is the tomb of the channel's deleted state, or nil (see Tomb).
	Tomb *Tomb
}

// The packed identifier fields of a Channel, and the string fields kept in
// channelExt.long when they do not pack.
const (
	fieldID = iota // the channelId
	fieldConversation
	fieldInteraction
	fieldUser
	numIdents
	fieldAgent = numIdents
	fieldRole  = numIdents + 1
	numFields  = numIdents + 2
)

const (
	// agentInline is how many bytes of an agentId a Channel holds inline
	// (VCC's are short numbers, such as "1544").
	agentInline = 8
)

// Channel flags.
const (
	// flagHasOpen: openAt is the start of an interruption still open.
	flagHasOpen = 1 << iota
	// flagScheduled: a deadline heap entry for Channel.deadline is pending.
	flagScheduled
	// flagLive: the channel is in a store's index.
	flagLive
	// flagExtShared: the overflow is shared with a saved copy (the store's
	// undo); it is copied before its first change.
	flagExtShared
	// flagCarrierFirst (and the next two bits, one per Carrier* index):
	// the field's carrier is the copy the timeline holds at index 0 (its
	// time and hash): the usual case, kept without the overflow.
	flagCarrierFirst
	flagCarrierFirst1
	flagCarrierFirst2
	// flagStale: the channel's summary and published list were not set by
	// the engine's last look at its whole timeline (a value set with Set
	// or decoded from the changelog): see Stale.
	flagStale
)

// Channel is everything the matcher remembers about one channel, packed:
// identifiers are held as binary UUIDs and KSUIDs or inline bytes (see
// pack.go), each timeline event as a 36-byte packedRef, each published
// interruption as 24 bytes. Strings that do not pack are in an overflow
// (channelExt) allocated only when needed. Every string reads back exactly
// as it was given.
//
// The timeline and published lists are shared with a copy of the Channel
// (the store's undo) only with their capacity equal to their length: a
// list whose capacity is larger belongs to this Channel alone and is
// changed in place (a timeline that grows by appends costs amortized
// constant time per event), a full one is copied before it changes. Every
// copy of a Channel value that shares its lists must clip them (see
// Store.remember).
//
// The zero Channel is empty. Read it with the accessors, change it with the
// mutators; Data and Set convert from and to the spelled-out ChannelData.
type Channel struct {
	ext *channelExt

	// LastEventAt is the largest data.timestamp of the channel's handled
	// events, in Unix nanoseconds: the channel "went quiet" then.
	LastEventAt int64

	// deadline is the next stream time at which the channel needs
	// attention. Derived state: not encoded, recomputed on restore.
	deadline int64

	// openAt is the start of the open interruption (flagHasOpen).
	openAt int64

	events    []packedRef // the timeline, by at
	published []Published

	ids   [numIdents]ident
	agent [agentInline]byte
	kinds [numIdents + 1]uint8 // of ids, then of agent
	role  uint8                // index into roleTable, or notInTable
	held  uint8                // closed interruptions waiting for grace (saturated)
	flags uint8
}

// channelExt is the overflow of a Channel. Its long array and the Refs in
// raw are never changed once made, so copies may share them.
type channelExt struct {
	// long holds the strings of fields that do not pack, by field.
	long *[numFields]string
	// raw holds the timeline events that do not pack; a packedRef with
	// idk refRaw holds an index into it.
	raw []*Ref
	// carriers are the carriers of the identity fields that are not the
	// timeline's first event (flagCarrierFirst).
	carriers [NumCarriers]Carrier
	// tomb is the tomb of the channel's deleted state (Channel.Tomb).
	tomb *Tomb
	// memo is the engine's (Channel.Memo): never encoded, never changed
	// in place, so copies may share it.
	memo any
	// segs is the layout of a long channel's changelog records
	// (segment.go), or nil.
	segs *segments
}

// packedRef is a Ref with a packed id, source and type. It holds only
// bytes, so it is not padded to the alignment of an int64: 36 bytes.
type packedRef struct {
	at  [8]byte // At, little endian
	id  [ksuid.Bytes]byte
	idk uint8 // 0 to ksuid.Bytes: inline length; refKSUID: a KSUID; refRaw: in channelExt.raw
	src uint8 // index into sourceTable
	typ uint8 // index into typeTable
	// off is the arrival offset + 1, 40 bits little endian; 0: unknown.
	// A larger offset does not pack (the event goes to the overflow).
	off [5]byte
}

const (
	refKSUID = ksuid.Bytes + 1
	refRaw   = ksuid.Bytes + 2
	// maxPackedOffset is the largest arrival offset a packedRef holds
	// (a partition reaches it after 2^40 records).
	maxPackedOffset = 1<<40 - 2
)

// time returns the event time.
func (p *packedRef) time() int64 { return int64(binary.LittleEndian.Uint64(p.at[:])) }

// offset returns the arrival offset of a packed (not refRaw) entry.
func (p *packedRef) offset() (int64, bool) {
	var b [8]byte
	copy(b[:], p.off[:])
	v := binary.LittleEndian.Uint64(b[:])
	return int64(v) - 1, v != 0
}

// packRef packs r, and reports false when it does not pack.
func packRef(r Ref) (packedRef, bool) {
	off, hasOff := r.arrival()
	return packRefOf(r.Source, r.ID, r.Type, r.At, off, hasOff)
}

// packRefOf packs a Ref given by its fields; off is the arrival offset
// when hasOff (not negative).
func packRefOf[T string | []byte](source, id, typ T, at, off int64, hasOff bool) (packedRef, bool) {
	p := packedRef{src: tableIndex(sourceTable, source), typ: tableIndex(typeTable, typ)}
	binary.LittleEndian.PutUint64(p.at[:], uint64(at))
	if p.src == notInTable || p.typ == notInTable {
		return p, false
	}
	if hasOff {
		if off > maxPackedOffset {
			return p, false
		}
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(off)+1)
		copy(p.off[:], b[:])
	}
	switch {
	case len(id) <= ksuid.Bytes:
		p.idk = uint8(copy(p.id[:], id))
	case ksuid.Parse(id, &p.id):
		p.idk = refKSUID
	default:
		return p, false
	}
	return p, true
}

// rawIndex returns the index into channelExt.raw of a refRaw entry.
func (p *packedRef) rawIndex() int { return int(binary.LittleEndian.Uint32(p.id[:4])) }

// ref unpacks p, a packed (not refRaw) entry.
func (p *packedRef) ref() Ref {
	r := Ref{Source: sourceTable[p.src], Type: typeTable[p.typ], At: p.time()}
	r.Offset, r.HasOffset = p.offset()
	if !r.HasOffset {
		r.Offset = 0
	}
	if p.idk == refKSUID {
		r.ID = string(ksuid.Append(make([]byte, 0, ksuid.Len), &p.id))
	} else {
		r.ID = string(p.id[:p.idk])
	}
	return r
}

// Size checks: a Channel fits the 160-byte allocation size class; a
// packedRef is 36 bytes.
var (
	_ [160 - unsafe.Sizeof(Channel{})]byte
	_ [36 - unsafe.Sizeof(packedRef{})]byte
	_ [unsafe.Sizeof(packedRef{}) - 36]byte
)

// NewChannel returns a Channel holding d.
func NewChannel(d ChannelData) *Channel {
	c := &Channel{}
	c.Set(d)
	return c
}

// Set replaces the channel's value with d. The channel's id and its
// scheduling stay. d.Events must be sorted by At.
func (c *Channel) Set(d ChannelData) {
	idLong := c.long(fieldID)
	id, kind := c.ids[fieldID], c.kinds[fieldID]
	*c = Channel{
		deadline:    c.deadline,
		flags:       c.flags&^(flagHasOpen|flagExtShared|carrierFlags) | flagStale,
		LastEventAt: d.LastEventAt,
	}
	c.ids[fieldID], c.kinds[fieldID] = id, kind
	c.setLong(fieldID, idLong)
	c.setIdent(fieldConversation, d.ConversationID)
	c.setIdent(fieldInteraction, d.InteractionID)
	c.setParty(d.Party)
	if len(d.Events) > 0 {
		c.events = make([]packedRef, len(d.Events))
		for i, r := range d.Events {
			c.events[i] = c.pack(r)
		}
	}
	for g, k := range d.Carriers {
		c.setCarrier(g, k)
	}
	if len(d.Published) > 0 {
		c.published = slices.Clone(d.Published)
	}
	c.SetSummary(d.HasOpen, d.OpenAt, d.Held)
	if d.Tomb != nil {
		t := *d.Tomb
		t.Events = slices.Clone(t.Events)
		c.ownExt().tomb = &t
	}
	c.resegment()
	c.tidy()
}

// pack returns r as the channel keeps it in its timeline: packed, or in
// the overflow when it does not pack.
func (c *Channel) pack(r Ref) packedRef {
	if p, ok := packRef(r); ok {
		return p
	}
	x := c.ownExt()
	cl := cloneRef(r)
	p := packedRef{idk: refRaw}
	binary.LittleEndian.PutUint64(p.at[:], uint64(r.At))
	binary.LittleEndian.PutUint32(p.id[:4], uint32(len(x.raw)))
	x.raw = append(x.raw, &cl)
	return p
}

// Data returns the channel's value spelled out. The result shares nothing
// with c.
func (c *Channel) Data() ChannelData {
	conv, inter, party := c.Identity()
	d := ChannelData{ConversationID: conv, InteractionID: inter, Party: party, LastEventAt: c.LastEventAt}
	for i := range c.events {
		d.Events = append(d.Events, c.Event(i))
	}
	d.Published = slices.Clone(c.published)
	d.HasOpen, d.OpenAt, d.Held = c.Summary()
	d.Carriers = c.Carriers()
	if t := c.Tomb(); t != nil {
		n := *t
		n.Events = slices.Clone(t.Events)
		d.Tomb = &n
	}
	return d
}

// Clone returns a deep copy of c.
func (c *Channel) Clone() *Channel {
	if c == nil {
		return nil
	}
	n := *c
	n.ext = c.ext.clone()
	if n.ext != nil && n.ext.segs != nil {
		n.ext.segs.sharedEvents, n.ext.segs.sharedPub = 0, 0 // its own lists
	}
	n.flags &^= flagExtShared
	n.events = slices.Clone(c.events)
	n.published = slices.Clone(c.published)
	return &n
}

func (x *channelExt) clone() *channelExt {
	if x == nil {
		return nil
	}
	n := *x
	n.raw = slices.Clone(x.raw)
	n.segs = x.segs.clone()
	return &n
}

// ownExt returns the channel's overflow ready to be changed: created when
// absent, copied when shared.
func (c *Channel) ownExt() *channelExt {
	switch {
	case c.ext == nil:
		c.ext = &channelExt{}
	case c.flags&flagExtShared != 0:
		c.ext = c.ext.clone()
	}
	c.flags &^= flagExtShared
	return c.ext
}

// shareExt marks the overflow as shared with a copy of c just made.
func (c *Channel) shareExt() {
	if c.ext != nil {
		c.flags |= flagExtShared
	}
}

// tidy drops an empty overflow.
func (c *Channel) tidy() {
	if x := c.ext; x != nil && x.long == nil && len(x.raw) == 0 && x.carriers == ([NumCarriers]Carrier{}) && x.tomb == nil && x.memo == nil && x.segs == nil {
		c.ext = nil
		c.flags &^= flagExtShared
	}
}

func (c *Channel) long(f int) string {
	if c.ext == nil || c.ext.long == nil {
		return ""
	}
	return c.ext.long[f]
}

// setLong keeps s (copied) as field f's string; "" forgets it. The array
// is replaced, never changed: copies of the channel may share it.
func (c *Channel) setLong(f int, s string) {
	if s == c.long(f) {
		return
	}
	x := c.ownExt()
	var n [numFields]string
	if x.long != nil {
		n = *x.long
	}
	n[f] = string([]byte(s))
	x.long = nil
	if n != ([numFields]string{}) {
		x.long = &n
	}
	c.tidy()
}

func (c *Channel) setIdent(f int, s string) { setIdent(c, f, s) }

// setIdent sets ident field f of c to s.
func setIdent[T string | []byte](c *Channel, f int, s T) {
	c.ids[f], c.kinds[f] = packIdent(s, len(ident{}))
	if c.kinds[f] == kindLong {
		c.setLong(f, string(s))
	} else {
		c.setLong(f, "")
	}
}

// appendID appends the channel's id, as given to the store.
func (c *Channel) appendID(dst []byte) []byte {
	return appendIdent(dst, &c.ids[fieldID], c.kinds[fieldID], c.long(fieldID))
}

// ID returns the channel id under which the channel is stored ("" for a
// channel that was never in a store).
func (c *Channel) ID() string {
	b := c.appendID(make([]byte, 0, 36))
	return unsafe.String(unsafe.SliceData(b), len(b)) // b is never written again
}

// identLen returns the length of ident field f's string.
func (c *Channel) identLen(f int) int { return identLen(c.kinds[f], c.long(f)) }

func (c *Channel) appendIdent(dst []byte, f int) []byte {
	return appendIdent(dst, &c.ids[f], c.kinds[f], c.long(f))
}

func (c *Channel) agentLen() int {
	if k := c.kinds[numIdents]; k != kindLong {
		return int(k)
	}
	return len(c.long(fieldAgent))
}

func (c *Channel) appendAgent(dst []byte) []byte {
	if k := c.kinds[numIdents]; k != kindLong {
		return append(dst, c.agent[:k]...)
	}
	return append(dst, c.long(fieldAgent)...)
}

func (c *Channel) roleString() string {
	if c.role == notInTable {
		return c.long(fieldRole)
	}
	return roleTable[c.role]
}

// Identity returns the channel's conversationId, interactionId and party.
// The strings share one allocation.
func (c *Channel) Identity() (conversationID, interactionID string, party vcc.Party) {
	n := c.identLen(fieldConversation) + c.identLen(fieldInteraction) + c.identLen(fieldUser) + c.agentLen()
	if n == 0 {
		return "", "", vcc.Party{Role: c.roleString()}
	}
	b := make([]byte, 0, n)
	b = c.appendIdent(b, fieldConversation)
	i := len(b)
	b = c.appendIdent(b, fieldInteraction)
	j := len(b)
	b = c.appendAgent(b)
	k := len(b)
	b = c.appendIdent(b, fieldUser)
	s := unsafe.String(unsafe.SliceData(b), len(b)) // b is never written again
	return s[:i], s[i:j], vcc.Party{Role: c.roleString(), AgentID: s[j:k], UserID: s[k:]}
}

// carrierFlags are the flagCarrierFirst bits.
const carrierFlags = flagCarrierFirst | flagCarrierFirst1 | flagCarrierFirst2

// Carriers returns the carriers of the identity fields, by Carrier* index.
func (c *Channel) Carriers() [NumCarriers]Carrier {
	var ks [NumCarriers]Carrier
	for g := range ks {
		ks[g] = c.carrier(g)
	}
	return ks
}

// carrier returns the carrier of field g.
func (c *Channel) carrier(g int) Carrier {
	if c.flags&(flagCarrierFirst<<g) != 0 {
		return Carrier{At: c.events[0].time(), Hash: c.EventHash(0), Known: true}
	}
	if c.ext == nil {
		return Carrier{}
	}
	return c.ext.carriers[g]
}

// setCarrier makes k the carrier of field g: a flag when it is the
// timeline's first event, else in the overflow.
func (c *Channel) setCarrier(g int, k Carrier) {
	first := k.Known && len(c.events) > 0 && c.events[0].time() == k.At && c.EventHash(0) == k.Hash
	c.flags &^= flagCarrierFirst << g
	if first {
		c.flags |= flagCarrierFirst << g
		k = Carrier{}
	}
	var cur Carrier
	if c.ext != nil {
		cur = c.ext.carriers[g]
	}
	if cur != k {
		c.ownExt().carriers[g] = k
		c.tidy()
	}
}

// keepCarriers moves the carriers held as flags (the timeline's first
// event) to the overflow, before the first event changes.
func (c *Channel) keepCarriers() {
	if c.flags&carrierFlags == 0 {
		return
	}
	ks := c.Carriers()
	c.flags &^= carrierFlags
	x := c.ownExt()
	for g, k := range ks {
		if k.Known {
			x.carriers[g] = k
		}
	}
}

// OfferIdentity offers the identity fields of one received copy of the
// event (source, id) with data.timestamp at (Unix nanoseconds, whole
// milliseconds) to the channel, and reports whether the channel's identity
// changed.
//
// The rule: each of the conversationId, the interactionId and the party
// (role, agentId and userId as one: a record never mixes two parties)
// comes from the first, in this order, of the copies received that carry
// it (a non-empty string; for the party, any of its three): by at, then
// source, then id (as strings, byte-wise), then the value itself (the
// party by role, agentId, userId), so that copies of one (source, id)
// that differ only in it are ordered too. Every copy counts, the copy of
// a conflicting duplicate that lost its place on the timeline included:
// a channel keeps, per field, the key of its carrier (Carriers), not
// every copy, and the first of a set only grows earlier as copies come.
// The result is a function of the set of copies received, whatever their
// order. A field set without a known carrier (a changelog value of
// version 3 or older) ranks before every copy: the identity a channel had
// is kept rather than replaced by a later event's.
//
// Cost: constant, and a search of the timeline (binary, then the events
// of one millisecond) when the copy and the carrier share a millisecond.
func (c *Channel) OfferIdentity(at int64, source, id, conversationID, interactionID string, party vcc.Party) bool {
	h := lazyHash{source: source, id: id}
	var win [NumCarriers]bool
	if !c.offerWinsAll(at, &h, conversationID, interactionID, party, &win) {
		return false
	}
	before := c.identityHash()
	if win[CarrierConversation] {
		c.setIdent(fieldConversation, conversationID)
	}
	if win[CarrierInteraction] {
		c.setIdent(fieldInteraction, interactionID)
	}
	if win[CarrierParty] {
		c.setParty(party)
	}
	for g, w := range win {
		if w {
			c.setCarrier(g, Carrier{At: at, Hash: h.get(), Known: true})
		}
	}
	c.tidy()
	return c.identityHash() != before
}

// OffersIdentity reports whether OfferIdentity with the same arguments
// would change the channel (a field or only its carrier), without changing
// it.
func (c *Channel) OffersIdentity(at int64, source, id, conversationID, interactionID string, party vcc.Party) bool {
	var win [NumCarriers]bool
	return c.offerWinsAll(at, &lazyHash{source: source, id: id}, conversationID, interactionID, party, &win)
}

// lazyHash is the HashEvent of a copy's (source, id), computed when first
// asked: most copies lose on time alone and never need it.
type lazyHash struct {
	source, id string
	h          uint64
	done       bool
}

func (l *lazyHash) get() uint64 {
	if !l.done {
		l.h, l.done = HashEvent(l.source, l.id), true
	}
	return l.h
}

// offerWinsAll sets win[g] for each field the copy carries and in which
// it ranks before the field's carrier, and reports whether any did.
func (c *Channel) offerWinsAll(at int64, h *lazyHash, conv, inter string, party vcc.Party, win *[NumCarriers]bool) bool {
	win[CarrierConversation] = conv != "" && c.offerWins(CarrierConversation, at, h, func() int {
		cur, _, _ := c.Identity()
		return strings.Compare(conv, cur)
	})
	win[CarrierInteraction] = inter != "" && c.offerWins(CarrierInteraction, at, h, func() int {
		_, cur, _ := c.Identity()
		return strings.Compare(inter, cur)
	})
	win[CarrierParty] = party != (vcc.Party{}) && c.offerWins(CarrierParty, at, h, func() int {
		_, _, cur := c.Identity()
		return cmp.Or(strings.Compare(party.Role, cur.Role), strings.Compare(party.AgentID, cur.AgentID),
			strings.Compare(party.UserID, cur.UserID))
	})
	return win[0] || win[1] || win[2]
}

// hasField reports whether identity field g is set.
func (c *Channel) hasField(g int) bool {
	switch g {
	case CarrierConversation:
		return c.kinds[fieldConversation] != 0
	case CarrierInteraction:
		return c.kinds[fieldInteraction] != 0
	default:
		return c.role != 0 || c.kinds[numIdents] != 0 || c.kinds[fieldUser] != 0
	}
}

// offerWins reports whether a copy (at, source, id with hash h) carrying
// field g ranks before the field's carrier (see OfferIdentity); value
// compares the copy's value with the field's, for a copy of the carrier's
// own (source, id).
func (c *Channel) offerWins(g int, at int64, h *lazyHash, value func() int) bool {
	cur := c.carrier(g)
	if !cur.Known {
		return !c.hasField(g) // none: any copy; set without a carrier: none
	}
	if at != cur.At {
		return at < cur.At
	}
	if h.get() != cur.Hash {
		k := c.findEventHashAt(cur.At, cur.Hash)
		if k < 0 {
			k = c.FindEventHash(cur.Hash)
		}
		if k < 0 {
			return false
		}
		var buf [64]byte
		cid, csrc := c.appendEventID(buf[:0], k)
		if h.source != csrc {
			return h.source < csrc
		}
		return h.id < string(cid)
	}
	return value() < 0
}

// findEventHashAt returns the index of the timeline event at time at
// whose EventHash is h, or -1.
func (c *Channel) findEventHashAt(at int64, h uint64) int {
	i, _ := slices.BinarySearchFunc(c.events, at, func(p packedRef, t int64) int { return cmp.Compare(p.time(), t) })
	for ; i < len(c.events) && c.events[i].time() == at; i++ {
		if c.EventHash(i) == h {
			return i
		}
	}
	return -1
}

// IdentityHash returns a hash of the channel's conversationId,
// interactionId and party, a function of their strings (of their packed
// form, which each string has exactly one of): equal identities hash
// equal. It does not allocate.
func (c *Channel) IdentityHash() uint64 { return c.identityHash() }

func (c *Channel) identityHash() uint64 {
	h := uint64(fnvOffset)
	word := func(v uint64) { h = (h ^ v) * fnvPrime }
	str := func(s string) {
		word(uint64(len(s)))
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * fnvPrime
		}
	}
	for f := fieldConversation; f < numIdents; f++ {
		word(binary.LittleEndian.Uint64(c.ids[f][:8]))
		word(binary.LittleEndian.Uint64(c.ids[f][8:]))
		word(uint64(c.kinds[f]))
		if c.kinds[f] == kindLong {
			str(c.long(f))
		}
	}
	word(binary.LittleEndian.Uint64(c.agent[:]))
	word(uint64(c.kinds[numIdents]))
	if c.kinds[numIdents] == kindLong {
		str(c.long(fieldAgent))
	}
	str(c.roleString())
	return h
}

func (c *Channel) setParty(p vcc.Party) { setParty(c, p.Role, p.AgentID, p.UserID) }

// setParty sets the party of c.
func setParty[T string | []byte](c *Channel, role, agent, user T) {
	c.role = tableIndex(roleTable, role)
	if c.role == notInTable {
		c.setLong(fieldRole, string(role))
	} else {
		c.setLong(fieldRole, "")
	}
	var a ident
	a, c.kinds[numIdents] = packIdent(agent, agentInline)
	copy(c.agent[:], a[:agentInline])
	if c.kinds[numIdents] != kindLong && c.kinds[numIdents] > agentInline {
		c.kinds[numIdents] = kindLong // a UUID does not fit inline
	}
	if c.kinds[numIdents] == kindLong {
		c.setLong(fieldAgent, string(agent))
	} else {
		c.setLong(fieldAgent, "")
	}
	setIdent(c, fieldUser, user)
}

// NumEvents returns the number of events on the timeline.
func (c *Channel) NumEvents() int { return len(c.events) }

// EventAt returns the time of timeline event i.
func (c *Channel) EventAt(i int) int64 { return c.events[i].time() }

// EventType returns the type of timeline event i.
func (c *Channel) EventType(i int) string {
	p := &c.events[i]
	if p.idk == refRaw {
		return c.ext.raw[p.rawIndex()].Type
	}
	return typeTable[p.typ]
}

// Event returns timeline event i.
func (c *Channel) Event(i int) Ref {
	p := &c.events[i]
	if p.idk == refRaw {
		return *c.ext.raw[p.rawIndex()]
	}
	return p.ref()
}

// appendEventID appends the id of timeline event i to dst and returns it
// with the event's source.
func (c *Channel) appendEventID(dst []byte, i int) ([]byte, string) {
	p := &c.events[i]
	switch p.idk {
	case refRaw:
		r := c.ext.raw[p.rawIndex()]
		return append(dst, r.ID...), r.Source
	case refKSUID:
		return ksuid.Append(dst, &p.id), sourceTable[p.src]
	default:
		return append(dst, p.id[:p.idk]...), sourceTable[p.src]
	}
}

// CompareEvents compares timeline events i and j by source, then id, as
// strings.
func (c *Channel) CompareEvents(i, j int) int {
	var x, y [64]byte
	a, sa := c.appendEventID(x[:0], i)
	b, sb := c.appendEventID(y[:0], j)
	if sa != sb {
		if sa < sb {
			return -1
		}
		return 1
	}
	return bytes.Compare(a, b)
}

// FindEvent returns the index of the timeline event (source, id), or -1.
func (c *Channel) FindEvent(source, id string) int {
	q, packs := packRefOf(source, id, "", 0, 0, false)
	for i := range c.events {
		p := &c.events[i]
		if p.idk == refRaw {
			if r := c.ext.raw[p.rawIndex()]; r.Source == source && r.ID == id {
				return i
			}
			continue
		}
		if packs && p.src == q.src && p.idk == q.idk && p.id == q.id {
			return i
		}
	}
	return -1
}

// InsertEvent adds r to the timeline after the events at or before r.At,
// and returns its index.
func (c *Channel) InsertEvent(r Ref) int {
	p := c.pack(r)
	i := len(c.events)
	for i > 0 && c.events[i-1].time() > r.At {
		i--
	}
	if i == 0 {
		c.keepCarriers()
	}
	if c.inPlace(i) {
		c.events = slices.Insert(c.events, i, p) // owned: in place
	} else {
		c.ownedEvents()
		n := make([]packedRef, len(c.events)+1, grownCap(len(c.events)+1))
		copy(n, c.events[:i])
		n[i] = p
		copy(n[i+1:], c.events[i:])
		c.events = n
	}
	c.touched(r.At)
	return i
}

// grownCap returns the capacity of a list grown to n entries: n for a
// short list (most channels hold a few events and publish one or two
// interruptions, and spare room would cost memory on each), a quarter
// more for a longer one, so that a channel that keeps growing copies its
// lists amortized constant times per entry.
func grownCap(n int) int {
	if n < 16 {
		return n
	}
	return n + n/4
}

// MoveEvent replaces timeline event i with r, a copy of it (same source
// and id) at another time or of another type, placed as InsertEvent
// places it, and returns its new index.
func (c *Channel) MoveEvent(i int, r Ref) int {
	c.keepCarriers()
	was := c.events[i].time()
	if c.inPlace(i) {
		c.events = slices.Delete(c.events, i, i+1) // owned: in place
	} else {
		c.ownedEvents()
		n := make([]packedRef, 0, cap(c.events))
		n = append(n, c.events[:i]...)
		c.events = append(n, c.events[i+1:]...) // owned now: cap > len
	}
	c.touched(was)
	return c.InsertEvent(r)
}

// NumPublished returns the number of published interruptions remembered.
func (c *Channel) NumPublished() int { return len(c.published) }

// Published returns published interruption i.
func (c *Channel) Published(i int) Published { return c.published[i] }

// FindPublished returns the index of the published interruption opened by
// the event with hash open, or -1. The list holds one entry per hash
// (PutPublished); it is searched from its end, the newest entries, which
// the engine asks for most.
func (c *Channel) FindPublished(open uint64) int {
	for i := len(c.published) - 1; i >= 0; i-- {
		if c.published[i].Open == open {
			return i
		}
	}
	return -1
}

// PutPublished records p: it replaces the entry with the same Open, or is
// added at the end.
func (c *Channel) PutPublished(p Published) { c.PutPublishedAt(c.FindPublished(p.Open), p) }

// PutPublishedAt records p, whose entry is published interruption i (as
// FindPublished(p.Open) returns it; -1: none, p is added at the end),
// without searching for it.
func (c *Channel) PutPublishedAt(i int, p Published) {
	n := c.published
	if !c.pubInPlace(i) {
		// Shared with a copy, or no room; an entry added or changed
		// goes to a new list.
		k := len(n)
		if i < 0 {
			k++
		}
		n = make([]Published, len(n), grownCap(k))
		copy(n, c.published)
		c.ownedPub()
	}
	if i < 0 {
		n = append(n, p)
	} else {
		n[i] = p
	}
	c.published = n
	if i < 0 {
		c.publishedChanged(len(n)-1, true)
	} else {
		c.publishedChanged(i, false)
	}
}

// Memo returns what SetMemo left on the channel, or nil.
func (c *Channel) Memo() any {
	if c.ext == nil {
		return nil
	}
	return c.ext.memo
}

// SetMemo leaves m on the channel for its engine: derived data that
// speeds up the next look at the timeline (the matcher keeps checkpoints of
// its walk). It is not encoded, not compared and not part of Data; a copy
// of the channel (Clone, the store's undo) shares it, so m must never be
// changed once set, and its owner must check that it still describes the
// timeline before using it (a rollback can take the timeline back to an
// older one and keep a newer memo). Set drops it.
func (c *Channel) SetMemo(m any) {
	if m == nil && c.Memo() == nil {
		return
	}
	c.ownExt().memo = m
	c.tidy()
}

// Stale reports whether the channel's summary (Summary) and published
// list were set from outside the engine (Set, DecodeChannel) and have not
// been checked against the timeline since: the engine then looks at every
// interruption of the channel, not only those an event can have changed.
func (c *Channel) Stale() bool { return c.flags&flagStale != 0 }

// SetStale sets what Stale reports.
func (c *Channel) SetStale(stale bool) {
	c.flags &^= flagStale
	if stale {
		c.flags |= flagStale
	}
}

// Summary returns the engine's summary of the timeline: whether an
// interruption is open and since when, and how many closed interruptions
// wait for their grace period.
func (c *Channel) Summary() (hasOpen bool, openAt int64, held int) {
	if c.flags&flagHasOpen != 0 {
		return true, c.openAt, int(c.held)
	}
	return false, 0, int(c.held)
}

// SetSummary sets the summary Summary returns; held saturates at 255.
func (c *Channel) SetSummary(hasOpen bool, openAt int64, held int) {
	c.flags &^= flagHasOpen
	c.openAt = 0
	if hasOpen {
		c.flags |= flagHasOpen
		c.openAt = openAt
	}
	c.held = uint8(min(max(held, 0), 255))
}

// cloneRef returns r with strings a channel may keep: table entries, or
// copies (the caller's may be cut from a larger buffer), and its offset
// canonical.
func cloneRef(r Ref) Ref {
	r.Offset, r.HasOffset = r.arrival()
	if i := tableIndex(sourceTable, r.Source); i != notInTable {
		r.Source = sourceTable[i]
	} else {
		r.Source = string([]byte(r.Source))
	}
	if i := tableIndex(typeTable, r.Type); i != notInTable {
		r.Type = typeTable[i]
	} else {
		r.Type = string([]byte(r.Type))
	}
	r.ID = string([]byte(r.ID))
	return r
}

// Deadline returns the derived next-attention time set by SetDeadline.
func (c *Channel) Deadline() int64 { return c.deadline }

// setKey makes the channel's id the packed key k.
func (c *Channel) setKey(k *key) {
	c.ids[fieldID], c.kinds[fieldID] = k.id, k.kind
	c.setLong(fieldID, k.long)
}

// kindTable holds the kind of each typeTable entry.
var kindTable = func() []vcc.Kind {
	k := make([]vcc.Kind, len(typeTable))
	for i, t := range typeTable {
		k[i] = kindOfType(t)
	}
	return k
}()

// EventKind returns the kind of timeline event i, from its type.
func (c *Channel) EventKind(i int) vcc.Kind {
	p := &c.events[i]
	if p.idk == refRaw {
		return kindOfType(c.ext.raw[p.rawIndex()].Type)
	}
	return kindTable[p.typ]
}

// kindOfType returns the kind of a full type name, whatever its version.
func kindOfType(t string) vcc.Kind {
	name, _ := vcc.SplitType(t)
	k, _ := vcc.KindOf(name)
	return k
}

// EventHash returns the hash of timeline event i's (source, id), as
// HashEvent gives it, stable across processes (the changelog keeps it in
// Published.Open). It is computed from the packed form: a KSUID id is
// hashed as its 20 bytes, never encoded.
func (c *Channel) EventHash(i int) uint64 {
	p := &c.events[i]
	switch p.idk {
	case refRaw:
		r := c.ext.raw[p.rawIndex()]
		return HashEvent(r.Source, r.ID)
	case refKSUID:
		return hashKSUID(sourceTable[p.src], &p.id)
	default:
		return hashID(sourceTable[p.src], p.id[:p.idk])
	}
}

// FNV-1a 64.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// HashEvent returns the hash of an event (source, id): FNV-1a 64 over the
// source, a NUL, and the id, where an id in KSUID form is hashed as 0xff
// and its 20 binary bytes (so the hash needs no encoding of a packed one).
func HashEvent[T string | []byte](source string, id T) uint64 {
	var k [ksuid.Bytes]byte
	if ksuid.Parse(id, &k) {
		return hashKSUID(source, &k)
	}
	return hashID(source, id)
}

func hashSource(source string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(source); i++ {
		h = (h ^ uint64(source[i])) * fnvPrime
	}
	return h * fnvPrime // the NUL separator: h ^ 0 is h
}

func hashID[T string | []byte](source string, id T) uint64 {
	h := hashSource(source)
	for i := 0; i < len(id); i++ {
		h = (h ^ uint64(id[i])) * fnvPrime
	}
	return h
}

func hashKSUID(source string, k *[ksuid.Bytes]byte) uint64 {
	h := (hashSource(source) ^ 0xff) * fnvPrime
	for _, b := range k {
		h = (h ^ uint64(b)) * fnvPrime
	}
	return h
}

// FindEventHash returns the index of the timeline event whose EventHash is
// h, or -1.
func (c *Channel) FindEventHash(h uint64) int {
	for i := range c.events {
		if c.EventHash(i) == h {
			return i
		}
	}
	return -1
}
