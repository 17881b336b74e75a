package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/processor/replay"
	"github.com/interruptions/interruptions/vccgen"
)

// identityEvent is a structured VCC channel event (no time attribute)
// whose data.channel is channel, a JSON object written by the caller.
func identityEvent(typ, id, subject, ts, channel string) string {
	subj := ""
	if subject != "" {
		subj = `"subject":` + mustJSON(subject) + `,`
	}
	return `{"specversion":"1.0","type":"` + typ + `","id":"` + id + `","source":"/channel",` + subj +
		`"data":{"timestamp":"` + ts + `","channel":` + channel + `}}`
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// replayLines replays NDJSON lines with a 24 h max-interruption and 48 h
// retention, returning the output, the dead-letter file and the summary.
func replayLines(t *testing.T, lines []string) ([]byte, []replay.DeadLine, replay.Summary) {
	t.Helper()
	var out, dlq bytes.Buffer
	sum, err := replay.Run(context.Background(), strings.NewReader(strings.Join(lines, "\n")+"\n"), &out, &dlq, replay.Config{
		Engine:  match.EngineConfig{MaxInterruption: 24 * time.Hour, Retention: 48 * time.Hour},
		Encoder: cekafka.Encoder{Source: "/interruptions", Mode: codec.Structured},
	})
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	return out.Bytes(), ndjson[replay.DeadLine](t, "dlq", dlq.Bytes()), sum
}

// ndjson decodes each non-empty line of b as a T; what names the file in
// a failure.
func ndjson[T any](t *testing.T, what string, b []byte) []T {
	t.Helper()
	var out []T
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(l, &v); err != nil {
			t.Fatalf("%s line %q: %v", what, l, err)
		}
		out = append(out, v)
	}
	return out
}

// outRecord is the part of an output record the tests read; Subject and
// ChannelID are kept as the JSON bytes written.
type outRecord struct {
	Type    string          `json:"type"`
	Subject json.RawMessage `json:"subject"`
	Data    struct {
		ChannelID  json.RawMessage `json:"channelId"`
		Outcome    string          `json:"outcome"`
		DurationMs int64           `json:"durationMs"`
		ClosedAt   string          `json:"closedAt"`
		ClosedBy   *struct {
			ID string `json:"id"`
		} `json:"closedBy"`
	} `json:"data"`
}

func outRecords(t *testing.T, out []byte) []outRecord {
	t.Helper()
	return ndjson[outRecord](t, "output", out)
}

// TestCloseWithWrongTypedIdentityClosesInterruption: a channel is
// interrupted at 10:00 and resumed at 10:05 by a close whose identity
// field has the wrong JSON type (`"agentId": 1544` and the like); an event
// on another channel two days later moves the clock past the 24 h bound.
// The close is placed, not dead-lettered, so the channel's one record is a
// 5-minute `resumed` closed by it — not a 24 h `expired` one, which is what
// dead-lettering the close gives.
func TestCloseWithWrongTypedIdentityClosesInterruption(t *testing.T) {
	const ch = "5b0e7c11-0000-4000-8000-0000000000a1"
	const other = "5b0e7c11-0000-4000-8000-0000000000b2"
	for _, tt := range []struct{ name, party, extra string }{
		{"agentId a number", `{"role":"agent","agentId":1544,"userId":"u-1"}`, ""},
		{"agentId an object", `{"role":"agent","agentId":{"id":"1544"}}`, ""},
		{"agentId true", `{"role":"agent","agentId":true}`, ""},
		{"agentId null", `{"role":"agent","agentId":null}`, ""},
		{"role a number", `{"role":1,"agentId":"1544"}`, ""},
		{"userId an array", `{"role":"agent","userId":["u-1"]}`, ""},
		{"party a string", `"agent"`, ""},
		{"party an array", `[{"role":"agent"}]`, ""},
		{"conversationId a number", `{"role":"agent"}`, `"conversationId":42,`},
		{"interactionId an object", `{"role":"agent"}`, `"interactionId":{},`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lines := []string{
				identityEvent("channel.interrupted.v1", "open-1", ch, "2026-01-05T10:00:00.000Z",
					`{"conversationId":"conv-1","interactionId":"int-1","channelId":"`+ch+`","party":{"role":"agent","agentId":"1544","userId":"u-1"}}`),
				identityEvent("channel.resumed.v0", "close-1", ch, "2026-01-05T10:05:00.000Z",
					`{`+tt.extra+`"channelId":"`+ch+`","party":`+tt.party+`}`),
				identityEvent("channel.interrupted.v1", "later-1", other, "2026-01-07T10:00:00.000Z", `{"channelId":"`+other+`"}`),
			}
			out, dead, sum := replayLines(t, lines)
			var got []outRecord
			for _, r := range outRecords(t, out) {
				if string(r.Data.ChannelID) == `"`+ch+`"` {
					got = append(got, r)
				}
			}
			if len(got) != 1 {
				t.Fatalf("%d records for the channel, want 1:\n%s", len(got), out)
			}
			r := got[0]
			if r.Type != codec.RecordType || r.Data.Outcome != "resumed" || r.Data.DurationMs != 300_000 ||
				r.Data.ClosedAt != "2026-01-05T10:05:00.000Z" || r.Data.ClosedBy == nil || r.Data.ClosedBy.ID != "close-1" {
				t.Fatalf("record %s: outcome %s, %d ms, closed at %s by %+v; want a 5-minute resumed record closed by close-1",
					r.Type, r.Data.Outcome, r.Data.DurationMs, r.Data.ClosedAt, r.Data.ClosedBy)
			}
			if len(dead) != 0 {
				t.Fatalf("dead letters %+v; want none", dead)
			}
			if sum.Events[match.Processed] != 3 {
				t.Fatalf("summary %+v; want the three events processed", sum)
			}
		})
	}
}

// TestEveryRecordSubjectIsItsChannelID: over a replay of generated VCC
// traffic with, mixed in, channels whose channelId has white space around
// it (one of white space only) or a control character and no subject
// attribute, every output record (revisions and retractions) has a
// subject, byte for byte its data.channelId; the odd channels' events are
// dead letters with reason invalid-channel-id and give no record.
func TestEveryRecordSubjectIsItsChannelID(t *testing.T) {
	var lines []string
	for _, ev := range vccgen.New(vccgen.Config{Seed: 21}).Take(4000) {
		lines = append(lines, string(ev.Value))
	}
	odd := []string{"   ", " pad-1", "pad-2 ", "\tpad-3", "pad\u00014", "pad-5\u00a0"}
	// The generator's traffic starts at vccgen.DefaultStart(): put the odd
	// channels' interruptions in it.
	at := func(d time.Duration) string {
		return vccgen.DefaultStart().Add(d).UTC().Format("2006-01-02T15:04:05.000Z")
	}
	var extra []string
	for i, id := range odd {
		channel := `{"channelId":` + mustJSON(id) + `,"party":{"role":"agent"}}`
		extra = append(extra,
			identityEvent("channel.interrupted.v1", "odd-open-"+string(rune('a'+i)), "", at(time.Minute), channel),
			identityEvent("channel.resumed.v0", "odd-close-"+string(rune('a'+i)), "", at(3*time.Minute), channel))
	}
	mid := len(lines) / 2
	lines = append(lines[:mid], append(extra, lines[mid:]...)...)

	out, dead, _ := replayLines(t, lines)
	recs := outRecords(t, out)
	if len(recs) < 100 {
		t.Fatalf("only %d records from %d events", len(recs), len(lines))
	}
	for _, r := range recs {
		if len(r.Subject) == 0 || !bytes.Equal(r.Subject, r.Data.ChannelID) {
			t.Fatalf("record %s: subject %s, data.channelId %s; want them equal byte for byte", r.Type, r.Subject, r.Data.ChannelID)
		}
	}
	invalid := 0
	for _, d := range dead {
		if d.Reason == codec.ReasonInvalidChannelID {
			invalid++
		}
	}
	if invalid != len(extra) {
		t.Fatalf("%d dead letters invalid-channel-id, want %d (all: %+v)", invalid, len(extra), dead)
	}
}
