package integration

// Graceful shutdown of `interruptions run`, with real signals on the real
// binary:
//
//   - SIGTERM with a transaction in flight: exit 0 quickly, that transaction
//     committed (offsets at the input's end, every record out), the group
//     left (no members right after the exit);
//   - SIGINT, then SIGINT again while the first shutdown is stuck: the
//     process ends at once, killed by the signal.
//
// Self-contained (helpers prefixed shutdown, also used by metrics_test.go):
// the binary is INTERRUPTIONS_BIN or built here.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/internal/testkit/records"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// shutdownHowTo says how to get a broker.
const shutdownHowTo = "start one with `scripts/kafka up` (it prints 127.0.0.1:PORT last), " +
	"`export KAFKA_BROKERS=127.0.0.1:PORT`, and run the tests again (go test -short skips them)"

// shutdownBrokers returns KAFKA_BROKERS, failing the test (skipping it
// under -short) when it is not set or the broker does not answer.
func shutdownBrokers(t *testing.T) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs a Kafka broker (skipped with -short)")
	}
	brokers := brokerList()
	if len(brokers) == 0 {
		t.Fatalf("KAFKA_BROKERS is not set: %s", shutdownHowTo)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).BrokerMetadata(ctx); err != nil {
		t.Fatalf("the broker at KAFKA_BROKERS=%s does not answer: %v; %s", os.Getenv("KAFKA_BROKERS"), err, shutdownHowTo)
	}
	return brokers
}

// shutdownNames returns unique topic and group names for one test.
type shutdownNames struct{ Input, Output, DLQ, Group string }

func newShutdownNames(t *testing.T) shutdownNames {
	base := fmt.Sprintf("it-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), rand.IntN(1_000_000_000))
	return shutdownNames{base + "-in", base + "-out", base + "-dlq", base}
}

// clients returns a client and an admin client for the test's brokers.
// When the test ends its topics are deleted, then the client closes (in
// that order: a deferred Close would run before the cleanup).
func (n shutdownNames) clients(t *testing.T, brokers []string) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	t.Cleanup(func() {
		defer cl.Close()
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		_, _ = adm.DeleteTopics(dctx, n.Input, n.Output, n.DLQ, n.Group+"-state-changelog")
	})
	return cl, adm
}

// shutdownFreePort returns a loopback address with a port free right now.
func shutdownFreePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// shutdownGet GETs http://addr/path and returns the status and body; status
// 0 when the endpoint does not answer.
func shutdownGet(addr, path string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// shutdownWaitFor polls cond every 100ms until it holds; it fails the test
// after d or when p (if not nil) exits.
func shutdownWaitFor(t *testing.T, p *proc, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	var exited <-chan struct{} // nil: never
	if p != nil {
		exited = p.done
	}
	testkit.Poll(t, d, 100*time.Millisecond, what, exited, func() string {
		return fmt.Sprintf("the process exited (%v)", p.cmd.ProcessState)
	}, cond)
}

// shutdownWaitReady waits until /readyz answers 200.
func shutdownWaitReady(t *testing.T, p *proc, addr string) {
	t.Helper()
	shutdownWaitFor(t, p, 90*time.Second, "/readyz 200", func() (bool, string) {
		code, body := shutdownGet(addr, "/readyz")
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, strings.TrimSpace(body))
	})
}

// TestShutdownSIGTERMCommitsAndLeaves stops a processor with SIGTERM while
// its transaction holds the whole input (--commit-interval 10s): it must
// commit that transaction, leave the group and exit 0, quickly.
func TestShutdownSIGTERMCommitsAndLeaves(t *testing.T) {
	brokers := shutdownBrokers(t)
	bin := testBinary(t)
	n := newShutdownNames(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, adm := n.clients(t, brokers)
	const parts, events = 3, 800
	if resp, err := adm.CreateTopic(ctx, parts, 1, nil, n.Input); err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", n.Input, err, resp.Err)
	}
	if out, err := exec.CommandContext(ctx, bin, "gen", "--brokers", strings.Join(brokers, ","), "--topic", n.Input,
		"--events", fmt.Sprint(events), "--seed", "17", "--mode", "structured").CombinedOutput(); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}

	addr := shutdownFreePort(t)
	p := startProc(t, "processor", "run", "--brokers", strings.Join(brokers, ","),
		"--input-topic", n.Input, "--output-topic", n.Output, "--dlq-topic", n.DLQ, "--group", n.Group,
		"--partitions", fmt.Sprint(parts), "--commit-interval", "10s", "--transaction-timeout", "20s", "--shutdown-timeout", "20s",
		"--metrics-addr", addr)
	shutdownWaitReady(t, p, addr)
	// Everything fetched: the group client's fetch counter (kprom) reaches
	// the input's size while the transaction still collects.
	shutdownWaitFor(t, p, 60*time.Second, "the whole input fetched", func() (bool, string) {
		s, err := metricsScrape(addr)
		if err != nil {
			return false, err.Error()
		}
		got := s.sum("interruptions_kafka_fetch_records_total", "topic", n.Input)
		return got >= events, fmt.Sprintf("%v of %d fetched", got, events)
	})
	committedBefore := shutdownCommitted(ctx, t, adm, n)

	code, took := p.stop(20 * time.Second)
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	if took > 10*time.Second {
		t.Errorf("took %s to stop after SIGTERM, want under 10s", took)
	}
	log := p.stderr.String()
	for _, want := range []string{`"msg":"stopping: finishing the batch in flight`, `"msg":"processor stopped cleanly"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	t.Logf("stopped %s after SIGTERM; %d input records were committed before it", took.Round(time.Millisecond), committedBefore)
	if committedBefore >= events {
		t.Logf("note: the transaction had committed before SIGTERM; the test is weaker this time")
	}

	// The group is left: no members right away (not after a session timeout).
	shutdownWaitFor(t, nil, 5*time.Second, "group "+n.Group+" to have no members after the exit", func() (bool, string) {
		gs, err := adm.DescribeGroups(ctx, n.Group)
		if err != nil {
			return false, err.Error()
		}
		g := gs[n.Group]
		return g.Err == nil && len(g.Members) == 0, fmt.Sprintf("state %s, %d members, err %v", g.State, len(g.Members), g.Err)
	})

	// The transaction in flight committed: offsets at the end of every
	// partition, and every record replay computes is in the output.
	if got := shutdownCommitted(ctx, t, adm, n); got != events {
		t.Errorf("committed offsets cover %d input records, want all %d", got, events)
	}
	want := shutdownReplay(ctx, t, bin, adm, brokers, n.Input, parts)
	got := records.DecodeOutput(t, shutdownReadAll(ctx, t, adm, brokers, n.Output), codec.Binary)
	if want.Len() == 0 {
		t.Fatal("replay expects no records: the test input is too small")
	}
	testkit.SameRecords(t, want, got)
}

// shutdownCommitted sums the group's committed offsets on the input.
func shutdownCommitted(ctx context.Context, t *testing.T, adm *kadm.Client, n shutdownNames) int64 {
	t.Helper()
	sum, err := testkit.Committed(ctx, adm, n.Group, n.Input)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// shutdownReadAll reads a topic read_committed from its start to its high
// watermark: a transaction that committed may still be writing its
// markers (Kafka 4 answers EndTxn before they are written), and reading to
// the high watermark waits for them.
func shutdownReadAll(ctx context.Context, t *testing.T, adm *kadm.Client, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	recs, err := testkit.ReadAll(ctx, adm, []kgo.Opt{kgo.SeedBrokers(brokers...)}, topic)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// shutdownReplay returns the records `interruptions replay --partitions`
// computes from the input topic's events, each partition in offset order.
func shutdownReplay(ctx context.Context, t *testing.T, bin string, adm *kadm.Client, brokers []string, topic string, parts int) testkit.Records {
	t.Helper()
	ndjson := bytes.NewReader(inputNDJSON(t, shutdownReadAll(ctx, t, adm, brokers, topic)))
	cmd := exec.CommandContext(ctx, bin, "replay", "--partitions", fmt.Sprint(parts))
	cmd.Stdin = ndjson
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("replay: %v\n%s", err, errb.String())
	}
	want, err := records.ParseNDJSON(out.Bytes())
	if err != nil {
		t.Fatalf("replay output: %v", err)
	}
	return want
}

// TestShutdownSecondSignalExitsAtOnce: after a first SIGINT the processor
// shuts down gracefully; when that is stuck (here: the broker never answers
// the leave-group request), a second SIGINT ends the process at once, by
// the signal. The broker is an in-process kfake cluster, whose control
// functions can hold a request; the real broker is not needed.
func TestShutdownSecondSignalExitsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test (skipped with -short)")
	}
	testBinary(t) // command() runs binPath
	n := newShutdownNames(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, n.Input, n.Output, n.DLQ))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	addr := shutdownFreePort(t)
	p := startProc(t, "processor", "run", "--brokers", strings.Join(cluster.ListenAddrs(), ","),
		"--input-topic", n.Input, "--output-topic", n.Output, "--dlq-topic", n.DLQ, "--group", n.Group,
		"--partitions", "3", "--shutdown-timeout", "60s", "--metrics-addr", addr)
	shutdownWaitReady(t, p, addr)

	// From now on, leaving the group hangs: no answer (classic LeaveGroup,
	// or a KIP-848 heartbeat with a negative member epoch).
	hang := func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		switch r := req.(type) {
		case *kmsg.LeaveGroupRequest:
			return nil, nil, true
		case *kmsg.ConsumerGroupHeartbeatRequest:
			return nil, nil, r.MemberEpoch < 0
		}
		return nil, nil, false
	}
	cluster.ControlKey(int16(kmsg.LeaveGroup), hang)
	cluster.ControlKey(int16(kmsg.ConsumerGroupHeartbeat), hang)

	p.signal(syscall.SIGINT)
	shutdownWaitFor(t, p, 10*time.Second, "the first SIGINT to start the shutdown", func() (bool, string) {
		return strings.Contains(p.stderr.String(), `"msg":"stopping:`), "no stopping log line"
	})
	// The first signal's handler restores default handling right after it;
	// and the shutdown must still be stuck for the test to mean anything.
	select {
	case <-p.done:
		t.Fatalf("exited (%v) before the second signal: the leave did not hang", p.cmd.ProcessState)
	case <-time.After(500 * time.Millisecond):
	}
	_, took := p.interrupt(syscall.SIGINT, 3*time.Second)
	ps := p.cmd.ProcessState
	ws, _ := ps.Sys().(syscall.WaitStatus)
	if ps.Success() || !(ws.Signaled() && ws.Signal() == syscall.SIGINT || ps.ExitCode() > 0) {
		t.Errorf("after the second SIGINT: %v, want killed by SIGINT (or a non-zero exit)", ps)
	}
	t.Logf("second SIGINT: %v after %s", ps, took.Round(time.Millisecond))
}
