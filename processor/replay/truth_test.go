package replay_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/processor/replay"
	"github.com/interruptions/interruptions/vccgen"
)

// row is the latest revision of one interruption in replay's output.
type row struct {
	revision  int
	retracted bool
	channel   string
	openedBy  string
	outcome   string
	from, to  string
}

// finalTable runs replay over events in the given order and returns the
// final table: the latest revision per interruptionId, retractions kept
// as such (callers drop them).
func finalTable(t *testing.T, events []vccgen.Event, cfg match.EngineConfig) (map[string]row, replay.Summary) {
	t.Helper()
	var in, out bytes.Buffer
	for _, ev := range events {
		in.Write(ev.Value)
		in.WriteByte('\n')
	}
	stats, err := replay.Run(context.Background(), &in, &out, nil, replay.Config{
		Engine: cfg, Encoder: cekafka.Encoder{Source: "/interruptions", Mode: codec.Structured}})
	if err != nil {
		t.Fatal(err)
	}
	table := map[string]row{}
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Type string `json:"type"`
			Data struct {
				InterruptionID string `json:"interruptionId"`
				Revision       int    `json:"revision"`
				ChannelID      string `json:"channelId"`
				Outcome        string `json:"outcome"`
				InterruptedAt  string `json:"interruptedAt"`
				ClosedAt       string `json:"closedAt"`
				OpenedBy       struct {
					ID string `json:"id"`
				} `json:"openedBy"`
			} `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		d := rec.Data
		if old, ok := table[d.InterruptionID]; ok && old.revision >= d.Revision {
			t.Fatalf("interruption %s: revision %d after %d", d.InterruptionID, d.Revision, old.revision)
		}
		table[d.InterruptionID] = row{revision: d.Revision, retracted: rec.Type == codec.RetractionType,
			channel: d.ChannelID, openedBy: d.OpenedBy.ID, outcome: d.Outcome, from: d.InterruptedAt, to: d.ClosedAt}
	}
	return table, stats
}

// TestReplayAgainstTruth checks replay against the true interruptions of
// vccgen's simulation, not against the engine: in delivery order (with
// duplicates, reordering and late deliveries), and fully shuffled. Every
// true interruption whose opening and closing events were delivered is in
// the final table with the true outcome and times; every interruption in
// the final table is opened by a true one's opening event.
func TestReplayAgainstTruth(t *testing.T) {
	n := 40_000
	if testing.Short() {
		n = 10_000
	}
	gen := vccgen.New(vccgen.Config{Seed: 7, Truth: true, LateRate: 0.01})
	events := gen.Take(n)
	delivered := map[string]bool{}
	for _, ev := range events {
		delivered[ev.ID] = true
	}
	truth := map[string]vccgen.Interruption{} // by opening event id
	complete := 0
	for _, in := range gen.Truth() {
		truth[in.OpenedBy] = in
		if delivered[in.OpenedBy] && delivered[in.ClosedBy] {
			complete++
		}
	}
	if complete < 100 {
		t.Fatalf("only %d complete true interruptions: the sample is too small", complete)
	}
	shuffled := append([]vccgen.Event(nil), events...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	cfg := match.EngineConfig{MaxInterruption: 24 * time.Hour, Retention: 48 * time.Hour}
	for name, order := range map[string][]vccgen.Event{"delivery order": events, "shuffled": shuffled} {
		t.Run(name, func(t *testing.T) {
			table, stats := finalTable(t, order, cfg)
			found := 0
			for id, r := range table {
				if r.retracted {
					continue
				}
				tr, ok := truth[r.openedBy]
				if !ok {
					t.Errorf("interruption %s opened by %s on %s: not a true interruption", id, r.openedBy, r.channel)
					continue
				}
				if !delivered[tr.ClosedBy] {
					// Its true close is still held for late delivery at the
					// end of the sample: a later close stands in for now.
					continue
				}
				want := row{revision: r.revision, channel: tr.ChannelID, openedBy: tr.OpenedBy, outcome: tr.Outcome,
					from: codec.FormatMillis(tr.InterruptedAt.UnixNano()), to: codec.FormatMillis(tr.ClosedAt.UnixNano())}
				if r != want {
					t.Errorf("interruption %s:\n got %+v\nwant %+v (truth)", id, r, want)
				}
				found++
			}
			for _, tr := range truth {
				if !delivered[tr.OpenedBy] || !delivered[tr.ClosedBy] {
					continue
				}
				id := codec.InterruptionID(tr.ChannelID, vccgen.SourceChannel, tr.OpenedBy)
				if r, ok := table[id]; !ok || r.retracted {
					t.Errorf("true interruption %+v: missing from the final table (%+v)", tr, r)
				}
			}
			t.Logf("%d true interruptions complete, %d in the final table; corrections %d, retractions %d",
				complete, found, stats.Housekeeping.Corrections, stats.Housekeeping.Retractions)
		})
	}
}
