package processor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// collector is the record collector (Kafka Streams' RecordCollector): it
// produces the records the tasks make (outputs, dead letters, changelog)
// asynchronously through the session's client and gathers the errors of
// their promises until the next flush. The guarantee owns it, one per
// session; the tasks get it when they are created. Safe for concurrent use
// by the partition workers.
type collector struct {
	cl *kgo.Client
	// ctx is the context records are produced with: they outlive a
	// cancelled Run context (the batch in flight is finished and
	// committed on shutdown; the end of the unit of work bounds the
	// wait).
	ctx context.Context
	// sent counts the records produced since the last unit call.
	sent atomic.Int64
	mu   sync.Mutex
	err  error
}

func newCollector(ctx context.Context, cl *kgo.Client) *collector {
	return &collector{cl: cl, ctx: context.WithoutCancel(ctx)}
}

// add produces rec.
func (c *collector) add(rec *kgo.Record) {
	c.sent.Add(1)
	c.cl.Produce(c.ctx, rec, c.done)
}

// unit returns the number of records produced since its last call: the
// records of the unit of work that ends.
func (c *collector) unit() int64 { return c.sent.Swap(0) }

func (c *collector) done(rec *kgo.Record, err error) {
	if err == nil {
		return
	}
	err = asTooLarge(rec, err) // what recordLimits.refused needs to explain it
	c.mu.Lock()
	c.err = errors.Join(c.err, err)
	c.mu.Unlock()
}

// flush waits until every record produced is acknowledged. It returns the
// client's error when the wait is cut short, else a *refusedError with the
// errors of the records the brokers refused since the last flush or take.
func (c *collector) flush(ctx context.Context) error {
	if err := c.cl.Flush(ctx); err != nil {
		return err
	}
	if err := c.take(); err != nil {
		return &refusedError{err: err}
	}
	return nil
}

// take returns the errors gathered since the last flush or take and
// forgets them. Call it once the records are flushed (or aborted).
func (c *collector) take() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.err
	c.err = nil
	return err
}

// refusedError holds the errors of records the brokers refused (a
// non-retriable produce error): the unit of work that made them cannot
// commit.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }

func (e *refusedError) Unwrap() error { return e.err }
