package replay_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/processor/replay"
)

// line returns a structured channel event.
func line(typ, id, channel, ts string) string {
	return fmt.Sprintf(`{"specversion":"1.0","type":"channel.%s.v0","id":"%s","source":"/channel","subject":"%s","data":{"timestamp":"2026-01-05T%sZ","channel":{"conversationId":"c","interactionId":"i","channelId":"%s","party":{"role":"agent"}}}}`,
		typ, id, channel, ts, channel)
}

// TestOpenOutputAndSummary: at the end of its input replay counts what is
// still open or held for its grace period, writes one line each to
// OpenOutput, and counts a too-late event as a dead letter.
func TestOpenOutputAndSummary(t *testing.T) {
	in := strings.Join([]string{
		line("interrupted", "a1", "ch-a", "10:30:00"),   // still open at the end
		line("interrupted", "b1", "ch-b", "10:00:00"),   // closed, within grace
		line("resumed", "b2", "ch-b", "10:59:30"),       //
		line("interrupted", "c1", "ch-c", "11:00:00"),   // closed and published
		line("resumed", "c2", "ch-c", "11:00:00.001"),   //
		line("interrupted", "c1", "ch-c", "11:00:00"),   // a duplicate
		line("resumed", "late", "ch-a", "08:59:59.999"), // older than clock - retention
		`{"specversion":"1.0","type":"channel.held.v0","id":"x","source":"/channel","subject":"ch-a","data":{"timestamp":"2026-01-06T10:00:00Z","channel":{"channelId":"ch-a"}}}`,
	}, "\n")
	var out, dlq, open bytes.Buffer
	stats, err := replay.Run(context.Background(), strings.NewReader(in), &out, &dlq, replay.Config{
		Engine:     match.EngineConfig{MaxInterruption: time.Hour, Retention: 2 * time.Hour, Grace: time.Minute},
		Encoder:    cekafka.Encoder{Source: "/interruptions", Mode: codec.Structured},
		OpenOutput: &open,
	})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Open != 1 || stats.Held != 2 || stats.DeadLetters[codec.ReasonTooLate] != 1 || stats.Events[match.Duplicate] != 1 {
		t.Errorf("summary %+v: want 1 open, 2 held, 1 too-late, 1 duplicate", stats)
	}
	if !strings.Contains(dlq.String(), `"reason":"too-late"`) {
		t.Errorf("dlq %s: want the too-late line", dlq.String())
	}
	want := fmt.Sprintf(`{"interruptionId":"%s","channelId":"ch-a","interruptedAt":"2026-01-05T10:30:00.000Z","state":"open","expiresAt":"2026-01-05T11:30:00.000Z","openedBy":{"id":"a1","type":"channel.interrupted.v0"}}
{"interruptionId":"%s","channelId":"ch-b","interruptedAt":"2026-01-05T10:00:00.000Z","state":"held","outcome":"resumed","closedAt":"2026-01-05T10:59:30.000Z","openedBy":{"id":"b1","type":"channel.interrupted.v0"}}
{"interruptionId":"%s","channelId":"ch-c","interruptedAt":"2026-01-05T11:00:00.000Z","state":"held","outcome":"resumed","closedAt":"2026-01-05T11:00:00.001Z","openedBy":{"id":"c1","type":"channel.interrupted.v0"}}
`, codec.InterruptionID("ch-a", "/channel", "a1"), codec.InterruptionID("ch-b", "/channel", "b1"), codec.InterruptionID("ch-c", "/channel", "c1"))
	if open.String() != want {
		t.Errorf("open output:\n%s\nwant\n%s", open.String(), want)
	}
	if n := strings.Count(out.String(), "\n"); n != 0 {
		t.Errorf("%d records, want none (c is within grace too: clock 11:00:00.001)", n)
	}
}
