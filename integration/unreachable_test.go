package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
)

// TestUnreachableBrokers: with no broker at the address the processor gives
// up after --start-timeout with a clear error; with the broker down at start
// it waits, retrying with backoff, and once the broker is up it creates its
// topics and processes everything.
func TestUnreachableBrokers(t *testing.T) {
	t.Run("no-broker", func(t *testing.T) {
		h := setup(t)
		start := time.Now()
		p := h.start("run", "run", "--brokers", "127.0.0.1:1", "--start-timeout", "3s",
			"--input-topic", h.Input, "--output-topic", h.Output, "--dlq-topic", h.DLQ, "--group", h.Group)
		code := p.wait(30 * time.Second)
		took := time.Since(start)
		t.Logf("exit %d after %s", code, took.Round(time.Millisecond))
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		if took < 3*time.Second || took > 15*time.Second {
			t.Errorf("gave up after %s with --start-timeout 3s", took)
		}
		lines := strings.Split(strings.TrimSpace(p.stderr.String()), "\n")
		last := lines[len(lines)-1]
		for _, s := range []string{"brokers unreachable", "127.0.0.1:1", "3s"} {
			if !strings.Contains(last, s) {
				t.Errorf("last stderr line does not say %q: %s", s, last)
			}
		}
		if !strings.Contains(p.stderr.String(), "waiting for brokers") {
			t.Errorf("no retry logged before giving up")
		}
	})

	t.Run("broker-down-at-start", func(t *testing.T) {
		const parts, events, seed = 3, 3000, 5
		h := setup(t)
		h.requireScriptBroker()
		want := h.replay(h.genNDJSON(events, seed), parts, 100)

		h.kafkaCtl("stop")
		p := h.startRun("run", "--start-timeout", "90s", "--partitions", fmt.Sprint(parts))
		// It retries with backoff: two logged attempts, still running.
		h.waitFor("the processor to retry", 50*time.Millisecond, []*proc{p}, func() (bool, error) {
			return strings.Count(p.stderr.String(), "waiting for brokers") >= 2, nil
		})
		h.kafkaCtl("start")
		h.waitTopics(p, map[string]int{h.Input: parts, h.Output: parts, h.DLQ: parts, h.Changelog(): parts})
		h.produceGen(events, seed, "binary")
		h.waitCaughtUp(p)
		p.stopClean()
		h.checkExactlyOnce(want, codec.Binary)
	})
}

// TestBrokerRestartMidRun restarts the broker (scripts/kafka restart) while
// the processor is processing a stream that a producer keeps writing, then
// stops it long enough for the processor to tear its client down and starts
// it again: the processor reconnects, retries with backoff, resumes within
// seconds of the broker's return, and at the end its output equals replay's
// over the input, with no id twice.
func TestBrokerRestartMidRun(t *testing.T) {
	const parts, seed, rate = 3, 33, 2000
	h := setup(t)
	h.requireScriptBroker()
	h.createTopic(h.Input, parts)

	// --shutdown-timeout also bounds each commit: with the broker down, a
	// transaction in flight fails after 3s and the client is torn down.
	p := h.startRun("run", "--shutdown-timeout", "3s")
	gen := h.startGenStream(seed, rate)
	h.waitFor("first output records", 50*time.Millisecond, []*proc{p, gen}, func() (bool, error) {
		return h.stableCount(h.Output) > 0 && h.committedCount() > 0, nil
	})
	before := h.committedCount()
	h.kafkaCtl("restart")
	after := h.committedCount()
	t.Logf("restarted the broker after %d input records were committed (%d once it was back)", before, after)
	h.waitFor("the processor to go on after the restart", 50*time.Millisecond, []*proc{p, gen}, func() (bool, error) {
		return h.committedCount() >= max(before, after)+2000, nil
	})

	// A longer outage: the broker stays down until the processor has torn
	// its client down (a transaction in flight cannot end). Once the
	// broker is back, processing must resume at once, not after the group
	// waited out the session timeout (45s) of a member left behind.
	failures := func() int {
		log := p.stderr.String()
		return strings.Count(log, "transaction aborted") + strings.Count(log, "client failed")
	}
	failed := failures()
	h.kafkaCtl("stop")
	torn := h.waitUpTo(20*time.Second, "the processor to tear its client down", 100*time.Millisecond, []*proc{p, gen},
		func() (bool, error) { return failures() > failed, nil })
	h.kafkaCtl("start")
	back, mark := time.Now(), h.committedCount()
	h.waitFor("the processor to go on after the outage", 50*time.Millisecond, []*proc{p, gen}, func() (bool, error) {
		return h.committedCount() >= mark+2000, nil
	})
	resumed := time.Since(back)
	t.Logf("after the outage (client torn down: %v) the processor committed 2000 more input records %s after the broker was back",
		torn, resumed.Round(time.Millisecond))
	if resumed > 30*time.Second {
		t.Errorf("the processor took %s to resume after the broker came back", resumed.Round(time.Millisecond))
	}

	h.stopGen(gen)
	h.waitCaughtUp(p)
	p.stopClean()
	h.checkExactlyOnce(h.expectedFromInput(parts, 100), codec.Binary)
}
