package processor

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// endResult is what a scriptedGuarantee's next end does.
type endResult struct {
	committed  bool
	err        error
	produceErr error // what take returns
}

// scriptedGuarantee ends each unit of work as its script says.
type scriptedGuarantee struct {
	guarantee // nil: only begin and end are called
	script    []endResult
}

func (g *scriptedGuarantee) begin() error { return nil }

func (g *scriptedGuarantee) end(_ context.Context, ok bool, _ int, _ func(), take func() error) (bool, error) {
	r := g.script[0]
	g.script = g.script[1:]
	if take != nil {
		_ = take()
	}
	return r.committed, r.err
}

// TestHealthReadiness: the rule readiness follows, unit by unit. A failed
// end or a produce error makes it not ready at once, naming the error; a
// session's failure (the client rebuilt) keeps it not ready, with that
// error, until a unit commits; aborts without an error make it not ready
// from the third in a row; a commit clears everything.
func TestHealthReadiness(t *testing.T) {
	produceErr := errors.New("MESSAGE_TOO_LARGE")
	steps := []struct {
		end     *endResult // nil: the session ends with sessionErr instead
		ok      bool
		session error
		want    string // "" ready; else a substring of the reason
	}{
		{end: &endResult{committed: true}, ok: true, want: ""},
		{end: &endResult{produceErr: produceErr}, ok: true, want: "transaction aborted: MESSAGE_TOO_LARGE"},
		{end: &endResult{committed: true}, ok: true, want: ""},
		{end: &endResult{err: errors.New("end transaction: INVALID_TXN_STATE")}, ok: true, want: "1 failed units of work and 0 client restarts since the last commit; the last error: end transaction: INVALID_TXN_STATE"},
		{session: errors.New("end transaction: INVALID_TXN_STATE"), want: "1 failed units of work and 1 client restarts since the last commit; the last error: client restarting after: end transaction: INVALID_TXN_STATE"},
		{end: &endResult{committed: true}, ok: true, want: ""},
		// A poll failure: the unit aborts; the session's error says why.
		{end: &endResult{}, ok: false, want: ""},
		{session: errors.New("fetch: broken pipe"), want: "client restarting after: fetch: broken pipe"},
		{end: &endResult{committed: true}, ok: true, want: ""},
		// Aborts without an error (rebalances): the third makes it not ready.
		{end: &endResult{}, ok: true, want: ""},
		{end: &endResult{}, ok: true, want: ""},
		{end: &endResult{}, ok: true, want: "not committing: the last 3 transactions aborted"},
		{end: &endResult{committed: true}, ok: true, want: ""},
	}
	var h health
	g := &scriptedGuarantee{}
	w := h.watch(g)
	for i, s := range steps {
		if s.end != nil {
			g.script = append(g.script, *s.end)
			pe := s.end.produceErr
			_, _ = w.end(context.Background(), s.ok, 1, func() {}, func() error { return pe })
		} else {
			h.sessionEnded(s.session)
		}
		got := h.notReady()
		if (s.want == "") != (got == "") || !strings.Contains(got, s.want) {
			t.Fatalf("step %d: notReady() = %q, want %q", i, got, s.want)
		}
	}
}
