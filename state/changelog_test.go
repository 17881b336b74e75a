package state_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/state"
)

// entries returns a store's changelog records since its last commit as a
// map, tombstones as nil values.
func entries(s *state.Store, next, committed int64) map[string][]byte {
	out := map[string][]byte{}
	state.ChangelogEntries(nil, s, next, committed, func(k, v []byte) {
		if v != nil {
			v = bytes.Clone(v)
		}
		out[string(k)] = v
	})
	return out
}

// TestChangelogRoundTrip writes a store's changes as changelog records,
// loads them into a new store with a Loader, and checks that the loaded
// store writes the same records: channels, tombstones, stream time and
// input offset survive, byte for byte.
func TestChangelogRoundTrip(t *testing.T) {
	e := match.NewEngine(match.EngineConfig{MaxInterruption: time.Hour, Retention: 2 * time.Hour})
	s := state.New()
	event := func(kind vcc.Kind, typ, id, ch, ts string) match.Event {
		return match.Event{ID: id, Source: "/channel", Type: typ, Subject: ch, Kind: kind,
			Timestamp: testkit.At(ts), HasTimestamp: true, ChannelID: ch,
			ConversationID: "conv-" + ch, InteractionID: "inter-" + ch, Party: vcc.Party{Role: "agent", AgentID: "7", UserID: "u-" + ch}}
	}
	evs := []match.Event{}
	for i := range 20 {
		ch := fmt.Sprintf("0b7e6a52-6c4e-4d3e-9a55-%012d", i)
		evs = append(evs, event(vcc.Interrupted, "channel.interrupted.v0", fmt.Sprintf("i%d", i), ch, "08:00"))
		if i%2 == 0 {
			evs = append(evs, event(vcc.Resumed, "channel.resumed.v1", fmt.Sprintf("r%d", i), ch, "08:05"))
		}
		if i%3 == 0 {
			evs = append(evs, event(vcc.Ended, "channel.ended.v0", fmt.Sprintf("e%d", i), ch, "08:10"))
		}
	}
	// A late event deletes the first channels (retention passed): each
	// leaves a tomb.
	evs = append(evs, event(vcc.Interrupted, "channel.interrupted.v0", "late", "ch-late", "12:00"))
	for i := range evs {
		e.Process(s, &evs[i], func(match.Interruption) {})
	}
	written := entries(s, 1234, 0)
	if written[state.StreamTimeKey] == nil || written[state.InputOffsetKey] == nil {
		t.Fatalf("no stream time or input offset among %d records", len(written))
	}
	tombstones := 0
	l := state.NewLoader(len(written))
	for k, v := range written {
		if v == nil {
			tombstones++
		} else if c, err := state.DecodeChannel(v); err == nil && c.Tomb() != nil {
			tombstones++ // a deleted channel's tomb (match.Engine)
		}
		if err := l.Load([]byte(k), v); err != nil {
			t.Fatalf("load %q: %v", k, err)
		}
	}
	if tombstones == 0 {
		t.Fatal("the late event deleted no channel: the test does not cover tombstones")
	}
	if l.InputOffset != 1234 || l.Records != len(written) {
		t.Fatalf("loaded input offset %d from %d records, want 1234 from %d", l.InputOffset, l.Records, len(written))
	}
	if got, want := l.Store.StreamTime(), s.StreamTime(); got != want {
		t.Fatalf("stream time %d, want %d", got, want)
	}
	if got, want := l.Store.Len(), s.Len(); got != want {
		t.Fatalf("%d channels loaded, want %d", got, want)
	}
	// Every live channel encodes to the bytes it was written with.
	s.Range(func(c *state.Channel) bool {
		got := l.Store.Get(c.ID())
		if got == nil {
			t.Errorf("channel %s not loaded", c.ID())
			return true
		}
		if !bytes.Equal(state.AppendChannel(nil, got), written[c.ID()]) {
			t.Errorf("channel %s encodes differently after loading", c.ID())
		}
		return true
	})
	// Offsets equal to the committed one write no offset record.
	s.Commit()
	if got := entries(s, 7, 7); len(got) != 0 {
		t.Fatalf("after commit, with the offset unchanged: %d records", len(got))
	}
}

func TestChangelogCorruptValues(t *testing.T) {
	l := state.NewLoader(0)
	for _, key := range []string{state.StreamTimeKey, state.InputOffsetKey, "ch"} {
		for _, v := range [][]byte{{}, {9, 1}, append(state.AppendInputOffset(nil, 5), 0)} {
			if err := l.Load([]byte(key), v); err == nil {
				t.Errorf("Load(%q, %x) = nil, want an error", key, v)
			}
		}
	}
	if o, err := state.DecodeInputOffset(state.AppendInputOffset(nil, -1<<62)); err != nil || o != -1<<62 {
		t.Errorf("input offset round trip: %d, %v", o, err)
	}
}
