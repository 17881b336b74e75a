package webhook

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/vccgen"
)

const (
	testTopic = "events"
	testDLQ   = "events.dlq"
)

var (
	testKey  = []byte("the-current-subscription-secret")
	otherKey = []byte("a-secret-nobody-configured")
)

// env is one test's broker (kfake), bridge and HTTP address.
type env struct {
	t       *testing.T
	cluster *kfake.Cluster
	cl      *kgo.Client
	bridge  *Bridge
	reg     *prometheus.Registry
	url     string
	base    string
	// stop ends Serve (as SIGTERM does) and returns its error.
	stop func() error
}

// start runs a bridge on a real listener against kfake; cfg's Client,
// topics and Registry are filled in. It is stopped in t.Cleanup.
func start(t *testing.T, cfg Config) *env {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, testTopic, testDLQ))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	cfg.Client = cl
	if cfg.Topic == "" {
		cfg.Topic = testTopic
	}
	cfg.DLQTopic = testDLQ
	reg := prometheus.NewRegistry()
	cfg.Registry = reg
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := serveTest(t, b, nil, nil)
	base := "http://" + addr
	return &env{t: t, cluster: cluster, cl: cl, bridge: b, reg: reg, url: base + b.cfg.Path, base: base, stop: stop}
}

// serveTest serves b on a new loopback listener (HTTPS with tlsCfg when it
// is set, the ops endpoints on mln when it is set) until the test ends. It
// returns the listener's address and stop, which ends Serve as SIGTERM
// does and returns its error; the test fails on that error at cleanup.
func serveTest(tb testing.TB, b *Bridge, tlsCfg *tls.Config, mln net.Listener) (addr string, stop func() error) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx, ln, tlsCfg, mln) }()
	var once sync.Once
	var serveErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			serveErr = <-done
		})
		return serveErr
	}
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String(), stop
}

func signedConfig(t *testing.T, keys ...[]byte) Config {
	t.Helper()
	if len(keys) == 0 {
		keys = [][]byte{testKey}
	}
	v, err := NewVerifier(keys, DefaultLeeway, nil)
	if err != nil {
		t.Fatal(err)
	}
	return Config{Verifier: v, Mode: codec.Structured, AckTimeout: 5 * time.Second}
}

// genEvent returns the n-th generated VCC channel event (structured JSON).
func genEvent(t *testing.T, n int) []byte {
	t.Helper()
	g := vccgen.New(vccgen.Config{Seed: 7, DuplicateRate: 0, ReorderRate: 0, LateRate: 0})
	for {
		ev := g.Next()
		if !bytes.Contains(ev.Value, []byte(`"type":"channel.`)) {
			continue
		}
		if n == 0 {
			return ev.Value
		}
		n--
	}
}

func channelID(t *testing.T, body []byte) string {
	t.Helper()
	var v struct {
		Data struct {
			Channel struct {
				ChannelID string `json:"channelId"`
			} `json:"channel"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	return v.Data.Channel.ChannelID
}

// post sends body with the given headers and returns the status and answer.
func (e *env) post(body []byte, headers map[string]string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", structuredType)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

func sign(t *testing.T, key, body []byte, now time.Time) string {
	t.Helper()
	s, err := Sign(key, body, now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// count is the number of records in topic.
func (e *env) count(topic string) int64 {
	e.t.Helper()
	return topicRecords(e.t, kadm.NewClient(e.cl), topic)
}

// topicRecords is the number of records in topic: the sum of its
// partitions' end offsets.
func topicRecords(tb testing.TB, adm *kadm.Client, topic string) int64 {
	tb.Helper()
	ends, err := adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		tb.Fatalf("list end offsets of %s: %v", topic, err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// read reads every record of topic (the bridge answered 2xx, so they are
// acknowledged and readable).
func (e *env) read(topic string) []*kgo.Record {
	e.t.Helper()
	want := e.count(topic)
	if want == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for int64(len(out)) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("read %s: %d of %d records", topic, len(out), want)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func TestValidSignatureProducesBodyByteForByte(t *testing.T) {
	e := start(t, signedConfig(t))
	body := genEvent(t, 0)
	code, msg := e.post(body, map[string]string{SignatureHeader: sign(t, testKey, body, time.Now())})
	if code != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", code, msg)
	}
	recs := e.read(testTopic)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	if !bytes.Equal(recs[0].Value, body) {
		t.Errorf("value differs from the body:\n%s\n%s", recs[0].Value, body)
	}
	if got, want := string(recs[0].Key), channelID(t, body); got != want {
		t.Errorf("key %q, want channelId %q", got, want)
	}
	if ev, err := cekafka.Decode(recs[0].Value, recs[0].Headers); err != nil || ev.Subject != string(recs[0].Key) {
		t.Errorf("the processor reads the record as %+v, %v", ev, err)
	}
	if n := e.count(testDLQ); n != 0 {
		t.Errorf("%d dead letters, want 0", n)
	}
	if got := testutil.ToFloat64(e.bridge.metrics.requests.WithLabelValues("200")); got != 1 {
		t.Errorf("requests_total{code=200} = %v, want 1", got)
	}
}

func TestBinaryModeRequestAndRecord(t *testing.T) {
	cfg := signedConfig(t)
	cfg.Mode = codec.Binary
	e := start(t, cfg)
	body := genEvent(t, 1)
	ce, err := codec.ParseStructured(body)
	if err != nil {
		t.Fatal(err)
	}
	data := ce.Data()
	headers := map[string]string{
		"Content-Type":   "application/json",
		"Ce-Specversion": "1.0", "Ce-Id": ce.ID(), "Ce-Source": ce.Source(), "Ce-Type": ce.Type(),
		"Ce-Subject": ce.Subject(), "Ce-Time": ce.Time().Format(time.RFC3339Nano),
		SignatureHeader: sign(t, testKey, data, time.Now()),
	}
	if code, msg := e.post(data, headers); code != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", code, msg)
	}
	recs := e.read(testTopic)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	if header(recs[0], "ce_specversion") != "1.0" || header(recs[0], "ce_id") != ce.ID() {
		t.Errorf("not a binary record: headers %v", recs[0].Headers)
	}
	ev, err := cekafka.Decode(recs[0].Value, recs[0].Headers)
	if err != nil || ev.ID != ce.ID() || string(recs[0].Key) != ev.Subject {
		t.Errorf("decoded %+v, %v; key %q", ev, err, recs[0].Key)
	}
}

func TestBatchWithOneBadElement(t *testing.T) {
	e := start(t, signedConfig(t))
	a, b := genEvent(t, 2), genEvent(t, 3)
	bad := []byte(`{"specversion":"1.0","id":"x","source":"/channel","type":"channel.held.v0","data":{"channel":{}}}`)
	body := []byte("[" + string(a) + ",\n " + string(bad) + "," + string(b) + "]")
	code, msg := e.post(body, map[string]string{"Content-Type": batchType, SignatureHeader: sign(t, testKey, body, time.Now())})
	if code != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", code, msg)
	}
	recs := e.read(testTopic)
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	for _, r := range recs {
		if !bytes.Equal(r.Value, a) && !bytes.Equal(r.Value, b) {
			t.Errorf("record %s is not one of the batch's elements byte for byte", r.Value)
		}
	}
	dead := e.read(testDLQ)
	if len(dead) != 1 || !bytes.Equal(dead[0].Value, bad) || header(dead[0], HeaderDLQBatchIndex) != "1" ||
		header(dead[0], cekafka.HeaderDLQReason) != string(codec.ReasonMissingChannelID) {
		t.Errorf("dead letters %v, want the bad element with reason missing-channel-id and index 1", dead)
	}
}

// refused posts body with a signature header and checks for a 401 and
// that nothing was produced.
func refused(t *testing.T, e *env, body []byte, sig, reason string) {
	t.Helper()
	headers := map[string]string{}
	if sig != "" {
		headers[SignatureHeader] = sig
	}
	code, msg := e.post(body, headers)
	if code != http.StatusUnauthorized {
		t.Fatalf("status %d (%s), want 401", code, msg)
	}
	if !strings.Contains(msg, reason) {
		t.Errorf("answer %q does not say %q", msg, reason)
	}
	if n := e.count(testTopic) + e.count(testDLQ); n != 0 {
		t.Errorf("%d records produced for a refused request", n)
	}
	if got := testutil.ToFloat64(e.bridge.metrics.signatureFailures.WithLabelValues(reason)); got != 1 {
		t.Errorf("signature_failures_total{reason=%s} = %v, want 1", reason, got)
	}
}

func TestWrongSecret(t *testing.T) {
	e := start(t, signedConfig(t))
	body := genEvent(t, 0)
	refused(t, e, body, sign(t, otherKey, body, time.Now()), "invalid")
}

func TestExpiredToken(t *testing.T) {
	e := start(t, signedConfig(t))
	body := genEvent(t, 0)
	refused(t, e, body, sign(t, testKey, body, time.Now().Add(-TokenLifetime-DefaultLeeway-time.Second)), "expired")
}

func TestExpiredTokenWithoutExp(t *testing.T) {
	e := start(t, signedConfig(t))
	body := genEvent(t, 0)
	sum := sha256.Sum256(body)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iat": time.Now().Add(-10 * time.Minute).Unix(), "payload_hash": hex.EncodeToString(sum[:]),
	}).SignedString(testKey)
	if err != nil {
		t.Fatal(err)
	}
	refused(t, e, body, tok, "expired")
}

func TestTamperedBody(t *testing.T) {
	e := start(t, signedConfig(t))
	body := genEvent(t, 0)
	sig := sign(t, testKey, body, time.Now())
	tampered := bytes.Replace(body, []byte(`"agent"`), []byte(`"external"`), 1)
	if bytes.Equal(tampered, body) {
		tampered = append(append([]byte(nil), body...), ' ')
	}
	refused(t, e, tampered, sig, "payload_hash")
}

func TestMissingSignature(t *testing.T) {
	e := start(t, signedConfig(t))
	refused(t, e, genEvent(t, 0), "", "missing")
}

// unsignedToken is header.claims with the given header and an arbitrary
// signature part.
func unsignedToken(header map[string]any, claims map[string]any, sig string) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + sig
}

func validClaims(body []byte) map[string]any {
	sum := sha256.Sum256(body)
	now := time.Now()
	return map[string]any{"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "payload_hash": hex.EncodeToString(sum[:])}
}

func TestAlgNone(t *testing.T) {
	e := start(t, signedConfig(t))
	body := genEvent(t, 0)
	for _, alg := range []string{"none", "None", "NONE"} {
		refused0(t, e, body, unsignedToken(map[string]any{"alg": alg, "typ": "JWT"}, validClaims(body), ""))
	}
}

// TestAlgorithmConfusion: tokens whose header names another algorithm
// (RS256 signed with the HMAC secret as if it were a key, HS512 and HS384
// with the right secret) are refused: only HS256 is accepted.
func TestAlgorithmConfusion(t *testing.T) {
	e := start(t, signedConfig(t))
	body := genEvent(t, 0)
	c := validClaims(body)
	// RS256 header, signature an HMAC-SHA256 with the secret: what a
	// verifier that trusts the header's alg with a shared key would accept.
	unsigned := unsignedToken(map[string]any{"alg": "RS256", "typ": "JWT"}, c, "")
	mac := hmac.New(sha256.New, testKey)
	mac.Write([]byte(strings.TrimSuffix(unsigned, ".")))
	refused0(t, e, body, unsigned+base64.RawURLEncoding.EncodeToString(mac.Sum(nil)))
	// A real RS256 token.
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(c)).SignedString(rk)
	if err != nil {
		t.Fatal(err)
	}
	refused0(t, e, body, rs)
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS512, jwt.SigningMethodHS384} {
		s, err := jwt.NewWithClaims(m, jwt.MapClaims(c)).SignedString(testKey)
		if err != nil {
			t.Fatal(err)
		}
		refused0(t, e, body, "Bearer "+s)
	}
	if got := testutil.ToFloat64(e.bridge.metrics.signatureFailures.WithLabelValues("invalid")); got != 4 {
		t.Errorf("signature_failures_total{reason=invalid} = %v, want 4", got)
	}
}

// refused0 is refused without the per-reason count.
func refused0(t *testing.T, e *env, body []byte, sig string) {
	t.Helper()
	code, msg := e.post(body, map[string]string{SignatureHeader: sig})
	if code != http.StatusUnauthorized {
		t.Fatalf("token %s: status %d (%s), want 401", sig, code, msg)
	}
	if n := e.count(testTopic) + e.count(testDLQ); n != 0 {
		t.Fatalf("%d records produced for a refused request", n)
	}
}

func TestSecretRotation(t *testing.T) {
	e := start(t, signedConfig(t, otherKey, testKey))
	for i, k := range [][]byte{testKey, otherKey} {
		body := genEvent(t, i)
		if code, msg := e.post(body, map[string]string{SignatureHeader: sign(t, k, body, time.Now())}); code != http.StatusOK {
			t.Fatalf("secret %d: status %d (%s)", i, code, msg)
		}
	}
	if n := e.count(testTopic); n != 2 {
		t.Errorf("%d records, want 2", n)
	}
}

func TestOversizedBody(t *testing.T) {
	cfg := signedConfig(t)
	cfg.MaxBody = 4 << 10
	e := start(t, cfg)
	big := bytes.Repeat([]byte("x"), 8<<10)
	// With a Content-Length, and chunked (no length known in advance).
	if code, msg := e.post(big, map[string]string{SignatureHeader: sign(t, testKey, big, time.Now())}); code != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d (%s), want 413", code, msg)
	}
	req, _ := http.NewRequest(http.MethodPost, e.url, io.MultiReader(bytes.NewReader(big)))
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked: status %d, want 413", resp.StatusCode)
	}
	if n := e.count(testTopic) + e.count(testDLQ); n != 0 {
		t.Errorf("%d records produced", n)
	}
}

// TestSlowClient: a client that sends the headers and part of the body,
// then stalls, is cut off at the read timeout: answered 408 or
// disconnected, and nothing is produced.
func TestSlowClient(t *testing.T) {
	cfg := signedConfig(t)
	cfg.ReadTimeout = 300 * time.Millisecond
	e := start(t, cfg)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := genEvent(t, 0)
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s: %s\r\n\r\n",
		structuredType, len(body), SignatureHeader, sign(t, testKey, body, time.Now()))
	conn.Write(body[:10])
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	took := time.Since(start)
	switch {
	case err == nil:
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("status %d, want 408", resp.StatusCode)
		}
	case isTimeout(err):
		t.Fatalf("the server kept a stalled request open for %s", took)
	}
	if took > 3*time.Second {
		t.Errorf("cut off after %s, want about the read timeout (300ms)", took)
	}
	if n := e.count(testTopic) + e.count(testDLQ); n != 0 {
		t.Errorf("%d records produced", n)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestBadEventToDLQ: signed bodies that are not usable events are answered
// 200 and go to the DLQ byte for byte with the reason and the request's
// metadata; a body the processor would reject for its channelId too.
func TestBadEventToDLQ(t *testing.T) {
	e := start(t, signedConfig(t))
	good := genEvent(t, 0)
	cases := []struct {
		body   []byte
		reason codec.Reason
	}{
		{good[:len(good)/2], codec.ReasonNotCloudEvent},
		{bytes.Replace(good, []byte(`"specversion":"1.0"`), []byte(`"specversion":"0.3"`), 1), codec.ReasonSpecVersion},
		{bytes.Replace(good, []byte(`"channelId":"`), []byte(`"channelRef":"`), 1), codec.ReasonMissingChannelID},
		{[]byte(`{"specversion":"1.0","id":"1","source":"/channel","type":"channel.held.v0","data":"text"}`), codec.ReasonDataNotObject},
		// A channelId the processor could not key its records by (the
		// sdk trims white space from subject): refused at the door, as
		// the processor would refuse it (codec.ValidChannelID).
		{[]byte(`{"specversion":"1.0","id":"2","source":"/channel","type":"channel.held.v0","data":{"channel":{"channelId":"c-1 "}}}`), codec.ReasonInvalidChannelID},
	}
	for _, c := range cases {
		code, msg := e.post(c.body, map[string]string{SignatureHeader: sign(t, testKey, c.body, time.Now()), "User-Agent": "vcc-test"})
		if code != http.StatusOK || !strings.Contains(msg, string(c.reason)) {
			t.Errorf("%s: status %d (%s), want 200 naming the reason", c.reason, code, msg)
		}
	}
	dead := e.read(testDLQ)
	if len(dead) != len(cases) {
		t.Fatalf("%d dead letters, want %d", len(dead), len(cases))
	}
	byReason := map[string]*kgo.Record{}
	for _, r := range dead {
		byReason[header(r, cekafka.HeaderDLQReason)] = r
	}
	for _, c := range cases {
		r := byReason[string(c.reason)]
		switch {
		case r == nil:
			t.Errorf("no dead letter with reason %s", c.reason)
		case !bytes.Equal(r.Value, c.body):
			t.Errorf("%s: dead letter is not the body byte for byte", c.reason)
		case header(r, cekafka.HeaderDLQError) == "" || header(r, cekafka.HeaderDLQTime) == "" ||
			header(r, HeaderDLQSource) != "webhook" || header(r, HeaderDLQMethod) != "POST" ||
			header(r, HeaderDLQRemoteAddr) == "" || header(r, HeaderDLQHTTPPrefix+"user-agent") != "vcc-test" ||
			header(r, HeaderDLQHTTPPrefix+"content-type") != structuredType:
			t.Errorf("%s: headers %v", c.reason, r.Headers)
		}
	}
	if n := e.count(testTopic); n != 0 {
		t.Errorf("%d records in the topic, want 0", n)
	}
	if got := testutil.ToFloat64(e.bridge.metrics.events.WithLabelValues("dlq")); got != float64(len(cases)) {
		t.Errorf("events_total{result=dlq} = %v", got)
	}
}

// TestAckTimeout: when the broker does not acknowledge in time (here the
// topic does not exist), the answer is 503.
func TestAckTimeout(t *testing.T) {
	cfg := signedConfig(t)
	cfg.Topic = "no-such-topic"
	cfg.AckTimeout = 300 * time.Millisecond
	e := start(t, cfg)
	body := genEvent(t, 0)
	start := time.Now()
	code, msg := e.post(body, map[string]string{SignatureHeader: sign(t, testKey, body, time.Now())})
	if code != http.StatusServiceUnavailable {
		t.Fatalf("status %d (%s), want 503", code, msg)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("answered after %s, want about the ack timeout", took)
	}
	// Readiness names the failed request first (the topic is missing too).
	if code, msg := e.readyz(); code != http.StatusServiceUnavailable || !strings.Contains(msg, "not stored: no broker ack within the ack timeout") {
		t.Errorf("/readyz %d %q, want 503 saying the ack timeout", code, msg)
	}
	if got := testutil.ToFloat64(e.bridge.metrics.produceFailures.WithLabelValues("ack_timeout")); got != 1 {
		t.Errorf("produce_failures_total{reason=ack_timeout} = %v, want 1", got)
	}
}

// TestAgentEventKeyedBySubject: events that are not channel events (VCC's
// agent.presencechanged) go to the topic keyed by their subject; the
// processor ignores them.
func TestAgentEventKeyedBySubject(t *testing.T) {
	e := start(t, signedConfig(t))
	body := []byte(`{"specversion":"1.0","type":"agent.presencechanged.v0","id":"37pVScLzs9NiMIloFtNl4WYyfhE","source":"/agent","subject":"6561",` +
		`"datacontenttype":"application/json","data":{"agent":{"agentId":"6561","presence":"Available"},"timestamp":"2026-01-05T08:00:00.000Z"}}`)
	if code, msg := e.post(body, map[string]string{SignatureHeader: sign(t, testKey, body, time.Now())}); code != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", code, msg)
	}
	recs := e.read(testTopic)
	if len(recs) != 1 || string(recs[0].Key) != "6561" || !bytes.Equal(recs[0].Value, body) {
		t.Fatalf("records %v, want the body keyed 6561", recs)
	}
}

func TestUnsignedAllowed(t *testing.T) {
	e := start(t, Config{Mode: codec.Structured})
	if code, msg := e.post(genEvent(t, 0), nil); code != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", code, msg)
	}
}

func TestMethodHealthReady(t *testing.T) {
	e := start(t, signedConfig(t))
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, "/", http.StatusMethodNotAllowed},
		{http.MethodGet, "/healthz", http.StatusOK},
		{http.MethodGet, "/readyz", http.StatusOK},
		{http.MethodGet, "/metrics", http.StatusOK},
	} {
		req, _ := http.NewRequest(c.method, e.base+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s %s: %d (%s), want %d", c.method, c.path, resp.StatusCode, b, c.code)
		}
		if c.path == "/metrics" && !bytes.Contains(b, []byte("interruptions_ingest_requests_total")) {
			t.Errorf("/metrics lacks the ingest metrics")
		}
	}
}

func TestPosterRetriesUntilAccepted(t *testing.T) {
	var calls atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	p := &Poster{URL: "http://" + ln.Addr().String(), Key: testKey, MinBackoff: time.Millisecond}
	n, err := p.Post(context.Background(), genEvent(t, 0))
	if err != nil || n != 3 {
		t.Errorf("Post: %d attempts, %v; want 3, nil", n, err)
	}
}

func TestParseSecrets(t *testing.T) {
	keys, err := ParseSecrets("f", []byte("# current\nYqABRE18Vk2zfiVVMV7uag==\n\nbXlfc2VjcmV0X2tleQ\n"))
	if err != nil || len(keys) != 2 || string(keys[1]) != "my_secret_key" {
		t.Fatalf("keys %q, %v", keys, err)
	}
	if _, err := ParseSecrets("f", []byte("not base64!\n")); err == nil || strings.Contains(err.Error(), "not base64!") {
		t.Errorf("error %v: want one that does not show the secret", err)
	}
	if _, err := ParseSecrets("f", []byte("# nothing\n")); err == nil {
		t.Errorf("a file without secrets is accepted")
	}
}

// TestShutdownDrainsRequestInFlight: a request still sending its body when
// the bridge is told to stop is read to the end, produced and answered 200
// before Serve returns; new connections are refused.
func TestShutdownDrainsRequestInFlight(t *testing.T) {
	e := start(t, signedConfig(t))
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := genEvent(t, 0)
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s: %s\r\n\r\n",
		structuredType, len(body), SignatureHeader, sign(t, testKey, body, time.Now()))
	conn.Write(body[:10])
	waitUntil(t, "the request in flight", func() bool { return testutil.ToFloat64(e.bridge.metrics.inFlight) == 1 })
	stopped := make(chan error, 1)
	go func() { stopped <- e.stop() }()
	waitUntil(t, "readyz to say shutting down", func() bool { return e.bridge.ready(context.Background()) != nil })
	conn.Write(body[10:])
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the request in flight: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d, want 200", resp.StatusCode)
	}
	if err := <-stopped; err != nil {
		t.Errorf("serve: %v", err)
	}
	if n := e.count(testTopic); n != 1 {
		t.Errorf("%d records, want 1", n)
	}
	if _, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://")); err == nil {
		t.Errorf("a new connection was accepted after the shutdown")
	}
}

// waitUntil polls cond every 5ms for at most 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("waiting for %s: timed out", what)
		}
	}
}

// readyz GETs /readyz.
func (e *env) readyz() (int, string) {
	e.t.Helper()
	resp, err := http.Get(e.base + "/readyz")
	if err != nil {
		e.t.Fatalf("readyz: %v", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

// gauge is the value of the unlabelled gauge name in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// testClock is a clock a test moves.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestReadyzAfterFailedProduce: once the broker refuses a request's
// records, /readyz answers 503 with the cause and interruptions_ingest_ready
// is 0, also after the broker accepts again, until a produce succeeds; with
// no request to succeed, RecentFailure later the broker check decides.
func TestReadyzAfterFailedProduce(t *testing.T) {
	clock := &testClock{}
	clock.ns.Store(time.Now().UnixNano())
	cfg := signedConfig(t)
	cfg.Now = clock.now
	e := start(t, cfg)
	var failing atomic.Bool
	e.cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		if !failing.Load() {
			return nil, nil, false
		}
		return testkit.FailProduce(req.(*kmsg.ProduceRequest), kerr.TopicAuthorizationFailed.Code), nil, true
	})
	post := func(n, want int) {
		t.Helper()
		body := genEvent(t, n)
		if code, msg := e.post(body, map[string]string{SignatureHeader: sign(t, testKey, body, time.Now())}); code != want {
			t.Fatalf("request %d: %d (%s), want %d", n, code, msg, want)
		}
	}
	ready := func(want int, says string) {
		t.Helper()
		code, msg := e.readyz()
		if code != want || !strings.Contains(msg, says) {
			t.Fatalf("/readyz %d %q, want %d saying %q", code, msg, want, says)
		}
		if g, w := gauge(t, e.reg, "interruptions_ingest_ready"), float64(bool2int(want == http.StatusOK)); g != w {
			t.Fatalf("interruptions_ingest_ready %v, want %v", g, w)
		}
	}
	ready(http.StatusOK, "ready")
	post(0, http.StatusOK)

	failing.Store(true)
	post(1, http.StatusServiceUnavailable)
	ready(http.StatusServiceUnavailable, "TOPIC_AUTHORIZATION_FAILED")
	if got := testutil.ToFloat64(e.bridge.metrics.produceFailures.WithLabelValues("error")); got != 1 {
		t.Errorf("produce_failures_total{reason=error} = %v, want 1", got)
	}
	failing.Store(false)
	clock.advance(RecentFailure - time.Second)
	ready(http.StatusServiceUnavailable, "recent requests were not stored") // the broker is fine, nothing has been stored since
	post(2, http.StatusOK)
	ready(http.StatusOK, "ready")

	failing.Store(true)
	post(3, http.StatusServiceUnavailable)
	failing.Store(false)
	ready(http.StatusServiceUnavailable, "TOPIC_AUTHORIZATION_FAILED")
	clock.advance(RecentFailure)
	ready(http.StatusOK, "ready") // no request came: the broker check says it can store
	if n := e.count(testTopic); n != 2 {
		t.Errorf("%d records, want the 2 answered 200", n)
	}
}

func bool2int(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestProduceSucceededClearsOnlyEarlierFailures: a produce that began
// before the last failure and succeeds after it does not make the bridge
// ready; one that began after it does.
func TestProduceSucceededClearsOnlyEarlierFailures(t *testing.T) {
	clock := &testClock{}
	clock.ns.Store(time.Now().UnixNano())
	b := &Bridge{cfg: Config{Now: clock.now}}
	began := clock.now().UnixNano()
	clock.advance(time.Millisecond)
	b.produceFailed(errors.New("lost"))
	b.produceSucceeded(began)
	if b.failedAt.Load() == 0 {
		t.Fatal("a produce that began before the failure cleared it")
	}
	clock.advance(time.Millisecond)
	b.produceSucceeded(clock.now().UnixNano())
	if b.failedAt.Load() != 0 {
		t.Fatal("a produce that began after the failure did not clear it")
	}
}

// TestReadyzProbesTopics: a topic deleted while the bridge runs makes
// /readyz 503 naming it, with no request sent; recreated, 200 again.
func TestReadyzProbesTopics(t *testing.T) {
	e := start(t, signedConfig(t))
	adm := kadm.NewClient(e.cl)
	for _, topic := range []string{testDLQ, testTopic} {
		if _, err := adm.DeleteTopics(context.Background(), topic); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "/readyz 503 naming "+topic, func() bool {
			code, msg := e.readyz()
			return code == http.StatusServiceUnavailable && strings.Contains(msg, `"`+topic+`"`) && strings.Contains(msg, "UNKNOWN_TOPIC_OR_PARTITION")
		})
		if _, err := adm.CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "/readyz 200", func() bool { code, _ := e.readyz(); return code == http.StatusOK })
	}
}

// TestReadyzWriteNotAuthorized: a principal that may describe the topics
// but not write them is not ready (the broker's authorized operations
// say so); one that may write is.
func TestReadyzWriteNotAuthorized(t *testing.T) {
	acls := func(ops ...kmsg.ACLOperation) []kfake.ACL {
		var out []kfake.ACL
		for _, topic := range []string{testTopic, testDLQ} {
			for _, op := range ops {
				out = append(out, kfake.ACL{Resource: kmsg.ACLResourceTypeTopic, Name: topic, Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: op, Allow: true})
			}
		}
		return out
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, testTopic, testDLQ), kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser("PLAIN", "admin", "admin"),
		kfake.User("PLAIN", "reader", "reader", acls(kmsg.ACLOperationDescribe)...),
		kfake.User("PLAIN", "writer", "writer", acls(kmsg.ACLOperationDescribe, kmsg.ACLOperationWrite)...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	for user, want := range map[string]int{"reader": http.StatusServiceUnavailable, "writer": http.StatusOK} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.SASL(plain.Auth{User: user, Pass: user}.AsMechanism()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		cfg := signedConfig(t)
		cfg.Client, cfg.Topic, cfg.DLQTopic = cl, testTopic, testDLQ
		b, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = b.ready(context.Background())
		if code := bool2int(err == nil)*200 + bool2int(err != nil)*503; code != want ||
			err != nil && !strings.Contains(err.Error(), "TOPIC_AUTHORIZATION_FAILED") {
			t.Errorf("%s: ready %v, want %d", user, err, want)
		}
	}
}
