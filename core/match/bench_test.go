package match

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/internal/ksuid"
	"github.com/interruptions/interruptions/state"
)

// BenchmarkLongChannel: the engine's CPU per event on one channel of n
// events (no cap), interrupted and resumed alternating a second apart with
// KSUID ids, in three arrival orders: in order; late, each event up to a
// minute behind the newest (a shuffle within windows of 60); and reversed
// (each event earlier than all before it: the worst for a timeline kept by
// time). The store commits every 100 events, as a unit of work does. It
// reports ns/event (flat in n is the target of issue 21; the old engine's
// grew with n squared) and the changelog bytes per event: one value of
// the whole channel per unit of work, which does grow with the channel.
func BenchmarkLongChannel(b *testing.B) {
	for _, order := range []string{"in-order", "late", "reversed"} {
		for _, n := range []int{1_000, 10_000, 50_000} {
			b.Run(fmt.Sprintf("%s/events=%d", order, n), func(b *testing.B) {
				evs := longChannel(n, order)
				e := NewEngine(EngineConfig{MaxInterruption: 24 * time.Hour, Retention: 48 * time.Hour})
				emit := func(Interruption) {}
				b.ReportAllocs()
				b.ResetTimer()
				var changelog int
				for range b.N {
					s := state.New()
					for i := range evs {
						e.Process(s, &evs[i], emit)
						if i%100 == 99 {
							b.StopTimer() // the runtime's encoding, not the engine's
							changelog += changelogBytes(s)
							b.StartTimer()
							s.Commit()
						}
					}
					b.StopTimer()
					changelog += changelogBytes(s)
					b.StartTimer()
					s.Commit()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
				b.ReportMetric(float64(changelog)/float64(b.N*n), "changelog-B/event")
			})
		}
	}
}

// changelogBytes returns the length of the changelog values the store's
// changes since its last commit take (the runtime writes one per changed
// channel per unit of work).
func changelogBytes(s *state.Store) int {
	n := 0
	for _, ch := range s.Changes() {
		if ch.Channel != nil {
			n += len(state.AppendChannel(nil, ch.Channel))
		}
	}
	return n
}

// longChannel returns n events of one channel in the given arrival order.
func longChannel(n int, order string) []Event {
	base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC).UnixNano()
	evs := make([]Event, n)
	for i := range evs {
		var k [ksuid.Bytes]byte
		k[0], k[1], k[2], k[3] = 0x12, byte(i>>16), byte(i>>8), byte(i)
		for j := 4; j < len(k); j++ {
			k[j] = byte(i*31 + j*7)
		}
		kind, typ := vcc.Interrupted, "channel.interrupted.v0"
		if i%2 == 1 {
			kind, typ = vcc.Resumed, "channel.resumed.v0"
		}
		evs[i] = Event{ID: string(ksuid.Append(nil, &k)), Source: vcc.SourceChannel, Type: typ, Kind: kind,
			Timestamp: base + int64(i)*int64(time.Second), HasTimestamp: true, ChannelID: "ch-long",
			Party: vcc.Party{Role: "agent", AgentID: "1544"}}
	}
	switch order {
	case "late":
		r := rand.New(rand.NewPCG(1, 2))
		for w := 0; w < n; w += 60 {
			win := evs[w:min(w+60, n)]
			r.Shuffle(len(win), func(i, j int) { win[i], win[j] = win[j], win[i] })
		}
	case "reversed":
		for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
			evs[i], evs[j] = evs[j], evs[i]
		}
	}
	return evs
}
