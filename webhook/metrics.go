package webhook

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the bridge's Prometheus metrics, all named
// interruptions_ingest_*. Register them on a registry the caller owns
// (nothing goes to Prometheus' default registry).
type Metrics struct {
	requests          *prometheus.CounterVec
	events            *prometheus.CounterVec
	deadLetters       *prometheus.CounterVec
	signatureFailures *prometheus.CounterVec
	produceSeconds    prometheus.Histogram
	bodyBytes         prometheus.Histogram
	inFlight          prometheus.Gauge
	produceFailures   *prometheus.CounterVec
	signatures        *prometheus.CounterVec
	// ok and produced are the hot path's children, resolved once.
	ok, producedEvents prometheus.Counter
	// verifiedDecoded and verifiedText count signatures by secret reading.
	verifiedDecoded, verifiedText prometheus.Counter
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "interruptions", "ingest"
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Webhook requests answered, by HTTP status code."}, []string{"code"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "events_total",
			Help: "Events in signed requests the broker acknowledged: produced to the topic, or to the dead-letter topic."}, []string{"result"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dead_letters_total",
			Help: "Signed bodies (or batch elements) that were not usable events, sent to the dead-letter topic, by reason."}, []string{"reason"}),
		signatureFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "signature_failures_total",
			Help: "Requests refused with 401, by reason (missing, invalid, expired, payload_hash)."}, []string{"reason"}),
		produceSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "produce_seconds",
			Help:    "Time from handing a request's records to the producer to the broker's last ack.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		bodyBytes: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "request_body_bytes",
			Help:    "Size of webhook request bodies read in full.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 8)}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "requests_in_flight",
			Help: "Webhook requests being handled."}),
		produceFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "produce_failures_total",
			Help: "Requests answered 503 because the broker did not acknowledge their records, by reason (ack_timeout, error)."}, []string{"reason"}),
		signatures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "signatures_verified_total",
			Help: "Signatures that verified, by the reading of the subscription secret that was the HMAC key: base64 (its decoded bytes) or text (its characters)."}, []string{"secret_reading"}),
	}
	m.ok = m.requests.WithLabelValues("200")
	m.producedEvents = m.events.WithLabelValues("produced")
	for _, r := range []string{"ack_timeout", "error"} {
		m.produceFailures.WithLabelValues(r)
	}
	m.verifiedDecoded = m.signatures.WithLabelValues(string(SecretDecoded))
	m.verifiedText = m.signatures.WithLabelValues(string(SecretText))
	reg.MustRegister(m.requests, m.events, m.deadLetters, m.signatureFailures, m.produceSeconds, m.bodyBytes, m.inFlight,
		m.produceFailures, m.signatures)
	return m
}

// The nil-safe recorders below let the handler run without metrics.

func (m *Metrics) request(code int) {
	switch {
	case m == nil:
	case code == 200:
		m.ok.Inc()
	default:
		m.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	}
}

func (m *Metrics) produced(events, deadLetters int) {
	if m == nil {
		return
	}
	if events > 0 {
		m.producedEvents.Add(float64(events))
	}
	if deadLetters > 0 {
		m.events.WithLabelValues("dlq").Add(float64(deadLetters))
	}
}

func (m *Metrics) deadLetter(reason string) {
	if m != nil {
		m.deadLetters.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) signatureFailure(reason string) {
	if m != nil {
		m.signatureFailures.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) produceLatency(seconds float64) {
	if m != nil {
		m.produceSeconds.Observe(seconds)
	}
}

func (m *Metrics) body(n int) {
	if m != nil {
		m.bodyBytes.Observe(float64(n))
	}
}

func (m *Metrics) inFlightAdd(d float64) {
	if m != nil {
		m.inFlight.Add(d)
	}
}

// registerReady registers interruptions_ingest_ready, 1 when /readyz
// would answer 200, evaluated at each scrape.
func (m *Metrics) registerReady(reg prometheus.Registerer, ready func() bool) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "interruptions", Subsystem: "ingest", Name: "ready",
		Help: "1 when the bridge can store requests now (/readyz answers 200): the topics exist and are writable and recent produces succeeded; 0 otherwise."},
		func() float64 {
			if ready() {
				return 1
			}
			return 0
		}))
}

func (m *Metrics) produceFailure(reason string) {
	if m != nil {
		m.produceFailures.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) verified(r SecretReading) {
	switch {
	case m == nil:
	case r == SecretText:
		m.verifiedText.Inc()
	default:
		m.verifiedDecoded.Inc()
	}
}
