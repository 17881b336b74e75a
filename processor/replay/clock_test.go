package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/vccgen"
)

// replayed is what one replay run wrote.
type replayed struct {
	out, dlq []byte
	summary  Summary
}

// runReplay replays input with the matcher's default rules and the given
// partitions; a run that fails is a test failure.
func runReplay(t *testing.T, input []byte, partitions int) replayed {
	t.Helper()
	var out, dlq bytes.Buffer
	sum, err := Run(context.Background(), bytes.NewReader(input), &out, &dlq, Config{
		Engine:     match.EngineConfig{MaxInterruption: time.Hour, Retention: 48 * time.Hour},
		Encoder:    cekafka.Encoder{Source: "/interruptions", Mode: codec.Structured},
		Partitions: partitions,
	})
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	return replayed{out: out.Bytes(), dlq: dlq.Bytes(), summary: sum}
}

// deadLines parses a replay DLQ file.
func deadLines(t *testing.T, b []byte) []DeadLine {
	t.Helper()
	var out []DeadLine
	for _, l := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var dl DeadLine
		if err := json.Unmarshal(l, &dl); err != nil {
			t.Fatalf("dlq line %q: %v", l, err)
		}
		out = append(out, dl)
	}
	return out
}

// recordsExcept returns the output records (lines) whose channelId is
// not channel, in order.
func recordsExcept(t *testing.T, out []byte, channel string) []string {
	t.Helper()
	var keep []string
	for _, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if l == "" {
			continue
		}
		var rec struct {
			Data struct {
				ChannelID string `json:"channelId"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		if rec.Data.ChannelID == "" {
			t.Fatalf("output record without channelId: %s", l)
		}
		if rec.Data.ChannelID != channel {
			keep = append(keep, l)
		}
	}
	return keep
}

// trafficLines returns n generated events (seed 12), one per line.
func trafficLines(n int) [][]byte {
	var lines [][]byte
	for _, ev := range vccgen.New(vccgen.Config{Seed: 12}).Take(n) {
		lines = append(lines, ev.Value)
	}
	return lines
}

// insertAt returns lines with extra inserted before index i, as NDJSON.
func insertAt(lines [][]byte, i int, extra ...string) []byte {
	var b bytes.Buffer
	for j, l := range lines {
		if j == i {
			for _, e := range extra {
				b.WriteString(e)
				b.WriteByte('\n')
			}
		}
		b.Write(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// channelEvent writes a structured VCC channel event; an empty tm leaves
// the time attribute out.
func channelEvent(typ, id, channel, ts, tm string) string {
	timeAttr := ""
	if tm != "" {
		timeAttr = `"time":"` + tm + `",`
	}
	return fmt.Sprintf(`{"specversion":"1.0","type":%q,"id":%q,"source":"/channel","subject":%q,%s"datacontenttype":"application/json",`+
		`"data":{"timestamp":%q,"channel":{"conversationId":"conv-x","interactionId":"int-x","channelId":%q,"party":{"role":"agent","agentId":"1544","userId":"u-x"}}}}`,
		typ, id, channel, timeAttr, ts, channel)
}

// TestFarFutureEventChangesNothingElse: one event dated 2100 but sent in
// 2026 — of a handled type, of an ignored VCC type, not a VCC event at all
// — dropped into the middle of realistic traffic leaves every record
// exactly as replaying the traffic without it does (the oracle: the
// unmodified input's output). The handled one is a dead letter with reason
// timestamp-in-future; the others are ignored, never dead letters.
func TestFarFutureEventChangesNothingElse(t *testing.T) {
	lines := trafficLines(6000)
	mid := len(lines) / 2
	// A channel of the traffic, live at the insertion point.
	var at struct {
		Time string `json:"time"`
		Data struct {
			Channel struct {
				ChannelID string `json:"channelId"`
			} `json:"channel"`
		} `json:"data"`
	}
	for i := mid; at.Data.Channel.ChannelID == ""; i++ {
		if err := json.Unmarshal(lines[i], &at); err != nil {
			t.Fatal(err)
		}
	}
	ch, sent := at.Data.Channel.ChannelID, at.Time
	const future = "2100-01-05T08:00:00.000Z"
	tests := []struct {
		name      string
		event     string
		dead      bool
		ignoredBy int // how many more events the summary counts as ignored
	}{
		{name: "handled, on a live channel", event: channelEvent("channel.resumed.v0", "ff-1", ch, future, sent), dead: true},
		{name: "handled, on a new channel", event: channelEvent("channel.interrupted.v1", "ff-2", "new-channel", future, sent), dead: true},
		{name: "ignored VCC type", event: channelEvent("channel.held.v0", "ff-3", ch, future, sent), ignoredBy: 1},
		{name: "agent event", event: `{"specversion":"1.0","type":"agent.presencechanged.v0","id":"ff-4","source":"/agent","subject":"1544","time":"` + sent +
			`","data":{"timestamp":"` + future + `","agent":{"agentId":"1544"}}}`, ignoredBy: 1},
		{name: "not a VCC event", event: `{"specversion":"1.0","type":"com.example.order.v1","id":"ff-5","source":"https://shop.example/orders","time":"` + sent +
			`","data":{"timestamp":"` + future + `","order":42}}`, ignoredBy: 1},
	}
	for _, partitions := range []int{0, 3} {
		base := runReplay(t, insertAt(lines, -1), partitions)
		if len(base.dlq) != 0 {
			t.Fatalf("generated traffic has dead letters: %s", base.dlq)
		}
		if n := base.summary.Outcomes[match.OutcomeExpired] + base.summary.Outcomes[match.OutcomeResumed]; n < 100 {
			t.Fatalf("traffic made only %d records; the test needs open interruptions to expire", n)
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("partitions=%d/%s", partitions, tt.name), func(t *testing.T) {
				got := runReplay(t, insertAt(lines, mid, tt.event), partitions)
				if !bytes.Equal(got.out, base.out) {
					a, b := recordsExcept(t, got.out, ""), recordsExcept(t, base.out, "")
					t.Fatalf("records differ from the replay without the event: %d records, want %d", len(a), len(b))
				}
				dead := deadLines(t, got.dlq)
				switch {
				case tt.dead && (len(dead) != 1 || dead[0].Reason != codec.ReasonTimestampInFuture || dead[0].Line != mid+1 || dead[0].Original != tt.event):
					t.Fatalf("dead letters %+v; want line %d with reason %s, byte for byte", dead, mid+1, codec.ReasonTimestampInFuture)
				case !tt.dead && len(dead) != 0:
					t.Fatalf("dead letters %+v; want none", dead)
				}
				if d, b := got.summary.Events[match.Ignored], base.summary.Events[match.Ignored]; d != b+tt.ignoredBy {
					t.Fatalf("ignored %d, want %d", d, b+tt.ignoredBy)
				}
			})
		}
		// The control: the same handled event sent in 2100 too is
		// plausible by its own time, so replay (which has no Kafka record
		// timestamp) accepts it, and it does move the clock. Without it the
		// test above could pass because the insertion point mattered to
		// nobody.
		t.Run(fmt.Sprintf("partitions=%d/control, time agrees", partitions), func(t *testing.T) {
			got := runReplay(t, insertAt(lines, mid, channelEvent("channel.resumed.v0", "ff-6", ch, future, "2100-01-05T08:00:00.5Z")), partitions)
			// The damage it does is visible: the events after it on its
			// partition are too late for a clock in 2100.
			for _, d := range deadLines(t, got.dlq) {
				if d.Reason != codec.ReasonTooLate || d.Line <= mid+1 {
					t.Fatalf("dead letter %+v; want only too-late ones after line %d", d, mid+1)
				}
			}
			if bytes.Equal(got.out, base.out) {
				t.Fatalf("a 2100 event that replay accepts changed nothing: the insertion point is not a test")
			}
		})
	}
}

// TestPairFrom1970AfterTraffic: a channel.interrupted and channel.resumed
// dated 1970 (and sent then) in the middle of 2026 traffic are plausible
// to the codec — a date in the past is never timestamp-in-future; how late
// an event may be is the matcher's rule, by the clock (too-late) — and
// they cannot move the clock back: every other channel's records are
// exactly those of the traffic without them. What the matcher makes of the
// pair itself is its own test's business.
func TestPairFrom1970AfterTraffic(t *testing.T) {
	lines := trafficLines(6000)
	const old = "chan-1970"
	pair := []string{
		channelEvent("channel.interrupted.v0", "old-1", old, "1970-01-01T00:00:01.000Z", "1970-01-01T00:00:01.5Z"),
		channelEvent("channel.resumed.v0", "old-2", old, "1970-01-01T00:00:02.000Z", "1970-01-01T00:00:02.5Z"),
	}
	for _, partitions := range []int{0, 3} {
		t.Run(fmt.Sprintf("partitions=%d", partitions), func(t *testing.T) {
			base := runReplay(t, insertAt(lines, -1), partitions)
			got := runReplay(t, insertAt(lines, len(lines)/2, pair...), partitions)
			want, have := recordsExcept(t, base.out, old), recordsExcept(t, got.out, old)
			if strings.Join(have, "\n") != strings.Join(want, "\n") {
				t.Fatalf("other channels' records differ: %d records, want %d", len(have), len(want))
			}
			for _, dl := range deadLines(t, got.dlq) {
				if dl.Reason == codec.ReasonTimestampInFuture {
					t.Fatalf("a 1970 event is timestamp-in-future: %+v", dl)
				}
			}
			t.Logf("the 1970 pair: %d records of its own, dead letters %s", len(recordsExcept(t, got.out, ""))-len(have), got.dlq)
		})
	}
}
