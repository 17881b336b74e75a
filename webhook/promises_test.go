package webhook

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/interruptions/interruptions/internal/testkit"
)

// TestFailedProduceIsNotAcknowledged: when the broker refuses the produce
// (here every partition of every Produce request answers INVALID_RECORD, a
// non-retriable error, so the client fails the record at once, well
// before the ack timeout), the signed POST is answered 503 with a
// Retry-After and a body that says the event was not stored and why, and
// nothing is in the topic: VCC keeps the event and retries. Once the
// broker takes produces again, the retried request is answered 200 and
// the event is in the topic exactly once, byte for byte.
func TestFailedProduceIsNotAcknowledged(t *testing.T) {
	cfg := signedConfig(t)
	cfg.AckTimeout = time.Minute // a 503 from the ack timeout would not come in time
	e := start(t, cfg)

	var failing atomic.Bool
	var refused atomic.Int32
	failing.Store(true)
	e.cluster.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		if !failing.Load() {
			return nil, nil, false // the broker handles it
		}
		refused.Add(1)
		return testkit.FailProduce(kreq.(*kmsg.ProduceRequest), kerr.InvalidRecord.Code), nil, true
	})

	body := genEvent(t, 0)
	began := time.Now()
	code, retryAfter, msg := postSigned(t, e.url, body)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("status %d (%s) while the broker refuses the produce, want 503", code, msg)
	}
	if took := time.Since(began); took > cfg.AckTimeout/2 {
		t.Errorf("answered after %s: the refusal was not seen, the ack timeout answered", took)
	}
	if n := refused.Load(); n < 1 {
		t.Fatalf("%d produce requests refused, want at least 1", n)
	}
	for _, want := range []string{"not stored", "produce", kerr.InvalidRecord.Message} {
		if !strings.Contains(msg, want) {
			t.Errorf("answer %q does not say %q", msg, want)
		}
	}
	if retryAfter == "" {
		t.Errorf("503 without Retry-After")
	}
	if n := e.count(testTopic); n != 0 {
		t.Errorf("%d records in the topic after the refused produce, want 0", n)
	}

	// The broker takes produces again; VCC retries.
	failing.Store(false)
	code, _, msg = postSigned(t, e.url, body)
	if code != http.StatusOK {
		t.Fatalf("retry: status %d (%s), want 200", code, msg)
	}
	recs := e.read(testTopic)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	if !bytes.Equal(recs[0].Value, body) {
		t.Errorf("value differs from the body:\n%s\n%s", recs[0].Value, body)
	}
	if n := e.count(testDLQ); n != 0 {
		t.Errorf("%d dead letters, want 0", n)
	}
	for code, want := range map[string]float64{"503": 1, "200": 1} {
		if got := testutil.ToFloat64(e.bridge.metrics.requests.WithLabelValues(code)); got != want {
			t.Errorf("requests_total{code=%s} = %v, want %v", code, got, want)
		}
	}
}

// postSigned POSTs body, signed now with testKey, as VCC does, and returns
// the status, the Retry-After header and the answer.
func postSigned(t *testing.T, url string, body []byte) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", structuredType)
	req.Header.Set(SignatureHeader, sign(t, testKey, body, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(msg)
}
