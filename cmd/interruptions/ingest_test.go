package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/interruptions/interruptions/vccgen"
	"github.com/interruptions/interruptions/webhook"
)

// TestIngestUsageErrors: bad ingest settings exit 2 naming the setting,
// and never show a secret.
func TestIngestUsageErrors(t *testing.T) {
	secret := writeFile(t, "secret", base64.StdEncoding.EncodeToString([]byte("s3cret-s3cret"))+"\n")
	badSecret := writeFile(t, "bad", "hunter2 is not base64!\n")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no secret", nil, nil, "signing-secret-file: required"},
		{"both", []string{"--allow-unsigned", "--signing-secret-file", secret}, nil, "allow-unsigned: set together"},
		{"missing file", []string{"--signing-secret-file", secret + ".missing"}, nil, "signing-secret-file:"},
		{"not base64", []string{"--signing-secret-file", badSecret}, nil, "is not base64"},
		{"cert without key", []string{"--allow-unsigned", "--http-tls-cert-file", secret}, nil, "http-tls-key-file: required"},
		{"max-body", []string{"--allow-unsigned", "--max-body", "0"}, nil, "max-body"},
		{"mode from env", []string{"--allow-unsigned"}, map[string]string{"INTERRUPTIONS_MODE": "xml"}, "mode"},
		{"broker tls", []string{"--allow-unsigned", "--tls-ca-file", secret}, nil, "tls-ca-file: is set but --tls is false"},
		{"partitions", []string{"--allow-unsigned", "--partitions", "0"}, nil, "partitions: must be positive"},
		{"replication-factor", []string{"--allow-unsigned", "--replication-factor", "0"}, nil, "replication-factor: must be positive or -1"},
		{"create-topics from env", []string{"--allow-unsigned"}, map[string]string{"INTERRUPTIONS_CREATE_TOPICS": "maybe"}, "create-topics"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(context.Background(), tc.env, append([]string{"ingest"}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
			if strings.Contains(stderr, "hunter2") || strings.Contains(stderr, "s3cret") {
				t.Errorf("the error shows a secret: %s", stderr)
			}
		})
	}
}

func TestByteSizeAndRepeatedFlags(t *testing.T) {
	var b byteSize
	for in, want := range map[string]int64{"1MiB": 1 << 20, "512KiB": 512 << 10, "1000": 1000, "2 GiB": 2 << 30} {
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%q: %d, %v; want %d", in, b, err, want)
		}
	}
	if b.Set("1048576"); b.String() != "1MiB" {
		t.Errorf("String %q", b.String())
	}
	var r repeatedFlag
	r.Set("a")
	r.Set("b,c")
	if r.String() != "a,b,c" {
		t.Errorf("repeated: %q", r.String())
	}
}

// TestIngestInProcess runs `interruptions ingest` in process on kfake with
// its settings from a --config file and the environment, posts one signed
// event through gen --webhook, and stops it as SIGTERM does.
func TestIngestInProcess(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "hooked", "hooked.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	secret := writeFile(t, "secret", "# old\n"+base64.StdEncoding.EncodeToString([]byte("old-secret"))+"\n")
	secret2 := writeFile(t, "secret2", base64.StdEncoding.EncodeToString([]byte("new-secret"))+"\n")
	cfg := writeFile(t, "ingest.yaml", "topic: hooked\ndlq-topic: hooked.dlq\nsigning-secret-file: ["+secret+", "+secret2+"]\nlisten: 127.0.0.1:0\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu     sync.Mutex
		stderr strings.Builder
	)
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return stderr.Write(p) })
	done := make(chan int, 1)
	go func() {
		done <- runMain(ctx, []string{"ingest", "--config", cfg}, env{stdin: strings.NewReader(""), stdout: w, stderr: w,
			getenv: fakeEnv(map[string]string{"INTERRUPTIONS_BROKERS": strings.Join(cluster.ListenAddrs(), ",")})})
	}()
	re := regexp.MustCompile(`"url":"(http://[^"]+)"`)
	var url string
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for url == "" {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("ingest did not start:\n%s", stderr.String())
		case code := <-done:
			t.Fatalf("ingest exited %d:\n%s", code, stderr.String())
		}
		mu.Lock()
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		}
		mu.Unlock()
	}
	code, _, genErr := runCLI(ctx, nil, "gen", "--webhook", url, "--signing-secret-file", secret2, "--events", "20")
	if code != 0 || !strings.Contains(genErr, "gen: 20 events accepted") {
		t.Fatalf("gen --webhook: exit %d, %s", code, genErr)
	}
	host := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
	if _, err := net.DialTimeout("tcp", host, time.Second); err != nil {
		t.Fatal(err)
	}
	// A token signed with the secret's text, not its decoded bytes, is
	// accepted too (VCC's reading is not documented).
	body := vccgen.New(vccgen.Config{Seed: 3}).Next().Value
	sig, err := webhook.Sign([]byte(base64.StdEncoding.EncodeToString([]byte("new-secret"))), body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set(webhook.SignatureHeader, sig)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a request signed with the secret's text: %v %v, want 200", resp, err)
	} else {
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + host + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("ingest exited %d after the signal:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ingest did not stop")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestDemoViaWebhook: demo --via-webhook delivers the generated events as
// signed HTTP POSTs through the bridge, and the processor's records come
// out as with the direct path (same events, same seed).
func TestDemoViaWebhook(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole demo twice")
	}
	// The final table does not depend on arrival order; the number of
	// records (corrections included) may.
	summary := regexp.MustCompile(`summary: (\d+) events generated, \d+ records \(\d+ corrections, \d+ retractions\), (\d+) dead letters;\n.*: (\d+) interruptions`)
	run := func(args ...string) []string {
		t.Helper()
		code, out, stderr := runCLI(context.Background(), nil, append([]string{"demo", "--events", "1500", "--rate", "0", "--quiet", "--bad-rate", "0"}, args...)...)
		if code != 0 {
			t.Fatalf("demo %v: exit %d\n%s\n%s", args, code, out, stderr)
		}
		m := summary.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("demo %v: no summary:\n%s", args, out)
		}
		if args != nil && !strings.Contains(out, "through the signed webhook at http://127.0.0.1:") {
			t.Errorf("demo --via-webhook does not say it posts to the webhook:\n%s", out)
		}
		return m[1:]
	}
	direct, hooked := run(), run("--via-webhook")
	if strings.Join(direct, " ") != strings.Join(hooked, " ") {
		t.Errorf("direct: %v (events, dead letters, final interruptions); via the webhook: %v", direct, hooked)
	}
	if direct[2] == "0" {
		t.Errorf("no interruption records")
	}
}

// TestDemoPhases (issue 25): demo turns the phase records on by default
// (its --help says so; run's default stays empty, off) and ends its summary
// with one line per phase: the final phases and their mean duration. On
// the default traffic the alerting, connected and wrap phases are counted,
// each at most once per opening event generated (a phase is keyed by its
// opener); the interrupted phases are exactly the final interruptions (the
// same contract, derived by the other matcher). With --phases-topic "" no
// phase line appears and the interruption summary is the same.
func TestDemoPhases(t *testing.T) {
	_, help, _ := runCLI(context.Background(), nil, "demo", "--help")
	if !strings.Contains(help, "default channel-phases, env INTERRUPTIONS_PHASES_TOPIC") {
		t.Errorf("demo --help does not show its phases-topic default:\n%s", help)
	}
	_, help, _ = runCLI(context.Background(), nil, "run", "--help")
	if !strings.Contains(help, "default \"\", env INTERRUPTIONS_PHASES_TOPIC") {
		t.Errorf("run --help: phases-topic's default is not empty:\n%s", help)
	}
	if testing.Short() {
		t.Skip("runs the whole demo twice")
	}
	const events = 1500
	// Opening events of the first 1500 generated (seed 1, no bad input),
	// by phase, from the generator's types.
	openers := map[string]int{}
	gen := vccgen.New(vccgen.Config{Seed: 1})
	for range events {
		typ := gen.Next().Type
		if i := strings.LastIndex(typ, ".v"); i > 0 {
			typ = typ[:i]
		}
		switch typ {
		case "channel.alerted":
			openers["alerting"]++
		case "channel.connected":
			openers["connected"]++
		case "channel.wrapstarted":
			openers["wrap"]++
		}
	}
	run := func(args ...string) string {
		t.Helper()
		code, out, stderr := runCLI(context.Background(), nil, append([]string{"demo", "--events", strconv.Itoa(events), "--rate", "0", "--quiet", "--bad-rate", "0"}, args...)...)
		if code != 0 {
			t.Fatalf("demo %q: exit %d\n%s\n%s", args, code, out, stderr)
		}
		return out
	}
	interruptions := regexp.MustCompile(`(?s)summary: (\d+) events generated, \d+ records \(\d+ corrections, \d+ retractions\), (\d+) dead letters;\n.*?: (\d+) interruptions\n\n(.*?)\n\n`)
	phaseLine := regexp.MustCompile(`(?m)^ *(alerting|connected|held|parked|interrupted|wrap) +(\d+) +(\S+)$`)

	on, off := run(), run("--phases-topic", "")
	mOn, mOff := interruptions.FindStringSubmatch(on), interruptions.FindStringSubmatch(off)
	if mOn == nil || mOff == nil {
		t.Fatalf("no interruption summary:\nphases on:\n%s\nphases off:\n%s", on, off)
	}
	// Events, dead letters, final interruptions and the outcome table.
	if strings.Join(mOn[1:], "|") != strings.Join(mOff[1:], "|") {
		t.Errorf("the interruption summary differs with phases on:\n%q\nand off:\n%q", mOn[1:], mOff[1:])
	}
	if !strings.Contains(on, `phases in "channel-phases": `) {
		t.Errorf("phases on: no phase summary header:\n%s", on)
	}
	counts := map[string]int{}
	for _, m := range phaseLine.FindAllStringSubmatch(on, -1) {
		if _, dup := counts[m[1]]; dup {
			t.Errorf("phase %s listed twice:\n%s", m[1], on)
		}
		n, _ := strconv.Atoi(m[2])
		counts[m[1]] = n
		if n > 0 {
			if d, err := time.ParseDuration(m[3]); err != nil || d < 0 {
				t.Errorf("phase %s: mean %q is not a duration (%v)", m[1], m[3], err)
			}
		} else if m[3] != "-" {
			t.Errorf("phase %s: no phases but a mean %q", m[1], m[3])
		}
	}
	if len(counts) != 6 {
		t.Errorf("phase lines for %d phases, want 6:\n%s", len(counts), on)
	}
	for _, p := range []string{"alerting", "connected", "wrap"} {
		if counts[p] == 0 || counts[p] > openers[p] {
			t.Errorf("%d %s phases, want 1 to %d (the opening events generated)", counts[p], p, openers[p])
		}
	}
	if fmt.Sprint(counts["interrupted"]) != mOn[3] {
		t.Errorf("%d interrupted phases, %s final interruptions", counts["interrupted"], mOn[3])
	}
	if phaseLine.MatchString(off) || strings.Contains(off, "phases in ") {
		t.Errorf("phases off: phase lines in the output:\n%s", off)
	}
}

// TestIngestMissingTopicExits: with --create-topics=false, a missing topic
// ends ingest at start with exit 1 naming it, before it listens.
func TestIngestMissingTopicExits(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "present"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := strings.Join(cluster.ListenAddrs(), ",")
	for _, tc := range []struct{ topic, dlq, missing string }{
		{"absent", "present", "absent"},
		{"present", "absent.dlq", "absent.dlq"},
	} {
		// Bounded: an ingest that starts anyway serves until ctx ends.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		code, _, stderr := runCLI(ctx, nil, "ingest", "--allow-unsigned", "--brokers", brokers, "--listen", "127.0.0.1:0",
			"--topic", tc.topic, "--dlq-topic", tc.dlq, "--create-topics=false")
		cancel()
		if code != 1 || !strings.Contains(stderr, `topic "`+tc.missing+`" does not exist`) || strings.Contains(stderr, "accepting VCC notifications") {
			t.Errorf("topic %s, dlq %s: exit %d, want 1 naming %s before listening:\n%s", tc.topic, tc.dlq, code, tc.missing, stderr)
		}
	}
}
