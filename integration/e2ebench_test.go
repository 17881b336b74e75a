package integration

// The end-to-end benchmark on the data users produce (issue 14), run by
// `make bench-e2e`:
//
//	for each input mode (structured, binary):
//	  `interruptions gen --brokers B --topic T --seed 1 --mode M --events N`
//	      into a new 6-partition topic (gen's own batching and compression)
//	for each round, for each input mode in turn:
//	    bare:        a franz-go group consumer (testdata/bareconsumer) as a
//	                 subprocess, from a new group, until it has read the topic
//	    binary:      `interruptions run` as a subprocess, from a new group with
//	                 new output, dead-letter and changelog topics, once per
//	                 guarantee; timed from process start until the group has
//	                 committed the whole input topic (polled with kadm), then
//	                 SIGTERM
//	    in-process:  processor.NewRunner in this process, the same way
//
// CPU per event of the subprocesses comes from their own rusage
// (os.ProcessState.SysUsage: utime + stime), start-up to shut-down, as
// /usr/bin/time counts it. Max RSS is the peak resident size of the
// process's own memory, VmHWM in /proc/PID/status: `interruptions run`'s
// is read every 20 ms until SIGTERM (shutdown is not covered), the bare
// consumer reports its own at exit. Not rusage's maxrss: Go starts
// children with vfork (CLONE_VM), and Linux folds the address space a
// process had before exec into its maxrss, so a child of this test process
// reports at least this process's own peak (a /bin/true started from a Go
// process holding 300 MB reports 302 MB). The in-process rows take the CPU
// from this process's rusage over the run and the peak RSS from
// /proc/self/status VmHWM after resetting it (/proc/self/clear_refs), so
// they include the test's own offset polling and whatever heap the process
// held before. The ratio to bare is events/s over the bare consumer's
// events/s of the same round.
//
// Without BENCH_E2E=1 (that is, in `make test`) it runs small, 50,000
// events and one round, and asserts what must hold at any size: the whole
// input committed, the same non-empty set of output ids from every run
// (exactly-once: no id twice), changelog records written, no dead letters,
// rusage and VmHWM read. Timing is printed, never asserted.
//
// Environment: BENCH_E2E=1 (full size), EVENTS (default 2,000,000 with
// BENCH_E2E=1, else 50,000), E2E_ROUNDS (default 3 with BENCH_E2E=1, else
// 1), E2E_MODES (default "structured,binary"; "preload" is a control: the
// same events produced as processor's BenchmarkEndToEnd preloads them,
// binary mode, 1 MB batch limit, 20 ms linger), E2E_GUARANTEES (default
// "exactly-once,at-least-once"), E2E_IN_PROCESS (default 1; 0 leaves the
// in-process rows out), E2E_RUN_ARGS (extra arguments for `interruptions
// run`), E2E_RUN_ENV (extra NAME=value settings, space separated, for the
// run subprocess, e.g. "GOGC=200 GOMEMLIMIT=80MiB"), E2E_CPUPROFILE=PREFIX
// (a CPU profile of each in-process run, PREFIX-<mode>-<guarantee>-<round>.pprof),
// E2E_LOG_DIR (each run subprocess's stderr goes to DIR/<group>.log),
// E2E_VARIANTS (instead of one `interruptions run` row per guarantee, one
// per variant, run in turn in every round so they share the machine's
// conditions: "label=words;label=words", a word NAME=value is an
// environment setting, any other word an argument; for A/B comparisons,
// e.g. "base=;limit=GOMEMLIMIT=80MiB"; E2E_BIN=PATH runs another build
// of the binary, e.g. "before=E2E_BIN=/tmp/old;after=").
//
// From the shared harness it uses binPath and binErr (the binary under
// test, set by TestMain), repoRoot, brokerList, howToStart, command (a
// subprocess of the binary with a clean environment and a free metrics
// port), syncBuffer, stopBound and tail.

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/vccgen"
)

// benchPartitions is the partition count of the benchmark's topics.
const benchPartitions = 6

// benchSpec is what one benchmark invocation measures.
type benchSpec struct {
	events     int
	rounds     int
	full       bool
	modes      []string
	guarantees []string
	inProcess  bool
	variants   []variant
	cpuProfile string
	logDir     string
}

func benchSpecFromEnv(t *testing.T) benchSpec {
	t.Helper()
	s := benchSpec{full: os.Getenv("BENCH_E2E") == "1", events: 50_000, rounds: 1, inProcess: true,
		modes: []string{"structured", "binary"}, guarantees: []string{"exactly-once", "at-least-once"}}
	if s.full {
		s.events, s.rounds = 2_000_000, 3
	}
	envInt := func(name string, v *int) {
		if e := os.Getenv(name); e != "" {
			n, err := strconv.Atoi(e)
			if err != nil || n <= 0 {
				t.Fatalf("%s=%q: want a positive integer", name, e)
			}
			*v = n
		}
	}
	envInt("EVENTS", &s.events)
	envInt("E2E_ROUNDS", &s.rounds)
	envList := func(name string, v *[]string, allowed ...string) {
		if e := os.Getenv(name); e != "" {
			*v = nil
			for _, x := range strings.Split(e, ",") {
				if !slices.Contains(allowed, x) {
					t.Fatalf("%s: %q is not one of %v", name, x, allowed)
				}
				*v = append(*v, x)
			}
		}
	}
	envList("E2E_MODES", &s.modes, "structured", "binary", "preload")
	envList("E2E_GUARANTEES", &s.guarantees, "exactly-once", "at-least-once")
	s.inProcess = os.Getenv("E2E_IN_PROCESS") != "0"
	s.variants = []variant{{args: strings.Fields(os.Getenv("E2E_RUN_ARGS")), env: strings.Fields(os.Getenv("E2E_RUN_ENV"))}}
	if v := os.Getenv("E2E_VARIANTS"); v != "" {
		vs, err := parseVariants(v)
		if err != nil || len(vs) == 0 {
			t.Fatalf("E2E_VARIANTS=%q: %v", v, err)
		}
		s.variants = vs
	}
	s.cpuProfile = os.Getenv("E2E_CPUPROFILE")
	s.logDir = os.Getenv("E2E_LOG_DIR")
	return s
}

// variant is one way to run the binary: extra arguments and environment.
type variant struct {
	label     string
	args, env []string
}

// parseVariants parses E2E_VARIANTS: variants separated by ";", each
// "label=words", where a word NAME=value (not starting with "-") is an
// environment setting and any other word an argument of `run`.
func parseVariants(s string) ([]variant, error) {
	var vs []variant
	for _, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		label, rest, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(label) == "" {
			return nil, fmt.Errorf("variant %q is not label=settings", part)
		}
		v := variant{label: strings.TrimSpace(label)}
		for _, w := range strings.Fields(rest) {
			if strings.Contains(w, "=") && !strings.HasPrefix(w, "-") {
				v.env = append(v.env, w)
			} else {
				v.args = append(v.args, w)
			}
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// benchRun is one measured run of one row.
type benchRun struct {
	wall        time.Duration // process (or runner) start until the whole input was read or committed
	firstCommit time.Duration // start until the group's first committed offset (processors)
	cpu         time.Duration // user + system CPU
	maxRSS      int64         // bytes
	bareRate    float64       // the bare consumer's events/s in the same round
	output      int64         // output records read back (processors)
	changelog   int64         // changelog records written (processors)
	shape       string        // the input's record batches, as the bare consumer saw them
}

// benchRow is one line of the table.
type benchRow struct {
	mode, guarantee, process string
	runs                     []benchRun
}

// benchEnv is the broker side of the benchmark.
type benchEnv struct {
	t       *testing.T
	ctx     context.Context
	brokers []string
	adm     *kadm.Client
	bare    string // the bare consumer binary
	stamp   string
	// logf prints progress: t.Logf, or stdout at full size (live, and
	// with `go test` not in -v mode only the table and these lines show).
	logf func(format string, args ...any)
}

// TestBenchE2E is the end-to-end benchmark on gen-produced input; see the
// comment at the top of this file. In `make test` it runs at 50,000 events
// and checks the harness; `make bench-e2e` runs it at 2,000,000 events, 3
// rounds, and prints the table.
func TestBenchE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs a Kafka broker (skipped with -short)")
	}
	brokers := brokerList()
	if len(brokers) == 0 {
		t.Fatalf("KAFKA_BROKERS is not set: %s", howToStart)
	}
	if binErr != nil {
		t.Fatalf("no interruptions binary: %v", binErr)
	}
	spec := benchSpecFromEnv(t)
	limit := 10 * time.Minute
	if spec.full {
		limit = time.Duration(spec.rounds) * time.Duration(len(spec.modes)) * 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	defer cl.Close()
	e := &benchEnv{t: t, ctx: ctx, brokers: brokers, adm: kadm.NewClient(cl),
		stamp: fmt.Sprintf("bench-e2e-%d", rand.IntN(1_000_000_000))}
	if _, err := e.adm.BrokerMetadata(ctx); err != nil {
		t.Fatalf("the broker at KAFKA_BROKERS=%s does not answer: %v\n%s", os.Getenv("KAFKA_BROKERS"), err, howToStart)
	}
	e.bare = buildBareConsumer(t)
	e.logf = t.Logf
	if spec.full {
		e.logf = func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	}
	e.logf("%d events per mode, %d round(s), modes %v, guarantees %v, in-process rows %v, run variants %+v",
		spec.events, spec.rounds, spec.modes, spec.guarantees, spec.inProcess, spec.variants)

	var rows []*benchRow
	row := func(mode, g, process string) *benchRow {
		for _, r := range rows {
			if r.mode == mode && r.guarantee == g && r.process == process {
				return r
			}
		}
		r := &benchRow{mode: mode, guarantee: g, process: process}
		rows = append(rows, r)
		return r
	}
	outputs := map[int64][]string{} // output record count -> runs that produced it
	// All inputs first, then rounds over every mode: runs of one round
	// share the machine's conditions, which on a shared machine drift.
	inputs := map[string]string{}
	inputEnds := map[string]map[int32]int64{}
	for _, mode := range spec.modes {
		inputs[mode] = e.stamp + "-" + mode + "-in"
		inputEnds[mode] = e.genInput(inputs[mode], mode, spec.events)
	}
	for round := 1; round <= spec.rounds; round++ {
		for _, mode := range spec.modes {
			input, ends := inputs[mode], inputEnds[mode]
			bare := e.runBare(input, ends, fmt.Sprintf("%s-%s-bare-%d", e.stamp, mode, round))
			bareRate := float64(spec.events) / bare.wall.Seconds()
			bare.bareRate = bareRate
			r := row(mode, "—", "bare consumer")
			r.runs = append(r.runs, bare)
			e.logRun(mode, "—", "bare consumer", round, spec.events, bare)
			for _, g := range spec.guarantees {
				for i, v := range spec.variants {
					name := fmt.Sprintf("%s-%s-%s-bin%d-%d", e.stamp, mode, g, i, round)
					run := e.runBinary(input, ends, name, g, v, spec)
					run.bareRate = bareRate
					process := "interruptions run"
					if v.label != "" {
						process += " [" + v.label + "]"
					}
					row(mode, g, process).runs = append(row(mode, g, process).runs, run)
					e.logRun(mode, g, process, round, spec.events, run)
					outputs[run.output] = append(outputs[run.output], name)
					if run.changelog == 0 {
						t.Errorf("%s wrote no changelog records", name)
					}
				}
				if spec.inProcess {
					name := fmt.Sprintf("%s-%s-%s-inproc-%d", e.stamp, mode, g, round)
					run := e.runInProcess(input, ends, name, mode, g, spec, round)
					run.bareRate = bareRate
					row(mode, g, "in-process Runner").runs = append(row(mode, g, "in-process Runner").runs, run)
					e.logRun(mode, g, "in-process Runner", round, spec.events, run)
					outputs[run.output] = append(outputs[run.output], name)
					if run.changelog == 0 {
						t.Errorf("%s wrote no changelog records", name)
					}
				}
			}
		}
	}
	// Every run read the same events with the same keys into the same
	// partitions: every run's output must hold the same records (unless
	// a variant runs another build, whose output may differ).
	otherBuild := false
	for _, v := range spec.variants {
		for _, kv := range v.env {
			otherBuild = otherBuild || strings.HasPrefix(kv, "E2E_BIN=")
		}
	}
	if len(outputs) != 1 && !otherBuild {
		t.Errorf("the runs disagree on the number of output records: %v", outputs)
	}
	for n := range outputs {
		if n == 0 {
			t.Errorf("no output records from %v", outputs[n])
		}
	}
	e.logf("\n%s", benchTable(spec, rows))
}

// logRun prints one run's raw figures.
func (e *benchEnv) logRun(mode, guarantee, process string, round, events int, r benchRun) {
	rate := float64(events) / r.wall.Seconds()
	line := fmt.Sprintf("run %d %s %s %s: wall %.2fs %.0f events/s, CPU %.2fs %.2f µs/event, max RSS %d MB",
		round, mode, guarantee, process, r.wall.Seconds(), rate, r.cpu.Seconds(),
		float64(r.cpu.Microseconds())/float64(events), r.maxRSS>>20)
	if r.shape != "" {
		line += "; input: " + r.shape
	} else {
		line += fmt.Sprintf(", ÷ bare %.2f, first commit %.2fs, output %d, changelog %d records (%.3f per event)",
			rate/r.bareRate, r.firstCommit.Seconds(), r.output, r.changelog, float64(r.changelog)/float64(events))
	}
	e.logf("%s", line)
}

// buildBareConsumer builds testdata/bareconsumer into the test's temp dir.
func buildBareConsumer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bareconsumer")
	build := exec.Command("go", "build", "-o", bin, "./integration/testdata/bareconsumer")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./integration/testdata/bareconsumer: %v\n%s", err, out)
	}
	return bin
}

// genInput creates a 6-partition topic and fills it with `interruptions gen
// --brokers ... --seed 1 --mode mode --events n`; it returns the end
// offsets.
func (e *benchEnv) genInput(topic, mode string, n int) map[int32]int64 {
	e.t.Helper()
	e.createTopic(topic, nil)
	e.t.Cleanup(func() { e.deleteTopics(topic) })
	if mode == "preload" {
		e.preloadInput(topic, n)
	} else {
		e.genTopic(topic, mode, n)
	}
	ends := e.endOffsets(topic)
	var sum int64
	for _, o := range ends {
		sum += o
	}
	if sum != int64(n) {
		e.t.Fatalf("%s holds %d records after %d were produced", topic, sum, n)
	}
	return ends
}

// genTopic runs `interruptions gen --brokers` into topic.
func (e *benchEnv) genTopic(topic, mode string, n int) {
	e.t.Helper()
	cmd := command("gen", "--brokers", strings.Join(e.brokers, ","), "--topic", topic,
		"--seed", "1", "--mode", mode, "--events", strconv.Itoa(n))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := runCtx(e.ctx, cmd); err != nil {
		e.t.Fatalf("interruptions gen --mode %s: %v\n%s", mode, err, tail(stderr.String()))
	}
	e.logf("gen --mode %s: %d events in %s (CPU %s)", mode, n,
		time.Since(start).Round(time.Millisecond), rusageCPU(e.t, cmd.ProcessState).Round(time.Millisecond))
}

// preloadInput is the control input mode "preload": the same events
// (vccgen seed 1) produced the way processor's BenchmarkEndToEnd preloads
// them, binary mode in 1 MB batches with 20 ms linger, instead of by gen.
func (e *benchEnv) preloadInput(topic string, n int) {
	e.t.Helper()
	start := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ProducerLinger(20*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		e.t.Fatalf("producer: %v", err)
	}
	defer cl.Close()
	var failed atomic.Pointer[error]
	gen := vccgen.New(vccgen.Config{Seed: 1})
	for i := 0; i < n; i++ {
		ev := gen.Next()
		ce, err := codec.ParseStructured(ev.Value)
		if err != nil {
			e.t.Fatalf("event %d: %v", i, err)
		}
		rec, err := cekafka.KafkaRecord(topic, ev.Key, ce, codec.Binary)
		if err != nil {
			e.t.Fatalf("event %d: %v", i, err)
		}
		cl.Produce(e.ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := cl.Flush(e.ctx); err != nil {
		e.t.Fatalf("flush: %v", err)
	}
	if err := failed.Load(); err != nil {
		e.t.Fatalf("preload: %v", *err)
	}
	e.logf("preload: %d events in %s", n, time.Since(start).Round(time.Millisecond))
}

// runBare runs the bare consumer from a new group until it has read the
// whole topic.
func (e *benchEnv) runBare(topic string, ends map[int32]int64, group string) benchRun {
	e.t.Helper()
	defer e.deleteGroup(group)
	var endsArg []string
	var total int64
	for p, o := range ends {
		endsArg = append(endsArg, fmt.Sprintf("%d:%d", p, o))
		total += o
	}
	cmd := exec.Command(e.bare, "-brokers", strings.Join(e.brokers, ","), "-topic", topic,
		"-group", group, "-ends", strings.Join(endsArg, ","))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := runCtx(e.ctx, cmd)
	wall := time.Since(start)
	if err != nil {
		e.t.Fatalf("bare consumer: %v\n%s", err, tail(stderr.String()))
	}
	// stdout: records read, then VmHWM in kB.
	out := strings.Fields(stdout.String())
	if len(out) != 2 || out[0] != strconv.FormatInt(total, 10) {
		e.t.Fatalf("bare consumer printed %q, want %d records and its VmHWM", stdout.String(), total)
	}
	hwm, err := strconv.ParseInt(out[1], 10, 64)
	if err != nil || hwm <= 0 {
		e.t.Fatalf("bare consumer's VmHWM %q: %v", out[1], err)
	}
	return benchRun{wall: wall, cpu: rusageCPU(e.t, cmd.ProcessState), maxRSS: hwm << 10, shape: strings.TrimSpace(stderr.String())}
}

// runBinary runs `interruptions run` from a new group until the group has
// committed the whole input, then stops it with SIGTERM.
func (e *benchEnv) runBinary(input string, ends map[int32]int64, name, guarantee string, v variant, spec benchSpec) benchRun {
	e.t.Helper()
	output, dlq, group := name+"-out", name+"-dlq", name
	e.createOutputs(output, dlq, group)
	defer e.deleteTopics(output, dlq, group+"-state-changelog")
	defer e.deleteGroup(group)
	args := append([]string{"run", "--brokers", strings.Join(e.brokers, ","),
		"--input-topic", input, "--output-topic", output, "--dlq-topic", dlq,
		"--group", group, "--guarantee", guarantee, "--transactional-id", name}, v.args...)
	cmd := command(args...)
	for _, kv := range v.env {
		// E2E_BIN=PATH runs another build of the binary (a before/after
		// comparison in one run); every other setting is the process's.
		if bin, ok := strings.CutPrefix(kv, "E2E_BIN="); ok {
			cmd.Path, cmd.Args[0] = bin, bin
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	var stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start interruptions run: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	peak := watchHWM(cmd.Process.Pid)
	first, wall, err := e.waitCommitted(group, input, ends, start, exited)
	rss := peak()
	if err != nil {
		_ = cmd.Process.Kill()
		<-exited
		e.t.Fatalf("interruptions run --guarantee %s: %v\n%s", guarantee, err, tail(stderr.String()))
	}
	if rss <= 0 {
		e.t.Fatalf("no VmHWM read from /proc/%d/status", cmd.Process.Pid)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		e.t.Fatalf("SIGTERM interruptions run: %v", err)
	}
	select {
	case err := <-exited:
		if err != nil {
			e.t.Fatalf("interruptions run --guarantee %s after SIGTERM: %v\n%s", guarantee, err, tail(stderr.String()))
		}
	case <-time.After(stopBound):
		_ = cmd.Process.Kill()
		<-exited
		e.t.Fatalf("interruptions run still running %s after SIGTERM\n%s", stopBound, tail(stderr.String()))
	}
	if spec.logDir != "" {
		if err := os.WriteFile(filepath.Join(spec.logDir, group+".log"), []byte(stderr.String()), 0o644); err != nil {
			e.t.Errorf("E2E_LOG_DIR: %v", err)
		}
	}
	return benchRun{wall: wall, firstCommit: first, cpu: rusageCPU(e.t, cmd.ProcessState), maxRSS: rss,
		output: e.checkOutput(output, dlq, guarantee), changelog: e.countRecords(group+"-state-changelog", nil)}
}

// runInProcess runs a processor.Runner in this process from a new group
// until the group has committed the whole input.
func (e *benchEnv) runInProcess(input string, ends map[int32]int64, name, mode, guarantee string, spec benchSpec, round int) benchRun {
	e.t.Helper()
	output, dlq, group := name+"-out", name+"-dlq", name
	e.createOutputs(output, dlq, group)
	defer e.deleteTopics(output, dlq, group+"-state-changelog")
	defer e.deleteGroup(group)
	cfg := processor.DefaultConfig()
	cfg.Brokers = e.brokers
	cfg.InputTopic, cfg.OutputTopic, cfg.DLQTopic, cfg.Group = input, output, dlq, group
	cfg.TransactionalID = name
	g, err := processor.ParseGuarantee(guarantee)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.Guarantee = g
	r, err := processor.NewRunner(cfg)
	if err != nil {
		e.t.Fatalf("runner: %v", err)
	}
	if spec.cpuProfile != "" {
		f, err := os.Create(fmt.Sprintf("%s-%s-%s-%d.pprof", spec.cpuProfile, mode, guarantee, round))
		if err != nil {
			e.t.Fatalf("cpu profile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			e.t.Fatalf("cpu profile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}
	resetPeakRSS()
	before := selfCPU(e.t)
	rctx, stop := context.WithCancel(e.ctx)
	defer stop()
	exited := make(chan error, 1)
	start := time.Now()
	go func() { exited <- r.Run(rctx) }()
	first, wall, err := e.waitCommitted(group, input, ends, start, exited)
	if err != nil {
		stop()
		<-exited
		e.t.Fatalf("in-process runner, %s: %v", guarantee, err)
	}
	stop()
	if err := <-exited; err != nil {
		e.t.Fatalf("in-process runner, %s, on cancel: %v", guarantee, err)
	}
	cpu := selfCPU(e.t) - before
	if spec.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	rss, err := vmHWM("self")
	if err != nil {
		e.t.Fatal(err)
	}
	return benchRun{wall: wall, firstCommit: first, cpu: cpu, maxRSS: rss,
		output: e.checkOutput(output, dlq, guarantee), changelog: e.countRecords(group+"-state-changelog", nil)}
}

// waitCommitted polls the group's committed offsets until they reach ends
// on every partition. It returns the time from start to the first
// committed offset and to the last; it fails if exited delivers first (the
// process or runner ended).
func (e *benchEnv) waitCommitted(group, topic string, ends map[int32]int64, start time.Time, exited <-chan error) (first, all time.Duration, err error) {
	// Fast polls until the first commit (start-up is short), then slower
	// ones: each poll is an OffsetFetch to the broker the run shares.
	interval := 10 * time.Millisecond
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastErr error
	for {
		select {
		case err := <-exited:
			return 0, 0, fmt.Errorf("ended before committing the whole input (%v); last poll error: %v", err, lastErr)
		case <-e.ctx.Done():
			return 0, 0, fmt.Errorf("not caught up: %w; last poll error: %v", e.ctx.Err(), lastErr)
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		committed, ferr := e.adm.FetchOffsets(ctx, group)
		cancel()
		now := time.Since(start)
		if ferr != nil {
			lastErr = ferr
			continue
		}
		any, done := false, true
		for p, end := range ends {
			c, ok := committed.Lookup(topic, p)
			if ok && c.Err == nil && c.At > 0 {
				any = true
			}
			if end > 0 && (!ok || c.Err != nil || c.At < end) {
				done = false
			}
		}
		if any && first == 0 {
			first = now
			interval = 50 * time.Millisecond
			tick.Reset(interval)
		}
		if done {
			return first, now, nil
		}
	}
}

// checkOutput reads the output topic read_committed and returns its record
// count; it fails on dead letters (gen's input is valid) and, exactly-once,
// on an output id seen twice.
func (e *benchEnv) checkOutput(output, dlq, guarantee string) int64 {
	e.t.Helper()
	if n := e.countRecords(dlq, nil); n != 0 {
		e.t.Errorf("%d dead letters from gen's valid input", n)
	}
	ids := map[string]struct{}{}
	n := e.countRecords(output, func(r *kgo.Record) {
		for _, h := range r.Headers {
			if h.Key == "ce_id" {
				ids[string(h.Value)] = struct{}{}
			}
		}
	})
	if int64(len(ids)) != n {
		if guarantee == "exactly-once" {
			e.t.Errorf("exactly-once: %d output records, %d distinct ce_id headers", n, len(ids))
		} else if len(ids) == 0 {
			e.t.Errorf("%d output records without a ce_id header", n)
		}
	}
	return int64(len(ids))
}

// countRecords reads topic read_committed from its start to its last
// stable offsets and returns the number of data records, calling each for
// every one.
func (e *benchEnv) countRecords(topic string, each func(*kgo.Record)) int64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Minute)
	defer cancel()
	starts, err := e.adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		e.t.Fatalf("start offsets of %s: %v", topic, err)
	}
	lso, err := e.adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = lso.Error()
	}
	if err != nil {
		e.t.Fatalf("stable offsets of %s: %v", topic, err)
	}
	end := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	lso.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(topic, o.Partition); ok && o.Offset > s.Offset {
			end[o.Partition] = o.Offset
			from[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(end) == 0 {
		return 0
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords()) // a partition ending in a marker is seen to end
	if err != nil {
		e.t.Fatalf("reader of %s: %v", topic, err)
	}
	defer cl.Close()
	var n int64
	left := len(end)
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("read %s: %v after %d records", topic, ctx.Err(), n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			last, ok := end[r.Partition]
			if !ok || r.Offset >= last {
				return
			}
			if !r.Attrs.IsControl() {
				n++
				if each != nil {
					each(r)
				}
			}
			if r.Offset == last-1 {
				delete(end, r.Partition)
				left--
			}
		})
	}
	return n
}

// createOutputs creates a processor's output, dead-letter and changelog
// topics as the processor would, so their creation is not timed.
func (e *benchEnv) createOutputs(output, dlq, group string) {
	e.t.Helper()
	compact := "compact"
	e.createTopic(output, nil)
	e.createTopic(dlq, nil)
	e.createTopic(group+"-state-changelog", map[string]*string{"cleanup.policy": &compact})
}

// createTopic creates a 6-partition topic (RF 1) and waits until the
// broker's metadata shows it.
func (e *benchEnv) createTopic(topic string, configs map[string]*string) {
	e.t.Helper()
	resp, err := e.adm.CreateTopic(e.ctx, benchPartitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		e.t.Fatalf("create topic %s: %v", topic, err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// WithAuthorizedOps bypasses kadm's metadata cache.
		td, err := e.adm.ListTopics(kadm.WithAuthorizedOps(e.ctx), topic)
		if err == nil && td[topic].Err == nil && len(td[topic].Partitions) == benchPartitions {
			return
		}
		select {
		case <-e.ctx.Done():
			e.t.Fatalf("topic %s not in the metadata: %v (last error %v)", topic, e.ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// endOffsets returns topic's end offsets by partition.
func (e *benchEnv) endOffsets(topic string) map[int32]int64 {
	e.t.Helper()
	listed, err := e.adm.ListEndOffsets(e.ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		e.t.Fatalf("end offsets of %s: %v", topic, err)
	}
	ends := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	return ends
}

// deleteTopics deletes topics, best effort: the broker stays light for
// the runs after.
func (e *benchEnv) deleteTopics(topics ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = e.adm.DeleteTopics(ctx, topics...)
}

// deleteGroup deletes a consumer group, best effort.
func (e *benchEnv) deleteGroup(group string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = e.adm.DeleteGroups(ctx, group)
}

// runCtx runs cmd to completion, killing it if ctx ends first.
func runCtx(ctx context.Context, cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		return ctx.Err()
	}
}

// rusageCPU returns an exited process's user + system CPU from its own
// rusage, failing the test when it is missing or empty.
func rusageCPU(t *testing.T, ps *os.ProcessState) time.Duration {
	t.Helper()
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		t.Fatalf("no rusage for pid %d", ps.Pid())
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if cpu <= 0 {
		t.Fatalf("rusage of pid %d is empty: utime %v stime %v", ps.Pid(), ru.Utime, ru.Stime)
	}
	return cpu
}

// watchHWM reads the VmHWM of process pid every 20 ms; the returned
// function stops it and returns the last value read (VmHWM only grows),
// reading once more first. 0 means it could never be read.
func watchHWM(pid int) func() int64 {
	id := strconv.Itoa(pid)
	var last atomic.Int64
	read := func() {
		if v, err := vmHWM(id); err == nil {
			last.Store(v)
		}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			read()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-stopped
		read()
		return last.Load()
	}
}

// selfCPU is this process's user + system CPU so far.
func selfCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets this process's VmHWM to its current RSS (Linux
// clear_refs "5"); best effort: without it peakRSS is the process's peak
// so far.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// vmHWM is the VmHWM (peak resident set) of process pid ("self" for this
// one) in bytes.
func vmHWM(pid string) (int64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM %q in /proc/%s/status: %w", v, pid, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%s/status", pid)
}

// benchTable formats the rows as a Markdown table: medians with the range
// over the rounds.
func benchTable(spec benchSpec, rows []*benchRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d events per input mode, %d round(s): median (min–max)\n\n", spec.events, spec.rounds)
	b.WriteString("| input mode | guarantee | process | wall s | events/s | CPU µs/event | max RSS MB | ÷ bare (same round) | first commit s | changelog records/event |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		stat := func(f func(benchRun) float64, format string) string {
			vs := make([]float64, len(r.runs))
			for i, run := range r.runs {
				vs[i] = f(run)
			}
			return medianRange(vs, format)
		}
		ratio, first, changelog := "", "", ""
		if r.process != "bare consumer" {
			ratio = stat(func(x benchRun) float64 { return float64(spec.events) / x.wall.Seconds() / x.bareRate }, "%.2f")
			first = stat(func(x benchRun) float64 { return x.firstCommit.Seconds() }, "%.2f")
			changelog = stat(func(x benchRun) float64 { return float64(x.changelog) / float64(spec.events) }, "%.3f")
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.mode, r.guarantee, r.process,
			stat(func(x benchRun) float64 { return x.wall.Seconds() }, "%.2f"),
			stat(func(x benchRun) float64 { return float64(spec.events) / x.wall.Seconds() }, "%.0f"),
			stat(func(x benchRun) float64 { return float64(x.cpu.Microseconds()) / float64(spec.events) }, "%.2f"),
			stat(func(x benchRun) float64 { return float64(x.maxRSS) / (1 << 20) }, "%.0f"),
			ratio, first, changelog)
	}
	return b.String()
}

// medianRange formats the median of vs and, for more than one value, its
// range.
func medianRange(vs []float64, format string) string {
	s := slices.Clone(vs)
	slices.Sort(s)
	var m float64
	if n := len(s); n%2 == 1 {
		m = s[n/2]
	} else {
		m = (s[n/2-1] + s[n/2]) / 2
	}
	out := fmt.Sprintf(format, m)
	if len(s) > 1 {
		out += " (" + fmt.Sprintf(format, s[0]) + "–" + fmt.Sprintf(format, s[len(s)-1]) + ")"
	}
	return out
}
