package state

import "slices"

// openIndex holds the channels of a store's committed state that have an
// open interruption, ordered by its start (Summary's openAt), ties by
// channel id: the state API walks the oldest first and stops after what
// it needs, and Stats reads the oldest.
//
// It is a sorted list of blocks (as Python's sortedcontainers keeps one):
// each block a sorted slice of at most openBlockMax entries, the blocks in
// order. Adding or removing an entry costs a binary search over the blocks
// and one within a block, and moves at most openBlockMax entries; adding
// to a full block splits it in two (or, after its last entry, starts a new
// one), and the blocks slice moves only then. An entry is 16 bytes: about
// 16 when starts come in time order (full blocks), up to 32 when they come
// at random (blocks half to completely full).
//
// Each entry holds the start it is ordered by (the committed openAt; the
// channel object's own may have changed since, in the epoch in progress)
// and the channel object, which holds the channel's id and stays the same
// object for as long as the channel exists (see Store).
type openIndex struct {
	blocks [][]openEntry
	n      int
}

// openEntry is one channel with an open interruption that started at at.
type openEntry struct {
	at int64
	c  *Channel
}

// openBlockMax is the most entries a block holds (2 KiB).
const openBlockMax = 128

// compareOpen orders entries by start, then channel id.
func compareOpen(a, b openEntry) int {
	switch {
	case a.at < b.at:
		return -1
	case a.at > b.at:
		return 1
	case a.c == b.c:
		return 0
	}
	return compareIDs(a.c, b.c)
}

// block returns the index of the first block whose last entry is not
// before e, or the last block when e is after them all (-1: no blocks).
func (x *openIndex) block(e openEntry) int {
	i, _ := slices.BinarySearchFunc(x.blocks, e, func(b []openEntry, e openEntry) int { return compareOpen(b[len(b)-1], e) })
	return min(i, len(x.blocks)-1)
}

// add adds e; no entry of the same channel may be in the index.
func (x *openIndex) add(e openEntry) {
	x.n++
	if len(x.blocks) == 0 {
		x.blocks = append(x.blocks, []openEntry{e})
		return
	}
	bi := x.block(e)
	b := x.blocks[bi]
	j, _ := slices.BinarySearchFunc(b, e, compareOpen)
	if len(b) == openBlockMax {
		if j == len(b) && bi == len(x.blocks)-1 {
			// After every entry, as starts mostly come in time order:
			// a new block, and the full one stays full.
			x.blocks = append(x.blocks, []openEntry{e})
			return
		}
		// Split: each half its own slice of its own length (it grows
		// when added to), so that neither writes into the other's.
		h := len(b) / 2
		lo, hi := slices.Clone(b[:h]), slices.Clone(b[h:])
		x.blocks[bi] = lo
		x.blocks = slices.Insert(x.blocks, bi+1, hi)
		if j > h {
			bi, j, b = bi+1, j-h, hi
		} else {
			b = lo
		}
	}
	x.blocks[bi] = slices.Insert(b, j, e)
}

// remove removes e, which must be in the index: the same start and the
// same channel object. It panics otherwise: the index no longer mirrors
// the committed state, and the state API would answer wrongly.
func (x *openIndex) remove(e openEntry) {
	if len(x.blocks) == 0 {
		panic("state: open index: removing from an empty index")
	}
	bi := x.block(e)
	b := x.blocks[bi]
	j, found := slices.BinarySearchFunc(b, e, compareOpen)
	if !found || b[j] != e {
		panic("state: open index: removing a channel it does not hold")
	}
	b = slices.Delete(b, j, j+1) // clears the freed slot for the collector
	x.n--
	switch {
	case len(b) == 0:
		x.blocks = slices.Delete(x.blocks, bi, bi+1)
	case len(b) < openBlockMax/4 && bi+1 < len(x.blocks) && len(b)+len(x.blocks[bi+1]) <= openBlockMax:
		// A block that ran low joins the next one, so that closing
		// interruptions leaves no long tail of near-empty blocks.
		x.blocks[bi] = append(b, x.blocks[bi+1]...)
		x.blocks = slices.Delete(x.blocks, bi+1, bi+2)
	default:
		x.blocks[bi] = b
	}
}

// first returns the oldest entry, and false when the index is empty.
func (x *openIndex) first() (openEntry, bool) {
	if len(x.blocks) == 0 {
		return openEntry{}, false
	}
	return x.blocks[0][0], true
}

// each calls fn for each entry in order until fn returns false.
func (x *openIndex) each(fn func(openEntry) bool) {
	for _, b := range x.blocks {
		for _, e := range b {
			if !fn(e) {
				return
			}
		}
	}
}

// RangeOpen calls fn for each channel that has an open interruption in
// the committed state (as of the last Commit or restore: Summary reports
// it open), oldest start first, ties in channel id order, until fn returns
// false. fn gets the committed value, as Committed returns it (the
// channel's Summary gives the start it is ordered by); it must not modify
// it nor change the store.
//
// The walk costs only the channels handed to fn: the state API stops it
// after the few it needs, whatever the number of channels or open
// interruptions. The epoch in progress changes neither the order nor the
// values fn sees.
func (s *Store) RangeOpen(fn func(c *Channel) bool) {
	s.counts.opens.each(func(e openEntry) bool {
		c := e.c
		if len(s.undo) > 0 {
			c = s.Committed(e.c.ID())
		}
		return fn(c)
	})
}
