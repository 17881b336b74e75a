package state

import "slices"

// Tomb is what a channel keeps of its state after the engine deleted it
// (retention passed): enough that an event of the channel arriving later
// is placed against what it published. A channel whose state is only a
// tomb has no events; a channel with events may carry the tomb of its
// deleted predecessor. A Tomb is never changed once set: SetTomb replaces
// it.
type Tomb struct {
	// Until: the tomb governs the channel's events up to this time (one
	// more retention after the channel's deletion horizon, in the
	// engine); it is dropped once they are all too late.
	Until int64
	// Ended: the deleted channel had ended (channel.ended or
	// channel.disconnected) and stays ended for its events up to
	// EndedUntil (the end + retention, in the engine).
	Ended      bool
	EndedUntil int64
	// Events are the hashes (HashEvent) of the (source, id) of every
	// event the deleted channel held, sorted and distinct: a later copy
	// of one of them is a duplicate, whatever its time.
	Events []uint64
}

// Has reports whether h is the hash of an event the deleted channel held.
func (t *Tomb) Has(h uint64) bool {
	_, ok := slices.BinarySearch(t.Events, h)
	return ok
}

// Tomb returns the tomb the channel carries, or nil.
func (c *Channel) Tomb() *Tomb {
	if c.ext == nil {
		return nil
	}
	return c.ext.tomb
}

// SetTomb sets the tomb the channel carries (nil: none). The channel keeps
// t, which must not change afterwards; t.Events must be sorted.
func (c *Channel) SetTomb(t *Tomb) {
	if t == nil && c.Tomb() == nil {
		return
	}
	c.ownExt().tomb = t
	c.tidy()
}
