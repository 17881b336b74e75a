package state

import (
	"bytes"
)

// Change is one state change since the last Commit: the channel's new value,
// or nil when the channel was deleted (a tombstone in the changelog).
type Change struct {
	ChannelID string
	Channel   *Channel
	// Old is the channel's value at the last Commit (nil: none). It
	// names the records of a segmented channel the change deletes.
	Old *Channel
}

// Store is the state of one input partition. It is not safe for concurrent
// use: one partition task owns it.
//
// Every mutation goes through Edit, Delete or Restore, so the store knows
// which channels changed since the last Commit (Changes) and what they were
// before (Rollback). The first Edit of a channel in an epoch saves a copy of
// it. A *Channel stays the same object for as long as the channel exists:
// Rollback copies saved values back into it.
type Store struct {
	channels   index
	streamTime int64

	// Epoch bookkeeping, reset by Commit: the channels changed in the
	// epoch (by id, as an index into undo) and their saved values.
	dirty           map[string]int
	undo            []undoEntry
	undoStreamTime  int64
	streamTimeDirty bool
	// popped are the deadlines NextDue handed out this epoch; Rollback
	// re-arms those the restored channels still carry.
	popped []deadlineEntry
	// orphans are changelog keys of segment records no channel names
	// (Loader.Finish): the next changelog write deletes them.
	orphans []string

	deadlines deadlineHeap

	// counts are the committed state's totals, for Stats (stats.go).
	counts counts

	// lastKey is the packed lastID: the engine looks a channel up a few
	// times in a row (Get, then Edit).
	lastID  string
	lastKey key
}

// key returns id packed (valid until the next call).
func (s *Store) key(id string) *key {
	if id != s.lastID {
		s.lastID, s.lastKey = id, makeKey(id)
	}
	return &s.lastKey
}

// undoEntry is a channel's state at the last commit.
type undoEntry struct {
	id string
	// c is the channel object then; nil: the channel was absent.
	c     *Channel
	saved Channel // a deep copy of *c then
}

// New returns an empty store.
func New() *Store { return NewSized(0) }

// NewSized returns an empty store with room for about n channels, as a
// restore knows from the changelog's size.
func NewSized(n int) *Store {
	return &Store{
		channels: newIndex(n),
		dirty:    make(map[string]int),
	}
}

// Len returns the number of channels held.
func (s *Store) Len() int { return s.channels.n }

// StreamTime returns the partition's stream time (the partition clock): the
// largest data.timestamp the engine placed, in Unix nanoseconds (0 before
// any event).
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
func (s *Store) Get(id string) *Channel { return s.channels.get(s.key(id)) }

// Edit returns the channel for id ready to be modified, creating an empty one
// when absent, and marks it changed.
func (s *Store) Edit(id string) *Channel {
	k := s.key(id)
	c := s.channels.get(k)
	s.remember(id, c)
	if c == nil {
		c = &Channel{}
		c.setKey(k)
		s.insert(c)
	}
	return c
}

// Delete removes the channel for id (a tombstone in Changes).
func (s *Store) Delete(id string) {
	c := s.Get(id)
	if c == nil {
		return
	}
	s.remember(id, c)
	s.drop(c)
}

func (s *Store) insert(c *Channel) {
	s.channels.insert(c)
	c.flags |= flagLive
}

// drop takes c out of the index; its pending deadline entries go stale.
func (s *Store) drop(c *Channel) {
	s.channels.remove(c)
	c.flags &^= flagLive | flagScheduled
}

func (s *Store) remember(id string, c *Channel) {
	if _, ok := s.dirty[id]; ok {
		return
	}
	s.dirty[id] = len(s.undo)
	u := undoEntry{id: id, c: c}
	if c != nil {
		// The copy shares c's overflow until c changes it.
		u.saved = *c
		c.shareExt()
		// The lists are shared with the saved copy: what it holds is
		// never changed in place (see Channel.share).
		c.share()
	}
	s.undo = append(s.undo, u)
}

// SetDeadline records when channel c next needs attention (in stream time)
// and schedules it. A zero deadline means never.
//
// A pending wake-up at or before deadline is kept instead: the channel is
// then handed out early by NextDue, finds nothing due and is rescheduled.
// Deadlines move later with nearly every event (each one extends
// retention), so this keeps one heap entry per channel instead of one per
// event. Deadline() is therefore the pending wake-up, never later than the
// deadline last set.
func (s *Store) SetDeadline(c *Channel, deadline int64) {
	if c.flags&flagScheduled != 0 && deadline != 0 && c.deadline <= deadline {
		return
	}
	c.deadline = deadline
	c.flags &^= flagScheduled
	if deadline != 0 {
		c.flags |= flagScheduled
		s.deadlines.push(deadlineEntry{at: deadline, c: c})
	}
}

// NextDue pops and returns the channel id whose deadline is earliest and
// strictly before now, or "" when none is due. Ties are returned in channel
// id order, so the result is deterministic.
func (s *Store) NextDue(now int64) string {
	for len(s.deadlines) > 0 {
		e := s.deadlines[0]
		if e.at >= now {
			return ""
		}
		s.deadlines.pop()
		if c := e.c; c.flags&(flagLive|flagScheduled) == flagLive|flagScheduled && c.deadline == e.at {
			c.flags &^= flagScheduled
			s.popped = append(s.popped, e)
			return c.ID()
		}
		// Stale entry: the channel was deleted or rescheduled.
	}
	return ""
}

// Changes returns the channels changed since the last Commit, in the order
// of their first change in the epoch (deterministic for a given input; no
// sort on the commit path). A nil Channel is a deletion. Channels that were created and deleted
// again within the epoch are reported as deletions, which is harmless.
func (s *Store) Changes() []Change {
	out := make([]Change, 0, len(s.undo))
	for i := range s.undo {
		u := &s.undo[i]
		ch := Change{ChannelID: u.id, Channel: s.Get(u.id)}
		if u.c != nil {
			ch.Old = &u.saved
		}
		out = append(out, ch)
	}
	return out
}

// StreamTimeChanged reports whether stream time moved since the last Commit.
func (s *Store) StreamTimeChanged() bool { return s.streamTimeDirty }

// Commit makes the current state the point that Rollback returns to.
func (s *Store) Commit() {
	for i := range s.undo {
		u := &s.undo[i]
		var old *Channel
		if u.c != nil {
			old = &u.saved
		}
		s.counts.replace(u.c, old, s.Get(u.id))
		if u.c != nil && u.c.ext == u.saved.ext {
			u.c.flags &^= flagExtShared // the saved copy is dropped
		}
		c := u.c
		if c == nil || c.flags&flagLive == 0 {
			c = s.Get(u.id) // created, or deleted and created again, in the epoch
		}
		if c != nil {
			c.clearDirty() // written
		}
	}
	s.orphans = s.orphans[:0]
	s.reset()
}

// reset starts a new epoch.
func (s *Store) reset() {
	clear(s.dirty)
	clear(s.undo) // drop references for the collector
	s.undo = s.undo[:0]
	s.streamTimeDirty = false
	s.popped = s.popped[:0]
}

// Rollback returns the store to its state at the last Commit.
func (s *Store) Rollback() {
	for i := range s.undo {
		u := &s.undo[i]
		cur := s.Get(u.id)
		if cur != nil && cur != u.c {
			s.drop(cur) // created in the epoch
		}
		if u.c == nil {
			continue
		}
		*u.c = u.saved
		if cur != u.c {
			s.channels.insert(u.c) // deleted in the epoch
		}
		u.c.flags |= flagLive
		if u.c.deadline != 0 {
			// The heap entry may have been popped during the epoch;
			// a second entry for the same deadline is skipped as stale.
			u.c.flags |= flagScheduled
			s.deadlines.push(deadlineEntry{at: u.c.deadline, c: u.c})
		}
	}
	// A channel NextDue popped without an Edit is not in undo: re-arm it.
	for _, e := range s.popped {
		if c := e.c; c.flags&(flagLive|flagScheduled) == flagLive && c.deadline == e.at {
			c.flags |= flagScheduled
			s.deadlines.push(e)
		}
	}
	if s.streamTimeDirty {
		s.streamTime = s.undoStreamTime
	}
	s.reset()
}

// Restore loads a channel read from the changelog, bypassing change tracking:
// call it with no changes pending (as a restore does, or after Commit). A
// nil channel deletes. The caller schedules deadlines afterwards. The store
// keeps c, which must not be in a store already.
func (s *Store) Restore(id string, c *Channel) {
	k := s.key(id)
	old := s.channels.get(k)
	if old != nil {
		s.drop(old)
	}
	if c != nil {
		c.setKey(k) // before the counts: the open index orders by id
		c.flags &^= flagScheduled
		s.insert(c)
	}
	s.counts.replace(old, old, c)
}

// RestoreStreamTime sets stream time from the changelog.
func (s *Store) RestoreStreamTime(t int64) {
	if t > s.streamTime {
		s.streamTime = t
	}
}

// Range calls fn for every channel until fn returns false. The order is
// unspecified. fn must not add or delete channels; Channel.ID gives a
// channel's id.
func (s *Store) Range(fn func(c *Channel) bool) {
	for _, sl := range s.channels.slots {
		c := sl.c
		if c != nil && !fn(c) {
			return
		}
	}
}

// deadlineEntry is a wake-up of channel c at stream time at. Entries of
// deleted or rescheduled channels stay in the heap until popped; they are
// recognised as stale then.
type deadlineEntry struct {
	at int64
	c  *Channel
}

// deadlineHeap is a min-heap by (at, channel id). Its own push and pop
// avoid boxing each entry in an interface, as container/heap would.
type deadlineHeap []deadlineEntry

func (h deadlineHeap) less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return compareIDs(h[i].c, h[j].c) < 0
}

func (h *deadlineHeap) push(e deadlineEntry) {
	*h = append(*h, e)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if !a.less(i, p) {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

// pop removes the smallest entry.
func (h *deadlineHeap) pop() {
	a := *h
	n := len(a) - 1
	a[0] = a[n]
	a[n] = deadlineEntry{} // drop the reference for the collector
	a = a[:n]
	*h = a
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && a.less(l, m) {
			m = l
		}
		if r := l + 1; r < n && a.less(r, m) {
			m = r
		}
		if m == i {
			return
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
}

// compareIDs compares the ids of a and b as strings.
func compareIDs(a, b *Channel) int {
	if a.kinds[fieldID] == kindUUID && b.kinds[fieldID] == kindUUID {
		// Hex digits sort as the nibbles they stand for, and the
		// dashes are at the same places.
		return bytes.Compare(a.ids[fieldID][:], b.ids[fieldID][:])
	}
	var x, y [64]byte
	return bytes.Compare(a.appendID(x[:0]), b.appendID(y[:0]))
}

// Committed returns the channel for id as of the last Commit (nil when it
// did not exist then), without the changes of the epoch in progress: what
// readers outside the transaction may see. The result must not be
// modified, and is valid only until the store changes.
func (s *Store) Committed(id string) *Channel {
	if i, ok := s.dirty[id]; ok {
		u := &s.undo[i]
		if u.c == nil {
			return nil
		}
		return &u.saved
	}
	return s.Get(id)
}

// CommittedStreamTime returns the stream time as of the last Commit.
func (s *Store) CommittedStreamTime() int64 {
	if s.streamTimeDirty {
		return s.undoStreamTime
	}
	return s.streamTime
}

// ResetStreamTime sets stream time to t, even backwards: only for a clock
// restored from the changelog that cannot be trusted (see the runtime's
// restore). The new value is written to the changelog at the next commit
// and is what a rollback returns to.
func (s *Store) ResetStreamTime(t int64) {
	s.streamTime, s.undoStreamTime, s.streamTimeDirty = t, t, true
}
