package testkit

import (
	"testing"
	"time"
)

// Poll calls cond every interval until it holds; it fails the test after
// d, or once exited is closed (nil: never), saying exitedWhy() and cond's
// last answer. Tests wait with it instead of sleeping.
func Poll(t testing.TB, d, interval time.Duration, what string, exited <-chan struct{}, exitedWhy func() string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.After(d)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ok, last := cond()
		if ok {
			return
		}
		select {
		case <-exited:
			t.Fatalf("waiting for %s: %s; last: %s", what, exitedWhy(), last)
		case <-deadline:
			t.Fatalf("waiting for %s: not after %s; last: %s", what, d, last)
		case <-tick.C:
		}
	}
}
