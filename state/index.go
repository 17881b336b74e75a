package state

import "hash/maphash"

// key is a channel id packed as a Channel holds it: a binary UUID, a short
// id inline, or the id itself.
type key struct {
	id   ident
	kind uint8
	long string // when kind is kindLong
}

func makeKey(id string) key {
	var k key
	k.id, k.kind = packIdent(id, len(ident{}))
	if k.kind == kindLong {
		k.long = id
	}
	return k
}

func (k *key) matches(c *Channel) bool {
	return c.kinds[fieldID] == k.kind && c.ids[fieldID] == k.id && (k.kind != kindLong || c.long(fieldID) == k.long)
}

// index is a hash set of channels by id: open addressing with linear probing
// over slots of a channel pointer and its key's hash, which costs a fraction
// of a Go map's per-entry overhead. A probe compares the hash first and
// reads a channel only when it matches: the channels are scattered in the
// heap, and a lookup of an id that is absent (every new channel) probes
// several slots at three quarters full. The channel holds its own key. The
// seed is per index, so the probe sequences of channel ids chosen by a
// sender are not predictable.
type index struct {
	slots []slot // len is a power of two, or 0
	n     int
	seed  maphash.Seed
}

// slot is one entry of an index: c nil when empty.
type slot struct {
	c *Channel
	h uint64
}

func newIndex(n int) index {
	t := index{seed: maphash.MakeSeed()}
	size := 8
	for size*3 < n*4 {
		size *= 2
	}
	t.slots = make([]slot, size)
	return t
}

func (t *index) hash(kind uint8, id *ident, long string) uint64 {
	if kind == kindLong {
		return maphash.String(t.seed, long)
	}
	return maphash.Bytes(t.seed, id[:]) ^ uint64(kind)*0x9e3779b97f4a7c15
}

func (t *index) hashOf(c *Channel) uint64 {
	return t.hash(c.kinds[fieldID], &c.ids[fieldID], c.long(fieldID))
}

// get returns the channel with key k, or nil.
func (t *index) get(k *key) *Channel {
	mask := uint64(len(t.slots) - 1)
	h := t.hash(k.kind, &k.id, k.long)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.c == nil || (s.h == h && k.matches(s.c)) {
			return s.c
		}
	}
}

// insert adds c, whose key is not in the index.
func (t *index) insert(c *Channel) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	t.place(slot{c: c, h: t.hashOf(c)})
	t.n++
}

func (t *index) place(s slot) {
	mask := uint64(len(t.slots) - 1)
	i := s.h & mask
	for t.slots[i].c != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = s
}

func (t *index) grow() {
	old := t.slots
	t.slots = make([]slot, 2*len(old))
	for _, s := range old {
		if s.c != nil {
			t.place(s)
		}
	}
}

// remove takes c, which is in the index, out of it.
func (t *index) remove(c *Channel) {
	mask := uint64(len(t.slots) - 1)
	i := t.hashOf(c) & mask
	for t.slots[i].c != c {
		i = (i + 1) & mask
	}
	// Backward-shift deletion: move later entries of the probe run into
	// the gap unless their home slot lies cyclically after the gap.
	for j := (i + 1) & mask; t.slots[j].c != nil; j = (j + 1) & mask {
		home := t.slots[j].h & mask
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = slot{}
	t.n--
}
