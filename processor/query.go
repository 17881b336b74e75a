package processor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/state"
)

// The state API: read-only answers about the state this instance owns,
// from the last committed state (never the transaction in flight). A query
// runs on the partition's worker between two batches, so it never races
// with processing and costs processing one lookup; it waits at most for
// the batches queued before it.

// ChannelState is one channel as of its partition's last commit.
type ChannelState struct {
	ChannelID string
	// Partition holds the channel's state when Found; otherwise it is
	// the partition Kafka's default partitioner gives its id.
	Partition int32
	// Clock is the partition's stream time at its last commit.
	Clock int64
	// Found: the partition holds state for the channel, in its own
	// store or (with phase records on) in one of its phase stores.
	Found          bool
	ConversationID string
	InteractionID  string
	Party          vcc.Party
	// Description is the interruption matcher's view of the channel.
	match.Description
	// Phases, with phase records on (Config.PhasesTopic), are the phase
	// matchers' views, one per phase in the phase table's order
	// (match.Phases); nil with phase records off.
	Phases []PhaseState
	// Elsewhere, when not Found: where else the channel may be (see
	// Elsewhere).
	Elsewhere
}

// PhaseState is one phase of a channel as of its partition's last commit:
// the timeline of the phase's store, the periods derived from it with
// their status, and what was published. The interrupted phase has no
// store of its own: it is the interruption matcher's view, its periods
// the channel's interruptions renamed (Phase "interrupted"), and Clock
// the partition's.
type PhaseState struct {
	Phase string
	// Clock is the phase stores' stream time at the last commit (they
	// share one clock, which every channel event advances).
	Clock int64
	// Found: the phase's store holds state for the channel.
	Found bool
	match.Description
}

// Elsewhere names the input partitions this instance does not own, where
// a channel it has no state for may be when its producer did not use
// Kafka's default partitioner (librdkafka's default, CRC32, for one).
type Elsewhere struct {
	// Ask are the other members of the group with the input partitions
	// each owns.
	Ask []MemberPartitions
	// Unowned are the input partitions no member owns.
	Unowned []int32
}

// MemberPartitions is a group member and the input partitions it owns.
type MemberPartitions struct {
	MemberID, ClientID, Host string
	Partitions               []int32
}

// NotOwnedError answers a query for a channel whose partition (by Kafka's
// default partitioner) this instance does not own and for which none of
// its partitions holds state: the partition, the group member that owns
// it (empty when none does), and the members to ask.
type NotOwnedError struct {
	Partition int32
	// MemberID, ClientID and Host are the owner's, from the group's
	// description.
	MemberID, ClientID, Host string
	Elsewhere
}

func (e *NotOwnedError) Error() string {
	if e.MemberID == "" {
		return fmt.Sprintf("partition %d is not owned by any member of the group", e.Partition)
	}
	return fmt.Sprintf("partition %d is owned by member %s (client %s on %s)", e.Partition, e.MemberID, e.ClientID, e.Host)
}

// RestoringError answers a query for a partition whose state is still
// being restored.
type RestoringError struct {
	Partition int32
	// Restoring of Assigned partitions are still being restored.
	Restoring, Assigned int
}

func (e *RestoringError) Error() string {
	return fmt.Sprintf("partition %d is restoring its state (%d of %d assigned partitions restoring)", e.Partition, e.Restoring, e.Assigned)
}

// ErrNotRunning answers queries before Run has checked the topics.
var ErrNotRunning = errors.New("the processor is not running yet")

// errNotHere: the partition is neither assigned to this instance nor
// held by one of its tasks.
var errNotHere = errors.New("partition not owned here")

// PartitionOf returns the input partition of a channel: Kafka's default
// partitioner (murmur2) over its id, as producers that key events by
// channelId use.
func (r *Runner) PartitionOf(channelID string) (int32, error) {
	n := r.inputPartitions.Load()
	if n == 0 {
		return 0, ErrNotRunning
	}
	return int32(codec.KeyPartition([]byte(channelID), int(n))), nil
}

// query runs fn on partition p's worker and waits for it, or returns a
// *NotOwnedError or *RestoringError.
func (r *Runner) query(ctx context.Context, p int32, fn func(*task)) error {
	err := r.queryHere(ctx, p, fn)
	if errors.Is(err, errNotHere) {
		return r.notOwned(ctx, p, nil)
	}
	return err
}

// queryHere runs fn on partition p's worker and waits for it, or returns
// errNotHere or a *RestoringError.
func (r *Runner) queryHere(ctx context.Context, p int32, fn func(*task)) error {
	done, err := r.tm.query(ctx, p, fn)
	if err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		// The worker still runs fn later; fn writes only to its own
		// variables.
		return fmt.Errorf("query partition %d: %w", p, ctx.Err())
	}
}

// notOwned names the member that owns partition p, from the group's
// description, and the members that own the input partitions not in
// here (nil: this instance's, as taskManager.owned lists them).
func (r *Runner) notOwned(ctx context.Context, p int32, here []int32) error {
	e := &NotOwnedError{Partition: p}
	groups, ok := r.describeGroup(ctx)
	if !ok {
		return e
	}
	r.ownerOf(groups, p, e)
	if here == nil {
		here = r.tm.owned()
	}
	e.Elsewhere = r.elsewhere(groups, here)
	return e
}

// describeGroup describes the processor's consumer group; false when it
// cannot (not running yet, or the request failed).
func (r *Runner) describeGroup(ctx context.Context) (kadm.DescribedGroups, bool) {
	adm := r.adm.Load()
	if adm == nil {
		return nil, false
	}
	groups, err := adm.DescribeGroups(ctx, r.cfg.Group)
	if err != nil {
		return nil, false
	}
	return groups, true
}

// ownerOf sets e's owner to the member of groups assigned input
// partition p.
func (r *Runner) ownerOf(groups kadm.DescribedGroups, p int32, e *NotOwnedError) {
	for _, g := range groups {
		for _, mem := range g.Members {
			a, ok := mem.Assigned.AsConsumer()
			if !ok {
				continue
			}
			for _, tp := range a.Topics {
				if tp.Topic == r.cfg.InputTopic && slices.Contains(tp.Partitions, p) {
					e.MemberID, e.ClientID, e.Host = mem.MemberID, mem.ClientID, mem.ClientHost
					return
				}
			}
		}
	}
}

// elsewhere returns, from groups, the members assigned input partitions
// that are not in here, with those partitions, and the input partitions
// no member is assigned.
func (r *Runner) elsewhere(groups kadm.DescribedGroups, here []int32) Elsewhere {
	var out Elsewhere
	assigned := map[int32]bool{}
	for _, g := range groups {
		for _, mem := range g.Members {
			a, ok := mem.Assigned.AsConsumer()
			if !ok {
				continue
			}
			mp := MemberPartitions{MemberID: mem.MemberID, ClientID: mem.ClientID, Host: mem.ClientHost}
			for _, tp := range a.Topics {
				if tp.Topic != r.cfg.InputTopic {
					continue
				}
				for _, q := range tp.Partitions {
					assigned[q] = true
					if !slices.Contains(here, q) {
						mp.Partitions = append(mp.Partitions, q)
					}
				}
			}
			if len(mp.Partitions) > 0 {
				slices.Sort(mp.Partitions)
				out.Ask = append(out.Ask, mp)
			}
		}
	}
	slices.SortFunc(out.Ask, func(a, b MemberPartitions) int { return cmp.Compare(a.Partitions[0], b.Partitions[0]) })
	for q := range r.inputPartitions.Load() {
		if !assigned[q] && !slices.Contains(here, q) {
			out.Unowned = append(out.Unowned, q)
		}
	}
	return out
}

// Channel returns a channel's committed state: its timeline, the
// interruptions derived from it with their status and published revision,
// its retractions, when it will be deleted, and the partition clock.
//
// It looks first in the channel's partition by Kafka's default
// partitioner (murmur2), then in every other partition this instance
// owns, so that it finds channels whose producer used another partitioner
// (librdkafka's default is CRC32). Not found on any: when the murmur2
// partition is owned here, a ChannelState that is not Found, else a
// *NotOwnedError naming that partition's owner; both list the members
// that own the other partitions (Elsewhere). A *RestoringError when the
// channel was not found and one of the partitions is still restoring.
func (r *Runner) Channel(ctx context.Context, channelID string) (ChannelState, error) {
	p, err := r.PartitionOf(channelID)
	if err != nil {
		return ChannelState{}, err
	}
	look := func(cs *ChannelState) func(*task) {
		return func(t *task) {
			cs.Clock = t.store.CommittedStreamTime()
			c := t.store.Committed(channelID)
			if c != nil {
				cs.Found = true
				cs.ConversationID, cs.InteractionID, cs.Party = c.Identity()
				cs.Description = r.pipe.engine.Describe(c, cs.Clock)
			}
			if n := len(r.pipe.phases); n > 0 {
				channels, clocks := make([]*state.Channel, n), make([]int64, n)
				for i, st := range t.phases {
					channels[i], clocks[i] = st.Committed(channelID), st.CommittedStreamTime()
				}
				DescribePhases(cs, r.pipe.phases, channels, clocks)
			}
		}
	}
	cs := ChannelState{ChannelID: channelID, Partition: p}
	var restoring *RestoringError
	primary := r.queryHere(ctx, p, look(&cs))
	switch {
	case primary == nil && cs.Found:
		return cs, nil
	case primary != nil && !errors.Is(primary, errNotHere) && !errors.As(primary, &restoring):
		return cs, primary
	}
	here := r.tm.owned()
	for _, q := range here {
		if q == p {
			continue
		}
		other := ChannelState{ChannelID: channelID, Partition: q}
		err := r.queryHere(ctx, q, look(&other))
		var rerr *RestoringError
		switch {
		case err == nil && other.Found:
			return other, nil
		case errors.As(err, &rerr):
			if restoring == nil {
				restoring = rerr
			}
		case err != nil && !errors.Is(err, errNotHere): // errNotHere: revoked meanwhile
			return cs, err
		}
	}
	if restoring != nil {
		return cs, restoring
	}
	if errors.Is(primary, errNotHere) {
		return cs, r.notOwned(ctx, p, here)
	}
	if groups, ok := r.describeGroup(ctx); ok {
		cs.Elsewhere = r.elsewhere(groups, here)
	}
	return cs, nil
}

// DescribePhases sets cs.Phases, cs being set from the partition's own
// store: the phase engines (match.PhaseConfigs) describe the channel
// their stores hold (channels[i], nil when store i holds none) at their
// store's clock (clocks[i]), and the interrupted phase is cs's own
// description. A channel a phase store holds is Found even when the
// partition's own store does not hold it (a channel that only rang, say),
// and then takes its identity from there.
func DescribePhases(cs *ChannelState, engines []*match.Engine, channels []*state.Channel, clocks []int64) {
	own := cs.Found // the partition's own store holds the channel
	byName := map[string]PhaseState{}
	for i, e := range engines {
		ps := PhaseState{Phase: e.PhaseName(), Clock: clocks[i]}
		if c := channels[i]; c != nil {
			ps.Found = true
			ps.Description = e.Describe(c, ps.Clock)
			if !cs.Found {
				cs.Found = true
				cs.ConversationID, cs.InteractionID, cs.Party = c.Identity()
			}
		}
		byName[ps.Phase] = ps
	}
	interrupted := PhaseState{Phase: match.PhaseInterrupted, Clock: cs.Clock, Found: own, Description: cs.Description}
	interrupted.Derived = slices.Clone(cs.Derived)
	for i := range interrupted.Derived {
		interrupted.Derived[i].Phase = match.PhaseInterrupted
	}
	byName[match.PhaseInterrupted] = interrupted
	cs.Phases = cs.Phases[:0]
	for _, ph := range match.Phases() {
		if ps, ok := byName[ph.Name]; ok {
			cs.Phases = append(cs.Phases, ps)
		}
	}
}

// OpenInterruption is one interruption open on a partition this instance
// owns, as of the partition's last commit.
type OpenInterruption struct {
	match.Interruption
	Partition int32
	// Clock is the partition's stream time; the interruption has been
	// open Clock − InterruptedAt of event time.
	Clock int64
}

// OpenInterruptions returns up to limit interruptions open on this
// instance's partitions that have been open at least olderThan of event
// time (by their partition's clock), oldest first (ties by channel id).
//
// Each partition's worker walks its store's index of open channels
// (state.Store.RangeOpen: committed state, ordered by start) and stops
// after limit matches or at the first channel open for less than
// olderThan: it visits at most limit + 1 channels, whatever the number of
// channels or open interruptions it holds (see openOn for the one
// exception). The partitions' answers are merged and cut to limit. The
// index is kept by the store's commits, so it is the committed state, as
// the values read through it are.
func (r *Runner) OpenInterruptions(ctx context.Context, olderThan time.Duration, limit int) ([]OpenInterruption, error) {
	return r.openAcross(ctx, r.pipe.engine, func(t *task) *state.Store { return t.store }, olderThan, limit)
}

// openAcross runs openOn with engine e on the store store gives of each
// partition this instance holds, on its worker, and merges the answers:
// oldest first, cut to limit.
func (r *Runner) openAcross(ctx context.Context, e *match.Engine, store func(*task) *state.Store, olderThan time.Duration, limit int) ([]OpenInterruption, error) {
	var out []OpenInterruption
	for _, p := range r.tm.held() {
		var found []OpenInterruption
		err := r.query(ctx, p, func(t *task) {
			found, _ = openOn(e, store(t), p, olderThan, limit)
		})
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	slices.SortFunc(out, compareOpen)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// ErrUnknownPhase answers OpenPhases for a phase the runner does not
// derive: not in the phase table, or phase records off.
var ErrUnknownPhase = errors.New("no such phase: phase records are off (Config.PhasesTopic), or it is not in the phase table")

// OpenPhases is OpenInterruptions for the periods of one phase (with
// phase records on): up to limit periods of phase open on this
// instance's partitions for at least olderThan by their phase stores'
// clock, oldest first (ties by channel id), each as the record it becomes
// at its bound if nothing closes it. It walks each partition's phase
// store's index of open channels as OpenInterruptions walks the
// partition's own; the interrupted phase is OpenInterruptions renamed.
// ErrUnknownPhase when the runner does not derive phase.
func (r *Runner) OpenPhases(ctx context.Context, phase string, olderThan time.Duration, limit int) ([]OpenInterruption, error) {
	if len(r.pipe.phases) > 0 && phase == match.PhaseInterrupted {
		out, err := r.OpenInterruptions(ctx, olderThan, limit)
		for i := range out {
			out[i].Phase = match.PhaseInterrupted
		}
		return out, err
	}
	idx := slices.IndexFunc(r.pipe.phases, func(e *match.Engine) bool { return e.PhaseName() == phase })
	if idx < 0 {
		return nil, ErrUnknownPhase
	}
	return r.openAcross(ctx, r.pipe.phases[idx], func(t *task) *state.Store { return t.phases[idx] }, olderThan, limit)
}

// compareOpen orders open interruptions oldest first, then by channel id.
func compareOpen(a, b OpenInterruption) int {
	return cmp.Or(cmp.Compare(a.InterruptedAt, b.InterruptedAt), cmp.Compare(a.ChannelID, b.ChannelID))
}

// openOn returns up to limit interruptions open at least olderThan on the
// committed state of partition p's store, oldest first, and how many
// channels it visited to find them.
//
// It walks the store's open index in order and stops after limit matches,
// or at the first channel opened after clock − olderThan (every later one
// is younger): at most limit + 1 channels. The one exception is a channel
// the index lists as open (its summary says so) whose interruption the
// clock has passed the bound of: it is visited and does not match. The
// engine wakes a channel when the clock passes its open interruption's
// bound and records it as expired (held for --grace, or published) before
// the commit, so committed state holds none, except after a restore under
// a shorter --max-interruption, until those channels' next wake-up.
func openOn(e *match.Engine, st *state.Store, p int32, olderThan time.Duration, limit int) (found []OpenInterruption, visited int) {
	clock := st.CommittedStreamTime()
	cutoff := clock - int64(olderThan)
	if cutoff > clock { // wrapped below the smallest time
		cutoff = math.MinInt64
	}
	st.RangeOpen(func(c *state.Channel) bool {
		visited++
		if _, openAt, _ := c.Summary(); openAt > cutoff {
			return false
		}
		for _, d := range e.Describe(c, clock).Derived {
			if d.Status == match.StatusOpen && d.InterruptedAt <= cutoff {
				found = append(found, OpenInterruption{Interruption: d.Interruption, Partition: p, Clock: clock})
			}
		}
		return len(found) < limit
	})
	return found, visited
}
