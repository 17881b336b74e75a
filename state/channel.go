// Package state holds the per-partition state of the interruption matcher:
// one Channel per channelId, the partition's stream time, and the bookkeeping
// that makes every change explicit (for the changelog) and reversible (for an
// aborted transaction).
//
// The store knows nothing about Kafka, clocks or matching rules. The engine in
// package processor decides what changes; the store records it.
package state

import (
	"slices"
	"unsafe"

	"github.com/interruptions/interruptions/internal/ksuid"
	"github.com/interruptions/interruptions/processor/vcc"
)

// Ref identifies one source event: its CloudEvent source and id, its type,
// and its event time (data.timestamp) in Unix nanoseconds.
type Ref struct {
	Source string
	ID     string
	Type   string
	At     int64
}

// ChannelData is a channel's value spelled out: what the changelog holds
// for it. Channel keeps the same value packed.
//
// Open and Held are sorted by At (ties in arrival order). Seen holds a
// 64-bit hash of every handled event's (source, id) in the order handled.
type ChannelData struct {
	ConversationID string
	InteractionID  string
	Party          vcc.Party
	// LastEventAt is the largest data.timestamp of the channel's handled
	// events, in Unix nanoseconds.
	LastEventAt int64
	Seen        []uint64
	Open        []Ref
	Held        []Ref
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
	// inlineSeen is how many seen hashes a Channel holds without channelExt.
	inlineSeen = 3
	// agentInline is how many bytes of an agentId a Channel holds inline
	// (VCC's are short numbers, such as "1544").
	agentInline = 8
)

// Channel flags.
const (
	// flagOpenInline: the channel has exactly one open interruption, in
	// Channel.open; otherwise its open interruptions are in channelExt.
	flagOpenInline = 1 << iota
	// flagScheduled: a deadline heap entry for Channel.deadline is pending.
	flagScheduled
	// flagLive: the channel is in a store's index.
	flagLive
	// flagExtShared: the overflow is shared with a saved copy (the store's
	// undo); it is copied before its first change.
	flagExtShared
)

// Channel is everything the matcher remembers about one channel, packed to
// keep a million open channels in about 200 MB: identifiers are held as
// binary UUIDs and KSUIDs or inline bytes (see pack.go), a channel with at
// most three seen events and one open interruption needs no other
// allocation, and everything else (strings that do not pack, more seen
// events, more open interruptions, held closes) is in an overflow
// (channelExt) allocated only when needed. Every string reads back exactly
// as it was given.
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

	open  packedRef          // when flagOpenInline
	seen  [inlineSeen]uint64 // the first nSeen seen hashes
	ids   [numIdents]ident
	agent [agentInline]byte
	kinds [numIdents + 1]uint8 // of ids, then of agent
	role  uint8                // index into roleTable, or notInTable
	nSeen uint8
	flags uint8
}

// channelExt is the overflow of a Channel. Its long array and the Refs its
// storedRefs point at are never changed once made, so copies may share them.
type channelExt struct {
	// long holds the strings of fields that do not pack, by field.
	long *[numFields]string
	// seen are the seen hashes after the inline ones.
	seen []uint64
	// open are the open interruptions when they are not inline.
	open []storedRef
	held []storedRef
}

// storedRef is a Ref in a channel's overflow: packed, or as given when it
// does not pack (raw; the packed time is set either way).
type storedRef struct {
	packedRef
	raw *Ref
}

// storeRef returns r as kept in an overflow list.
func storeRef(r Ref) storedRef {
	if p, ok := packRef(r); ok {
		return storedRef{packedRef: p}
	}
	c := cloneRef(r)
	return storedRef{packedRef: packedRef{at: r.At}, raw: &c}
}

func (r *storedRef) ref() Ref {
	if r.raw != nil {
		return *r.raw
	}
	return r.packedRef.ref()
}

// packedRef is a Ref with a packed id, source and type.
type packedRef struct {
	at  int64
	id  [ksuid.Bytes]byte
	idk uint8 // 0 to ksuid.Bytes: inline length; refKSUID: a KSUID
	src uint8 // index into sourceTable
	typ uint8 // index into typeTable
}

const refKSUID = ksuid.Bytes + 1

// packRef packs r, and reports false when it does not pack.
func packRef(r Ref) (packedRef, bool) { return packRefOf(r.Source, r.ID, r.Type, r.At) }

// packRefOf packs a Ref given by its fields.
func packRefOf[T string | []byte](source, id, typ T, at int64) (packedRef, bool) {
	p := packedRef{at: at, src: tableIndex(sourceTable, source), typ: tableIndex(typeTable, typ)}
	if p.src == notInTable || p.typ == notInTable {
		return p, false
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

// ref unpacks p.
func (p *packedRef) ref() Ref {
	r := Ref{Source: sourceTable[p.src], Type: typeTable[p.typ], At: p.at}
	if p.idk == refKSUID {
		r.ID = string(ksuid.Append(make([]byte, 0, ksuid.Len), &p.id))
	} else {
		r.ID = string(p.id[:p.idk])
	}
	return r
}

// Size checks: a Channel fits the 160-byte allocation size class.
var _ [160 - unsafe.Sizeof(Channel{})]byte

// NewChannel returns a Channel holding d.
func NewChannel(d ChannelData) *Channel {
	c := &Channel{}
	c.Set(d)
	return c
}

// Set replaces the channel's value with d. The channel's id and its
// scheduling stay.
func (c *Channel) Set(d ChannelData) {
	idLong := c.long(fieldID)
	id, kind := c.ids[fieldID], c.kinds[fieldID]
	*c = Channel{
		deadline:    c.deadline,
		flags:       c.flags &^ (flagOpenInline | flagExtShared),
		LastEventAt: d.LastEventAt,
	}
	c.ids[fieldID], c.kinds[fieldID] = id, kind
	c.setLong(fieldID, idLong)
	c.setIdent(fieldConversation, d.ConversationID)
	c.setIdent(fieldInteraction, d.InteractionID)
	c.setParty(d.Party)
	for _, h := range d.Seen {
		c.AddSeen(h)
	}
	c.setOpen(storeRefs(d.Open))
	if len(d.Held) > 0 {
		c.ownExt().held = storeRefs(d.Held)
	}
	c.tidy()
}

func storeRefs(list []Ref) []storedRef {
	if len(list) == 0 {
		return nil
	}
	out := make([]storedRef, len(list))
	for i, r := range list {
		out[i] = storeRef(r)
	}
	return out
}

// Data returns the channel's value spelled out. The result shares nothing
// with c.
func (c *Channel) Data() ChannelData {
	conv, inter, party := c.Identity()
	d := ChannelData{ConversationID: conv, InteractionID: inter, Party: party, LastEventAt: c.LastEventAt}
	if n := c.NumSeen(); n > 0 {
		d.Seen = make([]uint64, 0, n)
		d.Seen = append(d.Seen, c.seen[:c.nSeen]...)
		if c.ext != nil {
			d.Seen = append(d.Seen, c.ext.seen...)
		}
	}
	for i := range c.NumOpen() {
		d.Open = append(d.Open, c.Open(i))
	}
	for i := range c.NumHeld() {
		d.Held = append(d.Held, c.Held(i))
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
	n.flags &^= flagExtShared
	return &n
}

func (x *channelExt) clone() *channelExt {
	if x == nil {
		return nil
	}
	n := *x
	n.seen = slices.Clone(x.seen)
	n.open = slices.Clone(x.open)
	n.held = slices.Clone(x.held)
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
	if x := c.ext; x != nil && x.long == nil && len(x.seen) == 0 && len(x.open) == 0 && len(x.held) == 0 {
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

// FillIdentity sets the conversationId and interactionId the channel does
// not have yet, and the party when it has none.
func (c *Channel) FillIdentity(conversationID, interactionID string, party vcc.Party) {
	if c.kinds[fieldConversation] == 0 {
		c.setIdent(fieldConversation, conversationID)
	}
	if c.kinds[fieldInteraction] == 0 {
		c.setIdent(fieldInteraction, interactionID)
	}
	if c.role == 0 && c.kinds[numIdents] == 0 && c.kinds[fieldUser] == 0 {
		c.setParty(party)
	}
	c.tidy()
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

// NumSeen returns the number of seen event hashes.
func (c *Channel) NumSeen() int {
	n := int(c.nSeen)
	if c.ext != nil {
		n += len(c.ext.seen)
	}
	return n
}

// HasSeen reports whether the event hash h was already handled.
func (c *Channel) HasSeen(h uint64) bool {
	for _, s := range c.seen[:c.nSeen] {
		if s == h {
			return true
		}
	}
	return c.ext != nil && slices.Contains(c.ext.seen, h)
}

// AddSeen records the event hash h as handled.
func (c *Channel) AddSeen(h uint64) {
	if c.nSeen < inlineSeen {
		c.seen[c.nSeen] = h
		c.nSeen++
		return
	}
	x := c.ownExt()
	x.seen = append(x.seen, h)
}

// NumOpen returns the number of open interruptions.
func (c *Channel) NumOpen() int {
	if c.flags&flagOpenInline != 0 {
		return 1
	}
	if c.ext == nil {
		return 0
	}
	return len(c.ext.open)
}

// OpenAt returns the time of open interruption i (in At order).
func (c *Channel) OpenAt(i int) int64 {
	if c.flags&flagOpenInline != 0 {
		_ = [1]int{}[i] // bounds check
		return c.open.at
	}
	return c.ext.open[i].at
}

// Open returns open interruption i (in At order).
func (c *Channel) Open(i int) Ref {
	if c.flags&flagOpenInline != 0 {
		_ = [1]int{}[i]
		return c.open.ref()
	}
	return c.ext.open[i].ref()
}

// setOpen makes list the open interruptions; the channel keeps list.
func (c *Channel) setOpen(list []storedRef) {
	c.flags &^= flagOpenInline
	if len(list) == 1 && list[0].raw == nil {
		c.open = list[0].packedRef
		c.flags |= flagOpenInline
		list = nil
	}
	if len(list) > 0 || (c.ext != nil && len(c.ext.open) > 0) {
		c.ownExt().open = list
	}
	c.tidy()
}

// InsertOpen adds r to the open interruptions, keeping them sorted by At;
// equal times keep arrival order.
func (c *Channel) InsertOpen(r Ref) {
	sr := storeRef(r)
	switch {
	case c.NumOpen() == 0:
		c.setOpen([]storedRef{sr})
	case c.flags&flagOpenInline != 0:
		c.setOpen(insertSorted([]storedRef{{packedRef: c.open}}, sr))
	default:
		x := c.ownExt()
		x.open = insertSorted(x.open, sr)
	}
}

// RemoveOpen removes open interruption i.
func (c *Channel) RemoveOpen(i int) {
	if c.flags&flagOpenInline != 0 {
		_ = [1]int{}[i]
		c.flags &^= flagOpenInline
		c.open = packedRef{}
		return
	}
	x := c.ownExt()
	c.setOpen(slices.Delete(x.open, i, i+1))
}

// NumHeld returns the number of held closes.
func (c *Channel) NumHeld() int {
	if c.ext == nil {
		return 0
	}
	return len(c.ext.held)
}

// HeldAt returns the time of held close i (in At order).
func (c *Channel) HeldAt(i int) int64 { return c.ext.held[i].at }

// Held returns held close i (in At order).
func (c *Channel) Held(i int) Ref { return c.ext.held[i].ref() }

// InsertHeld adds r to the held closes, keeping them sorted by At; equal
// times keep arrival order.
func (c *Channel) InsertHeld(r Ref) {
	x := c.ownExt()
	x.held = insertSorted(x.held, storeRef(r))
}

// RemoveHeld removes held close i.
func (c *Channel) RemoveHeld(i int) {
	x := c.ownExt()
	x.held = slices.Delete(x.held, i, i+1)
	c.tidy()
}

func insertSorted(list []storedRef, r storedRef) []storedRef {
	i, _ := slices.BinarySearchFunc(list, r.at, func(e storedRef, at int64) int {
		if e.at <= at {
			return -1
		}
		return 1
	})
	return slices.Insert(list, i, r)
}

// cloneRef returns r with strings a channel may keep: table entries, or
// copies (the caller's may be cut from a larger buffer).
func cloneRef(r Ref) Ref {
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
