package processor

import (
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
)

// Hook observes what the runner does. A hook implements any of the Hook*
// interfaces below, and only those it needs, as franz-go's kgo.Hook does:
// the runner calls each implemented method. Hooks must be fast.
//
// HookEvent, HookDeadLetter, HookHousekeeping, HookOutput and HookPhase run on the
// partition workers: calls for one partition are sequential and in input
// order, calls for different partitions may run concurrently. HookCommit,
// HookAbort, HookRestore, HookResume and HookUnitEnd run on the loop's
// goroutine, HookCommit and HookAbort only once every worker has finished
// what the commit or abort covers. HookRebalance runs on the group
// client's goroutine, HookRestoring on either (calls are serialized).
// Pointers passed to a hook are valid only during the call.
type Hook any

// HookEvent is called for every decoded input with its disposition.
type HookEvent interface {
	OnEvent(partition int32, ev *match.Event, d match.Disposition)
}

// HookDeadLetter is called for every input sent to the dead-letter topic.
type HookDeadLetter interface {
	OnDeadLetter(partition int32, err *codec.DecodeError)
}

// HookHousekeeping is called when stream time expired, dropped or deleted
// something.
type HookHousekeeping interface {
	OnHousekeeping(partition int32, hk match.Housekeeping)
}

// HookOutput is called for every interruption record produced, with the
// Kafka timestamp of the input record whose processing closed it. Like
// HookEvent, it is followed by HookCommit or HookAbort.
type HookOutput interface {
	OnOutput(partition int32, in *match.Interruption, input time.Time)
}

// HookPhase is called for every phase record produced to
// Config.PhasesTopic (in.Phase names the phase). Like HookEvent, it is
// followed by HookCommit or HookAbort.
type HookPhase interface {
	OnPhase(partition int32, in *match.Interruption)
}

// HookCommit is called after each successful commit with the number of
// input records it covered.
type HookCommit interface {
	OnCommit(records int)
}

// HookAbort is called when a transaction (exactly-once) or a batch
// (at-least-once) did not commit: what was seen since the last commit is
// processed again. records may be 0.
type HookAbort interface {
	OnAbort(records int)
}

// HookRestore is called after a partition's state was restored from the
// changelog: the changelog records read and how long it took.
type HookRestore interface {
	OnRestore(partition int32, records int, took time.Duration)
}

// HookRebalance is called when the group assigns, revokes or loses input
// partitions (on the client's goroutine, in the group callbacks).
type HookRebalance interface {
	OnRebalance(assigned, revoked, lost []int32)
}

// HookRestoring is called with the number of partition restores running
// beside processing, each time it changes.
type HookRestoring interface {
	OnRestoring(inFlight int)
}

// HookResume is called when a newly assigned partition is processed again:
// paused is the time from its assignment until its restored task started
// (the restore, and under exactly-once the wait for its previous owner's
// transaction).
type HookResume interface {
	OnResume(partition int32, paused time.Duration)
}

// HookUnitEnd is called after each unit of work's end (its flush and
// commit, or its abort): took is how long that end took, committed
// whether the unit committed, and stalled whether took exceeded
// Config.CommitStallWarning (franz-go holds commits while the group
// rebalances, which waits for a dead member for up to the session
// timeout).
type HookUnitEnd interface {
	OnUnitEnd(took time.Duration, committed, stalled bool)
}

// HookIdleAdvance is called when a partition's clock advanced with wall
// time because it had no input for the idle timeout; clock is the new
// stream time in Unix nanoseconds.
type HookIdleAdvance interface {
	OnIdleAdvance(partition int32, clock int64)
}

// hooks holds the configured hooks sorted by what they implement, so the
// per-record path makes no type assertions.
type hooks struct {
	event        []HookEvent
	deadLetter   []HookDeadLetter
	housekeeping []HookHousekeeping
	output       []HookOutput
	phase        []HookPhase
	commit       []HookCommit
	abort        []HookAbort
	restore      []HookRestore
	idleAdvance  []HookIdleAdvance
	rebalance    []HookRebalance
	restoring    []HookRestoring
	resume       []HookResume
	unitEnd      []HookUnitEnd
}

func newHooks(hs []Hook) hooks {
	var h hooks
	for _, x := range hs {
		if v, ok := x.(HookEvent); ok {
			h.event = append(h.event, v)
		}
		if v, ok := x.(HookDeadLetter); ok {
			h.deadLetter = append(h.deadLetter, v)
		}
		if v, ok := x.(HookHousekeeping); ok {
			h.housekeeping = append(h.housekeeping, v)
		}
		if v, ok := x.(HookOutput); ok {
			h.output = append(h.output, v)
		}
		if v, ok := x.(HookPhase); ok {
			h.phase = append(h.phase, v)
		}
		if v, ok := x.(HookCommit); ok {
			h.commit = append(h.commit, v)
		}
		if v, ok := x.(HookAbort); ok {
			h.abort = append(h.abort, v)
		}
		if v, ok := x.(HookRestore); ok {
			h.restore = append(h.restore, v)
		}
		if v, ok := x.(HookIdleAdvance); ok {
			h.idleAdvance = append(h.idleAdvance, v)
		}
		if v, ok := x.(HookRebalance); ok {
			h.rebalance = append(h.rebalance, v)
		}
		if v, ok := x.(HookRestoring); ok {
			h.restoring = append(h.restoring, v)
		}
		if v, ok := x.(HookResume); ok {
			h.resume = append(h.resume, v)
		}
		if v, ok := x.(HookUnitEnd); ok {
			h.unitEnd = append(h.unitEnd, v)
		}
	}
	return h
}

func (h *hooks) onEvent(p int32, ev *match.Event, d match.Disposition) {
	for _, x := range h.event {
		x.OnEvent(p, ev, d)
	}
}

func (h *hooks) onDeadLetter(p int32, err *codec.DecodeError) {
	for _, x := range h.deadLetter {
		x.OnDeadLetter(p, err)
	}
}

func (h *hooks) onHousekeeping(p int32, hk match.Housekeeping) {
	if hk == (match.Housekeeping{}) {
		return
	}
	for _, x := range h.housekeeping {
		x.OnHousekeeping(p, hk)
	}
}

func (h *hooks) onPhase(p int32, in *match.Interruption) {
	for _, x := range h.phase {
		x.OnPhase(p, in)
	}
}

func (h *hooks) onOutput(p int32, in *match.Interruption, input time.Time) {
	for _, x := range h.output {
		x.OnOutput(p, in, input)
	}
}

func (h *hooks) onCommit(n int) {
	for _, x := range h.commit {
		x.OnCommit(n)
	}
}

func (h *hooks) onAbort(n int) {
	for _, x := range h.abort {
		x.OnAbort(n)
	}
}

func (h *hooks) onRestore(p int32, n int, took time.Duration) {
	for _, x := range h.restore {
		x.OnRestore(p, n, took)
	}
}

func (h *hooks) onIdleAdvance(p int32, clock int64) {
	for _, x := range h.idleAdvance {
		x.OnIdleAdvance(p, clock)
	}
}

func (h *hooks) onRebalance(assigned, revoked, lost []int32) {
	for _, x := range h.rebalance {
		x.OnRebalance(assigned, revoked, lost)
	}
}

func (h *hooks) onRestoring(n int) {
	for _, x := range h.restoring {
		x.OnRestoring(n)
	}
}

func (h *hooks) onResume(p int32, paused time.Duration) {
	for _, x := range h.resume {
		x.OnResume(p, paused)
	}
}

func (h *hooks) onUnitEnd(took time.Duration, committed, stalled bool) {
	for _, x := range h.unitEnd {
		x.OnUnitEnd(took, committed, stalled)
	}
}
