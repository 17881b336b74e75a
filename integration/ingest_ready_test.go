package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/interruptions/interruptions/vccgen"
	"github.com/interruptions/interruptions/webhook"
)

// topicPartitionCount is a topic's partition count on the broker, 0 when
// it does not exist (WithAuthorizedOps bypasses kadm's metadata cache).
func (h *harness) topicPartitionCount(topic string) int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	md, err := h.adm.Metadata(kadm.WithAuthorizedOps(ctx), topic)
	if err != nil {
		h.t.Fatalf("metadata of %s: %v", topic, err)
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return 0
	}
	return len(td.Partitions)
}

// signingKey is the decoded key of a secret file secretFile wrote.
func signingKey(t *testing.T, file string) []byte {
	t.Helper()
	keys, err := webhook.LoadSecretFiles([]string{file})
	must(t, "read the secret", err)
	return keys[0]
}

// getText GETs url and returns the status and the body (0 when the
// request failed).
func getText(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// postSigned posts body signed with key and returns the status (0 when no
// answer came).
func postSigned(t *testing.T, url string, key, body []byte) int {
	t.Helper()
	sig, err := webhook.Sign(key, body, time.Now())
	must(t, "sign", err)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	must(t, "request", err)
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set(webhook.SignatureHeader, sig)
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestIngestCreatesTopics: on a broker that does not create topics,
// `ingest` creates its missing topic and dead-letter topic with
// --partitions and --replication-factor, as `run` does, and stores what it
// accepts.
func TestIngestCreatesTopics(t *testing.T) {
	const events = 50
	h := setup(t)
	if n := h.topicPartitionCount(h.Input) + h.topicPartitionCount(h.DLQ); n != 0 {
		t.Fatalf("the test's topics exist before ingest starts (%d partitions)", n)
	}
	secret := secretFile(t)
	ing := h.start("ingest", "ingest", "--brokers", strings.Join(h.brokers, ","), "--topic", h.Input, "--dlq-topic", h.DLQ,
		"--listen", "127.0.0.1:0", "--signing-secret-file", secret, "--partitions", "5", "--replication-factor", "1")
	url := h.ingestURL(ing)
	for _, topic := range []string{h.Input, h.DLQ} {
		if n := h.topicPartitionCount(topic); n != 5 {
			t.Errorf("topic %s has %d partitions, want the 5 of --partitions", topic, n)
		}
		if !strings.Contains(ing.stderr.String(), `"msg":"created topic","topic":"`+topic+`"`) {
			t.Errorf("ingest did not log creating %s", topic)
		}
	}
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
}

// TestIngestMissingTopicNotCreated: with --create-topics=false, a missing
// topic (and, the topic there, a missing dead-letter topic) ends ingest at
// start with exit 1 naming it, before it accepts anything; nothing is
// created.
func TestIngestMissingTopicNotCreated(t *testing.T) {
	h := setup(t)
	secret := secretFile(t)
	args := []string{"ingest", "--brokers", strings.Join(h.brokers, ","), "--topic", h.Input, "--dlq-topic", h.DLQ,
		"--listen", "127.0.0.1:0", "--signing-secret-file", secret, "--create-topics=false"}
	check := func(missing string) {
		t.Helper()
		_, stderr, code := h.cli(nil, args...)
		if code != 1 || !strings.Contains(stderr, fmt.Sprintf("topic %q does not exist", missing)) || !strings.Contains(stderr, "--create-topics is false") {
			t.Fatalf("ingest without topic %s: exit %d, want 1 naming it and the cause:\n%s", missing, code, tail(stderr))
		}
		if strings.Contains(stderr, "accepting VCC notifications") {
			t.Errorf("ingest said it accepts notifications it cannot store:\n%s", tail(stderr))
		}
		if n := h.topicPartitionCount(missing); n != 0 {
			t.Errorf("topic %s was created (%d partitions) although --create-topics=false", missing, n)
		}
	}
	check(h.Input)
	h.createTopic(h.Input, 1)
	check(h.DLQ)
}

// TestIngestTopicDeletedWhileRunning: the topic is deleted under a running
// ingest (the broker does not create topics). /readyz answers 503 naming it
// within seconds, with no request needed, and interruptions_ingest_ready
// is 0; requests are answered 503, never 2xx; once the topic is created
// again /readyz answers 200 within seconds. Every request answered 2xx is
// in the topic.
func TestIngestTopicDeletedWhileRunning(t *testing.T) {
	h := setup(t)
	secret := secretFile(t)
	key := signingKey(t, secret)
	ing := h.start("ingest", "ingest", "--brokers", strings.Join(h.brokers, ","), "--topic", h.Input, "--dlq-topic", h.DLQ,
		"--listen", "127.0.0.1:0", "--signing-secret-file", secret, "--partitions", "2", "--replication-factor", "1",
		"--ack-timeout", "1s", "--shutdown-timeout", "5s")
	url := h.ingestURL(ing)
	base := strings.TrimSuffix(url, "/")
	metricsAddr := ""
	h.waitFor("the metrics address in the log", 20*time.Millisecond, []*proc{ing}, func() (bool, error) {
		_, rest, ok := strings.Cut(ing.stderr.String(), `"msg":"serving /metrics, /healthz and /readyz","addr":"`)
		if ok {
			metricsAddr, _, _ = strings.Cut(rest, `"`)
		}
		return ok, nil
	})
	readyMetric := func() string {
		_, body := getText("http://" + metricsAddr + "/metrics")
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, "interruptions_ingest_ready ") {
				return strings.TrimPrefix(line, "interruptions_ingest_ready ")
			}
		}
		return "absent"
	}
	g := vccgen.New(vccgen.Config{Seed: 5})
	accepted := map[string]bool{} // bodies answered 2xx
	post := func() int {
		body := g.Next().Value
		code := postSigned(t, url, key, body)
		if code >= 200 && code < 300 {
			accepted[string(body)] = true
		}
		return code
	}
	// stored fails unless every accepted body is in the topic.
	stored := func(when string) {
		t.Helper()
		have := map[string]bool{}
		for _, r := range h.readTopic(h.Input) {
			have[string(r.Value)] = true
		}
		for b := range accepted {
			if !have[b] {
				t.Fatalf("%s: a request answered 2xx is not in the topic: %.120s", when, b)
			}
		}
	}

	for i := range 20 {
		if code := post(); code != http.StatusOK {
			t.Fatalf("request %d before the deletion: %d, want 200", i, code)
		}
	}
	stored("before the deletion")
	if code, body := getText(base + "/readyz"); code != http.StatusOK || readyMetric() != "1" {
		t.Fatalf("/readyz %d %q, interruptions_ingest_ready %s; want 200 and 1", code, body, readyMetric())
	}

	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	resp, err := h.adm.DeleteTopics(ctx, h.Input)
	if err == nil {
		err = resp.Error()
	}
	must(t, "delete the topic", err)
	accepted = map[string]bool{} // what was stored went with the topic
	deleted := time.Now()
	h.waitFor("/readyz 503 naming the deleted topic", 50*time.Millisecond, []*proc{ing}, func() (bool, error) {
		code, body := getText(base + "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, fmt.Sprintf("%q", h.Input)), fmt.Errorf("%d %s", code, body)
	})
	notReady := time.Since(deleted)
	if notReady > 10*time.Second {
		t.Errorf("/readyz answered 503 %s after the deletion, want within seconds", notReady.Round(time.Millisecond))
	}
	if m := readyMetric(); m != "0" {
		t.Errorf("interruptions_ingest_ready %s while the topic is missing, want 0", m)
	}
	for i := range 5 {
		if code := post(); code != http.StatusServiceUnavailable {
			t.Errorf("request %d while the topic is missing: %d, want 503", i, code)
		}
	}
	if len(accepted) != 0 {
		t.Fatalf("%d requests answered 2xx while the topic was missing", len(accepted))
	}

	h.createTopic(h.Input, 2)
	recreated := time.Now()
	// Requests go on as VCC's retries would; readiness must come back.
	if !h.waitUpTo(webhook.RecentFailure+20*time.Second, "/readyz 200 after the topic is back", 100*time.Millisecond, []*proc{ing}, func() (bool, error) {
		post()
		code, body := getText(base + "/readyz")
		return code == http.StatusOK, fmt.Errorf("%d %s", code, body)
	}) {
		_, body := getText(base + "/readyz")
		t.Fatalf("/readyz did not answer 200 within %s of the topic's re-creation: %s", webhook.RecentFailure+20*time.Second, body)
	}
	ready := time.Since(recreated)
	if ready > webhook.RecentFailure+5*time.Second {
		t.Errorf("/readyz answered 200 %s after the topic came back", ready.Round(time.Millisecond))
	}
	for i := range 20 {
		if code := post(); code != http.StatusOK {
			t.Fatalf("request %d after the topic came back: %d, want 200", i, code)
		}
	}
	if m := readyMetric(); m != "1" {
		t.Errorf("interruptions_ingest_ready %s after the topic came back, want 1", m)
	}
	stored("after the topic came back")
	t.Logf("/readyz 503 %s after the deletion, 200 %s after the re-creation; %d requests answered 2xx after it, all stored",
		notReady.Round(time.Millisecond), ready.Round(time.Millisecond), len(accepted))
	ing.stop(stopBound)
}
