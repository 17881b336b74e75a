package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/interruptions/interruptions/schemas"
)

// The phases table of analytics/clickhouse.sql (the @phases-* sections) and
// its handle-time query, proven in chDB through analytics/chdb_load.py's
// phases-* routes over hand-built channel.phase.v0 and
// channel.phaseretracted.v0 records. No broker: the records are built here,
// following issue 25's record contract (the phaseId and record id
// derivations, revisions, retractions), and each is checked against
// schemas/channel-phase*.schema.json.

const (
	phaseType          = "channel.phase.v0"
	phaseRetractedType = "channel.phaseretracted.v0"
	// phaseInputSource is the CloudEvent source of the hand-made channel
	// events that open the phases (as handEvent's).
	phaseInputSource = "/channel"
)

// phaseNamespace is the UUID namespace of phaseIds and phase record ids.
func phaseNamespace() uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:interruptions:channel.phase"))
}

// handPhase is one phase period of a hand-made channel: the channel, its
// party's agent, the phase kind and the event that opened it.
type handPhase struct {
	channel  string
	agent    string // party.agentId, role agent; "" for an external party
	phase    string
	openID   string
	openType string
	start    string // startedAt, RFC 3339 UTC with milliseconds
}

// id is the phaseId: UUIDv5 of channelId NUL phase NUL opening source NUL
// opening id.
func (p handPhase) id() string {
	name := p.channel + "\x00" + p.phase + "\x00" + phaseInputSource + "\x00" + p.openID
	return uuid.NewSHA1(phaseNamespace(), []byte(name)).String()
}

// recordID is the CloudEvent id of revision rev: UUIDv5 of phaseId NUL
// revision (decimal).
func (p handPhase) recordID(rev int) string {
	return uuid.NewSHA1(phaseNamespace(), []byte(p.id()+"\x00"+strconv.Itoa(rev))).String()
}

type handEventRef struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

type handParty struct {
	Role    string `json:"role"`
	AgentID string `json:"agentId,omitempty"`
	UserID  string `json:"userId,omitempty"`
}

type handPhaseData struct {
	PhaseID        string        `json:"phaseId"`
	Revision       int           `json:"revision"`
	Phase          string        `json:"phase"`
	ChannelID      string        `json:"channelId"`
	ConversationID string        `json:"conversationId"`
	InteractionID  string        `json:"interactionId"`
	Party          handParty     `json:"party"`
	Outcome        string        `json:"outcome"`
	StartedAt      string        `json:"startedAt"`
	EndedAt        string        `json:"endedAt"`
	DurationMs     int64         `json:"durationMs"`
	OpenedBy       handEventRef  `json:"openedBy"`
	ClosedBy       *handEventRef `json:"closedBy,omitempty"`
}

type handRetractionData struct {
	PhaseID   string       `json:"phaseId"`
	Revision  int          `json:"revision"`
	Phase     string       `json:"phase"`
	ChannelID string       `json:"channelId"`
	Reason    string       `json:"reason"`
	StartedAt string       `json:"startedAt"`
	OpenedBy  handEventRef `json:"openedBy"`
}

// cloudEvent is p's record of type typ at time ceTime with data, structured.
func (p handPhase) cloudEvent(t *testing.T, typ string, rev int, ceTime string, data any) []byte {
	t.Helper()
	return mustJSON(t, struct {
		SpecVersion     string `json:"specversion"`
		Type            string `json:"type"`
		Source          string `json:"source"`
		Subject         string `json:"subject"`
		ID              string `json:"id"`
		Time            string `json:"time"`
		DataContentType string `json:"datacontenttype"`
		Data            any    `json:"data"`
	}{"1.0", typ, "/interruptions", p.channel, p.recordID(rev), ceTime, "application/json", data})
}

// record is revision rev of p ending at end with outcome, closed by the
// event (closeID, closeType), or by none when closeID is "" (expired).
func (p handPhase) record(t *testing.T, rev int, end, outcome, closeID, closeType string) []byte {
	t.Helper()
	party := handParty{Role: "external"}
	if p.agent != "" {
		party = handParty{Role: "agent", AgentID: p.agent, UserID: "user-" + p.agent}
	}
	d := handPhaseData{PhaseID: p.id(), Revision: rev, Phase: p.phase, ChannelID: p.channel,
		ConversationID: "conv-" + p.channel, InteractionID: "inter-" + p.channel, Party: party,
		Outcome: outcome, StartedAt: p.start, EndedAt: end, DurationMs: millis(t, end) - millis(t, p.start),
		OpenedBy: handEventRef{p.openID, p.openType}}
	if closeID != "" {
		d.ClosedBy = &handEventRef{closeID, closeType}
	}
	return p.cloudEvent(t, phaseType, rev, end, d)
}

// expired is revision rev of p expired after max: endedAt = startedAt + max.
func (p handPhase) expired(t *testing.T, rev int, max time.Duration) []byte {
	t.Helper()
	end := time.UnixMilli(millis(t, p.start)).Add(max).UTC().Format("2006-01-02T15:04:05.000Z")
	return p.record(t, rev, end, "expired", "", "")
}

// retraction is revision rev of p retracted for reason.
func (p handPhase) retraction(t *testing.T, rev int, reason string) []byte {
	t.Helper()
	return p.cloudEvent(t, phaseRetractedType, rev, p.start, handRetractionData{PhaseID: p.id(), Revision: rev,
		Phase: p.phase, ChannelID: p.channel, Reason: reason, StartedAt: p.start,
		OpenedBy: handEventRef{p.openID, p.openType}})
}

// handPhaseRecords is the hand-made phases topic: two agents over two days
// (2026-01-05 and 2026-01-06, UTC), a third whose one phase is retracted,
// and an external party; every phase kind and every outcome; a
// correction that changes durationMs, retractions of each reason (one
// brought back by a later revision), a hold inside an interruption inside a
// connected phase, phases across midnight, a 0 ms phase, an expired phase,
// and a record delivered twice. Records of one phase are in revision order,
// as on a Kafka partition; the phases interleave.
func handPhaseRecords(t *testing.T) [][]byte {
	const d1, d2 = "2026-01-05T", "2026-01-06T"
	ph := func(channel, agent, phase, openID, openType, start string) handPhase {
		return handPhase{channel, agent, phase, openID, openType, start}
	}
	// Agent 1001, day 1: a whole call, with a correction and retractions.
	a1Alerting := ph("ph-a1", "1001", "alerting", "a1-01", "channel.alerted.v0", d1+"09:00:00.000Z")
	a1Connected := ph("ph-a1", "1001", "connected", "a1-02", "channel.connected.v0", d1+"09:00:12.500Z")
	a1Held := ph("ph-a1", "1001", "held", "a1-03", "channel.held.v0", d1+"09:02:00.000Z")
	a1Interrupted := ph("ph-a1", "1001", "interrupted", "a1-06", "channel.interrupted.v1", d1+"09:03:00.000Z")
	a1HeldLate := ph("ph-a1", "1001", "held", "a1-10", "channel.held.v0", d1+"09:06:00.000Z")
	a1HeldEarlier := ph("ph-a1", "1001", "held", "a1-12", "channel.held.v0", d1+"09:05:30.000Z")
	a1Parked := ph("ph-a1", "1001", "parked", "a1-13", "channel.parked.v0", d1+"09:08:00.000Z")
	a1Wrap := ph("ph-a1", "1001", "wrap", "a1-09", "channel.wrapstarted.v0", d1+"09:10:00.000Z")
	// Agent 1001, day 1: a call whose phases a late end retracts.
	a2Alerting := ph("ph-a2", "1001", "alerting", "a2-01", "channel.alerted.v0", d1+"10:00:00.000Z")
	a2Connected := ph("ph-a2", "1001", "connected", "a2-02", "channel.connected.v0", d1+"10:00:05.000Z")
	// Agent 1001, day 2: disconnected, a hold inside an interruption.
	a3Alerting := ph("ph-a3", "1001", "alerting", "a3-01", "channel.alerted.v0", d2+"07:00:00.000Z")
	a3Connected := ph("ph-a3", "1001", "connected", "a3-02", "channel.connected.v0", d2+"07:00:03.000Z")
	a3Interrupted := ph("ph-a3", "1001", "interrupted", "a3-03", "channel.interrupted.v0", d2+"07:05:00.000Z")
	a3Held := ph("ph-a3", "1001", "held", "a3-04", "channel.held.v1", d2+"07:06:00.000Z")
	a3Wrap := ph("ph-a3", "1001", "wrap", "a3-06", "channel.wrapstarted.v0", d2+"07:15:00.001Z")
	// Agent 1001, day 2: alerted and ended at one instant (0 ms).
	a4Alerting := ph("ph-a4", "1001", "alerting", "a4-01", "channel.alerted.v0", d2+"06:59:00.000Z")
	// Agent 1002: a call across midnight (its wrap on day 2), then day 2.
	b1Alerting := ph("ph-b1", "1002", "alerting", "b1-01", "channel.alerted.v0", d1+"23:50:00.000Z")
	b1Connected := ph("ph-b1", "1002", "connected", "b1-02", "channel.connected.v0", d1+"23:50:07.123Z")
	b1Held := ph("ph-b1", "1002", "held", "b1-03", "channel.held.v0", d1+"23:55:00.000Z")
	b1Wrap := ph("ph-b1", "1002", "wrap", "b1-05", "channel.wrapstarted.v0", d2+"00:20:00.000Z")
	b2Alerting := ph("ph-b2", "1002", "alerting", "b2-01", "channel.alerted.v0", d2+"08:00:00.000Z")
	b3Connected := ph("ph-b3", "1002", "connected", "b3-01", "channel.connected.v0", d2+"09:00:00.000Z")
	b3Held := ph("ph-b3", "1002", "held", "b3-02", "channel.held.v0", d2+"09:10:00.000Z")
	b3Parked := ph("ph-b3", "1002", "parked", "b3-04", "channel.parked.v0", d2+"09:20:00.000Z")
	// Agent 1003: its only phase retracted, so no row of its own.
	c1Connected := ph("ph-c1", "1003", "connected", "c1-01", "channel.connected.v0", d1+"11:00:00.000Z")
	// An external party: in the table, not in the per-agent query.
	x1Connected := ph("ph-x1", "", "connected", "x1-01", "channel.connected.v0", d1+"09:00:00.000Z")
	x1Held := ph("ph-x1", "", "held", "x1-03", "channel.held.v0", d1+"09:01:00.000Z")

	phases := [][][]byte{
		{a1Alerting.record(t, 1, d1+"09:00:12.500Z", "connected", "a1-02", "channel.connected.v0")},
		{a1Connected.record(t, 1, d1+"09:10:00.000Z", "wrap", "a1-09", "channel.wrapstarted.v0")},
		{ // The correction: a late retrieved@09:03:30.250 closes the hold earlier.
			a1Held.record(t, 1, d1+"09:04:00.000Z", "retrieved", "a1-05", "channel.retrieved.v0"),
			a1Held.record(t, 2, d1+"09:03:30.250Z", "retrieved", "a1-04", "channel.retrieved.v0"),
		},
		{a1Interrupted.record(t, 1, d1+"09:05:00.000Z", "resumed", "a1-07", "channel.resumed.v0")},
		{ // A late held@09:05:30 starts this held period: retracted, and
			// published from 09:05:30 (a1HeldEarlier).
			a1HeldLate.record(t, 1, d1+"09:07:00.000Z", "retrieved", "a1-11", "channel.retrieved.v0"),
			a1HeldLate.retraction(t, 2, "opened-while-open"),
		},
		{a1HeldEarlier.record(t, 1, d1+"09:07:00.000Z", "retrieved", "a1-11", "channel.retrieved.v0")},
		{ // Reopened by a late event, then closed later: back in revision 3.
			a1Parked.record(t, 1, d1+"09:08:40.000Z", "unparked", "a1-14", "channel.unparked.v0"),
			a1Parked.retraction(t, 2, "reopened"),
			a1Parked.record(t, 3, d1+"09:09:10.000Z", "unparked", "a1-15", "channel.unparked.v0"),
		},
		{a1Wrap.record(t, 1, d1+"09:11:30.000Z", "ended", "a1-16", "channel.ended.v0")},
		{
			a2Alerting.record(t, 1, d1+"10:00:05.000Z", "connected", "a2-02", "channel.connected.v0"),
			a2Alerting.retraction(t, 2, "after-end"),
		},
		{
			a2Connected.record(t, 1, d1+"10:05:00.000Z", "wrap", "a2-03", "channel.wrapstarted.v0"),
			a2Connected.retraction(t, 2, "after-end"),
		},
		{a3Alerting.record(t, 1, d2+"07:00:03.000Z", "connected", "a3-02", "channel.connected.v0")},
		{a3Connected.record(t, 1, d2+"07:15:00.000Z", "disconnected", "a3-05", "channel.disconnected.v0")},
		// channel.disconnected ends an interrupted phase with outcome ended.
		{a3Interrupted.record(t, 1, d2+"07:15:00.000Z", "ended", "a3-05", "channel.disconnected.v0")},
		{a3Held.record(t, 1, d2+"07:07:00.000Z", "retrieved", "a3-08", "channel.retrieved.v0")},
		{a3Wrap.record(t, 1, d2+"07:17:00.000Z", "ended", "a3-07", "channel.ended.v0")},
		{a4Alerting.record(t, 1, d2+"06:59:00.000Z", "ended", "a4-02", "channel.ended.v0")},
		{b1Alerting.record(t, 1, d1+"23:50:07.123Z", "connected", "b1-02", "channel.connected.v0")},
		{b1Connected.record(t, 1, d2+"00:20:00.000Z", "wrap", "b1-05", "channel.wrapstarted.v0")},
		{b1Held.record(t, 1, d2+"00:05:00.000Z", "retrieved", "b1-04", "channel.retrieved.v0")},
		{b1Wrap.record(t, 1, d2+"00:21:00.000Z", "ended", "b1-06", "channel.ended.v0")},
		{b2Alerting.record(t, 1, d2+"08:00:30.000Z", "failed", "b2-02", "channel.connectionfailed.v0")},
		{b3Connected.expired(t, 1, 24*time.Hour)},
		{b3Held.record(t, 1, d2+"09:12:00.000Z", "retrieved", "b3-03", "channel.retrieved.v0")},
		{ // Delivered twice (at least once).
			b3Parked.record(t, 1, d2+"09:21:00.000Z", "unparked", "b3-05", "channel.unparked.v0"),
			b3Parked.record(t, 1, d2+"09:21:00.000Z", "unparked", "b3-05", "channel.unparked.v0"),
		},
		{
			c1Connected.record(t, 1, d1+"11:01:00.000Z", "wrap", "c1-02", "channel.wrapstarted.v0"),
			c1Connected.retraction(t, 2, "after-end"),
		},
		{x1Connected.record(t, 1, d1+"09:05:00.000Z", "disconnected", "x1-02", "channel.disconnected.v0")},
		{x1Held.record(t, 1, d1+"09:02:00.000Z", "retrieved", "x1-04", "channel.retrieved.v0")},
	}
	// Interleave the phases (a fixed shuffle), each phase's records in order.
	rng := rand.New(rand.NewPCG(25, 1))
	var out [][]byte
	for left := len(phases); left > 0; {
		i := rng.IntN(left)
		out = append(out, phases[i][0])
		if phases[i] = phases[i][1:]; len(phases[i]) == 0 {
			phases[i], phases[left-1] = phases[left-1], phases[i]
			left--
		}
	}
	return out
}

// phaseRow is one row of the phases table as chdb_load.py prints it (times
// in Unix milliseconds), or as the test derives it from a record.
type phaseRow struct {
	PhaseID        string `json:"phaseId"`
	Revision       int    `json:"revision"`
	Retracted      int    `json:"retracted"`
	ID             string `json:"id"`
	Type           string `json:"type"`
	Time           int64  `json:"time"`
	Phase          string `json:"phase"`
	ChannelID      string `json:"channelId"`
	ConversationID string `json:"conversationId"`
	InteractionID  string `json:"interactionId"`
	Role           string `json:"role"`
	AgentID        string `json:"agentId"`
	UserID         string `json:"userId"`
	Outcome        string `json:"outcome"`
	StartedAt      int64  `json:"startedAt"`
	EndedAt        int64  `json:"endedAt"`
	DurationMs     int64  `json:"durationMs"`
	OpenedByID     string `json:"openedById"`
	OpenedByType   string `json:"openedByType"`
	ClosedByID     string `json:"closedById"`
	ClosedByType   string `json:"closedByType"`
	Reason         string `json:"reason"`
}

// handleTimeRow is one row of the @phases-query-handle-time query.
type handleTimeRow struct {
	AgentID       string `json:"agentId"`
	Day           string `json:"day"`
	RingMs        int64  `json:"ring_ms"`
	ConnectedMs   int64  `json:"connected_ms"`
	HoldMs        int64  `json:"hold_ms"`
	ParkMs        int64  `json:"park_ms"`
	InterruptedMs int64  `json:"interrupted_ms"`
	TalkMs        int64  `json:"talk_ms"`
	WrapMs        int64  `json:"wrap_ms"`
	HandleMs      int64  `json:"handle_ms"`
}

// phasesResult is chdb_load.py's output for a phases-* route.
type phasesResult struct {
	Final      []phaseRow      `json:"final"`
	HandleTime []handleTimeRow `json:"phases-query-handle-time"`
}

// phaseRowOf is the table row a structured phase record stands for, read
// with encoding/json (not through ClickHouse).
func phaseRowOf(t *testing.T, line []byte) phaseRow {
	t.Helper()
	var ce struct {
		ID, Type, Time string
		Data           struct {
			PhaseID        string `json:"phaseId"`
			Revision       int    `json:"revision"`
			Phase          string `json:"phase"`
			ChannelID      string `json:"channelId"`
			ConversationID string `json:"conversationId"`
			InteractionID  string `json:"interactionId"`
			Party          struct{ Role, AgentID, UserID string }
			Outcome        string `json:"outcome"`
			StartedAt      string `json:"startedAt"`
			EndedAt        string `json:"endedAt"`
			DurationMs     int64  `json:"durationMs"`
			OpenedBy       struct{ ID, Type string }
			ClosedBy       *struct{ ID, Type string }
			Reason         string `json:"reason"`
		}
	}
	if err := json.Unmarshal(line, &ce); err != nil {
		t.Fatalf("phase record %q: %v", line, err)
	}
	d := ce.Data
	r := phaseRow{PhaseID: d.PhaseID, Revision: d.Revision, ID: ce.ID, Type: ce.Type, Time: millis(t, ce.Time),
		Phase: d.Phase, ChannelID: d.ChannelID, ConversationID: d.ConversationID, InteractionID: d.InteractionID,
		Role: d.Party.Role, AgentID: d.Party.AgentID, UserID: d.Party.UserID, Outcome: d.Outcome,
		StartedAt: millis(t, d.StartedAt), DurationMs: d.DurationMs,
		OpenedByID: d.OpenedBy.ID, OpenedByType: d.OpenedBy.Type, Reason: d.Reason}
	if d.EndedAt != "" {
		r.EndedAt = millis(t, d.EndedAt)
	}
	if d.ClosedBy != nil {
		r.ClosedByID, r.ClosedByType = d.ClosedBy.ID, d.ClosedBy.Type
	}
	switch ce.Type {
	case phaseRetractedType:
		r.Retracted = 1
	case phaseType:
	default:
		t.Fatalf("phase record of type %q", ce.Type)
	}
	return r
}

func (r phaseRow) rowKey() string   { return r.PhaseID }
func (r phaseRow) rowRevision() int { return r.Revision }
func (r phaseRow) rowDeleted() bool { return r.Retracted == 1 }

// handleTimes is the handle-time query done in Go over the final table:
// the agent phases summed per agent and UTC day of startedAt; talk =
// connected - held - parked - interrupted, handle = connected + wrap.
func handleTimes(final map[string]phaseRow) []handleTimeRow {
	sums := map[[2]string]*handleTimeRow{}
	for _, r := range final {
		if r.Role != "agent" {
			continue
		}
		key := [2]string{r.AgentID, time.UnixMilli(r.StartedAt).UTC().Format(time.DateOnly)}
		s := sums[key]
		if s == nil {
			s = &handleTimeRow{AgentID: key[0], Day: key[1]}
			sums[key] = s
		}
		switch r.Phase {
		case "alerting":
			s.RingMs += r.DurationMs
		case "connected":
			s.ConnectedMs += r.DurationMs
		case "held":
			s.HoldMs += r.DurationMs
		case "parked":
			s.ParkMs += r.DurationMs
		case "interrupted":
			s.InterruptedMs += r.DurationMs
		case "wrap":
			s.WrapMs += r.DurationMs
		}
	}
	out := make([]handleTimeRow, 0, len(sums))
	for _, s := range sums {
		s.TalkMs = s.ConnectedMs - s.HoldMs - s.ParkMs - s.InterruptedMs
		s.HandleMs = s.ConnectedMs + s.WrapMs
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].AgentID != out[j].AgentID {
			return out[i].AgentID < out[j].AgentID
		}
		return out[i].Day < out[j].Day
	})
	return out
}

// binaryPhaseLine is a structured record as the phases-binary route reads
// it: the data JSON as the value, the attributes as ce_* headers (the
// encoder's names), as parallel arrays.
func binaryPhaseLine(t *testing.T, line []byte) []byte {
	t.Helper()
	var ce struct {
		SpecVersion, Type, Source, Subject, ID, Time string
		Data                                         json.RawMessage
	}
	must(t, "phase record", json.Unmarshal(line, &ce))
	return mustJSON(t, map[string]any{
		"value":  string(ce.Data),
		"names":  []string{"ce_id", "ce_source", "ce_specversion", "ce_type", "content-type", "ce_subject", "ce_time"},
		"values": []string{ce.ID, ce.Source, ce.SpecVersion, ce.Type, "application/json", ce.Subject, ce.Time},
	})
}

// phasesPython is analyticsPython, except that under -short a missing venv
// skips the test.
func phasesPython(t *testing.T) string {
	t.Helper()
	if testing.Short() && os.Getenv("ANALYTICS_PYTHON") == "" {
		if _, err := os.Stat(filepath.Join(repoRoot, ".cache", "venv", "bin", "python")); err != nil {
			t.Skipf("no chDB venv (%v): skipped with -short; `make analytics-venv` creates it", err)
		}
	}
	return analyticsPython(t)
}

// runChDBPhases runs chdb_load.py's phases-* route over the records file
// with the DDL in sqlFile and returns its result.
func runChDBPhases(t *testing.T, py, sqlFile, route, records string) phasesResult {
	t.Helper()
	cmd := exec.Command(py, filepath.Join(repoRoot, "analytics", "chdb_load.py"), sqlFile, route, records)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chdb_load.py %s %s: %v\n%s", filepath.Base(sqlFile), route, err, tail(errb.String()))
	}
	var res phasesResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("chdb_load.py output: %v\n%s", err, tail(out.String()))
	}
	return res
}

// handleTimeMismatches says how the query's rows differ from want.
func handleTimeMismatches(got, want []handleTimeRow) []string {
	var out []string
	if len(got) != len(want) {
		out = append(out, fmt.Sprintf("%d agent-days, want %d", len(got), len(want)))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			out = append(out, fmt.Sprintf("row %d:\n got %+v\nwant %+v", i, got[i], want[i]))
		}
	}
	return out
}

// TestAnalyticsPhases loads hand-built phase records (two agents over two
// days, a correction, retractions of each reason, one brought back, a
// duplicate, overlapping phases, phases across midnight) into chDB through
// the @phases-* sections of analytics/clickhouse.sql by each route (the
// NDJSON loader, the structured view, the binary view fed values and
// ce_* headers), and checks that the table read with FINAL equals, row for
// row, the final table reduced in Go from the records, and that the
// handle-time query gives the per-agent-day sums computed in Go from that
// final table (and the sums worked out by hand from the scenario).
// Mutations prove the checks sensitive: retractions not applied, an older
// revision winning, the day taken from endedAt.
func TestAnalyticsPhases(t *testing.T) {
	py := phasesPython(t)
	set, err := schemas.Compile()
	must(t, "compile schemas", err)

	lines := handPhaseRecords(t)
	var rows []phaseRow
	var structured, binary bytes.Buffer
	for _, l := range lines {
		if err := set.ValidatePhase(l); err != nil {
			t.Fatalf("hand-built record does not match the schema: %v\n%s", err, l)
		}
		r := phaseRowOf(t, l)
		if r.Retracted == 0 && r.DurationMs != r.EndedAt-r.StartedAt {
			t.Fatalf("hand-built record: durationMs %d, endedAt - startedAt %d", r.DurationMs, r.EndedAt-r.StartedAt)
		}
		rows = append(rows, r)
		structured.Write(l)
		structured.WriteByte('\n')
		binary.Write(binaryPhaseLine(t, l))
		binary.WriteByte('\n')
	}
	want := reduceFinal(t, rows)
	wantHandle := handleTimes(want)
	var finallyRetracted []string
	for id, r := range lastRevisions(t, rows) {
		if r.Retracted == 1 {
			finallyRetracted = append(finallyRetracted, id)
		}
	}
	sort.Strings(finallyRetracted)

	// The scenario is what it says: the Go reduction against facts about
	// the records stated by hand.
	byOpener := map[string]phaseRow{}
	for _, r := range want {
		byOpener[r.OpenedByID] = r
	}
	if r := byOpener["a1-03"]; r.Revision != 2 || r.DurationMs != 90_250 {
		t.Fatalf("the corrected hold is not revision 2 of 90250 ms: %+v", r)
	}
	if r := byOpener["a1-13"]; r.Revision != 3 || r.DurationMs != 70_000 {
		t.Fatalf("the reopened park is not revision 3 of 70000 ms: %+v", r)
	}
	for _, gone := range []string{"a1-10", "a2-01", "a2-02", "c1-01"} {
		if r, ok := byOpener[gone]; ok {
			t.Fatalf("the phase opened by %s is retracted but in the final table: %+v", gone, r)
		}
	}
	if len(want) != 23 || len(finallyRetracted) != 4 {
		t.Fatalf("final table of %d phases (%d finally retracted), want 23 (4)", len(want), len(finallyRetracted))
	}
	byHand := []handleTimeRow{
		// ph-a1: talk = 587500 - (90250 + 90000) - 70000 - 120000.
		{AgentID: "1001", Day: "2026-01-05", RingMs: 12_500, ConnectedMs: 587_500, HoldMs: 180_250, ParkMs: 70_000,
			InterruptedMs: 120_000, TalkMs: 217_250, WrapMs: 90_000, HandleMs: 677_500},
		// ph-a3 and ph-a4 (0 ms alerting).
		{AgentID: "1001", Day: "2026-01-06", RingMs: 3_000, ConnectedMs: 897_000, HoldMs: 60_000,
			InterruptedMs: 600_000, TalkMs: 237_000, WrapMs: 119_999, HandleMs: 1_016_999},
		// ph-b1 until its wrap, which starts after midnight.
		{AgentID: "1002", Day: "2026-01-05", RingMs: 7_123, ConnectedMs: 1_792_877, HoldMs: 600_000,
			TalkMs: 1_192_877, HandleMs: 1_792_877},
		// ph-b1's wrap, ph-b2 (failed), ph-b3 (connected expired after 24h).
		{AgentID: "1002", Day: "2026-01-06", RingMs: 30_000, ConnectedMs: 86_400_000, HoldMs: 120_000, ParkMs: 60_000,
			TalkMs: 86_220_000, WrapMs: 60_000, HandleMs: 86_460_000},
	}
	if m := handleTimeMismatches(wantHandle, byHand); len(m) != 0 {
		t.Fatalf("the Go sums disagree with the sums worked out by hand:\n%s", strings.Join(m, "\n"))
	}

	dir := t.TempDir()
	structuredFile, binaryFile := filepath.Join(dir, "phases.ndjson"), filepath.Join(dir, "phases-binary.jsonl")
	must(t, "write", os.WriteFile(structuredFile, structured.Bytes(), 0o644))
	must(t, "write", os.WriteFile(binaryFile, binary.Bytes(), 0o644))
	ddl := filepath.Join(repoRoot, "analytics", "clickhouse.sql")

	for _, route := range []struct{ name, file string }{
		{"phases-loader", structuredFile}, {"phases-structured", structuredFile}, {"phases-binary", binaryFile},
	} {
		t.Run(route.name, func(t *testing.T) {
			res := runChDBPhases(t, py, ddl, route.name, route.file)
			if d := diffTable(res.Final, want); !d.empty() {
				t.Errorf("the phases table read with FINAL is not the final table: %s", d)
			}
			for _, m := range handleTimeMismatches(res.HandleTime, wantHandle) {
				t.Errorf("handle time: %s", m)
			}
		})
	}

	// Mutations: each must be caught, as the difference it causes.
	orig, err := os.ReadFile(ddl)
	must(t, "read DDL", err)
	mutant := func(t *testing.T, old, new string) string {
		t.Helper()
		if n := strings.Count(string(orig), old); n != 1 {
			t.Fatalf("the DDL has %d %q, want 1", n, old)
		}
		f := filepath.Join(t.TempDir(), "mutant.sql")
		must(t, "write", os.WriteFile(f, []byte(strings.Replace(string(orig), old, new, 1)), 0o644))
		return f
	}
	const engine = "ReplacingMergeTree(revision, retracted)"
	t.Run("mutation-retraction-not-applied", func(t *testing.T) {
		res := runChDBPhases(t, py, mutant(t, engine, "ReplacingMergeTree(revision)"), "phases-binary", binaryFile)
		d := diffTable(res.Final, want)
		if !slices.Equal(d.extra, finallyRetracted) {
			t.Errorf("without the deletion flag the check finds %s; want the %d phases whose last record is a retraction as extra rows: %v",
				d, len(finallyRetracted), finallyRetracted)
		}
		t.Logf("caught: %s", d)
	})
	t.Run("mutation-older-revision-wins", func(t *testing.T) {
		// The version is the CloudEvent time (endedAt; a retraction's
		// startedAt) instead of revision: the correction moved endedAt
		// earlier, and the opened-while-open retraction is older than the
		// record it retracts.
		res := runChDBPhases(t, py, mutant(t, engine, "ReplacingMergeTree(time, retracted)"), "phases-loader", structuredFile)
		d := diffTable(res.Final, want)
		if len(d.older) == 0 || len(d.extra) == 0 {
			t.Errorf("with time as the version the check finds %s; want rows at an older revision and a retracted one back", d)
		}
		m := handleTimeMismatches(res.HandleTime, wantHandle)
		if len(m) == 0 {
			t.Error("with time as the version the handle-time query still matches")
		}
		t.Logf("caught: %s; handle time: %v", d, m)
	})
	t.Run("mutation-day-of-endedAt", func(t *testing.T) {
		res := runChDBPhases(t, py, mutant(t, "toDate(startedAt, 'UTC')", "toDate(endedAt, 'UTC')"), "phases-structured", structuredFile)
		if d := diffTable(res.Final, want); !d.empty() {
			t.Errorf("the table changed with the query: %s", d)
		}
		m := handleTimeMismatches(res.HandleTime, wantHandle)
		if len(m) == 0 {
			t.Error("with the day of endedAt the handle-time query still matches")
		}
		t.Logf("caught: %v", m)
	})
}
