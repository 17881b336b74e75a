package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// VCCTimeout is how long VCC waits for an answer before it counts a
// delivery as failed and retries.
const VCCTimeout = 10 * time.Second

// Poster delivers events the way VCC does: one structured CloudEvent per
// POST, signed with Key, retried on any non-2xx answer or timeout until it
// is accepted or ctx ends. It is safe for concurrent use.
type Poster struct {
	// Client sends the requests; nil: http.DefaultClient (each attempt is
	// bounded by Timeout all the same).
	Client *http.Client
	// URL is the webhook's address.
	URL string
	// Key signs each attempt (a fresh token each time); nil: unsigned.
	Key []byte
	// Timeout bounds one attempt; zero: VCCTimeout.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts, doubled
	// after each failure; zero: 50ms and 2s.
	MinBackoff, MaxBackoff time.Duration
	// Now is the clock of signatures; nil: time.Now.
	Now func() time.Time
	// OnFailure, when set, is called after each failed attempt (from the
	// goroutine that called Post).
	OnFailure func(attempt int, err error)
}

// Post delivers body until a 2xx answer. It returns the number of attempts
// and, when ctx ended first, an error wrapping the last failure.
func (p *Poster) Post(ctx context.Context, body []byte) (int, error) {
	cl := p.Client
	if cl == nil {
		cl = http.DefaultClient
	}
	timeout, backoff, maxBackoff := p.Timeout, p.MinBackoff, p.MaxBackoff
	if timeout <= 0 {
		timeout = VCCTimeout
	}
	if backoff <= 0 {
		backoff = 50 * time.Millisecond
	}
	if maxBackoff <= 0 {
		maxBackoff = 2 * time.Second
	}
	now := p.Now
	if now == nil {
		now = time.Now
	}
	var last error
	for attempt := 1; ; attempt++ {
		err := p.attempt(ctx, cl, body, timeout, now())
		if err == nil {
			return attempt, nil
		}
		last = err
		if p.OnFailure != nil && ctx.Err() == nil {
			p.OnFailure(attempt, err)
		}
		if ctx.Err() != nil {
			return attempt, fmt.Errorf("not accepted after %d attempts: %w (last: %w)", attempt, ctx.Err(), last)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempt, fmt.Errorf("not accepted after %d attempts: %w (last: %w)", attempt, ctx.Err(), last)
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// attempt is one POST; nil when answered 2xx.
func (p *Poster) attempt(ctx context.Context, cl *http.Client, body []byte, timeout time.Duration, now time.Time) error {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, p.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", structuredType)
	if p.Key != nil {
		sig, err := Sign(p.Key, body, now)
		if err != nil {
			return err
		}
		req.Header.Set(SignatureHeader, sig)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
