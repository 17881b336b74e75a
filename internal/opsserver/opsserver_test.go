package opsserver_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/interruptions/interruptions/internal/opsserver"
)

// get GETs url and returns the status, the content type and the body.
func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

type ctxKey struct{}

// TestRoutes: /healthz answers 200 ok; /readyz answers what Ready says,
// asked with the request's context, 200 "ready: why" or 503 "not ready:
// why"; /metrics serves the registry, and is absent without one.
func TestRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "opsserver_test_gauge", Help: "a gauge"})
	g.Set(42)
	reg.MustRegister(g)
	ready, why := false, "restoring the state of 2 of 6 assigned partitions"
	var sawRequestCtx bool
	mux := opsserver.Handler(func(ctx context.Context) (bool, string) {
		sawRequestCtx = ctx.Value(ctxKey{}) == "the request's"
		return ready, why
	}, reg)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.BaseContext = func(net.Listener) context.Context {
		return context.WithValue(context.Background(), ctxKey{}, "the request's")
	}
	srv.Start()
	defer srv.Close()
	const text = "text/plain; charset=utf-8"
	if code, ct, body := get(t, srv.URL+"/healthz"); code != 200 || ct != text || body != "ok\n" {
		t.Errorf("/healthz: %d %q %q", code, ct, body)
	}
	if code, ct, body := get(t, srv.URL+"/readyz"); code != 503 || ct != text || body != "not ready: restoring the state of 2 of 6 assigned partitions\n" || !sawRequestCtx {
		t.Errorf("/readyz not ready: %d %q %q, asked with the request's context: %v", code, ct, body, sawRequestCtx)
	}
	ready, why = true, "processing 6 partitions"
	if code, _, body := get(t, srv.URL+"/readyz"); code != 200 || body != "ready: processing 6 partitions\n" {
		t.Errorf("/readyz ready: %d %q", code, body)
	}
	if code, _, body := get(t, srv.URL+"/metrics"); code != 200 || !strings.Contains(body, "opsserver_test_gauge 42") {
		t.Errorf("/metrics: %d %q", code, body)
	}

	bare := httptest.NewServer(opsserver.Handler(func(context.Context) (bool, string) { return true, "x" }, nil))
	defer bare.Close()
	if code, _, _ := get(t, bare.URL+"/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics without a registry: %d, want 404", code)
	}
}

// TestServePprof: the profiler answers on its own server, without the
// ops routes, until stop.
func TestServePprof(t *testing.T) {
	addr, stop, err := opsserver.Serve("127.0.0.1:0", opsserver.Pprof(), "pprof-addr", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + addr.String() + "/debug/pprof/goroutine?debug=1"
	if code, _, body := get(t, url); code != http.StatusOK || !strings.Contains(body, "goroutine profile") {
		stop()
		t.Fatalf("GET %s: %d %.80q", url, code, body)
	}
	if code, _, _ := get(t, "http://"+addr.String()+"/healthz"); code != http.StatusNotFound {
		t.Errorf("/healthz on the profiler's server: %d, want 404", code)
	}
	stop()
	if _, err := http.Get(url); err == nil {
		t.Fatal("the profiler still answers after stop")
	}
}

// TestServeAddrInUse: an address already taken is an error naming the
// setting; a free one serves until stop.
func TestServeAddrInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := opsserver.ServePprof(ln.Addr().String(), zap.NewNop()); err == nil || !strings.HasPrefix(err.Error(), "pprof-addr: ") {
		t.Fatalf("ServePprof on a taken address: %v", err)
	}
	stop, err := opsserver.ServePprof("127.0.0.1:0", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	stop()
}
