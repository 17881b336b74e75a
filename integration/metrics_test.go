package integration

// The processor's HTTP endpoint on a real broker: /healthz, /readyz, and
// /metrics moving as crafted input goes through (events by type and result,
// a dead letter with its reason, records by outcome, durations, commits,
// restores, per-partition gauges, franz-go client metrics).

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/twmb/franz-go/pkg/kgo"
)

// metricsSample is one scrape: series (name and labels as exposed) to value.
type metricsSample map[string]float64

// metricsScrape GETs /metrics and parses the text format.
func metricsScrape(addr string) (metricsSample, error) {
	code, body := shutdownGet(addr, "/metrics")
	if code != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %d %s", code, body)
	}
	s := metricsSample{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("bad line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("bad value in %q: %v", line, err)
		}
		s[line[:i]] = v
	}
	return s, sc.Err()
}

// metricsSeries is the exposed form of name{labels}: label pairs sorted by
// name, as the Prometheus client writes them.
func metricsSeries(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	var pairs []string
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	sort.Strings(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// get returns the value of one series, -1 when it is absent.
func (s metricsSample) get(name string, labels ...string) float64 {
	v, ok := s[metricsSeries(name, labels...)]
	if !ok {
		return -1
	}
	return v
}

// sum adds every series of name whose labels include the given pairs.
func (s metricsSample) sum(name string, labels ...string) float64 {
	total := 0.0
	for series, v := range s {
		if series != name && !strings.HasPrefix(series, name+"{") {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(series, fmt.Sprintf("%s=%q", labels[i], labels[i+1])) {
				match = false
			}
		}
		if match {
			total += v
		}
	}
	return total
}

// metricsEvent is a structured VCC channel event of a party in role.
func metricsEvent(t *testing.T, id, typ, channelID, role string, at time.Time) []byte {
	t.Helper()
	return testkit.StructuredValue(t, testkit.ChannelEvent(typ, id, channelID, at.UTC().Format("2006-01-02T15:04:05.000Z")).With(
		testkit.Set("data.channel.conversationId", "conv-"+channelID), testkit.Set("data.channel.interactionId", "inter-"+channelID),
		testkit.Set("data.channel.party.role", role)))
}

// TestMetricsEndpoint runs the processor with --metrics-addr, checks the
// health endpoints, feeds it one of each kind of input and waits for the
// metrics to show them.
func TestMetricsEndpoint(t *testing.T) {
	brokers := shutdownBrokers(t)
	testBinary(t) // command() runs binPath
	n := newShutdownNames(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, adm := n.clients(t, brokers)
	const parts = 3
	if resp, err := adm.CreateTopic(ctx, parts, 1, nil, n.Input); err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", n.Input, err, resp.Err)
	}

	addr := shutdownFreePort(t)
	p := startProc(t, "processor", "run", "--brokers", strings.Join(brokers, ","),
		"--input-topic", n.Input, "--output-topic", n.Output, "--dlq-topic", n.DLQ, "--group", n.Group,
		"--partitions", fmt.Sprint(parts), "--metrics-addr", addr)
	shutdownWaitFor(t, p, 30*time.Second, "/healthz 200", func() (bool, string) {
		code, body := shutdownGet(addr, "/healthz")
		return code == http.StatusOK && body == "ok\n", fmt.Sprintf("%d %q", code, body)
	})
	// Ready with no input at all: every partition restored on assignment.
	shutdownWaitReady(t, p, addr)
	if code, body := shutdownGet(addr, "/readyz"); code != 200 || !strings.Contains(body, "processing 3 partitions") {
		t.Errorf("/readyz: %d %q", code, body)
	}
	s, err := metricsScrape(addr)
	if err != nil {
		t.Fatal(err)
	}
	if s.get("interruptions_ready") != 1 || s.get("interruptions_partitions_assigned") != parts ||
		s.get("interruptions_partitions_restoring") != 0 || s.get("interruptions_restore_duration_seconds_count") != parts {
		t.Errorf("once ready: ready %v, assigned %v, restoring %v, restores %v", s.get("interruptions_ready"),
			s.get("interruptions_partitions_assigned"), s.get("interruptions_partitions_restoring"),
			s.get("interruptions_restore_duration_seconds_count"))
	}

	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	rec := func(key string, v []byte) *kgo.Record {
		return &kgo.Record{Topic: n.Input, Key: []byte(key), Value: v,
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/cloudevents+json")}}}
	}
	in := []*kgo.Record{
		rec("a", metricsEvent(t, "a1", "channel.interrupted.v0", "a", "agent", t0)),
		rec("a", metricsEvent(t, "a2", "channel.resumed.v0", "a", "agent", t0.Add(90*time.Second))),
		rec("a", metricsEvent(t, "a2", "channel.resumed.v0", "a", "agent", t0.Add(90*time.Second))), // duplicate
		rec("a", metricsEvent(t, "a3", "channel.held.v0", "a", "agent", t0.Add(100*time.Second))),   // ignored
		rec("b", metricsEvent(t, "b1", "channel.interrupted.v1", "b", "external", t0)),
		rec("b", metricsEvent(t, "b2", "channel.ended.v0", "b", "external", t0.Add(30*time.Second))),
		rec("c", metricsEvent(t, "c1", "channel.interrupted.v0", "c", "agent", t0.Add(time.Minute))), // stays open
		rec("x", []byte(`{"specversion":"1.0","id":`)),                                               // dead letter
	}
	if err := cl.ProduceSync(ctx, in...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	want := []struct {
		series string
		min    float64
	}{
		{metricsSeries("interruptions_input_events_total", "type", "interrupted", "result", "processed"), 3},
		{metricsSeries("interruptions_input_events_total", "type", "resumed", "result", "processed"), 1},
		{metricsSeries("interruptions_input_events_total", "type", "resumed", "result", "duplicate"), 1},
		{metricsSeries("interruptions_input_events_total", "type", "ended", "result", "processed"), 1},
		{metricsSeries("interruptions_input_events_total", "type", "other", "result", "ignored"), 1},
		{metricsSeries("interruptions_input_events_total", "type", "invalid", "result", "dlq"), 1},
		{metricsSeries("interruptions_dead_letters_total", "reason", "not-cloudevent"), 1},
		{metricsSeries("interruptions_records_total", "outcome", "resumed"), 1},
		{metricsSeries("interruptions_records_total", "outcome", "ended"), 1},
		{metricsSeries("interruptions_interruption_duration_seconds_count", "role", "agent", "outcome", "resumed"), 1},
		{metricsSeries("interruptions_interruption_duration_seconds_sum", "role", "agent", "outcome", "resumed"), 90},
		{metricsSeries("interruptions_interruption_duration_seconds_count", "role", "external", "outcome", "ended"), 1},
		{metricsSeries("interruptions_event_to_output_seconds_count"), 2},
		{metricsSeries("interruptions_transactions_total", "result", "committed"), 1},
	}
	shutdownWaitFor(t, p, 60*time.Second, "the metrics to count the input", func() (bool, string) {
		if s, err = metricsScrape(addr); err != nil {
			return false, err.Error()
		}
		var short []string
		for _, w := range want {
			if got := s[w.series]; got < w.min {
				short = append(short, fmt.Sprintf("%s = %v, want >= %v", w.series, got, w.min))
			}
		}
		// The gauges are as of each partition's last commit, refreshed
		// apart from the counters: waited for too, checked below.
		if open := s.sum("interruptions_open_interruptions"); open < 1 {
			short = append(short, fmt.Sprintf("open interruptions %v, want 1", open))
		}
		return len(short) == 0, strings.Join(short, "; ")
	})
	// Exactly, now that everything is in (counters count committed work
	// once).
	for _, w := range want[:9] {
		if s[w.series] != w.min {
			t.Errorf("%s = %v, want %v", w.series, s[w.series], w.min)
		}
	}
	if open := s.sum("interruptions_open_interruptions"); open != 1 {
		t.Errorf("open interruptions over all partitions: %v, want 1 (channel c)", open)
	}
	// c opened at t0+60s; the stream time of its partition is t0+90s (a's
	// resumed: the ignored held at t0+100s never moves the clock) if
	// channel a hashes to the same partition, else t0+60s.
	if age := s.sum("interruptions_oldest_open_interruption_age_seconds"); age != 0 && age != 30 {
		t.Errorf("oldest open interruption age %vs, want 0 or 30", age)
	}
	if lag := s.sum("interruptions_consumer_lag_records"); lag != 0 {
		t.Errorf("consumer lag %v after all input, want 0", lag)
	}
	if got := s.sum("interruptions_kafka_produce_records_total", "topic", n.Output); got < 2 {
		t.Errorf("kprom produce records to %s: %v, want >= 2", n.Output, got)
	}
	if got := s.sum("interruptions_kafka_fetch_records_total", "topic", n.Input); got < float64(len(in)) {
		t.Errorf("kprom fetch records from %s: %v, want >= %d", n.Input, got, len(in))
	}

	if code, _ := p.stop(20 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
}
