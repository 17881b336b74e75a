package processor

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/state"
)

// queryEvent returns a handled event on channel ch at minute min of the
// test day.
func queryEvent(ch string, kind vcc.Kind, id string, min int) match.Event {
	typ := map[vcc.Kind]string{vcc.Interrupted: "channel.interrupted.v0", vcc.Resumed: "channel.resumed.v0", vcc.Ended: "channel.ended.v0"}[kind]
	at := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC).Add(time.Duration(min) * time.Minute).UnixNano()
	return match.Event{ID: id, Source: "/channel", Type: typ, Kind: kind, Subject: ch, Timestamp: at, HasTimestamp: true,
		ChannelID: ch, ConversationID: "conv-" + ch, InteractionID: "inter-" + ch, Party: vcc.Party{Role: "agent", AgentID: "1544"}}
}

// committedSnapshot is a store's committed state, copied through the
// changelog encoding: what the query must answer from.
type committedSnapshot struct {
	clock    int64
	channels map[string][]byte
}

func snapshotOf(st *state.Store) committedSnapshot {
	s := committedSnapshot{clock: st.StreamTime(), channels: map[string][]byte{}}
	st.Range(func(c *state.Channel) bool {
		s.channels[c.ID()] = state.AppendChannel(nil, c)
		return true
	})
	return s
}

// openScan is the reference: every channel of the snapshot described, the
// open interruptions at least olderThan old kept, sorted, cut to limit.
func openScan(t *testing.T, e *match.Engine, snap committedSnapshot, olderThan time.Duration, limit int) []OpenInterruption {
	t.Helper()
	st := state.New()
	for id, v := range snap.channels {
		c, err := state.DecodeChannel(v)
		if err != nil {
			t.Fatal(err)
		}
		st.Restore(id, c)
	}
	var out []OpenInterruption
	st.Range(func(c *state.Channel) bool {
		for _, d := range e.Describe(c, snap.clock).Derived {
			if d.Status == match.StatusOpen && snap.clock-d.InterruptedAt >= int64(olderThan) {
				out = append(out, OpenInterruption{Interruption: d.Interruption, Partition: 7, Clock: snap.clock})
			}
		}
		return true
	})
	slices.SortFunc(out, compareOpen)
	return out[:min(len(out), limit)]
}

// TestOpenOnAgainstFullScan: on random stores (many channels sharing
// start times, late events, closes, expiries, deletions) with an epoch in
// flight, rolled back or committed at random, the bounded walk answers
// what a scan of every committed channel answers, and visits at most
// limit + 1 channels.
func TestOpenOnAgainstFullScan(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			e := match.NewEngine(match.EngineConfig{MaxInterruption: 40 * time.Minute, Retention: 90 * time.Minute,
				Grace: time.Duration(rng.IntN(3)) * time.Minute})
			st := state.New()
			snap := snapshotOf(st)
			chans := 20 + rng.IntN(200)
			now := 0
			for step := range 3000 {
				ch := fmt.Sprintf("8a0c7e52-0000-4000-8000-%012d", rng.IntN(chans))
				if rng.IntN(4) == 0 {
					ch = fmt.Sprintf("ch-%d", rng.IntN(chans)) // ids that are not UUIDs
				}
				now += rng.IntN(2)
				kind := []vcc.Kind{vcc.Interrupted, vcc.Interrupted, vcc.Resumed, vcc.Ended}[rng.IntN(4)]
				ev := queryEvent(ch, kind, fmt.Sprint("e", step), now-rng.IntN(20))
				e.Process(st, &ev, func(match.Interruption) {})
				switch rng.IntN(10) {
				case 0, 1:
					st.Commit()
					snap = snapshotOf(st)
				case 2:
					st.Rollback()
				}
				if step%7 != 0 {
					continue
				}
				olderThan := time.Duration(rng.IntN(50)) * time.Minute
				limit := 1 + rng.IntN(12)
				got, visited := openOn(e, st, 7, olderThan, limit)
				want := openScan(t, e, snap, olderThan, limit)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("step %d, olderThan %s, limit %d:\n got %v\nwant %v", step, olderThan, limit, rows(got), rows(want))
				}
				if visited > limit+1 {
					t.Fatalf("step %d: visited %d channels for limit %d", step, visited, limit)
				}
			}
		})
	}
}

func rows(os []OpenInterruption) []string {
	var out []string
	for _, o := range os {
		out = append(out, fmt.Sprintf("%s@%d#%d", o.ChannelID, o.InterruptedAt, o.Revision))
	}
	return out
}

// TestOpenOnIsBounded: with 20,000 channels open on a partition, the walk
// visits exactly limit channels when that many qualify, and one more than
// it returns when fewer do (the first too young stops it), not the 20,000
// a scan would: and it answers from the committed state while an epoch
// closes half of them.
func TestOpenOnIsBounded(t *testing.T) {
	const open = 20_000
	e := match.NewEngine(match.EngineConfig{MaxInterruption: 24 * time.Hour, Retention: 48 * time.Hour})
	st := state.New()
	for i := range open {
		ch := fmt.Sprintf("8a0c7e52-0000-4000-8000-%012d", i)
		ev := queryEvent(ch, vcc.Interrupted, fmt.Sprint("i", i), i/100) // 100 channels a minute
		e.Process(st, &ev, func(match.Interruption) {})
	}
	st.Commit()
	// In flight: every even channel resumes. Not committed: not seen.
	for i := 0; i < open; i += 2 {
		ch := fmt.Sprintf("8a0c7e52-0000-4000-8000-%012d", i)
		ev := queryEvent(ch, vcc.Resumed, fmt.Sprint("r", i), open/100)
		e.Process(st, &ev, func(match.Interruption) {})
	}
	for _, tc := range []struct {
		olderThan      time.Duration
		limit          int
		found, visited int
	}{
		{0, 10, 10, 10},
		{0, 1000, 1000, 1000},
		// Clock 08:199 (the last interruption); open at least 197
		// minutes: the 300 channels of minutes 0 to 2, then the first
		// of minute 3 stops the walk.
		{197 * time.Minute, 1000, 300, 301},
		{197 * time.Minute, 300, 300, 300},
	} {
		got, visited := openOn(e, st, 0, tc.olderThan, tc.limit)
		if len(got) != tc.found || visited != tc.visited {
			t.Fatalf("olderThan %s limit %d: %d found, %d visited; want %d, %d", tc.olderThan, tc.limit, len(got), visited, tc.found, tc.visited)
		}
		for i, o := range got {
			if want := fmt.Sprintf("8a0c7e52-0000-4000-8000-%012d", i); o.ChannelID != want {
				t.Fatalf("olderThan %s limit %d: #%d is %s, want %s (oldest first, then by id, committed state)", tc.olderThan, tc.limit, i, o.ChannelID, want)
			}
		}
	}
}
