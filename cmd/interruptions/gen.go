package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/vccgen"
	"github.com/interruptions/interruptions/webhook"
)

func cmdGen(ctx context.Context, args []string, e env) error {
	c := newCommand("gen", "Generate realistic VCC channel CloudEvents (duplicates and out-of-order deliveries included):\nas NDJSON on stdout, produced to a Kafka topic when --brokers is set, or POSTed to a webhook\n(interruptions ingest) as VCC delivers them when --webhook is set.")
	var (
		events  int
		seed    int64
		brokers listFlag
		topic   string
		rate    float64
		badRate float64
		mode    = &enumFlag{value: "structured", allowed: []string{"structured", "binary"}}
		hook    string
		secrets repeatedFlag
		conc    int
	)
	c.fs.IntVar(&events, "events", 1000, "number of events; 0: until interrupted")
	c.fs.Int64Var(&seed, "seed", 1, "random seed; the same seed gives the same events")
	c.fs.Var(&brokers, "brokers", "produce to Kafka at these brokers instead of writing NDJSON to stdout")
	c.fs.StringVar(&topic, "topic", "channel-events", "topic to produce to")
	c.fs.Float64Var(&rate, "rate", 0, "events per second when producing or posting; 0: as fast as possible")
	c.fs.Float64Var(&badRate, "bad-rate", 0, "fraction of events replaced by malformed input (to exercise the dead-letter topic)")
	c.fs.Var(mode, "mode", "CloudEvents content mode when producing: structured or binary")
	c.fs.StringVar(&hook, "webhook", "", "POST each event to this URL as VCC does (one structured event per request, signed), retrying any non-2xx answer or timeout until accepted")
	c.fs.Var(&secrets, "signing-secret-file", "with --webhook: file of base64 subscription secrets (as for ingest); the first one signs")
	c.fs.IntVar(&conc, "concurrency", 8, "with --webhook: requests in flight at once")
	var sec securityFlags
	sec.register(c)
	if err := parseOrHelp(c, args, e); err != nil {
		return err
	}
	secOpts, err := sec.clientOpts()
	if err != nil {
		return err
	}
	switch {
	case events < 0:
		return usageError("events: must not be negative")
	case rate < 0:
		return usageError("rate: must not be negative")
	case badRate < 0 || badRate > 1:
		return usageError("bad-rate: must be between 0 and 1")
	case hook != "" && len(brokers) > 0:
		return usageError("webhook: set together with brokers; give one")
	case hook == "" && len(secrets.items) > 0:
		return usageError("signing-secret-file: only used with --webhook")
	case conc <= 0:
		return usageError("concurrency: must be positive")
	}
	src := newSource(seed, badRate)
	if hook != "" {
		if len(secrets.items) == 0 {
			return usageError("signing-secret-file: required with --webhook (VCC signs every notification)")
		}
		keys, err := webhook.LoadSecretFiles(secrets.items)
		if err != nil {
			return usageError("signing-secret-file: %v", err)
		}
		p := &webhook.Poster{URL: hook, Key: keys[0], Client: &http.Client{Transport: webhookTransport(conc)},
			OnFailure: failureReporter(e.stderr)}
		st, err := postEvents(ctx, p, events, rate, conc, src)
		fmt.Fprintf(e.stderr, "gen: %d events accepted by %s in %d requests (%d retried after a non-2xx answer or timeout)\n",
			st.accepted, hook, st.attempts, st.attempts-st.accepted)
		return err
	}
	if len(brokers) == 0 {
		w := bufio.NewWriterSize(e.stdout, 64<<10)
		for i := 0; events == 0 || i < events; i++ {
			if ctx.Err() != nil {
				break
			}
			ev := src.next()
			w.Write(ev.Value)
			if err := w.WriteByte('\n'); err != nil {
				return fmt.Errorf("write event %d: %w", i, err)
			}
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("write events: %w", err)
		}
		return nil
	}
	m, _ := codec.ParseMode(mode.value)
	return authError(produce(ctx, brokers, topic, m, events, rate, src, secOpts...))
}

// webhookTransport is an HTTP transport that keeps a connection per
// concurrent request alive.
func webhookTransport(conc int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = conc
	t.MaxIdleConns = max(conc, t.MaxIdleConns)
	return t
}

// failureReporter returns a Poster.OnFailure that writes a failed attempt
// to w at most once every 5 seconds (with how many failed meanwhile), so a
// bridge that refuses everything (a wrong secret) is visible without
// flooding the terminal.
func failureReporter(w io.Writer) func(int, error) {
	var (
		mu     sync.Mutex
		last   time.Time
		failed int
	)
	return func(_ int, err error) {
		mu.Lock()
		defer mu.Unlock()
		failed++
		if time.Since(last) < 5*time.Second {
			return
		}
		last = time.Now()
		fmt.Fprintf(w, "gen: %d failed attempts so far, retrying; last: %v\n", failed, err)
	}
}

// postStats counts what postEvents delivered.
type postStats struct {
	accepted, attempts int
}

// postEvents POSTs events (0: until ctx ends) through p with up to conc
// requests in flight, paced at rate per second when positive, each retried
// until accepted. The events of one key (channel) go through one worker,
// one after another in the generator's order (which already has VCC's
// duplicates and reordering), so what arrives per channel does not depend
// on timing. When ctx ends it stops handing out events and returns once
// the requests in flight gave up.
func postEvents(ctx context.Context, p *webhook.Poster, events int, rate float64, conc int, src *source) (postStats, error) {
	var (
		mu    sync.Mutex
		st    postStats
		first error
		wg    sync.WaitGroup
	)
	queues := make([]chan []byte, conc)
	for i := range queues {
		queues[i] = make(chan []byte, 64)
		wg.Add(1)
		go func(q <-chan []byte) {
			defer wg.Done()
			for body := range q {
				n, err := p.Post(ctx, body)
				mu.Lock()
				st.attempts += n
				if err == nil {
					st.accepted++
				} else if first == nil && ctx.Err() == nil {
					first = err
				}
				mu.Unlock()
			}
		}(queues[i])
	}
	start := time.Now()
	for i := 0; events == 0 || i < events; i++ {
		if rate > 0 {
			due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
				case <-t.C:
				}
				t.Stop()
			}
		}
		if ctx.Err() != nil {
			break
		}
		ev := src.next()
		select {
		case queues[codec.KeyPartition(ev.Key, conc)] <- ev.Value:
		case <-ctx.Done():
		}
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	if first != nil {
		return st, fmt.Errorf("post events: %w", first)
	}
	return st, nil
}

// source is the generator plus optional malformed input.
type source struct {
	gen     *vccgen.Generator
	rng     *rand.Rand
	badRate float64
}

func newSource(seed int64, badRate float64) *source {
	return &source{
		gen:     vccgen.New(vccgen.Config{Seed: seed}),
		rng:     rand.New(rand.NewPCG(uint64(seed), 0xbad)),
		badRate: badRate,
	}
}

func (s *source) next() vccgen.Event {
	ev := s.gen.Next()
	if s.badRate > 0 && s.rng.Float64() < s.badRate {
		ev.Value = malformed(ev.Value, s.rng.IntN(4))
	}
	return ev
}

// malformed returns one of a few kinds of bad input derived from a good
// event: cut JSON, a wrong specversion, no channelId, a bad timestamp.
func malformed(v []byte, kind int) []byte {
	switch kind {
	case 0:
		return append([]byte(nil), v[:len(v)/2]...)
	case 1:
		return []byte(replaceOnce(string(v), `"specversion":"1.0"`, `"specversion":"2.0"`))
	case 2:
		return []byte(replaceOnce(string(v), `"channelId":"`, `"channelRef":"`))
	default:
		return []byte(replaceOnce(string(v), `"timestamp":"`, `"timestamp":"yesterday `))
	}
}

func replaceOnce(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	return s
}

// produce sends events to a topic, paced at rate per second when positive,
// and waits for every ack.
// extra are more client options (TLS, SASL).
func produce(ctx context.Context, brokers []string, topic string, mode codec.Mode, events int, rate float64, src *source, extra ...kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ProducerLinger(5 * time.Millisecond)}, extra...)...)
	if err != nil {
		return fmt.Errorf("producer client: %w", err)
	}
	defer cl.Close()
	// The producer retries failed metadata loads forever, wrong
	// credentials included: check them first.
	if err := cl.Ping(ctx); processor.IsAuthenticationError(err) {
		return fmt.Errorf("brokers %s: %w", strings.Join(brokers, ","), err)
	}
	var (
		start   = time.Now()
		failed  error
		failedN int
	)
	for i := 0; events == 0 || i < events; i++ {
		if rate > 0 {
			due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(d):
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		ev := src.next()
		rec, err := inputRecord(topic, ev, mode)
		if err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil && !errors.Is(err, context.Canceled) {
				failedN++
				failed = err
			}
		})
	}
	if err := cl.Flush(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if failed != nil {
		return fmt.Errorf("%d events were not produced: %w", failedN, failed)
	}
	return nil
}

// inputRecord turns a generated event into a Kafka record in the given
// content mode. Malformed events that do not parse are sent as they are.
func inputRecord(topic string, ev vccgen.Event, mode codec.Mode) (*kgo.Record, error) {
	if mode == codec.Structured {
		return &kgo.Record{Topic: topic, Key: ev.Key, Value: ev.Value,
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/cloudevents+json")}}}, nil
	}
	ce, err := codec.ParseStructured(ev.Value)
	if err != nil {
		return &kgo.Record{Topic: topic, Key: ev.Key, Value: ev.Value}, nil
	}
	return cekafka.KafkaRecord(topic, ev.Key, ce, codec.Binary)
}
