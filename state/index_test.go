package state

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/interruptions/interruptions/core/vcc"
)

// TestIndexAgainstMap inserts, looks up and removes random ids of every
// packed kind (UUIDs, short ids, long ids) and compares the index with a
// map after every step, through growth and backward-shift deletion.
func TestIndexAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ids := make([]string, 3000)
	for i := range ids {
		switch i % 3 {
		case 0:
			ids[i] = fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<12), rng.IntN(1<<12), rng.Uint64()&(1<<48-1))
		case 1:
			ids[i] = fmt.Sprintf("ch-%d", i)
		default:
			ids[i] = fmt.Sprintf("a-long-channel-id-that-does-not-pack-%d", i)
		}
	}
	s := New()
	model := map[string]bool{}
	for step := range 30_000 {
		id := ids[rng.IntN(len(ids))]
		if rng.IntN(3) == 0 {
			s.Delete(id)
			delete(model, id)
		} else {
			if c := s.Edit(id); c.ID() != id {
				t.Fatalf("step %d: Edit(%q).ID() = %q", step, id, c.ID())
			}
			model[id] = true
		}
		if s.Len() != len(model) {
			t.Fatalf("step %d: Len = %d, want %d", step, s.Len(), len(model))
		}
		if step%1000 == 0 {
			for _, id := range ids {
				if got := s.Get(id) != nil; got != model[id] {
					t.Fatalf("step %d: Get(%q) present %v, want %v", step, id, got, model[id])
				}
			}
		}
		if step%500 == 0 {
			s.Commit()
		}
	}
	n := 0
	s.Range(func(c *Channel) bool {
		if !model[c.ID()] {
			t.Errorf("Range gave %q, which is not in the store", c.ID())
		}
		n++
		return true
	})
	if n != len(model) {
		t.Errorf("Range visited %d channels, want %d", n, len(model))
	}
}

// TestPackedStringsAreExact checks strings that look packable but are not
// in the exact form that packs, and those that pack, through Set, Data,
// the codec and the store.
func TestPackedStringsAreExact(t *testing.T) {
	for _, d := range []ChannelData{fullData(), awkwardData(), {
		ConversationID: "00000000-0000-0000-0000-000000000000",
		InteractionID:  "ffffffff-ffff-ffff-ffff-ffffffffffff",
		Party:          vcc.Party{Role: "voicemail", AgentID: "12345678", UserID: "0123456789abcdef"},
		Events:         []Ref{{Source: "/agent", ID: "000000000000000000000000000", Type: "channel.disconnected.v1", At: -5}},
	}, {
		Party:  vcc.Party{AgentID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", UserID: "01234567890abcdef"},
		Events: []Ref{{Source: "/channel", ID: "aWgEPTl1tmebfsQzFP4bxwgy80V", Type: "channel.resumed.v0", At: 1}},
	}} {
		c := NewChannel(d)
		if got := c.Data(); !reflectEqual(got, d) {
			t.Errorf("Data:\n got %+v\nwant %+v", got, d)
		}
		dec, err := DecodeChannel(AppendChannel(nil, c))
		if err != nil || !reflectEqual(dec.Data(), d) {
			t.Errorf("codec: %v\n got %+v\nwant %+v", err, dec, d)
		}
		conv, inter, party := c.Identity()
		if conv != d.ConversationID || inter != d.InteractionID || party != d.Party {
			t.Errorf("Identity = %q %q %+v, want %q %q %+v", conv, inter, party, d.ConversationID, d.InteractionID, d.Party)
		}
		var e Channel
		e.fillIdentity(d.ConversationID, d.InteractionID, d.Party)
		for _, r := range d.Events {
			e.InsertEvent(r)
		}
		got := e.Data()
		if got.ConversationID != d.ConversationID || got.InteractionID != d.InteractionID || got.Party != d.Party || !reflectEqual(got.Events, d.Events) {
			t.Errorf("built by mutators: %+v, want %+v", got, d)
		}
	}
	for _, id := range []string{"3e71f453-116a-3abc-7769-bc678ef6e080", "3E71F453-116A-3ABC-7769-BC678EF6E080", "", "x", "0123456789abcdef", "0123456789abcdefg"} {
		s := New()
		s.Edit(id)
		if ch := s.Changes(); len(ch) != 1 || ch[0].Channel.ID() != id || s.Get(id) == nil {
			t.Errorf("channel %q: Changes %+v", id, ch)
		}
	}
}

func reflectEqual(a, b any) bool { return reflect.DeepEqual(a, b) }

// BenchmarkIndexLookup: Store.Get on a store of 2^20 channels (UUID ids),
// of ids it holds (hit) and of ids it does not (miss: every new channel's
// first lookup), in an order that defeats the caches, as a partition's
// store sees its channels.
func BenchmarkIndexLookup(b *testing.B) {
	const n = 1 << 20
	s := NewSized(0)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-0000-4000-8000-%012x", uint32(i*2654435761), i)
		s.Restore(ids[i], &Channel{})
	}
	miss := make([]string, n)
	for i := range miss {
		miss[i] = fmt.Sprintf("%08x-1111-4000-8000-%012x", uint32(i*40503), i)
	}
	b.Run("hit", func(b *testing.B) {
		for i := range b.N {
			if s.Get(ids[(i*7919)&(n-1)]) == nil {
				b.Fatal("a channel the store holds is missing")
			}
		}
	})
	b.Run("miss", func(b *testing.B) {
		for i := range b.N {
			if s.Get(miss[(i*7919)&(n-1)]) != nil {
				b.Fatal("a channel the store does not hold was found")
			}
		}
	})
}
