package schemas_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/processor/replay"
	"github.com/interruptions/interruptions/schemas"
	"github.com/interruptions/interruptions/vccgen"
)

// TestProducedOutputMatchesSchema runs the real engine over generated
// traffic and validates every input event and every produced record
// against the schemas, plus what JSON Schema cannot say: subject equals
// channelId, and durationMs equals closedAt - interruptedAt.
func TestProducedOutputMatchesSchema(t *testing.T) {
	set, err := schemas.Compile()
	if err != nil {
		t.Fatal(err)
	}
	var in bytes.Buffer
	// Much reordering and lateness, so that corrections and retractions
	// are published and validated too.
	for _, ev := range vccgen.New(vccgen.Config{Seed: 3, ReorderRate: 0.3, LateRate: 0.05}).Take(20_000) {
		if err := set.ValidateInput(ev.Value); err != nil {
			t.Fatalf("generated input: %v", err)
		}
		in.Write(ev.Value)
		in.WriteByte('\n')
	}
	var out bytes.Buffer
	// A short max-interruption makes some interruptions expire, so all
	// three outcomes are validated.
	stats, err := replay.Run(context.Background(), &in, &out, nil, replay.Config{
		Engine:  match.EngineConfig{MaxInterruption: 10 * time.Minute, Retention: time.Hour},
		Encoder: cekafka.Encoder{Source: "/interruptions", Mode: codec.Structured},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []match.Outcome{match.OutcomeResumed, match.OutcomeEnded, match.OutcomeExpired} {
		if stats.Outcomes[o] == 0 {
			t.Errorf("no %s records in the sample: the test would not cover them", o)
		}
	}
	if stats.Housekeeping.Corrections == 0 || stats.Housekeeping.Retractions == 0 {
		t.Errorf("corrections %d, retractions %d in the sample: the test would not cover them",
			stats.Housekeeping.Corrections, stats.Housekeeping.Retractions)
	}
	validateRecords(t, set, &out)
}

// TestOutputPartiesMatchSchema: whatever party an input event carries (a
// role outside the documented ones, no party, party null, a party without
// role), the records validate; the role is passed through as given, empty
// when absent.
func TestOutputPartiesMatchSchema(t *testing.T) {
	set, err := schemas.Compile()
	if err != nil {
		t.Fatal(err)
	}
	parties := map[string]string{
		"supervisor": `,"party":{"role":"supervisor","agentId":"77"}`,
		"no party":   ``,
		"null":       `,"party":null`,
		"no role":    `,"party":{"userId":"u"}`,
		"empty":      `,"party":{}`,
	}
	for name, party := range parties {
		t.Run(name, func(t *testing.T) {
			var in bytes.Buffer
			for _, e := range [][3]string{{"interrupted", "i1", "08:00"}, {"resumed", "r1", "08:05"}} {
				fmt.Fprintf(&in, `{"specversion":"1.0","type":"channel.%s.v0","id":"%s","source":"/channel","subject":"ch","time":"2026-01-05T08:30:00Z","data":{"timestamp":"2026-01-05T%s:00Z","channel":{"conversationId":"c","interactionId":"i","channelId":"ch"%s}}}`+"\n",
					e[0], e[1], e[2], party)
			}
			var out, dlq bytes.Buffer
			stats, err := replay.Run(context.Background(), &in, &out, &dlq, replay.Config{
				Engine:  match.EngineConfig{MaxInterruption: time.Hour, Retention: 2 * time.Hour},
				Encoder: cekafka.Encoder{Source: "/interruptions", Mode: codec.Structured},
			})
			if err != nil {
				t.Fatal(err)
			}
			if dlq.Len() > 0 {
				t.Logf("dead-lettered: %s", dlq.Bytes())
				// The decoder's choice: a rejected party must carry a reason.
				if !bytes.Contains(dlq.Bytes(), []byte(`"reason":"`)) {
					t.Fatalf("dead letter without reason: %s", dlq.Bytes())
				}
				return
			}
			if stats.Outcomes[match.OutcomeResumed] != 1 {
				t.Fatalf("records %v, want one resumed", stats.Outcomes)
			}
			validateRecords(t, set, &out)
		})
	}
}

// validateRecords validates every output line against the schemas, plus
// what JSON Schema cannot say: subject equals channelId, and durationMs
// equals closedAt - interruptedAt.
func validateRecords(t *testing.T, set *schemas.Set, out *bytes.Buffer) {
	t.Helper()
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if err := set.ValidateOutput(line); err != nil {
			t.Fatalf("record %d: %v\n%s", n, err, line)
		}
		var rec struct {
			Type    string           `json:"type"`
			Subject string           `json:"subject"`
			Data    codec.RecordData `json:"data"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Type == codec.RetractionType {
			if rec.Subject != rec.Data.ChannelID {
				t.Errorf("retraction %d: subject %q, channelId %q", n, rec.Subject, rec.Data.ChannelID)
			}
			continue
		}
		opened, err1 := time.Parse(time.RFC3339, rec.Data.InterruptedAt)
		closed, err2 := time.Parse(time.RFC3339, rec.Data.ClosedAt)
		if err1 != nil || err2 != nil {
			t.Fatalf("record %d times: %v %v", n, err1, err2)
		}
		if got := closed.Sub(opened).Milliseconds(); got != rec.Data.DurationMs {
			t.Errorf("record %d: durationMs %d, closedAt-interruptedAt %d", n, rec.Data.DurationMs, got)
		}
		if rec.Subject != rec.Data.ChannelID {
			t.Errorf("record %d: subject %q, channelId %q", n, rec.Subject, rec.Data.ChannelID)
		}
	}
	if n == 0 || sc.Err() != nil {
		t.Fatalf("read %d records: %v", n, sc.Err())
	}
}
