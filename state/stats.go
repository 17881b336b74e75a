package state

import "container/heap"

// Stats describes a store's committed state, for metrics.
type Stats struct {
	// Channels held (as of the last Commit or restore).
	Channels int
	// Open interruptions and held closes over all channels.
	Open, Held int
	// OldestOpen is the interruptedAt of the oldest open interruption, in
	// Unix nanoseconds; HasOpen is false when none is open.
	OldestOpen int64
	HasOpen    bool
	// StreamTime is the partition's stream time (0 before any event).
	StreamTime int64
}

// Stats returns the counts of the state as of the last Commit (or restore):
// changes since then are not counted yet. It costs O(1) amortised: the
// counts are kept up to date by Commit and Restore from the changed
// channels only.
func (s *Store) Stats() Stats {
	st := Stats{
		Channels:   s.counts.channels,
		Open:       s.counts.open,
		Held:       s.counts.held,
		StreamTime: s.streamTime,
	}
	st.OldestOpen, st.HasOpen = s.counts.opens.min()
	return st
}

// counts are a store's committed totals: kept by Commit (for the channels
// changed in the epoch: the value saved by the first Edit against the value
// now) and by Restore, which loads a store with no changes pending.
type counts struct {
	channels, open, held int
	// opens holds the interruptedAt of every open interruption.
	opens timeSet
}

// replace accounts for a channel changing from old to new (either nil:
// absent).
func (c *counts) replace(old, new *Channel) {
	if old != nil {
		c.channels--
		c.open -= len(old.Open)
		c.held -= len(old.Held)
	}
	if new != nil {
		c.channels++
		c.open += len(new.Open)
		c.held += len(new.Held)
	}
	if old != nil && new != nil && sameTimes(old.Open, new.Open) {
		return // the common case: the open interruptions did not change
	}
	if old != nil {
		for _, r := range old.Open {
			c.opens.remove(r.At)
		}
	}
	if new != nil {
		for _, r := range new.Open {
			c.opens.add(r.At)
		}
	}
}

func sameTimes(a, b []Ref) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].At != b[i].At {
			return false
		}
	}
	return true
}

// timeSet is a multiset of times with a cheap minimum: a count per time and
// a min-heap of the times, from which removed times are dropped lazily when
// they reach the top. The heap is rebuilt when stale entries outnumber the
// live ones, so its size stays within twice the number of distinct times.
type timeSet struct {
	n    map[int64]int
	heap int64Heap
}

func (t *timeSet) add(at int64) {
	if t.n == nil {
		t.n = make(map[int64]int)
	}
	t.n[at]++
	if t.n[at] > 1 {
		return
	}
	if len(t.heap) > 2*len(t.n)+64 {
		t.heap = t.heap[:0]
		for v := range t.n {
			t.heap = append(t.heap, v)
		}
		heap.Init(&t.heap)
		return // at is in n, so now in the heap
	}
	heap.Push(&t.heap, at)
}

func (t *timeSet) remove(at int64) {
	switch c := t.n[at]; {
	case c > 1:
		t.n[at] = c - 1
	case c == 1:
		delete(t.n, at)
	}
}

// min returns the smallest time held, and false when the set is empty.
func (t *timeSet) min() (int64, bool) {
	for len(t.heap) > 0 {
		if at := t.heap[0]; t.n[at] > 0 {
			return at, true
		}
		heap.Pop(&t.heap)
	}
	return 0, false
}

type int64Heap []int64

func (h int64Heap) Len() int           { return len(h) }
func (h int64Heap) Less(i, j int) bool { return h[i] < h[j] }
func (h int64Heap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *int64Heap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *int64Heap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}
