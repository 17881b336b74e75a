package replay_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/processor/replay"
	"github.com/interruptions/interruptions/schemas"
	"github.com/interruptions/interruptions/vccgen"
)

// phaseRecord is the latest revision of one phase in replay's phases
// output: its data whole (as JSON, revision cleared) and the fields the
// truth names.
type phaseRecord struct {
	revision  int
	retracted bool
	data      string // the record's data, revision 0, for whole-record comparisons
	phase     string
	channel   string
	openedBy  string
	closedBy  string
	outcome   string
	from, to  string
}

// phaseTable runs replay with the phase records on over events in the
// given order and returns the interruption output, and the final phase
// table: the latest revision per phaseId. Every phase record is checked
// against its JSON Schema and its id against its content.
func phaseTable(t *testing.T, set *schemas.Set, events []vccgen.Event, cfg match.EngineConfig) ([]byte, map[string]phaseRecord) {
	t.Helper()
	var in, out, phases bytes.Buffer
	for _, ev := range events {
		in.Write(ev.Value)
		in.WriteByte('\n')
	}
	if _, err := replay.Run(context.Background(), &in, &out, nil, replay.Config{
		Engine: cfg, Encoder: cekafka.Encoder{Source: "/interruptions", Mode: codec.Structured}, PhasesOutput: &phases}); err != nil {
		t.Fatal(err)
	}
	table := map[string]phaseRecord{}
	sc := bufio.NewScanner(&phases)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if err := set.ValidatePhase(sc.Bytes()); err != nil {
			t.Fatalf("phase record %s: %v", sc.Bytes(), err)
		}
		var rec struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		var d struct {
			PhaseID, Phase, ChannelID, Outcome, StartedAt, EndedAt string
			Revision                                               int
			OpenedBy                                               struct{ ID, Type string }
			ClosedBy                                               *struct{ ID, Type string }
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(rec.Data, &d); err != nil {
			t.Fatal(err)
		}
		if want := codec.PhaseID(d.ChannelID, d.Phase, vccgen.SourceChannel, d.OpenedBy.ID); d.PhaseID != want {
			t.Fatalf("phase record %s: phaseId %s, want %s", sc.Bytes(), d.PhaseID, want)
		}
		if old, ok := table[d.PhaseID]; ok && old.revision >= d.Revision {
			t.Fatalf("phase %s: revision %d after %d", d.PhaseID, d.Revision, old.revision)
		}
		var whole map[string]any
		if err := json.Unmarshal(rec.Data, &whole); err != nil {
			t.Fatal(err)
		}
		whole["revision"] = 0
		b, _ := json.Marshal(whole)
		r := phaseRecord{revision: d.Revision, retracted: rec.Type == codec.PhaseRetractionType, data: string(b), phase: d.Phase,
			channel: d.ChannelID, openedBy: d.OpenedBy.ID, outcome: d.Outcome, from: d.StartedAt, to: d.EndedAt}
		if d.ClosedBy != nil {
			r.closedBy = d.ClosedBy.ID
		}
		table[d.PhaseID] = r
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), table
}

// TestReplayPhasesAgainstTruth checks the phase records against the true
// phase periods of vccgen's simulation (its lifecycle, not the engine), in
// delivery order and fully shuffled: every true phase whose opening and
// closing events were delivered is in the final table with the true
// outcome, times and closing event, and every phase in the final table is
// a true one. The final tables of both orders are equal record for record
// (every field of the data but the revision), and turning the phases on
// leaves the interruption output byte for byte as it was.
func TestReplayPhasesAgainstTruth(t *testing.T) {
	n := 40_000
	if testing.Short() {
		n = 10_000
	}
	set, err := schemas.Compile()
	if err != nil {
		t.Fatal(err)
	}
	gen := vccgen.New(vccgen.Config{Seed: 11, Truth: true, LateRate: 0.01})
	events := gen.Take(n)
	delivered := map[string]bool{}
	for _, ev := range events {
		delivered[ev.ID] = true
	}
	truth := map[string]vccgen.Phase{} // by phaseId
	complete := map[string]int{}
	for _, p := range gen.PhaseTruth() {
		truth[codec.PhaseID(p.ChannelID, p.Phase, vccgen.SourceChannel, p.OpenedBy)] = p
		if delivered[p.OpenedBy] && delivered[p.ClosedBy] {
			complete[p.Phase]++
		}
	}
	for _, p := range match.Phases() {
		if complete[p.Name] < 20 {
			t.Fatalf("only %d complete true %s phases: the sample is too small (%v)", complete[p.Name], p.Name, complete)
		}
	}
	shuffled := slices.Clone(events)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	cfg := match.EngineConfig{MaxInterruption: 24 * time.Hour, Retention: 48 * time.Hour}
	finals := map[string]map[string]string{}
	for _, c := range []struct {
		name  string
		order []vccgen.Event
	}{{"delivery order", events}, {"shuffled", shuffled}} {
		t.Run(c.name, func(t *testing.T) {
			out, table := phaseTable(t, set, c.order, cfg)
			var plain bytes.Buffer
			var in bytes.Buffer
			for _, ev := range c.order {
				in.Write(ev.Value)
				in.WriteByte('\n')
			}
			if _, err := replay.Run(context.Background(), &in, &plain, nil, replay.Config{
				Engine: cfg, Encoder: cekafka.Encoder{Source: "/interruptions", Mode: codec.Structured}}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, plain.Bytes()) {
				t.Errorf("the interruption output differs with phases on (%d bytes) and off (%d bytes)", len(out), plain.Len())
			}
			final := map[string]string{}
			found := map[string]int{}
			for id, r := range table {
				if r.retracted {
					continue
				}
				final[id] = r.data
				tr, ok := truth[id]
				if !ok {
					t.Errorf("%s phase %s opened by %s on %s: not a true phase", r.phase, id, r.openedBy, r.channel)
					continue
				}
				if !delivered[tr.ClosedBy] {
					continue // its true close is still held for late delivery
				}
				want := r
				want.phase, want.channel, want.openedBy, want.closedBy, want.outcome = tr.Phase, tr.ChannelID, tr.OpenedBy, tr.ClosedBy, tr.Outcome
				want.from, want.to = codec.FormatMillis(tr.StartedAt.UnixNano()), codec.FormatMillis(tr.EndedAt.UnixNano())
				if r != want {
					t.Errorf("phase %s:\n got %+v\nwant %+v (truth)", id, r, want)
				}
				found[r.phase]++
			}
			for id, tr := range truth {
				if !delivered[tr.OpenedBy] || !delivered[tr.ClosedBy] {
					continue
				}
				if r, ok := table[id]; !ok || r.retracted {
					t.Errorf("true phase %+v: missing from the final table (%+v)", tr, r)
				}
			}
			finals[c.name] = final
			t.Logf("true phases complete %v; in the final table and true %v", complete, found)
		})
	}
	a, b := finals["delivery order"], finals["shuffled"]
	if !maps.Equal(a, b) {
		n := 0
		for id := range a {
			if a[id] != b[id] && n < 5 {
				t.Errorf("phase %s:\n delivery order %s\n shuffled       %s", id, a[id], b[id])
				n++
			}
		}
		t.Errorf("the final phase tables differ: %d and %d phases", len(a), len(b))
	}
}
