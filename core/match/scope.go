package match

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"

	"github.com/interruptions/interruptions/state"
)

// The engine decides, for each change of a channel, only the interruptions
// the change can have affected. After reconcile (or a restore the engine
// has checked) every interruption the channel's timeline derives is either
// current (its standing record says what the timeline says, and it is
// settled, so it stays current as the clock moves) or waiting: the one
// interruption still open (the summary's), or held for its grace period.
// An event placed at time t changes the walk only from t on, and the
// identity changes every record. So when the identity did not change and
// nothing is held, the interruptions that closed before t, except the
// summary's open one, are current without a look: reconcile decides only
// the others, and its cost per event does not grow with the number of
// interruptions the channel published.
//
// A change at t can also take an interruption away: an event at or after
// t that opened one no longer does (another event now opens before it, or
// a conflicting copy changed its type). The walk lists the events at or
// after t that open nothing (walk.notOpen); those with a standing record
// are retracted as with a whole look. Events before t keep their roles.
//
// A channel whose summary or published list the engine did not set
// (state.Channel.Stale: decoded from the changelog, perhaps under other
// settings), or that holds interruptions for their grace period, is
// decided whole. Tests check every partial decision against the whole
// one (Engine.verify).

// Times for a scope's from: the timeline did not change (only the clock
// moved), or the change is unknown and every interruption is decided.
const (
	changedNothing = math.MaxInt64
	changedAll     = math.MinInt64
)

// scope is the part of a walk an engine call decides: the interruptions
// from first on, with their opening hashes, and the channel's published
// records by hash.
type scope struct {
	first   int
	derived lookup // hash of interruption k's opening event -> k (k >= first)
	pub     lookup // hash -> index in the published list, built on demand
	pubDone bool
	// finds counts the searches of the published list before pub is
	// built: a few are cheaper as scans from its end (the newest).
	finds int
	// vanished: the standing records (published indexes) of events that
	// open nothing now, with first > 0.
	vanished []recordAt
	memo     *memo
}

// init sets sc to the scope of walk w of channel c for a change at from
// (changedNothing, changedAll or an event time).
func (sc *scope) init(e *Engine, c *state.Channel, w *walk, from int64) {
	sc.first, sc.pubDone, sc.finds, sc.vanished = e.unchanged(c, w, from), false, 0, sc.vanished[:0]
	sc.memo, _ = c.Memo().(*memo)
	sc.derived.reset()
	for k := sc.first; k < w.n; k++ {
		sc.derived.add(w.at(k).h, k)
	}
	if sc.first == 0 {
		return
	}
	// A standing record of an event that opens nothing now: the change
	// removed its interruption.
	for _, ev := range w.notOpen {
		if i := sc.published(c, c.EventHash(ev.k)); i >= 0 && !c.Published(i).Retracted {
			sc.vanished = append(sc.vanished, recordAt{pi: i, k: ev.k, r: ev.r})
		}
	}
}

// unchanged returns how many leading interruptions of walk w are current
// without a look, for a change at from (see the comment above): those
// that closed before from, except the summary's open one.
func (e *Engine) unchanged(c *state.Channel, w *walk, from int64) int {
	if from == changedAll {
		return 0
	}
	hasOpen, openAt, _ := c.Summary()
	// Interruptions close in time order, and the summary's open one is
	// the last the previous walk derived: the predicate is monotone.
	return w.base + sort.Search(w.n-w.base, func(k int) bool {
		d := w.at(w.base + k)
		return d.closedAt(c) >= from || (hasOpen && d.at == openAt)
	})
}

// prepare walks channel c into w for a change at from (see scope), from a
// checkpoint when the scope allows, and sets sc to the walk's scope. With
// keep, the walk leaves its checkpoints on c (being edited).
func (e *Engine) prepare(c *state.Channel, target int, w *walk, sc *scope, from int64, keep bool) {
	if _, _, held := c.Summary(); held != 0 || c.Stale() {
		from = changedAll // every interruption is decided: a whole walk
	}
	e.walkFrom(c, target, w, from, keep)
	sc.init(e, c, w, from)
}

// published returns the index of the published record opened by the event
// with hash h, or -1.
func (sc *scope) published(c *state.Channel, h uint64) int {
	if m := sc.memo; m != nil && m.pubAt != nil {
		i, ok := m.pubAt[h]
		switch {
		case !ok:
			return -1
		case i < c.NumPublished() && c.Published(i).Open == h:
			return i
		}
		return c.FindPublished(h) // a rollback took the entry back
	}
	if c.NumPublished() <= lookupSmall || (!sc.pubDone && sc.finds < 4) {
		sc.finds++
		return c.FindPublished(h)
	}
	if !sc.pubDone {
		sc.pub.reset()
		for i := range c.NumPublished() {
			sc.pub.add(c.Published(i).Open, i)
		}
		sc.pubDone = true
	}
	return sc.pub.find(h)
}

// put records p, the record of an interruption with published index pi
// (-1: new), on c, keeping the index.
func (sc *scope) put(c *state.Channel, pi int, p state.Published) {
	c.PutPublishedAt(pi, p)
	if pi >= 0 {
		return
	}
	if sc.pubDone {
		sc.pub.add(p.Open, c.NumPublished()-1)
	}
	if m := sc.memo; m != nil && m.pubAt != nil {
		m.pubAt[p.Open] = c.NumPublished() - 1
	}
}

// lookupSmall is how many entries a lookup searches linearly.
const lookupSmall = 16

// lookup maps 64-bit hashes to indexes: the first lookupSmall entries in
// an array searched linearly, more in a sorted list.
type lookup struct {
	arr  [lookupSmall]lookupEntry
	n    int
	more []lookupEntry // all entries once n > lookupSmall
	// sorted: more is sorted by h (find sorts it; an add then keeps it
	// sorted).
	sorted bool
}

type lookupEntry struct {
	h uint64
	i int
}

func (l *lookup) reset() { l.n, l.more, l.sorted = 0, l.more[:0], false }

// add adds h -> i.
func (l *lookup) add(h uint64, i int) {
	e := lookupEntry{h, i}
	switch {
	case l.n < lookupSmall:
		l.arr[l.n] = e
	case l.n == lookupSmall:
		l.more = append(append(l.more[:0], l.arr[:]...), e)
	case l.sorted:
		p, _ := slices.BinarySearchFunc(l.more, e, compareEntries)
		l.more = slices.Insert(l.more, p, e)
	default:
		l.more = append(l.more, e)
	}
	l.n++
}

// find returns the index h maps to (the first added, for a hash added
// twice), or -1.
func (l *lookup) find(h uint64) int {
	if l.n <= lookupSmall {
		for _, e := range l.arr[:l.n] {
			if e.h == h {
				return e.i
			}
		}
		return -1
	}
	if !l.sorted {
		slices.SortFunc(l.more, compareEntries)
		l.sorted = true
	}
	p, ok := slices.BinarySearchFunc(l.more, lookupEntry{h: h}, func(a, b lookupEntry) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return 0
	})
	if !ok {
		return -1
	}
	return l.more[p].i
}

// compareEntries orders by hash, then index.
func compareEntries(a, b lookupEntry) int {
	switch {
	case a.h < b.h:
		return -1
	case a.h > b.h:
		return 1
	case a.i < b.i:
		return -1
	case a.i > b.i:
		return 1
	}
	return 0
}

// settleVerified is settle, checked: it settles a copy of the channel
// deciding every interruption, then the channel itself as settle would, and
// panics when the two differ in anything they publish, record or return.
// Tests turn it on (Engine.verify); a difference is a bug in scope.
func (e *Engine) settleVerified(id string, c *state.Channel, target int, from, now int64, emit Emit, hk *Housekeeping) (role, int64, bool) {
	ref := c.Clone()
	var refOut []Interruption
	var refHk Housekeeping
	rr, rd, rg := e.settle(id, ref, target, changedAll, now, func(in Interruption) { refOut = append(refOut, in) }, &refHk)
	var out []Interruption
	before := *hk
	r, d, g := e.settle(id, c, target, from, now, func(in Interruption) { out = append(out, in); emit(in) }, hk)
	got := *hk
	got.subtract(before)
	if r != rr || d != rd || g != rg || got != refHk || !reflect.DeepEqual(out, refOut) || !reflect.DeepEqual(c.Data(), ref.Data()) {
		panic(fmt.Sprintf("match: deciding from %d differs from deciding all: role %v/%v deadline %d/%d gone %v/%v housekeeping %+v/%+v\nrecords %+v\nwant    %+v\nchannel %+v\nwant    %+v",
			from, r, rr, d, rd, g, rg, got, refHk, out, refOut, c.Data(), ref.Data()))
	}
	return r, d, g
}

// subtract subtracts o's counts from h.
func (h *Housekeeping) subtract(o Housekeeping) {
	h.Expired -= o.Expired
	h.Corrections -= o.Corrections
	h.Retractions -= o.Retractions
	h.Deleted -= o.Deleted
	h.Evicted -= o.Evicted
	h.InterruptedWhileInterrupted -= o.InterruptedWhileInterrupted
	h.AfterEnd -= o.AfterEnd
	h.ResumeWithoutInterruption -= o.ResumeWithoutInterruption
}

// Checkpoints of the walk: a channel of checkpointMin events or more
// keeps, every checkpointEvery events of its timeline, the walk's state at
// an instant boundary (state.Channel.SetMemo). A walk for a change at time
// t starts at the last checkpoint before t, so an event placed near the
// end of a long timeline walks only the events after that checkpoint.
// The checkpoints after t are dropped and made again.
const (
	checkpointMin   = 64
	checkpointEvery = 32
	// indexMin: a channel of this many events or more also keeps its
	// events and records by hash (memo.seen, memo.pubAt), about 40 bytes
	// an entry; below it a search of the timeline costs less than the
	// map would weigh.
	indexMin = 256
)

// memo is what the engine leaves on a channel: its walk's checkpoints, for
// the settings they were made with. Never changed once set.
type memo struct {
	maxNanos, retentionNanos int64
	cps                      cpList
	// seen holds the hash (state.HashEvent) of every event of the
	// timeline, and maybe more: an event whose hash is not in it is not
	// on the timeline (findEvent). It is the one part of a memo that
	// changes (placed adds to it), and copies share it; the events a
	// rollback removes stay in it, which only costs a search.
	seen map[uint64]struct{}
	// pubAt maps the Open of every published record to its index, and
	// maybe more (as seen): a hash not in it was never published; an
	// index a rollback took back is checked against the list.
	pubAt map[uint64]int
}

// findEvent is c.FindEvent(source, id), without the search of the
// timeline when the channel's memo says the event is not on it.
func (e *Engine) findEvent(c *state.Channel, source, id string) int {
	if m, _ := c.Memo().(*memo); m != nil && m.seen != nil {
		if _, ok := m.seen[state.HashEvent(source, id)]; !ok {
			return -1
		}
	}
	return c.FindEvent(source, id)
}

// placed records in the channel's memo that the event (source, id) is on
// its timeline now.
func (e *Engine) placed(c *state.Channel, source, id string) {
	if m, _ := c.Memo().(*memo); m != nil && m.seen != nil {
		m.seen[state.HashEvent(source, id)] = struct{}{}
	}
}

// checkpoint is the walk's state after the events [0, pos), which are all
// earlier than event pos.
type checkpoint struct {
	pos int
	// at is event pos-1's time: the checkpoint holds while no event at
	// or before it is placed or moved.
	at int64
	// n interruptions were derived before pos, the last of them prev.
	n        int
	prev     derived
	open     bool
	cur      derived
	ended    bool
	endUntil int64
}

// checkpoints returns the channel's checkpoints before from (all of them
// for changedNothing; none for changedAll).
//
// They hold: every change of a timeline goes through settle, whose walk
// starts before the change and replaces the checkpoints after it; a
// rollback restores the memo of the timeline it restores (the store's
// undo copy keeps the overflow, and SetMemo replaces a shared one); a
// value set from outside (Set, a restore) has no memo. They are made for
// the engine's settings, and another engine's are not used.
func (e *Engine) checkpoints(c *state.Channel, from int64) cpList {
	m, _ := c.Memo().(*memo)
	if from == changedAll || m == nil || m.maxNanos != e.maxNanos || m.retentionNanos != e.retentionNanos {
		return cpList{}
	}
	return m.cps.prefix(sort.Search(m.cps.n, func(k int) bool { return m.cps.at(k).at >= from }))
}

// cpBlock is how many checkpoints a block of a cpList holds.
const cpBlock = 64

// cpList is a list of checkpoints in blocks of cpBlock, so that a memo
// made from another's first k checkpoints plus new ones shares the other's
// full blocks: a late event that replaces the last few checkpoints of a
// long channel copies one block, not the list. Blocks a list shares are
// never written: prefix clips them, and add copies a shared block before
// its first write.
type cpList struct {
	blocks [][]checkpoint
	n      int
	// owned: the last block is this list's own (add made it), and may be
	// written.
	owned bool
}

// at returns checkpoint i.
func (l *cpList) at(i int) *checkpoint { return &l.blocks[i/cpBlock][i%cpBlock] }

// prefix returns the list of l's first k checkpoints, sharing l's blocks.
func (l *cpList) prefix(k int) cpList {
	nb := (k + cpBlock - 1) / cpBlock
	return cpList{blocks: l.blocks[:nb:nb], n: k}
}

// add appends cp.
func (l *cpList) add(cp checkpoint) {
	i := l.n % cpBlock
	switch {
	case i == 0:
		l.blocks = append(l.blocks, make([]checkpoint, 0, cpBlock))
		l.owned = true
	case !l.owned:
		b := make([]checkpoint, i, cpBlock)
		copy(b, l.blocks[len(l.blocks)-1])
		l.blocks = append(l.blocks[:len(l.blocks)-1:len(l.blocks)-1], b)
		l.owned = true
	}
	last := len(l.blocks) - 1
	l.blocks[last] = append(l.blocks[last], cp)
	l.n++
}
