package processor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/internal/testkit/records"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/processor/replay"
	"github.com/interruptions/interruptions/schemas"
	"github.com/interruptions/interruptions/vccgen"
)

// phaseFinal checks every phase record against its JSON Schema and
// returns their final table (records.PhaseFinalTable).
func phaseFinal(t *testing.T, set *schemas.Set, values [][]byte) map[string]string {
	t.Helper()
	for _, v := range values {
		if err := set.ValidatePhase(v); err != nil {
			t.Fatalf("phase record %s: %v", v, err)
		}
	}
	final, err := records.PhaseFinalTable(values)
	if err != nil {
		t.Fatal(err)
	}
	return final
}

// TestRunnerPhasesMatchReplayAndTruth runs the processor with the phase
// records on (exactly-once, binary output) over shuffled vccgen traffic,
// stopped and restarted half way so that the phase stores are restored
// from the changelog, and checks its final phase table: equal, record for
// record, to replay's over the same input, and every phase in it whose
// events were delivered is a true phase of the simulation with the true
// outcome, times and closing event, and every true phase whose events
// were delivered is in it (records.PhaseTruth). The interruption output is replay's
// too: the phases change nothing there.
func TestRunnerPhasesMatchReplayAndTruth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	f := newFixture(t, processor.ExactlyOnce, codec.Binary)
	f.cfg.PhasesTopic = "channel-phases"
	set, err := schemas.Compile()
	if err != nil {
		t.Fatal(err)
	}
	gen := vccgen.New(vccgen.Config{Seed: 17, Truth: true})
	events := gen.Take(4000)
	rand.New(rand.NewPCG(5, 6)).Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })

	var in, out, phases bytes.Buffer
	for _, ev := range events {
		in.Write(ev.Value)
		in.WriteByte('\n')
	}
	if _, err := replay.Run(context.Background(), &in, &out, nil, replay.Config{
		Engine: f.cfg.Engine, Encoder: cekafka.Encoder{Source: f.cfg.Encoder.Source, Mode: codec.Structured},
		Partitions: partitions, PhasesOutput: &phases}); err != nil {
		t.Fatal(err)
	}
	wantPhases := bytes.Split(bytes.TrimSpace(phases.Bytes()), []byte("\n"))
	nOut := expected(t, f.cfg, events).Len()
	want := phaseFinal(t, set, wantPhases)

	recs := inputs(t, f.cfg.InputTopic, events)
	f.produce(ctx, recs[:len(recs)/2]...)
	stop := f.start(ctx)
	f.readN(ctx, f.cfg.PhasesTopic, len(wantPhases)/4)
	if err := stop(); err != nil {
		t.Fatalf("run (first half): %v", err)
	}
	f.produce(ctx, recs[len(recs)/2:]...)
	stop = f.start(ctx)
	got := f.readN(ctx, f.cfg.PhasesTopic, len(wantPhases))
	outRecs := f.readN(ctx, f.cfg.OutputTopic, nOut)
	if err := stop(); err != nil {
		t.Fatalf("run (second half): %v", err)
	}
	if len(got) != len(wantPhases) {
		t.Errorf("%d phase records, replay wrote %d", len(got), len(wantPhases))
	}
	var values [][]byte
	for _, r := range got {
		ce, err := cekafka.DecodeRecord(r)
		if err != nil {
			t.Fatalf("phase record at offset %d: %v", r.Offset, err)
		}
		if ce.Type() != codec.PhaseType && ce.Type() != codec.PhaseRetractionType {
			t.Fatalf("phase record of type %s", ce.Type())
		}
		var d struct{ PhaseID string }
		if err := json.Unmarshal(ce.Data(), &d); err != nil || string(r.Key) != d.PhaseID {
			t.Fatalf("phase record keyed %q, phaseId %q (%v)", r.Key, d.PhaseID, err)
		}
		b, err := json.Marshal(ce)
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, b)
	}
	final := phaseFinal(t, set, values)
	if !maps.Equal(final, want) {
		n := 0
		for id := range want {
			if final[id] != want[id] && n < 5 {
				t.Errorf("phase %s:\n run    %s\n replay %s", id, final[id], want[id])
				n++
			}
		}
		t.Fatalf("run's final phase table (%d phases) differs from replay's (%d)", len(final), len(want))
	}
	if len(outRecs) != nOut {
		t.Errorf("%d interruption records, replay wrote %d", len(outRecs), nOut)
	}

	wrong, checked, _, err := records.PhaseTruth(final, events, gen.PhaseTruth())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wrong[:min(len(wrong), 5)] {
		t.Errorf("against vccgen's truth (%d disagree): %s", len(wrong), w)
	}
	for _, p := range []string{"alerting", "connected", "held", "interrupted", "wrap"} {
		if checked[p] < 10 {
			t.Errorf("only %d %s phases checked against the truth (%v)", checked[p], p, checked)
		}
	}
	t.Logf("%d phase records; final phases checked against the truth: %v", len(got), checked)
}

// replayPhases returns the phase records replay writes for events, as run
// partitions them.
func replayPhases(t *testing.T, cfg processor.Config, events []vccgen.Event) [][]byte {
	t.Helper()
	var in, out, phases bytes.Buffer
	for _, ev := range events {
		in.Write(ev.Value)
		in.WriteByte('\n')
	}
	if _, err := replay.Run(context.Background(), &in, &out, nil, replay.Config{
		Engine: cfg.Engine, Encoder: cekafka.Encoder{Source: cfg.Encoder.Source, Mode: codec.Structured},
		Partitions: partitions, PhasesOutput: &phases}); err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(phases.Bytes()), []byte("\n"))
}

// structuredValues returns records of any content mode as structured JSON.
func structuredValues(t *testing.T, recs []*kgo.Record) [][]byte {
	t.Helper()
	var out [][]byte
	for _, r := range recs {
		ce, err := cekafka.DecodeRecord(r)
		if err != nil {
			t.Fatalf("record at offset %d: %v", r.Offset, err)
		}
		b, err := json.Marshal(ce)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestPhaseStateRollsBackWithTheTransaction: exactly-once with the phase
// records on, the first transaction's commit fails (the session aborts it)
// after it processed much of the input. The phase stores return to the
// last commit with the partition's own, the records are processed again,
// and the committed phase records are replay's, as many and the same
// final table: none lost, none repeated, no phase revised twice.
func TestPhaseStateRollsBackWithTheTransaction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	f := newFixture(t, processor.ExactlyOnce, codec.Binary)
	f.cfg.IdleTimeout = 0
	f.cfg.CommitInterval = 200 * time.Millisecond
	f.cfg.PhasesTopic = "channel-phases"
	set, err := schemas.Compile()
	if err != nil {
		t.Fatal(err)
	}
	events := vccgen.New(vccgen.Config{Seed: 11}).Take(2000)
	want := replayPhases(t, f.cfg, events)
	f.produce(ctx, inputs(t, f.cfg.InputTopic, events)...)
	failed := failFirstCommit(f)
	commitRunToEnd(ctx, t, f)
	if n := failed.Load(); n != 1 {
		t.Fatalf("%d EndTxn commits failed, want 1", n)
	}
	got, err := testkit.ReadAll(ctx, kadm.NewClient(f.client), []kgo.Opt{kgo.SeedBrokers(f.cfg.Brokers...)}, f.cfg.PhasesTopic)
	if err != nil {
		t.Fatal(err)
	}
	values := structuredValues(t, got)
	if len(values) != len(want) {
		t.Errorf("%d phase records committed, replay wrote %d", len(values), len(want))
	}
	if g, w := phaseFinal(t, set, values), phaseFinal(t, set, want); !maps.Equal(g, w) {
		t.Errorf("final phase table: %d phases, replay's %d", len(g), len(w))
	}
}
