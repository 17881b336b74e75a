// Package webhook bridges Vonage Contact Center (VCC) webhook notifications
// to Kafka: an HTTP server that verifies each notification's
// Vonage-Signature, reads the CloudEvent through the sdk-go HTTP binding
// (structured, binary and batched content modes) and produces it to a
// topic keyed by data.channel.channelId, answering 2xx only once the broker
// has acknowledged it. Signed bodies that are not usable events go to a
// dead-letter topic byte for byte. It also holds the client side VCC plays
// (Sign, Poster), used by `interruptions gen --webhook` and the demo.
package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/opsserver"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	jsoniter "github.com/json-iterator/go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// Defaults of Config.
const (
	DefaultTopic             = "channel-events"
	DefaultDLQTopic          = "channel-events.dlq"
	DefaultPath              = "/"
	DefaultMaxBody           = 1 << 20
	DefaultMaxConcurrent     = 1024
	DefaultAckTimeout        = 5 * time.Second
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
	// DefaultGCPercent is the garbage collector target `ingest` sets by
	// default (Go's own is 100): the bridge allocates about 9 KB per
	// request, 90 MB/s at 10,000 requests/s, over a live heap of a few MB,
	// so with 100 it collects some 20 times a second. 400 costs about
	// 13 MiB more resident memory and measured 5-15 % less CPU per request
	// (BENCHMARKS.md).
	DefaultGCPercent = 400
	// DefaultLinger is the producer linger `ingest` uses by default.
	DefaultLinger = 0
)

// Media types the bridge reads.
const (
	structuredType = "application/cloudevents+json"
	batchType      = "application/cloudevents-batch+json"
)

// Headers the bridge adds to a dead-letter record, beside processor's
// dlq-reason, dlq-error and dlq-time: where the request came from.
const (
	HeaderDLQSource     = "dlq-source"           // "webhook"
	HeaderDLQMethod     = "dlq-http-method"      // POST
	HeaderDLQPath       = "dlq-http-path"        // the request's path
	HeaderDLQRemoteAddr = "dlq-http-remote-addr" // the peer's address
	HeaderDLQBatchIndex = "dlq-batch-index"      // element of a batch, from 0
	// HeaderDLQHTTPPrefix prefixes the request's Content-Type, User-Agent
	// and Ce-* headers, lower case: dlq-http-content-type, dlq-http-ce-id.
	HeaderDLQHTTPPrefix = "dlq-http-"
)

// Config configures a Bridge. Client, Topic and DLQTopic are required; zero
// durations and sizes take the defaults above.
type Config struct {
	// Client is the one franz-go client the bridge produces with
	// (idempotent, acks from all in-sync replicas: franz-go's defaults).
	// The caller creates and closes it; the bridge flushes it on shutdown.
	Client *kgo.Client
	// Topic receives the events, DLQTopic the unusable bodies.
	Topic, DLQTopic string
	// Mode is the content mode of the records: structured keeps a
	// structured request's body byte for byte.
	Mode codec.Mode
	// Verifier checks signatures; nil accepts unsigned requests
	// (--allow-unsigned).
	Verifier *Verifier
	// Path is where notifications are POSTed.
	Path string
	// MaxBody bounds a request body (413 above it).
	MaxBody int64
	// MaxConcurrent bounds the requests handled at once (503 above it).
	MaxConcurrent int
	// AckTimeout bounds the wait for the broker's acks (503 past it).
	AckTimeout time.Duration
	// ReadHeaderTimeout, ReadTimeout, IdleTimeout are the HTTP server's.
	ReadHeaderTimeout, ReadTimeout, IdleTimeout time.Duration
	// ShutdownTimeout bounds draining requests and flushing the producer.
	ShutdownTimeout time.Duration
	// Registry, when set, gets the bridge's metrics, served at /metrics.
	Registry *prometheus.Registry
	// Logger logs; nil: no logs.
	Logger *zap.Logger
	// Now is the clock of dlq-time headers and of RecentFailure; nil:
	// time.Now.
	Now func() time.Time
}

func (c *Config) defaults() error {
	switch {
	case c.Client == nil:
		return errors.New("webhook: no kafka client")
	case c.Topic == "" || c.DLQTopic == "":
		return errors.New("webhook: topic and dlq topic are required")
	}
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if !strings.HasPrefix(c.Path, "/") {
		return fmt.Errorf("webhook: path %q does not start with /", c.Path)
	}
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	set(&c.AckTimeout, DefaultAckTimeout)
	set(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	set(&c.ReadTimeout, DefaultReadTimeout)
	set(&c.IdleTimeout, DefaultIdleTimeout)
	set(&c.ShutdownTimeout, DefaultShutdownTimeout)
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Bridge is the webhook-to-Kafka bridge: an http.Handler and the server
// around it.
type Bridge struct {
	cfg      Config
	metrics  *Metrics
	slots    chan struct{}
	stopping atomic.Bool
	// structuredHeader is what the binding needs to read a structured
	// event: its content type. A body without Ce-* headers is read as a
	// structured event whatever its content type says (VCC sends
	// application/cloudevents+json). Read only.
	structuredHeader http.Header

	readyMu    sync.Mutex
	readyAt    time.Time
	readyErr   error
	readyCheck func(context.Context) error

	// failedAt is when (UnixNano) a request's records were last not
	// acknowledged, 0 once a produce that started later succeeded;
	// failErr is that failure.
	failedAt atomic.Int64
	failErr  atomic.Pointer[error]
	// readingSeen: a signature has verified under the secret's reading
	// (by index: decoded, text), logged once each.
	readingSeen [2]atomic.Bool
	// forgotAt is when (UnixNano) forgetTopic last purged a topic.
	forgotAt atomic.Int64
}

// New checks cfg and returns a Bridge.
func New(cfg Config) (*Bridge, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	b := &Bridge{cfg: cfg, slots: make(chan struct{}, cfg.MaxConcurrent),
		structuredHeader: http.Header{"Content-Type": {structuredType}}}
	b.readyCheck = b.probe
	if cfg.Registry != nil {
		b.metrics = NewMetrics(cfg.Registry)
		b.metrics.registerReady(cfg.Registry, func() bool { return b.ready(context.Background()) == nil })
	}
	return b, nil
}

// Handler serves the webhook at Config.Path, /healthz, /readyz and, when
// withMetrics and a Registry is set, /metrics.
func (b *Bridge) Handler(withMetrics bool) http.Handler {
	mux := http.NewServeMux()
	b.opsRoutes(mux, withMetrics)
	webhook := http.HandlerFunc(b.serveWebhook)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == b.cfg.Path {
			webhook(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// OpsHandler serves /healthz, /readyz and /metrics alone (for a separate
// metrics address).
func (b *Bridge) OpsHandler() http.Handler {
	return opsserver.Handler(b.readiness, b.cfg.Registry)
}

// opsRoutes registers the ops server's routes (opsserver.Routes) on mux:
// /healthz, /readyz and, when withMetrics, /metrics.
func (b *Bridge) opsRoutes(mux *http.ServeMux, withMetrics bool) {
	var reg *prometheus.Registry
	if withMetrics {
		reg = b.cfg.Registry
	}
	opsserver.Routes(mux, b.readiness, reg)
}

// readiness is ready as /readyz tells it.
func (b *Bridge) readiness(ctx context.Context) (bool, string) {
	if err := b.ready(ctx); err != nil {
		return false, err.Error()
	}
	return true, "topics writable, recent requests stored"
}

// readyCache is how long a broker check answers /readyz.
const readyCache = time.Second

// RecentFailure is how long a request whose records were not acknowledged
// keeps /readyz at 503 when no later produce has succeeded. Past it, the
// broker check alone decides again: a bridge taken out of a load balancer
// gets no request that could succeed, and must be able to come back.
const RecentFailure = 10 * time.Second

// ready is nil when the bridge can store a request now: it is not shutting
// down, no produce failed within RecentFailure without a later one
// succeeding, and the broker check (probe, cached for readyCache) passed.
func (b *Bridge) ready(ctx context.Context) error {
	if b.stopping.Load() {
		return errors.New("shutting down")
	}
	if at := b.failedAt.Load(); at != 0 && b.cfg.Now().Sub(time.Unix(0, at)) < RecentFailure {
		if p := b.failErr.Load(); p != nil {
			return fmt.Errorf("recent requests were not stored: %w", *p)
		}
	}
	b.readyMu.Lock()
	defer b.readyMu.Unlock()
	if time.Since(b.readyAt) < readyCache {
		return b.readyErr
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := b.readyCheck(pctx)
	b.readyAt, b.readyErr = time.Now(), err
	return err
}

// probe asks a broker, past the client's metadata cache, about the topic
// and the dead-letter topic: each must exist, have a partition with a
// leader and, when the broker reports authorized operations, allow WRITE.
func (b *Bridge) probe(ctx context.Context) error {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range []string{b.cfg.Topic, b.cfg.DLQTopic} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	req.IncludeTopicAuthorizedOperations = true
	resp, err := req.RequestWith(ctx, b.cfg.Client)
	if err != nil {
		return fmt.Errorf("broker unreachable: %w", err)
	}
	for _, t := range resp.Topics {
		name := kmsg.StringPtr("")
		if t.Topic != nil {
			name = t.Topic
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return fmt.Errorf("topic %q: %w", *name, err)
		}
		led := false
		for _, p := range t.Partitions {
			led = led || p.Leader >= 0
		}
		if !led {
			return fmt.Errorf("topic %q: no partition has a leader", *name)
		}
		// MinInt32: the broker did not say; otherwise bit 4 is WRITE.
		if ops := t.AuthorizedOperations; ops != math.MinInt32 && ops&(1<<int32(kmsg.ACLOperationWrite)) == 0 {
			return fmt.Errorf("topic %q: %w", *name, kerr.TopicAuthorizationFailed)
		}
	}
	return nil
}

// produceFailed records that a request's records were not acknowledged.
func (b *Bridge) produceFailed(err error) {
	b.failErr.Store(&err)
	b.failedAt.Store(b.cfg.Now().UnixNano())
}

// produceSucceeded clears a failure recorded before began (UnixNano, the
// Config.Now clock), when this successful produce began: a produce that
// started before the failure says nothing about now.
func (b *Bridge) produceSucceeded(began int64) {
	for {
		at := b.failedAt.Load()
		if at == 0 || at > began || b.failedAt.CompareAndSwap(at, 0) {
			return
		}
	}
}

// verified counts a signature by the secret reading that verified it, and
// logs each reading the first time it verifies: what VCC signs with is not
// documented, and this is how an operator learns it.
func (b *Bridge) verified(r SecretReading) {
	b.metrics.verified(r)
	i := 0
	if r == SecretText {
		i = 1
	}
	if !b.readingSeen[i].Load() && b.readingSeen[i].CompareAndSwap(false, true) {
		b.cfg.Logger.Info("a signature verified with this reading of the subscription secret as the HMAC key",
			zap.String("secretReading", string(r)), zap.String("meaning", map[SecretReading]string{
				SecretDecoded: "the base64-decoded bytes of the secret",
				SecretText:    "the text of the secret, not decoded",
			}[r]))
	}
}

// answer writes a short text answer and counts it.
func (b *Bridge) answer(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	io.WriteString(w, msg+"\n")
	b.metrics.request(code)
}

func (b *Bridge) serveWebhook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		b.answer(w, http.StatusMethodNotAllowed, "POST a CloudEvent")
		return
	}
	select {
	case b.slots <- struct{}{}:
		defer func() { <-b.slots }()
	default:
		w.Header().Set("Retry-After", "1")
		b.answer(w, http.StatusServiceUnavailable, "too many requests in flight")
		return
	}
	b.metrics.inFlightAdd(1)
	defer b.metrics.inFlightAdd(-1)

	body, code, err := b.readBody(w, r)
	if err != nil {
		b.cfg.Logger.Debug("request body not read", zap.Int("status", code), zap.Error(err))
		b.answer(w, code, err.Error())
		return
	}
	b.metrics.body(len(body))
	if v := b.cfg.Verifier; v != nil {
		reading, err := v.VerifySecret(r.Header.Get(SignatureHeader), body)
		if err != nil {
			b.metrics.signatureFailure(SignatureReason(err))
			b.cfg.Logger.Debug("signature refused", zap.String("remote", r.RemoteAddr), zap.Error(err))
			w.Header().Set("WWW-Authenticate", `Bearer realm="vcc-webhook"`)
			b.answer(w, http.StatusUnauthorized, "signature refused: "+SignatureReason(err))
			return
		}
		b.verified(reading)
	}
	recs, dead := b.records(body, r)
	if err := b.produce(r.Context(), recs); err != nil {
		b.cfg.Logger.Warn("records not acknowledged", zap.Int("records", len(recs)), zap.Error(err))
		w.Header().Set("Retry-After", "1")
		b.answer(w, http.StatusServiceUnavailable, "not stored: "+err.Error())
		return
	}
	b.metrics.produced(len(recs)-len(dead), len(dead))
	for _, reason := range dead {
		b.metrics.deadLetter(reason)
	}
	if len(dead) > 0 {
		b.answer(w, http.StatusOK, fmt.Sprintf("accepted; %d of %d to the dead-letter topic (%s)", len(dead), len(recs), strings.Join(dead, ",")))
		return
	}
	b.answer(w, http.StatusOK, "accepted")
}

// readBody reads the whole body, at most MaxBody bytes. On failure it
// returns the status to answer: 413 too large, 408 not read in time, 400.
func (b *Bridge) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	if r.ContentLength > b.cfg.MaxBody {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body of %d bytes is larger than %d", r.ContentLength, b.cfg.MaxBody)
	}
	rd := http.MaxBytesReader(w, r.Body, b.cfg.MaxBody)
	var (
		body []byte
		err  error
	)
	if r.ContentLength >= 0 {
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(rd, body)
	} else {
		body, err = io.ReadAll(rd)
	}
	var tooLarge *http.MaxBytesError
	var netErr net.Error
	switch {
	case err == nil:
		return body, 0, nil
	case errors.As(err, &tooLarge):
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body is larger than %d bytes", b.cfg.MaxBody)
	case errors.As(err, &netErr) && netErr.Timeout():
		return nil, http.StatusRequestTimeout, errors.New("body not received within the read timeout")
	default:
		return nil, http.StatusBadRequest, fmt.Errorf("read body: %w", err)
	}
}

// produce produces recs and waits for every ack, at most AckTimeout.
func (b *Bridge) produce(ctx context.Context, recs []*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	// The request's cancellation (a client that hangs up) does not stop a
	// produce; the ack timeout does, for records not yet sent.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.AckTimeout)
	defer cancel()
	start, began := time.Now(), b.cfg.Now().UnixNano()
	type ack struct {
		topic string
		err   error
	}
	done := make(chan ack, len(recs))
	for _, r := range recs {
		b.cfg.Client.Produce(pctx, r, func(r *kgo.Record, err error) { done <- ack{r.Topic, err} })
	}
	var errs []error
	for range recs {
		select {
		case a := <-done:
			if a.err != nil {
				errs = append(errs, a.err)
			}
			if errors.Is(a.err, kerr.UnknownTopicID) {
				b.forgetTopic(a.topic)
			}
		case <-pctx.Done():
			err := fmt.Errorf("no broker ack within the ack timeout of %s", b.cfg.AckTimeout)
			b.metrics.produceFailure("ack_timeout")
			b.produceFailed(err)
			return err
		}
	}
	if len(errs) > 0 {
		err := fmt.Errorf("produce: %w", errors.Join(errs...))
		b.metrics.produceFailure("error")
		b.produceFailed(err)
		return err
	}
	b.produceSucceeded(began)
	b.metrics.produceLatency(time.Since(start).Seconds())
	return nil
}

// forgetInterval is how often at most the producer forgets a topic.
const forgetInterval = time.Second

// forgetTopic makes the producer forget topic after a record of it failed
// with UNKNOWN_TOPIC_ID: the topic was deleted, and perhaps created again
// under a new id, which franz-go does not adopt by itself ("fails with
// UNKNOWN_TOPIC_ID until it is purged and re-added"). The next record
// looks the topic up afresh. Records of topic still buffered fail (their
// requests are answered 503); at most once per forgetInterval.
func (b *Bridge) forgetTopic(topic string) {
	now := time.Now().UnixNano()
	last := b.forgotAt.Load()
	if now-last < int64(forgetInterval) || !b.forgotAt.CompareAndSwap(last, now) {
		return
	}
	b.cfg.Logger.Warn("the broker does not know the topic's id: it was deleted, perhaps created again; the producer looks it up afresh",
		zap.String("topic", topic))
	b.cfg.Client.PurgeTopicsFromProducing(topic)
}

// records turns a verified body into records: events for Topic and, for
// what is not a usable event, dead letters for DLQTopic (their reasons in
// dead).
func (b *Bridge) records(body []byte, r *http.Request) (recs []*kgo.Record, dead []string) {
	if isBatch(r.Header.Get("Content-Type")) {
		var elems []json.RawMessage
		if err := json.Unmarshal(body, &elems); err != nil {
			de := &codec.DecodeError{Reason: codec.ReasonNotCloudEvent, Err: fmt.Errorf("read batch: %w", err)}
			return []*kgo.Record{b.deadLetter(body, r, de, -1)}, []string{string(de.Reason)}
		}
		for i, el := range elems {
			rec, de := b.structured(el)
			if de != nil {
				rec = b.deadLetter(el, r, de, i)
				dead = append(dead, string(de.Reason))
			}
			recs = append(recs, rec)
		}
		return recs, dead
	}
	var (
		rec *kgo.Record
		de  *codec.DecodeError
	)
	if r.Header.Get("Ce-Specversion") != "" {
		rec, de = b.binary(body, r.Header)
	} else {
		rec, de = b.structured(body)
	}
	if de != nil {
		return []*kgo.Record{b.deadLetter(body, r, de, -1)}, []string{string(de.Reason)}
	}
	return []*kgo.Record{rec}, nil
}

// isBatch reports whether a Content-Type is the batched JSON format.
func isBatch(ct string) bool {
	if !strings.Contains(ct, "batch") { // the common case, without parsing
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && strings.EqualFold(mt, batchType)
}

// structured reads one structured-mode event.
func (b *Bridge) structured(body []byte) (*kgo.Record, *codec.DecodeError) {
	ce, key, de := decode(cehttp.NewMessage(b.structuredHeader, io.NopCloser(bytes.NewReader(body))), body)
	if de != nil {
		return nil, de
	}
	if b.cfg.Mode == codec.Structured {
		return &kgo.Record{Topic: b.cfg.Topic, Key: key, Value: body,
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte(structuredType)}}}, nil
	}
	return b.encode(ce, key)
}

// binary reads one binary-mode event (attributes in Ce-* headers).
func (b *Bridge) binary(body []byte, h http.Header) (*kgo.Record, *codec.DecodeError) {
	ce, key, de := decode(cehttp.NewMessage(h, io.NopCloser(bytes.NewReader(body))), nil)
	if de != nil {
		return nil, de
	}
	return b.encode(ce, key)
}

func (b *Bridge) encode(ce *event.Event, key []byte) (*kgo.Record, *codec.DecodeError) {
	rec, err := cekafka.KafkaRecord(b.cfg.Topic, key, *ce, b.cfg.Mode)
	if err != nil {
		return nil, &codec.DecodeError{Reason: codec.ReasonInvalidCloudEvent, Err: err}
	}
	return rec, nil
}

// readChannelData reads data.channel.channelId from data, a JSON object,
// as encoding/json.Unmarshal would (FuzzReadChannelData holds it to that):
// one validity pass, then jsoniter's decoder configured as the standard
// library, cheaper than encoding/json's reflection.
func readChannelData(data []byte) (channelData, error) {
	var d channelData
	if err := codec.CheckJSONObject(data); err != nil {
		return d, err
	}
	err := jsoniter.ConfigCompatibleWithStandardLibrary.Unmarshal(data, &d)
	if err != nil || d.Channel != nil && !utf8.ValidString(d.Channel.ChannelID) {
		// jsoniter refuses some JSON encoding/json reads (numbers beyond
		// float64 in fields it skips), and keeps invalid UTF-8 as it
		// came where encoding/json turns each bad byte into U+FFFD. Data
		// it does not read cleanly is read encoding/json's way.
		d = channelData{}
		err = json.Unmarshal(data, &d)
	}
	return d, err
}

// channelData is the part of data the bridge reads: the key.
type channelData struct {
	Channel *struct {
		ChannelID string `json:"channelId"`
	} `json:"channel"`
}

// decode reads a message through the sdk-go binding and checks it is a
// usable event: CloudEvents 1.0, valid and, for channel events (type
// channel.*), data a JSON object with data.channel.channelId. It returns
// the Kafka key: the channelId, or for other events (agent.presencechanged,
// which the processor ignores) the subject, as VCC names the entity there.
func decode(msg binding.Message, body []byte) (*event.Event, []byte, *codec.DecodeError) {
	ce, err := toEvent(msg, body)
	if err != nil {
		return nil, nil, &codec.DecodeError{Reason: codec.ReasonNotCloudEvent, Err: fmt.Errorf("read cloudevent: %w", err)}
	}
	if v := ce.SpecVersion(); v != event.CloudEventsVersionV1 {
		return nil, nil, &codec.DecodeError{Reason: codec.ReasonSpecVersion, Err: fmt.Errorf("specversion %q, want %q", v, event.CloudEventsVersionV1)}
	}
	if err := ce.Validate(); err != nil {
		return nil, nil, &codec.DecodeError{Reason: codec.ReasonInvalidCloudEvent, Err: fmt.Errorf("validate: %w", err)}
	}
	channelEvent := vcc.IsChannelEvent(ce.Type())
	data := bytes.TrimSpace(ce.Data())
	if len(data) == 0 || data[0] != '{' {
		if !channelEvent {
			return ce, subjectKey(ce), nil
		}
		return nil, nil, &codec.DecodeError{Reason: codec.ReasonDataNotObject, Err: fmt.Errorf("type %q: data is not a JSON object", ce.Type())}
	}
	d, err := readChannelData(data)
	if err != nil {
		if !channelEvent {
			return ce, subjectKey(ce), nil
		}
		return nil, nil, &codec.DecodeError{Reason: codec.ReasonInvalidData, Err: fmt.Errorf("type %q: decode data: %w", ce.Type(), err)}
	}
	if d.Channel != nil && d.Channel.ChannelID != "" {
		if channelEvent && !codec.ValidChannelID(d.Channel.ChannelID) {
			return nil, nil, &codec.DecodeError{Reason: codec.ReasonInvalidChannelID, Err: fmt.Errorf(
				"type %q: data.channel.channelId %q has leading or trailing white space or a control character", ce.Type(), d.Channel.ChannelID)}
		}
		return ce, []byte(d.Channel.ChannelID), nil
	}
	if channelEvent {
		return nil, nil, &codec.DecodeError{Reason: codec.ReasonMissingChannelID, Err: fmt.Errorf("type %q: data.channel.channelId is missing or empty", ce.Type())}
	}
	return ce, subjectKey(ce), nil
}

// subjectKey is the key of an event that is not a channel event: its
// subject, or none.
func subjectKey(ce *event.Event) []byte {
	if s := ce.Subject(); s != "" {
		return []byte(s)
	}
	return nil
}

// deadLetter is the dead-letter record of a body (or batch element, index
// >= 0): the bytes as they came, the reason and where they came from.
func (b *Bridge) deadLetter(body []byte, r *http.Request, de *codec.DecodeError, index int) *kgo.Record {
	hs := []kgo.RecordHeader{
		{Key: cekafka.HeaderDLQReason, Value: []byte(de.Reason)},
		{Key: cekafka.HeaderDLQError, Value: []byte(de.Error())},
		{Key: cekafka.HeaderDLQTime, Value: []byte(b.cfg.Now().UTC().Format(time.RFC3339Nano))},
		{Key: HeaderDLQSource, Value: []byte("webhook")},
		{Key: HeaderDLQMethod, Value: []byte(r.Method)},
		{Key: HeaderDLQPath, Value: []byte(r.URL.Path)},
		{Key: HeaderDLQRemoteAddr, Value: []byte(r.RemoteAddr)},
	}
	if index >= 0 {
		hs = append(hs, kgo.RecordHeader{Key: HeaderDLQBatchIndex, Value: fmt.Appendf(nil, "%d", index)})
	}
	for name, vs := range r.Header {
		l := strings.ToLower(name)
		if l == "content-type" || l == "user-agent" || strings.HasPrefix(l, "ce-") {
			for _, v := range vs {
				hs = append(hs, kgo.RecordHeader{Key: HeaderDLQHTTPPrefix + l, Value: []byte(v)})
			}
		}
	}
	return &kgo.Record{Topic: b.cfg.DLQTopic, Value: body, Headers: hs}
}

// Serve serves the bridge on ln (with TLS when tlsCfg is set) and, when
// metricsLn is set, /metrics, /healthz and /readyz on it, until ctx ends.
// Then it stops accepting, drains the requests in flight and flushes the
// producer, all within ShutdownTimeout. It returns nil after a clean drain.
func (b *Bridge) Serve(ctx context.Context, ln net.Listener, tlsCfg *tls.Config, metricsLn net.Listener) error {
	errLog := zap.NewStdLog(b.cfg.Logger.Named("http"))
	srv := &http.Server{
		Handler:           b.Handler(metricsLn == nil),
		ReadHeaderTimeout: b.cfg.ReadHeaderTimeout,
		ReadTimeout:       b.cfg.ReadTimeout,
		// Long enough to read the body, wait for the acks and answer.
		WriteTimeout: b.cfg.ReadTimeout + b.cfg.AckTimeout + 5*time.Second,
		IdleTimeout:  b.cfg.IdleTimeout,
		TLSConfig:    tlsCfg,
		ErrorLog:     errLog,
	}
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var err error
		if tlsCfg != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		errc <- err
	}()
	if metricsLn != nil {
		msrv := &http.Server{Handler: b.OpsHandler(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: errLog}
		servers = append(servers, msrv)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- msrv.Serve(metricsLn)
		}()
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		serveErr = fmt.Errorf("http server: %w", err)
	}
	b.stopping.Store(true)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("drain requests: %w", err))
			_ = s.Close()
		}
	}
	wg.Wait()
	if err := b.cfg.Client.Flush(sctx); err != nil {
		errs = append(errs, fmt.Errorf("flush producer: %w", err))
	}
	if serveErr != nil {
		errs = append([]error{serveErr}, errs...)
	}
	if len(errs) > 0 {
		return fmt.Errorf("shutdown within %s: %w", b.cfg.ShutdownTimeout, errors.Join(errs...))
	}
	return nil
}
