package state

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
)

// The changelog format, in one place. Each input partition's state is
// written to the same partition of a compacted topic, one record per key:
//
//	key                  value
//	<channelId>          AppendChannel(channel), or nil (a tombstone: deleted)
//	StreamTimeKey        AppendStreamTime(stream time, Unix ns)
//	InputOffsetKey       AppendInputOffset(the next input offset)
//
// A channel the engine deleted after its retention is a channel value
// holding only its Tomb (no events) until the tomb is dropped, then nil.
// Reserved keys start with a NUL byte; channel ids are GUIDs and never do.
// Encode with ChangelogEntries, decode with a Loader: the two are symmetric.
const (
	// StreamTimeKey is the key of the partition's stream time.
	StreamTimeKey = "\x00stream-time"
	// InputOffsetKey is the key of the partition's next input offset: the
	// first input record the state written with it has not seen.
	InputOffsetKey = "\x00input-offset"
)

// AppendStreamTime appends the encoding of a stream time to dst.
func AppendStreamTime(dst []byte, t int64) []byte { return appendInt64(dst, t) }

// DecodeStreamTime decodes a value written by AppendStreamTime.
func DecodeStreamTime(b []byte) (int64, error) { return decodeInt64(b) }

// AppendInputOffset appends the encoding of an input offset to dst (the
// same encoding as a stream time).
func AppendInputOffset(dst []byte, offset int64) []byte { return appendInt64(dst, offset) }

// DecodeInputOffset decodes a value written by AppendInputOffset.
func DecodeInputOffset(b []byte) (int64, error) { return decodeInt64(b) }

// int64Version is the version byte of stream-time and input-offset values:
// their format has not changed since the first version, whatever the
// channels' (codecVersion).
const int64Version = 1

func appendInt64(dst []byte, v int64) []byte {
	return binary.AppendVarint(append(dst, int64Version), v)
}

func decodeInt64(b []byte) (int64, error) {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != int64Version {
		return 0, fmt.Errorf("%w: unknown version %d", ErrCorrupt, v)
	}
	t := d.varint()
	return t, d.end("")
}

// ChangelogEntries calls emit with the key and value of one changelog
// record per change of s since its last Commit, then one for its stream
// time if it moved, then one for nextOffset if it differs from
// committedOffset. A nil value is a tombstone. Keys and values are appended
// to buf, which is returned grown; each emitted slice stays valid (its own
// sub-slice of the buffer, capacity-limited) until buf is reused.
func ChangelogEntries(buf []byte, s *Store, nextOffset, committedOffset int64, emit func(key, value []byte)) []byte {
	return changelogEntries(buf, s, "", nextOffset, committedOffset, emit)
}

// Phase stores (a partition's stores of its phase matchers) share the
// partition's changelog: each record of phase store i is keyed by
// PhaseKeyPrefix(i) then the key its store would write alone, and a
// Loader with phase loaders (Loader.Phases) sends it there.
const (
	// phaseKeyTag follows the NUL of a phase store's key prefix.
	phaseKeyTag = 'P'
	// PhaseKeyExtra is how many bytes the prefix adds to a key.
	PhaseKeyExtra = 3
)

// PhaseKeyPrefix returns the key prefix of phase store i (0 to 255).
func PhaseKeyPrefix(i int) string { return string([]byte{0, phaseKeyTag, byte(i)}) }

// PhaseKey splits a changelog key of phase store i (PhaseKeyPrefix(i)
// then the key the store alone would write) into i and that key; false
// for a key of the partition's own store.
func PhaseKey(key []byte) (i int, inner []byte, ok bool) {
	if len(key) >= PhaseKeyExtra && key[0] == 0 && key[1] == phaseKeyTag {
		return int(key[2]), key[PhaseKeyExtra:], true
	}
	return 0, nil, false
}

// PhaseChangelogEntries is ChangelogEntries for phase store i of a
// partition: its channels and its stream time, each key prefixed with
// PhaseKeyPrefix(i); the input offset is the partition's own record's.
func PhaseChangelogEntries(buf []byte, s *Store, i int, emit func(key, value []byte)) []byte {
	return changelogEntries(buf, s, PhaseKeyPrefix(i), 0, 0, emit)
}

func changelogEntries(buf []byte, s *Store, prefix string, nextOffset, committedOffset int64, emit func(key, value []byte)) []byte {
	add := func(key string, value func([]byte) []byte) {
		start := len(buf)
		buf = append(buf, prefix...)
		buf = append(buf, key...)
		mid := len(buf)
		if value == nil {
			emit(buf[start:mid:mid], nil)
			return
		}
		buf = value(buf)
		emit(buf[start:mid:mid], buf[mid:len(buf):len(buf)])
	}
	addKey := func(key []byte, value func([]byte) []byte) { add(string(key), value) }
	del := func(key []byte) { add(string(key), nil) }
	for _, ch := range s.Changes() {
		if ch.Channel == nil {
			add(ch.ChannelID, nil)
		} else {
			partRecords(ch.ChannelID, ch.Channel, addKey)
			add(ch.ChannelID, func(b []byte) []byte { return AppendChannel(b, ch.Channel) })
		}
		deletedParts(ch.ChannelID, ch.Old, ch.Channel, del)
	}
	for _, k := range s.orphans {
		add(k, nil)
	}
	if s.StreamTimeChanged() {
		add(StreamTimeKey, func(b []byte) []byte { return AppendStreamTime(b, s.StreamTime()) })
	}
	if nextOffset != committedOffset {
		add(InputOffsetKey, func(b []byte) []byte { return AppendInputOffset(b, nextOffset) })
	}
	return buf
}

// Loader rebuilds one partition's store from its changelog records, read in
// offset order: Load each record, then Finish.
type Loader struct {
	// Store receives the channels and the stream time.
	Store *Store
	// InputOffset is the last input offset read (0 when none was).
	InputOffset int64
	// Records counts the records loaded.
	Records int

	// Phases are the loaders of the partition's phase stores, by index
	// (PhaseKeyPrefix); nil until WithPhases. Records of a phase store
	// with no loader here (phases turned off since) are skipped and
	// counted in Skipped.
	Phases []*Loader
	// Skipped counts the records of phase stores not loaded.
	Skipped int

	// heads are the layouts of the segmented channels loaded, parts
	// their other records (values copied), by channelId.
	heads map[string]headLayout
	parts map[string]*parts
}

// parts are the segment records of one channel read so far.
type parts struct {
	segments map[int64][]byte
	chunks   map[int][]byte
}

// NewLoader returns a loader into a new store sized for about n channels.
func NewLoader(n int) *Loader { return &Loader{Store: NewSized(n)} }

// WithPhases gives l n phase loaders (Phases), each into a new store, and
// returns l.
func (l *Loader) WithPhases(n int) *Loader {
	l.Phases = make([]*Loader, n)
	for i := range l.Phases {
		l.Phases[i] = NewLoader(0)
	}
	return l
}

// Load applies one changelog record.
func (l *Loader) Load(key, value []byte) error {
	l.Records++
	if i, inner, ok := PhaseKey(key); ok {
		if i >= len(l.Phases) {
			l.Skipped++
			return nil
		}
		if err := l.Phases[i].Load(inner, value); err != nil {
			return fmt.Errorf("phase store %d: %w", i, err)
		}
		return nil
	}
	switch string(key) {
	case InputOffsetKey:
		o, err := DecodeInputOffset(value)
		if err != nil {
			return fmt.Errorf("input offset: %w", err)
		}
		l.InputOffset = o
	case StreamTimeKey:
		t, err := DecodeStreamTime(value)
		if err != nil {
			return fmt.Errorf("stream time: %w", err)
		}
		l.Store.RestoreStreamTime(t)
	default:
		if len(key) > 0 && key[0] == 0 {
			return l.loadPart(key, value)
		}
		id := string(key)
		delete(l.heads, id)
		if value == nil {
			l.Store.Restore(id, nil)
			return nil
		}
		if len(value) > 0 && value[0] < minCodecVersion {
			return &OldFormatError{Version: value[0]}
		}
		c, layout, err := decodeHead(value)
		if err != nil {
			return fmt.Errorf("channel %s: %w", key, err)
		}
		if layout.segments > 0 || layout.pubSealed > 0 {
			if l.heads == nil {
				l.heads = map[string]headLayout{}
			}
			l.heads[id] = layout
		}
		l.Store.Restore(id, c)
	}
	return nil
}

// loadPart keeps a segment record (a nil value deletes it) until Finish.
func (l *Loader) loadPart(key, value []byte) error {
	pk, ok := parsePartKey(key)
	if !ok {
		return fmt.Errorf("%w: unknown key %q", ErrCorrupt, key)
	}
	p := l.parts[pk.id]
	if p == nil {
		if value == nil {
			return nil
		}
		if l.parts == nil {
			l.parts = map[string]*parts{}
		}
		p = &parts{segments: map[int64][]byte{}, chunks: map[int][]byte{}}
		l.parts[pk.id] = p
	}
	switch {
	case pk.kind == segmentKind && value == nil:
		delete(p.segments, pk.start)
	case pk.kind == segmentKind:
		p.segments[pk.start] = slices.Clone(value)
	case value == nil:
		delete(p.chunks, pk.k)
	default:
		p.chunks[pk.k] = slices.Clone(value)
	}
	return nil
}

// Finish puts each segmented channel together from its head and its
// segment records, once every record is loaded. Segment records no head
// names (a write cut short, under at-least-once) are left out, and the
// store's next changelog write deletes them.
func (l *Loader) Finish() error {
	for i, p := range l.Phases {
		if err := p.Finish(); err != nil {
			return fmt.Errorf("phase store %d: %w", i, err)
		}
	}
	for id, layout := range l.heads {
		head := l.Store.Get(id)
		p := l.parts[id]
		delete(l.parts, id)
		c, err := assemble(head, layout, p)
		if err != nil {
			return fmt.Errorf("channel %s: %w", id, err)
		}
		l.Store.Restore(id, c)
	}
	l.heads = nil
	for id, p := range l.parts {
		for start := range p.segments {
			l.Store.orphans = append(l.Store.orphans, string(appendSegmentKey(nil, id, start)))
		}
		for k := range p.chunks {
			l.Store.orphans = append(l.Store.orphans, string(appendChunkKey(nil, id, k)))
		}
	}
	slices.Sort(l.Store.orphans)
	l.parts = nil
	return nil
}

// assemble returns the channel whose head is head, with the events and
// published entries of its segment records. Records beyond what the
// head names (a write cut short after them, under at-least-once) are
// taken in: events once each by (source, id), published entries once
// each by opening event, the higher revision kept.
func assemble(head *Channel, layout headLayout, p *parts) (*Channel, error) {
	if p == nil {
		p = &parts{}
	}
	if len(p.segments) < layout.segments {
		return nil, fmt.Errorf("%w: its head names %d event segments, %d are in the changelog", ErrCorrupt, layout.segments, len(p.segments))
	}
	for k := range layout.pubSealed {
		if p.chunks[k] == nil {
			return nil, fmt.Errorf("%w: published chunk %d of %d is not in the changelog", ErrCorrupt, k, layout.pubSealed)
		}
	}
	c := head.Clone()
	starts := slices.Sorted(maps.Keys(p.segments))
	if len(starts) > 0 && starts[0] != math.MinInt64 {
		return nil, fmt.Errorf("%w: no first event segment", ErrCorrupt)
	}
	var events []packedRef
	for _, start := range starts {
		d, err := openPart(p.segments[start], "event segment")
		if err != nil {
			return nil, err
		}
		events = append(events, d.refs(c)...)
		if err := d.end(" in an event segment"); err != nil {
			return nil, err
		}
	}
	events = append(events, c.events...)
	byTime := func(a, b packedRef) int { return cmp.Compare(a.time(), b.time()) }
	if !slices.IsSortedFunc(events, byTime) {
		// Only a write cut short overlaps segments: sort, keep order of ties.
		slices.SortStableFunc(events, byTime)
	}
	c.events = events
	if len(starts) > layout.segments {
		c.dedupeEvents()
	}
	var pub []Published
	chunks := slices.Sorted(maps.Keys(p.chunks))
	for _, k := range chunks {
		d, err := openPart(p.chunks[k], "published chunk")
		if err != nil {
			return nil, err
		}
		list := d.publishedList(codecVersion)
		if err := d.end(" in a published chunk"); err != nil {
			return nil, err
		}
		if k < layout.pubSealed && len(list) != pubChunk {
			return nil, fmt.Errorf("%w: published chunk %d holds %d entries", ErrCorrupt, k, len(list))
		}
		pub = append(pub, list...)
	}
	pub = append(pub, c.published...)
	if len(chunks) > layout.pubSealed {
		pub = dedupePublished(pub)
	}
	c.published = pub
	x := c.ownExt()
	x.segs = &segments{starts: starts, tail: layout.tail, pubSealed: layout.pubSealed, lineage: new(lineage)}
	if len(chunks) > layout.pubSealed {
		// Chunks the head does not name were taken in, and the entries
		// moved: lay the list out again (every chunk new).
		x.segs.pubSealed = 0
		c.sealPublished()
	}
	c.flags |= flagStale
	return c, nil
}

// openPart returns a decoder past the version byte of a segment record's
// value (what names the record in errors).
func openPart(b []byte, what string) (*decoder, error) {
	d := &decoder{b: b, offsets: true}
	if v := d.byte(); d.err == nil && v != segmentRecordVersion {
		return nil, fmt.Errorf("%w: %s of unknown version %d", ErrCorrupt, what, v)
	}
	return d, nil
}

// dedupeEvents keeps the first copy of each (source, id) on the timeline.
func (c *Channel) dedupeEvents() {
	seen := make(map[uint64]bool, len(c.events))
	kept := c.events[:0]
	for i := range c.events {
		h := c.EventHash(i)
		if seen[h] {
			continue
		}
		seen[h] = true
		kept = append(kept, c.events[i])
	}
	c.events = kept
}

// dedupePublished keeps one entry per opening event, at its first place,
// with the highest revision seen.
func dedupePublished(list []Published) []Published {
	at := make(map[uint64]int, len(list))
	var out []Published
	for _, p := range list {
		if i, ok := at[p.Open]; ok {
			if p.Revision > out[i].Revision {
				out[i] = p
			}
			continue
		}
		at[p.Open] = len(out)
		out = append(out, p)
	}
	return out
}

// OldFormatError reports a channel written by an earlier version of the
// processor, whose state format this version does not read (version 1 held
// pairs, not timelines: a timeline cannot be rebuilt from it). Version 2
// values (timelines without arrival offsets) are read.
type OldFormatError struct {
	// Version is the format of the record found.
	Version byte
}

func (e *OldFormatError) Error() string {
	return fmt.Sprintf("the changelog holds state of format %d, written by an earlier version; this version reads formats %d to %d: "+
		"start it with a new --group (or delete the changelog topic) and replay the input", e.Version, minCodecVersion, codecVersion)
}

// Segment records (segment.go) are keyed by a NUL byte, a kind ('e': an
// event segment, 'p': a published chunk), the channelId's length as an
// unsigned varint and the channelId, then the segment's start time (8
// bytes big endian) or the chunk's number (an unsigned varint). Their
// values are a version byte (segmentRecordVersion), then the events or
// entries as a head holds them.
const (
	segmentKind          = 'e'
	chunkKind            = 'p'
	segmentRecordVersion = 1
	// MaxKeyExtra is how many bytes a changelog key may take besides
	// its channelId, for a channelId shorter than 16,384 bytes (its
	// length then takes at most 2 bytes).
	MaxKeyExtra = 2 + 2 + 8
)

func appendPartKey(dst []byte, kind byte, id string) []byte {
	dst = append(dst, 0, kind)
	dst = binary.AppendUvarint(dst, uint64(len(id)))
	return append(dst, id...)
}

func appendSegmentKey(dst []byte, id string, start int64) []byte {
	return binary.BigEndian.AppendUint64(appendPartKey(dst, segmentKind, id), uint64(start))
}

func appendChunkKey(dst []byte, id string, k int) []byte {
	return binary.AppendUvarint(appendPartKey(dst, chunkKind, id), uint64(k))
}

// partKey is a parsed segment record key.
type partKey struct {
	kind  byte
	id    string
	start int64 // of an event segment
	k     int   // of a published chunk
}

// parsePartKey parses a segment record key.
func parsePartKey(key []byte) (partKey, bool) {
	if len(key) < 3 || key[0] != 0 || (key[1] != segmentKind && key[1] != chunkKind) {
		return partKey{}, false
	}
	p := partKey{kind: key[1]}
	n, w := binary.Uvarint(key[2:])
	if w <= 0 || n > uint64(len(key)-2-w) {
		return partKey{}, false
	}
	rest := key[2+w:]
	p.id, rest = string(rest[:n]), rest[n:]
	if p.kind == segmentKind {
		if len(rest) != 8 {
			return partKey{}, false
		}
		p.start = int64(binary.BigEndian.Uint64(rest))
		return p, true
	}
	k, w := binary.Uvarint(rest)
	if w != len(rest) || k > 1<<31 {
		return partKey{}, false
	}
	p.k = int(k)
	return p, true
}

// ChannelOfKey returns the channelId a changelog key belongs to: the key
// itself (a head), or the channel of a segment record; false for the
// partition's own keys (stream time, input offset).
func ChannelOfKey(key []byte) (string, bool) {
	if len(key) > 0 && key[0] == 0 {
		p, ok := parsePartKey(key)
		return p.id, ok
	}
	return string(key), len(key) > 0
}

// appendSegment appends the value of sealed event segment j.
func (c *Channel) appendSegment(dst []byte, s *segments, j int) []byte {
	lo, hi := c.segRange(s, j)
	return c.appendEvents(append(dst, segmentRecordVersion), lo, hi)
}

// appendChunk appends the value of sealed published chunk k.
func (c *Channel) appendChunk(dst []byte, k int) []byte {
	return appendPublished(append(dst, segmentRecordVersion), c.published[k*pubChunk:(k+1)*pubChunk])
}

// partRecords calls add for each record of channel c's change besides its
// head, written before it: the dirty segments, latest first, then the
// dirty chunks. Events only move from the head or a segment into a
// segment that starts later (seal, split), so a write cut short at any
// record loses none: each is in its new record before its old one is
// written without it.
func partRecords(id string, c *Channel, add func(key []byte, value func([]byte) []byte)) {
	s := c.segs()
	if s == nil {
		return
	}
	dirty := slices.Sorted(slices.Values(s.dirty))
	slices.Reverse(dirty)
	for _, start := range dirty {
		j := s.find(start)
		if j < 0 {
			continue
		}
		add(appendSegmentKey(nil, id, start), func(b []byte) []byte { return c.appendSegment(b, s, j) })
	}
	for _, k := range slices.Sorted(slices.Values(s.dirtyPub)) {
		add(appendChunkKey(nil, id, k), func(b []byte) []byte { return c.appendChunk(b, k) })
	}
}

// deletedParts calls del with the key of each segment record of old (the
// channel at the last commit) that cur (nil: deleted) no longer has.
// Written after the head: a write cut short leaves records no head names,
// which the next restore finds (Loader.Finish) and deletes.
func deletedParts(id string, old, cur *Channel, del func(key []byte)) {
	if old == nil {
		return
	}
	os := old.segs()
	if os == nil {
		return
	}
	var ns *segments
	if cur != nil {
		ns = cur.segs()
	}
	if ns != nil && ns.lineage == os.lineage {
		return // one layout, grown: nothing removed
	}
	for _, start := range os.starts {
		if ns != nil {
			if _, found := slices.BinarySearch(ns.starts, start); found {
				continue
			}
		}
		del(appendSegmentKey(nil, id, start))
	}
	kept := 0
	if ns != nil {
		kept = ns.pubSealed
	}
	for k := kept; k < os.pubSealed; k++ {
		del(appendChunkKey(nil, id, k))
	}
}
