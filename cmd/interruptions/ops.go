package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/interruptions/interruptions/metrics"
	"github.com/interruptions/interruptions/processor"
)

// opsFlags are run's operational settings: the HTTP endpoint for metrics
// and health checks, and the bound on a graceful shutdown.
type opsFlags struct {
	metricsAddr     string
	shutdownTimeout positiveDuration
}

// defaultMetricsAddr serves /metrics, /healthz and /readyz on every
// interface (docker-compose.yml and docker/prometheus/prometheus.yml use this port).
const defaultMetricsAddr = ":9464"

// shutdownGrace is how long past --shutdown-timeout the process waits for
// the runner before exiting anyway (with code 1).
const shutdownGrace = time.Second

func (o *opsFlags) register(c *command) {
	o.shutdownTimeout = positiveDuration(processor.DefaultConfig().ShutdownTimeout)
	c.fs.StringVar(&o.metricsAddr, "metrics-addr", defaultMetricsAddr, "address of the HTTP endpoint for /metrics (Prometheus), /healthz and /readyz; empty: no endpoint")
	c.fs.Var(&o.shutdownTimeout, "shutdown-timeout", "on SIGTERM or SIGINT, the time to finish and commit the batch in flight and leave the group; a second signal exits at once")
}

// ops is what opsFlags set up for one run.
type ops struct {
	flags   *opsFlags
	reg     *prometheus.Registry // nil: no endpoint
	metrics *metrics.Processor
}

// apply sets the shutdown timeout and, with an endpoint, the metrics hooks
// on cfg.
func (o *opsFlags) apply(cfg *processor.Config) *ops {
	cfg.ShutdownTimeout = time.Duration(o.shutdownTimeout)
	op := &ops{flags: o}
	if o.metricsAddr == "" {
		return op
	}
	op.reg = prometheus.NewRegistry()
	op.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	op.metrics = metrics.New(op.reg)
	cfg.Hooks = op.metrics.Hooks()
	cfg.GroupClientOpts = append(cfg.GroupClientOpts, op.metrics.KafkaHooks())
	return op
}

// run runs r until ctx ends, serving the endpoint meanwhile. Once ctx has
// ended, r has --shutdown-timeout to return; past it (and a second of
// grace) run gives up with an error.
func (op *ops) run(ctx context.Context, r *processor.Runner, log *zap.Logger) error {
	if op.reg != nil {
		op.metrics.ObserveRunner(r.Status)
		ln, err := net.Listen("tcp", op.flags.metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics-addr: %w", err)
		}
		srv := &http.Server{Handler: op.handler(r), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics endpoint failed", zap.Error(err))
			}
		}()
		log.Info("serving /metrics, /healthz and /readyz", zap.Stringer("addr", ln.Addr()))
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	timeout := time.Duration(op.flags.shutdownTimeout)
	timer := time.NewTimer(timeout + shutdownGrace)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("shutdown did not finish within the shutdown-timeout of %s", timeout)
	}
}

// handler serves the endpoint: /metrics, /healthz (the process is alive)
// and /readyz (200 only when the runner is ready, else 503 and why).
func (op *ops) handler(r *processor.Runner) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(op.reg, promhttp.HandlerOpts{Registry: op.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ready, reason := r.Ready()
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %s\n", reason)
			return
		}
		fmt.Fprintf(w, "ready: %s\n", reason)
	})
	return mux
}
