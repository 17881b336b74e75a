package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/opsserver"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/webhook"
)

// ingestFlags are the settings of `interruptions ingest`.
type ingestFlags struct {
	brokers           listFlag
	topic, dlq        string
	mode              *enumFlag
	listen, path      string
	httpCert, httpKey string
	secretFiles       repeatedFlag
	allowUnsigned     bool
	ackTimeout        positiveDuration
	maxBody           byteSize
	maxConcurrent     int
	readHeaderTimeout positiveDuration
	readTimeout       positiveDuration
	idleTimeout       positiveDuration
	metricsAddr       string
	shutdownTimeout   positiveDuration
	startTimeout      positiveDuration
	linger            time.Duration
	logLevel          string
	pprofAddr         string
	gcPercent         int
	createTopics      bool
	partitions        int
	replicationFactor int
}

func (f *ingestFlags) register(c *command) {
	f.brokers = listFlag(processor.DefaultConfig().Brokers)
	f.mode = &enumFlag{value: "structured", allowed: []string{"structured", "binary"}}
	f.ackTimeout = positiveDuration(webhook.DefaultAckTimeout)
	f.maxBody = byteSize(webhook.DefaultMaxBody)
	f.readHeaderTimeout = positiveDuration(webhook.DefaultReadHeaderTimeout)
	f.readTimeout = positiveDuration(webhook.DefaultReadTimeout)
	f.idleTimeout = positiveDuration(webhook.DefaultIdleTimeout)
	f.shutdownTimeout = positiveDuration(webhook.DefaultShutdownTimeout)
	f.startTimeout = positiveDuration(processor.DefaultConfig().StartTimeout)
	c.fs.Var(&f.brokers, "brokers", "Kafka seed brokers, comma separated")
	c.fs.StringVar(&f.topic, "topic", webhook.DefaultTopic, "topic the accepted events are produced to, keyed by data.channel.channelId")
	c.fs.StringVar(&f.dlq, "dlq-topic", webhook.DefaultDLQTopic, "topic of signed bodies that are not usable events, byte for byte with the reason in headers")
	c.fs.Var(f.mode, "mode", "CloudEvents content mode of the records: structured (a structured request's body byte for byte) or binary")
	c.fs.StringVar(&f.listen, "listen", ":8080", "address of the webhook's HTTP server (also /healthz, /readyz and, without --metrics-addr, /metrics)")
	c.fs.StringVar(&f.path, "path", webhook.DefaultPath, "URL path VCC POSTs notifications to")
	c.fs.StringVar(&f.httpCert, "http-tls-cert-file", "", "PEM certificate (chain) of the webhook server: serve HTTPS; needs --http-tls-key-file. (--tls-cert-file is the broker client's)")
	c.fs.StringVar(&f.httpKey, "http-tls-key-file", "", "PEM private key of --http-tls-cert-file")
	c.fs.Var(&f.secretFiles, "signing-secret-file", "file of VCC subscription secrets, base64 as VCC gives them, one per line (# comments); repeat the flag or list files comma separated: any secret verifies (rotation)")
	c.fs.BoolVar(&f.allowUnsigned, "allow-unsigned", false, "accept notifications without verifying a signature (local use only; logs a warning)")
	c.fs.Var(&f.ackTimeout, "ack-timeout", "how long a request waits for the broker's acks before it is answered 503 (VCC waits 10s)")
	c.fs.Var(&f.maxBody, "max-body", "largest request body; larger ones are answered 413 (1MiB, 512KiB, bytes)")
	c.fs.IntVar(&f.maxConcurrent, "max-concurrent", webhook.DefaultMaxConcurrent, "requests handled at once; more are answered 503 with Retry-After")
	c.fs.Var(&f.readHeaderTimeout, "read-header-timeout", "time to read a request's headers")
	c.fs.Var(&f.readTimeout, "read-timeout", "time to read a whole request, body included (a slow body is answered 408 or cut off)")
	c.fs.Var(&f.idleTimeout, "idle-timeout", "how long an idle keep-alive connection stays open")
	c.fs.StringVar(&f.metricsAddr, "metrics-addr", "", "separate address for /metrics, /healthz and /readyz; empty: /metrics on --listen")
	c.fs.Var(&f.shutdownTimeout, "shutdown-timeout", "on SIGTERM or SIGINT, the time to answer the requests in flight and flush the producer")
	c.fs.Var(&f.startTimeout, "start-timeout", "how long to wait for unreachable brokers at start before failing")
	def := processor.DefaultConfig()
	c.fs.BoolVar(&f.createTopics, "create-topics", def.CreateTopics, "create the topic and dlq-topic when missing; when false a missing topic is an error")
	c.fs.IntVar(&f.partitions, "partitions", int(def.Partitions), "partitions of topics created by ingest")
	c.fs.IntVar(&f.replicationFactor, "replication-factor", int(def.ReplicationFactor), "replication factor of created topics; -1: the broker's default")
	c.fs.DurationVar(&f.linger, "linger", webhook.DefaultLinger, "how long the producer waits to fill a batch (0: send at once); longer batches cost the broker and the bridge less CPU per event and add at most this much latency")
	c.fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	c.fs.IntVar(&f.gcPercent, "gc-percent", webhook.DefaultGCPercent, "the Go garbage collector's target, as GOGC (which this replaces): the bridge's live heap is a few MB, so collecting less often costs tens of MB and saves CPU per request; 100 is Go's default, -1 turns the collector off")
	c.fs.StringVar(&f.pprofAddr, "pprof-addr", "", "address of an HTTP endpoint for Go's profiler (/debug/pprof/); empty (the default): off. Bind it to localhost or a private network: profiles show internals")
}

// verifier checks the signature settings and loads the secrets: nil with
// --allow-unsigned.
func (f *ingestFlags) verifier() (*webhook.Verifier, error) {
	switch {
	case f.allowUnsigned && len(f.secretFiles.items) > 0:
		return nil, usageError("allow-unsigned: set together with signing-secret-file; give one")
	case f.allowUnsigned:
		return nil, nil
	case len(f.secretFiles.items) == 0:
		return nil, usageError("signing-secret-file: required (VCC subscription secrets), or --allow-unsigned for local use")
	}
	secrets, err := webhook.LoadSecrets(f.secretFiles.items)
	if err != nil {
		return nil, usageError("signing-secret-file: %v", err)
	}
	v, err := webhook.NewSecretVerifier(secrets, webhook.DefaultLeeway, nil)
	if err != nil {
		return nil, usageError("signing-secret-file: %v", err)
	}
	return v, nil
}

// topicConfig holds --create-topics, --partitions and
// --replication-factor in a processor.Config, checked as `run` checks them.
func (f *ingestFlags) topicConfig() (processor.Config, error) {
	cfg := processor.DefaultConfig()
	cfg.CreateTopics = f.createTopics
	cfg.Partitions = int32(f.partitions)
	cfg.ReplicationFactor = int16(f.replicationFactor)
	if err := cfg.Validate(); err != nil {
		return cfg, usageError("%v", err)
	}
	return cfg, nil
}

// ensureIngestTopics checks that topics exist, creating the missing ones
// as `run` does (processor.EnsureTopics), within timeout. A topic that is
// missing and may not, or cannot, be created is an error naming it: ingest
// would otherwise accept requests it can never store.
func ensureIngestTopics(ctx context.Context, cl *kgo.Client, cfg processor.Config, timeout time.Duration, log *zap.Logger, topics ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := processor.EnsureTopics(ctx, kadm.NewClient(cl), cfg, log, topics...)
	var missing *processor.MissingTopicError
	if errors.As(err, &missing) {
		return fmt.Errorf("--create-topics is false: %w", err)
	}
	return err
}

func (f *ingestFlags) httpTLS() (*tls.Config, error) {
	switch {
	case f.httpCert == "" && f.httpKey == "":
		return nil, nil
	case f.httpKey == "":
		return nil, usageError("http-tls-key-file: required with --http-tls-cert-file")
	case f.httpCert == "":
		return nil, usageError("http-tls-cert-file: required with --http-tls-key-file")
	}
	cert, err := tls.LoadX509KeyPair(f.httpCert, f.httpKey)
	if err != nil {
		return nil, usageError("http-tls-cert-file, http-tls-key-file: %v", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

func cmdIngest(ctx context.Context, args []string, e env) error {
	c := newCommand("ingest", "Receive VCC webhook notifications (CloudEvents POSTed over HTTP, signed in the Vonage-Signature\nheader), verify them and produce each event to a Kafka topic; answer 2xx once the broker acked.")
	var f ingestFlags
	f.register(c)
	var sec securityFlags
	sec.register(c)
	if err := parseOrHelp(c, args, e); err != nil {
		return err
	}
	switch {
	case f.topic == "" || f.dlq == "":
		return usageError("topic, dlq-topic: must not be empty")
	case f.maxConcurrent <= 0:
		return usageError("max-concurrent: must be positive")
	case !strings.HasPrefix(f.path, "/"):
		return usageError("path: must start with /")
	case f.gcPercent < -1:
		return usageError("gc-percent: must be -1 (off) or more")
	case f.linger < 0 || f.linger > time.Second:
		return usageError("linger: must be between 0 and 1s")
	}
	topicCfg, err := f.topicConfig()
	if err != nil {
		return err
	}
	verifier, err := f.verifier()
	if err != nil {
		return err
	}
	tlsCfg, err := f.httpTLS()
	if err != nil {
		return err
	}
	secOpts, err := sec.clientOpts()
	if err != nil {
		return err
	}
	mode, _ := codec.ParseMode(f.mode.value)
	log, err := newLogger(f.logLevel, false, e.stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	debug.SetGCPercent(f.gcPercent)
	if verifier == nil {
		log.Warn("--allow-unsigned: notifications are accepted without a signature; anyone who can reach the server can write to the topic")
	}
	log.Info("broker connection", sec.logFields(f.brokers)...)

	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(f.brokers...), kgo.ProducerLinger(f.linger)}, secOpts...)...)
	if err != nil {
		return usageError("kafka client: %v", err)
	}
	defer cl.Close()
	if err := waitBrokers(ctx, cl, f.brokers, time.Duration(f.startTimeout), log); err != nil {
		return authError(err)
	}
	if err := ensureIngestTopics(ctx, cl, topicCfg, time.Duration(f.startTimeout), log, f.topic, f.dlq); err != nil {
		return authError(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	b, err := webhook.New(webhook.Config{
		Client: cl, Topic: f.topic, DLQTopic: f.dlq, Mode: mode, Verifier: verifier, Path: f.path,
		MaxBody: int64(f.maxBody), MaxConcurrent: f.maxConcurrent, AckTimeout: time.Duration(f.ackTimeout),
		ReadHeaderTimeout: time.Duration(f.readHeaderTimeout), ReadTimeout: time.Duration(f.readTimeout),
		IdleTimeout: time.Duration(f.idleTimeout), ShutdownTimeout: time.Duration(f.shutdownTimeout),
		Registry: reg, Logger: log,
	})
	if err != nil {
		return usageError("%v", err)
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var mln net.Listener
	if f.metricsAddr != "" {
		if mln, err = net.Listen("tcp", f.metricsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("metrics-addr: %w", err)
		}
		log.Info("serving /metrics, /healthz and /readyz", zap.Stringer("addr", mln.Addr()))
	}
	if f.pprofAddr != "" {
		stop, err := opsserver.ServePprof(f.pprofAddr, log)
		if err != nil {
			ln.Close()
			if mln != nil {
				mln.Close()
			}
			return err
		}
		defer stop()
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	log.Info("accepting VCC notifications", zap.String("url", scheme+"://"+ln.Addr().String()+f.path),
		zap.String("topic", f.topic), zap.String("dlqTopic", f.dlq), zap.Stringer("mode", mode),
		zap.Bool("signed", verifier != nil), zap.Int("signingSecretFiles", len(f.secretFiles.items)))
	if err := b.Serve(ctx, ln, tlsCfg, mln); err != nil {
		log.Error("ingest stopped", zap.Error(err))
		return err
	}
	log.Info("ingest stopped cleanly")
	return nil
}

// waitBrokers pings the brokers until one answers, with backoff, for at
// most timeout; authentication failures end it at once.
func waitBrokers(ctx context.Context, cl *kgo.Client, brokers []string, timeout time.Duration, log *zap.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	backoff := 100 * time.Millisecond
	for {
		err := cl.Ping(ctx)
		if err == nil {
			return nil
		}
		if processor.IsAuthenticationError(err) {
			return fmt.Errorf("brokers %s: %w", strings.Join(brokers, ","), err)
		}
		log.Warn("brokers unreachable, retrying", zap.Strings("brokers", brokers), zap.Error(err))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("brokers %s unreachable for %s: %w", strings.Join(brokers, ","), timeout, errors.Join(err, ctx.Err()))
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
