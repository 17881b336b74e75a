package state_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/state"
)

// TestPhaseStoresShareTheChangelog writes a partition's store and two
// phase stores (long channels among them, so segment records too) into one
// changelog, loads it with phase loaders, and checks each store comes back
// whole, each in its own store: channels encode to the bytes written,
// stream times, the input offset. A loader without phase loaders (phases
// turned off) loads the partition's store alone and skips the rest; a
// phase key never names a channel (ChannelOfKey).
func TestPhaseStoresShareTheChangelog(t *testing.T) {
	cfgs := match.PhaseConfigs(match.EngineConfig{MaxInterruption: time.Hour, Retention: 2 * time.Hour}, nil)
	main := match.NewEngine(match.EngineConfig{MaxInterruption: time.Hour, Retention: 2 * time.Hour})
	held, connected := match.NewEngine(cfgs[2]), match.NewEngine(cfgs[1])
	if held.PhaseName() != match.PhaseHeld || connected.PhaseName() != match.PhaseConnected {
		t.Fatalf("phase configs in another order: %s, %s", held.PhaseName(), connected.PhaseName())
	}
	stores := []*state.Store{state.New(), state.New(), state.New()}
	engines := []*match.Engine{main, held, connected}
	ev := func(name, id, ch string, at int64) match.Event {
		kind, _ := vcc.KindOf(name)
		return match.Event{ID: id, Source: "/channel", Type: name + ".v0", Kind: kind, Phased: true, Subject: ch,
			Timestamp: at, HasTimestamp: true, ChannelID: ch, ConversationID: "conv", Party: vcc.Party{Role: "agent", AgentID: "7"}}
	}
	base := testkit.At("08:00")
	var evs []match.Event
	for i := range 30 {
		ch := fmt.Sprintf("0b7e6a52-6c4e-4d3e-9a55-%012d", i)
		evs = append(evs, ev(vcc.TypeConnected, "c"+ch, ch, base))
		n := 1
		if i == 0 {
			n = 200 // a long channel: its stores write segment records
		}
		for k := range n {
			at := base + int64(k+1)*int64(time.Second)*10
			evs = append(evs, ev(vcc.TypeHeld, fmt.Sprintf("h%d-%s", k, ch), ch, at), ev(vcc.TypeRetrieved, fmt.Sprintf("r%d-%s", k, ch), ch, at+int64(time.Second)))
		}
		evs = append(evs, ev(vcc.TypeInterrupted, "i"+ch, ch, base+int64(time.Hour)/2))
	}
	for i := range evs {
		for k, e := range engines {
			e.Process(stores[k], &evs[i], func(match.Interruption) {})
		}
	}
	written := map[string][]byte{}
	keep := func(k, v []byte) {
		if v != nil {
			v = bytes.Clone(v)
		}
		if _, dup := written[string(k)]; dup {
			t.Fatalf("key %q written twice", k)
		}
		written[string(k)] = v
	}
	state.ChangelogEntries(nil, stores[0], 99, 0, keep)
	state.PhaseChangelogEntries(nil, stores[1], 0, keep)
	state.PhaseChangelogEntries(nil, stores[2], 1, keep)
	segments := 0
	for k := range written {
		if strings.HasPrefix(k, state.PhaseKeyPrefix(0)+"\x00e") {
			segments++
		}
		if strings.HasPrefix(k, "\x00P") {
			if id, ok := state.ChannelOfKey([]byte(k)); ok {
				t.Errorf("phase key %q names channel %q", k, id)
			}
		}
	}
	if segments == 0 {
		t.Fatal("the held store wrote no segment record: the test does not cover them")
	}
	for _, phases := range []int{2, 0} {
		l := state.NewLoader(0).WithPhases(phases)
		for k, v := range written {
			if err := l.Load([]byte(k), v); err != nil {
				t.Fatalf("load %q: %v", k, err)
			}
		}
		if err := l.Finish(); err != nil {
			t.Fatal(err)
		}
		if l.InputOffset != 99 {
			t.Errorf("input offset %d, want 99", l.InputOffset)
		}
		loaded := []*state.Store{l.Store}
		for _, p := range l.Phases {
			loaded = append(loaded, p.Store)
		}
		if phases == 0 && l.Skipped == 0 {
			t.Error("without phase loaders no phase record was skipped")
		}
		for k, got := range loaded {
			want := stores[k]
			if got.Len() != want.Len() || got.StreamTime() != want.StreamTime() {
				t.Errorf("store %d (phases %d): %d channels at %d, want %d at %d", k, phases, got.Len(), got.StreamTime(), want.Len(), want.StreamTime())
			}
			want.Range(func(c *state.Channel) bool {
				g := got.Get(c.ID())
				if g == nil || g.NumEvents() != c.NumEvents() || g.NumPublished() != c.NumPublished() {
					t.Errorf("store %d: channel %s loaded as %v", k, c.ID(), g)
					return true
				}
				for i := range c.NumEvents() {
					if g.Event(i) != c.Event(i) {
						t.Errorf("store %d: channel %s event %d: %+v, want %+v", k, c.ID(), i, g.Event(i), c.Event(i))
						return false
					}
				}
				return true
			})
		}
	}
}
