package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/internal/testkit/records"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The ClickHouse downstream table (analytics/clickhouse.sql), proven in chDB,
// ClickHouse's engine in process, driven through analytics/chdb_load.py with
// the Python of the virtual environment `make analytics-venv` creates.

// analyticsPython is ANALYTICS_PYTHON, or the venv's python under the repo
// root; the test fails, saying how to create it, when there is none.
func analyticsPython(t *testing.T) string {
	t.Helper()
	py := os.Getenv("ANALYTICS_PYTHON")
	if py == "" {
		py = filepath.Join(repoRoot, ".cache", "venv", "bin", "python")
	}
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("no Python with chDB at %s (%v): run `make analytics-venv`, or set ANALYTICS_PYTHON", py, err)
	}
	return py
}

// tableRow is one row of the interruptions table as chdb_load.py prints it
// (times in Unix milliseconds), or as the test derives it from a record.
type tableRow struct {
	InterruptionID string `json:"interruptionId"`
	Revision       int    `json:"revision"`
	IsDeleted      int    `json:"is_deleted"`
	ID             string `json:"id"`
	Type           string `json:"type"`
	Time           int64  `json:"time"`
	ChannelID      string `json:"channelId"`
	ConversationID string `json:"conversationId"`
	InteractionID  string `json:"interactionId"`
	Role           string `json:"role"`
	AgentID        string `json:"agentId"`
	UserID         string `json:"userId"`
	Outcome        string `json:"outcome"`
	InterruptedAt  int64  `json:"interruptedAt"`
	ClosedAt       int64  `json:"closedAt"`
	DurationMs     int64  `json:"durationMs"`
	OpenedByID     string `json:"openedById"`
	OpenedByType   string `json:"openedByType"`
	ClosedByID     string `json:"closedById"`
	ClosedByType   string `json:"closedByType"`
	Reason         string `json:"reason"`
}

// percentileRow is one row of an example query: a group (role or agentId),
// its count and p50, p90, p99 of durationMs.
type percentileRow struct {
	Role          string  `json:"role"`
	AgentID       string  `json:"agentId"`
	Interruptions int     `json:"interruptions"`
	P             []int64 `json:"p50_p90_p99_ms"`
}

// chdbResult is chdb_load.py's output.
type chdbResult struct {
	Final   []tableRow      `json:"final"`
	ByRole  []percentileRow `json:"query-by-role"`
	ByAgent []percentileRow `json:"query-by-agent"`
}

// millis parses an RFC 3339 time of a record into Unix milliseconds.
func millis(t *testing.T, s string) int64 {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("record time %q: %v", s, err)
	}
	return ts.UnixMilli()
}

// rowOf is the table row a structured output CloudEvent stands for, read
// from the record with encoding/json (not through ClickHouse).
func rowOf(t *testing.T, line []byte) tableRow {
	t.Helper()
	var ce struct {
		ID, Type, Time string
		Data           struct {
			InterruptionID string `json:"interruptionId"`
			Revision       int    `json:"revision"`
			ChannelID      string `json:"channelId"`
			ConversationID string `json:"conversationId"`
			InteractionID  string `json:"interactionId"`
			Party          struct{ Role, AgentID, UserID string }
			Outcome        string `json:"outcome"`
			InterruptedAt  string `json:"interruptedAt"`
			ClosedAt       string `json:"closedAt"`
			DurationMs     int64  `json:"durationMs"`
			OpenedBy       struct{ ID, Type string }
			ClosedBy       *struct{ ID, Type string }
			Reason         string `json:"reason"`
		}
	}
	if err := json.Unmarshal(line, &ce); err != nil {
		t.Fatalf("output record %q: %v", line, err)
	}
	d := ce.Data
	r := tableRow{InterruptionID: d.InterruptionID, Revision: d.Revision, ID: ce.ID, Type: ce.Type,
		Time: millis(t, ce.Time), ChannelID: d.ChannelID, ConversationID: d.ConversationID,
		InteractionID: d.InteractionID, Role: d.Party.Role, AgentID: d.Party.AgentID, UserID: d.Party.UserID,
		Outcome: d.Outcome, InterruptedAt: millis(t, d.InterruptedAt), DurationMs: d.DurationMs,
		OpenedByID: d.OpenedBy.ID, OpenedByType: d.OpenedBy.Type, Reason: d.Reason}
	if d.ClosedAt != "" {
		r.ClosedAt = millis(t, d.ClosedAt)
	}
	if d.ClosedBy != nil {
		r.ClosedByID, r.ClosedByType = d.ClosedBy.ID, d.ClosedBy.Type
	}
	switch ce.Type {
	case codec.RetractionType:
		r.IsDeleted = 1
	case codec.RecordType:
	default:
		t.Fatalf("output record of type %q", ce.Type)
	}
	return r
}

// tableRowOf is a row of a ReplacingMergeTree table that the tests also
// reduce in Go: its key, its version and whether it is a deletion.
type tableRowOf interface {
	comparable
	rowKey() string
	rowRevision() int
	rowDeleted() bool
}

func (r tableRow) rowKey() string   { return r.InterruptionID }
func (r tableRow) rowRevision() int { return r.Revision }
func (r tableRow) rowDeleted() bool { return r.IsDeleted == 1 }

// lastRevisions keeps the highest revision per key. Two records of one key
// with one revision fail the test.
func lastRevisions[R tableRowOf](t *testing.T, rows []R) map[string]R {
	t.Helper()
	latest := map[string]R{}
	for _, r := range rows {
		if old, ok := latest[r.rowKey()]; ok {
			if old.rowRevision() == r.rowRevision() && old != r {
				t.Fatalf("%s: two different records of revision %d", r.rowKey(), r.rowRevision())
			}
			if old.rowRevision() >= r.rowRevision() {
				continue
			}
		}
		latest[r.rowKey()] = r
	}
	return latest
}

// reduceFinal is the downstream recipe, done in Go: the highest revision per
// key (interruptionId, phaseId); a row whose highest revision is a
// retraction is dropped. Two records of one key with one revision fail the
// test.
func reduceFinal[R tableRowOf](t *testing.T, rows []R) map[string]R {
	t.Helper()
	latest := lastRevisions(t, rows)
	for id, r := range latest {
		if r.rowDeleted() {
			delete(latest, id)
		}
	}
	return latest
}

// tableDiff classifies how a table read with FINAL differs from the final
// table: rows missing, rows that should not be there (retracted or
// unknown), rows at an older revision, and rows at the right revision with
// other contents.
type tableDiff struct {
	missing, extra, older, differ []string
}

func (d tableDiff) empty() bool {
	return len(d.missing)+len(d.extra)+len(d.older)+len(d.differ) == 0
}

func (d tableDiff) String() string {
	return fmt.Sprintf("%d missing %v, %d extra %v, %d at an older revision %v, %d different %v",
		len(d.missing), firstN(d.missing), len(d.extra), firstN(d.extra),
		len(d.older), firstN(d.older), len(d.differ), firstN(d.differ))
}

func firstN(s []string) []string {
	if len(s) > 3 {
		return s[:3]
	}
	return s
}

// diffTable classifies how rows read with FINAL differ from the final table.
func diffTable[R tableRowOf](got []R, want map[string]R) tableDiff {
	var d tableDiff
	seen := map[string]bool{}
	for _, g := range got {
		id := g.rowKey()
		w, ok := want[id]
		switch {
		case seen[id]:
			d.extra = append(d.extra, id+" (twice)")
		case !ok:
			d.extra = append(d.extra, id)
		case g.rowRevision() < w.rowRevision():
			d.older = append(d.older, fmt.Sprintf("%s (revision %d, want %d)", id, g.rowRevision(), w.rowRevision()))
		case g != w:
			d.differ = append(d.differ, fmt.Sprintf("%s:\n got %+v\nwant %+v", id, g, w))
		}
		seen[id] = true
	}
	for id := range want {
		if !seen[id] {
			d.missing = append(d.missing, id)
		}
	}
	sort.Strings(d.missing)
	sort.Strings(d.extra)
	return d
}

// quantileExact is ClickHouse's quantileExact, written from its definition:
// over n sorted values, the element at index floor(p*n) (0-based), the last
// for p >= 1. No interpolation.
func quantileExact(sorted []int64, p float64) int64 {
	i := len(sorted) - 1
	if p < 1 {
		i = int(p * float64(len(sorted)))
	}
	return sorted[i]
}

// percentiles groups the final table's durations by key (rows for which
// keep is true) into the rows the example queries must give.
func percentiles(final map[string]tableRow, keep func(tableRow) bool, key func(tableRow) string) map[string]percentileRow {
	groups := map[string][]int64{}
	for _, r := range final {
		if keep(r) {
			groups[key(r)] = append(groups[key(r)], r.DurationMs)
		}
	}
	out := map[string]percentileRow{}
	for k, ds := range groups {
		slices.Sort(ds)
		out[k] = percentileRow{Interruptions: len(ds),
			P: []int64{quantileExact(ds, 0.5), quantileExact(ds, 0.9), quantileExact(ds, 0.99)}}
	}
	return out
}

// percentileMismatches compares an example query's rows with the groups
// computed from the final table and says how they differ.
func percentileMismatches(what string, got []percentileRow, key func(percentileRow) string, want map[string]percentileRow) []string {
	var out []string
	if len(got) != len(want) {
		out = append(out, fmt.Sprintf("%s: %d groups, want %d", what, len(got), len(want)))
	}
	for _, g := range got {
		w, ok := want[key(g)]
		if !ok || g.Interruptions != w.Interruptions || !slices.Equal(g.P, w.P) {
			out = append(out, fmt.Sprintf("%s %q: %d interruptions, p50/p90/p99 %v ms; want %d, %v", what, key(g), g.Interruptions, g.P, w.Interruptions, w.P))
		}
	}
	return out
}

// handEvent is a channel event of a hand-made sequence.
func handEvent(typ, id, channel, at string) []byte {
	ts := "2026-01-05T" + at + ".000Z"
	return []byte(fmt.Sprintf(`{"specversion":"1.0","type":%q,"id":%q,"source":"/channel","subject":%q,"time":%q,`+
		`"datacontenttype":"application/json","data":{"timestamp":%q,"channel":{"conversationId":"conv-%s",`+
		`"interactionId":"inter-%s","channelId":%q,"party":{"role":"agent","agentId":"9001","userId":"user-9001"}}}}`,
		typ, id, channel, ts, ts, channel, channel, channel))
}

// runChDB runs chdb_load.py over the records file by route with the DDL in
// sqlFile and returns its result.
func runChDB(t *testing.T, py, sqlFile, route, records string) chdbResult {
	t.Helper()
	cmd := exec.Command(py, filepath.Join(repoRoot, "analytics", "chdb_load.py"), sqlFile, route, records)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chdb_load.py %s %s: %v\n%s", filepath.Base(sqlFile), route, err, tail(errb.String()))
	}
	var res chdbResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("chdb_load.py output: %v\n%s", err, tail(out.String()))
	}
	return res
}

// TestAnalyticsClickHouse runs `interruptions run` over generated events
// delivered in a scrambled order plus hand-made sequences known to cause a
// correction and retractions, once per output mode, loads each output topic
// into chDB through analytics/clickhouse.sql by each route (the NDJSON
// loader and the structured-mode view over the structured run's values, the
// binary-mode view over the binary run's values and headers), and checks that the table read with FINAL
// equals, row for row, the final table reduced in Go from `replay` over the
// same events in the same order, and that the example percentile queries
// give the percentiles computed in Go from that final table. Mutations of
// the DDL and of the input prove the check sensitive: a retraction not
// applied, an older revision winning, a record missing.
func TestAnalyticsClickHouse(t *testing.T) {
	h := setup(t)
	py := analyticsPython(t)
	const parts, events, seed = 3, 3000, 16

	// Generated events, arrival scrambled (all within the 48h retention:
	// gen spans about two hours), then the hand-made sequences in order.
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(h.genNDJSON(events, seed)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	rand.New(rand.NewPCG(seed, 2)).Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	const corrected, retracted, superseded = "analytics-corrected", "analytics-retracted", "analytics-superseded"
	lines = append(lines,
		// A correction: resumed@09:10 closes it first, a late resumed@09:05
		// closes it earlier (revision 2).
		handEvent("channel.interrupted.v0", "hand-c1", corrected, "09:00:00"),
		handEvent("channel.resumed.v0", "hand-c2", corrected, "09:10:00"),
		handEvent("channel.resumed.v0", "hand-c3", corrected, "09:05:00"),
		// A retraction: a late ended@08:59 puts the interruption after the
		// channel's end.
		handEvent("channel.interrupted.v0", "hand-r1", retracted, "09:00:00"),
		handEvent("channel.resumed.v0", "hand-r2", retracted, "09:05:00"),
		handEvent("channel.ended.v0", "hand-r3", retracted, "08:59:00"),
		// A retraction that stays: interrupted@09:30 closed by
		// resumed@09:40, then a late interrupted@09:20 starts that period
		// (the 09:30 one is retracted, the 09:20 one published).
		handEvent("channel.interrupted.v0", "hand-s1", superseded, "09:30:00"),
		handEvent("channel.resumed.v0", "hand-s2", superseded, "09:40:00"),
		handEvent("channel.interrupted.v0", "hand-s3", superseded, "09:20:00"),
	)

	h.createTopic(h.Input, parts)
	producer, err := kgo.NewClient(kgo.SeedBrokers(h.brokers...), kgo.DefaultProduceTopic(h.Input))
	must(t, "producer", err)
	defer producer.Close()
	recs := make([]*kgo.Record, len(lines))
	for i, l := range lines {
		var ce struct{ Subject string }
		must(t, "input subject", json.Unmarshal(l, &ce))
		recs[i] = &kgo.Record{Key: []byte(ce.Subject), Value: l}
	}
	must(t, "produce", producer.ProduceSync(h.ctx, recs...).FirstErr())

	p := h.startRun("run")
	h.waitCaughtUp(p)
	p.stopClean()
	out := h.readTopic(h.Output)
	if dl := h.readTopic(h.DLQ); len(dl) != 0 {
		t.Fatalf("%d dead letters; first: %s %q", len(dl), testkit.Header(dl[0], cekafka.HeaderDLQReason), dl[0].Value)
	}

	// The oracle: replay over the input topic's events (each partition in
	// offset order, as run read them), reduced in Go.
	in := h.readTopic(h.Input)
	sort.SliceStable(in, func(i, j int) bool {
		if in[i].Partition != in[j].Partition {
			return in[i].Partition < in[j].Partition
		}
		return in[i].Offset < in[j].Offset
	})
	var ndjson bytes.Buffer
	for _, r := range in {
		ndjson.Write(r.Value)
		ndjson.WriteByte('\n')
	}
	var replayed []tableRow
	sc = bufio.NewScanner(bytes.NewReader(h.mustCLI(ndjson.Bytes(), "replay", "--partitions", fmt.Sprint(parts))))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		replayed = append(replayed, rowOf(t, sc.Bytes()))
	}
	want := reduceFinal(t, replayed)
	// The interruptions whose highest revision is a retraction (the
	// hand-made one among them; most others came back in a later revision).
	var finallyRetracted []string
	last := map[string]tableRow{}
	for _, r := range replayed {
		if old, ok := last[r.InterruptionID]; !ok || r.Revision > old.Revision {
			last[r.InterruptionID] = r
		}
	}
	for id, r := range last {
		if r.IsDeleted == 1 {
			finallyRetracted = append(finallyRetracted, id)
		}
	}
	sort.Strings(finallyRetracted)
	corrections, retractions := 0, 0
	for _, r := range replayed {
		if r.IsDeleted == 1 {
			retractions++
		} else if r.Revision > 1 {
			corrections++
		}
	}
	t.Logf("input %d events; replay: %d records (%d corrections, %d retractions), final table %d rows; run (binary): %d records",
		len(lines), len(replayed), corrections, retractions, len(want), len(out))
	if corrections < 10 || retractions < 10 || len(want) < 100 {
		t.Fatalf("the input is too tame: %d corrections, %d retractions, %d final rows", corrections, retractions, len(want))
	}
	handCorrected, handRetracted, handSuperseded := 0, 0, 0
	for _, r := range replayed {
		switch r.ChannelID {
		case corrected:
			handCorrected++
		case retracted:
			handRetracted++
		case superseded:
			handSuperseded++
		}
	}
	for _, r := range want {
		if r.ChannelID == retracted {
			t.Fatalf("the hand-made retraction is in the final table: %+v", r)
		}
		if r.ChannelID == corrected && (r.Revision != 2 || r.DurationMs != 5*60*1000) {
			t.Fatalf("the hand-made correction is not revision 2 of 5 minutes: %+v", r)
		}
		if r.ChannelID == superseded && (r.OpenedByID != "hand-s3" || r.Revision != 1 || r.DurationMs != 20*60*1000) {
			t.Fatalf("the hand-made superseding interruption is not 09:20-09:40 in revision 1: %+v", r)
		}
	}
	if handCorrected != 2 || handRetracted != 2 || handSuperseded != 3 {
		t.Fatalf("hand-made sequences gave %d, %d and %d records, want 2, 2 and 3", handCorrected, handRetracted, handSuperseded)
	}

	// A second run over the same input in structured mode, on its own
	// output topic and group: its record values are what the NDJSON loader
	// and the structured view read.
	hs := *h
	hs.Output, hs.DLQ, hs.Group = h.Output+"-structured", h.DLQ+"-structured", h.Group+"-structured"
	t.Cleanup(hs.deleteTopics)
	ps := hs.startRun("run-structured", "--output-mode", "structured")
	hs.waitCaughtUp(ps)
	ps.stopClean()
	outStructured := hs.readTopic(hs.Output)

	// The records as the loaders see them: the structured run's values as
	// NDJSON; for the binary view, the binary run's values with their own
	// header names and values (what the Kafka engine's _headers columns hold).
	dir := t.TempDir()
	var structured, binary bytes.Buffer
	for _, r := range outStructured {
		if records.Mode(r) != codec.Structured || bytes.ContainsAny(r.Value, "\n") {
			t.Fatalf("structured run: output record %d@%d is not one structured event", r.Partition, r.Offset)
		}
		if string(r.Key) != rowOf(t, r.Value).InterruptionID {
			t.Errorf("structured run: output record %d@%d: key %q is not its interruptionId", r.Partition, r.Offset, r.Key)
		}
		structured.Write(r.Value)
		structured.WriteByte('\n')
	}
	for _, r := range out {
		if records.Mode(r) != codec.Binary {
			t.Fatalf("output record %d@%d is not in binary mode", r.Partition, r.Offset)
		}
		ce, err := cekafka.DecodeRecord(r)
		must(t, "decode output record", err)
		if string(r.Key) != rowOf(t, mustJSON(t, ce)).InterruptionID {
			t.Errorf("output record %s: key %q is not its interruptionId", ce.ID(), r.Key)
		}
		names, values := []string{}, []string{}
		for _, hd := range r.Headers {
			names, values = append(names, hd.Key), append(values, string(hd.Value))
		}
		binary.Write(mustJSON(t, map[string]any{"value": string(r.Value), "names": names, "values": values}))
		binary.WriteByte('\n')
	}
	structuredFile, binaryFile := filepath.Join(dir, "structured.ndjson"), filepath.Join(dir, "binary.jsonl")
	must(t, "write", os.WriteFile(structuredFile, structured.Bytes(), 0o644))
	must(t, "write", os.WriteFile(binaryFile, binary.Bytes(), 0o644))
	ddl := filepath.Join(repoRoot, "analytics", "clickhouse.sql")

	roleKey := func(r percentileRow) string { return r.Role }
	agentKey := func(r percentileRow) string { return r.AgentID }
	byRole := percentiles(want, func(tableRow) bool { return true }, func(r tableRow) string { return r.Role })
	byAgent := percentiles(want, func(r tableRow) bool { return r.Role == "agent" }, func(r tableRow) string { return r.AgentID })
	for _, route := range []struct{ name, file string }{
		{"loader", structuredFile}, {"structured", structuredFile}, {"binary", binaryFile},
	} {
		t.Run(route.name, func(t *testing.T) {
			res := runChDB(t, py, ddl, route.name, route.file)
			if d := diffTable(res.Final, want); !d.empty() {
				t.Errorf("the table read with FINAL is not the final table: %s", d)
			}
			for _, m := range percentileMismatches("by role", res.ByRole, roleKey, byRole) {
				t.Error(m)
			}
			for _, m := range percentileMismatches("by agent", res.ByAgent, agentKey, byAgent) {
				t.Error(m)
			}
		})
	}

	// Mutations: each must be caught, as the difference it causes.
	orig, err := os.ReadFile(ddl)
	must(t, "read DDL", err)
	mutant := func(t *testing.T, old, new string) string {
		t.Helper()
		if strings.Count(string(orig), old) != 1 {
			t.Fatalf("the DDL has %d %q, want 1", strings.Count(string(orig), old), old)
		}
		f := filepath.Join(t.TempDir(), "mutant.sql")
		must(t, "write", os.WriteFile(f, []byte(strings.Replace(string(orig), old, new, 1)), 0o644))
		return f
	}
	const engine = "ReplacingMergeTree(revision, is_deleted)"
	t.Run("mutation-retraction-not-applied", func(t *testing.T) {
		res := runChDB(t, py, mutant(t, engine, "ReplacingMergeTree(revision)"), "binary", binaryFile)
		d := diffTable(res.Final, want)
		if len(finallyRetracted) == 0 || !slices.Equal(d.extra, finallyRetracted) {
			t.Errorf("without is_deleted the check finds %s; want the %d interruptions whose last record is a retraction as extra rows: %v",
				d, len(finallyRetracted), finallyRetracted)
		}
		t.Logf("caught: %s", d)
	})
	t.Run("mutation-older-revision-wins", func(t *testing.T) {
		// The version is the CloudEvent time (closedAt) instead of revision:
		// the hand-made correction moved closedAt earlier.
		res := runChDB(t, py, mutant(t, engine, "ReplacingMergeTree(time, is_deleted)"), "binary", binaryFile)
		d := diffTable(res.Final, want)
		if len(d.older) == 0 {
			t.Errorf("with time as the version the check finds %s; want rows at an older revision", d)
		}
		t.Logf("caught: %s", d)
	})
	t.Run("mutation-record-missing", func(t *testing.T) {
		// Drop the one record of an interruption that has one.
		count := map[string]int{}
		for _, r := range replayed {
			count[r.InterruptionID]++
		}
		var kept bytes.Buffer
		dropped := ""
		sc := bufio.NewScanner(bytes.NewReader(binary.Bytes()))
		sc.Buffer(nil, 1<<20)
		for i := 0; sc.Scan(); i++ {
			id := string(out[i].Key)
			if dropped == "" && count[id] == 1 {
				dropped = id
				continue
			}
			kept.Write(sc.Bytes())
			kept.WriteByte('\n')
		}
		if dropped == "" {
			t.Fatal("no interruption with a single record")
		}
		f := filepath.Join(t.TempDir(), "missing.jsonl")
		must(t, "write", os.WriteFile(f, kept.Bytes(), 0o644))
		res := runChDB(t, py, ddl, "binary", f)
		d := diffTable(res.Final, want)
		if !slices.Equal(d.missing, []string{dropped}) {
			t.Errorf("with record of %s dropped the check finds %s; want it missing", dropped, d)
		}
		t.Logf("caught: %s", d)
		// The percentile check sees it too: one group has one interruption less.
		pm := append(percentileMismatches("by role", res.ByRole, roleKey, byRole),
			percentileMismatches("by agent", res.ByAgent, agentKey, byAgent)...)
		if len(pm) == 0 {
			t.Error("with a record dropped the percentile queries still match")
		}
		t.Logf("percentiles caught: %v", pm)
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, "json", err)
	return b
}
