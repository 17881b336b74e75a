package processor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// health is what readiness needs from the loop beyond the assignment: how
// its units of work end. A ready runner can store what it processes now:
// after a failure (a unit of work that ended in an error or whose records
// could not be produced, a client torn down to restart) it is not ready
// until a unit of work commits again, across the client's restarts; and
// after abortOnlyLimit aborts in a row without an error.
type health struct {
	mu sync.Mutex
	// Since the last commit: units of work that failed (aborts the
	// aborts without an error among them) and clients torn down.
	failures, aborts, restarts int
	// cause is the last failure's error (nil after aborts alone).
	cause error
}

// abortOnlyLimit is how many aborts in a row without an error (a
// rebalance during a transaction aborts it) make the runner not ready.
const abortOnlyLimit = 3

// committed records a unit of work that committed: the runner stores
// what it processes.
func (h *health) committed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures, h.aborts, h.restarts, h.cause = 0, 0, 0, nil
}

// failed records a unit of work or a session that failed with err; nil
// err: an abort without an error.
func (h *health) failed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures++
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

func (w *watched) end(ctx context.Context, ok bool, polled int, changelog func(), take func() error) (bool, error) {
	var produceErr error
	committed, err := w.guarantee.end(ctx, ok, polled, changelog, func() error {
		perr := take()
		produceErr = errors.Join(produceErr, perr)
		return perr
	})
	switch {
	case committed:
		w.h.committed()
	case err != nil:
		w.h.failed(err)
	case produceErr != nil:
		w.h.failed(fmt.Errorf("transaction aborted: %w", produceErr))
	case !ok:
		// The poll or a worker failed: the session returns that error,
		// which sessionEnded records.
	default:
		w.h.failed(nil)
	}
	return committed, err
}
