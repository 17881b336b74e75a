package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/interruptions/interruptions/internal/opsserver"
	"github.com/interruptions/interruptions/metrics"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/stateapi"
)

// opsFlags are run's operational settings: the HTTP endpoint for metrics
// and health checks, and the bound on a graceful shutdown.
type opsFlags struct {
	metricsAddr     string
	pprofAddr       string
	stateAPI        bool
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
	c.fs.BoolVar(&o.stateAPI, "state-api", true, "serve the read-only state API (/v1/channels/{id}, /v1/interruptions/open, /v1/phases/open, /v1/partitions) on --metrics-addr")
	c.fs.StringVar(&o.pprofAddr, "pprof-addr", "", "address of an HTTP endpoint for Go's profiler (/debug/pprof/); empty (the default): off. Bind it to localhost or a private network: profiles show internals")
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
	cfg.Hooks = append(cfg.Hooks, op.metrics)
	cfg.GroupClientOpts = append(cfg.GroupClientOpts, op.metrics.KafkaHooks())
	return op
}

// run runs r until ctx ends, serving the endpoint meanwhile. Once ctx has
// ended, r has --shutdown-timeout to return; past it (and a second of
// grace) run gives up with an error.
func (op *ops) run(ctx context.Context, r *processor.Runner, log *zap.Logger) error {
	if op.reg != nil {
		op.metrics.ObserveRunner(r.Status)
		addr, stop, err := opsserver.Serve(op.flags.metricsAddr, op.handler(r), "metrics-addr", log)
		if err != nil {
			return err
		}
		defer stop()
		log.Info("serving /metrics, /healthz and /readyz", zap.Stringer("addr", addr))
	}
	if op.flags.pprofAddr != "" {
		stop, err := opsserver.ServePprof(op.flags.pprofAddr, log)
		if err != nil {
			return err
		}
		defer stop()
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

// handler serves the endpoint: the ops server's /metrics, /healthz (the
// process is alive) and /readyz (200 only when the runner is ready, else
// 503 and why), and the state API unless --state-api=false.
func (op *ops) handler(r *processor.Runner) http.Handler {
	mux := opsserver.Handler(func(context.Context) (bool, string) { return r.Ready() }, op.reg)
	if op.flags.stateAPI {
		stateapi.Register(mux, r)
	}
	return mux
}
