package state

import (
	"math"
	"slices"
	"sort"
)

// A long channel's changelog state is split into records whose size does
// not grow with the channel (changelog.go has the keys):
//
//   - sealed event segments: segment j holds the timeline events whose time
//     is in [starts[j], starts[j+1]), the last one up to the tail's start;
//   - the head, keyed by the channelId: everything else, with the tail (the
//     events at or after the tail's start) and the published interruptions
//     not in a sealed chunk;
//   - sealed published chunks: chunk k holds published entries
//     [k*pubChunk, (k+1)*pubChunk).
//
// A change writes the head and only the segments and chunks it changed
// (the dirty ones), so the bytes a channel writes per event do not grow
// with its timeline: an event in order goes to the tail, which is sealed
// into a new segment of about segEvents events once it holds 2*segEvents;
// a late event rewrites the one segment its time falls in, which is split
// in two once it holds more than 4*segEvents. Boundaries are event times,
// so events of one instant are never split across records: a timeline of
// many events at one millisecond keeps them in one record (bounded by the
// channel's cap and the changelog's record limit, like any record).
//
// A channel of fewer than 2*segEvents events (nearly every channel) has no
// segments: its head is its whole value, written as before segments were.
const (
	// segEvents is the usual number of events in a sealed segment.
	segEvents = 32
	// pubChunk is the number of published entries in a sealed chunk.
	pubChunk = 32
)

// segments is the layout of a segmented channel's changelog records, kept
// in the channel's overflow. Copies share starts clipped (Channel.Clone,
// the store's undo): it is appended to in place only past a copy's length,
// and replaced, never changed, otherwise.
type segments struct {
	// starts holds each sealed event segment's first time, ascending;
	// starts[0] is math.MinInt64.
	starts []int64
	// tail is the time from which events are in the head.
	tail int64
	// pubSealed is the number of sealed published chunks.
	pubSealed int
	// dirty holds the starts of the sealed segments changed since the
	// store's last Commit, dirtyPub the sealed chunks: the records the
	// next changelog write holds besides the head.
	dirty    []int64
	dirtyPub []int
	// sharedEvents and sharedPub are the lengths of the timeline and the
	// published list that a saved copy (the store's undo) shares in this
	// epoch: entries before them are never changed in place, entries
	// after are (see Store.remember).
	sharedEvents, sharedPub int
	// lineage is shared by every copy of one layout and its changes
	// (seal, split): within one lineage records are only added, so a
	// write has no record to delete.
	lineage *lineage
}

// lineage identifies a layout made whole (resegment, a restore, a first
// seal).
type lineage struct{ _ byte }

func (s *segments) clone() *segments {
	if s == nil {
		return nil
	}
	n := *s
	n.starts = s.starts[:len(s.starts):len(s.starts)]
	n.dirty = slices.Clone(s.dirty)
	n.dirtyPub = slices.Clone(s.dirtyPub)
	return &n
}

func (s *segments) markDirty(start int64) {
	if !slices.Contains(s.dirty, start) {
		s.dirty = append(s.dirty, start)
	}
}

func (s *segments) markPub(k int) {
	if !slices.Contains(s.dirtyPub, k) {
		s.dirtyPub = append(s.dirtyPub, k)
	}
}

// find returns the index of the sealed segment holding time at, or -1
// when at is in the tail.
func (s *segments) find(at int64) int {
	if at >= s.tail {
		return -1
	}
	return sort.Search(len(s.starts), func(j int) bool { return s.starts[j] > at }) - 1
}

// end returns the time at which sealed segment j ends.
func (s *segments) end(j int) int64 {
	if j+1 < len(s.starts) {
		return s.starts[j+1]
	}
	return s.tail
}

// segs returns the channel's layout, or nil when it has no segments.
func (c *Channel) segs() *segments {
	if c.ext == nil {
		return nil
	}
	return c.ext.segs
}

// ownSegs returns the channel's layout ready to be changed, created empty
// (no segments, the tail from the start) when absent.
func (c *Channel) ownSegs() *segments {
	x := c.ownExt()
	if x.segs == nil {
		// The lists may be shared with a copy (clipped when it was
		// made): taken as shared whole until the store's next Commit.
		x.segs = &segments{tail: math.MinInt64, lineage: new(lineage), sharedEvents: len(c.events), sharedPub: len(c.published)}
	}
	return x.segs
}

// Segmented reports whether the channel's changelog state is in more than
// one record.
func (c *Channel) Segmented() bool {
	s := c.segs()
	return s != nil && (len(s.starts) > 0 || s.pubSealed > 0)
}

// firstAt returns the index of the first timeline event at or after t.
func (c *Channel) firstAt(t int64) int {
	return sort.Search(len(c.events), func(i int) bool { return c.events[i].time() >= t })
}

// tailFrom returns the index of the first event in the head.
func (c *Channel) tailFrom() int {
	if s := c.segs(); s != nil && len(s.starts) > 0 {
		return c.firstAt(s.tail)
	}
	return 0
}

// segRange returns the timeline indexes [lo, hi) of sealed segment j.
func (c *Channel) segRange(s *segments, j int) (lo, hi int) {
	lo = 0
	if j > 0 {
		lo = c.firstAt(s.starts[j])
	}
	return lo, c.firstAt(s.end(j))
}

// touched updates the layout for a change of the timeline at time at (an
// event added or taken away there): the sealed segment holding it is
// dirty, and split when it grew past 4*segEvents; a tail that reached
// 2*segEvents is sealed.
func (c *Channel) touched(at int64) {
	s := c.segs()
	if s == nil || len(s.starts) == 0 || at >= s.tail {
		if len(c.events)-c.tailFrom() >= 2*segEvents {
			c.seal()
		}
		return
	}
	s = c.ownSegs()
	j := s.find(at)
	s.markDirty(s.starts[j])
	if lo, hi := c.segRange(s, j); hi-lo > 4*segEvents {
		c.split(s, j, lo, hi)
	}
}

// boundary returns a time b that splits events [lo, hi) in two non-empty
// parts (before b, at or after b) near index m, or false when they all
// share one time.
func (c *Channel) boundary(lo, m, hi int) (int64, bool) {
	b := c.events[m].time()
	if b > c.events[lo].time() {
		return b, true
	}
	// Events lo to m are at one time: split after them.
	k := c.firstAt(b + 1)
	if k >= hi {
		return 0, false
	}
	return c.events[k].time(), true
}

// seal moves the tail's older events into a new sealed segment, leaving
// about segEvents in the tail; false when the whole tail is at one
// instant, which cannot be split.
func (c *Channel) seal() bool {
	s := c.ownSegs()
	lo := c.tailFrom()
	b, ok := c.boundary(lo, len(c.events)-segEvents, len(c.events))
	if !ok {
		return false
	}
	// Appended in place past a copy's length (clipped), or copied.
	s.starts = append(s.starts, s.tail)
	s.markDirty(s.tail)
	s.tail = b
	return true
}

// split splits sealed segment j (events lo to hi) in two.
func (c *Channel) split(s *segments, j, lo, hi int) {
	b, ok := c.boundary(lo, lo+(hi-lo)/2, hi)
	if !ok {
		return
	}
	n := make([]int64, 0, len(s.starts)+1)
	n = append(n, s.starts[:j+1]...)
	n = append(n, b)
	s.starts = append(n, s.starts[j+1:]...)
	s.markDirty(b)
}

// publishedChanged updates the layout for a change of published entry i
// (added: i is the new entry's index).
func (c *Channel) publishedChanged(i int, added bool) {
	switch {
	case i < c.headPublished():
		c.ownSegs().markPub(i / pubChunk)
	case added:
		c.sealPublished()
	}
}

// sealPublished seals published chunks while the head holds 2*pubChunk
// entries or more; each chunk sealed is new (dirty).
func (c *Channel) sealPublished() {
	for len(c.published)-c.headPublished() >= 2*pubChunk {
		s := c.ownSegs()
		s.markPub(s.pubSealed)
		s.pubSealed++
	}
}

// resegment lays out a timeline and published list set whole: every
// record is new (dirty).
func (c *Channel) resegment() {
	if c.ext != nil {
		c.ext.segs = nil
	}
	for len(c.events)-c.tailFrom() >= 2*segEvents {
		if !c.seal() {
			break // ties: the tail cannot be split
		}
	}
	c.sealPublished()
}

// clearDirty marks every record written and the lists owned: the store's
// Commit.
func (c *Channel) clearDirty() {
	if s := c.segs(); s != nil {
		s.dirty = s.dirty[:0]
		s.dirtyPub = s.dirtyPub[:0]
		s.sharedEvents, s.sharedPub = 0, 0
	}
}

// share marks the channel's lists shared with a copy of it just made (the
// store's undo). A segmented channel keeps its lists' spare capacity and
// notes the shared lengths, so that events and entries added after them
// cost no copy of the whole list (a long channel would copy it once per
// unit of work); other channels' lists are clipped (see Channel).
func (c *Channel) share() {
	if s := c.segs(); s != nil {
		s = c.ownSegs()
		s.sharedEvents, s.sharedPub = len(c.events), len(c.published)
		return
	}
	c.events = c.events[:len(c.events):len(c.events)]
	c.published = c.published[:len(c.published):len(c.published)]
}

// inPlace reports whether the timeline can change in place from index i
// (an insertion or removal there shifts the entries after it).
func (c *Channel) inPlace(i int) bool {
	if len(c.events) >= cap(c.events) {
		return false
	}
	s := c.segs()
	return s == nil || i >= s.sharedEvents
}

// pubInPlace reports whether published entry i (-1: a new one at the end)
// can be written in place.
func (c *Channel) pubInPlace(i int) bool {
	s := c.segs()
	if s == nil || i < 0 {
		return len(c.published) < cap(c.published)
	}
	return i >= s.sharedPub
}

// ownedEvents records that the timeline was copied: none of it is shared
// any more; ownedPub likewise for the published list.
func (c *Channel) ownedEvents() {
	if s := c.segs(); s != nil && s.sharedEvents != 0 {
		c.ownSegs().sharedEvents = 0
	}
}

func (c *Channel) ownedPub() {
	if s := c.segs(); s != nil && s.sharedPub != 0 {
		c.ownSegs().sharedPub = 0
	}
}

// headPublished returns the index of the first published entry in the
// head.
func (c *Channel) headPublished() int {
	if s := c.segs(); s != nil {
		return s.pubSealed * pubChunk
	}
	return 0
}
