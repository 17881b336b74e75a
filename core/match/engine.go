package match

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/state"
)

// Outcome is how an interruption ended.
type Outcome uint8

// The outcomes of an interruption.
const (
	// OutcomeResumed: a channel.resumed closed it.
	OutcomeResumed Outcome = iota + 1
	// OutcomeEnded: channel.ended or channel.disconnected closed it.
	OutcomeEnded
	// OutcomeExpired: no closing event within interruptedAt +
	// max-interruption.
	OutcomeExpired
)

// String returns the outcome as written in records: resumed, ended,
// expired, and the other phases' (connected, failed, wrap, retrieved,
// unparked, disconnected).
func (o Outcome) String() string {
	switch o {
	case OutcomeResumed:
		return "resumed"
	case OutcomeEnded:
		return "ended"
	case OutcomeExpired:
		return "expired"
	case OutcomeConnected:
		return "connected"
	case OutcomeFailed:
		return "failed"
	case OutcomeWrap:
		return "wrap"
	case OutcomeRetrieved:
		return "retrieved"
	case OutcomeUnparked:
		return "unparked"
	case OutcomeDisconnected:
		return "disconnected"
	default:
		return "unknown"
	}
}

// Reason says why a published interruption was retracted: what its opening
// event became on the timeline.
type Reason string

// The reasons of a retraction.
const (
	// ReasonInterruptedWhileInterrupted: a late earlier interrupted now
	// starts that period; the opening event falls inside it.
	ReasonInterruptedWhileInterrupted Reason = "interrupted-while-interrupted"
	// ReasonAfterEnd: a late ended or disconnected precedes the opening
	// event.
	ReasonAfterEnd Reason = "after-end"
	// ReasonReopened: a late event took the interruption's closing event
	// (it now closes an earlier interruption), so the interruption is open
	// again; it is published again when it closes or expires.
	ReasonReopened Reason = "reopened"
)

// Interruption is one published revision of an interruption: what the
// engine emits and the encoder turns into an output CloudEvent. An
// interruption is identified by its channel and its opening event
// (OpenedBy); each change publishes the next Revision.
type Interruption struct {
	// Phase is empty for an interruption, and the phase's name (Phase)
	// for a phase matcher's record: InterruptedAt is then the phase's
	// start, ClosedAt its end.
	Phase          string
	ChannelID      string
	ConversationID string
	InteractionID  string
	Party          vcc.Party
	// Outcome is zero for a retraction.
	Outcome Outcome
	// InterruptedAt and ClosedAt are event times in Unix nanoseconds, at
	// millisecond precision.
	InterruptedAt int64
	ClosedAt      int64
	OpenedBy      state.Ref
	// ClosedBy is the closing event; nil for OutcomeExpired and for a
	// retraction.
	ClosedBy *state.Ref
	// Revision is 1 for an interruption's first record and one more for
	// each later record of it (correction or retraction).
	Revision int
	// Retracted: this record withdraws the interruption, for Reason. Only
	// the channel, the identity, OpenedBy, InterruptedAt and Revision are
	// set.
	Retracted bool
	Reason    Reason
}

// Disposition is what became of one input event.
type Disposition uint8

// The dispositions of an event. Every input ends as exactly one of these or
// in the dead-letter topic.
const (
	// Processed: a handled event placed on its channel's timeline.
	Processed Disposition = iota + 1
	// Ignored: a valid event of a type the matcher does not use.
	Ignored
	// Duplicate: an event whose (source, id) the channel already has.
	Duplicate
	// TooLate: a handled event older than the partition clock minus
	// retention, which can no longer be placed on its channel's timeline.
	// The caller sends it to the dead-letter topic with reason too-late;
	// the engine changed nothing.
	TooLate
	// ConflictingDuplicate: an event whose (source, id) the channel
	// already has with another data.timestamp (in milliseconds) or type.
	// The copy that wins (see Engine.Process) is on the timeline; when the
	// arriving copy wins, the event moves to its time and published
	// records are revised.
	ConflictingDuplicate
	// ChannelOverflow: a new event of a channel that already holds
	// EngineConfig.MaxChannelEvents timeline events. The caller sends it
	// to the dead-letter topic with reason channel-overflow; the engine
	// changed nothing.
	ChannelOverflow
)

// String returns the disposition's name.
func (d Disposition) String() string {
	switch d {
	case Processed:
		return "processed"
	case Ignored:
		return "ignored"
	case Duplicate:
		return "duplicate"
	case TooLate:
		return "too-late"
	case ConflictingDuplicate:
		return "conflicting-duplicate"
	case ChannelOverflow:
		return "channel-overflow"
	default:
		return "unknown"
	}
}

// Housekeeping counts what a call to Process or Advance did beside placing
// the event: records published and what the event meant on its timeline.
type Housekeeping struct {
	// Expired interruptions published for the first time.
	Expired int
	// Corrections: records of an interruption after its first that are not
	// retractions (a changed close or outcome, or one published again after
	// a retraction).
	Corrections int
	// Retractions published.
	Retractions int
	// Deleted channels whose retention passed. Each leaves a tomb
	// (state.Tomb, see Engine.bury), itself dropped later without being
	// counted.
	Deleted int
	// Evicted channels: their changelog value had grown longer than
	// MaxChannelBytes (lowered under it) when an event or the clock
	// changed them. What they published stands; each leaves a tomb as a
	// deleted channel does (nothing at all when the tomb would not fit),
	// and what was still open or held is not published.
	Evicted int
	// The effect of the placed event on its timeline when it arrived: an
	// interrupted while the channel was interrupted, an interrupted after
	// the channel ended, a resumed with no interruption open.
	InterruptedWhileInterrupted int
	AfterEnd                    int
	ResumeWithoutInterruption   int
}

// Add adds o's counts to h.
func (h *Housekeeping) Add(o Housekeeping) {
	h.Expired += o.Expired
	h.Corrections += o.Corrections
	h.Retractions += o.Retractions
	h.Deleted += o.Deleted
	h.Evicted += o.Evicted
	h.InterruptedWhileInterrupted += o.InterruptedWhileInterrupted
	h.AfterEnd += o.AfterEnd
	h.ResumeWithoutInterruption += o.ResumeWithoutInterruption
}

// EngineConfig holds the matching rules' parameters.
type EngineConfig struct {
	// MaxInterruption: an interruption with no closing event within
	// interruptedAt + MaxInterruption is expired at that bound.
	MaxInterruption time.Duration
	// Retention: a channel's state is deleted when the partition clock
	// passes its last event time + Retention and nothing waits to be
	// published (it leaves a tomb: see Engine.bury); events older than
	// the clock - Retention are too late. An end holds for the channel's
	// events up to the end + Retention. It must be at least
	// MaxInterruption.
	Retention time.Duration
	// Grace: a closed interruption is first published once the partition
	// clock reaches closedAt + Grace (0: at once). Revisions are published
	// at once.
	Grace time.Duration
	// MaxChannelEvents: a new event that would make its channel hold more
	// timeline events than this is a ChannelOverflow and changes nothing
	// (0: no cap). A copy of an event the channel holds is not new.
	MaxChannelEvents int
	// MaxChannelBytes: a new event that could make one of its channel's
	// changelog records (the head, state.AppendChannel, or the segment
	// the event goes to) longer than this many bytes is a
	// ChannelOverflow too (0: no limit). The runtime derives it from
	// the changelog topic's max.message.bytes; SetMaxChannelBytes changes
	// it while the engine runs.
	MaxChannelBytes int
	// Phase, when set, makes the engine a phase matcher: it derives the
	// periods of this phase (see Phase) instead of interruptions, with
	// MaxInterruption as the phase's maximum. Its records carry the
	// phase's name (Interruption.Phase). Every event decoded for phases
	// (Event.Phased) moves its store's clock, also of a type the phase
	// does not read, so that the phase matchers' stores share one clock.
	Phase *Phase
}

// Engine derives interruptions from each channel's timeline of events. It
// holds only configuration: all state is in the state.Store passed to each
// call, one store per input partition. The engine has no wall clock; the
// partition clock is the largest data.timestamp the engine accepted.
type Engine struct {
	maxNanos       int64
	retentionNanos int64
	graceNanos     int64
	maxEvents      int
	// maxBytes is MaxChannelBytes; SetMaxChannelBytes may change it
	// while partitions are processed.
	maxBytes atomic.Int64
	// phase is EngineConfig.Phase compiled; nil for the interruption
	// matcher.
	phase *phaseRoles
	// verify (tests only): every reconcile that decides part of a
	// channel is checked against deciding all of it (settleVerified).
	verify bool
}

// NewEngine returns an engine for cfg. MaxInterruption and Retention must
// be positive, Grace not negative. It panics on a Phase that is not
// well formed (a type of two roles, or none that opens): the phase table
// is the program's, not the user's (see NewPhaseEngine).
func NewEngine(cfg EngineConfig) *Engine {
	e := &Engine{maxNanos: int64(cfg.MaxInterruption), retentionNanos: int64(cfg.Retention),
		graceNanos: max(int64(cfg.Grace), 0), maxEvents: max(cfg.MaxChannelEvents, 0)}
	if cfg.Phase != nil {
		r, err := compilePhase(*cfg.Phase)
		if err != nil {
			panic("match: " + err.Error())
		}
		e.phase = r
	}
	e.SetMaxChannelBytes(cfg.MaxChannelBytes)
	return e
}

// PhaseName returns the name of the phase the engine derives, or "" for
// the interruption matcher.
func (e *Engine) PhaseName() string {
	if e.phase == nil {
		return ""
	}
	return e.phase.name
}

// kindAt returns what timeline event k of c means to the engine: an
// opener (vcc.Interrupted), a closer (vcc.Resumed) or an end (vcc.Ended)
// with the outcome it gives, or vcc.Ignored.
func (e *Engine) kindAt(c *state.Channel, k int) (vcc.Kind, Outcome) {
	if e.phase == nil {
		switch kd := c.EventKind(k); kd {
		case vcc.Resumed:
			return kd, OutcomeResumed
		case vcc.Ended:
			return kd, OutcomeEnded
		default:
			return kd, 0
		}
	}
	r := e.phase.role(c.EventType(k))
	return r.kind, r.outcome
}

// uses reports whether the engine places ev on a timeline.
func (e *Engine) uses(ev *Event) bool {
	if e.phase == nil {
		return ev.Kind != vcc.Ignored
	}
	return ev.Phased && e.phase.role(ev.Type).kind != vcc.Ignored
}

// SetMaxChannelBytes sets EngineConfig.MaxChannelBytes (0 or less: no
// limit). It is safe to call while other goroutines process events; it
// applies to the events processed after it returns.
func (e *Engine) SetMaxChannelBytes(n int) { e.maxBytes.Store(int64(max(n, 0))) }

// MaxChannelBytes returns the limit SetMaxChannelBytes set last.
func (e *Engine) MaxChannelBytes() int { return int(e.maxBytes.Load()) }

// Emit receives the records an engine call publishes, in order.
type Emit func(Interruption)

// Process applies one decoded event to its partition's store, publishes
// what changed on its channel, moves the partition clock and runs what
// became due. Only a placed event moves the clock: ignored, duplicate and
// too-late events leave it, and a conflicting copy moves it as if it had
// been placed (to its time, when later).
//
// Copies of one (source, id): the timeline holds one copy, the first by
// data.timestamp (milliseconds), then type (as a string); copies equal in
// both are the same event for the timeline. A copy that differs in either
// from the one the channel holds is a ConflictingDuplicate (whether it
// takes the place or not); one that does not is a Duplicate. When the
// arriving copy comes first, the event moves to its time and type, and
// the published records it changes are revised; when that copy is older
// than the clock minus retention, it is TooLate and changes nothing. Every
// copy that is not too late offers its identity fields to the channel
// (state.Channel.OfferIdentity: each field from the first copy carrying
// it by data.timestamp, source, id), so a copy that differs only there
// may revise records too. So the timeline and the identity are functions
// of the set of copies received, whatever their order.
func (e *Engine) Process(s *state.Store, ev *Event, emit Emit) (Disposition, Housekeeping) {
	var hk Housekeeping
	if !e.uses(ev) {
		if e.phase != nil && ev.Phased && ev.HasTimestamp {
			// The phase matchers' stores share the clock of every
			// phase event (EngineConfig.Phase).
			s.AdvanceStreamTime(truncMillis(ev.Timestamp))
		}
		// The clock stays; what a restore left due is published.
		return Ignored, e.Advance(s, emit)
	}
	at := truncMillis(ev.Timestamp)
	c := s.Get(ev.ChannelID)
	if c != nil {
		if k := e.findEvent(c, ev.Source, ev.ID); k >= 0 {
			return e.copyOf(s, c, k, ev, at, emit)
		}
		if t := c.Tomb(); t != nil && at <= t.Until && t.Has(state.HashEvent(ev.Source, ev.ID)) {
			return e.buriedCopy(s, at, emit)
		}
		if e.maxEvents > 0 && c.NumEvents() >= e.maxEvents {
			// The cap: the event is refused before it changes anything.
			return ChannelOverflow, e.Advance(s, emit)
		}
	}
	if e.tooBig(c, ev, at) {
		return ChannelOverflow, e.Advance(s, emit)
	}
	if now := s.StreamTime(); now != 0 && at < subSat(now, e.retentionNanos) {
		return TooLate, e.Advance(s, emit)
	}
	c = s.Edit(ev.ChannelID)
	e.upgrade(c)
	i := c.InsertEvent(state.Ref{Source: ev.Source, ID: ev.ID, Type: ev.Type, At: at, Offset: ev.Offset, HasOffset: ev.HasOffset})
	e.placed(c, ev.Source, ev.ID)
	if c.NumEvents() == 1 || c.LastEventAt < at {
		c.LastEventAt = at
	}
	from := at // the walk changed from the event on
	if c.OfferIdentity(at, ev.Source, ev.ID, ev.ConversationID, ev.InteractionID, ev.Party) {
		from = changedAll // every record says the identity
	}
	s.AdvanceStreamTime(at)
	// Not gone: the event is within retention of the clock.
	r, _ := e.reconcile(s, ev.ChannelID, c, i, from, emit, &hk)
	switch r {
	case roleWhileInterrupted:
		hk.InterruptedWhileInterrupted++
	case roleAfterEnd:
		hk.AfterEnd++
	case roleNoInterruption:
		hk.ResumeWithoutInterruption++
	}
	hk.Add(e.Advance(s, emit))
	return Processed, hk
}

// copyOf handles ev, a copy of timeline event k of channel c (at: its
// time in whole milliseconds), as Process describes.
func (e *Engine) copyOf(s *state.Store, c *state.Channel, k int, ev *Event, at int64, emit Emit) (Disposition, Housekeeping) {
	var hk Housekeeping
	held := c.Event(k)
	from := int64(changedNothing)
	d := Duplicate
	if at != held.At || ev.Type != held.Type {
		d = ConflictingDuplicate
	}
	wins := at < held.At || (at == held.At && ev.Type < held.Type)
	if wins {
		if now := s.StreamTime(); now != 0 && at < subSat(now, e.retentionNanos) {
			return TooLate, e.Advance(s, emit)
		}
		c = s.Edit(ev.ChannelID)
		e.upgrade(c)
		// The event keeps its first arrival's offset.
		c.MoveEvent(k, state.Ref{Source: held.Source, ID: held.ID, Type: ev.Type, At: at, Offset: held.Offset,
			HasOffset: held.HasOffset})
		c.LastEventAt = c.EventAt(c.NumEvents() - 1)
		from = at // the event moved earlier, to at
		if c.OfferIdentity(at, ev.Source, ev.ID, ev.ConversationID, ev.InteractionID, ev.Party) {
			from = changedAll
		}
	} else {
		// A later copy moves the clock as if it had been placed: whether
		// it arrived first (and was) must not matter.
		s.AdvanceStreamTime(at)
		if !c.OffersIdentity(at, ev.Source, ev.ID, ev.ConversationID, ev.InteractionID, ev.Party) {
			return d, e.Advance(s, emit)
		}
		c = s.Edit(ev.ChannelID)
		e.upgrade(c)
		if c.OfferIdentity(at, ev.Source, ev.ID, ev.ConversationID, ev.InteractionID, ev.Party) {
			from = changedAll
		}
	}
	e.reconcile(s, ev.ChannelID, c, -1, from, emit, &hk)
	hk.Add(e.Advance(s, emit))
	return d, hk
}

// buriedCopy handles a copy (at: its time in whole milliseconds) of an
// event that the channel's deleted state held (state.Tomb): too late when
// older than the clock minus retention, else a Duplicate that moves the
// clock as if it had been placed (as copyOf does for a later copy). It
// changes nothing on the channel: the deleted state published everything
// it was to publish, and the copy would have lost to the held one (which
// was older than the clock minus retention when the state was deleted).
func (e *Engine) buriedCopy(s *state.Store, at int64, emit Emit) (Disposition, Housekeeping) {
	if now := s.StreamTime(); now != 0 && at < subSat(now, e.retentionNanos) {
		return TooLate, e.Advance(s, emit)
	}
	s.AdvanceStreamTime(at)
	return Duplicate, e.Advance(s, emit)
}

// bury deletes channel c's state (being edited; nothing waits and its
// horizon passed, w its walk) and keeps its tomb in its place
// (state.Tomb): the hashes of the events it held and whether it ended,
// for the events up to Until, one more retention after its horizon (or
// after the clock, now, when a grace period kept it past its horizon:
// its copies that can still be placed are governed). So a
// later event of the channel is placed against what it published: a copy
// of one of its events is a duplicate (no record id is published again
// with other content), and an ended channel stays ended. The tomb a
// revived channel carried is past (see horizon) and is dropped.
func (e *Engine) bury(s *state.Store, c *state.Channel, w *walk, now int64) {
	t := &state.Tomb{Until: addSat(max(e.horizon(c, w), now), e.retentionNanos), Ended: w.ended}
	if t.Ended {
		t.EndedUntil = w.endUntil
	}
	for i := range c.NumEvents() {
		t.Events = append(t.Events, c.EventHash(i))
	}
	slices.Sort(t.Events)
	t.Events = slices.Compact(t.Events)
	c.Set(state.ChannelData{LastEventAt: c.LastEventAt, Tomb: t})
	s.SetDeadline(c, e.tombDeadline(t))
}

// tombDeadline returns when tomb t is to be dropped: once every event it
// governs (up to its Until) is too late.
func (e *Engine) tombDeadline(t *state.Tomb) int64 { return addSat(t.Until, e.retentionNanos) }

// dueTomb handles a due channel that holds only a tomb (no events): it
// is deleted once the clock passes tombDeadline.
func (e *Engine) dueTomb(s *state.Store, id string, c *state.Channel, now int64) {
	if t := c.Tomb(); t != nil && now <= e.tombDeadline(t) {
		s.SetDeadline(c, e.tombDeadline(t))
		return
	}
	s.Delete(id)
}

// Advance runs everything that became due now that the clock has moved:
// publishes expired interruptions and those whose grace passed, deletes
// channels past retention. Process calls it; callers that restore a store
// call Restored.
func (e *Engine) Advance(s *state.Store, emit Emit) Housekeeping {
	var hk Housekeeping
	now := s.StreamTime()
	for id := s.NextDue(now); id != ""; id = s.NextDue(now) {
		e.due(s, id, now, emit, &hk)
	}
	return hk
}

// due handles one due channel.
func (e *Engine) due(s *state.Store, id string, now int64, emit Emit, hk *Housekeeping) {
	c := s.Get(id)
	if c.NumEvents() == 0 {
		e.dueTomb(s, id, c, now)
		return
	}
	var w walk
	if d, publish, sum := e.plan(c, &w, now, changedNothing); !publish && d >= now && sum.is(c) {
		// An early wake-up: nothing is due, the channel is rescheduled.
		s.SetDeadline(c, d)
		return
	}
	c = s.Edit(id)
	if _, gone := e.reconcile(s, id, c, -1, changedNothing, emit, hk); gone {
		hk.Deleted++
		e.walk(c, -1, &w)
		e.bury(s, c, &w, now)
	}
}

// Restored schedules every channel of a store just loaded from the
// changelog. It publishes nothing: what is already due (a record the
// settings now let through earlier, say a shorter --grace) is published by
// the next Process or Advance, whose records the caller keeps.
func (e *Engine) Restored(s *state.Store) {
	now := s.StreamTime()
	s.Range(func(c *state.Channel) bool {
		if c.NumEvents() == 0 {
			// A tomb: dropped after its Until.
			if t := c.Tomb(); t != nil {
				s.SetDeadline(c, e.tombDeadline(t))
			} else {
				s.SetDeadline(c, math.MinInt64+1)
			}
			return true
		}
		var w walk
		d, publish, _ := e.plan(c, &w, now, changedAll)
		if publish {
			d = math.MinInt64 + 1 // due at the next Advance
		}
		s.SetDeadline(c, d)
		return true
	})
}

// The roles an event takes on its timeline.
type role uint8

const (
	roleNone             role = iota
	roleOpen                  // opens an interruption
	roleClose                 // closes one
	roleEnd                   // ends the channel with nothing open
	roleWhileInterrupted      // interrupted while interrupted
	roleAfterEnd              // interrupted after the channel ended
	roleNoInterruption        // resumed with nothing open
)

// derived is one interruption derived from a timeline.
type derived struct {
	open  int // timeline index of the opening event
	close int // timeline index of the closing event; -1 when expired
	// h is the opening event's hash (state.Channel.EventHash): the key
	// of the interruption's published record.
	h uint64
	// at is the interruption's start; bound is at + max-interruption.
	at, bound int64
	outcome   Outcome
}

// closedAt returns when d closed (its bound when expired).
func (d *derived) closedAt(c *state.Channel) int64 {
	if d.close < 0 {
		return d.bound
	}
	return c.EventAt(d.close)
}

// walk is the result of walking a timeline: the derived interruptions in
// time order, and the role of one event of interest.
type walk struct {
	// The first len(arr) interruptions are in arr, the rest in more: a
	// walk of a typical timeline stays on the caller's stack.
	arr  [8]derived
	more []derived
	n    int
	// base: the walk started at a checkpoint (see walkFrom) after base
	// interruptions; they are not in the walk, except the last of them
	// (prev), which at gives for base-1.
	base int
	prev derived
	// notOpen: the events at or after the walk's from that open nothing
	// (walkFrom; none for changedAll): before the change, some may have
	// opened an interruption that is gone now.
	notOpen []eventRole
	target  int
	role    role
	// ended: the channel is ended at the end of the timeline, for
	// events up to endUntil.
	ended    bool
	endUntil int64
}

// add appends d.
func (w *walk) add(d derived) {
	if k := w.n - w.base; k < len(w.arr) {
		w.arr[k] = d
	} else {
		w.more = append(w.more, d)
	}
	w.n++
}

// at returns interruption k, base-1 <= k < n.
func (w *walk) at(k int) *derived {
	k -= w.base
	switch {
	case k == -1:
		return &w.prev
	case k < len(w.arr):
		return &w.arr[k]
	}
	return &w.more[k-len(w.arr)]
}

// walk derives the interruptions of c's timeline into w, and the role of
// timeline event target (-1: none).
func (e *Engine) walk(c *state.Channel, target int, w *walk) {
	e.walkFrom(c, target, w, changedAll, false)
}

// walkFrom is walk, starting at the channel's last checkpoint (see
// checkpoints) before from when there is one: then w holds only the
// interruptions after it (w.base on), and target must be after it. With
// keep, the walk leaves checkpoints of itself on c (being edited).
func (e *Engine) walkFrom(c *state.Channel, target int, w *walk, from int64, keep bool) {
	w.n, w.base, w.more, w.notOpen = 0, 0, w.more[:0], w.notOpen[:0]
	w.target, w.role = target, roleNone
	var (
		open = false
		// ended: the channel ended, for its events up to endUntil (the
		// end + retention), or by the tomb it carries (state.Tomb).
		ended    = false
		endUntil int64
		cur      derived
	)
	if t := c.Tomb(); t != nil && t.Ended {
		ended, endUntil = true, t.EndedUntil
	}
	n := c.NumEvents()
	var group [8]int
	start := 0
	cps := e.checkpoints(c, from)
	if cps.n > 0 {
		cp := cps.at(cps.n - 1)
		start, w.n, w.base, w.prev = cp.pos, cp.n, cp.n, cp.prev
		open, cur, ended, endUntil = cp.open, cp.cur, cp.ended, cp.endUntil
	}
	keeping := keep && n >= checkpointMin
	kept := cps // shares the memo's blocks; add copies before it writes
	lastCp := start
	for i := start; i < n; {
		t := c.EventAt(i)
		if keeping && i-lastCp >= checkpointEvery {
			// An instant boundary: events [0, i) are all before t.
			var prev derived
			if w.n > 0 {
				prev = *w.at(w.n - 1)
			}
			kept.add(checkpoint{pos: i, at: c.EventAt(i - 1),
				n: w.n, prev: prev, open: open, cur: cur, ended: ended, endUntil: endUntil})
			lastCp = i
		}
		if ended && t > endUntil {
			ended = false
		}
		if open && t > cur.bound {
			cur.close, cur.outcome = -1, OutcomeExpired
			w.add(cur)
			open = false
		}
		j := i + 1
		for j < n && c.EventAt(j) == t {
			j++
		}
		apply := func(k int) {
			r := roleNone
			kind, outcome := e.kindAt(c, k)
			switch kind {
			case vcc.Interrupted:
				switch {
				case ended:
					r = roleAfterEnd
				case open:
					r = roleWhileInterrupted
				default:
					r, open = roleOpen, true
					cur = derived{open: k, h: c.EventHash(k), at: t, bound: addSat(t, e.maxNanos)}
				}
			case vcc.Resumed:
				if open {
					r, open = roleClose, false
					cur.close, cur.outcome = k, outcome
					w.add(cur)
				} else {
					r = roleNoInterruption
				}
			case vcc.Ended:
				switch {
				case open:
					r, open, ended = roleClose, false, true
					cur.close, cur.outcome = k, outcome
					endUntil = addSat(t, e.retentionNanos)
					w.add(cur)
				case !ended:
					r, ended = roleEnd, true
					endUntil = addSat(t, e.retentionNanos)
				}
			}
			if k == w.target {
				w.role = r
			}
			if r != roleOpen && from != changedAll && t >= from {
				// It may have opened an interruption before the change
				// (a conflicting copy can change its type).
				w.notOpen = append(w.notOpen, eventRole{k, r})
			}
		}
		if j == i+1 {
			apply(i)
			i = j
			continue
		}
		// Events at one instant: each takes effect if it can (see
		// pick), the rest in (source, id) order.
		g := group[:0]
		for k := i; k < j; k++ {
			g = append(g, k)
		}
		for a := 1; a < len(g); a++ { // insertion sort: groups are tiny
			for b := a; b > 0 && c.CompareEvents(g[b-1], g[b]) > 0; b-- {
				g[b-1], g[b] = g[b], g[b-1]
			}
		}
		for {
			p := e.pick(c, g, open, ended)
			if p < 0 {
				break
			}
			apply(g[p])
			g = append(g[:p], g[p+1:]...)
		}
		for _, k := range g {
			apply(k)
		}
		i = j
	}
	if open {
		cur.close, cur.outcome = -1, OutcomeExpired
		w.add(cur)
	}
	w.ended, w.endUntil = ended, endUntil
	if keep {
		old, _ := c.Memo().(*memo)
		switch {
		case old != nil && kept.n == cps.n && cps.n == old.cps.n:
			// Unchanged: every checkpoint held and none was added.
		case !keeping || kept.n == 0:
			c.SetMemo(nil)
		default:
			m := &memo{maxNanos: e.maxNanos, retentionNanos: e.retentionNanos, cps: kept}
			if old != nil {
				m.seen, m.pubAt = old.seen, old.pubAt
			}
			if m.seen == nil && n >= indexMin {
				m.seen = make(map[uint64]struct{}, n)
				for i := range n {
					m.seen[c.EventHash(i)] = struct{}{}
				}
			}
			if m.pubAt == nil && n >= indexMin {
				m.pubAt = make(map[uint64]int, c.NumPublished())
				for i := range c.NumPublished() {
					m.pubAt[c.Published(i).Open] = i
				}
			}
			c.SetMemo(m)
		}
	}
}

// pick returns the position in g of the event that changes the channel's
// state first at one instant, or -1: while interrupted a resumed, else an
// ended or disconnected; while not interrupted and not ended an
// interrupted, else an ended or disconnected. g is in (source, id) order.
func (e *Engine) pick(c *state.Channel, g []int, open, ended bool) int {
	if ended && !open {
		return -1
	}
	first := vcc.Interrupted
	if open {
		first = vcc.Resumed
	}
	end := -1
	for p, k := range g {
		switch kind, _ := e.kindAt(c, k); kind {
		case first:
			return p
		case vcc.Ended:
			if end < 0 {
				end = p
			}
		}
	}
	return end
}

// publishAfter returns the clock time after which d may first be published:
// for an interruption closed by an event closedAt + grace, for an expired
// one strictly after its bound and no earlier than bound + grace. The
// result is "due when the clock is later than it" (as Store.NextDue).
func (e *Engine) publishAfter(c *state.Channel, d *derived) int64 {
	if d.close < 0 {
		return max(d.bound, addSat(d.bound, e.graceNanos)-1)
	}
	return addSat(c.EventAt(d.close), e.graceNanos) - 1
}

// settled reports whether d's content is final enough to revise a
// published record with: closed by an event, or expired with the clock
// past its bound.
func settled(d *derived, now int64) bool { return d.close >= 0 || now > d.bound }

// fate is what is to be published about one interruption at a clock.
type fate uint8

// The fates of an interruption.
const (
	// fateCurrent: nothing to publish. Its last record says what the
	// timeline says, or it is gone from the timeline and its retraction
	// is published.
	fateCurrent fate = iota
	// fateOpen: not settled, and nothing of it stands published (never
	// published, or its last record a retraction). It waits for its
	// bound, unless an event closes it first.
	fateOpen
	// fateHeld: settled, never published, in its grace period. It waits
	// until the clock is past publishAfter.
	fateHeld
	// fateFirst: its first record is due.
	fateFirst
	// fateRevision: a record after its first is due, not a retraction: a
	// correction (a changed close or outcome), or the interruption
	// published again after a retraction.
	fateRevision
	// fateRetraction: its standing record is to be withdrawn: its opening
	// event no longer opens an interruption, or the interruption is open
	// again (reopened).
	fateRetraction
)

// decision is what decide says about one interruption.
type decision struct {
	fate fate
	// pub is the interruption's published record; zero when it was never
	// published.
	pub state.Published
	// wake, for fateOpen and fateHeld, is the clock time after which the
	// fate changes by itself: the bound of an open interruption, the end
	// of a held one's grace period (publishAfter). For the retraction of
	// an interruption open again, its bound.
	wake int64
}

// decide is the matcher's one decision of what is published: given an
// interruption the timeline derives (d; nil for one it no longer derives),
// its published record (index pi in c's published list, -1 when never
// published) and the clock, it says what is to be published about it now,
// or what it waits for. reconcile publishes what it says, and plan,
// Describe and Pending report it.
//
// A first record waits for the grace period (publishAfter); a revision or a
// retraction of a published record is published at once, a revision once
// the interruption is settled: a record published and then open again is
// retracted until it settles.
func (e *Engine) decide(c *state.Channel, d *derived, pi int, now int64) decision {
	var dec decision
	if pi >= 0 {
		dec.pub = c.Published(pi)
	}
	switch {
	case d == nil: // published (pi >= 0), no longer derived
		if !dec.pub.Retracted {
			dec.fate = fateRetraction
		}
	case pi >= 0 && !dec.pub.Retracted && !settled(d, now):
		dec.fate, dec.wake = fateRetraction, d.bound // then open
	case pi >= 0 && !dec.pub.Retracted && current(c, d, dec.pub):
		dec.fate = fateCurrent
	case pi >= 0 && settled(d, now):
		dec.fate = fateRevision
	case pi >= 0: // retracted, open again
		dec.fate, dec.wake = fateOpen, d.bound
	default:
		at := e.publishAfter(c, d)
		switch {
		case now > at:
			dec.fate = fateFirst
		case settled(d, now):
			dec.fate, dec.wake = fateHeld, at
		default:
			dec.fate, dec.wake = fateOpen, d.bound
		}
	}
	return dec
}

// published returns the index of d's published record in c, or -1.
func (e *Engine) published(c *state.Channel, d *derived) int {
	return c.FindPublished(d.h)
}

// summary is what a channel's Summary says (state.Channel.SetSummary): the
// start of the interruption still open, and how many closed (or expired)
// interruptions wait for their grace period.
type summary struct {
	hasOpen bool
	openAt  int64
	held    int
}

// is reports whether c's Summary says s.
func (s summary) is(c *state.Channel) bool {
	hasOpen, openAt, held := c.Summary()
	return hasOpen == s.hasOpen && openAt == s.openAt && held == min(s.held, 255)
}

// add counts an interruption that waits until dec.wake, held or open,
// into s and the channel's earliest wake-up *wait.
func (s *summary) add(d *derived, dec decision, wait *int64) {
	if dec.fate == fateHeld {
		s.held++
	} else {
		s.hasOpen, s.openAt = true, d.at
	}
	*wait = min(*wait, dec.wake)
}

// plan returns the channel's next deadline given its walk and the clock,
// and whether something is to be published now (decide); when nothing is,
// also the summary reconcile would record now. The deadline is as
// reconcile would set it (see deadline); zero when something is to be
// published now.
//
// An interruption still open is due when the clock passes its bound, even
// when it is not to be published before bound + grace: it then moves from
// open to held in the summary, which the metrics and the state API's
// open-interruptions index read.
func (e *Engine) plan(c *state.Channel, w *walk, now, from int64) (deadline int64, publish bool, sum summary) {
	var sc scope
	e.prepare(c, -1, w, &sc, from, false)
	wait := int64(math.MaxInt64)
	for k := sc.first; k < w.n; k++ {
		d := w.at(k)
		switch dec := e.decide(c, d, sc.published(c, d.h), now); dec.fate {
		case fateCurrent:
		case fateOpen, fateHeld:
			sum.add(d, dec, &wait)
		default:
			return 0, true, summary{}
		}
	}
	if sc.first == 0 {
		// A standing record the walk does not derive is retracted now.
		for i := range c.NumPublished() {
			if p := c.Published(i); !p.Retracted && sc.derived.find(p.Open) < 0 {
				return 0, true, summary{}
			}
		}
	} else if len(sc.vanished) > 0 {
		return 0, true, summary{}
	}
	return e.deadline(c, w, sum.hasOpen || sum.held > 0, wait), false, sum
}

// deadline returns when the channel is next due: while something waits
// (an interruption open until its bound, or held for its grace period),
// wait, the earliest moment one of them comes due; else its horizon.
//
// The horizon is no deadline while something waits: the channel is not
// deleted before what waits is published, and with a grace longer than the
// retention the horizon can already be past. A deadline before the clock
// makes the channel due again at once, and Advance would never return. wait
// is never before the clock (an open interruption's bound is not passed, a
// held one's publication time not reached), so every channel a call to
// Advance handles leaves it scheduled at or after the clock, or deleted.
func (e *Engine) deadline(c *state.Channel, w *walk, waiting bool, wait int64) int64 {
	if waiting {
		return wait
	}
	return e.horizon(c, w)
}

// horizon returns when the channel's state may be deleted: retention after
// its last event, or after the bound of an interruption that expired after
// it, so that every event that could still close that interruption is too
// late by then.
//
// A channel carrying a tomb (revived after its deletion) is kept until the
// tomb is past (tombDeadline): every event the tomb governs is too late
// by then, so its own tomb need not keep the old one.
func (e *Engine) horizon(c *state.Channel, w *walk) int64 {
	last := c.LastEventAt
	if n := w.n; n > 0 && w.at(n-1).close < 0 {
		last = max(last, w.at(n-1).bound)
	}
	h := addSat(last, e.retentionNanos)
	if t := c.Tomb(); t != nil {
		h = max(h, e.tombDeadline(t))
	}
	return h
}

// reconcile walks channel c (just changed, being edited; from: when its
// timeline changed, see scope), publishes what decide says is to be
// published at the clock, records it, and schedules the channel. It
// returns the role of timeline event target, and gone true when nothing
// waits and retention passed: the channel is to be deleted (and was not
// scheduled).
func (e *Engine) reconcile(s *state.Store, id string, c *state.Channel, target int, from int64, emit Emit, hk *Housekeeping) (r role, gone bool) {
	now := s.StreamTime()
	var deadline int64
	if e.verify {
		r, deadline, gone = e.settleVerified(id, c, target, from, now, emit, hk)
	} else {
		r, deadline, gone = e.settle(id, c, target, from, now, emit, hk)
	}
	if gone {
		return r, true
	}
	s.SetDeadline(c, deadline)
	if lim := e.maxBytes.Load(); lim > 0 && int64(c.WriteBound()) > lim && int64(c.WriteLen()) > lim {
		// A record its change writes no longer fits the changelog (the
		// limit was lowered under it): evicted, as when its retention
		// passes.
		hk.Evicted++
		var w walk
		e.walk(c, -1, &w)
		e.bury(s, c, &w, now)
		if int64(len(state.AppendChannel(nil, c))) > lim {
			s.Delete(id) // not even its tomb fits
		}
	}
	return r, false
}

// tooBig reports whether placing ev (at time at) on channel c (nil: new)
// could make one of c's changelog records longer than MaxChannelBytes:
// its head (state.Channel.SizeBound) with the event, a record it may
// publish and the identity it may bring, or the segment the event goes
// to (state.Channel.RecordBound) with the event.
func (e *Engine) tooBig(c *state.Channel, ev *Event, at int64) bool {
	lim := e.maxBytes.Load()
	if lim <= 0 {
		return false
	}
	evBound := state.EventSizeBound(ev.Source, ev.ID, ev.Type)
	n := evBound + 2*state.PublishedSizeBound +
		len(ev.ConversationID) + len(ev.InteractionID) + len(ev.Party.Role) + len(ev.Party.AgentID) + len(ev.Party.UserID)
	if c == nil {
		var empty state.Channel
		return int64(n+empty.SizeBound()+len(ev.ChannelID)) > lim
	}
	if int64(n+c.SizeBound()) > lim {
		return true
	}
	return c.Segmented() && int64(evBound+c.RecordBound(at)) > lim
}

// settle is reconcile without the store: it returns the channel's next
// deadline instead of setting it.
func (e *Engine) settle(id string, c *state.Channel, target int, from, now int64, emit Emit, hk *Housekeeping) (r role, deadline int64, gone bool) {
	var w walk
	var sc scope
	e.prepare(c, target, &w, &sc, from, true)
	// Retractions first, in the order of the published list. A record
	// that is not standing is never retracted again; a standing one whose
	// interruption the scope skips is current, so with a scope only the
	// records of the interruptions in it are looked at.
	if sc.first == 0 {
		for i := range c.NumPublished() {
			e.retractIfDue(id, c, &w, &sc, recordAt{pi: i, k: -1}, now, emit, hk)
		}
	} else {
		var arr [8]recordAt
		look := arr[:0]
		for k := sc.first; k < w.n; k++ {
			d := w.at(k)
			if i := sc.published(c, d.h); i >= 0 {
				look = append(look, recordAt{pi: i, k: d.open})
			}
		}
		look = append(look, sc.vanished...)
		slices.SortFunc(look, func(a, b recordAt) int { return a.pi - b.pi })
		look = slices.CompactFunc(look, func(a, b recordAt) bool { return a.pi == b.pi })
		for _, r := range look {
			e.retractIfDue(id, c, &w, &sc, r, now, emit, hk)
		}
	}
	wait := int64(math.MaxInt64)
	var sum summary
	for k := sc.first; k < w.n; k++ {
		d := w.at(k)
		pi := sc.published(c, d.h)
		dec := e.decide(c, d, pi, now)
		switch dec.fate {
		case fateCurrent:
			continue
		case fateOpen, fateHeld, fateRetraction:
			// fateRetraction: none, the loop above published them; the
			// interruption would be open.
			sum.add(d, dec, &wait)
			continue
		case fateRevision:
			hk.Corrections++
		case fateFirst:
			if d.outcome == OutcomeExpired {
				hk.Expired++
			}
		}
		p := state.Published{Open: d.h, Fingerprint: fingerprint(c, d), Revision: dec.pub.Revision + 1}
		sc.put(c, pi, p)
		emit(e.record(id, c, d, int(p.Revision)))
	}
	c.SetSummary(sum.hasOpen, sum.openAt, sum.held)
	if sc.first == 0 {
		c.SetStale(false) // every interruption was decided
	}
	waiting := sum.hasOpen || sum.held > 0
	deadline = e.deadline(c, &w, waiting, wait)
	if !waiting && deadline < now {
		return w.role, 0, true
	}
	return w.role, deadline, false
}

// eventRole is a timeline event and its role in a walk.
type eventRole struct {
	k int
	r role
}

// recordAt is a published record (its index pi) with its opening event's
// timeline index k and role r when known (k -1: to be searched for).
type recordAt struct {
	pi, k int
	r     role
}

// retractIfDue publishes the retraction of channel c's published record
// rec.pi when decide says so (w: the channel's walk, sc its scope).
func (e *Engine) retractIfDue(id string, c *state.Channel, w *walk, sc *scope, rec recordAt, now int64, emit Emit, hk *Housekeeping) {
	i := rec.pi
	p := c.Published(i)
	if p.Retracted {
		return
	}
	var d *derived
	if dk := sc.derived.find(p.Open); dk >= 0 {
		d = w.at(dk)
	}
	if e.decide(c, d, i, now).fate != fateRetraction {
		return
	}
	k, r := rec.k, rec.r
	if k < 0 {
		k = c.FindEventHash(p.Open)
		if d == nil {
			var rw walk
			e.walk(c, k, &rw)
			r = rw.role
		}
	}
	reason := ReasonReopened
	if d == nil {
		reason = ReasonInterruptedWhileInterrupted
		if r == roleAfterEnd {
			reason = ReasonAfterEnd
		}
	}
	p.Revision++
	p.Retracted = true
	p.Fingerprint = 0
	c.PutPublishedAt(i, p)
	open := c.Event(k)
	conv, inter, party := c.Identity()
	emit(Interruption{Phase: e.PhaseName(), ChannelID: id, ConversationID: conv, InteractionID: inter, Party: party,
		InterruptedAt: open.At, OpenedBy: open, Revision: int(p.Revision), Retracted: true, Reason: reason})
	hk.Retractions++
}

// record returns the record of revision rev of d.
func (e *Engine) record(id string, c *state.Channel, d *derived, rev int) Interruption {
	conv, inter, party := c.Identity()
	in := Interruption{
		Phase:          e.PhaseName(),
		ChannelID:      id,
		ConversationID: conv,
		InteractionID:  inter,
		Party:          party,
		Outcome:        d.outcome,
		InterruptedAt:  d.at,
		ClosedAt:       d.closedAt(c),
		OpenedBy:       c.Event(d.open),
		Revision:       rev,
	}
	if d.close >= 0 {
		r := c.Event(d.close)
		in.ClosedBy = &r
	}
	return in
}

// upgrade rewrites the legacy fingerprints (state.Published.Legacy, from
// a changelog value before version 4) of channel c, being edited, before
// an event changes it: a record the legacy definition finds current gets
// the current definition's fingerprint of the same content, so that a
// change the legacy one does not cover (the start, a type, the identity)
// is revised like any other. A legacy record not current stays legacy: it
// is revised anyway. A channel without legacy records costs a scan of its
// published list.
func (e *Engine) upgrade(c *state.Channel) {
	if !c.Stale() {
		// Legacy records come from the changelog (stale until the first
		// reconcile, which leaves none that matters: current ones were
		// upgraded here, the others revised).
		return
	}
	legacy := false
	for i := range c.NumPublished() {
		if c.Published(i).Legacy {
			legacy = true
			break
		}
	}
	if !legacy {
		return
	}
	var w walk
	e.walk(c, -1, &w)
	for k := range w.n {
		d := w.at(k)
		pi := e.published(c, d)
		if pi < 0 {
			continue
		}
		if p := c.Published(pi); p.Legacy && !p.Retracted && p.Fingerprint == legacyFingerprint(c, d) {
			p.Fingerprint, p.Legacy = fingerprint(c, d), false
			c.PutPublished(p)
		}
	}
}

// current reports whether published record p says what d says.
func current(c *state.Channel, d *derived, p state.Published) bool {
	if p.Legacy {
		return p.Fingerprint == legacyFingerprint(c, d)
	}
	return p.Fingerprint == fingerprint(c, d)
}

// fingerprint hashes what a record of d says that can change: outcome,
// start, close time, closing event, the types of its opening and closing
// events (a conflicting copy can change them), and the channel's identity
// (conversationId, interactionId, party).
func fingerprint(c *state.Channel, d *derived) uint64 {
	h := legacyFingerprint(c, d)
	mix := func(v uint64) {
		for range 8 {
			h = (h ^ (v & 0xff)) * 1099511628211
			v >>= 8
		}
	}
	mix(uint64(d.at))
	mix(c.IdentityHash())
	mix(state.HashEvent("", c.EventType(d.open)))
	if d.close >= 0 {
		mix(state.HashEvent("", c.EventType(d.close)))
	}
	return h | 1 // never 0, the fingerprint of a retraction
}

// legacyFingerprint is the fingerprint of changelog values before version
// 4 (state.Published.Legacy): outcome, close time and closing event.
func legacyFingerprint(c *state.Channel, d *derived) uint64 {
	var b [17]byte
	b[0] = byte(d.outcome)
	binary.LittleEndian.PutUint64(b[1:], uint64(d.closedAt(c)))
	if d.close >= 0 {
		binary.LittleEndian.PutUint64(b[9:], c.EventHash(d.close))
	}
	h := fnv.New64a()
	h.Write(b[:])
	return h.Sum64() | 1 // never 0, the fingerprint of a retraction
}

// Millis returns Unix nanoseconds in whole milliseconds, truncated toward
// the past (also before 1970): the precision records publish times at.
func Millis(ns int64) int64 {
	ms := ns / 1e6
	if ns%1e6 < 0 {
		ms--
	}
	return ms
}

// truncMillis truncates Unix nanoseconds to whole milliseconds (Millis), in
// nanoseconds; the few times before the first whole millisecond of the
// int64 range truncate toward zero instead, to that millisecond.
func truncMillis(ns int64) int64 {
	ms := Millis(ns)
	if ms < math.MinInt64/1_000_000 {
		ms++
	}
	return ms * 1e6
}

// addSat returns t+d for a duration d >= 0, saturated at the largest time:
// a bound past the end of the int64 nanosecond range must not wrap around
// to 1677.
func addSat(t, d int64) int64 {
	if t > math.MaxInt64-d {
		return math.MaxInt64
	}
	return t + d
}

// subSat returns t-d for a duration d >= 0, saturated at the smallest time.
func subSat(t, d int64) int64 {
	if t < math.MinInt64+d {
		return math.MinInt64
	}
	return t - d
}

// Pending calls fn for every interruption of the store not published yet
// (decide), in no particular order: open ones (the clock has not passed
// their bound; Outcome is OutcomeExpired and ClosedAt the bound, what they
// become if nothing closes them) with open true, and closed ones waiting
// for their grace period with open false. Revision is the one they would
// get.
func (e *Engine) Pending(s *state.Store, fn func(in Interruption, open bool)) {
	now := s.StreamTime()
	s.Range(func(c *state.Channel) bool {
		var w walk
		e.walk(c, -1, &w)
		id := c.ID()
		for k := range w.n {
			d := w.at(k)
			dec := e.decide(c, d, e.published(c, d), now)
			if dec.fate == fateCurrent {
				continue
			}
			fn(e.record(id, c, d, int(dec.pub.Revision)+1), dec.fate == fateOpen || dec.fate == fateRetraction)
		}
		return true
	})
}
