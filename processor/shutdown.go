package processor

import (
	"context"
	"sync/atomic"
	"time"
)

// shutdownBudget bounds the work done after Run's context ended: finishing
// and committing the batch in flight, leaving the group. All of it ends
// within ShutdownTimeout of the moment the context ended. The runner owns
// one; nothing carries it in a context.
type shutdownBudget struct {
	timeout time.Duration
	// stopAt is when the context ended, in Unix nanoseconds; 0 before.
	stopAt atomic.Int64
}

// begin marks the start of the shutdown (once) and returns its moment.
func (b *shutdownBudget) begin() int64 {
	b.stopAt.CompareAndSwap(0, time.Now().UnixNano())
	return b.stopAt.Load()
}

// deadline is the deadline of one step of work that must outlive ctx (Run's
// context): the timeout from now while ctx is live (a bound on each commit),
// and the timeout after ctx ended once it has, so that the whole shutdown
// fits in it.
func (b *shutdownBudget) deadline(ctx context.Context) time.Time {
	if ctx.Err() == nil {
		return time.Now().Add(b.timeout)
	}
	return time.Unix(0, b.begin()).Add(b.timeout)
}

// context returns a context for one such step: not cancelled with ctx, but
// ending at deadline(ctx).
func (b *shutdownBudget) context(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.WithoutCancel(ctx), b.deadline(ctx))
}
