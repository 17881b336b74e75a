// Package opsserver is the operational HTTP endpoint that `run` and
// `ingest` share: /healthz (the process lives), /readyz (whether it can
// do its work now, and why or why not), /metrics (Prometheus) and, on a
// server of its own, Go's profiler at /debug/pprof/.
package opsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Ready reports whether the process can do its work now and why: what it
// does when ready, what stops it when not. It is called for each /readyz
// request, with the request's context.
type Ready func(ctx context.Context) (ready bool, why string)

// Routes registers on mux /healthz (200 "ok"), /readyz (200 "ready: why"
// or 503 "not ready: why", from ready) and, when reg is not nil, /metrics
// (reg's metrics).
func Routes(mux *http.ServeMux, ready Ready, reg *prometheus.Registry) {
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ok, why := ready(r.Context())
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %s\n", why)
			return
		}
		fmt.Fprintf(w, "ready: %s\n", why)
	})
	if reg != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	}
}

// Handler is a new mux with Routes registered: more routes (the state API)
// can be added to it.
func Handler(ready Ready, reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	Routes(mux, ready, reg)
	return mux
}

// Pprof serves net/http/pprof on its own mux, not on
// http.DefaultServeMux.
func Pprof() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Serve serves h on addr (bound is the address it listens on) until the
// returned stop is called; stop shuts the server down (a second at most)
// and waits for its goroutine. setting names the flag in errors and logs.
func Serve(addr string, h http.Handler, setting string, log *zap.Logger) (bound net.Addr, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", setting, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP endpoint failed", zap.String("setting", setting), zap.Error(err))
		}
	}()
	return ln.Addr(), func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		<-done
	}, nil
}

// ServePprof serves Pprof on addr, the --pprof-addr of `run` and
// `ingest`, until the returned stop is called.
func ServePprof(addr string, log *zap.Logger) (stop func(), err error) {
	bound, stop, err := Serve(addr, Pprof(), "pprof-addr", log)
	if err != nil {
		return nil, err
	}
	log.Info("serving the Go profiler at /debug/pprof/", zap.Stringer("addr", bound))
	return stop, nil
}
