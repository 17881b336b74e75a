package processor

import (
	"runtime"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/handle"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/state"
	"github.com/interruptions/interruptions/vccgen"
)

// BenchmarkPhases is the handler's work per event with the phase records
// off and on: decode, the matchers, every record encoded (binary), and
// the changelog written every 1,024 events, as a unit of work does. One op
// is one event. It reports the state left by 200,000 vccgen events per
// channel (the live heap of the stores after a GC; channels counted in
// the partition's own store).
func BenchmarkPhases(b *testing.B) {
	const n = 200_000
	events := vccgen.New(vccgen.Config{Seed: 1}).Take(n)
	for _, on := range []bool{false, true} {
		name := "phases=off"
		if on {
			name = "phases=on"
		}
		b.Run(name, func(b *testing.B) {
			enc := cekafka.Encoder{Source: "/interruptions", Mode: codec.Binary}
			base := match.EngineConfig{MaxInterruption: 24 * time.Hour, Retention: 48 * time.Hour, MaxChannelEvents: 2000}
			engine := match.NewEngine(base)
			var phaseEngines []*match.Engine
			if on {
				for _, pc := range match.PhaseConfigs(base, nil) {
					phaseEngines = append(phaseEngines, match.NewEngine(pc))
				}
			}
			var stores []*state.Store
			var h handle.Handler
			fresh := func() {
				stores = []*state.Store{state.New()}
				var phases []handle.PhaseMatcher
				for _, e := range phaseEngines {
					st := state.New()
					stores = append(stores, st)
					phases = append(phases, handle.PhaseMatcher{Engine: e, Stores: []*state.Store{st}})
				}
				h = handle.DeadLetter(handle.NewMatcher(handle.MatcherConfig{Binding: cekafka.Binding, Engine: engine,
					Stores: stores[:1], MaxClockSkew: codec.DefaultMaxClockSkew, Retention: base.Retention, Phases: phases}).Handle)
			}
			var in handle.Input
			var res handle.Result
			var buf []byte
			records, changelog := 0, 0
			write := func() {
				buf = state.ChangelogEntries(buf[:0], stores[0], 1, 0, func(k, v []byte) { changelog++ })
				for i, st := range stores[1:] {
					buf = state.PhaseChangelogEntries(buf, st, i, func(k, v []byte) { changelog++ })
				}
				for _, st := range stores {
					st.Commit()
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%n == 0 {
					fresh() // a fresh stream: later laps are not all duplicates
				}
				in = handle.Input{Value: events[i%n].Value}
				if err := h(&in, &res); err != nil {
					b.Fatal(err)
				}
				for _, out := range res.Out {
					if _, err := enc.Record("out", out); err != nil {
						b.Fatal(err)
					}
					records++
				}
				for _, out := range res.Phases {
					if _, err := enc.PhaseRecord("phases", out); err != nil {
						b.Fatal(err)
					}
					records++
				}
				if i%1024 == 1023 {
					write()
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(records)/float64(b.N), "records/event")
			b.ReportMetric(float64(changelog)/float64(b.N), "changelog-records/event")
			// The state of one lap, kept live: its heap per channel.
			stores, h = nil, nil
			before := heapInUse()
			fresh()
			for i := range events {
				in = handle.Input{Value: events[i].Value}
				if err := h(&in, &res); err != nil {
					b.Fatal(err)
				}
				if i%1024 == 1023 {
					write()
				}
			}
			write()
			after := heapInUse()
			b.ReportMetric(float64(after-before)/float64(stores[0].Len()), "state-B/channel")
			runtime.KeepAlive(stores)
		})
	}
}
