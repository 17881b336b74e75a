package processor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/interruptions/interruptions/internal/testkit"
)

// The oracles of these tests are Kafka's record format v2, worked out by
// hand (varints zig-zag: 1 byte up to 63, 2 up to 8191, 3 up to 1048575):
// a record alone in its batch with a key of k and a value of v bytes is
//
//	body   = attributes 1 + timestampDelta 1 + offsetDelta 1 + varint(k) + k + varint(v) + v + header count 1
//	record = varint(body) + body
//
// and the broker takes its batch when 61 (the batch header) + record ≤
// max.message.bytes; franz-go counts 65 for the header (4 more for the
// produce request's records length).
//
// max.message.bytes 8192, key 255 (varint 2): v = 7862 gives body 8125
// (varint 2), 65+2+8125 = 8192; v = 7863 would be 8193. The broker
// itself takes up to v = 7866 (61+2+8129 = 8192).
//
// max.message.bytes 2048, key 255: v = 1718 gives body 1981 (varint 2),
// 65+2+1981 = 2048.
//
// max.message.bytes 8192, key 1000 (varint 2): v = 7117 gives body 8125,
// 65+2+8125 = 8192.
//
// The engine's limit allows for the longest changelog key, a segment
// record's of a 255-byte channelId: 255 + state.MaxKeyExtra = 267 bytes
// (varint 2), 12 more than 255: 7850 at 8192, 1706 at 2048, 3754 at 4096.
const (
	limit8192Changelog = 7850
	limit2048Changelog = 1706
	limit4096Changelog = 3754
)

const (
	limit8192Key255  = 7862
	broker8192Key255 = 7866
	limit2048Key255  = 1718
	limit8192Key1000 = 7117
)

// limitsFixture is a kfake cluster whose input, output and dead-letter
// topics and changelog exist before the runner starts, the changelog and
// the output with the max.message.bytes given (0: the broker's default).
type limitsFixture struct {
	cluster *kfake.Cluster
	cfg     Config
	adm     *kadm.Client
	cl      *kgo.Client
	logs    *observer.ObservedLogs
}

func newLimitsFixture(t *testing.T, g Guarantee, changelogMax, outputMax int) *limitsFixture {
	t.Helper()
	const partitions = 2
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(cluster.Close)
	cfg := DefaultConfig()
	cfg.Brokers = cluster.ListenAddrs()
	cfg.Guarantee = g
	cfg.CommitInterval = 20 * time.Millisecond
	cfg.TransactionalID = "test-" + t.Name()
	cfg.CreateTopics = false
	core, logs := observer.New(zapcore.InfoLevel)
	cfg.Logger = zap.New(core)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	compact := "compact"
	withMax := func(n int, c map[string]*string) map[string]*string {
		if n > 0 {
			s := fmt.Sprint(n)
			c[maxMessageBytesConfig] = &s
		}
		return c
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(testkit.CreateTopics(ctx, adm, partitions, nil, cfg.InputTopic, cfg.DLQTopic))
	must(testkit.CreateTopics(ctx, adm, partitions, withMax(outputMax, map[string]*string{}), cfg.OutputTopic))
	must(testkit.CreateTopics(ctx, adm, partitions, withMax(changelogMax, map[string]*string{"cleanup.policy": &compact}), cfg.ChangelogTopic()))
	return &limitsFixture{cluster: cluster, cfg: cfg, adm: adm, cl: cl, logs: logs}
}

// run starts a runner; stop cancels it and returns Run's error, done is
// closed when Run returned (its error in *runErr).
func (f *limitsFixture) run(t *testing.T) (r *Runner, done chan struct{}, runErr *error, stop func() error) {
	t.Helper()
	r, err := NewRunner(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan struct{})
	runErr = new(error)
	go func() {
		defer close(done)
		*runErr = r.Run(ctx)
	}()
	stop = func() error {
		cancel()
		<-done
		return *runErr
	}
	t.Cleanup(func() { _ = stop() })
	return r, done, runErr, stop
}

// produceTo writes values to partition p of the input topic.
func (f *limitsFixture) produceTo(t *testing.T, p int32, values ...[]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: f.cfg.InputTopic, Partition: p, Value: v}
	}
	if err := f.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce input: %v", err)
	}
}

// channelEvents are n events of one channel, interrupted and resumed
// alternately, one second apart from second `from`.
func channelEvents(t *testing.T, channel string, from, n int) [][]byte {
	base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	var out [][]byte
	for i := from; i < from+n; i++ {
		typ := "channel.interrupted.v0"
		if i%2 == 1 {
			typ = "channel.resumed.v0"
		}
		ts := base.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano)
		out = append(out, testkit.StructuredValue(t, testkit.ChannelEvent(typ, fmt.Sprintf("%s-%06d", channel, i), channel, ts)))
	}
	return out
}

// waitFor polls cond until it holds, failing after d or when Run returned.
func waitFor(t *testing.T, what string, done chan struct{}, runErr *error, cond func() (bool, string)) {
	t.Helper()
	testkit.Poll(t, 30*time.Second, 10*time.Millisecond, what, done, func() string { return fmt.Sprintf("Run returned %v", *runErr) }, cond)
}

// TestChangelogValueLimitFromTopicConfig: with the changelog topic created
// beforehand with max.message.bytes 8192 and the output with 50000, the
// runner gives the engine the longest changelog value that fits 8192 with
// the longest changelog key (7850, worked out above), and bounds franz-go's batches
// by each topic's own max.message.bytes, the dead-letter topic (at the
// broker's default, Kafka's 1048588, which kfake shares) by franz-go's
// default 1000012, which is lower.
func TestChangelogValueLimitFromTopicConfig(t *testing.T) {
	f := newLimitsFixture(t, ExactlyOnce, 8192, 50_000)
	r, done, runErr, stop := f.run(t)
	waitFor(t, "the engine's changelog value limit", done, runErr, func() (bool, string) {
		n := r.pipe.engine.MaxChannelBytes()
		return n != 0, fmt.Sprint(n)
	})
	if got := r.pipe.engine.MaxChannelBytes(); got != limit8192Changelog {
		t.Errorf("engine MaxChannelBytes = %d, want %d (max.message.bytes 8192, key 267)", got, limit8192Changelog)
	}
	for topic, want := range map[string]int32{f.cfg.ChangelogTopic(): 8192, f.cfg.OutputTopic: 50_000, f.cfg.DLQTopic: 1_000_012} {
		if got := r.limits.batchMax(topic); got != want {
			t.Errorf("ProducerBatchMaxBytes of %s = %d, want %d", topic, got, want)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if n := f.logs.FilterMessage("changelog value limit").FilterField(zap.Int("max_value_bytes", limit8192Changelog)).Len(); n != 1 {
		t.Errorf("%d logs of the changelog value limit %d, want 1", n, limit8192Changelog)
	}
}

// TestChangelogValueLimitFitsBroker holds the arithmetic to a broker
// (kfake, which measures batches as Kafka does): on a topic with
// max.message.bytes 8192, a record with a 255-byte key and a value of the
// limit goes through a client whose batches are bounded by 8192, as the
// runner's are; the broker itself takes 4 bytes more (its header is 61,
// not franz-go's worst case of 65) and refuses one more with
// MESSAGE_TOO_LARGE: the limit is the broker's less those 4 bytes.
func TestChangelogValueLimitFitsBroker(t *testing.T) {
	f := newLimitsFixture(t, ExactlyOnce, 0, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	limit := "8192"
	if err := testkit.CreateTopics(ctx, f.adm, 1, map[string]*string{maxMessageBytesConfig: &limit}, "probe"); err != nil {
		t.Fatal(err)
	}
	key := []byte(strings.Repeat("k", 255))
	produce := func(cl *kgo.Client, v int) error {
		return cl.ProduceSync(ctx, &kgo.Record{Topic: "probe", Key: key, Value: make([]byte, v)}).FirstErr()
	}
	bounded, err := kgo.NewClient(kgo.SeedBrokers(f.cfg.Brokers...), kgo.ProducerBatchMaxBytes(8192), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer bounded.Close()
	if err := produce(bounded, limit8192Key255); err != nil {
		t.Errorf("value of %d B through a client bounded by 8192: %v", limit8192Key255, err)
	}
	plain, err := kgo.NewClient(kgo.SeedBrokers(f.cfg.Brokers...), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := produce(plain, broker8192Key255); err != nil {
		t.Errorf("value of %d B to the broker: %v", broker8192Key255, err)
	}
	if err := produce(plain, broker8192Key255+1); !errors.Is(err, kerr.MessageTooLarge) {
		t.Errorf("value of %d B to the broker: %v, want MESSAGE_TOO_LARGE", broker8192Key255+1, err)
	}
	if got := changelogValueLimit(8192, 255); got != limit8192Key255 {
		t.Errorf("changelogValueLimit(8192, 255) = %d, want %d", got, limit8192Key255)
	}
}

// TestRefusedRecordUnexplainedStops: when the broker refuses the changelog
// records as too large although the topic's max.message.bytes did not
// change, Run returns (it does not process the unit again and again) a
// *RecordTooLargeError naming the changelog topic, the partition, the
// limit and the engine's value limit; under both guarantees.
func TestRefusedRecordUnexplainedStops(t *testing.T) {
	for _, g := range []Guarantee{ExactlyOnce, AtLeastOnce} {
		t.Run(g.String(), func(t *testing.T) {
			f := newLimitsFixture(t, g, 8192, 0)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			details, err := f.adm.ListTopics(ctx, f.cfg.ChangelogTopic())
			if err != nil {
				t.Fatal(err)
			}
			id := details[f.cfg.ChangelogTopic()].ID
			f.cluster.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
				f.cluster.KeepControl()
				req := kr.(*kmsg.ProduceRequest)
				for _, rt := range req.Topics {
					if rt.Topic == f.cfg.ChangelogTopic() || rt.TopicID == id {
						return testkit.FailProduce(req, kerr.MessageTooLarge.Code), nil, true
					}
				}
				return nil, nil, false
			})
			f.produceTo(t, 1, channelEvents(t, "chan-A", 0, 1)...)
			_, done, runErr, _ := f.run(t)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return: the refused unit of work is retried")
			}
			var tl *RecordTooLargeError
			if !errors.As(*runErr, &tl) {
				t.Fatalf("Run returned %v, want a *RecordTooLargeError", *runErr)
			}
			if tl.Topic != f.cfg.ChangelogTopic() || tl.Partition != 1 || tl.MaxMessageBytes != 8192 || tl.ValueLimit != limit8192Changelog ||
				!errors.Is(tl, kerr.MessageTooLarge) {
				t.Errorf("error %+v: want topic %s, partition 1, max.message.bytes 8192, value limit %d, MESSAGE_TOO_LARGE",
					tl, f.cfg.ChangelogTopic(), limit8192Changelog)
			}
			for _, want := range []string{f.cfg.ChangelogTopic() + "[1]", "8192"} {
				if !strings.Contains((*runErr).Error(), want) {
					t.Errorf("error %q does not name %q", *runErr, want)
				}
			}
		})
	}
}

// TestRefusedAfterLoweredLimitRetriesOnceThenStops: the changelog's
// max.message.bytes falls from 8192 to 4096 while the runner runs, and the
// broker then refuses every changelog record as too large. The first
// refusal is explained by the new limit: the runner logs it, gives the
// engine 3754 (4096 - 65 - 2 - (4+2+267+2)) and processes the unit again
// on a new client; the second, with the limit unchanged since, is not, and
// Run returns a *RecordTooLargeError with the new limit: one retry, not a
// loop.
func TestRefusedAfterLoweredLimitRetriesOnceThenStops(t *testing.T) {
	f := newLimitsFixture(t, ExactlyOnce, 8192, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	details, err := f.adm.ListTopics(ctx, f.cfg.ChangelogTopic())
	if err != nil {
		t.Fatal(err)
	}
	id := details[f.cfg.ChangelogTopic()].ID
	var refusals atomic.Int32
	f.cluster.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		f.cluster.KeepControl()
		req := kr.(*kmsg.ProduceRequest)
		for _, rt := range req.Topics {
			if rt.Topic == f.cfg.ChangelogTopic() || rt.TopicID == id {
				refusals.Add(1)
				return testkit.FailProduce(req, kerr.MessageTooLarge.Code), nil, true
			}
		}
		return nil, nil, false
	})
	r, done, runErr, _ := f.run(t)
	waitFor(t, "the engine's changelog value limit", done, runErr, func() (bool, string) {
		n := r.pipe.engine.MaxChannelBytes()
		return n == limit8192Changelog, fmt.Sprint(n)
	})
	if err := testkit.SetTopicConfig(ctx, f.adm, f.cfg.ChangelogTopic(), maxMessageBytesConfig, "4096"); err != nil {
		t.Fatalf("lower max.message.bytes: %v", err)
	}
	f.produceTo(t, 0, channelEvents(t, "chan-A", 0, 1)...)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not return after %d refusals: the refused unit of work is retried", refusals.Load())
	}
	var tl *RecordTooLargeError
	if !errors.As(*runErr, &tl) || tl.MaxMessageBytes != 4096 || tl.ValueLimit != limit4096Changelog {
		t.Fatalf("Run returned %v, want a *RecordTooLargeError with max.message.bytes 4096 and value limit %d", *runErr, limit4096Changelog)
	}
	if n := f.logs.FilterMessage("changelog value limit").FilterField(zap.Int("max_value_bytes", limit4096Changelog)).Len(); n != 1 {
		t.Errorf("%d logs of the changelog value limit %d, want 1", n, limit4096Changelog)
	}
}

// TestChangelogBatchesWithinMaxMessageBytes: one unit of work changes 400
// channels of one partition (one event each), about 40 KB of changelog
// records of some 100 bytes each, on a changelog whose max.message.bytes
// is 8192. Each record fits, but a batch of them would not: the runner's
// client bounds its batches by the topic's limit, so the broker takes them
// all and the input is committed to its end; Run does not return.
func TestChangelogBatchesWithinMaxMessageBytes(t *testing.T) {
	f := newLimitsFixture(t, ExactlyOnce, 8192, 0)
	var values [][]byte
	for i := range 400 {
		values = append(values, channelEvents(t, fmt.Sprintf("chan-%03d", i), 0, 1)...)
	}
	f.produceTo(t, 0, values...)
	f.cfg.CommitInterval = time.Second // the 400 events in one unit
	_, done, runErr, stop := f.run(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitFor(t, "the input committed to its end", done, runErr, func() (bool, string) {
		ok, err := testkit.CaughtUp(ctx, f.adm, f.cfg.Group, f.cfg.InputTopic)
		return ok, fmt.Sprint(err)
	})
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	recs, err := testkit.ReadAll(ctx, f.adm, []kgo.Opt{kgo.SeedBrokers(f.cfg.Brokers...)}, f.cfg.ChangelogTopic())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 400 {
		t.Errorf("%d changelog records, want at least the 400 channels'", len(recs))
	}
}

// TestExplainRefusals decides refusals against the limits in force and
// those read after: a changed max.message.bytes explains its topic's
// refusals; a changelog key longer than assumed explains a value within
// the assumed key's limit (7862) and over its own key's (7117), and the
// key length assumed becomes it; any other changelog refusal is
// unexplained (a stop); an output record under an unchanged limit is
// neither (refused as any record).
func TestExplainRefusals(t *testing.T) {
	const cl, out = "cl", "out"
	was := map[string]int32{cl: 8192, out: 8192}
	lowered := map[string]int32{cl: 4096, out: 8192}
	rec := func(topic string, k, v int) *tooLargeError {
		return &tooLargeError{topic: topic, keyBytes: k, valueBytes: v, err: kerr.MessageTooLarge}
	}
	for _, tc := range []struct {
		name              string
		was, now          map[string]int32 // was: the common one when nil
		recs              []*tooLargeError
		keyBytes          int
		changed, explains bool
	}{
		{"changelog limit lowered", nil, lowered, []*tooLargeError{rec(cl, 36, 10), rec(cl, 36, 5000)}, 255, true, true},
		{"output limit unchanged, changelog lowered", nil, lowered, []*tooLargeError{rec(cl, 36, 5000), rec(out, 36, 5000)}, 255, true, true},
		{"output limit unchanged", nil, was, []*tooLargeError{rec(out, 36, 9000)}, 255, false, true},
		{"output limit raised", nil, map[string]int32{cl: 8192, out: 1 << 20}, []*tooLargeError{rec(out, 36, 9000)}, 255, true, true},
		// Below 512 and above 1000012 franz-go's bound is its default:
		// no client to change.
		{"output limit raised from 100 to 1048588", map[string]int32{cl: 8192, out: 100}, map[string]int32{cl: 8192, out: 1_048_588},
			[]*tooLargeError{rec(out, 36, 900)}, 255, false, true},
		{"longer key", nil, was, []*tooLargeError{rec(cl, 1000, limit8192Key1000+1)}, 1000, true, true},
		{"longer key, value over the assumed limit", nil, was, []*tooLargeError{rec(cl, 1000, limit8192Key255+1)}, 255, false, false},
		{"longer key, value within its own limit", nil, was, []*tooLargeError{rec(cl, 1000, limit8192Key1000)}, 255, false, false},
		{"nothing changed", nil, was, []*tooLargeError{rec(cl, 36, 100)}, 255, false, false},
		{"output refused, changelog unexplained", nil, was, []*tooLargeError{rec(out, 36, 9000), rec(cl, 36, 100)}, 255, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.was
			if before == nil {
				before = was
			}
			k, changed, un := explainRefusals(before, tc.now, cl, 255, tc.recs)
			if (un == nil) != tc.explains || changed != tc.changed || k != tc.keyBytes {
				t.Errorf("explainRefusals: key %d, changed %v, unexplained %v; want key %d, changed %v, explained %v",
					k, changed, un, tc.keyBytes, tc.changed, tc.explains)
			}
		})
	}
}

// TestLoweredChangelogLimitAppliedAtRuntime: the changelog topic starts at
// max.message.bytes 8192; once 60 events of one channel are committed (a
// value of about 4 KiB),
// the operator lowers it to 2048 and more events of a new channel come.
// Its changelog record grows past 2048 and is refused; the runner reads
// the new limit, logs it, gives the engine 1706 (worked out above) and
// goes on: the engine dead-letters what would overflow, the input is
// committed to its end and Run does not return. Needs the engine's
// MaxChannelBytes check (core/match).
func TestLoweredChangelogLimitAppliedAtRuntime(t *testing.T) {
	f := newLimitsFixture(t, ExactlyOnce, 8192, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, done, runErr, stop := f.run(t)
	committed := func() (bool, string) {
		ok, err := testkit.CaughtUp(ctx, f.adm, f.cfg.Group, f.cfg.InputTopic)
		return ok, fmt.Sprint(err)
	}
	f.produceTo(t, 0, channelEvents(t, "chan-A", 0, 60)...)
	waitFor(t, "the first events committed", done, runErr, committed)

	if err := testkit.SetTopicConfig(ctx, f.adm, f.cfg.ChangelogTopic(), maxMessageBytesConfig, "2048"); err != nil {
		t.Fatalf("lower max.message.bytes: %v", err)
	}
	f.produceTo(t, 0, channelEvents(t, "chan-B", 400, 200)...)
	f.produceTo(t, 1, channelEvents(t, "chan-C", 400, 2)...)
	waitFor(t, "the engine's new limit", done, runErr, func() (bool, string) {
		n := r.pipe.engine.MaxChannelBytes()
		return n == limit2048Changelog, fmt.Sprint(n)
	})
	waitFor(t, "the input committed to its end after the change", done, runErr, committed)
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if n := f.logs.FilterMessage("changelog value limit").FilterField(zap.Int32("max_message_bytes", 2048)).Len(); n != 1 {
		t.Errorf("%d logs of the changelog value limit at max.message.bytes 2048, want 1", n)
	}
	recs, err := testkit.ReadAll(ctx, f.adm, []kgo.Opt{kgo.SeedBrokers(f.cfg.Brokers...)}, f.cfg.ChangelogTopic())
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if string(rec.Key) == "chan-B" && len(rec.Key)+len(rec.Value) > 2048 {
			t.Errorf("changelog record of chan-B: key %d B + value %d B > 2048", len(rec.Key), len(rec.Value))
		}
	}
}
