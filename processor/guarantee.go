package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// guarantee is what the two delivery guarantees do differently; the loop
// (Runner.session) does the rest: poll, dispatch to the tasks, settle,
// then end the unit of work here, then commit or roll back the tasks.
type guarantee interface {
	// client is the group client.
	client() *kgo.Client
	// poll fetches input.
	poll(ctx context.Context, maxRecords int) kgo.Fetches
	// produce sends one output, dead-letter or changelog record.
	produce(ctx context.Context, rec *kgo.Record, promise func(*kgo.Record, error))
	// begin starts a unit of work.
	begin() error
	// end ends the unit of work the loop settled: it commits when ok (the
	// workers and the poll had no error), else it aborts. changelog has
	// the tasks produce their changelog records, and take returns the
	// errors of every record produced; end calls them when its guarantee
	// needs them. committed reports whether the work is durable.
	end(ctx context.Context, ok bool, polled int, changelog func(), take func() error) (committed bool, err error)
	// close leaves the group within the shutdown budget and closes the
	// client.
	close(leave func(cl *kgo.Client))
}

// exactlyOnce: franz-go's GroupTransactSession. Each transaction collects
// input for CommitInterval; outputs, dead letters, changelog records and
// offsets commit together. When a transaction aborts (a rebalance, a failed
// produce) every task returns to its last commit and the session rewinds
// to the committed offsets.
type exactlyOnce struct{ sess *kgo.GroupTransactSession }

func newExactlyOnce(opts []kgo.Opt, cfg *Config) (*exactlyOnce, error) {
	sess, err := kgo.NewGroupTransactSession(append(opts,
		kgo.TransactionalID(cfg.TransactionalID),
		kgo.TransactionTimeout(30*time.Second),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
	)...)
	if err != nil {
		return nil, fmt.Errorf("transact session: %w", err)
	}
	return &exactlyOnce{sess: sess}, nil
}

func (g *exactlyOnce) client() *kgo.Client { return g.sess.Client() }

func (g *exactlyOnce) poll(ctx context.Context, n int) kgo.Fetches { return g.sess.PollRecords(ctx, n) }

func (g *exactlyOnce) produce(ctx context.Context, rec *kgo.Record, promise func(*kgo.Record, error)) {
	g.sess.Produce(ctx, rec, promise)
}

func (g *exactlyOnce) begin() error {
	if err := g.sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	return nil
}

func (g *exactlyOnce) end(ctx context.Context, ok bool, _ int, changelog func(), take func() error) (bool, error) {
	try := kgo.TryAbort
	var perr error
	if ok {
		changelog()
		// Every record must be acknowledged before the commit is
		// tried: a record that failed (a non-retriable produce error)
		// does not stop End(TryCommit), which would commit the rest
		// of the transaction and its input offsets without it.
		if err := g.sess.Client().Flush(ctx); err != nil {
			return false, fmt.Errorf("end transaction: flush: %w", err)
		}
		if perr = take(); perr == nil {
			try = kgo.TryCommit
		}
	}
	committed, endErr := g.sess.End(ctx, try)
	// End flushed or aborted every record: all their promises have run.
	perr = errors.Join(perr, take())
	switch {
	case endErr != nil:
		return false, fmt.Errorf("end transaction: %w", endErr)
	case perr != nil && errors.Is(perr, kerr.ProducerFenced):
		return false, fmt.Errorf("produce in transaction: %w", perr)
	case perr != nil:
		// The transaction was aborted: processed again.
		return false, nil
	}
	return committed, nil
}

func (g *exactlyOnce) close(leave func(*kgo.Client)) {
	// Leave within the shutdown budget: Close alone waits for the leave
	// as long as the broker takes.
	leave(g.sess.Client())
	g.sess.Close()
}

// atLeastOnce: poll for CommitInterval with rebalances blocked, the workers
// producing outputs and dead letters as they go; then wait for their acks,
// produce the changelog and wait for its acks, commit the offsets, and
// allow rebalancing. A crash between the steps repeats outputs with the
// same ids; it never loses one.
type atLeastOnce struct{ cl *kgo.Client }

func newAtLeastOnce(opts []kgo.Opt) (*atLeastOnce, error) {
	cl, err := kgo.NewClient(append(opts, kgo.BlockRebalanceOnPoll())...)
	if err != nil {
		return nil, fmt.Errorf("consumer client: %w", err)
	}
	return &atLeastOnce{cl: cl}, nil
}

func (g *atLeastOnce) client() *kgo.Client { return g.cl }

func (g *atLeastOnce) poll(ctx context.Context, n int) kgo.Fetches { return g.cl.PollRecords(ctx, n) }

func (g *atLeastOnce) produce(ctx context.Context, rec *kgo.Record, promise func(*kgo.Record, error)) {
	g.cl.Produce(ctx, rec, promise)
}

func (g *atLeastOnce) begin() error { return nil }

func (g *atLeastOnce) end(ctx context.Context, ok bool, polled int, changelog func(), take func() error) (bool, error) {
	// Rebalances wait for the end of the batch: the partitions' state is
	// settled and committed (or the session fails) before they can move.
	defer g.cl.AllowRebalance()
	if !ok {
		return false, nil
	}
	if polled == 0 {
		return true, nil
	}
	if err := g.flush(ctx, take, "output and dead-letter"); err != nil {
		return false, err
	}
	changelog()
	if err := g.flush(ctx, take, "changelog"); err != nil {
		return false, err
	}
	if err := g.cl.CommitUncommittedOffsets(ctx); err != nil {
		// The changelog holds the input offset: a restore skips what it
		// holds, so nothing is applied twice.
		return false, fmt.Errorf("commit offsets: %w", err)
	}
	return true, nil
}

// flush waits until every record produced is acknowledged, and returns the
// errors of those of the named kind.
func (g *atLeastOnce) flush(ctx context.Context, take func() error, what string) error {
	if err := g.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush %s records: %w", what, err)
	}
	if err := take(); err != nil {
		return fmt.Errorf("produce %s records: %w", what, err)
	}
	return nil
}

func (g *atLeastOnce) close(leave func(*kgo.Client)) {
	leave(g.cl)
	g.cl.Close()
}
