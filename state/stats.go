package state

// Stats describes a store's committed state, for metrics.
type Stats struct {
	// Channels held (as of the last Commit or restore).
	Channels int
	// Open interruptions, and closed interruptions waiting for their
	// grace period, over all channels.
	Open, Held int
	// OldestOpen is the interruptedAt of the oldest open interruption, in
	// Unix nanoseconds; HasOpen is false when none is open.
	OldestOpen int64
	HasOpen    bool
	// StreamTime is the partition's stream time (0 before any event).
	StreamTime int64
}

// Stats returns the counts of the state as of the last Commit (or restore):
// changes since then are not counted yet. It costs O(1): the counts are
// kept up to date by Commit and Restore from the changed channels only.
func (s *Store) Stats() Stats {
	st := Stats{
		Channels:   s.counts.channels,
		Open:       s.counts.opens.n,
		Held:       s.counts.held,
		StreamTime: s.streamTime,
	}
	if e, ok := s.counts.opens.first(); ok {
		st.OldestOpen, st.HasOpen = e.at, true
	}
	return st
}

// counts are a store's committed totals: kept by Commit (for the channels
// changed in the epoch: the value saved by the first Edit against the value
// now) and by Restore, which loads a store with no changes pending.
type counts struct {
	channels, held int
	// opens holds the channels with an open interruption.
	opens openIndex
}

// replace accounts for channel object obj changing from value old to the
// value of object new (either nil: absent). old is obj's value at the
// last commit (obj itself, or the copy the epoch saved); new is obj, or
// the object that replaced it when the channel was deleted and created
// again.
func (c *counts) replace(obj, old, new *Channel) {
	var oldOpen, newOpen bool
	var oldAt, newAt int64
	if old != nil {
		var held int
		oldOpen, oldAt, held = old.Summary()
		c.channels--
		c.held -= held
	}
	if new != nil {
		var held int
		newOpen, newAt, held = new.Summary()
		c.channels++
		c.held += held
	}
	if oldOpen == newOpen && oldAt == newAt && obj == new {
		return // the common case: the open interruption did not change
	}
	if oldOpen {
		c.opens.remove(openEntry{at: oldAt, c: obj})
	}
	if newOpen {
		c.opens.add(openEntry{at: newAt, c: new})
	}
}
