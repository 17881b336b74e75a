package processor

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/state"
)

// RestoreTask is one partition's task, made as restore makes one for a
// partition without state, for tests that drive its idle clock with
// explicit wall times instead of waiting: the test calls Process and Idle
// on its own goroutine (no worker runs), so nothing else touches the task.
type RestoreTask struct {
	t   *task
	out []*kgo.Record
}

// NewRestoreTask returns the task of partition p, restored (with an empty
// store) at wall time restored. cfg.Hooks are its hooks; every record it
// produces is kept for Output.
func NewRestoreTask(cfg Config, p int32, restored time.Time) *RestoreTask {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	h := newHooks(cfg.Hooks)
	rt := &RestoreTask{}
	pipe := &pipeline{cfg: &cfg, log: cfg.Logger, engine: match.NewEngine(cfg.Engine), hooks: &h}
	st := state.New()
	rt.t = &task{partition: p, store: st, handle: pipe.handler(), pipe: pipe,
		produce:   func(r *kgo.Record) { rt.out = append(rt.out, r) },
		lastInput: restored, moveClock: st.StreamTime(), moveArrival: restored}
	return rt
}

// Process processes recs as a polled batch that arrived at wall time at:
// processBatch reads the wall clock itself, so the arrival times it notes
// (of the input, and of the input that moved the clock, if it did) are
// moved to at.
func (rt *RestoreTask) Process(at time.Time, recs ...*kgo.Record) error {
	moved := rt.t.moveArrival
	err := rt.t.processBatch(recs)
	rt.t.lastInput = at
	if !rt.t.moveArrival.Equal(moved) {
		rt.t.moveArrival = at
	}
	return err
}

// Idle runs the task's idle check at wall time now.
func (rt *RestoreTask) Idle(now time.Time) error { return rt.t.idle(now) }

// StreamTime returns the task's clock.
func (rt *RestoreTask) StreamTime() int64 { return rt.t.store.StreamTime() }

// Output returns the records the task produced so far (outputs and dead
// letters), in order.
func (rt *RestoreTask) Output() []*kgo.Record { return rt.out }
