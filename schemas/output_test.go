package schemas_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/interruptions/interruptions/processor/codec"
	"github.com/interruptions/interruptions/processor/match"
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
	for _, ev := range vccgen.New(vccgen.Config{Seed: 3}).Take(20_000) {
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
		Encoder: codec.Encoder{Source: "/interruptions", Mode: codec.Structured},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []match.Outcome{match.OutcomeResumed, match.OutcomeEnded, match.OutcomeExpired} {
		if stats.Outcomes[o] == 0 {
			t.Errorf("no %s records in the sample: the test would not cover them", o)
		}
	}
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if err := set.ValidateOutput(line); err != nil {
			t.Fatalf("record %d: %v\n%s", n, err, line)
		}
		var rec struct {
			Subject string           `json:"subject"`
			Data    codec.RecordData `json:"data"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatal(err)
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
