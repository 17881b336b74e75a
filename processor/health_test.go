package processor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// endResult is what a scriptedGuarantee's next end does.
type endResult struct {
	committed  bool
	records    int64 // records the unit produced
	err        error
	produceErr error // what take returns
}

// scriptedGuarantee ends each unit of work as its script says.
type scriptedGuarantee struct {
	guarantee // nil: only begin, commit and abort are called
	script    []endResult
}

func (g *scriptedGuarantee) begin() error { return nil }

func (g *scriptedGuarantee) commit(context.Context) outcome { return g.next() }

func (g *scriptedGuarantee) abort(context.Context, error) outcome { return g.next() }

func (g *scriptedGuarantee) next() outcome {
	r := g.script[0]
	g.script = g.script[1:]
	return outcome{committed: r.committed, err: r.err, refused: r.produceErr, records: r.records}
}

// TestHealthReadiness: the rule readiness follows, unit by unit. A failed
// end or a produce error makes it not ready at once, naming the error; a
// session's failure (the client rebuilt) keeps it not ready, with that
// error, until a unit that produced records commits (one that produced
// none clears it only emptyCommitRecovery after the failure); aborts
// without an error make it not ready from the third in a row; a commit
// clears everything.
func TestHealthReadiness(t *testing.T) {
	produceErr := errors.New("MESSAGE_TOO_LARGE")
	steps := []struct {
		end     *endResult // nil: the session ends with sessionErr instead
		ok      bool
		session error
		advance time.Duration // the clock moves this much before the step
		want    string        // "" ready; else a substring of the reason
	}{
		{end: &endResult{committed: true, records: 3}, ok: true, want: ""},
		{end: &endResult{produceErr: produceErr}, ok: true, want: "transaction aborted: MESSAGE_TOO_LARGE"},
		{end: &endResult{committed: true, records: 3}, ok: true, want: ""},
		{end: &endResult{err: errors.New("end transaction: INVALID_TXN_STATE")}, ok: true, want: "1 failed units of work and 0 client restarts since the last commit; the last error: end transaction: INVALID_TXN_STATE"},
		{session: errors.New("end transaction: INVALID_TXN_STATE"), want: "1 failed units of work and 1 client restarts since the last commit; the last error: client restarting after: end transaction: INVALID_TXN_STATE"},
		{end: &endResult{committed: true, records: 3}, ok: true, want: ""},
		// A poll failure: the unit aborts; the session's error says why.
		{end: &endResult{}, ok: false, want: ""},
		{session: errors.New("fetch: broken pipe"), want: "client restarting after: fetch: broken pipe"},
		{end: &endResult{committed: true, records: 3}, ok: true, want: ""},
		// A unit that committed no record (nothing polled in time) does
		// not clear a failure until emptyCommitRecovery after it: an idle
		// instance is ready again then.
		{end: &endResult{produceErr: produceErr}, ok: true, want: "transaction aborted: MESSAGE_TOO_LARGE"},
		{end: &endResult{committed: true}, ok: true, want: "transaction aborted: MESSAGE_TOO_LARGE"},
		{advance: emptyCommitRecovery - time.Millisecond, end: &endResult{committed: true}, ok: true, want: "transaction aborted: MESSAGE_TOO_LARGE"},
		{advance: time.Millisecond, end: &endResult{committed: true}, ok: true, want: ""},
		// Aborts without an error (rebalances): the third makes it not
		// ready; an empty commit between them clears them.
		{end: &endResult{}, ok: true, want: ""},
		{end: &endResult{committed: true}, ok: true, want: ""},
		{end: &endResult{}, ok: true, want: ""},
		{end: &endResult{}, ok: true, want: ""},
		{end: &endResult{}, ok: true, want: "not committing: the last 3 transactions aborted"},
		{end: &endResult{committed: true, records: 3}, ok: true, want: ""},
	}
	now := time.Unix(1_700_000_000, 0)
	h := health{now: func() time.Time { return now }}
	g := &scriptedGuarantee{}
	w := h.watch(g)
	for i, s := range steps {
		now = now.Add(s.advance)
		if s.end != nil {
			g.script = append(g.script, *s.end)
			if s.ok { // the loop commits; else the poll or a worker failed
				w.commit(context.Background())
			} else {
				w.abort(context.Background(), nil)
			}
		} else {
			h.sessionEnded(s.session)
		}
		got := h.notReady()
		if (s.want == "") != (got == "") || !strings.Contains(got, s.want) {
			t.Fatalf("step %d: notReady() = %q, want %q", i, got, s.want)
		}
	}
}
