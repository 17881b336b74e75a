package processor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/state"
	"github.com/interruptions/interruptions/vccgen"
)

// BenchmarkPipeline measures decode -> match -> encode over the realistic
// generated VCC mix (most events are not interruptions), in process, one
// partition, no Kafka. One op is one input event.
func BenchmarkPipeline(b *testing.B) {
	for _, mode := range []codec.Mode{codec.Binary, codec.Structured} {
		b.Run("out="+mode.String(), func(b *testing.B) {
			const n = 200_000
			events := vccgen.New(vccgen.Config{Seed: 1}).Take(n)
			enc := cekafka.Encoder{Source: "/interruptions", Mode: mode}
			engine := match.NewEngine(match.EngineConfig{MaxInterruption: 24 * time.Hour, Retention: 24 * time.Hour})
			var st *state.Store
			var encErr error
			emit := func(in match.Interruption) {
				if _, err := enc.Record("out", in); err != nil {
					encErr = err
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%n == 0 {
					st = state.New() // a fresh stream: later laps are not all duplicates
				}
				ev, err := cekafka.Decode(events[i%n].Value, nil)
				if err != nil {
					b.Fatalf("event %d: %v", i, err)
				}
				engine.Process(st, &ev, emit)
				if i%1024 == 0 {
					st.Commit()
				}
			}
			b.StopTimer()
			if encErr != nil {
				b.Fatal(encErr)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// openChannel returns a channel with one open interruption, as a contact
// center has during a busy hour: three events seen, one open.
func openChannel(rng *rand.Rand, at int64) *state.Channel {
	return state.NewChannel(state.ChannelData{
		ConversationID: uuid.NewString(),
		InteractionID:  uuid.NewString(),
		Party:          vcc.Party{Role: "agent", AgentID: fmt.Sprint(1000 + rng.IntN(9000)), UserID: uuid.NewString()},
		LastEventAt:    at,
		Events: []state.Ref{
			{Source: "/channel", ID: "27pWERwB5Qk7iMmAEo7JfMDL5Js", Type: "channel.interrupted.v0", At: at - 2e9, Offset: 3 * at / 1e9, HasOffset: true},
			{Source: "/channel", ID: "2ApWERwB5Qk7iMmAEo7JfMDL5Js", Type: "channel.resumed.v0", At: at - 1e9, Offset: 3*at/1e9 + 1, HasOffset: true},
			{Source: "/channel", ID: "37pWERwB5Qk7iMmAEo7JfMDL5Js", Type: "channel.interrupted.v0", At: at, Offset: 3*at/1e9 + 2, HasOffset: true},
		},
		Published: []state.Published{{Open: rng.Uint64(), Fingerprint: rng.Uint64(), Revision: 1}},
		HasOpen:   true,
		OpenAt:    at,
	})
}

// vccgenChannels returns the changelog encodings of the channels a store
// holds after the engine ran over the realistic generated mix: every
// channel the mix touched, with the timelines and published revisions it
// has (no channel is deleted within the sample, as none would be within
// the default 48 h retention).
func vccgenChannels(b *testing.B) [][]byte {
	b.Helper()
	engine := match.NewEngine(match.EngineConfig{MaxInterruption: 24 * time.Hour, Retention: 48 * time.Hour})
	st := state.New()
	for i, ev := range vccgen.New(vccgen.Config{Seed: 1}).Take(300_000) {
		e, err := cekafka.Decode(ev.Value, nil)
		if err != nil {
			b.Fatal(err)
		}
		e.Offset, e.HasOffset = 100_000_000+int64(i), true // as the runtime sets it
		engine.Process(st, &e, func(match.Interruption) {})
		st.Commit()
	}
	var values [][]byte
	st.Range(func(c *state.Channel) bool {
		values = append(values, state.AppendChannel(nil, c))
		return true
	})
	return values
}

// BenchmarkStoreMemory reports the memory a store holds per channel with 1M
// channels: channel ids, channel state, index and deadline heap. The
// channels are decoded from their changelog encoding, as a restore builds
// them. shape=vccgen cycles through the channels the realistic generated
// mix leaves (timelines of their events, published revisions);
// shape=open is one open interruption after a closed one on every
// channel. Run it with -benchtime 1x.
//
// Two figures: B/channel is the growth of the live heap; rss-B/channel is
// the growth of the process's resident memory (VmRSS) after the garbage is
// collected and returned to the OS, which is what the memory target is on.
func BenchmarkStoreMemory(b *testing.B) {
	const channels = 1_000_000
	for _, shape := range []string{"vccgen", "open"} {
		b.Run("shape="+shape, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC).UnixNano()
			keys := make([][]byte, channels)
			values := make([][]byte, channels)
			var sample [][]byte
			if shape == "vccgen" {
				sample = vccgenChannels(b)
				b.ReportMetric(float64(len(sample)), "sample-channels")
			}
			for j := range keys {
				keys[j] = []byte(uuid.NewString())
				if sample != nil {
					values[j] = sample[j%len(sample)]
				} else {
					values[j] = state.AppendChannel(nil, openChannel(rng, base+int64(j)))
				}
			}
			engine := match.NewEngine(match.EngineConfig{MaxInterruption: 24 * time.Hour, Retention: 48 * time.Hour})
			for i := 0; i < b.N; i++ {
				before := heapInUse()
				rssBefore := residentBytes(b)
				st := state.New()
				for j := range keys {
					c, err := state.DecodeChannel(values[j])
					if err != nil {
						b.Fatal(err)
					}
					st.Restore(string(keys[j]), c)
				}
				engine.Restored(st)
				after := heapInUse()
				rssAfter := residentBytes(b)
				b.ReportMetric(float64(after-before)/channels, "B/channel")
				b.ReportMetric(float64(rssAfter-rssBefore)/channels, "rss-B/channel")
				runtime.KeepAlive(st)
			}
			runtime.KeepAlive(keys)
			runtime.KeepAlive(values)
		})
	}
}

// BenchmarkRestoreDecode measures what restore does per changelog record
// besides fetching it: decode the channel and put it in the store, for
// 1M records of the channels the vccgen mix leaves (shape=vccgen) or of
// one open interruption each (shape=open). One op is one record.
func BenchmarkRestoreDecode(b *testing.B) {
	for _, shape := range []string{"vccgen", "open"} {
		b.Run("shape="+shape, func(b *testing.B) {
			const n = 1_000_000
			rng := rand.New(rand.NewPCG(1, 2))
			base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC).UnixNano()
			var sample [][]byte
			if shape == "vccgen" {
				sample = vccgenChannels(b)
			}
			keys := make([]string, n)
			values := make([][]byte, n)
			for j := range keys {
				keys[j] = uuid.NewString()
				if sample != nil {
					values[j] = sample[j%len(sample)]
				} else {
					values[j] = state.AppendChannel(nil, openChannel(rng, base+int64(j)))
				}
			}
			b.ResetTimer()
			var st *state.Store
			for i := 0; i < b.N; i++ {
				if i%n == 0 {
					st = state.NewSized(n)
				}
				c, err := state.DecodeChannel(values[i%n])
				if err != nil {
					b.Fatal(err)
				}
				st.Restore(keys[i%n], c)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// heapInUse returns the live heap after a full collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// residentBytes returns the process's resident set size (VmRSS) after a
// full collection that returns free memory to the OS.
func residentBytes(b *testing.B) int64 {
	b.Helper()
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatalf("no VmRSS (the memory figure needs Linux /proc): %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("parse VmRSS %q: %v", line, err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// BenchmarkRestore measures restoring 1M open channels from a changelog
// partition on the broker at KAFKA_BROKERS (make bench starts one).
func BenchmarkRestore(b *testing.B) {
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers == "" {
		b.Fatal("KAFKA_BROKERS is not set: run 'make kafka-up' and export the address it prints, or use 'make bench'")
	}
	const channels = 1_000_000
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Brokers = []string{brokers}
	cfg.Group = fmt.Sprintf("bench-restore-%d", time.Now().UnixNano())
	topic := cfg.ChangelogTopic()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerLinger(10*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	compact := "compact"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": &compact}, topic); err != nil {
		b.Fatalf("create %s: %v", topic, err)
	}
	defer adm.DeleteTopics(ctx, topic)
	rng := rand.New(rand.NewPCG(3, 4))
	base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC).UnixNano()
	recs := make([]*kgo.Record, 0, 10_000)
	for i := 0; i < channels; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(uuid.NewString()),
			Value: state.AppendChannel(nil, openChannel(rng, base+int64(i)))})
		if len(recs) == cap(recs) || i == channels-1 {
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				b.Fatalf("preload changelog: %v", err)
			}
			recs = recs[:0]
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		loaded, err := (&changelogReader{cfg: &cfg, log: zap.NewNop()}).read(ctx, adm, []int32{0})
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		st, n := loaded[0].Store, loaded[0].Records
		if n != channels || st.Len() != channels {
			b.Fatalf("restored %d records into %d channels, want %d", n, st.Len(), channels)
		}
		b.ReportMetric(float64(n)/took.Seconds(), "records/s")
	}
}
