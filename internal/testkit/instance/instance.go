// Package instance runs processors in tests as `run` does: a
// processor.Runner on a broker with an HTTP endpoint over it, until the
// test ends. It is imported only by _test.go files outside package
// processor (it imports the processor).
package instance

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/processor"
)

// Instance is one running processor and its HTTP endpoint.
type Instance struct {
	R *processor.Runner
	// URL is the endpoint's base URL.
	URL string
}

// Config is processor.DefaultConfig on brokers with test times: commits
// every 20ms, a 6s session timeout and transaction timeout, no idle timeout.
func Config(brokers []string) processor.Config {
	cfg := processor.DefaultConfig()
	cfg.Brokers = brokers
	cfg.CommitInterval = 20 * time.Millisecond
	cfg.SessionTimeout = 6 * time.Second
	cfg.TransactionTimeout = 6 * time.Second // at most the session timeout
	cfg.IdleTimeout = 0
	return cfg
}

// Start runs a processor on cfg, with name as its transactional id, until
// the test ends, and serves handler(r) over real HTTP; a Run error fails
// the test.
func Start(t *testing.T, cfg processor.Config, name string, handler func(*processor.Runner) http.Handler) *Instance {
	t.Helper()
	cfg.TransactionalID = name
	r, err := processor.NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler(r))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
		srv.Close()
	})
	return &Instance{R: r, URL: srv.URL}
}

// Committed sums the input offsets the instance has committed on the
// partitions it owns.
func Committed(ins ...*Instance) int64 {
	var n int64
	for _, in := range ins {
		for _, p := range in.R.Status().Partitions {
			n += p.Committed
		}
	}
	return n
}

// WaitSplit waits up to 30s until a and b are both ready, each with some
// of the parts input partitions.
func WaitSplit(t *testing.T, a, b *Instance, parts int) {
	t.Helper()
	WaitFor(t, 30*time.Second, "both instances ready with the partitions split", func() bool {
		sa, sb := a.R.Status(), b.R.Status()
		return sa.Ready && sb.Ready && sa.Assigned > 0 && sb.Assigned > 0 && sa.Assigned+sb.Assigned == parts
	})
}

// WaitFor polls cond every 20ms until it holds, failing after d.
func WaitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.Poll(t, d, 20*time.Millisecond, what, nil, nil, func() (bool, string) { return cond(), "not yet" })
}
