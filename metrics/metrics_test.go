package metrics

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/state"
)

// value returns the value of the series name{labels} in reg (a counter or
// gauge, or a histogram's sample count), and whether it exists.
func value(t *testing.T, reg *prometheus.Registry, name string, labels ...string) (float64, bool) {
	t.Helper()
	m := testkit.Series(t, reg, name, labels...)
	if m == nil {
		return 0, false
	}
	return sample(m), true
}

func sample(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

func must(t *testing.T, reg *prometheus.Registry, want float64, name string, labels ...string) {
	t.Helper()
	got, ok := value(t, reg, name, labels...)
	if !ok {
		t.Errorf("%s%v: no such series", name, labels)
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// TestCountsCommittedWork feeds the hooks as the loop does: nothing shows
// before the commit, everything after it, and an aborted transaction's
// events are not counted.
func TestCountsCommittedWork(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	now := time.Unix(1_800_000_000, 0)
	m.now = func() time.Time { return now }
	h := m

	feed := func() {
		h.OnEvent(0, &match.Event{Kind: vcc.Interrupted}, match.Processed)
		h.OnEvent(0, &match.Event{Kind: vcc.Resumed}, match.Processed)
		h.OnEvent(1, &match.Event{Kind: vcc.Ended}, match.Duplicate)
		h.OnEvent(1, &match.Event{Kind: vcc.Resumed}, match.ConflictingDuplicate)
		h.OnEvent(1, &match.Event{Kind: vcc.Ignored}, match.Ignored)
		h.OnDeadLetter(2, &codec.DecodeError{Reason: codec.ReasonMissingChannelID, Err: errors.New("x")})
		h.OnDeadLetter(2, &codec.DecodeError{Reason: "something-new", Err: errors.New("x")})
		h.OnHousekeeping(1, match.Housekeeping{Expired: 1, Corrections: 2, Retractions: 3, Deleted: 4,
			InterruptedWhileInterrupted: 5, AfterEnd: 6, ResumeWithoutInterruption: 7})
		h.OnDeadLetter(1, &codec.DecodeError{Reason: codec.ReasonTooLate, Err: errors.New("x")})
		h.OnOutput(0, &match.Interruption{Party: vcc.Party{Role: "agent"}, Retracted: true, Revision: 2}, now)
		h.OnOutput(0, &match.Interruption{Party: vcc.Party{Role: "agent"}, Outcome: match.OutcomeResumed,
			InterruptedAt: 0, ClosedAt: int64(90 * time.Second)}, now.Add(-2*time.Second))
		h.OnOutput(1, &match.Interruption{Party: vcc.Party{Role: "robot"}, Outcome: match.OutcomeExpired,
			InterruptedAt: 0, ClosedAt: int64(24 * time.Hour)}, now.Add(-time.Second))
	}
	feed()
	must(t, reg, 0, "interruptions_input_events_total", "type", "interrupted", "result", "processed")
	must(t, reg, 0, "interruptions_event_to_output_seconds")

	h.OnCommit(6)
	must(t, reg, 1, "interruptions_input_events_total", "type", "interrupted", "result", "processed")
	must(t, reg, 1, "interruptions_input_events_total", "type", "resumed", "result", "processed")
	must(t, reg, 1, "interruptions_input_events_total", "type", "ended", "result", "duplicate")
	must(t, reg, 1, "interruptions_input_events_total", "type", "resumed", "result", "conflicting_duplicate")
	must(t, reg, 1, "interruptions_input_events_total", "type", "other", "result", "ignored")
	must(t, reg, 3, "interruptions_input_events_total", "type", "invalid", "result", "dlq")
	must(t, reg, 1, "interruptions_dead_letters_total", "reason", "missing-channel-id")
	must(t, reg, 1, "interruptions_dead_letters_total", "reason", "other")
	must(t, reg, 1, "interruptions_housekeeping_total", "action", "expired")
	for action, n := range map[string]float64{"correction": 2, "retraction": 3, "deleted_channel": 4,
		"interrupted-while-interrupted": 5, "after-end": 6, "resume-without-interruption": 7} {
		must(t, reg, n, "interruptions_housekeeping_total", "action", action)
	}
	must(t, reg, 1, "interruptions_dead_letters_total", "reason", "too-late")
	must(t, reg, 1, "interruptions_records_total", "outcome", "resumed")
	must(t, reg, 1, "interruptions_records_total", "outcome", "expired")
	must(t, reg, 0, "interruptions_records_total", "outcome", "ended")
	must(t, reg, 1, "interruptions_interruption_duration_seconds", "role", "agent", "outcome", "resumed")
	must(t, reg, 1, "interruptions_interruption_duration_seconds", "role", "other", "outcome", "expired")
	must(t, reg, 2, "interruptions_event_to_output_seconds")
	must(t, reg, 1, "interruptions_transactions_total", "result", "committed")
	if _, ok := value(t, reg, "interruptions_input_events_total", "type", "interrupted", "result", "ignored"); ok {
		t.Error("a series for a combination that cannot occur")
	}

	// Latency: 2s and 1s; durations 90s (agent, resumed) and a day
	// (other, expired).
	fams, _ := reg.Gather()
	for _, f := range fams {
		switch f.GetName() {
		case "interruptions_event_to_output_seconds":
			if s := f.GetMetric()[0].GetHistogram().GetSampleSum(); s != 3 {
				t.Errorf("latency sum %v, want 3", s)
			}
		}
	}
	if s := histogram(t, reg, "interruptions_interruption_duration_seconds", "role", "agent", "outcome", "resumed").GetSampleSum(); s != 90 {
		t.Errorf("agent resumed duration sum %v, want 90", s)
	}
	if s := histogram(t, reg, "interruptions_interruption_duration_seconds", "role", "other", "outcome", "expired").GetSampleSum(); s != 86400 {
		t.Errorf("other expired duration sum %v, want 86400", s)
	}

	feed()
	h.OnAbort(6)
	h.OnCommit(0) // an empty commit after the abort adds nothing
	must(t, reg, 1, "interruptions_input_events_total", "type", "interrupted", "result", "processed")
	must(t, reg, 1, "interruptions_records_total", "outcome", "resumed")
	must(t, reg, 1, "interruptions_transactions_total", "result", "aborted")

	h.OnIdleAdvance(1, 5)
	h.OnAbort(0) // an aborted advance is not counted
	h.OnIdleAdvance(1, 5)
	h.OnIdleAdvance(2, 5)
	h.OnCommit(0)
	must(t, reg, 2, "interruptions_idle_clock_advances_total")

	h.OnRestore(3, 120, 250*time.Millisecond)
	must(t, reg, 120, "interruptions_restore_records_total")
	must(t, reg, 1, "interruptions_restore_duration_seconds")
}

// TestRunnerStatusGauges: the status collector turns a snapshot into
// gauges, one series per owned partition.
func TestRunnerStatusGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.now = func() time.Time { return time.Unix(1000, 0) }
	st := processor.Status{Ready: true, Assigned: 2, Restoring: 1, Partitions: []processor.PartitionStatus{{
		Partition: 4, Lag: 17,
		Stats: state.Stats{Channels: 9, Open: 3, Held: 2, HasOpen: true,
			OldestOpen: int64(100 * time.Second), StreamTime: int64(160 * time.Second)},
	}, {Partition: 5, Lag: -1}}}
	m.ObserveRunner(func() processor.Status { return st })
	must(t, reg, 1, "interruptions_ready")
	must(t, reg, 2, "interruptions_partitions_assigned")
	must(t, reg, 1, "interruptions_partitions_restoring")
	must(t, reg, 3, "interruptions_open_interruptions", "partition", "4")
	must(t, reg, 2, "interruptions_held_closes", "partition", "4")
	must(t, reg, 9, "interruptions_channels", "partition", "4")
	must(t, reg, 60, "interruptions_oldest_open_interruption_age_seconds", "partition", "4")
	must(t, reg, 0, "interruptions_oldest_open_interruption_age_seconds", "partition", "5")
	must(t, reg, 160, "interruptions_stream_time_seconds", "partition", "4")
	must(t, reg, 840, "interruptions_clock_lag_seconds", "partition", "4")
	if _, ok := value(t, reg, "interruptions_clock_lag_seconds", "partition", "5"); ok {
		t.Error("a clock lag for a partition that has no clock yet")
	}
	must(t, reg, 17, "interruptions_consumer_lag_records", "partition", "4")
	if _, ok := value(t, reg, "interruptions_consumer_lag_records", "partition", "5"); ok {
		t.Error("a lag for a partition never fetched")
	}
}

// TestKafkaHooksSurviveClientRebuilds creates group clients one after the
// other and overlapping, as a rebuilt session may: no registration panic,
// and the registry still gathers.
func TestKafkaHooksSurviveClientRebuilds(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	hooks := m.KafkaHooks()
	newClient := func() *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), hooks)
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	a := newClient()
	b := newClient() // overlaps a
	a.Close()
	b.Close()
	c := newClient()
	defer c.Close()
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
	if _, ok := value(t, reg, "interruptions_kafka_buffered_produce_records_total"); !ok {
		t.Error("kprom metrics missing while a client is open")
	}
}

// TestHooksFromConcurrentWorkers calls the event hooks as the runner's
// partition workers do, one goroutine per partition at once (run with
// -race), then commits: every call is counted exactly once.
func TestHooksFromConcurrentWorkers(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	h := m
	const parts, perPart = 20, 500 // more partitions than shards
	var wg sync.WaitGroup
	for p := range int32(parts) {
		wg.Go(func() {
			for range perPart {
				h.OnEvent(p, &match.Event{Kind: vcc.Interrupted}, match.Processed)
				h.OnOutput(p, &match.Interruption{Party: vcc.Party{Role: "agent"}, Outcome: match.OutcomeEnded}, time.Now())
				h.OnHousekeeping(p, match.Housekeeping{Deleted: 1})
			}
		})
	}
	wg.Wait()
	h.OnCommit(parts * perPart)
	must(t, reg, parts*perPart, "interruptions_input_events_total", "type", "interrupted", "result", "processed")
	must(t, reg, parts*perPart, "interruptions_records_total", "outcome", "ended")
	must(t, reg, parts*perPart, "interruptions_housekeeping_total", "action", "deleted_channel")
	// The commit emptied every shard: a second one adds nothing.
	h.OnCommit(0)
	must(t, reg, parts*perPart, "interruptions_input_events_total", "type", "interrupted", "result", "processed")
}

func BenchmarkEventHook(b *testing.B) {
	m := New(prometheus.NewRegistry())
	h := m
	ev := &match.Event{Kind: vcc.Resumed}
	b.ReportAllocs()
	for i := range b.N {
		h.OnEvent(int32(i%3), ev, match.Processed)
		if i%1000 == 999 {
			h.OnCommit(1000)
		}
	}
}

func ExampleNew() {
	reg := prometheus.NewRegistry()
	m := New(reg)
	cfg := processor.DefaultConfig()
	cfg.Hooks = append(cfg.Hooks, m)
	cfg.GroupClientOpts = append(cfg.GroupClientOpts, m.KafkaHooks())
	r, err := processor.NewRunner(cfg)
	if err != nil {
		panic(err)
	}
	m.ObserveRunner(r.Status)
	fmt.Println(r.Ready())
	// Output: false not started
}
