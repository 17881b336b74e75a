package processor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Partition workers: the loop polls and hands each partition's records to
// that partition's worker goroutine, which decodes them, runs the engine on
// the partition's store and produces what comes out; the loop goes on
// polling meanwhile. At every commit point (the end of an exactly-once
// transaction, every at-least-once batch) and before tasks are dropped the
// loop settles: it waits until every worker has processed every batch
// handed to it, so commits, rollbacks and changelog records see settled
// stores. This is franz-go's goroutine-per-partition pattern; ordering
// within a partition is kept, partitions proceed in parallel.
//
// Ownership: the worker of a task is started with the task and stopped
// (stopWorker) when the task is dropped, always at a settle point, so it
// never holds a batch then. Between settle points it alone touches the
// task's store and counters; sync.WaitGroup orders its writes before the
// loop's reads.

// workerQueue is how many polled batches a partition worker may have
// waiting; a full queue makes the loop wait (back-pressure).
const workerQueue = 8

// startWorker starts t's worker.
func (r *Runner) startWorker(t *task) {
	t.in = make(chan job, workerQueue)
	t.done = make(chan struct{})
	go r.runWorker(t)
}

// runWorker processes t's batches until t.in is closed. After a failure it
// skips the rest: the loop aborts the transaction or batch at its next
// settle and the session starts again from the last commit.
func (r *Runner) runWorker(t *task) {
	defer close(t.done)
	for j := range t.in {
		switch {
		case t.err != nil:
		case j.changelog:
			recs := r.changelogRecords(t)
			for i := range recs {
				r.sink.add(&recs[i])
			}
		default:
			t.err = r.processBatch(t, j.recs)
		}
		r.work.Done()
	}
}

// job is one unit of a partition worker's work: a polled batch of records
// to process, or the request to produce the partition's changelog records
// for the changes since the last commit.
type job struct {
	recs      []*kgo.Record
	changelog bool
}

// produceChangelogs has every worker produce its partition's changelog
// records, and settles.
func (r *Runner) produceChangelogs() {
	r.mu.Lock()
	for _, t := range r.tasks {
		r.work.Add(1)
		t.in <- job{changelog: true}
	}
	r.mu.Unlock()
	r.work.Wait()
}

// stopWorker ends t's worker; call it only after settle.
func stopWorker(t *task) {
	if t.in == nil {
		return
	}
	close(t.in)
	<-t.done
	t.in = nil
}

// dispatch hands every fetched partition's records to its worker,
// restoring the partition's state first if it is new to this instance.
func (r *Runner) dispatch(ctx context.Context, adm *kadm.Client, fetches kgo.Fetches) error {
	var err error
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if err != nil || len(fp.Records) == 0 {
			return
		}
		var t *task
		if t, err = r.task(ctx, adm, fp.Partition); err != nil {
			return
		}
		r.work.Add(1)
		// The worker always drains its queue, so this send ends.
		t.in <- job{recs: fp.Records}
	})
	return err
}

// processBatch runs one partition's polled records through decode and the
// engine, handing output and dead-letter records to the session's sink.
func (r *Runner) processBatch(t *task, recs []*kgo.Record) error {
	for _, rec := range recs {
		if rec.Offset < t.resume {
			continue // in the restored state already
		}
		if err := r.processRecord(t, rec, r.sink.add); err != nil {
			return fmt.Errorf("partition %d: %w", t.partition, err)
		}
		t.next = rec.Offset + 1
		t.processed++
	}
	return nil
}

// settle waits until every worker has processed all it was handed. It
// returns the number of input records processed since the last settle and
// the workers' errors.
func (r *Runner) settle() (int, error) {
	r.work.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	var errs []error
	for _, t := range r.tasks {
		n += t.processed
		t.processed = 0
		if t.err != nil {
			errs = append(errs, t.err)
		}
	}
	return n, errors.Join(errs...)
}

// sink produces records asynchronously and gathers the errors of their
// promises until take.
type sink struct {
	produce func(*kgo.Record, func(*kgo.Record, error))
	mu      sync.Mutex
	err     error
}

func newSink(produce func(*kgo.Record, func(*kgo.Record, error))) *sink {
	return &sink{produce: produce}
}

// add produces rec; safe for concurrent use.
func (s *sink) add(rec *kgo.Record) { s.produce(rec, s.done) }

func (s *sink) done(_ *kgo.Record, err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	s.err = errors.Join(s.err, err)
	s.mu.Unlock()
}

// take returns the errors gathered since the last take and forgets them.
// Call it once the records are flushed.
func (s *sink) take() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.err
	s.err = nil
	return err
}
