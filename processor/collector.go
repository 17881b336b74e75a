package processor

import (
	"errors"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// collector is the record collector: it produces the records the tasks
// make (outputs, dead letters, changelog) asynchronously through the
// session's client and gathers the errors of their promises until take.
// Safe for concurrent use by the partition workers.
type collector struct {
	produce func(*kgo.Record, func(*kgo.Record, error))
	mu      sync.Mutex
	err     error
}

func newCollector(produce func(*kgo.Record, func(*kgo.Record, error))) *collector {
	return &collector{produce: produce}
}

// add produces rec.
func (c *collector) add(rec *kgo.Record) { c.produce(rec, c.done) }

func (c *collector) done(_ *kgo.Record, err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	c.err = errors.Join(c.err, err)
	c.mu.Unlock()
}

// take returns the errors gathered since the last take and forgets them.
// Call it once the records are flushed.
func (c *collector) take() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.err
	c.err = nil
	return err
}
