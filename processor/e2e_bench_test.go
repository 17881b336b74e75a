package processor

// End-to-end benchmarks against a real broker (KAFKA_BROKERS):
//
//	BenchmarkEndToEnd: drain a preloaded topic with a bare franz-go consumer
//	and with the Runner under both guarantees; events/s and the ratio of
//	the two, measured in the same process.
//	BenchmarkLatency: feed the Runner at a steady rate and measure, from
//	broker append times, how long after the event that closes an
//	interruption its record is appended (and, exactly-once, visible).
//
// Run them one iteration at a time, each iteration drains the whole topic
// or runs the whole paced feed:
//
//	scripts/kafka run -- go test -run '^$' -bench 'EndToEnd|Latency' -benchtime 1x -count 3 ./processor/
//
// Environment: KAFKA_BROKERS (required), E2E_EVENTS (default 1000000),
// E2E_TIMEOUT (per drain, default 5m), LATENCY_SECONDS (measured seconds,
// default 20), LATENCY_RATE (events/s, default 5000), LATENCY_WARMUP
// (seconds fed before measuring, default 3), BENCH_LOG=1 (runner logs to
// stderr), E2E_CPUPROFILE=PREFIX (a CPU profile of each timed processor
// drain, PREFIX-<guarantee>-<n>.pprof).

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/internal/testkit/records"
	"github.com/interruptions/interruptions/vccgen"
)

// e2ePartitions is the partition count of every benchmark topic.
const e2ePartitions = 6

// BenchmarkEndToEnd preloads E2E_EVENTS generated events (binary mode,
// keyed by channelId) into a fresh 6-partition topic once, then times
// draining it: "bare" is a franz-go group consumer that discards the
// records, the floor no processor can beat; "at-least-once" and
// "exactly-once" are a Runner in process with a fresh group and fresh
// output, dead-letter and changelog topics each iteration. Each is timed
// from client start (group join included) until every input record is
// read (bare) or committed (Runner). The processor sub-benchmarks report
// their events/s as a ratio of the median bare figure measured before them
// in the same process. Run with -benchtime 1x.
func BenchmarkEndToEnd(b *testing.B) {
	brokers := e2eBrokers(b)
	n := e2eEnvInt(b, "E2E_EVENTS", 1_000_000)
	timeout := e2eEnvDuration(b, "E2E_TIMEOUT", 5*time.Minute)
	stamp := time.Now().UnixNano()
	topic := fmt.Sprintf("bench-e2e-%d-input", stamp)

	_, adm := e2eAdmin(b, brokers)
	// Preloaded once, by the first sub-benchmark that runs; deleted at the
	// end.
	var took time.Duration
	input := sync.OnceValues(func() (map[int32]int64, error) {
		start := time.Now()
		ends, err := e2ePreload(context.Background(), brokers, adm, topic, n, nil)
		took = time.Since(start)
		return ends, err
	})
	b.Cleanup(func() { e2eDeleteTopics(adm, topic) })
	logged := false
	load := func(b *testing.B) map[int32]int64 {
		b.Helper()
		b.StopTimer()
		defer b.StartTimer()
		ends, err := input()
		if err != nil {
			b.Fatalf("preload: %v", err)
		}
		if !logged {
			// On the sub-benchmark: a parent's log is not printed.
			b.Logf("preloaded %d events into %s (%d partitions) in %s", n, topic, e2ePartitions, took.Round(time.Millisecond))
			logged = true
		}
		return ends
	}

	var bare []float64 // events/s of every undisturbed bare iteration
	bareRuns := 0
	b.Run("bare", func(b *testing.B) {
		ends := load(b)
		for i := 0; i < b.N; i++ {
			bareRuns++
			group := fmt.Sprintf("bench-e2e-%d-bare-%d", stamp, bareRuns)
			res, err := e2eDrainBare(brokers, topic, group, ends, timeout)
			e2eDeleteGroups(adm, group)
			if err != nil {
				b.Fatal(err)
			}
			rate := float64(res.records) / res.took.Seconds()
			if res.failedDials == 0 {
				bare = append(bare, rate) // a disturbed run is no floor
			}
			b.Logf("bare: %d records in %s: %.0f events/s (process %.2f cores, host %.2f of %d cores busy)",
				res.records, res.took.Round(time.Millisecond), rate, res.cpu.procCores, res.cpu.hostCores, runtime.NumCPU())
			e2eReport(b, rate, res.cpu)
			e2eDisturbed(b, res.failedDials)
		}
	})

	for _, g := range []Guarantee{AtLeastOnce, ExactlyOnce} {
		runs := 0
		b.Run(g.String(), func(b *testing.B) {
			ends := load(b)
			var total int64
			for _, e := range ends {
				total += e
			}
			for i := 0; i < b.N; i++ {
				runs++
				name := fmt.Sprintf("bench-e2e-%d-%s-%d", stamp, g, runs)
				res, err := e2eDrainRunner(brokers, adm, g, topic, name, total, timeout, runs)
				if err != nil {
					b.Fatal(err)
				}
				rate := float64(total) / res.took.Seconds()
				e2eReport(b, rate, res.cpu)
				e2eDisturbed(b, res.failedDials)
				msg := fmt.Sprintf("%s: %d records in %s: %.0f events/s (process %.2f cores, host %.2f of %d cores busy); output end offsets %d",
					g, total, res.took.Round(time.Millisecond), rate, res.cpu.procCores, res.cpu.hostCores, runtime.NumCPU(), res.outputOffsets)
				if len(bare) > 0 {
					floor := e2eMedian(bare)
					ratio := rate / floor
					b.ReportMetric(ratio, "ratio")
					msg += fmt.Sprintf("; ratio to bare (median of %d, %.0f events/s): %.3f", len(bare), floor, ratio)
				} else {
					msg += "; no bare figure in this run (filtered out), no ratio"
				}
				b.Log(msg)
			}
		})
	}
}

// e2eReport reports events/s and the CPU use of a drain, and hides ns/op,
// which for one iteration counts setup and cleanup too.
func e2eReport(b *testing.B, rate float64, cpu e2eCPU) {
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(cpu.procCores, "proc-cores")
	b.ReportMetric(cpu.hostCores, "host-cores")
}

// e2eDrainResult is one timed drain.
type e2eDrainResult struct {
	took          time.Duration
	records       int64
	cpu           e2eCPU
	outputOffsets int64 // sum of the output topic's end offsets (Runner)
	failedDials   int64 // dials that failed during the drain: the broker went away
}

// e2eDialHook counts failed dials: on a shared broker that another test
// restarts, a measurement that saw one is disturbed.
type e2eDialHook struct{ failed atomic.Int64 }

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (h *e2eDialHook) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.failed.Add(1)
	}
}

// e2eDisturbed reports failed dials, if any, as a metric and a log line.
func e2eDisturbed(b *testing.B, failed int64) {
	if failed > 0 {
		b.ReportMetric(float64(failed), "failed-dials")
		b.Logf("DISTURBED: %d dials to the broker failed during the measurement (was the broker restarted?)", failed)
	}
}

// e2eDrainBare reads topic in a fresh consumer group until every partition
// reaches its end offset, discarding the records. The time runs from client
// start (so it includes the group join) until the last record is polled.
func e2eDrainBare(brokers []string, topic, group string, ends map[int32]int64, timeout time.Duration) (e2eDrainResult, error) {
	var dials e2eDialHook
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	left := 0
	for _, e := range ends {
		if e > 0 {
			left++
		}
	}
	done := make(map[int32]bool, len(ends))
	var res e2eDrainResult
	cpu := e2eSampleCPU()
	start := time.Now()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()), // as the Runner
		kgo.DisableAutoCommit(),
		kgo.WithHooks(&dials),
	)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	for left > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return res, fmt.Errorf("bare consumer: %d records read, %d partitions not drained after %s", res.records, left, timeout)
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("fetch %s[%d]: %w", t, p, err))
		})
		if ferr != nil {
			return res, ferr
		}
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			res.records += int64(len(fp.Records))
			if last := fp.Records[len(fp.Records)-1].Offset; !done[fp.Partition] && last+1 >= ends[fp.Partition] {
				done[fp.Partition] = true
				left--
			}
		})
	}
	res.took = time.Since(start)
	res.cpu = cpu.since()
	res.failedDials = dials.failed.Load()
	return res, nil
}

// e2eDrainRunner runs a Runner with a fresh group and fresh output,
// dead-letter and changelog topics (created before the clock starts) until
// its commits cover total input records, then cancels it.
func e2eDrainRunner(brokers []string, adm *kadm.Client, g Guarantee, input, name string, total int64, timeout time.Duration, run int) (e2eDrainResult, error) {
	var res e2eDrainResult
	cfg := e2eRunnerConfig(brokers, g, input, name)
	var dials e2eDialHook
	cfg.ClientOpts = append(cfg.ClientOpts, kgo.WithHooks(&dials))
	outputs := []string{cfg.OutputTopic, cfg.DLQTopic, cfg.ChangelogTopic()}
	defer func() {
		e2eDeleteGroups(adm, cfg.Group)
		e2eDeleteTopics(adm, outputs...)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := e2eCreateOutputs(ctx, adm, cfg, nil); err != nil {
		return res, err
	}
	var committed atomic.Int64
	drained := make(chan struct{})
	var once sync.Once
	cfg.Hooks = append(cfg.Hooks, commitHook(func(n int) {
		if committed.Add(int64(n)) >= total {
			once.Do(func() { close(drained) })
		}
	}))
	r, err := NewRunner(cfg)
	if err != nil {
		return res, err
	}
	stopProfile, err := e2eStartProfile(g, run)
	if err != nil {
		return res, err
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, 1)
	cpu := e2eSampleCPU()
	start := time.Now()
	go func() { errc <- r.Run(rctx) }()
	select {
	case <-drained:
		res.took = time.Since(start)
		res.cpu = cpu.since()
		res.failedDials = dials.failed.Load()
		stopProfile()
	case err := <-errc:
		stopProfile()
		return res, fmt.Errorf("runner returned before draining (%d of %d records committed): %v", committed.Load(), total, err)
	case <-ctx.Done():
		stopProfile()
		stop()
		<-errc
		return res, fmt.Errorf("runner: %d of %d records committed after %s", committed.Load(), total, timeout)
	}
	stop()
	if err := <-errc; err != nil {
		return res, fmt.Errorf("runner: %w", err)
	}
	res.records = committed.Load()
	if ends, err := adm.ListEndOffsets(context.Background(), cfg.OutputTopic); err == nil {
		ends.Each(func(o kadm.ListedOffset) { res.outputOffsets += o.Offset })
	}
	return res, nil
}

// e2eRunnerConfig is the Runner configuration of the benchmarks: fresh
// names under name, 100 ms commit interval, 6 partitions, RF 1.
func e2eRunnerConfig(brokers []string, g Guarantee, input, name string) Config {
	cfg := DefaultConfig()
	cfg.Brokers = brokers
	cfg.InputTopic = input
	cfg.OutputTopic = name + "-output"
	cfg.DLQTopic = name + "-dlq"
	cfg.Group = name
	cfg.TransactionalID = name
	cfg.Guarantee = g
	cfg.CommitInterval = 100 * time.Millisecond
	cfg.Partitions = e2ePartitions
	cfg.ReplicationFactor = 1
	if os.Getenv("BENCH_LOG") == "1" {
		cfg.Logger, _ = zap.NewDevelopment()
	}
	return cfg
}

// e2eCreateOutputs creates the Runner's output, dead-letter and changelog
// topics, so their creation is not timed; outputConfigs apply to the
// output topic.
func e2eCreateOutputs(ctx context.Context, adm *kadm.Client, cfg Config, outputConfigs map[string]*string) error {
	compact := "compact"
	if err := e2eCreateTopics(ctx, adm, outputConfigs, cfg.OutputTopic); err != nil {
		return err
	}
	if err := e2eCreateTopics(ctx, adm, nil, cfg.DLQTopic); err != nil {
		return err
	}
	return e2eCreateTopics(ctx, adm, map[string]*string{"cleanup.policy": &compact}, cfg.ChangelogTopic())
}

// e2ePreload creates topic (6 partitions, RF 1, configs) and produces the
// first n events of vccgen seed 1 to it in binary mode, keyed by channelId,
// in large batches. It returns the end offsets.
func e2ePreload(ctx context.Context, brokers []string, adm *kadm.Client, topic string, n int, configs map[string]*string) (map[int32]int64, error) {
	if err := e2eCreateTopics(ctx, adm, configs, topic); err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ProducerLinger(20*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(100_000),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var (
		mu      sync.Mutex
		failed  error
		nFailed int
	)
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			failed, nFailed = err, nFailed+1
			mu.Unlock()
		}
	}
	gen := vccgen.New(vccgen.Config{Seed: 1})
	const chunk = 20_000
	for sent := 0; sent < n; {
		m := min(chunk, n-sent)
		recs, err := records.Inputs(topic, gen.Take(m), records.All(codec.Binary))
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			cl.Produce(ctx, r, promise)
		}
		sent += m
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, fmt.Errorf("flush: %w", err)
	}
	if failed != nil {
		return nil, fmt.Errorf("%d records not produced: %w", nFailed, failed)
	}
	listed, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	ends := make(map[int32]int64)
	var sum int64
	listed.Each(func(o kadm.ListedOffset) {
		ends[o.Partition] = o.Offset
		sum += o.Offset
	})
	if sum != int64(n) {
		return nil, fmt.Errorf("%s holds %d records after preloading %d", topic, sum, n)
	}
	return ends, nil
}

// BenchmarkLatency feeds a Runner on fresh topics at a steady LATENCY_RATE
// events/s (default 5000, in bursts every 10 ms) for LATENCY_WARMUP +
// LATENCY_SECONDS seconds and measures, for every interruption closed by an
// event appended after the warm-up, the time from the append of the input
// event that caused its record to the append of the record. The cause is
// found without the engine: the last of the channel's events dated up to
// the close to arrive before the record (usually the closing event; a late
// earlier-dated event when that is what made the interruption). Input and output topics use message.timestamp.type=LogAppendTime,
// so the record timestamps are the broker's append times (millisecond
// resolution); both topics are read after the run, so measuring does not
// compete with the processor. Exactly-once output becomes visible only at
// its transaction's commit marker: "p50-ms", "p99-ms" and "max-ms" are
// then to the marker's append (what a read_committed consumer sees), and
// "append-p50-ms", "append-p99-ms" to the record's own append.
// Interruptions closed by expiry have no closing event and are skipped.
func BenchmarkLatency(b *testing.B) {
	brokers := e2eBrokers(b)
	rate := e2eEnvInt(b, "LATENCY_RATE", 5000)
	measured := e2eEnvDuration(b, "LATENCY_SECONDS", 20*time.Second)
	warmup := e2eEnvDuration(b, "LATENCY_WARMUP", 3*time.Second)
	n := int((warmup + measured).Seconds() * float64(rate))
	_, adm := e2eAdmin(b, brokers)

	// The feed, encoded once: records are rebuilt per produce.
	feed := sync.OnceValues(func() ([]*kgo.Record, error) {
		return records.Inputs("", vccgen.New(vccgen.Config{Seed: 1}).Take(n), records.All(codec.Binary))
	})
	stamp := time.Now().UnixNano()
	for _, g := range []Guarantee{AtLeastOnce, ExactlyOnce} {
		runs := 0
		b.Run(g.String(), func(b *testing.B) {
			b.StopTimer()
			recs, err := feed()
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			for i := 0; i < b.N; i++ {
				runs++
				name := fmt.Sprintf("bench-latency-%d-%s-%d", stamp, g, runs)
				res, err := e2eLatencyRun(brokers, adm, g, name, recs, rate, warmup)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(res.visible.p50, "p50-ms")
				b.ReportMetric(res.visible.p99, "p99-ms")
				b.ReportMetric(res.visible.max, "max-ms")
				if g == ExactlyOnce {
					b.ReportMetric(res.append.p50, "append-p50-ms")
					b.ReportMetric(res.append.p99, "append-p99-ms")
				}
				b.ReportMetric(float64(res.samples), "samples")
				b.ReportMetric(res.rate, "events/s")
				e2eDisturbed(b, res.failedDials)
				b.Logf("%s: %d events at %.0f/s (target %d/s; %s warm-up not measured); %d interruptions measured (%d expired, %d in warm-up skipped); "+
					"latency ms p50 %.0f p90 %.0f p99 %.0f max %.0f; to own append p50 %.0f p99 %.0f max %.0f; process %.2f cores, host %.2f of %d cores busy",
					g, len(recs), res.rate, rate, warmup, res.samples, res.expired, res.warm,
					res.visible.p50, res.visible.p90, res.visible.p99, res.visible.max,
					res.append.p50, res.append.p99, res.append.max, res.cpu.procCores, res.cpu.hostCores, runtime.NumCPU())
			}
		})
	}
}

// e2eLatencyResult is one latency run.
type e2eLatencyResult struct {
	visible, append e2eQuantiles
	samples         int
	expired, warm   int
	rate            float64 // achieved input rate
	cpu             e2eCPU
	failedDials     int64
}

// e2eQuantiles are latency quantiles in milliseconds.
type e2eQuantiles struct{ p50, p90, p99, max float64 }

func e2eQuantilesOf(ms []int64) e2eQuantiles {
	if len(ms) == 0 {
		return e2eQuantiles{}
	}
	slices.Sort(ms)
	q := func(p float64) float64 { return float64(ms[min(len(ms)-1, int(p*float64(len(ms))))]) }
	return e2eQuantiles{p50: q(0.50), p90: q(0.90), p99: q(0.99), max: float64(ms[len(ms)-1])}
}

func e2eLatencyRun(brokers []string, adm *kadm.Client, g Guarantee, name string, feed []*kgo.Record, rate int, warmup time.Duration) (e2eLatencyResult, error) {
	var res e2eLatencyResult
	input := name + "-input"
	cfg := e2eRunnerConfig(brokers, g, input, name)
	var dials e2eDialHook
	cfg.ClientOpts = append(cfg.ClientOpts, kgo.WithHooks(&dials))
	topics := []string{input, cfg.OutputTopic, cfg.DLQTopic, cfg.ChangelogTopic()}
	defer func() {
		e2eDeleteGroups(adm, cfg.Group)
		e2eDeleteTopics(adm, topics...)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	logAppend := "LogAppendTime"
	appendTime := map[string]*string{"message.timestamp.type": &logAppend}
	if err := e2eCreateTopics(ctx, adm, appendTime, input); err != nil {
		return res, err
	}
	if err := e2eCreateOutputs(ctx, adm, cfg, appendTime); err != nil {
		return res, err
	}

	r, err := NewRunner(cfg)
	if err != nil {
		return res, err
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- r.Run(rctx) }()
	runnerErr := func() error {
		select {
		case err := <-errc:
			errc <- err
			return fmt.Errorf("runner stopped early: %v", err)
		default:
			return nil
		}
	}
	// Feed only once the group has its partitions, so the warm-up is
	// about processing, not about joining.
	if err := e2eWaitAssigned(ctx, adm, cfg.Group, input, e2ePartitions, runnerErr); err != nil {
		return res, err
	}

	// The feed: every 10 ms, everything due by then at rate.
	pcl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0), kgo.WithHooks(&dials))
	if err != nil {
		return res, err
	}
	defer pcl.Close()
	var (
		mu     sync.Mutex
		failed error
	)
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			failed = err
			mu.Unlock()
		}
	}
	cpu := e2eSampleCPU()
	start := time.Now()
	measureFrom := start.Add(warmup)
	tick := time.NewTicker(10 * time.Millisecond)
	for sent := 0; sent < len(feed); {
		<-tick.C
		due := min(len(feed), int(time.Since(start).Seconds()*float64(rate)))
		for ; sent < due; sent++ {
			src := feed[sent]
			pcl.Produce(ctx, &kgo.Record{Topic: input, Key: src.Key, Value: src.Value, Headers: src.Headers}, promise)
		}
		if err := runnerErr(); err != nil {
			tick.Stop()
			return res, err
		}
	}
	tick.Stop()
	fed := time.Since(start)
	if err := pcl.Flush(ctx); err != nil {
		return res, fmt.Errorf("flush feed: %w", err)
	}
	if failed != nil {
		return res, fmt.Errorf("feed: %w", failed)
	}
	res.rate = float64(len(feed)) / fed.Seconds()

	// Let the runner commit everything, then stop it.
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	err = testkit.WaitCommitted(wctx, adm, cfg.Group, input, 50*time.Millisecond, runnerErr)
	wcancel()
	if err != nil {
		return res, err
	}
	res.cpu = cpu.since()
	res.failedDials = dials.failed.Load()
	stop()
	if err := <-errc; err != nil {
		return res, fmt.Errorf("runner: %w", err)
	}

	// Every input event's first copy: its append time, by channel with its
	// data.timestamp, so that a record's cause can be found (see below).
	type arrival struct{ at, appended int64 }
	byChannel := make(map[string][]arrival)
	seen := make(map[string]bool, len(feed))
	seed := []kgo.Opt{kgo.SeedBrokers(brokers...)}
	rctx, rcancel := context.WithTimeout(ctx, 4*time.Minute)
	defer rcancel()
	err = testkit.ReadCommitted(rctx, adm, seed, input, func(rec *kgo.Record) {
		ev, err := cekafka.Decode(rec.Value, rec.Headers)
		if err != nil || ev.ChannelID == "" || seen[ev.Source+"\x00"+ev.ID] {
			return
		}
		seen[ev.Source+"\x00"+ev.ID] = true
		// Milliseconds, as the engine compares and records publish times.
		byChannel[ev.ChannelID] = append(byChannel[ev.ChannelID], arrival{at: time.Unix(0, ev.Timestamp).UnixMilli(), appended: rec.Timestamp.UnixMilli()})
	})
	if err != nil {
		return res, err
	}
	// cause is the append time of the last event that could have caused a
	// record of channel closed at closedAt and appended at out: the latest
	// arrival, before out, of the channel's events dated up to closedAt.
	// Any of them can change the channel's walk up to the close, so the
	// record could not be published before the last of them arrived. This
	// is usually the closing event; it is an earlier-dated event that
	// arrived late when that event made the interruption (a late resume
	// that splits one interruption into two publishes the second one then).
	cause := func(channel string, closedAt, out int64) (int64, bool) {
		trigger, found := int64(0), false
		for _, a := range byChannel[channel] {
			if a.at <= closedAt && a.appended <= out && a.appended >= trigger {
				trigger, found = a.appended, true
			}
		}
		return trigger, found
	}

	// Output records; exactly-once ones become visible at the commit
	// marker that follows them in their partition.
	type pending struct{ trigger, appended int64 }
	var visible, own []int64
	waiting := make(map[int32][]pending)
	var decodeErr error
	err = testkit.ReadCommitted(rctx, adm, seed, cfg.OutputTopic, func(rec *kgo.Record) {
		at := rec.Timestamp.UnixMilli()
		if rec.Attrs.IsControl() {
			commit := len(rec.Key) >= 4 && binary.BigEndian.Uint16(rec.Key[2:4]) == 1
			for _, p := range waiting[rec.Partition] {
				if commit {
					visible = append(visible, at-p.trigger)
					own = append(own, p.appended-p.trigger)
				}
			}
			waiting[rec.Partition] = waiting[rec.Partition][:0]
			return
		}
		ce, err := cekafka.DecodeRecord(rec)
		if err != nil {
			decodeErr = errors.Join(decodeErr, err)
			return
		}
		var d codec.RecordData
		if err := json.Unmarshal(ce.Data(), &d); err != nil {
			decodeErr = errors.Join(decodeErr, fmt.Errorf("record %s: %w", ce.ID(), err))
			return
		}
		if d.ClosedBy == nil {
			res.expired++
			return
		}
		closedAt, err := time.Parse(time.RFC3339Nano, d.ClosedAt)
		if err != nil {
			decodeErr = errors.Join(decodeErr, fmt.Errorf("record %s: closedAt: %w", ce.ID(), err))
			return
		}
		trigger, ok := cause(d.ChannelID, closedAt.UnixMilli(), at)
		if !ok {
			decodeErr = errors.Join(decodeErr, fmt.Errorf("record %s: no input event of channel %s before it", ce.ID(), d.ChannelID))
			return
		}
		if trigger < measureFrom.UnixMilli() {
			res.warm++
			return
		}
		if g == ExactlyOnce {
			waiting[rec.Partition] = append(waiting[rec.Partition], pending{trigger: trigger, appended: at})
			return
		}
		visible = append(visible, at-trigger)
		own = append(own, at-trigger)
	})
	if err != nil {
		return res, err
	}
	if decodeErr != nil {
		return res, decodeErr
	}
	for p, w := range waiting {
		if len(w) > 0 {
			return res, fmt.Errorf("%d output records of partition %d have no commit marker after them", len(w), p)
		}
	}
	if len(visible) == 0 {
		return res, errors.New("no interruption measured: is the feed too short?")
	}
	res.samples = len(visible)
	res.visible = e2eQuantilesOf(visible)
	res.append = e2eQuantilesOf(own)
	return res, nil
}

// e2eWaitAssigned waits until group is stable with every partition of
// topic assigned.
func e2eWaitAssigned(ctx context.Context, adm *kadm.Client, group, topic string, partitions int, alive func() error) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := alive(); err != nil {
			return err
		}
		described, err := adm.DescribeGroups(ctx, group)
		if err == nil {
			if d, ok := described[group]; ok && d.Err == nil && d.State == "Stable" &&
				len(d.AssignedPartitions()[topic]) == partitions {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("group %s did not get the %d partitions of %s within 60s (last error: %v)", group, partitions, topic, err)
		case <-tick.C:
		}
	}
}

// ---------------------------------------------------------------- helpers

// e2eBrokers returns KAFKA_BROKERS or fails with instructions.
func e2eBrokers(b *testing.B) []string {
	b.Helper()
	s := os.Getenv("KAFKA_BROKERS")
	if s == "" {
		b.Fatal("KAFKA_BROKERS is not set: these benchmarks need a real broker. Run them with\n" +
			"\tscripts/kafka run -- go test -run '^$' -bench 'EndToEnd|Latency' -benchtime 1x -count 3 ./processor/\n" +
			"or run 'make kafka-up' and export the address it prints as KAFKA_BROKERS")
	}
	return strings.Split(s, ",")
}

// e2eAdmin returns an admin client closed at the benchmark's end.
func e2eAdmin(b *testing.B, brokers []string) (*kgo.Client, *kadm.Client) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

func e2eEnvInt(b *testing.B, name string, def int) int {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	if err != nil || v <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}

// e2eEnvDuration reads whole seconds ("20") or a Go duration ("20s").
func e2eEnvDuration(b *testing.B, name string, def time.Duration) time.Duration {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	if v, err := strconv.Atoi(s); err == nil && v >= 0 {
		return time.Duration(v) * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		b.Fatalf("%s=%q: want seconds or a duration such as 20s", name, s)
	}
	return d
}

// e2eCreateTopics creates topics with 6 partitions, RF 1 and configs, and
// waits until the broker's metadata lists them.
func e2eCreateTopics(ctx context.Context, adm *kadm.Client, configs map[string]*string, topics ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return testkit.CreateTopics(ctx, adm, e2ePartitions, configs, topics...)
}

// e2eDeleteTopics deletes topics, best effort: the disk is shared.
func e2eDeleteTopics(adm *kadm.Client, topics ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = adm.DeleteTopics(ctx, topics...)
}

func e2eDeleteGroups(adm *kadm.Client, groups ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = adm.DeleteGroups(ctx, groups...)
}

func e2eMedian(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// e2eStartProfile starts a CPU profile of one timed processor drain when
// E2E_CPUPROFILE is set; the returned func stops it (once).
func e2eStartProfile(g Guarantee, run int) (func(), error) {
	prefix := os.Getenv("E2E_CPUPROFILE")
	if prefix == "" {
		return func() {}, nil
	}
	f, err := os.Create(fmt.Sprintf("%s-%s-%d.pprof", prefix, g, run))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("E2E_CPUPROFILE (not with -cpuprofile): %w", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}, nil
}

// e2eCPU is the CPU used during a measurement, in cores busy on average:
// by this process, and by the whole host (broker and other load included).
type e2eCPU struct{ procCores, hostCores float64 }

// e2eCPUSample is a point to measure CPU use from.
type e2eCPUSample struct {
	at         time.Time
	proc       time.Duration
	busy, idle uint64 // host jiffies from /proc/stat; 0 when unavailable
}

func e2eSampleCPU() e2eCPUSample {
	s := e2eCPUSample{at: time.Now()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.proc = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if f, err := os.Open("/proc/stat"); err == nil {
		sc := bufio.NewScanner(f)
		if sc.Scan() {
			fields := strings.Fields(sc.Text())
			for i, v := range fields[1:] {
				n, _ := strconv.ParseUint(v, 10, 64)
				switch i {
				case 3, 4: // idle, iowait
					s.idle += n
				case 8, 9: // guest time is already in user time
				default:
					s.busy += n
				}
			}
		}
		f.Close()
	}
	return s
}

// since returns the CPU used from s until now.
func (s e2eCPUSample) since() e2eCPU {
	now := e2eSampleCPU()
	wall := now.at.Sub(s.at).Seconds()
	c := e2eCPU{procCores: (now.proc - s.proc).Seconds() / wall}
	if total := (now.busy + now.idle) - (s.busy + s.idle); total > 0 {
		c.hostCores = float64(now.busy-s.busy) / float64(total) * float64(runtime.NumCPU())
	}
	return c
}

// commitHook is a HookCommit from a func.
type commitHook func(int)

func (h commitHook) OnCommit(n int) { h(n) }
