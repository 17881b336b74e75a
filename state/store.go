package state

import (
	"container/heap"
	"sort"
)

// Change is one state change since the last Commit: the channel's new value,
// or nil when the channel was deleted (a tombstone in the changelog).
type Change struct {
	ChannelID string
	Channel   *Channel
}

// Store is the state of one input partition. It is not safe for concurrent
// use: one partition task owns it.
//
// Every mutation goes through Edit, Put or Delete, so the store knows which
// channels changed since the last Commit (Changes) and what they were before
// (Rollback). The first Edit of a channel in an epoch saves a copy of it.
type Store struct {
	channels   map[string]*Channel
	streamTime int64

	// Epoch bookkeeping, reset by Commit.
	dirty           map[string]struct{}
	undo            map[string]*Channel // value at the last commit; nil: absent
	undoStreamTime  int64
	streamTimeDirty bool
	// popped are the deadlines NextDue handed out this epoch; Rollback
	// re-arms those the restored channels still carry.
	popped []deadlineEntry

	deadlines deadlineHeap

	// counts are the committed state's totals, for Stats (stats.go).
	counts counts
}

// New returns an empty store.
func New() *Store { return NewSized(0) }

// NewSized returns an empty store with room for about n channels, as a
// restore knows from the changelog's size.
func NewSized(n int) *Store {
	return &Store{
		channels: make(map[string]*Channel, n),
		dirty:    make(map[string]struct{}),
		undo:     make(map[string]*Channel),
	}
}

// Len returns the number of channels held.
func (s *Store) Len() int { return len(s.channels) }

// StreamTime returns the partition's stream time: the largest data.timestamp
// seen, in Unix nanoseconds (0 before any event).
func (s *Store) StreamTime() int64 { return s.streamTime }

// AdvanceStreamTime moves stream time forward to t; it never moves back.
// It reports whether stream time moved.
func (s *Store) AdvanceStreamTime(t int64) bool {
	if t <= s.streamTime {
		return false
	}
	if !s.streamTimeDirty {
		s.undoStreamTime = s.streamTime
		s.streamTimeDirty = true
	}
	s.streamTime = t
	return true
}

// Get returns the channel for id, or nil. The result must not be modified;
// use Edit for that.
func (s *Store) Get(id string) *Channel { return s.channels[id] }

// Edit returns the channel for id ready to be modified, creating an empty one
// when absent, and marks it changed.
func (s *Store) Edit(id string) *Channel {
	c := s.channels[id]
	s.remember(id, c)
	if c == nil {
		c = &Channel{}
		s.channels[id] = c
	}
	return c
}

// Delete removes the channel for id (a tombstone in Changes).
func (s *Store) Delete(id string) {
	c, ok := s.channels[id]
	if !ok {
		return
	}
	s.remember(id, c)
	delete(s.channels, id)
}

func (s *Store) remember(id string, c *Channel) {
	if _, ok := s.dirty[id]; ok {
		return
	}
	s.dirty[id] = struct{}{}
	s.undo[id] = c.Clone()
}

// SetDeadline records when channel id next needs attention (in stream time)
// and schedules it. A zero deadline means never.
//
// A pending wake-up at or before deadline is kept instead: the channel is
// then handed out early by NextDue, finds nothing due and is rescheduled.
// Deadlines move later with nearly every event (each one extends
// retention), so this keeps one heap entry per channel instead of one per
// event. Deadline() is therefore the pending wake-up, never later than the
// deadline last set.
func (s *Store) SetDeadline(id string, c *Channel, deadline int64) {
	if c.scheduled && deadline != 0 && c.deadline <= deadline {
		return
	}
	c.deadline = deadline
	c.scheduled = deadline != 0
	if c.scheduled {
		heap.Push(&s.deadlines, deadlineEntry{at: deadline, id: id})
	}
}

// NextDue pops and returns the channel id whose deadline is earliest and
// strictly before now, or "" when none is due. Ties are returned in channel
// id order, so the result is deterministic.
func (s *Store) NextDue(now int64) string {
	for s.deadlines.Len() > 0 {
		e := s.deadlines[0]
		if e.at >= now {
			return ""
		}
		heap.Pop(&s.deadlines)
		if c := s.channels[e.id]; c != nil && c.scheduled && c.deadline == e.at {
			c.scheduled = false
			s.popped = append(s.popped, e)
			return e.id
		}
		// Stale entry: the channel was deleted or rescheduled.
	}
	return ""
}

// Changes returns the channels changed since the last Commit, in channel id
// order. A nil Channel is a deletion. Channels that were created and deleted
// again within the epoch are reported as deletions, which is harmless.
func (s *Store) Changes() []Change {
	out := make([]Change, 0, len(s.dirty))
	for id := range s.dirty {
		out = append(out, Change{ChannelID: id, Channel: s.channels[id]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ChannelID < out[j].ChannelID })
	return out
}

// StreamTimeChanged reports whether stream time moved since the last Commit.
func (s *Store) StreamTimeChanged() bool { return s.streamTimeDirty }

// Commit makes the current state the point that Rollback returns to.
func (s *Store) Commit() {
	for id := range s.dirty {
		s.counts.replace(s.undo[id], s.channels[id])
	}
	s.reset()
}

// reset starts a new epoch.
func (s *Store) reset() {
	clear(s.dirty)
	clear(s.undo)
	s.streamTimeDirty = false
	s.popped = s.popped[:0]
}

// Rollback returns the store to its state at the last Commit.
func (s *Store) Rollback() {
	for id, c := range s.undo {
		if c == nil {
			delete(s.channels, id)
			continue
		}
		s.channels[id] = c
		if c.deadline != 0 {
			// The heap entry may have been popped during the epoch;
			// a second entry for the same deadline is skipped as stale.
			c.scheduled = true
			heap.Push(&s.deadlines, deadlineEntry{at: c.deadline, id: id})
		}
	}
	// A channel NextDue popped without an Edit is not in undo: re-arm it.
	for _, e := range s.popped {
		if c := s.channels[e.id]; c != nil && !c.scheduled && c.deadline == e.at {
			c.scheduled = true
			heap.Push(&s.deadlines, e)
		}
	}
	if s.streamTimeDirty {
		s.streamTime = s.undoStreamTime
	}
	s.reset()
}

// Restore loads a channel read from the changelog, bypassing change tracking.
// A nil channel deletes. The caller schedules deadlines afterwards.
func (s *Store) Restore(id string, c *Channel) {
	s.counts.replace(s.channels[id], c)
	if c == nil {
		delete(s.channels, id)
		return
	}
	s.channels[id] = c
}

// RestoreStreamTime sets stream time from the changelog.
func (s *Store) RestoreStreamTime(t int64) {
	if t > s.streamTime {
		s.streamTime = t
	}
}

// Range calls fn for every channel until fn returns false. The order is
// unspecified. fn must not modify the store.
func (s *Store) Range(fn func(id string, c *Channel) bool) {
	for id, c := range s.channels {
		if !fn(id, c) {
			return
		}
	}
}

type deadlineEntry struct {
	at int64
	id string
}

type deadlineHeap []deadlineEntry

func (h deadlineHeap) Len() int { return len(h) }
func (h deadlineHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].id < h[j].id
}
func (h deadlineHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)   { *h = append(*h, x.(deadlineEntry)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
