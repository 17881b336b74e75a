package integration

// The chaos test: three `interruptions run` processes share one input topic
// while the input is produced; every 2-4 s one of them is SIGKILLed and
// started again (and, in the exactly-once test, the broker restarts once).
// At the end the committed output must be what `replay` computes from the
// same input:
//
//	exactly-once   the same multiset of (id, data): nothing missing, nothing
//	               extra, nothing twice;
//	at-least-once  every expected record, repeats only as identical copies.
//
// The default is the short version CI runs; CHAOS_FULL=1 runs the full one
// (200,000 events). CHAOS_SEED fixes the seed of the events and the kill
// schedule (default: the clock; the seed is logged). CHAOS_LOG_DIR keeps
// the processes' logs in that directory (default: a temporary one, whose
// tails are printed when the test fails); CHAOS_LOG_LEVEL sets the
// processors' --log-level (default info).

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/internal/testkit/records"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// chaosPartitions of the input topic (and of every topic of the test).
	chaosPartitions = 6
	// chaosInstances is the number of `interruptions run` processes.
	chaosInstances = 3
)

// chaosEngineFlags are given to run and replay alike. Short bounds make
// expiry, dropped held closes and state deletion happen within the
// generated hours of traffic, so deadlines are exercised across restarts.
var chaosEngineFlags = []string{"--max-interruption", "5m", "--retention", "10m"}

// chaosSize is how big a run is.
type chaosSize struct {
	name     string
	events   int
	rate     int // events per second the producer sends
	minKills int
	// killMidway: one more kill while the group catches up after the
	// chaos, in big batches (see chaosWaitCommitted).
	killMidway bool
	// catchUp bounds the wait for the group to commit the whole input
	// once the chaos is over.
	catchUp time.Duration
	// budget bounds the whole test.
	budget time.Duration
}

func chaosSizeFromEnv() chaosSize {
	if os.Getenv("CHAOS_FULL") == "1" {
		return chaosSize{name: "full", events: 200_000, rate: 4000, minKills: 6, killMidway: true,
			catchUp: 4 * time.Minute, budget: 9 * time.Minute}
	}
	return chaosSize{name: "short", events: 25_000, rate: 2500, minKills: 3,
		catchUp: 3 * time.Minute, budget: 5 * time.Minute}
}

// chaosOptions distinguish the two tests.
type chaosOptions struct {
	guarantee     string // exactly-once or at-least-once
	inputMode     string // content mode of the produced input
	brokerRestart bool
}

func TestChaosExactlyOnce(t *testing.T) {
	chaosRun(t, chaosOptions{guarantee: "exactly-once", inputMode: "binary", brokerRestart: true})
}

func TestChaosAtLeastOnce(t *testing.T) {
	chaosRun(t, chaosOptions{guarantee: "at-least-once", inputMode: "structured"})
}

// chaosRun is one chaos test.
func chaosRun(t *testing.T, opts chaosOptions) {
	if testing.Short() {
		t.Skip("chaos test: needs a Kafka broker (skipped with -short)")
	}
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers == "" {
		t.Fatal("KAFKA_BROKERS is not set: start a broker with `scripts/kafka up` (it prints 127.0.0.1:PORT), " +
			"`export KAFKA_BROKERS=127.0.0.1:PORT` and run the test again, or run " +
			"`scripts/kafka run -- go test -run TestChaos ./integration/`; `go test -short` skips it")
	}
	size := chaosSizeFromEnv()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: %v", s, err)
		}
		seed = v
	}
	eventSeed := int64(seed % (1 << 62))
	t.Logf("chaos %s (%s): %d events at %d/s, %d instances, %d partitions, seed %d (CHAOS_SEED to repeat)",
		opts.guarantee, size.name, size.events, size.rate, chaosInstances, chaosPartitions, seed)

	deadline := time.Now().Add(size.budget)
	if d, ok := t.Deadline(); ok && d.Add(-20*time.Second).Before(deadline) {
		deadline = d.Add(-20 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	began := time.Now()
	dir := t.TempDir()
	bin := testBinary(t)
	logDir := dir
	if d := os.Getenv("CHAOS_LOG_DIR"); d != "" {
		logDir = filepath.Join(d, t.Name())
		if err := os.MkdirAll(logDir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Logf("chaos: logs in %s", logDir)
	}
	logLevel := cmp.Or(os.Getenv("CHAOS_LOG_LEVEL"), "info")
	seeds := brokerList()

	// The broker restart needs the broker scripts/kafka runs: without it
	// the test fails rather than pass without its restart.
	if opts.brokerRestart {
		if err := checkScriptBroker(ctx); err != nil {
			t.Fatalf("chaos: the broker restart needs the broker scripts/kafka runs "+
				"(`scripts/kafka run -- go test -run TestChaos ./integration/` sets that up): %v", err)
		}
		t.Cleanup(func() { ensureBroker(t) })
	}

	// Names of this run.
	short := map[string]string{"exactly-once": "eos", "at-least-once": "alo"}[opts.guarantee]
	runID := fmt.Sprintf("chaos-%s-%d", short, time.Now().UnixNano()%1_000_000_000)
	input, output, dlq, group := runID+"-input", runID+"-output", runID+"-dlq", runID
	changelog := group + "-state-changelog"

	adminCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	t.Cleanup(adminCl.Close)
	adm := kadm.NewClient(adminCl)
	if err := testkit.CreateTopics(ctx, adm, chaosPartitions, nil, input, output, dlq); err != nil {
		t.Fatalf("%v (is the broker at KAFKA_BROKERS=%s up?)", err, brokers)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos: topics kept for inspection: %s, %s, %s, %s", input, output, dlq, changelog)
			return
		}
		dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer dcancel()
		adm.DeleteTopics(dctx, input, output, dlq, changelog)
	})

	// The input as NDJSON, and what replay makes of it.
	inFile := filepath.Join(dir, "input.ndjson")
	wantFile := filepath.Join(dir, "expected.ndjson")
	wantDLQFile := filepath.Join(dir, "expected-dlq.ndjson")
	chaosCLI(t, ctx, bin, inFile, "gen", "--events", strconv.Itoa(size.events), "--seed", strconv.FormatInt(eventSeed, 10))
	replayArgs := append([]string{"replay", "--partitions", strconv.Itoa(chaosPartitions),
		"--input", inFile, "--output", wantFile, "--dlq", wantDLQFile}, chaosEngineFlags...)
	chaosCLI(t, ctx, bin, "", replayArgs...)
	want, perPartition := chaosExpected(t, inFile, wantFile)
	t.Logf("chaos: replay expects %d records", want.Len())

	// The processors.
	cluster := &chaosCluster{t: t, bin: bin, dir: logDir, began: began, procs: make([]*chaosProc, chaosInstances)}
	cluster.args = func(slot int) []string {
		return append([]string{"run",
			"--brokers", brokers,
			"--input-topic", input, "--output-topic", output, "--dlq-topic", dlq,
			"--group", group,
			"--guarantee", opts.guarantee,
			// Stable per slot: a restarted instance fences its predecessor.
			"--transactional-id", fmt.Sprintf("%s-%d", runID, slot),
			"--commit-interval", "100ms",
			// Compared with replay, which has no wall clock: no idle advance.
			"--idle-timeout", "0",
			"--partitions", strconv.Itoa(chaosPartitions), "--replication-factor", "1",
			"--log-level", logLevel,
			// Three instances on one host: each its own metrics port.
			"--metrics-addr", "127.0.0.1:0",
		}, chaosEngineFlags...)
	}
	t.Cleanup(cluster.dumpOnFailure)
	t.Cleanup(cluster.killAll)
	for slot := range chaosInstances {
		cluster.start(slot)
	}

	// The producer, while the processors run.
	genLog := filepath.Join(logDir, "gen.log")
	gen := chaosStart(t, bin, genLog, "gen", "--brokers", brokers, "--topic", input,
		"--events", strconv.Itoa(size.events), "--seed", strconv.FormatInt(eventSeed, 10),
		"--mode", opts.inputMode, "--rate", strconv.Itoa(size.rate))
	cluster.extraLogs = append(cluster.extraLogs, genLog)
	genDone := make(chan error, 1)
	go func() { genDone <- gen.Wait() }()
	t.Cleanup(func() {
		if gen.ProcessState == nil {
			gen.Process.Kill()
			<-genDone
		}
	})

	// The chaos: a kill every 2-4 s while the input is produced (and until
	// minKills), the broker restart in place of the kill at about the
	// middle of production.
	rng := rand.New(rand.NewPCG(seed, 0xc4a05))
	productionTicks := max(2, size.events/size.rate/3)
	brokerTick := productionTicks / 2
	var (
		kills, brokerRestarts int
		producing             = true
		genErr                error
	)
	brokerRestartDue := func() bool { return opts.brokerRestart && brokerRestarts == 0 }
	for tick := 0; producing || kills < size.minKills || brokerRestartDue(); tick++ {
		timer := time.NewTimer(2*time.Second + time.Duration(rng.Int64N(int64(2*time.Second))))
		for waiting := true; waiting; {
			select {
			case <-timer.C:
				waiting = false
			case genErr = <-genDone:
				producing = false
				t.Logf("chaos: +%s producer done (err %v)", cluster.since(), genErr)
			case <-ctx.Done():
				t.Fatalf("chaos: out of time during the chaos (kills %d): %v", kills, ctx.Err())
			}
		}
		cluster.revive()
		if brokerRestartDue() && tick >= brokerTick {
			t.Logf("chaos: +%s broker restart", cluster.since())
			restartedAt := time.Now()
			_, err := kafkaScript(ctx, "restart")
			took := time.Since(restartedAt)
			if err != nil {
				t.Fatalf("chaos: broker restart: %v", err)
			}
			brokerRestarts++
			t.Logf("chaos: +%s broker back after %s", cluster.since(), took.Round(time.Millisecond))
			continue
		}
		slot := rng.IntN(chaosInstances)
		cluster.kill(slot)
		kills++
	}
	if producing {
		select {
		case genErr = <-genDone:
		case <-ctx.Done():
			t.Fatalf("chaos: producer not done: %v", ctx.Err())
		}
	}
	if genErr != nil {
		t.Fatalf("chaos: producer failed: %v\n%s", genErr, chaosTail(genLog, 20))
	}

	// The input must be what replay read: every event once, on the
	// partition its key hashes to.
	ends, err := adm.ListEndOffsets(ctx, input)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", input, err)
	}
	for p := range int32(chaosPartitions) {
		o, _ := ends.Lookup(input, p)
		if o.Err != nil || o.Offset != perPartition[p] {
			t.Errorf("input %s[%d]: %d records (%v), replay assumed %d", input, p, o.Offset, o.Err, perPartition[p])
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Wait until the group committed the whole input.
	catchUpCtx, catchUpCancel := context.WithTimeout(ctx, size.catchUp)
	defer catchUpCancel()
	if chaosWaitCommitted(t, catchUpCtx, adm, cluster, group, input, size.killMidway, rng) {
		kills++
	}
	t.Logf("chaos: +%s group %s committed the whole input", cluster.since(), group)
	cluster.stopAll()

	// Read the committed output and dead letters.
	outRecs := chaosReadAll(t, ctx, seeds, adm, output)
	dlqRecs := chaosReadAll(t, ctx, seeds, adm, dlq)
	got := records.DecodeOutput(t, outRecs, codec.Binary)
	// The input has no malformed events; what is too late for the
	// retention (vccgen delivers some events hours late) goes to the DLQ
	// exactly as replay sends it there.
	chaosCompareDeadLetters(t, wantDLQFile, dlqRecs, opts.guarantee == "exactly-once")

	var duplicates int
	if opts.guarantee == "exactly-once" {
		testkit.SameRecords(t, want, got)
	} else {
		duplicates = testkit.CoversRecords(t, want, got)
	}
	result := "PASS"
	if t.Failed() {
		result = "FAIL"
	}
	t.Logf("chaos %s (%s) %s: events %d, kills %d, restarts %d, unexpected exits %d, broker restarts %d, "+
		"expected records %d, output records %d, duplicates %d, dead letters %d, took %s",
		opts.guarantee, size.name, result, size.events, kills, cluster.restarts, len(cluster.unexpected),
		brokerRestarts, want.Len(), len(outRecs), duplicates, len(dlqRecs), cluster.since())
	for _, u := range cluster.unexpected {
		t.Errorf("chaos: a processor exited on its own: %s", u)
	}
}

// chaosCLI runs one command of the binary to completion, its stdout going
// to the file stdout (when not empty).
func chaosCLI(t *testing.T, ctx context.Context, bin, stdout string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if stdout != "" {
		f, err := os.Create(stdout)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.Stdout = f
	}
	if err := cmd.Run(); err != nil {
		t.Fatalf("interruptions %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
}

// chaosStart starts a command of the binary with stdout and stderr
// appended to logFile.
func chaosStart(t *testing.T, bin, logFile string, args ...string) *exec.Cmd {
	t.Helper()
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "===== %s interruptions %s\n", time.Now().Format("15:04:05.000"), strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start interruptions %s: %v", args[0], err)
	}
	// The child has its own copy of the descriptor.
	f.Close()
	return cmd
}

// chaosExpected reads replay's output, and counts the input events per
// partition as a producer keying by subject puts them.
func chaosExpected(t *testing.T, inFile, wantFile string) (testkit.Records, map[int32]int64) {
	t.Helper()
	b, err := os.ReadFile(wantFile)
	if err != nil {
		t.Fatal(err)
	}
	want, err := records.ParseNDJSON(b)
	if err != nil {
		t.Fatalf("replay output: %v", err)
	}
	perPartition := make(map[int32]int64)
	chaosLines(t, inFile, func(line []byte) {
		ev, err := cekafka.Decode(line, nil)
		if err != nil {
			t.Fatalf("generated input: %v", err)
		}
		key := ev.ChannelID
		if key == "" {
			key = ev.Subject
		}
		perPartition[int32(codec.KeyPartition([]byte(key), chaosPartitions))]++
	})
	return want, perPartition
}

func chaosLines(t *testing.T, file string, fn func([]byte)) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			fn(sc.Bytes())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
}

// chaosWaitCommitted waits until the group's committed offsets reach the
// input's end offsets, restarting processors that exit on their own. With
// killMidway, once the group has caught up a fifth of what it lagged when
// the wait began (it processes big batches then), it SIGKILLs an instance
// (with rng) and restarts it; it reports whether it did.
func chaosWaitCommitted(t *testing.T, ctx context.Context, adm *kadm.Client, cluster *chaosCluster, group, input string,
	killMidway bool, rng *rand.Rand) (killed bool) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lag, startLag int64 = -1, -1
	lastLog := time.Now()
	for {
		cluster.revive()
		l, err := testkit.Lag(ctx, adm, group, input)
		if err == nil {
			lag = l
			if lag == 0 {
				if killMidway && !killed {
					t.Logf("chaos: +%s no kill during the catch-up: it was over between two looks", cluster.since())
				}
				return killed
			}
			if startLag < 0 {
				startLag = lag
			}
			if killMidway && !killed && lag < startLag*4/5 {
				t.Logf("chaos: +%s catching up, %d of %d records left: one more kill", cluster.since(), lag, startLag)
				cluster.kill(rng.IntN(chaosInstances))
				killed = true
			}
		}
		if time.Since(lastLog) > 10*time.Second {
			t.Logf("chaos: +%s waiting for the group: %d input records not committed (err %v)", cluster.since(), lag, err)
			lastLog = time.Now()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("chaos: the group did not commit the whole input in time: %d records behind (last error %v)", lag, err)
		}
	}
}

// chaosReadAll reads a whole topic read_committed, waiting for the
// transactions still open on it (of processes killed without a successor,
// they end by the transaction timeout at the latest).
func chaosReadAll(t *testing.T, ctx context.Context, brokers []string, adm *kadm.Client, topic string) []*kgo.Record {
	t.Helper()
	recs, err := testkit.ReadAll(ctx, adm, []kgo.Opt{kgo.SeedBrokers(brokers...)}, topic)
	if err != nil {
		t.Fatalf("chaos: %v", err)
	}
	return recs
}

// chaosCluster is the processors: one slot per instance.
type chaosCluster struct {
	t         *testing.T
	bin, dir  string
	args      func(slot int) []string
	began     time.Time
	extraLogs []string

	mu         sync.Mutex
	procs      []*chaosProc
	kills      int
	restarts   int
	unexpected []string
}

// chaosProc is one incarnation of an instance.
type chaosProc struct {
	slot    int
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{} // closed when the process ended
	err     error         // Wait's result, set before done closes
	// ending is set before the test kills or stops it.
	ending bool
}

func (c *chaosCluster) since() time.Duration {
	return time.Since(c.began).Round(100 * time.Millisecond)
}

func (c *chaosCluster) logFile(slot int) string {
	return filepath.Join(c.dir, fmt.Sprintf("run-%d.log", slot))
}

// start starts an instance in slot.
func (c *chaosCluster) start(slot int) *chaosProc {
	cmd := chaosStart(c.t, c.bin, c.logFile(slot), c.args(slot)...)
	p := &chaosProc{slot: slot, cmd: cmd, started: time.Now(), done: make(chan struct{})}
	c.mu.Lock()
	c.procs[slot] = p
	c.mu.Unlock()
	go func() {
		err := cmd.Wait()
		c.mu.Lock()
		p.err = err
		if !p.ending {
			c.unexpected = append(c.unexpected, fmt.Sprintf("instance %d (pid %d) at +%s: %v",
				slot, cmd.Process.Pid, c.since(), err))
		}
		c.mu.Unlock()
		close(p.done)
	}()
	return p
}

// kill SIGKILLs the instance in slot and starts a new one.
func (c *chaosCluster) kill(slot int) {
	c.mu.Lock()
	p := c.procs[slot]
	p.ending = true
	c.mu.Unlock()
	p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		c.t.Fatalf("chaos: instance %d (pid %d) still running 10s after SIGKILL", slot, p.cmd.Process.Pid)
	}
	n := c.start(slot)
	c.mu.Lock()
	c.kills++
	c.restarts++
	kills := c.kills
	c.mu.Unlock()
	c.t.Logf("chaos: +%s kill #%d: SIGKILL instance %d (pid %d, up %s), restarted as pid %d",
		c.since(), kills, slot, p.cmd.Process.Pid, time.Since(p.started).Round(100*time.Millisecond), n.cmd.Process.Pid)
}

// revive starts again every instance that exited on its own (recorded as
// unexpected: the test fails at its end).
func (c *chaosCluster) revive() {
	for slot := range c.procs {
		c.mu.Lock()
		p := c.procs[slot]
		c.mu.Unlock()
		select {
		case <-p.done:
		default:
			continue
		}
		c.mu.Lock()
		ending := p.ending
		p.ending = true
		c.mu.Unlock()
		if ending {
			continue
		}
		c.t.Logf("chaos: +%s instance %d (pid %d) exited on its own (%v); starting it again:\n%s",
			c.since(), slot, p.cmd.Process.Pid, p.err, chaosTail(c.logFile(slot), 10))
		c.mu.Lock()
		exits := len(c.unexpected)
		c.mu.Unlock()
		if exits > 5 {
			c.t.Fatalf("chaos: %d processors exited on their own; giving up", exits)
		}
		c.start(slot)
		c.mu.Lock()
		c.restarts++
		c.mu.Unlock()
	}
}

// stopAll stops every instance with SIGTERM; each must exit cleanly.
func (c *chaosCluster) stopAll() {
	c.mu.Lock()
	procs := slices.Clone(c.procs)
	for _, p := range procs {
		p.ending = true
	}
	c.mu.Unlock()
	for _, p := range procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		select {
		case <-p.done:
			if p.err != nil {
				c.t.Errorf("chaos: instance %d (pid %d) did not stop cleanly on SIGTERM: %v\n%s",
					p.slot, p.cmd.Process.Pid, p.err, chaosTail(c.logFile(p.slot), 10))
			}
		case <-time.After(60 * time.Second):
			p.cmd.Process.Kill()
			c.t.Errorf("chaos: instance %d (pid %d) still running 60s after SIGTERM", p.slot, p.cmd.Process.Pid)
		}
	}
}

// killAll kills whatever still runs (cleanup).
func (c *chaosCluster) killAll() {
	c.mu.Lock()
	procs := slices.Clone(c.procs)
	for _, p := range procs {
		if p != nil {
			p.ending = true
		}
	}
	c.mu.Unlock()
	for _, p := range procs {
		if p == nil {
			continue
		}
		p.cmd.Process.Kill()
		<-p.done
	}
}

// dumpOnFailure prints the end of every log when the test failed.
func (c *chaosCluster) dumpOnFailure() {
	if !c.t.Failed() {
		return
	}
	for slot := range c.procs {
		c.t.Logf("chaos: last lines of instance %d's log (%s):\n%s", slot, c.logFile(slot), chaosTail(c.logFile(slot), 40))
	}
	for _, f := range c.extraLogs {
		c.t.Logf("chaos: last lines of %s:\n%s", f, chaosTail(f, 20))
	}
}

// chaosTail returns the last n lines of a file.
func chaosTail(file string, n int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// chaosCompareDeadLetters compares the dead letters of the run (reason and
// event id from the record's headers) with replay's DLQ file: equal as
// multisets under exactly-once, as sets under at-least-once (a crash may
// repeat one).
func chaosCompareDeadLetters(t *testing.T, wantFile string, got []*kgo.Record, exact bool) {
	t.Helper()
	b, err := os.ReadFile(wantFile)
	if err != nil {
		t.Fatalf("chaos: replay dlq: %v", err)
	}
	want := map[string]int{}
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var dl struct {
			Reason   string `json:"reason"`
			Original string `json:"original"`
		}
		var ev struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(line, &dl); err != nil || json.Unmarshal([]byte(dl.Original), &ev) != nil {
			t.Fatalf("chaos: replay dlq line %q: %v", line, err)
		}
		want[dl.Reason+" "+ev.ID]++
	}
	have := map[string]int{}
	for _, r := range got {
		// The event id: a binary record's ce_id header, or a structured
		// record's id attribute (the DLQ keeps the input byte for byte).
		id := testkit.Header(r, "ce_id")
		if id == "" {
			var ev struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(r.Value, &ev)
			id = ev.ID
		}
		have[testkit.Header(r, "dlq-reason")+" "+id]++
	}
	for k, n := range want {
		if have[k] == 0 || (exact && have[k] != n) {
			t.Errorf("chaos: dead letter %s: %d in the run, %d from replay", k, have[k], n)
		}
	}
	for k, n := range have {
		if want[k] == 0 {
			t.Errorf("chaos: dead letter %s (%d) not sent by replay", k, n)
		}
	}
	t.Logf("chaos: %d dead letters, %d from replay", len(got), len(want))
}
