package integration

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
)

// ingestURL waits for `interruptions ingest` to log the URL it accepts
// notifications at.
func (h *harness) ingestURL(p *proc) string {
	h.t.Helper()
	re := regexp.MustCompile(`"url":"(https?://[^"]+)"`)
	var url string
	h.waitFor("ingest to listen", 20*time.Millisecond, []*proc{p}, func() (bool, error) {
		m := re.FindStringSubmatch(p.stderr.String())
		if m != nil {
			url = m[1]
		}
		return m != nil, nil
	})
	return url
}

// secretFile writes a random subscription secret, base64 as VCC gives it.
func secretFile(t *testing.T) string {
	t.Helper()
	k := make([]byte, 24)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "vcc-secret")
	must(t, "write secret", os.WriteFile(p, []byte("# test subscription\n"+base64.StdEncoding.EncodeToString(k)+"\n"), 0o600))
	return p
}

// TestIngestBrokerRestart runs `interruptions ingest` against the real
// broker and `interruptions gen --webhook` posting N signed events with
// concurrency into it, and restarts the broker once mid-stream. Requests
// the bridge cannot store in time are answered 503 and retried by gen until
// accepted. At the end every generated event is in the topic byte for byte
// (repeats counted: a 503 whose record did land is stored again when
// retried), and `interruptions run` over the topic computes what `replay`
// computes over the generated events.
func TestIngestBrokerRestart(t *testing.T) {
	const parts, seed, events, rate, conc = 3, 41, 6000, 600, 16
	h := setup(t)
	h.requireScriptBroker()
	h.createTopic(h.Input, parts)
	h.createTopic(h.DLQ, 1)
	secret := secretFile(t)

	ing := h.start("ingest", "ingest", "--brokers", strings.Join(h.brokers, ","),
		"--topic", h.Input, "--dlq-topic", h.DLQ, "--mode", "structured",
		"--listen", "127.0.0.1:0", "--signing-secret-file", secret, "--ack-timeout", "2s")
	url := h.ingestURL(ing)
	gen := h.start("gen", "gen", "--webhook", url, "--signing-secret-file", secret,
		"--events", fmt.Sprint(events), "--seed", fmt.Sprint(seed), "--rate", fmt.Sprint(rate),
		"--concurrency", fmt.Sprint(conc))
	h.waitFor("the first events in the topic", 50*time.Millisecond, []*proc{ing, gen}, func() (bool, error) {
		return h.stableCount(h.Input) >= 600, nil
	})
	h.kafkaCtl("restart")
	if code := gen.wait(testTimeout); code != 0 {
		t.Fatalf("gen --webhook exited %d", code)
	}
	m := regexp.MustCompile(`gen: (\d+) events accepted by \S+ in (\d+) requests`).FindStringSubmatch(gen.stderr.String())
	if m == nil {
		t.Fatalf("gen did not report what it delivered:\n%s", gen.stderr.String())
	}
	accepted, _ := strconv.Atoi(m[1])
	requests, _ := strconv.Atoi(m[2])
	t.Logf("gen: %d events accepted in %d requests (%d retried after a non-2xx answer or timeout)", accepted, requests, requests-accepted)
	if accepted != events {
		t.Fatalf("%d events accepted, want %d", accepted, events)
	}
	if requests == accepted {
		t.Errorf("no request was refused while the broker restarted: the test did not test retries")
	}
	code, took := ing.stop(stopBound)
	if code != 0 || !strings.Contains(ing.stderr.String(), "ingest stopped cleanly") {
		t.Fatalf("ingest exited %d after SIGTERM (took %s), want 0 and a clean stop", code, took)
	}

	// Every generated event is in the topic, byte for byte, keyed by its
	// channel (or, for agent events, its subject).
	ndjson := h.genNDJSON(events, seed)
	want := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(ndjson))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		want[sc.Text()]++
	}
	got := map[string]int{}
	recs := h.readTopic(h.Input)
	for _, r := range recs {
		got[string(r.Value)]++
		ce, err := codec.ParseStructured(r.Value)
		if err != nil {
			t.Fatalf("record %d@%d is not a generated event: %v", r.Partition, r.Offset, err)
		}
		if string(r.Key) != ce.Subject() {
			t.Errorf("record %s keyed %q, subject %q", ce.ID(), r.Key, ce.Subject())
		}
	}
	missing, extra := 0, 0
	for v, n := range want {
		if got[v] < n {
			missing += n - got[v]
		}
	}
	for v, n := range got {
		if want[v] == 0 {
			t.Errorf("the topic holds a record that was not generated: %s", v)
		}
		extra += max(0, n-want[v])
	}
	t.Logf("topic: %d records for %d generated events: %d repeats from retried requests, %d missing", len(recs), events, extra, missing)
	if missing > 0 {
		t.Fatalf("%d generated events are not in the topic", missing)
	}
	if n := h.stableCount(h.DLQ); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}

	// The processor over the topic computes what replay computes over the
	// generated events.
	p := h.startRun("run")
	h.waitCaughtUp(p)
	p.stopClean()
	h.checkExactlyOnce(h.replay(ndjson, parts, 100), codec.Binary)
}

// TestIngestSecurity runs `interruptions ingest` against the broker's
// SASL_SSL listener (TLS, SCRAM-SHA-256, password from the environment):
// signed events posted by gen --webhook land in the topic. With a wrong
// password it exits 1 at once saying authentication failed, password
// nowhere.
func TestIngestSecurity(t *testing.T) {
	const events = 200
	h := setup(t)
	sec := securityLoad(t)
	h.createTopic(h.Input, 2)
	h.createTopic(h.DLQ, 1)
	secret := secretFile(t)
	args := append([]string{"ingest", "--brokers", sec.brokers, "--topic", h.Input, "--dlq-topic", h.DLQ,
		"--listen", "127.0.0.1:0", "--signing-secret-file", secret,
		"--sasl-mechanism", "SCRAM-SHA-256", "--sasl-username", sec.username}, sec.securityTLSArgs()...)

	wrong := fmt.Sprintf("wrong-%d", time.Now().UnixNano())
	stderr, code := securityCLI(h, []string{"INTERRUPTIONS_SASL_PASSWORD=" + wrong}, args...)
	if code != 1 || !strings.Contains(stderr, "authentication") || strings.Contains(stderr, wrong) {
		t.Fatalf("ingest with a wrong password: exit %d, want 1 saying authentication, password nowhere:\n%s", code, tail(stderr))
	}

	ing := h.start("ingest", append(args, "--sasl-password-file", securityPasswordFile(t, sec.password))...)
	url := h.ingestURL(ing)
	out, genErr, code := h.cli(nil, "gen", "--webhook", url, "--signing-secret-file", secret, "--events", fmt.Sprint(events), "--concurrency", "4")
	if code != 0 || !strings.Contains(genErr, fmt.Sprintf("gen: %d events accepted", events)) {
		t.Fatalf("gen --webhook: exit %d\n%s%s", code, out, tail(genErr))
	}
	if code, took := ing.stop(stopBound); code != 0 {
		t.Fatalf("ingest exited %d after SIGTERM (took %s)", code, took)
	}
	if n := len(h.readTopic(h.Input)); n != events {
		t.Errorf("the topic holds %d records, want %d", n, events)
	}
	if strings.Contains(ing.stderr.String(), sec.password) {
		t.Errorf("the password is in the log")
	}
	if !strings.Contains(ing.stderr.String(), `"saslMechanism":"SCRAM-SHA-256"`) {
		t.Errorf("ingest did not log its SASL settings")
	}
}
