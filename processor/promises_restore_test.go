package processor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/metrics"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/state"
)

// Issue 19, restore and idle clock: the promises of a restored partition's
// clock (where it starts, how it advances when idle) and of what a restore
// skips.

// restoreChannelOn returns a channel id that the input's key partitioner
// sends to partition p.
func restoreChannelOn(p int32, prefix string) string {
	for i := 0; ; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if int32(codec.KeyPartition([]byte(id), partitions)) == p {
			return id
		}
	}
}

// restoreEvent is a structured input record of channel ch, of type typ,
// dated ts (data.timestamp and time).
func restoreEvent(t *testing.T, topic, typ, id, ch string, ts time.Time) *kgo.Record {
	t.Helper()
	return &kgo.Record{Topic: topic, Key: []byte(ch), Value: testkit.StructuredValue(t,
		testkit.ChannelEvent(typ, id, ch, ts.UTC().Format(time.RFC3339Nano)))}
}

// restoreData decodes the data of a structured output record.
func restoreData(t *testing.T, rec *kgo.Record) codec.RecordData {
	t.Helper()
	ce, err := codec.ParseStructured(rec.Value)
	if err != nil {
		t.Fatalf("output record %q: %v", rec.Value, err)
	}
	var d codec.RecordData
	if err := json.Unmarshal(ce.Data(), &d); err != nil {
		t.Fatalf("output record data %q: %v", ce.Data(), err)
	}
	return d
}

// restoreRun starts a runner on f.cfg and returns it with the function
// that stops it and returns Run's error.
func restoreRun(ctx context.Context, t *testing.T, f *fixture) (*processor.Runner, func() error) {
	t.Helper()
	r, err := processor.NewRunner(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return r, stop
}

// restoreClocks returns the committed clock of every restored partition.
func restoreClocks(st processor.Status) map[int32]int64 {
	out := make(map[int32]int64, len(st.Partitions))
	for _, p := range st.Partitions {
		out[p.Partition] = p.StreamTime
	}
	return out
}

// restoreEnds sums the high watermarks of topic's partitions.
func restoreEnds(ctx context.Context, t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// restoreCounter is a hook that counts events by disposition, dead
// letters, and idle advances (with the clocks they set).
type restoreCounter struct {
	mu          sync.Mutex
	events      map[match.Disposition]int
	deadLetters map[codec.Reason]int
	advances    []int64
}

func newRestoreCounter() *restoreCounter {
	return &restoreCounter{events: map[match.Disposition]int{}, deadLetters: map[codec.Reason]int{}}
}

func (c *restoreCounter) OnEvent(_ int32, _ *match.Event, d match.Disposition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events[d]++
}

func (c *restoreCounter) OnDeadLetter(_ int32, err *codec.DecodeError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadLetters[err.Reason]++
}

func (c *restoreCounter) OnIdleAdvance(_ int32, clock int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advances = append(c.advances, clock)
}

// snapshot returns copies of the counts.
func (c *restoreCounter) snapshot() (map[match.Disposition]int, map[codec.Reason]int, []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ev, dl := map[match.Disposition]int{}, map[codec.Reason]int{}
	for k, v := range c.events {
		ev[k] = v
	}
	for k, v := range c.deadLetters {
		dl[k] = v
	}
	return ev, dl, append([]int64(nil), c.advances...)
}

// restoreMetric returns the value of the counter name{labels} in reg (0
// when the series does not exist yet).
func restoreMetric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	return testkit.Series(t, reg, name, labels...).GetCounter().GetValue()
}

// TestPromiseRestoredIdlePartitionAdvancesFromRestore: a restored
// partition that gets no input counts its restore as its last arrival.
// Idle past --idle-timeout, its clock advances by at most the wall time
// since the restore less the idle timeout, whether it was restored with a
// clock (an open interruption) or empty; it does not jump to the end of
// time (2262), and later ordinary events are processed, not dead-lettered
// as too late.
func TestPromiseRestoredIdlePartitionAdvancesFromRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFixture(t, processor.ExactlyOnce, codec.Structured)
	f.cfg.IdleTimeout = 0
	const p = int32(0)
	chX, chY := restoreChannelOn(p, "restored"), restoreChannelOn(1, "empty")
	t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

	// First run, without idle advance: partition 0 gets a clock and an
	// open interruption; partitions 1 and 2 stay empty.
	f.produce(ctx, restoreEvent(t, f.cfg.InputTopic, "channel.interrupted.v0", "x1", chX, t0))
	f.runUntil(ctx, "the interruption committed", func(st processor.Status) bool {
		return restoreClocks(st)[p] == t0.UnixNano()
	})

	// Second run: every partition is restored, then idle.
	f.cfg.IdleTimeout = 300 * time.Millisecond
	restored := map[int32]int64{0: t0.UnixNano(), 1: 0, 2: 0}
	before := time.Now()
	r, stop := restoreRun(ctx, t, f)
	testkit.Poll(t, 30*time.Second, 10*time.Millisecond, "every restored partition's clock advanced", nil, nil, func() (bool, string) {
		st := r.Status()
		// The status is as of a commit before now: no idle advance
		// can be later than now - idle timeout after the restore.
		bound := time.Since(before) - f.cfg.IdleTimeout
		clocks := restoreClocks(st)
		moved := 0
		for q, c := range clocks {
			if adv := c - restored[q]; adv > 0 && adv > int64(bound) { // bound < 0: no advance yet
				t.Fatalf("partition %d: clock %s, advanced by %v; at most %v of wall time (since before the restore, less the idle timeout) had passed",
					q, time.Unix(0, c).UTC(), time.Duration(c-restored[q]), bound)
			}
			if c < restored[q] {
				t.Fatalf("partition %d: clock %d went back from the restored %d", q, c, restored[q])
			}
			if c > restored[q] {
				moved++
			}
		}
		return st.Ready && len(clocks) == partitions && moved == partitions, fmt.Sprintf("clocks %v, restored %v", clocks, restored)
	})

	// Ordinary later events, on the partition restored with a clock and
	// on an empty one: processed.
	f.produce(ctx,
		restoreEvent(t, f.cfg.InputTopic, "channel.resumed.v0", "x2", chX, t0.Add(time.Minute)),
		restoreEvent(t, f.cfg.InputTopic, "channel.interrupted.v0", "y1", chY, t0.Add(2*time.Minute)),
		restoreEvent(t, f.cfg.InputTopic, "channel.resumed.v0", "y2", chY, t0.Add(3*time.Minute)))
	adm := kadm.NewClient(f.client)
	if err := testkit.WaitCommitted(ctx, adm, f.cfg.Group, f.cfg.InputTopic, 10*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if n := restoreEnds(ctx, t, adm, f.cfg.DLQTopic); n != 0 {
		dl := f.readN(ctx, f.cfg.DLQTopic, 1)
		t.Fatalf("%d dead letters, want none; first: reason %s: %s", n,
			testkit.Header(dl[0], cekafka.HeaderDLQReason), testkit.Header(dl[0], cekafka.HeaderDLQError))
	}
	got := map[string]codec.RecordData{}
	for _, rec := range f.readN(ctx, f.cfg.OutputTopic, 2) {
		d := restoreData(t, rec)
		got[d.ChannelID] = d
	}
	for ch, want := range map[string][2]time.Time{chX: {t0, t0.Add(time.Minute)}, chY: {t0.Add(2 * time.Minute), t0.Add(3 * time.Minute)}} {
		d := got[ch]
		if d.Outcome != "resumed" || d.InterruptedAt != codec.FormatMillis(want[0].UnixNano()) || d.ClosedAt != codec.FormatMillis(want[1].UnixNano()) {
			t.Errorf("channel %s: record %+v, want resumed %s-%s", ch, d, want[0], want[1])
		}
	}
}

// TestPromiseRestoreLowersFutureClockToPlausibleEvent: a changelog whose
// clock is in the future (2100) and that holds a channel whose last event
// is in the future too (2099, beyond wall time + max-clock-skew) is
// restored with the clock lowered to the latest plausible event time, not
// to the future channel's; the lowered clock is written to the changelog
// at the next commit.
func TestPromiseRestoreLowersFutureClockToPlausibleEvent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFixture(t, processor.ExactlyOnce, codec.Structured)
	f.cfg.IdleTimeout = 0
	const p = int32(0)
	plausible := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC).UnixNano()
	older := plausible - int64(time.Hour)
	future := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	poisoned := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	channel := func(id string, at int64) *kgo.Record {
		c := state.NewChannel(state.ChannelData{LastEventAt: at,
			Events: []state.Ref{{Source: "/channel", ID: id + "-i", Type: "channel.interrupted.v0", At: at}}})
		return &kgo.Record{Topic: f.cfg.ChangelogTopic(), Partition: p, Key: []byte(id), Value: state.AppendChannel(nil, c)}
	}
	cl := f.changelogWriter(ctx)
	if err := cl.ProduceSync(ctx,
		channel("ch-older", older), channel("ch-plausible", plausible), channel("ch-future", future),
		&kgo.Record{Topic: f.cfg.ChangelogTopic(), Partition: p, Key: []byte(state.StreamTimeKey), Value: state.AppendStreamTime(nil, poisoned)},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}

	r, stop := restoreRun(ctx, t, f)
	var clock int64
	testkit.Poll(t, 30*time.Second, 10*time.Millisecond, "partition 0 restored", nil, nil, func() (bool, string) {
		c, ok := restoreClocks(r.Status())[p]
		clock = c
		return ok, "not restored"
	})
	if clock != plausible {
		t.Fatalf("restored clock %s, want the latest plausible event time %s (poisoned %s, future channel %s)",
			time.Unix(0, clock).UTC(), time.Unix(0, plausible).UTC(), time.Unix(0, poisoned).UTC(), time.Unix(0, future).UTC())
	}

	// A record that does not move the clock (a dead letter) makes a
	// commit with changelog records; once its dead letter is committed,
	// so is the changelog written with it.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: f.cfg.InputTopic, Partition: p, Value: []byte("not an event")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	f.readN(ctx, f.cfg.DLQTopic, 1)
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	last, n := int64(0), 0
	if err := testkit.ReadCommitted(ctx, kadm.NewClient(f.client), []kgo.Opt{kgo.SeedBrokers(f.cfg.Brokers...)}, f.cfg.ChangelogTopic(), func(rec *kgo.Record) {
		if rec.Partition != p || rec.Attrs.IsControl() || string(rec.Key) != state.StreamTimeKey {
			return
		}
		v, err := state.DecodeStreamTime(rec.Value)
		if err != nil {
			t.Fatalf("changelog stream time at offset %d: %v", rec.Offset, err)
		}
		last, n = v, n+1
	}); err != nil {
		t.Fatal(err)
	}
	if n < 2 || last != plausible {
		t.Fatalf("changelog partition %d: %d stream-time records, the last %s; want the lowered clock %s written after the poisoned one",
			p, n, time.Unix(0, last).UTC(), time.Unix(0, plausible).UTC())
	}
}

// TestPromiseRestoreSkipsRecordsStateHolds: under at-least-once the
// changelog (with its input offset) is written before the input offsets
// are committed; when the offset commit is lost, the restarted processor
// is handed records its restored state already holds. It skips them: no
// dead letter twice, no output twice, and the hooks count each record
// once.
func TestPromiseRestoreSkipsRecordsStateHolds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFixture(t, processor.AtLeastOnce, codec.Structured)
	f.cfg.IdleTimeout = 0
	const p = int32(2)
	ch := restoreChannelOn(p, "held")
	t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	adm := kadm.NewClient(f.client)

	first := newRestoreCounter()
	f.cfg.Hooks = []processor.Hook{first}
	f.produce(ctx,
		restoreEvent(t, f.cfg.InputTopic, "channel.interrupted.v0", "i1", ch, t0),
		&kgo.Record{Topic: f.cfg.InputTopic, Key: []byte(ch), Value: []byte("not an event")},
		restoreEvent(t, f.cfg.InputTopic, "channel.resumed.v0", "r1", ch, t0.Add(time.Minute)))
	f.runUntil(ctx, "three records committed", func(st processor.Status) bool {
		for _, ps := range st.Partitions {
			if ps.Partition == p {
				return ps.Committed == 3
			}
		}
		return false
	})
	if err := testkit.WaitCommitted(ctx, adm, f.cfg.Group, f.cfg.InputTopic, 10*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	if ev, dl, _ := first.snapshot(); ev[match.Processed] != 2 || len(ev) != 1 || dl[codec.ReasonNotCloudEvent] != 1 || len(dl) != 1 {
		t.Fatalf("first run: events %v, dead letters %v; want 2 processed, 1 not-cloudevent", ev, dl)
	}

	// The offset commit "was lost": the group is set back to the start
	// while the changelog says offset 3.
	var back kadm.Offsets
	back.Add(kadm.Offset{Topic: f.cfg.InputTopic, Partition: p, At: 0, LeaderEpoch: -1})
	resp, err := adm.CommitOffsets(ctx, f.cfg.Group, back)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("set the group's offset back: %v", err)
	}
	if n, err := testkit.Committed(ctx, adm, f.cfg.Group, f.cfg.InputTopic); err != nil || n != 0 {
		t.Fatalf("committed offsets after the reset: %d, %v", n, err)
	}

	second := newRestoreCounter()
	f.cfg.Hooks = []processor.Hook{second}
	_, stop := restoreRun(ctx, t, f)
	f.produce(ctx,
		restoreEvent(t, f.cfg.InputTopic, "channel.interrupted.v0", "i2", ch, t0.Add(2*time.Minute)),
		restoreEvent(t, f.cfg.InputTopic, "channel.resumed.v0", "r2", ch, t0.Add(3*time.Minute)))
	if err := testkit.WaitCommitted(ctx, adm, f.cfg.Group, f.cfg.InputTopic, 10*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if ev, dl, _ := second.snapshot(); ev[match.Processed] != 2 || len(ev) != 1 || len(dl) != 0 {
		t.Fatalf("second run: events %v, dead letters %v; want only the 2 new events processed", ev, dl)
	}
	if n := restoreEnds(ctx, t, adm, f.cfg.DLQTopic); n != 1 {
		t.Fatalf("%d dead letters, want the one bad record's once", n)
	}
	if n := restoreEnds(ctx, t, adm, f.cfg.OutputTopic); n != 2 {
		t.Fatalf("%d output records, want 2 (one per interruption)", n)
	}
	got := map[string]string{}
	for _, rec := range f.readN(ctx, f.cfg.OutputTopic, 2) {
		d := restoreData(t, rec)
		got[d.OpenedBy.ID] = d.Outcome
	}
	if got["i1"] != "resumed" || got["i2"] != "resumed" {
		t.Errorf("outputs (opened by: outcome) %v, want i1 and i2 resumed", got)
	}
}

// restoreHarness is a task made as a restore makes one at wall time w0,
// with idle timeout 1m, max-interruption 5m and structured output.
func restoreHarness(w0 time.Time, hooks ...processor.Hook) (*processor.RestoreTask, processor.Config) {
	cfg := processor.DefaultConfig()
	cfg.IdleTimeout = time.Minute
	cfg.Engine.MaxInterruption = 5 * time.Minute
	cfg.Engine.Retention = 10 * time.Minute
	cfg.Encoder.Mode = codec.Structured
	cfg.Hooks = hooks
	return processor.NewRestoreTask(cfg, 0, w0), cfg
}

// restoreInput is an input record at offset off of type typ dated ts that
// reached Kafka at ts.
func restoreInput(t *testing.T, off int64, typ, id string, ts time.Time) *kgo.Record {
	rec := restoreEvent(t, "in", typ, id, "ch-idle", ts)
	rec.Offset, rec.Timestamp = off, ts
	return rec
}

// TestPromiseIdleWaitsForAnyInput: the idle clock counts from the last
// input, not from the last input that moved the clock. A partition with
// an open interruption that keeps receiving input that does not move its
// clock (redeliveries of the same event, ignored event types) more often
// than the idle timeout is not idle: for longer than idle timeout +
// max-interruption of wall time its clock stays and nothing expires. Once
// the input stops, the clock advances by the documented formula and the
// interruption expires.
func TestPromiseIdleWaitsForAnyInput(t *testing.T) {
	w0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	rt, cfg := restoreHarness(w0)
	if err := rt.Process(w0, restoreInput(t, 0, "channel.interrupted.v0", "i1", w0)); err != nil {
		t.Fatal(err)
	}
	if rt.StreamTime() != w0.UnixNano() {
		t.Fatalf("clock %d after the interruption, want %d", rt.StreamTime(), w0.UnixNano())
	}
	every := 40 * time.Second // < idle timeout
	end := w0.Add(2 * (cfg.IdleTimeout + cfg.Engine.MaxInterruption))
	last := w0
	off := int64(1)
	for at := w0.Add(every); at.Before(end); at = at.Add(every) {
		rec := restoreInput(t, off, "channel.interrupted.v0", "i1", w0) // a redelivery
		if off%2 == 0 {
			rec = restoreInput(t, off, "channel.alerted.v0", fmt.Sprint("a", off), at) // ignored, dated now
		}
		if err := rt.Process(at, rec); err != nil {
			t.Fatal(err)
		}
		off++
		last = at
		// Just before the next input.
		if err := rt.Idle(at.Add(every - time.Second)); err != nil {
			t.Fatal(err)
		}
		if c := rt.StreamTime(); c != w0.UnixNano() || len(rt.Output()) != 0 {
			t.Fatalf("%v after the interruption, input %v ago: clock %s (want %s), %d records (want none)",
				at.Add(every-time.Second).Sub(w0), every-time.Second, time.Unix(0, c).UTC(), w0, len(rt.Output()))
		}
	}
	// The input stops: idle once the idle timeout has passed since it.
	if err := rt.Idle(last.Add(cfg.IdleTimeout - time.Nanosecond)); err != nil {
		t.Fatal(err)
	}
	if c := rt.StreamTime(); c != w0.UnixNano() {
		t.Fatalf("clock %s before the idle timeout, want %s", time.Unix(0, c).UTC(), w0)
	}
	now := last.Add(cfg.IdleTimeout)
	if err := rt.Idle(now); err != nil {
		t.Fatal(err)
	}
	// clock = event clock + (now - arrival of the event that set it) - idle timeout
	want := w0.Add(now.Sub(w0) - cfg.IdleTimeout)
	if c := rt.StreamTime(); c != want.UnixNano() {
		t.Fatalf("idle clock %s, want %s", time.Unix(0, c).UTC(), want)
	}
	out := rt.Output()
	if len(out) != 1 {
		t.Fatalf("%d records after the idle advance, want the expiry", len(out))
	}
	if d := restoreData(t, out[0]); d.Outcome != "expired" || d.OpenedBy.ID != "i1" ||
		d.ClosedAt != codec.FormatMillis(w0.Add(cfg.Engine.MaxInterruption).UnixNano()) {
		t.Fatalf("record %+v, want i1 expired at %s", d, w0.Add(cfg.Engine.MaxInterruption))
	}
}

// TestPromiseIdleAdvancesCounted: HookIdleAdvance (idle_clock_advances_total)
// is called once per idle advance, with the clock it set, and not for an
// idle check that moves nothing.
func TestPromiseIdleAdvancesCounted(t *testing.T) {
	w0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	h := newRestoreCounter()
	rt, cfg := restoreHarness(w0, h)
	idle := cfg.IdleTimeout
	if err := rt.Process(w0, restoreInput(t, 0, "channel.interrupted.v0", "i1", w0)); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		input bool // an ignored event arrives, instead of an idle check
		at    time.Duration
	}{
		{at: idle - time.Second},             // not idle yet
		{at: idle + 10*time.Second},          // advance to w0+10s
		{at: idle + 10*time.Second},          // nothing new
		{at: idle + 30*time.Second},          // advance to w0+30s
		{input: true, at: 100 * time.Second}, // does not move the clock
		{at: 130 * time.Second},              // 30s after the input: not idle
		{at: 100*time.Second + idle},         // idle again: advance to w0+160s-60s
		{at: 100*time.Second + idle},         // nothing new
		{at: 100*time.Second + 2*idle},       // advance to w0+220s-60s
	}
	for i, s := range steps {
		at := w0.Add(s.at)
		var err error
		if s.input {
			err = rt.Process(at, restoreInput(t, int64(i+1), "channel.alerted.v0", fmt.Sprint("a", i), at))
		} else {
			err = rt.Idle(at)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	want := []int64{w0.Add(10 * time.Second).UnixNano(), w0.Add(30 * time.Second).UnixNano(),
		w0.Add(100 * time.Second).UnixNano(), w0.Add(160 * time.Second).UnixNano()}
	_, _, got := h.snapshot()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("idle advances %v, want %v", got, want)
	}
	if rt.StreamTime() != want[len(want)-1] {
		t.Fatalf("clock %d, want the last advance's %d", rt.StreamTime(), want[len(want)-1])
	}
}

// TestPromiseIdleAdvancesInMetrics: a partition whose only input was an
// interruption expires it by idle advance; the metrics count the expired
// record and the idle advances once the transactions that made them are
// committed, although those transactions covered no input record.
func TestPromiseIdleAdvancesInMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFixture(t, processor.ExactlyOnce, codec.Structured)
	f.cfg.IdleTimeout = 200 * time.Millisecond
	f.cfg.Engine.MaxInterruption = 500 * time.Millisecond
	f.cfg.Engine.Retention = time.Second
	reg := prometheus.NewRegistry()
	h := newRestoreCounter()
	f.cfg.Hooks = []processor.Hook{metrics.New(reg), h}
	_, stop := restoreRun(ctx, t, f)
	now := time.Now().UTC().Truncate(time.Millisecond)
	f.produce(ctx, restoreEvent(t, f.cfg.InputTopic, "channel.interrupted.v0", "i1", "ch-metrics", now))
	if d := restoreData(t, f.readN(ctx, f.cfg.OutputTopic, 1)[0]); d.Outcome != "expired" {
		t.Fatalf("record %+v, want expired", d)
	}
	testkit.Poll(t, 20*time.Second, 10*time.Millisecond, "the expiry and the idle advances counted", nil, nil, func() (bool, string) {
		expired := restoreMetric(t, reg, "interruptions_records_total", "outcome", "expired")
		adv := restoreMetric(t, reg, "interruptions_idle_clock_advances_total")
		return expired == 1 && adv >= 1, fmt.Sprintf("expired %v, idle advances %v", expired, adv)
	})
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	// Every advance was committed (nothing aborted): the counter is
	// exactly the number of advances the hook saw.
	_, _, advances := h.snapshot()
	if got := restoreMetric(t, reg, "interruptions_idle_clock_advances_total"); got != float64(len(advances)) {
		t.Fatalf("idle_clock_advances_total %v after the stop, want the %d advances made", got, len(advances))
	}
}
