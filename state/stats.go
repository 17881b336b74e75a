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
	if oldOpen == newOpen && oldAt == newAt {
		return // the common case: the open interruption did not change
	}
	if oldOpen {
		c.open--
		c.opens.remove(oldAt)
	}
	if newOpen {
		c.open++
		c.opens.add(newAt)
	}
}

// compactOpens rebuilds the set of open times from the channels when
// removed times make up most of it. It must only run when the channels are
// the committed state: after Commit, or while restoring.
func (s *Store) compactOpens() {
	t := &s.counts.opens
	if len(t.removed) <= len(t.added)/2+64 {
		return
	}
	t.added = t.added[:0]
	t.removed = t.removed[:0]
	s.Range(func(c *Channel) bool {
		if open, at, _ := c.Summary(); open {
			t.added = append(t.added, at)
		}
		return true
	})
	t.added.init()
}

// timeSet is a multiset of times with a cheap minimum: a min-heap of the
// times added and one of the times removed (each removed time was added).
// While both heaps have the same smallest time, that time was removed and
// both drop it. This costs one int64 per open interruption (a map of
// counts would cost five times that); the owner rebuilds the heaps when
// removed times pile up (Store.compactOpens).
type timeSet struct {
	added, removed int64Heap
}

func (t *timeSet) add(at int64) { t.added.push(at) }

func (t *timeSet) remove(at int64) { t.removed.push(at) }

// min returns the smallest time held, and false when the set is empty.
func (t *timeSet) min() (int64, bool) {
	for len(t.removed) > 0 && len(t.added) > 0 && t.added[0] == t.removed[0] {
		t.added.pop()
		t.removed.pop()
	}
	if len(t.added) == 0 {
		return 0, false
	}
	return t.added[0], true
}

// int64Heap is a min-heap of times. Its own push and pop avoid boxing
// each time in an interface, as container/heap would.
type int64Heap []int64

func (h *int64Heap) push(v int64) {
	*h = append(*h, v)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if a[p] <= a[i] {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *int64Heap) pop() {
	a := *h
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	*h = a
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && a[l] < a[m] {
			m = l
		}
		if r := l + 1; r < n && a[r] < a[m] {
			m = r
		}
		if m == i {
			return
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
}

// init establishes the heap order of any slice.
func (h int64Heap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		for j := i; ; {
			l, m := 2*j+1, j
			if l < len(h) && h[l] < h[m] {
				m = l
			}
			if r := l + 1; r < len(h) && h[r] < h[m] {
				m = r
			}
			if m == j {
				break
			}
			h[j], h[m] = h[m], h[j]
			j = m
		}
	}
}
