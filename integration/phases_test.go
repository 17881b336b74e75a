package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/internal/testkit/records"
	"github.com/interruptions/interruptions/schemas"
	"github.com/interruptions/interruptions/vccgen"
)

// The input of TestPhasesOnRealBroker.
const (
	phasesPartitions = 3
	phasesEvents     = 20_000
	// The first processor's share of the input is produced in chunks of
	// phasesChunk as it works; from phasesKillFrom events on, it is killed
	// once seen holding phase records in an open transaction, after
	// phasesKillBy at the latest. The rest is produced once it is dead.
	phasesChunk    = 1_000
	phasesKillFrom = 10_000
	phasesKillBy   = 14_000
	phasesSeed     = 25
	// phasesLateRate is vccgen's fraction of events delivered minutes to
	// hours late (its default is 0.002).
	phasesLateRate = 0.01
	// phasesMinChecked is how many final phases of each kind at least must
	// be checked against vccgen's truth (opening and closing events both
	// produced).
	phasesMinChecked = 10
)

// TestPhasesOnRealBroker (issue 25) runs `interruptions run --phases-topic
// --guarantee exactly-once` on a real broker over 20,000 vccgen events
// (seed 25, 1% delivered minutes to hours late, structured and binary
// records alternating) on a 3-partition input. The processor works a live
// stream of them (1,000 at a time, the next once it committed the last)
// and is SIGKILLed part way, once it has been given 10,000 and is seen
// holding phase records in an open transaction (at 14,000 otherwise); the
// rest is produced, and a second processor with the same group, static
// member id and transactional id (it fences the first's open transaction)
// restores the phase stores from the changelog and takes the whole input.
// Then:
//   - every record on the phases topic (read_committed) decodes, is a
//     channel.phase.v0 or channel.phaseretracted.v0 valid against its JSON
//     Schema (schemas.ValidatePhase), is keyed by its data.phaseId with the
//     subject its channelId, and no (phaseId, revision) comes with two
//     contents;
//   - the phase records are those `interruptions replay --partitions 3
//     --phases-output` writes from the same events in the same per-partition
//     order, every record once (ids and data), and so is the final table
//     (the highest revision per phaseId, retracted phases dropped), record
//     for record in every data field but the revision;
//   - every final phase whose closing event was produced is a true phase of
//     vccgen's simulation (PhaseTruth) with its phase, channel, outcome,
//     startedAt, endedAt and closing event, and every true phase whose
//     opening and closing events were produced is in the final table; at
//     least phasesMinChecked of every kind of the phase table are checked;
//   - the interruption output is replay's, every record once, with final
//     tables of equal size, and the dead-letter topic is empty (as replay's
//     dead letters are).
//
// Replay is the oracle of the phase stream, vccgen's simulated lifecycle
// that of its meaning; the premise that replay saw what run saw is checked
// too: each input partition holds exactly the events KeyPartition gives
// it, in the generated order.
func TestPhasesOnRealBroker(t *testing.T) {
	began := time.Now()
	h := setup(t)
	set, err := schemas.Compile()
	must(t, "compile the JSON Schemas", err)
	phasesTopic := h.Group + "-phases"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = h.adm.DeleteTopics(ctx, phasesTopic)
	})

	// The events and the oracles.
	gen := vccgen.New(vccgen.Config{Seed: phasesSeed, Truth: true, LateRate: phasesLateRate})
	evs := gen.Take(phasesEvents)
	truth := gen.PhaseTruth()
	var ndjson bytes.Buffer
	for _, ev := range evs {
		ndjson.Write(ev.Value)
		ndjson.WriteByte('\n')
	}
	dir := t.TempDir()
	phasesFile, dlqFile := filepath.Join(dir, "phases.ndjson"), filepath.Join(dir, "dlq.ndjson")
	out := h.mustCLI(ndjson.Bytes(), "replay", "--partitions", strconv.Itoa(phasesPartitions),
		"--phases-output", phasesFile, "--dlq", dlqFile)
	wantOut, err := records.ParseNDJSON(out)
	must(t, "replay's output", err)
	wantOutTable := replayFinalTable(t, out)
	if dl := fileLines(t, dlqFile); len(dl) != 0 {
		t.Fatalf("replay dead-lettered %d of the generated events (first: %s): the test's premise of an empty DLQ does not hold", len(dl), dl[0])
	}
	wantPhaseLines := fileLines(t, phasesFile)
	wantPhases, err := records.ParseNDJSON(bytes.Join(wantPhaseLines, []byte("\n")))
	must(t, "replay's phase records", err)
	wantFinal := phaseFinalOf(t, set, "replay", wantPhaseLines)
	t.Logf("replay: %d interruption records (%d final), %d phase records (%d final phases)",
		wantOut.Len(), len(wantOutTable), len(wantPhaseLines), len(wantFinal))

	// The input, and the first processor on part of it.
	h.createTopic(h.Input, phasesPartitions)
	recs, err := records.Inputs(h.Input, evs, records.Alternating)
	must(t, "input records", err)
	// One static member (the second takes the killed one's place without
	// waiting for its session to time out) with one transactional id (the
	// second fences the first's open transaction).
	args := []string{"--guarantee", "exactly-once", "--phases-topic", phasesTopic,
		"--instance-id", "phases", "--transactional-id", h.Group + "-phases-txn"}
	h.produceRecs(recs[:phasesChunk])
	p1 := h.startRun("run-1", args...)
	h.waitFor("committed input and phase records", 20*time.Millisecond, []*proc{p1}, func() (bool, error) {
		return h.stableCount(phasesTopic) > 0 && h.committedCount() > 0, nil
	})
	// A live stream: run-1's share in chunks, the next once run-1 has
	// committed the last; from phasesKillFrom on, the kill as soon as
	// run-1 is seen holding phase records in a transaction not yet
	// committed.
	produced := phasesChunk
	for seenOpen := false; produced < phasesKillBy && !seenOpen; {
		next := min(produced+phasesChunk, phasesKillBy)
		h.produceRecs(recs[produced:next])
		produced = next
		target := int64(produced)
		h.waitFor(fmt.Sprintf("run-1 to commit %d input records or to hold phase records in an open transaction", target),
			5*time.Millisecond, []*proc{p1}, func() (bool, error) {
				if produced >= phasesKillFrom && h.openTransactions(phasesTopic) > 0 {
					seenOpen = true
					return true, nil
				}
				return h.committedCount() >= target, nil
			})
	}
	if code, _ := p1.interrupt(syscall.SIGKILL, 10*time.Second); code != -1 {
		t.Fatalf("run-1 exited %d on SIGKILL, want death by the signal", code)
	}
	killedAt := h.committedCount()
	open := h.openTransactions(phasesTopic, h.Output, h.Changelog())
	t.Logf("run-1 SIGKILLed at +%s with %d of the %d input records it was given committed; %d partitions of the phases, output and changelog topics left in an open transaction",
		time.Since(began).Round(time.Millisecond), killedAt, produced, open)

	// The rest of the input, and the second processor.
	h.produceRecs(recs[produced:])
	h.checkPhasesInput(evs)
	p2 := h.startRun("run-2", args...)
	h.waitCaughtUp(p2)
	p2.stopClean()
	t.Logf("run-2 committed the whole input at +%s", time.Since(began).Round(time.Millisecond))

	// 1. The phase records: valid, keyed, one content per revision; and
	// replay's, every record once.
	phaseRecs := h.readTopic(phasesTopic)
	gotPhases := testkit.Records{}
	values := make([][]byte, 0, len(phaseRecs))
	for _, r := range phaseRecs {
		ce, err := cekafka.DecodeRecord(r)
		if err != nil {
			t.Fatalf("phase record %d@%d: %v", r.Partition, r.Offset, err)
		}
		if ce.Type() != codec.PhaseType && ce.Type() != codec.PhaseRetractionType {
			t.Fatalf("phase record %d@%d of type %q", r.Partition, r.Offset, ce.Type())
		}
		var d struct{ PhaseID, ChannelID string }
		if err := json.Unmarshal(ce.Data(), &d); err != nil || string(r.Key) != d.PhaseID || ce.Subject() != d.ChannelID {
			t.Errorf("phase record %d@%d: key %q, phaseId %q, subject %q, channelId %q (%v)", r.Partition, r.Offset, r.Key, d.PhaseID, ce.Subject(), d.ChannelID, err)
		}
		must(t, "count a phase record", gotPhases.Add(ce))
		b, err := json.Marshal(ce)
		must(t, "phase record as structured JSON", err)
		values = append(values, b)
	}
	final := phaseFinalOf(t, set, "run", values)
	testkit.SameRecords(t, wantPhases, gotPhases)
	t.Logf("phases topic: %d records, %d final phases", len(phaseRecs), len(final))

	// 2. The final table is replay's.
	if !maps.Equal(final, wantFinal) {
		var diffs []string
		for _, id := range slices.Sorted(maps.Keys(wantFinal)) {
			if got, ok := final[id]; !ok {
				diffs = append(diffs, fmt.Sprintf("phase %s missing; replay: %s", id, wantFinal[id]))
			} else if got != wantFinal[id] {
				diffs = append(diffs, fmt.Sprintf("phase %s:\n  run    %s\n  replay %s", id, got, wantFinal[id]))
			}
		}
		for _, id := range slices.Sorted(maps.Keys(final)) {
			if _, ok := wantFinal[id]; !ok {
				diffs = append(diffs, fmt.Sprintf("phase %s not in replay's table: %s", id, final[id]))
			}
		}
		t.Errorf("run's final phase table (%d phases) differs from replay's (%d) in %d phases; the first:\n%s",
			len(final), len(wantFinal), len(diffs), strings.Join(diffs[:min(len(diffs), 5)], "\n"))
	}

	// 3. The final table against the simulation's truth.
	checkPhaseTruth(t, final, evs, truth)

	// 4. The interruption output and the dead letters.
	outRecs := h.readTopic(h.Output)
	gotOut := records.DecodeOutput(t, outRecs, codec.Binary)
	testkit.SameRecords(t, wantOut, gotOut)
	gotOutTable, err := records.FinalTable(outRecs)
	must(t, "the output's final table", err)
	if len(gotOutTable) != len(wantOutTable) {
		t.Errorf("the output's final table holds %d interruptions, replay's %d", len(gotOutTable), len(wantOutTable))
	}
	t.Logf("output: %d records (%d final interruptions); replay: %d (%d)", gotOut.Len(), len(gotOutTable), wantOut.Len(), len(wantOutTable))
	if dl := h.readTopic(h.DLQ); len(dl) != 0 {
		t.Errorf("%d dead letters from valid input; first: %s %q", len(dl), testkit.Header(dl[0], cekafka.HeaderDLQReason), dl[0].Value)
	}
	t.Logf("took %s", time.Since(began).Round(time.Millisecond))
}

// checkPhasesInput reads the input topic and fails the test unless each
// partition holds the events of evs that KeyPartition puts there, in the
// order of evs, both content modes present: what replay --partitions
// assumed.
func (h *harness) checkPhasesInput(evs []vccgen.Event) {
	h.t.Helper()
	want := map[int32][]string{}
	for _, ev := range evs {
		p := int32(codec.KeyPartition(ev.Key, phasesPartitions))
		want[p] = append(want[p], ev.ID)
	}
	in := h.readTopic(h.Input)
	sort.SliceStable(in, func(i, j int) bool {
		if in[i].Partition != in[j].Partition {
			return in[i].Partition < in[j].Partition
		}
		return in[i].Offset < in[j].Offset
	})
	got := map[int32][]string{}
	modes := map[codec.Mode]int{}
	for _, r := range in {
		ce, err := cekafka.DecodeRecord(r)
		if err != nil {
			h.t.Fatalf("input record %d@%d: %v", r.Partition, r.Offset, err)
		}
		got[r.Partition] = append(got[r.Partition], ce.ID())
		modes[records.Mode(r)]++
	}
	for p := range int32(phasesPartitions) {
		if !slices.Equal(got[p], want[p]) {
			h.t.Fatalf("input partition %d holds %d events, not the %d KeyPartition gives it in the generated order", p, len(got[p]), len(want[p]))
		}
	}
	if modes[codec.Structured] == 0 || modes[codec.Binary] == 0 {
		h.t.Fatalf("input records by content mode: %v, want both", modes)
	}
	h.t.Logf("input: %d events on %d partitions (%d, %d, %d), %d structured and %d binary",
		len(in), phasesPartitions, len(got[0]), len(got[1]), len(got[2]), modes[codec.Structured], modes[codec.Binary])
}

// phaseFinalOf checks phase records (structured CloudEvent JSON) against
// their JSON Schema and returns their final table
// (records.PhaseFinalTable): per phaseId the data of the highest revision
// with the revision left out, phases whose highest revision is a
// retraction dropped; a (phaseId, revision) seen twice must have the same
// type and data.
func phaseFinalOf(t *testing.T, set *schemas.Set, who string, values [][]byte) map[string]string {
	t.Helper()
	for _, v := range values {
		if err := set.ValidatePhase(v); err != nil {
			t.Fatalf("%s: phase record %s: %v", who, v, err)
		}
	}
	final, err := records.PhaseFinalTable(values)
	if err != nil {
		t.Fatalf("%s: %v", who, err)
	}
	return final
}

// checkPhaseTruth holds the final phase table to vccgen's true phases: a
// final phase is a true one, and when its true closing event was produced
// it has the true phase, channel, outcome, times and closing event; every
// true phase whose opening and closing events were produced is in the
// table. At least phasesMinChecked phases of every kind must be checked.
func checkPhaseTruth(t *testing.T, final map[string]string, evs []vccgen.Event, truth []vccgen.Phase) {
	t.Helper()
	wrong, checked, complete, err := records.PhaseTruth(final, evs, truth)
	if err != nil {
		t.Fatal(err)
	}
	if len(wrong) > 0 {
		t.Errorf("%d final phases disagree with vccgen's truth; the first:\n%s", len(wrong), strings.Join(wrong[:min(len(wrong), 5)], "\n"))
	}
	for _, p := range match.Phases() {
		if checked[p.Name] < phasesMinChecked {
			t.Errorf("only %d %s phases checked against the truth, want at least %d (%v)", checked[p.Name], p.Name, phasesMinChecked, checked)
		}
	}
	t.Logf("true phases with both events produced: %v; final phases checked against the truth: %v", complete, checked)
}

// replayFinalTable is the final interruption table of replay's NDJSON
// output.
func replayFinalTable(t *testing.T, ndjson []byte) records.Table {
	t.Helper()
	var evs []*event.Event
	for _, line := range bytes.Split(ndjson, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		ce, err := codec.ParseStructured(line)
		if err != nil {
			t.Fatalf("replay output line %s: %v", line, err)
		}
		evs = append(evs, &ce)
	}
	table, err := records.FinalTableOf(evs)
	must(t, "replay's final table", err)
	return table
}

// fileLines is the non-blank lines of file.
func fileLines(t *testing.T, file string) [][]byte {
	t.Helper()
	f, err := os.Open(file)
	must(t, "open "+file, err)
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			lines = append(lines, slices.Clone(sc.Bytes()))
		}
	}
	must(t, "read "+file, sc.Err())
	return lines
}
