package match

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/interruptions/interruptions/state"
)

// TestLongChannelsAgainstReference drives channels long enough for the
// engine's checkpoints and partial decisions (scope.go) through the
// reference model, step by step (compareWithReference: the same
// disposition and records at every event, with commits and rollbacks),
// with the engine's own check on (newTestEngine: every partial decision is
// compared with deciding the whole channel). Arrival orders: in order,
// late by up to a few dozen events, reversed stretches, and redeliveries
// and conflicting copies of earlier events.
func TestLongChannelsAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	kinds := []string{"i", "i", "i", "i", "r", "r", "r", "r", "e", "d"}
	for round := range rounds {
		cfg := configFromBytes(byte(rng.UintN(256)), byte(rng.UintN(256)), byte(rng.UintN(256)))
		var evs []Event
		for ch := range 1 + rng.IntN(2) {
			n := 100 + rng.IntN(250)
			ts := at("10:00")
			for i := range n {
				// Gaps from the same instant to beyond max-interruption.
				switch rng.IntN(10) {
				case 0:
				case 1:
					ts += int64(cfg.MaxInterruption) + int64(rng.IntN(60))*int64(time.Second)
				default:
					ts += int64(1+rng.IntN(90)) * int64(time.Second)
				}
				k := kinds[rng.IntN(len(kinds))]
				if rng.IntN(40) != 0 && (k == "e" || k == "d") {
					k = "r" // ends are rare: a channel ends once, mostly
				}
				e := evOn(fmt.Sprintf("ch-%d", ch), k, fmt.Sprintf("c%d-e%d", ch, i), "10:00")
				e.Timestamp = ts
				varyIdentity(&e, rng.IntN(20))
				evs = append(evs, e)
			}
		}
		slices.SortStableFunc(evs, func(a, b Event) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
		switch round % 3 {
		case 0: // late: shuffled within windows
			w := 2 + rng.IntN(40)
			for i := 0; i < len(evs); i += w {
				win := evs[i:min(i+w, len(evs))]
				rng.Shuffle(len(win), func(a, b int) { win[a], win[b] = win[b], win[a] })
			}
		case 1: // reversed stretches
			for i := 0; i < len(evs); {
				w := 1 + rng.IntN(80)
				slices.Reverse(evs[i:min(i+w, len(evs))])
				i += w
			}
		}
		for range rng.IntN(10) { // redeliveries and conflicting copies
			c := evs[rng.IntN(len(evs))]
			switch rng.IntN(3) {
			case 0:
				c.Timestamp -= int64(rng.IntN(120)) * int64(time.Second)
			case 1:
				k := evOn(c.ChannelID, kinds[rng.IntN(len(kinds))], c.ID, "10:00")
				c.Type, c.Kind = k.Type, k.Kind
			}
			evs = slices.Insert(evs, rng.IntN(len(evs)+1), c)
		}
		compareWithReference(t, cfg, evs, round%2 == 0)
		if t.Failed() {
			t.Fatalf("round %d, settings %+v", round, cfg)
		}
	}
}

// TestRestoredUnderOtherSettingsDecidedWhole: a channel restored from its
// changelog value under another --max-interruption (here 30m, written
// under 1h) is decided whole at its next event, not partially: the
// interruption that closed at 10:45 under 1h expired at 10:30 under 30m,
// and although the new event (11:00) is after that, its record is
// corrected.
func TestRestoredUnderOtherSettingsDecidedWhole(t *testing.T) {
	before := newTestEngine(EngineConfig{MaxInterruption: time.Hour, Retention: 48 * time.Hour})
	s := state.New()
	emit := func(Interruption) {}
	for _, x := range []Event{ev("i", "i1", "10:00"), ev("r", "r1", "10:45")} {
		before.Process(s, &x, emit)
	}
	s.Commit()
	value := state.AppendChannel(nil, s.Get(chA))

	after := newTestEngine(EngineConfig{MaxInterruption: 30 * time.Minute, Retention: 48 * time.Hour})
	r := state.New()
	c, err := state.DecodeChannel(value)
	if err != nil {
		t.Fatal(err)
	}
	r.Restore(chA, c)
	r.RestoreStreamTime(s.StreamTime())
	after.Restored(r)
	var out []string
	x := ev("i", "i2", "11:00")
	after.Process(r, &x, func(in Interruption) { out = append(out, row(in)) })
	want := row(Interruption{ChannelID: chA, Outcome: OutcomeExpired, InterruptedAt: at("10:00"), ClosedAt: at("10:30"),
		OpenedBy: state.Ref{Source: "/channel", ID: "i1", Type: "channel.interrupted.v0", At: at("10:00")}, Revision: 2})
	if !slices.Contains(out, want) {
		t.Errorf("records %q, want the correction %q", out, want)
	}
}

// TestCheckpointListSharing: a cpList made from a prefix of another and
// grown never changes the other, across block boundaries, and reads back
// what was added.
func TestCheckpointListSharing(t *testing.T) {
	var a cpList
	for i := range 3*cpBlock + 5 {
		a.add(checkpoint{pos: i})
	}
	for _, k := range []int{0, 1, cpBlock - 1, cpBlock, cpBlock + 1, 2*cpBlock + 7, 3*cpBlock + 5} {
		b := a.prefix(k)
		for i := range 2*cpBlock + 3 {
			b.add(checkpoint{pos: 10_000 + i})
		}
		c := b.prefix(k + 1) // a prefix of the grown list, grown again
		c.add(checkpoint{pos: 20_000})
		for i := range a.n {
			if a.at(i).pos != i {
				t.Fatalf("k=%d: the original's checkpoint %d changed to %d", k, i, a.at(i).pos)
			}
		}
		for i := range b.n {
			want := i
			if i >= k {
				want = 10_000 + i - k
			}
			if b.at(i).pos != want {
				t.Fatalf("k=%d: checkpoint %d of the grown list is %d, want %d", k, i, b.at(i).pos, want)
			}
		}
		if c.n != k+2 || c.at(k+1).pos != 20_000 || b.at(k+1).pos != 10_001 {
			t.Fatalf("k=%d: the second list's growth shows in the first, or is lost", k)
		}
	}
}
