package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/internal/testkit/records"
)

// TestStructuredAndBinaryInput produces generated VCC events in each content
// mode with `interruptions gen --brokers`, runs the processor, and compares
// its output (read_committed, decoded with the sdk-go binding) with what
// `interruptions replay --partitions` computes from the same events: the same
// ids with the same data, none twice. Output is checked in both modes.
func TestStructuredAndBinaryInput(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{"structured", "binary"},
		{"binary", "structured"},
	} {
		t.Run("in-"+tc.in+"-out-"+tc.out, func(t *testing.T) {
			const parts, events, seed = 3, 3000, 7
			h := setup(t)
			want := h.replay(h.genNDJSON(events, seed), parts, 100)
			h.createTopic(h.Input, parts)
			h.produceGen(events, seed, tc.in)
			inMode, _ := codec.ParseMode(tc.in)
			in := h.readTopic(h.Input)
			if len(in) != events {
				t.Fatalf("input topic holds %d records, want %d", len(in), events)
			}
			for _, r := range in {
				if m := records.Mode(r); m != inMode {
					t.Fatalf("input record %d@%d is %s mode, want %s", r.Partition, r.Offset, m, inMode)
				}
			}

			p := h.startRun("run", "--output-mode", tc.out)
			h.waitCaughtUp(p)
			p.stopClean()
			outMode, _ := codec.ParseMode(tc.out)
			h.checkExactlyOnce(want, outMode)
			if dl := h.readTopic(h.DLQ); len(dl) != 0 {
				t.Errorf("%d dead letters from valid input; first: %s %q", len(dl), testkit.Header(dl[0], cekafka.HeaderDLQReason), dl[0].Value)
			}
		})
	}
}

// TestSigtermAndRestart stops the processor with SIGTERM while a producer
// is writing the input and output has appeared, checks it exits 0 within
// stopBound, starts it again, lets it work the live stream, and checks at
// the end that nothing was lost: exactly-once output equals replay's over
// the input with no id twice; at-least-once output holds every record,
// repeats only identical.
func TestSigtermAndRestart(t *testing.T) {
	for _, guarantee := range []string{"exactly-once", "at-least-once"} {
		t.Run(guarantee, func(t *testing.T) {
			const parts, seed, rate = 3, 21, 2000
			h := setup(t)
			h.createTopic(h.Input, parts)

			first := h.startRun("run-1", "--guarantee", guarantee)
			gen := h.startGenStream(seed, rate)
			h.waitFor("first output records", 50*time.Millisecond, []*proc{first, gen}, func() (bool, error) {
				return h.stableCount(h.Output) > 0 && h.committedCount() > 0, nil
			})
			code, took := first.stop(stopBound)
			if code != 0 {
				t.Fatalf("processor exited %d after SIGTERM, want 0", code)
			}
			if !strings.Contains(first.stderr.String(), "processor stopped cleanly") {
				t.Errorf("no clean stop logged after SIGTERM")
			}
			mark := h.committedCount()
			t.Logf("first processor stopped in %s, %d input records committed, the producer still writing",
				took.Round(time.Millisecond), mark)

			second := h.startRun("run-2", "--guarantee", guarantee)
			h.waitFor("the second processor to work the live stream", 50*time.Millisecond, []*proc{second, gen}, func() (bool, error) {
				return h.committedCount() >= mark+2000, nil
			})
			h.stopGen(gen)
			h.waitCaughtUp(second)
			second.stopClean()
			want := h.expectedFromInput(parts, 100)
			if guarantee == "exactly-once" {
				h.checkExactlyOnce(want, codec.Binary)
			} else {
				h.checkAtLeastOnce(want, codec.Binary)
			}
		})
	}
}
