package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/processor"
)

func noEnv(string) string { return "" }

// parseOps parses run's flags from args and returns the operational part
// applied to a default config.
func parseOps(t *testing.T, args ...string) (*ops, processor.Config, error) {
	t.Helper()
	c := newCommand("run", "test")
	var f kafkaFlags
	f.register(c)
	var of opsFlags
	of.register(c)
	if err := c.parse(args, noEnv); err != nil {
		return nil, processor.Config{}, err
	}
	cfg := processor.DefaultConfig()
	return of.apply(&cfg), cfg, nil
}

func TestOpsFlags(t *testing.T) {
	op, cfg, err := parseOps(t)
	if err != nil {
		t.Fatal(err)
	}
	if op.flags.metricsAddr != ":9464" || cfg.ShutdownTimeout != 30*time.Second || op.reg == nil ||
		len(cfg.GroupClientOpts) != 1 || len(cfg.Hooks) != 1 {
		t.Errorf("defaults: addr %q, shutdown %s, registry %v, group opts %d", op.flags.metricsAddr, cfg.ShutdownTimeout, op.reg != nil, len(cfg.GroupClientOpts))
	}
	op, cfg, err = parseOps(t, "--metrics-addr", "", "--shutdown-timeout", "5s")
	if err != nil {
		t.Fatal(err)
	}
	if op.reg != nil || len(cfg.Hooks) != 0 || len(cfg.GroupClientOpts) != 0 || cfg.ShutdownTimeout != 5*time.Second {
		t.Errorf("no endpoint: registry %v, hooks set %v, shutdown %s", op.reg != nil, len(cfg.Hooks) != 0, cfg.ShutdownTimeout)
	}
	if _, _, err := parseOps(t, "--shutdown-timeout", "0s"); err == nil || !strings.Contains(err.Error(), "shutdown-timeout") {
		t.Errorf("--shutdown-timeout 0s: %v", err)
	}
}

// TestOpsEndpoint serves the endpoint of a runner that was not started:
// alive, not ready, and metrics to scrape.
func TestOpsEndpoint(t *testing.T) {
	op, cfg, err := parseOps(t)
	if err != nil {
		t.Fatal(err)
	}
	r, err := processor.NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	op.metrics.ObserveRunner(r.Status)
	srv := httptest.NewServer(op.handler(r))
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 503 || body != "not ready: not started\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	code, body := get("/metrics")
	for _, want := range []string{"interruptions_ready 0", `interruptions_input_events_total{result="processed",type="interrupted"} 0`,
		"interruptions_transactions_total", "go_goroutines", "process_cpu_seconds_total"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %q", code, want)
		}
	}
}

// TestRunMetricsAddrInUse: a port already taken fails `run` at once, with
// exit code 1 and the setting named.
func TestRunMetricsAddrInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	code := runMain(ctx, []string{"run", "--brokers", "127.0.0.1:1", "--metrics-addr", ln.Addr().String()},
		env{stdout: io.Discard, stderr: &stderr, getenv: noEnv})
	if code != 1 || !strings.Contains(stderr.String(), "metrics-addr") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

// TestPprofFlag: --pprof-addr is off by default and takes an address
// (the profiler's server: internal/opsserver's TestServePprof).
func TestPprofFlag(t *testing.T) {
	op, _, err := parseOps(t)
	if err != nil {
		t.Fatal(err)
	}
	if op.flags.pprofAddr != "" {
		t.Fatalf("--pprof-addr defaults to %q, want off", op.flags.pprofAddr)
	}
	op, _, err = parseOps(t, "--pprof-addr", "127.0.0.1:0")
	if err != nil || op.flags.pprofAddr != "127.0.0.1:0" {
		t.Fatalf("--pprof-addr: %q, %v", op.flags.pprofAddr, err)
	}
}
