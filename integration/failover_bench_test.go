package integration

// TestBenchFailover measures what an operator sees when a member of a
// group of `interruptions run` instances dies, stops or joins, on the real
// broker (issue 24's table; `make bench-failover`):
//
//   - moved: for the partitions the event took from their owner (for
//     scale-out, those the first instance gave away), the time from the
//     event until each has a new commit (the largest);
//   - others: for the partitions nobody took, the longest time without a
//     commit in the window after the event (the largest);
//   - blocked: for each output partition, the longest time its last stable
//     offset stood still below its high watermark, so that read_committed
//     readers saw nothing new (the largest, and how many partitions were
//     blocked more than 2 s);
//
// sampled every FAILOVER_SAMPLE (200ms). gen writes FAILOVER_RATE events/s
// (2000) into a 6-partition topic for the whole scenario, so every
// partition always has input: a partition without a new commit is paused.
// After the scenario gen stops, the group catches up and the output must
// equal replay's, every record once (exactly-once, the default).
//
// Scenarios (FAILOVER_SCENARIOS, comma-separated; in `make test` only
// sigterm, small):
//
//	kill          SIGKILL one of three, not restarted
//	kill-restart  SIGKILL one of three, started again 2 s later (as
//	              Kubernetes restarts a pod), with the same --instance-id
//	              when FAILOVER_INSTANCE_ID=1
//	stop          SIGSTOP one of three for 40 s (a frozen process), then
//	              SIGCONT
//	sigterm       SIGTERM one of three
//	scale-out     one instance, then two more started at once
//
// Settings: FAILOVER_ARGS (extra arguments of every instance, e.g.
// "--session-timeout 10s"), FAILOVER_INSTANCE_ID=1 (each instance gets
// --instance-id fo-N, its slot), FAILOVER_BIN (another build, for a
// before/after), FAILOVER_WARMUP (30s: gen and the group run this long
// before the event), FAILOVER_WINDOW (60s: how long after the event the
// pauses are measured; the scenario waits until every partition has
// committed again, at most this long).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/interruptions/interruptions/core/codec"
)

// failoverSpec is what one invocation measures.
type failoverSpec struct {
	scenarios  []string
	rate       int
	warmup     time.Duration
	window     time.Duration
	sample     time.Duration
	args       []string
	instanceID bool
	bin        string
}

func failoverSpecFromEnv(t *testing.T) failoverSpec {
	t.Helper()
	s := failoverSpec{scenarios: []string{"sigterm"}, rate: 500, warmup: 8 * time.Second,
		window: 30 * time.Second, sample: 200 * time.Millisecond, bin: binPath}
	full := os.Getenv("BENCH_FAILOVER") == "1"
	if full {
		s.scenarios = []string{"kill", "kill-restart", "stop", "sigterm", "scale-out"}
		s.rate, s.warmup, s.window = 2000, 30*time.Second, 60*time.Second
	}
	if v := os.Getenv("FAILOVER_SCENARIOS"); v != "" {
		s.scenarios = strings.Split(v, ",")
		for _, sc := range s.scenarios {
			if !slices.Contains([]string{"kill", "kill-restart", "stop", "sigterm", "scale-out"}, sc) {
				t.Fatalf("FAILOVER_SCENARIOS: unknown scenario %q", sc)
			}
		}
	}
	if v := os.Getenv("FAILOVER_RATE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("FAILOVER_RATE=%q: want a positive integer", v)
		}
		s.rate = n
	}
	for name, d := range map[string]*time.Duration{"FAILOVER_WARMUP": &s.warmup, "FAILOVER_WINDOW": &s.window, "FAILOVER_SAMPLE": &s.sample} {
		if v := os.Getenv(name); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x <= 0 {
				t.Fatalf("%s=%q: want a positive duration", name, v)
			}
			*d = x
		}
	}
	s.args = strings.Fields(os.Getenv("FAILOVER_ARGS"))
	s.instanceID = os.Getenv("FAILOVER_INSTANCE_ID") == "1"
	if v := os.Getenv("FAILOVER_BIN"); v != "" {
		s.bin = v
	}
	return s
}

func TestBenchFailover(t *testing.T) {
	spec := failoverSpecFromEnv(t)
	var rows []string
	for _, sc := range spec.scenarios {
		t.Run(sc, func(t *testing.T) {
			r := failoverScenario(t, spec, sc)
			rows = append(rows, r.row(sc))
		})
	}
	t.Logf("\nbinary %s, args %q, instance ids %v, %d events/s, sampled every %s\n| scenario | moved partitions processed again | other partitions: longest pause | output blocked for read_committed (partitions > 2 s) |\n|---|---|---|---|\n%s",
		spec.bin, spec.args, spec.instanceID, spec.rate, spec.sample, strings.Join(rows, "\n"))
}

// failoverResult is one scenario's measurements.
type failoverResult struct {
	moved, others, blocked time.Duration
	movedParts             []int32
	blockedParts           int
}

func (r failoverResult) row(sc string) string {
	moved := "—"
	if len(r.movedParts) > 0 {
		moved = fmt.Sprintf("%.1f s (%v)", r.moved.Seconds(), r.movedParts)
	}
	return fmt.Sprintf("| %s | %s | %.1f s | %.1f s (%d of %d) |", sc, moved, r.others.Seconds(), r.blocked.Seconds(), r.blockedParts, benchPartitions)
}

// failoverProc is one instance of the group, in its slot.
type failoverProc struct {
	slot int
	p    *proc
}

func failoverScenario(t *testing.T, spec failoverSpec, sc string) failoverResult {
	h := setup(t)
	h.createTopic(h.Input, benchPartitions)
	h.createTopic(h.Output, benchPartitions)
	h.createTopic(h.DLQ, 1)

	startSlot := func(slot int) *proc {
		args := h.runArgs(spec.args...)
		if spec.instanceID {
			args = append(args, "--instance-id", fmt.Sprintf("fo-%d", slot))
		}
		return startBin(t, spec.bin, fmt.Sprintf("run-%d", slot), args...)
	}

	gen := h.startGenStream(1, spec.rate)
	n := 3
	if sc == "scale-out" {
		n = 1
	}
	procs := make([]*proc, n)
	for i := range procs {
		procs[i] = startSlot(i)
	}
	w := newFailoverWatch(h, spec.sample)
	wctx, stopWatch := context.WithCancel(h.ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.run(wctx) }()
	defer func() { stopWatch(); wg.Wait() }()

	// Warm up: every partition committing, then the warm-up time.
	h.waitFor("every partition committing", spec.sample, procs, func() (bool, error) {
		return w.allAdvancedSince(time.Now().Add(-5*time.Second), benchPartitions), nil
	})
	warm := time.NewTimer(spec.warmup)
	select {
	case <-warm.C:
	case <-h.ctx.Done():
		t.Fatal(h.ctx.Err())
	}

	// The event.
	victim := 1
	var moved []int32
	if sc != "scale-out" {
		moved = ownedFromLog(procs[victim].stderr.String())
	}
	at := time.Now()
	switch sc {
	case "kill":
		procs[victim].signal(syscall.SIGKILL)
		<-procs[victim].done
	case "kill-restart":
		procs[victim].signal(syscall.SIGKILL)
		<-procs[victim].done
		restart := time.NewTimer(2 * time.Second)
		<-restart.C
		procs[victim] = startSlot(victim)
	case "stop":
		procs[victim].signal(syscall.SIGSTOP)
		cont := time.NewTimer(40 * time.Second)
		defer cont.Stop()
		go func() {
			select {
			case <-cont.C:
				_ = procs[victim].cmd.Process.Signal(syscall.SIGCONT)
			case <-h.ctx.Done():
			}
		}()
	case "sigterm":
		if code, took := procs[victim].stop(stopBound); code != 0 {
			t.Fatalf("run-%d exited %d after SIGTERM (took %s)", victim, code, took)
		}
	case "scale-out":
		procs = append(procs, startSlot(1), startSlot(2))
	}
	alive := slices.DeleteFunc(slices.Clone(procs), func(p *proc) bool { return p.exited() })

	// Wait until every partition has committed after the event and the
	// window has passed, or the window's end.
	end := at.Add(spec.window)
	h.waitUpTo(time.Until(end)+time.Second, "every partition committing again", spec.sample, alive, func() (bool, error) {
		return w.allAdvancedSince(at, benchPartitions) && time.Now().After(at.Add(spec.window/2)), nil
	})
	until := time.Now()
	stopWatch()
	wg.Wait()
	if sc == "scale-out" {
		// The partitions the first instance gave to the new ones moved;
		// those it kept are the others.
		stays := ownedFromLog(procs[0].stderr.String())
		for p := int32(0); p < benchPartitions; p++ {
			if !slices.Contains(stays, p) {
				moved = append(moved, p)
			}
		}
	}
	r := w.measure(at, until, moved)
	t.Logf("%s: %s", sc, r.row(sc))

	// Correctness: the whole input once, as replay computes it.
	h.stopGen(gen)
	if sc == "stop" && !procs[victim].exited() {
		_ = procs[victim].cmd.Process.Signal(syscall.SIGCONT)
	}
	live := slices.DeleteFunc(slices.Clone(procs), func(p *proc) bool { return p.exited() })
	h.waitCaughtUp(live...)
	want := h.expectedFromInput(benchPartitions, 1)
	h.checkExactlyOnce(want, codec.Binary) // run's default output mode
	for _, p := range live {
		p.stopClean()
	}
	return r
}

// ownedFromLog returns the input partitions a run instance owns according
// to its log: what "partitions assigned" added, less what "partitions
// revoked" took away.
func ownedFromLog(log string) []int32 {
	owned := map[int32]bool{}
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg        string  `json:"msg"`
			Partitions []int32 `json:"partitions"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		switch l.Msg {
		case "partitions assigned":
			for _, p := range l.Partitions {
				owned[p] = true
			}
		case "partitions revoked":
			for _, p := range l.Partitions {
				delete(owned, p)
			}
		}
	}
	var ps []int32
	for p := range owned {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// failoverWatch samples the group's committed offsets and the output's
// last stable offsets and high watermarks.
type failoverWatch struct {
	h        *harness
	interval time.Duration
	mu       sync.Mutex
	samples  []failoverSample
}

type failoverSample struct {
	at        time.Time
	committed map[int32]int64
	stable    map[int32]int64 // output: last stable offset
	high      map[int32]int64 // output: high watermark
}

func newFailoverWatch(h *harness, interval time.Duration) *failoverWatch {
	return &failoverWatch{h: h, interval: interval}
}

// run samples until ctx ends.
func (w *failoverWatch) run(ctx context.Context) {
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		s := failoverSample{at: time.Now(), committed: map[int32]int64{}, stable: map[int32]int64{}, high: map[int32]int64{}}
		sctx, cancel := context.WithTimeout(ctx, w.interval*5)
		if offs, err := w.h.adm.FetchOffsets(sctx, w.h.Group); err == nil {
			offs.Each(func(o kadm.OffsetResponse) {
				if o.Topic == w.h.Input && o.Err == nil {
					s.committed[o.Partition] = o.At
				}
			})
		}
		if l, err := w.h.adm.ListCommittedOffsets(sctx, w.h.Output); err == nil {
			l.Each(func(o kadm.ListedOffset) {
				if o.Err == nil {
					s.stable[o.Partition] = o.Offset
				}
			})
		}
		if l, err := w.h.adm.ListEndOffsets(sctx, w.h.Output); err == nil {
			l.Each(func(o kadm.ListedOffset) {
				if o.Err == nil {
					s.high[o.Partition] = o.Offset
				}
			})
		}
		cancel()
		w.mu.Lock()
		w.samples = append(w.samples, s)
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// advances returns, per input partition, the times its committed offset
// was seen to grow.
func (w *failoverWatch) advances() map[int32][]time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	adv := map[int32][]time.Time{}
	last := map[int32]int64{}
	for _, s := range w.samples {
		for p, o := range s.committed {
			if prev, ok := last[p]; ok && o > prev {
				adv[p] = append(adv[p], s.at)
			}
			last[p] = o
		}
	}
	return adv
}

// allAdvancedSince reports whether each of n partitions has a commit seen
// after since.
func (w *failoverWatch) allAdvancedSince(since time.Time, n int) bool {
	adv := w.advances()
	for p := int32(0); p < int32(n); p++ {
		ts := adv[p]
		if len(ts) == 0 || !ts[len(ts)-1].After(since) {
			return false
		}
	}
	return true
}

// measure computes a scenario's result over [at, until].
func (w *failoverWatch) measure(at, until time.Time, moved []int32) failoverResult {
	r := failoverResult{movedParts: moved}
	for p, ts := range w.advances() {
		if slices.Contains(moved, p) {
			first := until
			for _, x := range ts {
				if x.After(at) {
					first = x
					break
				}
			}
			r.moved = max(r.moved, first.Sub(at))
			continue
		}
		// The longest gap between commits that overlaps the window.
		prev := at
		for _, x := range ts {
			if !x.After(at) {
				prev = x
				continue
			}
			if x.After(until) {
				break
			}
			r.others = max(r.others, x.Sub(prev))
			prev = x
		}
		r.others = max(r.others, until.Sub(prev))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	blockedSince := map[int32]time.Time{}
	lastStable := map[int32]int64{}
	longest := map[int32]time.Duration{}
	for _, s := range w.samples {
		if s.at.Before(at) || s.at.After(until) {
			for p, o := range s.stable {
				lastStable[p] = o
				delete(blockedSince, p)
			}
			continue
		}
		for p, o := range s.stable {
			if o > lastStable[p] || o >= s.high[p] {
				delete(blockedSince, p)
			} else if _, ok := blockedSince[p]; !ok {
				blockedSince[p] = s.at
			}
			lastStable[p] = o
			if since, ok := blockedSince[p]; ok {
				longest[p] = max(longest[p], s.at.Sub(since))
			}
		}
	}
	for _, d := range longest {
		r.blocked = max(r.blocked, d)
		if d > 2*time.Second {
			r.blockedParts++
		}
	}
	return r
}
