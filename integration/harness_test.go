// Package integration runs the real interruptions binary, as a user runs it,
// against a real Kafka broker.
//
//	make kafka-up                        # prints 127.0.0.1:PORT
//	export KAFKA_BROKERS=127.0.0.1:PORT
//	go test -count=1 ./integration/      # or: make test-integration
//
// The binary is INTERRUPTIONS_BIN, or built once by TestMain. Without
// KAFKA_BROKERS every test fails saying how to start a broker, except under
// go test -short, where they skip. Tests run one after the other: some stop
// and restart the shared broker through scripts/kafka.
//
// The harness (this file) gives each test its own topics and group, runs
// the binary's commands as subprocesses (killed in t.Cleanup; their output
// logged when the test fails, or always with INTEGRATION_LOGS=1), and reads
// topics back read_committed.
package integration

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/internal/testkit/records"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Set by TestMain.
var (
	// binPath is the interruptions binary under test.
	binPath string
	// binErr is why there is no binary, if building it failed.
	binErr error
	// repoRoot is the module root (the parent of integration/).
	repoRoot string
)

// howToStart says how to get a broker; every "no broker" failure ends with it.
const howToStart = "start a broker with `make kafka-up` (it prints 127.0.0.1:PORT), then " +
	"`export KAFKA_BROKERS=127.0.0.1:PORT` and run the tests again; or run everything with " +
	"`scripts/kafka run -- make test-integration`. Use `go test -short` to skip these tests"

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: repo root: %v\n", err)
		return 1
	}
	repoRoot = root
	if testing.Short() || os.Getenv("KAFKA_BROKERS") == "" {
		// Every test skips or fails before it needs the binary.
		return m.Run()
	}
	if bin := os.Getenv("INTERRUPTIONS_BIN"); bin != "" {
		if binPath, err = filepath.Abs(bin); err == nil {
			_, err = os.Stat(binPath)
		}
		if err != nil {
			binErr = fmt.Errorf("INTERRUPTIONS_BIN=%s: %w", bin, err)
		}
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "interruptions-it-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: temp dir: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "interruptions")
	start := time.Now()
	build := exec.Command("go", "build", "-o", binPath, "./cmd/interruptions")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		binErr = fmt.Errorf("go build ./cmd/interruptions: %v\n%s", err, out)
	} else {
		fmt.Fprintf(os.Stderr, "integration: built %s in %s\n", binPath, time.Since(start).Round(time.Millisecond))
	}
	return m.Run()
}

// buildOnce builds the binary for tests that run without KAFKA_BROKERS
// (TestMain builds it only when a broker is configured).
var buildOnce sync.Once

// testBinary returns the interruptions binary under test: INTERRUPTIONS_BIN,
// the one TestMain built, or one built now.
func testBinary(t *testing.T) string {
	t.Helper()
	if binPath == "" && binErr == nil {
		buildOnce.Do(func() {
			dir, err := os.MkdirTemp("", "interruptions-it-")
			if err != nil {
				binErr = fmt.Errorf("temp dir: %w", err)
				return
			}
			bin := filepath.Join(dir, "interruptions")
			build := exec.Command("go", "build", "-o", bin, "./cmd/interruptions")
			build.Dir = repoRoot
			if out, err := build.CombinedOutput(); err != nil {
				binErr = fmt.Errorf("go build ./cmd/interruptions: %v\n%s", err, out)
				return
			}
			binPath = bin
		})
	}
	if binErr != nil {
		t.Fatalf("no interruptions binary: %v", binErr)
	}
	return binPath
}

// brokerList is KAFKA_BROKERS split on commas.
func brokerList() []string {
	var out []string
	for _, b := range strings.Split(os.Getenv("KAFKA_BROKERS"), ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// testTimeout bounds each test's waits; the suite must stay far below it.
const testTimeout = 2 * time.Minute

// harness is one test's view of the broker: its own topics and group, an
// admin client, and the subprocesses it started.
type harness struct {
	t       *testing.T
	ctx     context.Context
	brokers []string
	cl      *kgo.Client
	adm     *kadm.Client

	// Unique per test: input, output, dead-letter topics, consumer group.
	Input, Output, DLQ, Group string
}

// setup fails the test when no broker is configured or answering (skips
// under -short) and returns a harness with unique names. Topics are not
// created: see createTopic.
func setup(t *testing.T) *harness {
	t.Helper()
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
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	// kadm answers from the client's metadata cache for MetadataMinAge
	// (default 5s), "unknown topic" included: keep it short, as the tests
	// watch topics the processor creates.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	t.Cleanup(cl.Close)
	h := &harness{t: t, ctx: ctx, brokers: brokers, cl: cl, adm: kadm.NewClient(cl)}
	pctx, pcancel := context.WithTimeout(ctx, 15*time.Second)
	defer pcancel()
	if _, err := h.adm.BrokerMetadata(pctx); err != nil {
		t.Fatalf("the broker at KAFKA_BROKERS=%s does not answer: %v\n%s", os.Getenv("KAFKA_BROKERS"), err, howToStart)
	}
	base := "it-" + sanitize(t.Name()) + "-" + fmt.Sprint(rand.IntN(1_000_000_000))
	h.Input, h.Output, h.DLQ, h.Group = base+"-in", base+"-out", base+"-dlq", base
	t.Cleanup(h.deleteTopics)
	return h
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// sanitize turns a test name into a valid part of a topic name.
func sanitize(s string) string {
	s = unsafeChars.ReplaceAllString(s, "-")
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

// Changelog is the state changelog topic of the test's group.
func (h *harness) Changelog() string { return h.Group + "-state-changelog" }

// deleteTopics removes the test's topics, best effort, to keep the broker
// light for the tests after it.
func (h *harness) deleteTopics() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = h.adm.DeleteTopics(ctx, h.Input, h.Output, h.DLQ, h.Changelog())
}

// createTopic creates a topic with n partitions (replication factor 1).
func (h *harness) createTopic(topic string, n int32) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	if err := testkit.CreateTopics(ctx, h.adm, n, nil, topic); err != nil {
		h.t.Fatal(err)
	}
}

// ---------------------------------------------------------------- subprocesses

// syncBuffer is a bytes.Buffer safe for a subprocess writer and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running interruptions subprocess.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's error, set before done closes
}

// command returns an exec.Cmd of the binary that dies with the test process.
// Its environment has no INTERRUPTIONS_* settings from the caller's (tests
// pass what they mean as flags), and the metrics endpoint on a free port, so
// processors never compete for the default one.
func command(args ...string) *exec.Cmd {
	cmd := exec.Command(binPath, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INTERRUPTIONS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "INTERRUPTIONS_METRICS_ADDR=127.0.0.1:0")
	// If the test binary dies (a -timeout panic skips t.Cleanup), the
	// kernel kills the subprocess too: no orphans.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// start runs `interruptions ARGS...` in the background; see startProc.
func (h *harness) start(name string, args ...string) *proc {
	h.t.Helper()
	return startProc(h.t, name, args...)
}

// startProc runs `interruptions ARGS...` in the background. It is killed in
// t.Cleanup if still running; its output is logged if the test failed.
func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startBin(t, binPath, name, args...)
}

// startBin is startProc with bin, the binary under test or another build
// (a before/after comparison).
func startBin(t *testing.T, bin, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, cmd: command(args...), done: make(chan struct{})}
	p.cmd.Path, p.cmd.Args[0] = bin, bin
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() || os.Getenv("INTEGRATION_LOGS") != "" {
			t.Logf("%s: interruptions %s\nexit: %v\n--- stdout\n%s--- stderr\n%s", name,
				strings.Join(args, " "), p.err, tail(p.stdout.String()), tail(p.stderr.String()))
		}
	})
	return p
}

// tail keeps the end of a long log.
func tail(s string) string {
	const max = 64 << 10
	if len(s) > max {
		return "[...]\n" + s[len(s)-max:]
	}
	return s
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitCode is the exit code once exited; -1 when killed by a signal.
func (p *proc) exitCode() int { return p.cmd.ProcessState.ExitCode() }

// wait waits up to d for the process to exit by itself and returns its exit
// code; it fails the test if the process is still running.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.exitCode()
	case <-time.After(d):
		p.t.Fatalf("%s still running after %s", p.name, d)
		return -1
	}
}

// stop sends SIGTERM and waits up to d for the exit; it returns the exit
// code and how long the process took to stop.
func (p *proc) stop(d time.Duration) (int, time.Duration) {
	p.t.Helper()
	if p.exited() {
		p.t.Fatalf("%s exited before it was stopped: %v", p.name, p.err)
	}
	return p.interrupt(syscall.SIGTERM, d)
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%v %s: %v", sig, p.name, err)
	}
}

// interrupt sends sig and waits up to d for the exit; it returns the exit
// code (-1 when killed by a signal) and how long the exit took.
func (p *proc) interrupt(sig syscall.Signal, d time.Duration) (int, time.Duration) {
	p.t.Helper()
	start := time.Now()
	p.signal(sig)
	select {
	case <-p.done:
		return p.exitCode(), time.Since(start)
	case <-time.After(d):
		p.t.Fatalf("%s still running %s after %v", p.name, d, sig)
		return -1, 0
	}
}

// stopClean stops a processor and fails the test unless it exits 0 within
// stopBound.
func (p *proc) stopClean() {
	p.t.Helper()
	code, took := p.stop(stopBound)
	if code != 0 {
		p.t.Fatalf("%s exited %d after SIGTERM (took %s), want 0", p.name, code, took)
	}
	if !strings.Contains(p.stderr.String(), "processor stopped cleanly") {
		p.t.Errorf("%s exited 0 after SIGTERM without logging a clean stop", p.name)
	}
}

// stopBound is how long a processor may take to finish its batch, commit
// and leave the group after SIGTERM.
const stopBound = 20 * time.Second

// runArgs are the arguments of `interruptions run` on the test's topics and
// group, followed by extra. The idle clock is off: outputs are compared
// with replay, which has no wall clock, and a partition idle for a minute
// (kills, restarts) would otherwise advance its clock with wall time
// (extra may turn it on again).
func (h *harness) runArgs(extra ...string) []string {
	args := []string{"run",
		"--brokers", strings.Join(h.brokers, ","),
		"--input-topic", h.Input, "--output-topic", h.Output, "--dlq-topic", h.DLQ,
		"--group", h.Group, "--idle-timeout", "0"}
	return append(args, extra...)
}

// startRun starts `interruptions run` on the test's topics and group.
func (h *harness) startRun(name string, extra ...string) *proc {
	h.t.Helper()
	return h.start(name, h.runArgs(extra...)...)
}

// cli runs `interruptions ARGS...` to completion with stdin and returns its
// stdout, stderr and exit code. It fails the test if the command does not
// end before the test's deadline.
func (h *harness) cli(stdin []byte, args ...string) (stdout []byte, stderr string, code int) {
	h.t.Helper()
	return h.cliEnv(nil, stdin, args...)
}

// cliEnv is cli with extra environment variables (NAME=value).
func (h *harness) cliEnv(env []string, stdin []byte, args ...string) (stdout []byte, stderr string, code int) {
	h.t.Helper()
	cmd := command(args...)
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		h.t.Fatalf("start interruptions %s: %v", args[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-h.ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		h.t.Fatalf("interruptions %s did not end: %v\nstderr:\n%s", strings.Join(args, " "), h.ctx.Err(), tail(errb.String()))
	}
	return out.Bytes(), errb.String(), cmd.ProcessState.ExitCode()
}

// mustCLI is cli that fails the test on a non-zero exit.
func (h *harness) mustCLI(stdin []byte, args ...string) []byte {
	h.t.Helper()
	out, stderr, code := h.cli(stdin, args...)
	if code != 0 {
		h.t.Fatalf("interruptions %s: exit %d\nstderr:\n%s", strings.Join(args, " "), code, tail(stderr))
	}
	return out
}

// ---------------------------------------------------------------- expectations

// genNDJSON returns `interruptions gen --events n --seed seed`: the same
// events `gen --brokers` produces with that seed.
func (h *harness) genNDJSON(n int, seed int64) []byte {
	h.t.Helper()
	return h.mustCLI(nil, "gen", "--events", fmt.Sprint(n), "--seed", fmt.Sprint(seed))
}

// produceGen runs `interruptions gen --brokers` into the input topic and
// waits for it to end.
func (h *harness) produceGen(n int, seed int64, mode string) {
	h.t.Helper()
	h.mustCLI(nil, "gen", "--brokers", strings.Join(h.brokers, ","), "--topic", h.Input,
		"--events", fmt.Sprint(n), "--seed", fmt.Sprint(seed), "--mode", mode)
}

// startGenStream starts `interruptions gen --brokers --events 0` into the
// input topic: structured events at rate per second until stopped with
// stopGen. Tests that stop or restart things mid-stream use it, so the
// stream outlasts whatever they do however slow the machine is, and they
// compute the expected output from what the input topic holds at the end
// (expectedFromInput).
func (h *harness) startGenStream(seed int64, rate int) *proc {
	h.t.Helper()
	return h.start("gen", "gen", "--brokers", strings.Join(h.brokers, ","), "--topic", h.Input,
		"--events", "0", "--seed", fmt.Sprint(seed), "--mode", "structured", "--rate", fmt.Sprint(rate))
}

// stopGen stops a generator with SIGTERM: it must flush what it produced
// and exit 0.
func (h *harness) stopGen(gen *proc) {
	h.t.Helper()
	if code, took := gen.stop(stopBound); code != 0 {
		h.t.Fatalf("gen exited %d after SIGTERM (took %s), want 0", code, took)
	}
}

// expectedFromInput returns what `run` must produce from the input topic as
// it is: its structured events, each partition in offset order, through
// `interruptions replay --partitions` (which keeps one state and stream time
// per partition, as run does).
func (h *harness) expectedFromInput(partitions, min int) testkit.Records {
	h.t.Helper()
	in := h.readTopic(h.Input)
	ndjson := inputNDJSON(h.t, in)
	h.t.Logf("input: %d events", len(in))
	return h.replay(ndjson, partitions, min)
}

// inputNDJSON returns input records as the NDJSON replay reads: each
// partition in offset order, one structured event a line. A record that
// is not one structured event fails the test.
func inputNDJSON(t *testing.T, in []*kgo.Record) []byte {
	t.Helper()
	in = slices.Clone(in)
	sort.SliceStable(in, func(i, j int) bool {
		if in[i].Partition != in[j].Partition {
			return in[i].Partition < in[j].Partition
		}
		return in[i].Offset < in[j].Offset
	})
	var ndjson bytes.Buffer
	for _, r := range in {
		if records.Mode(r) != codec.Structured || bytes.ContainsAny(r.Value, "\n") {
			t.Fatalf("input record %d@%d is not one structured event", r.Partition, r.Offset)
		}
		ndjson.Write(r.Value)
		ndjson.WriteByte('\n')
	}
	return ndjson.Bytes()
}

// replay returns what `run` must produce from the NDJSON events on an
// input topic with partitions partitions: `interruptions replay
// --partitions P`. It fails the test if there are fewer than min records
// or an id twice.
func (h *harness) replay(ndjson []byte, partitions, min int) testkit.Records {
	h.t.Helper()
	out := h.mustCLI(ndjson, "replay", "--partitions", fmt.Sprint(partitions))
	want, err := records.ParseNDJSON(out)
	if err != nil {
		h.t.Fatalf("replay output: %v", err)
	}
	if want.Distinct() != want.Len() {
		h.t.Fatalf("replay gave %d records with %d ids: an id twice", want.Len(), want.Distinct())
	}
	if want.Len() < min {
		h.t.Fatalf("replay gave %d records, want at least %d: the test input is too small", want.Len(), min)
	}
	return want
}

// ---------------------------------------------------------------- reading Kafka

// waitFor polls cond every interval until it returns true, the test's
// deadline passes, or one of the watched processes exits.
func (h *harness) waitFor(what string, interval time.Duration, watch []*proc, cond func() (bool, error)) {
	h.t.Helper()
	if err := h.poll(h.ctx, interval, watch, cond); err != nil {
		h.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// waitUpTo is waitFor with its own bound d: it reports false when d passes
// first instead of failing the test.
func (h *harness) waitUpTo(d time.Duration, what string, interval time.Duration, watch []*proc, cond func() (bool, error)) bool {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, d)
	defer cancel()
	err := h.poll(ctx, interval, watch, cond)
	if err != nil && (h.ctx.Err() != nil || ctx.Err() == nil) {
		h.t.Fatalf("waiting for %s: %v", what, err)
	}
	return err == nil
}

// poll calls cond every interval until it returns true (nil), ctx ends or a
// watched process exits (an error).
func (h *harness) poll(ctx context.Context, interval time.Duration, watch []*proc, cond func() (bool, error)) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		for _, p := range watch {
			if p.exited() {
				return fmt.Errorf("%s exited: %v", p.name, p.err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
		case <-tick.C:
		}
	}
}

// waitCaughtUp waits until the group has committed the input topic to its
// end on every partition, failing if a watched process exits first.
// Producers must be done.
func (h *harness) waitCaughtUp(watch ...*proc) {
	h.t.Helper()
	err := testkit.WaitCommitted(h.ctx, h.adm, h.Group, h.Input, 200*time.Millisecond, func() error {
		for _, p := range watch {
			if p.exited() {
				return fmt.Errorf("%s exited: %v", p.name, p.err)
			}
		}
		return nil
	})
	if err != nil {
		h.t.Fatalf("waiting for the processor to commit the whole input: %v", err)
	}
}

// committedCount is the number of input records the group has committed
// (0 while the offsets cannot be fetched).
func (h *harness) committedCount() int64 {
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	n, _ := testkit.Committed(ctx, h.adm, h.Group, h.Input)
	return n
}

// stableCount is the number of offsets below the last stable offset of every
// partition of topic: committed records and transaction markers.
func (h *harness) stableCount(topic string) int64 {
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	ends, err := h.adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return 0
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			n += o.Offset
		}
	})
	return n
}

// readTopic reads topic read_committed from its start to its high
// watermark as it is when called (committed records only, markers left
// out; a transaction still open is waited for).
func (h *harness) readTopic(topic string) []*kgo.Record {
	h.t.Helper()
	recs, err := testkit.ReadAll(h.ctx, h.adm, []kgo.Opt{kgo.SeedBrokers(h.brokers...)}, topic)
	if err != nil {
		h.t.Fatal(err)
	}
	return recs
}

// ---------------------------------------------------------------- comparing

// checkExactlyOnce reads the whole output and fails unless it is want,
// every record once.
func (h *harness) checkExactlyOnce(want testkit.Records, mode codec.Mode) {
	h.t.Helper()
	recs := h.readTopic(h.Output)
	got := records.DecodeOutput(h.t, recs, mode)
	testkit.SameRecords(h.t, want, got)
	h.t.Logf("output: %d records, %d distinct; replay computed %d", got.Len(), got.Distinct(), want.Len())
}

// checkAtLeastOnce reads the whole output and fails unless every record of
// want is there; repeats must be identical.
func (h *harness) checkAtLeastOnce(want testkit.Records, mode codec.Mode) {
	h.t.Helper()
	recs := h.readTopic(h.Output)
	got := records.DecodeOutput(h.t, recs, mode)
	repeats := testkit.CoversRecords(h.t, want, got)
	h.t.Logf("output: %d records, %d distinct, %d repeats (allowed at-least-once); replay computed %d", got.Len(), got.Distinct(), repeats, want.Len())
}

// ---------------------------------------------------------------- the broker

// kafkaScript runs scripts/kafka ARGS on the broker of KAFKA_BROKERS and
// returns its last stdout line (the address, for up/start/restart/status).
// KAFKA_PORT is the port of the first address, so that start and restart
// bring the broker back where the tests look for it.
func kafkaScript(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot, "scripts", "kafka"), args...)
	cmd.Dir = repoRoot
	cmd.Env = os.Environ()
	if brokers := brokerList(); len(brokers) > 0 {
		if _, port, err := net.SplitHostPort(brokers[0]); err == nil {
			cmd.Env = append(cmd.Env, "KAFKA_PORT="+port)
		}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if err != nil {
		return last, fmt.Errorf("scripts/kafka %s: %w\n%s", strings.Join(args, " "), err, errb.String())
	}
	return last, nil
}

// statusTries is how often checkScriptBroker asks scripts/kafka status
// before it gives up: the check starts a JVM, which a busy machine can
// make slower than the script's own 20 s bound.
const statusTries = 4

// checkScriptBroker returns nil when KAFKA_BROKERS is the broker that
// scripts/kafka runs and it answers. A failing status check is tried
// again, statusTries times in all, 3 s apart; a broker that answers at
// another address is not.
func checkScriptBroker(ctx context.Context) error {
	var err error
	for try := 1; try <= statusTries; try++ {
		var addr string
		if addr, err = kafkaScript(ctx, "status"); err == nil {
			if !slices.Contains(brokerList(), addr) {
				return fmt.Errorf("KAFKA_BROKERS=%s is not the broker scripts/kafka runs (%s)", os.Getenv("KAFKA_BROKERS"), addr)
			}
			return nil
		}
		if try == statusTries {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (after %d status checks; the last: %v)", ctx.Err(), try, err)
		case <-time.After(3 * time.Second):
		}
	}
	return fmt.Errorf("%d status checks failed; the last: %w", statusTries, err)
}

// requireScriptBroker fails the test unless KAFKA_BROKERS is the broker
// scripts/kafka manages (the tests that stop and restart it need that; a
// skip would let the suite pass without them), and makes sure the broker
// is up again when the test ends, also on failure.
func (h *harness) requireScriptBroker() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	start := time.Now()
	err := checkScriptBroker(ctx)
	h.extend(time.Since(start)) // the JVM's start is not the test's time
	if err != nil {
		h.t.Fatalf("this test stops and restarts the broker, which must be the one scripts/kafka runs "+
			"(`scripts/kafka run -- make test-integration` sets that up): %v", err)
	}
	h.t.Cleanup(func() { ensureBroker(h.t) })
}

// ensureBroker starts the scripts/kafka broker again unless it answers.
func ensureBroker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := kafkaScript(ctx, "status"); err == nil {
		return
	}
	t.Logf("the broker is down after the test: starting it again")
	if _, err := kafkaScript(ctx, "start"); err != nil {
		t.Errorf("restart the broker for the next tests: %v", err)
	}
}

// scriptBound bounds one scripts/kafka stop, start or restart: the
// script's own bounds (30 s to stop, 90 s to be ready) and a margin.
const scriptBound = 3 * time.Minute

// kafkaCtl runs scripts/kafka CMD (stop, start, restart), logs how long it
// took, and moves the test's deadline that much later: the time the broker
// takes to stop and start (long on a busy machine) is not the processor's.
func (h *harness) kafkaCtl(cmd string) time.Duration {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scriptBound)
	defer cancel()
	start := time.Now()
	if _, err := kafkaScript(ctx, cmd); err != nil {
		h.t.Fatal(err)
	}
	took := time.Since(start)
	h.t.Logf("scripts/kafka %s: %s", cmd, took.Round(time.Millisecond))
	h.extend(took)
	return took
}

// extend moves the test's deadline d later.
func (h *harness) extend(d time.Duration) {
	if deadline, ok := h.ctx.Deadline(); ok {
		later, cancel := context.WithDeadline(context.Background(), deadline.Add(d))
		h.t.Cleanup(cancel)
		h.ctx = later
	}
}

// must fails the test on err.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
