package processor

import (
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/interruptions/interruptions/core/handle"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/state"
)

// task is one assigned input partition: its state, its offsets and the
// worker goroutine that turns its records into output records, in input
// order (Kafka Streams' StreamTask). Partitions proceed in parallel, each on
// its own worker (franz-go's goroutine-per-partition pattern).
//
// Ownership: the worker is started with the task and stopped (stop) when
// the task is dropped, always at a settle point, so it never holds a batch
// then. Between settle points it alone touches store, next, processed and
// err; the loop reads them only after settle (taskManager.settle), the
// sync.WaitGroup ordering the worker's writes before the loop's reads.
// After settle the loop commits or rolls back the store while the worker
// may be answering a state API query (which settle does not wait for):
// queryMu keeps the two apart.
type task struct {
	partition int32
	store     *state.Store
	// phases are the stores of the phase matchers (pipeline.phases), in
	// their order; empty when the phase records are off. They share the
	// partition's changelog (state.PhaseKeyPrefix) and its commits.
	phases []*state.Store
	// queryMu is held by the worker while it runs a query, and by the
	// loop while it commits or rolls back.
	queryMu sync.Mutex
	// resume is the first input offset the restored state has not seen:
	// records before it are skipped (in the state already; see restore).
	resume int64
	// next is the input offset after the last record processed, written
	// to the changelog with the state; committed is next at the last
	// commit, where a rollback returns it.
	next, committed int64

	handle handler
	pipe   *pipeline
	// produce produces the records the task makes through the session's
	// collector (collector.go), given when the task is created.
	produce func(*kgo.Record)
	in      chan job
	done    chan struct{}
	// work is the task manager's count of jobs not yet done.
	work interface{ Done() }
	// processed counts the records processed since the last settle,
	// advances the idle advances.
	processed, advances int
	// err is the first error of the worker; it processes nothing more
	// once set.
	err error
	// chain is the task's handler chain (pipeline.chain), built once;
	// input and res hold the record being handled and the chain's
	// answer: in the task, not on the heap per record.
	chain handle.Handler
	input handle.Input
	res   handle.Result

	// The idle clock (see tick): the wall time of the last input, and
	// the stream time the last clock-moving input set with its wall time.
	lastInput   time.Time
	moveClock   int64
	moveArrival time.Time
}

// job is one unit of a worker's work: a polled batch of records to
// process, or the request to produce the partition's changelog records for
// the changes since the last commit.
type job struct {
	recs      []*kgo.Record
	changelog *changelogJob
	// tick, when not zero, is the wall time of an idle check.
	tick time.Time
	// query, when set, reads the task's committed state for the state
	// API (query.go).
	query func(*task)
}

// changelogJob asks a worker to produce its partition's changelog records.
type changelogJob struct {
	topic string
}

// workerQueue is how many polled batches a worker may have waiting; a full
// queue makes the loop wait (back-pressure).
const workerQueue = 8

// start starts t's worker.
func (t *task) start(work interface{ Done() }) {
	t.work = work
	t.in = make(chan job, workerQueue)
	t.done = make(chan struct{})
	go t.run()
}

// stop ends t's worker; call it only after settle.
func (t *task) stop() {
	if t.in == nil {
		return
	}
	close(t.in)
	<-t.done
	t.in = nil
}

// run processes t's jobs until t.in is closed. After a failure it skips the
// rest: the loop aborts the transaction or batch at its next settle and the
// session starts again from the last commit.
func (t *task) run() {
	defer close(t.done)
	for j := range t.in {
		if j.query != nil {
			// Reads only; not counted in work (settle does not wait
			// for queries); answered even after a failure.
			t.queryMu.Lock()
			j.query(t)
			t.queryMu.Unlock()
			continue
		}
		switch {
		case t.err != nil:
		case j.changelog != nil:
			t.changelog(j.changelog)
		case !j.tick.IsZero():
			t.err = t.idle(j.tick)
		default:
			t.err = t.processBatch(j.recs)
		}
		t.work.Done()
	}
}

// processBatch hands each record not yet in the state to the handler.
func (t *task) processBatch(recs []*kgo.Record) error {
	now := time.Now()
	t.lastInput = now
	clock := t.store.StreamTime()
	defer func() {
		if c := t.store.StreamTime(); c > clock {
			t.moveClock, t.moveArrival = c, now
		}
	}()
	for _, rec := range recs {
		if rec.Offset < t.resume {
			continue
		}
		if err := t.handle(t, rec); err != nil {
			return fmt.Errorf("partition %d offset %d: %w", t.partition, rec.Offset, err)
		}
		t.next = rec.Offset + 1
		t.processed++
	}
	return nil
}

// idle advances the partition's clock with wall time when it has had no
// input for the idle timeout, as a watermark would:
//
//	clock = max(event clock, event clock + (now − arrival of the event that last moved it) − idle timeout)
//
// and runs what became due (expiries are ordinary records). The engine's
// event clock is the store's stream time; the advanced clock is written to
// the changelog like any other. A restored partition counts its restore as
// the last arrival.
func (t *task) idle(now time.Time) error {
	idle := t.pipe.cfg.IdleTimeout
	if idle <= 0 || now.Sub(t.lastInput) < idle {
		return nil
	}
	target := t.moveClock + int64(now.Sub(t.moveArrival)-idle)
	if !t.store.AdvanceStreamTime(target) { // only forward
		return nil
	}
	out := t.res.Out[:0]
	hk := t.pipe.engine.Advance(t.store, func(in match.Interruption) { out = append(out, in) })
	t.res.Out = out
	phases := t.res.Phases[:0]
	if len(t.phases) > 0 {
		for i := range out {
			in := out[i]
			in.Phase = match.PhaseInterrupted
			phases = append(phases, in)
		}
	}
	for i, st := range t.phases {
		st.AdvanceStreamTime(target)
		t.pipe.phases[i].Advance(st, func(in match.Interruption) { phases = append(phases, in) })
	}
	t.res.Phases = phases
	if err := t.pipe.output(t, out, time.Time{}); err != nil {
		return fmt.Errorf("partition %d: idle advance: %w", t.partition, err)
	}
	if err := t.pipe.outputPhases(t, phases); err != nil {
		return fmt.Errorf("partition %d: idle advance: %w", t.partition, err)
	}
	t.advances++
	t.pipe.hooks.onIdleAdvance(t.partition, target)
	t.pipe.hooks.onHousekeeping(t.partition, hk)
	return nil
}

// changelog produces one record per state change since the last commit,
// then the stream time and the next input offset (state/changelog.go). The
// records share one slab and one buffer.
func (t *task) changelog(j *changelogJob) {
	changes := len(t.store.Changes())
	for _, st := range t.phases {
		changes += len(st.Changes()) + 1 // and its stream time
	}
	// One slab and one buffer for every store's records: a buffer that
	// grew would copy itself, and keep its old arrays alive through the
	// records already cut from them.
	recs := make([]kgo.Record, 0, changes+2)
	buf := make([]byte, 0, changes*256)
	add := func(key, value []byte) {
		recs = append(recs, kgo.Record{Topic: j.topic, Partition: t.partition, Key: key, Value: value})
	}
	buf = state.ChangelogEntries(buf, t.store, t.next, t.committed, add)
	for i, st := range t.phases {
		buf = state.PhaseChangelogEntries(buf, st, i, add)
	}
	for i := range recs {
		t.produce(&recs[i])
	}
}

// commit makes the current state the one a rollback returns to. The loop
// calls it after settle.
func (t *task) commit() {
	t.queryMu.Lock()
	defer t.queryMu.Unlock()
	t.store.Commit()
	for _, st := range t.phases {
		st.Commit()
	}
	t.committed = t.next
}

// rollback returns the state and offsets to the last commit. The loop
// calls it after settle.
func (t *task) rollback() {
	t.queryMu.Lock()
	defer t.queryMu.Unlock()
	t.store.Rollback()
	for _, st := range t.phases {
		st.Rollback()
	}
	t.next = t.committed
}

// ------------------------------------------------------------- the handler

// handler turns one input record of a task into the records it causes,
// which it hands to the collector: the record as a handle.Input to the
// task's chain of core/handle steps, built once per task (chain):
//
//	handle.DeadLetter(handle.Recover(log, matcher))
//
// and then, from the chain's one answer (t.res), each emitted interruption
// encoded to the output topic, the rejection (if any) to the dead-letter
// topic, the hooks told the disposition. The chain never calls back.
type handler func(t *task, rec *kgo.Record) error

// pipeline holds what the handler steps share: settings, the engine and
// the hooks. One per runner; the records go out through the task's
// collector (task.produce).
type pipeline struct {
	cfg    *Config
	log    *zap.Logger
	engine *match.Engine
	// phases are the phase matchers (match.PhaseConfigs) when
	// Config.PhasesTopic is set; each task keeps a store for each.
	phases []*match.Engine
	hooks  *hooks
}

// handler returns the handler of the matcher.
func (p *pipeline) handler() handler {
	return p.wrap(p.matcher)
}

// wrap returns the handler that gives each record to the task's chain of
// steps around the handle.Handler step(t) returns, the chain built on the
// task's first record, and writes what the chain answers.
func (p *pipeline) wrap(step func(t *task) handle.Handler) handler {
	return func(t *task, rec *kgo.Record) error {
		if t.chain == nil {
			t.chain = p.chain(step(t))
		}
		t.input = handle.Input{
			Value: rec.Value, Headers: cekafka.Headers(rec.Headers),
			// A record without a timestamp (-1) is checked against
			// time alone.
			Timestamp: rec.Timestamp, HasTimestamp: rec.Timestamp.UnixMilli() > 0,
			Partition: rec.Partition, Offset: rec.Offset, HasOffset: true,
		}
		res := &t.res
		if err := t.chain(&t.input, res); err != nil {
			return err
		}
		// What the engine emitted first, as it was decided (also before
		// a panic or a too-late rejection), then the dead letter.
		if err := p.output(t, res.Out, rec.Timestamp); err != nil {
			return err
		}
		if err := p.outputPhases(t, res.Phases); err != nil {
			return err
		}
		if derr := res.Rejected; derr != nil {
			p.log.Debug("dead letter", zap.Int32("partition", rec.Partition), zap.Int64("offset", rec.Offset), zap.Error(derr))
			t.produce(cekafka.DeadLetter(p.cfg.DLQTopic, rec, derr, time.Now()))
			p.hooks.onDeadLetter(rec.Partition, derr)
			return nil
		}
		if res.Placed {
			p.hooks.onEvent(rec.Partition, &res.Event, res.Disposition)
			p.hooks.onHousekeeping(rec.Partition, res.Housekeeping)
		}
		return nil
	}
}

// chain returns next with its dead letters and panics set aside in the
// result: a rejected record goes to the dead-letter topic, byte for byte
// with the reason (a panic as reason processing-panic, logged with its
// stack), and the task goes on.
func (p *pipeline) chain(next handle.Handler) handle.Handler {
	return handle.DeadLetter(handle.Recover(func(in *handle.Input, v any, stack []byte) {
		p.log.Error("panic while processing a record; sent to the dead-letter topic",
			zap.Int32("partition", in.Partition), zap.Int64("offset", in.Offset),
			zap.Any("panic", v), zap.ByteString("stack", stack))
	}, next))
}

// matcher returns t's matcher step: the record decoded through the Kafka
// binding, the matcher run on the task's store.
func (p *pipeline) matcher(t *task) handle.Handler {
	var phases []handle.PhaseMatcher
	for i, e := range p.phases {
		phases = append(phases, handle.PhaseMatcher{Engine: e, Stores: []*state.Store{t.phases[i]}})
	}
	return handle.NewMatcher(handle.MatcherConfig{
		Binding:      cekafka.Binding,
		Engine:       p.engine,
		Stores:       []*state.Store{t.store},
		MaxClockSkew: p.cfg.MaxClockSkew,
		Retention:    p.cfg.Engine.Retention,
		Phases:       phases,
	}).Handle
}

// numPhases is how many phase matchers p runs (0 for a nil pipeline).
func (p *pipeline) numPhases() int {
	if p == nil {
		return 0
	}
	return len(p.phases)
}

// outputPhases encodes each phase record into a record of the phases
// topic for t's collector, and counts it.
func (p *pipeline) outputPhases(t *task, out []match.Interruption) error {
	for i := range out {
		rec, err := p.cfg.Encoder.PhaseRecord(p.cfg.PhasesTopic, out[i])
		if err != nil {
			return fmt.Errorf("encode phase record: %w", err)
		}
		t.produce(rec)
		p.hooks.onPhase(t.partition, &out[i])
	}
	return nil
}

// output encodes each interruption into an output record for t's
// collector and calls the output hooks with input, the timestamp of the
// record that caused them (zero: none did).
func (p *pipeline) output(t *task, out []match.Interruption, input time.Time) error {
	for i := range out {
		rec, err := p.cfg.Encoder.Record(p.cfg.OutputTopic, out[i])
		if err != nil {
			return fmt.Errorf("encode output: %w", err)
		}
		t.produce(rec)
		if len(p.hooks.output) > 0 {
			p.hooks.onOutput(t.partition, &out[i], input)
		}
	}
	return nil
}
