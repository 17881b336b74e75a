package processor

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// guarantee is what the two delivery guarantees do differently: how a unit
// of work begins, waits for its records' acknowledgements, commits and
// aborts. It owns the session's group client and its producer side, the
// record collector the tasks produce through. The loop (Runner.session,
// Runner.end) calls the steps in commit order,
//
//	begin → poll → (the tasks produce) → flushOutputs → (the tasks produce their changelog) → flush → commit
//
// and abort instead of the steps left when the poll, a worker or a flush
// fails. No step calls back into the loop.
type guarantee interface {
	// client is the group client.
	client() *kgo.Client
	// poll fetches input.
	poll(ctx context.Context, maxRecords int) kgo.Fetches
	// collector is the session's record collector: outputs, dead
	// letters and changelog records are produced through it.
	collector() *collector
	// transactional reports whether a unit of work that polled nothing
	// and advanced no clock is ended all the same: a transaction is (a
	// rebalance during it aborts it, and restored state may be due in
	// the changelog); at-least-once has nothing to acknowledge, write or
	// commit then.
	transactional() bool
	// begin starts a unit of work.
	begin() error
	// flushOutputs waits, where the guarantee needs it, until the
	// outputs and dead letters produced so far are acknowledged, before
	// the changelog (which holds the input offset) is produced.
	flushOutputs(ctx context.Context) error
	// flush waits until every record produced is acknowledged. A
	// *refusedError: records were refused, the unit of work must abort.
	flush(ctx context.Context) error
	// commit commits the unit of work.
	commit(ctx context.Context) outcome
	// abort ends the unit of work without committing it; cause is the
	// error of the flush that failed, nil when the poll or a worker did.
	abort(ctx context.Context, cause error) outcome
	// close closes the client; the loop has left the group.
	close()
}

// outcome is how a unit of work ended.
type outcome struct {
	// committed: the work is durable.
	committed bool
	// refused joins the errors of the records the brokers refused: the
	// unit of work aborted and is processed again on the same client.
	refused error
	// err ends the session: the client is torn down and built again (or
	// Run returns it, when fatal).
	err error
	// records is the number of records the unit of work produced.
	records int64
}

// exactlyOnce: franz-go's GroupTransactSession. Each transaction collects
// input for CommitInterval; outputs, dead letters, changelog records and
// offsets commit together. When a transaction aborts (a rebalance, a failed
// produce) every task returns to its last commit and the session rewinds
// to the committed offsets.
type exactlyOnce struct {
	sess *kgo.GroupTransactSession
	out  *collector
}

func newExactlyOnce(ctx context.Context, opts []kgo.Opt, cfg *Config) (*exactlyOnce, error) {
	sess, err := kgo.NewGroupTransactSession(append(opts,
		kgo.TransactionalID(cfg.TransactionalID),
		kgo.TransactionTimeout(cfg.TransactionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
	)...)
	if err != nil {
		return nil, fmt.Errorf("transact session: %w", err)
	}
	// Initialize the transactional producer now, as Kafka Streams does at
	// start (initTransactions): it fences the previous producer of this
	// transactional id (this process's last session after a broker outage,
	// or a restarted instance's predecessor) and aborts its open
	// transaction at once. Otherwise the restores, which wait until the
	// changelog and the group's offsets are stable, would wait for that
	// transaction's timeout, and nothing of this session produces before
	// they end.
	if _, _, err := sess.Client().ProducerID(ctx); err != nil {
		sess.Close()
		return nil, fmt.Errorf("initialize the transactional producer %s: %w", cfg.TransactionalID, err)
	}
	return &exactlyOnce{sess: sess, out: newCollector(ctx, sess.Client())}, nil
}

func (g *exactlyOnce) client() *kgo.Client { return g.sess.Client() }

func (g *exactlyOnce) poll(ctx context.Context, n int) kgo.Fetches { return g.sess.PollRecords(ctx, n) }

func (g *exactlyOnce) collector() *collector { return g.out }

func (g *exactlyOnce) transactional() bool { return true }

func (g *exactlyOnce) begin() error {
	if err := g.sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	return nil
}

// flushOutputs does nothing: outputs, dead letters and the changelog are
// one transaction, flushed together before the commit.
func (g *exactlyOnce) flushOutputs(context.Context) error { return nil }

// flush: every record must be acknowledged before the commit is tried: a
// record that failed (a non-retriable produce error) does not stop
// End(TryCommit), which would commit the rest of the transaction and its
// input offsets without it.
func (g *exactlyOnce) flush(ctx context.Context) error {
	err := g.out.flush(ctx)
	var refused *refusedError
	if err != nil && !errors.As(err, &refused) {
		return fmt.Errorf("end transaction: flush: %w", err)
	}
	return err
}

// commit commits the transaction. One that holds nothing (no record
// produced, no offset to commit: an idle unit of work, or a member with no
// partition yet) is ended as an abort and reported committed: franz-go
// cannot learn from an empty commit that the broker supports KIP-447, and
// then holds the session's revoke callback for 500 ms after it, so a new
// member with nothing assigned, ending empty transactions every
// CommitInterval, would rejoin a cooperative rebalance's second round up
// to 500 ms late, and every other member's commits wait for that round.
func (g *exactlyOnce) commit(ctx context.Context) outcome {
	if g.out.sent.Load() == 0 && len(g.sess.Client().UncommittedOffsets()) == 0 {
		o := g.end(ctx, kgo.TryAbort, nil)
		if o.err == nil && o.refused == nil {
			o.committed = true // nothing was in it
		}
		return o
	}
	return g.end(ctx, kgo.TryCommit, nil)
}

func (g *exactlyOnce) abort(ctx context.Context, cause error) outcome {
	var refused *refusedError
	switch {
	case cause == nil: // the poll or a worker failed
		return g.end(ctx, kgo.TryAbort, nil)
	case errors.As(cause, &refused):
		// The rest of the transaction must not commit without them.
		return g.end(ctx, kgo.TryAbort, refused.err)
	}
	// The flush was cut short: the session ends, and the transaction
	// with it.
	return outcome{err: cause}
}

// end ends the transaction; perr holds the errors of records refused
// before.
func (g *exactlyOnce) end(ctx context.Context, try kgo.TransactionEndTry, perr error) outcome {
	committed, endErr := g.sess.End(ctx, try)
	records := g.out.unit()
	// End flushed or aborted every record: all their promises have run.
	perr = errors.Join(perr, g.out.take())
	switch {
	case endErr != nil:
		return outcome{err: fmt.Errorf("end transaction: %w", endErr)}
	case perr != nil && errors.Is(perr, kerr.ProducerFenced):
		return outcome{err: fmt.Errorf("produce in transaction: %w", perr)}
	case perr != nil:
		// The transaction was aborted: processed again.
		return outcome{refused: perr}
	}
	return outcome{committed: committed, records: records}
}

func (g *exactlyOnce) close() { g.sess.Close() }

// atLeastOnce: poll for CommitInterval with rebalances blocked, the workers
// producing outputs and dead letters as they go; then wait for their acks,
// produce the changelog and wait for its acks, commit the offsets, and
// allow rebalancing. A crash between the steps repeats outputs with the
// same ids; it never loses one.
type atLeastOnce struct {
	cl  *kgo.Client
	out *collector
}

func newAtLeastOnce(ctx context.Context, opts []kgo.Opt) (*atLeastOnce, error) {
	cl, err := kgo.NewClient(append(opts, kgo.BlockRebalanceOnPoll())...)
	if err != nil {
		return nil, fmt.Errorf("consumer client: %w", err)
	}
	return &atLeastOnce{cl: cl, out: newCollector(ctx, cl)}, nil
}

func (g *atLeastOnce) client() *kgo.Client { return g.cl }

func (g *atLeastOnce) poll(ctx context.Context, n int) kgo.Fetches { return g.cl.PollRecords(ctx, n) }

func (g *atLeastOnce) collector() *collector { return g.out }

func (g *atLeastOnce) transactional() bool { return false }

func (g *atLeastOnce) begin() error { return nil }

func (g *atLeastOnce) flushOutputs(ctx context.Context) error {
	return g.flushKind(ctx, "output and dead-letter")
}

func (g *atLeastOnce) flush(ctx context.Context) error { return g.flushKind(ctx, "changelog") }

// flushKind waits until every record produced is acknowledged, and
// returns the errors of those of the named kind: a refused record ends the
// session.
func (g *atLeastOnce) flushKind(ctx context.Context, what string) error {
	err := g.out.flush(ctx)
	var refused *refusedError
	switch {
	case errors.As(err, &refused):
		return fmt.Errorf("produce %s records: %w", what, refused.err)
	case err != nil:
		return fmt.Errorf("flush %s records: %w", what, err)
	}
	return nil
}

// commit commits the offsets and allows rebalancing: rebalances wait for
// the end of the unit of work, so the partitions' state is settled and
// committed (or the session fails) before they can move.
func (g *atLeastOnce) commit(ctx context.Context) outcome {
	defer g.cl.AllowRebalance()
	records := g.out.unit()
	if err := g.cl.CommitUncommittedOffsets(ctx); err != nil {
		// The changelog holds the input offset: a restore skips what it
		// holds, so nothing is applied twice.
		return outcome{err: fmt.Errorf("commit offsets: %w", err)}
	}
	return outcome{committed: true, records: records}
}

// abort allows rebalancing; a flush's error ends the session.
func (g *atLeastOnce) abort(_ context.Context, cause error) outcome {
	g.cl.AllowRebalance()
	g.out.unit()
	return outcome{err: cause}
}

func (g *atLeastOnce) close() { g.cl.Close() }
