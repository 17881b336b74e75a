package processor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// health is what readiness needs from the loop beyond the assignment: how
// its units of work end. A ready runner can store what it processes now:
// after a failure (a unit of work that ended in an error or whose records
// could not be produced, a client torn down to restart) it is not ready
// until a unit of work that produced records commits again, across the
// client's restarts; and after abortOnlyLimit aborts in a row without an
// error. A unit of work that committed no record (nothing was polled in
// time: an idle instance, or one whose input is being fetched again after
// an abort) proves nothing about storing: it clears a failure only
// emptyCommitRecovery after it, so that an idle instance is ready again
// then.
type health struct {
	mu sync.Mutex
	// Since the last commit: units of work that failed (aborts the
	// aborts without an error among them) and clients torn down.
	failures, aborts, restarts int
	// cause is the last failure's error (nil after aborts alone).
	cause error
	// failedAt is the time of the last failure; now is time.Now, or a
	// test's clock.
	failedAt time.Time
	now      func() time.Time
}

// emptyCommitRecovery is how long after a failure a unit of work that
// committed no record makes the runner ready again.
const emptyCommitRecovery = 10 * time.Second

func (h *health) clock() time.Time {
	if h.now != nil {
		return h.now()
	}
	return time.Now()
}

// abortOnlyLimit is how many aborts in a row without an error (a
// rebalance during a transaction aborts it) make the runner not ready.
const abortOnlyLimit = 3

// committed records a unit of work that committed, with the number of
// records it produced: the runner stores what it processes.
func (h *health) committed(records int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if records == 0 && h.cause != nil && h.clock().Sub(h.failedAt) < emptyCommitRecovery {
		return
	}
	h.failures, h.aborts, h.restarts, h.cause = 0, 0, 0, nil
}

// failed records a unit of work or a session that failed with err; nil
// err: an abort without an error.
func (h *health) failed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures++
	h.failedAt = h.clock()
	if err == nil {
		h.aborts++
		return
	}
	h.cause = err
}

// notReady returns why the loop cannot store now, or "".
func (h *health) notReady() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.cause != nil:
		msg := h.cause.Error()
		if i := strings.IndexByte(msg, '\n'); i >= 0 { // errors.Join: one per record
			msg = msg[:i] + " (and more)"
		}
		return fmt.Sprintf("not committing: %d failed units of work and %d client restarts since the last commit; the last error: %s",
			h.failures, h.restarts, msg)
	case h.aborts >= abortOnlyLimit:
		return fmt.Sprintf("not committing: the last %d transactions aborted", h.aborts)
	}
	return ""
}

// sessionEnded records how a session (one group client) ended: an error
// means the client is torn down and built again.
func (h *health) sessionEnded(err error) {
	if err == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.restarts++
	h.failedAt = h.clock()
	h.cause = fmt.Errorf("client restarting after: %w", err)
}

// watch returns g reporting how each unit of work ends to h.
func (h *health) watch(g guarantee) guarantee { return &watched{guarantee: g, h: h} }

// watched is a guarantee that reports to health.
type watched struct {
	guarantee
	h *health
}

func (w *watched) begin() error {
	err := w.guarantee.begin()
	if err != nil {
		w.h.failed(err)
	}
	return err
}

func (w *watched) commit(ctx context.Context) outcome {
	o := w.guarantee.commit(ctx)
	if !w.ended(o) {
		// Aborted without an error: a rebalance during the transaction.
		w.h.failed(nil)
	}
	return o
}

func (w *watched) abort(ctx context.Context, cause error) outcome {
	// Nothing to record when it ended without an error: the poll or a
	// worker failed, and the session returns that error, which
	// sessionEnded records.
	o := w.guarantee.abort(ctx, cause)
	w.ended(o)
	return o
}

// ended records a unit of work that committed or failed; false when it
// did neither.
func (w *watched) ended(o outcome) bool {
	switch {
	case o.committed:
		w.h.committed(o.records)
	case o.err != nil:
		w.h.failed(o.err)
	case o.refused != nil:
		w.h.failed(fmt.Errorf("transaction aborted: %w", o.refused))
	default:
		return false
	}
	return true
}
