package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/internal/testkit/instance"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/stateapi"
)

// stateInstance is one processor with its HTTP endpoint, as `run` serves it
// (ops routes and state API).
type stateInstance struct{ *instance.Instance }

// startStateInstance runs a processor on cfg until the test ends and serves
// its endpoint (metrics, health, state API) over real HTTP.
func startStateInstance(t *testing.T, cfg processor.Config, name string) *stateInstance {
	t.Helper()
	op := &ops{flags: &opsFlags{stateAPI: true}, reg: prometheus.NewRegistry()}
	return &stateInstance{instance.Start(t, cfg, name, op.handler)}
}

// TestInspectEqualsStateAPI: `inspect` reads a channel from the changelog
// after the processor stopped and prints what the state API answered for
// it while the processor ran, then the channel's records from the output
// topic: every revision and the retraction, from two partitions, and not
// another channel's record in the same partition.
func TestInspectEqualsStateAPI(t *testing.T) {
	cfg0 := processor.DefaultConfig()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, cfg0.InputTopic, cfg0.OutputTopic, cfg0.DLQTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := instance.Config(c.ListenAddrs())
	const id = "8a0c7e52-0000-4000-8000-00000000abcd"
	// Output records are keyed by interruptionId. Another channel whose
	// interruption's records share a partition with e0's: inspect must
	// leave them out.
	outPart := func(ch, ev string) int {
		return codec.KeyPartition([]byte(codec.InterruptionID(ch, "/channel", ev)), 3)
	}
	other := ""
	for k := 0; other == ""; k++ {
		if o := fmt.Sprintf("8a0c7e52-0000-4000-8000-0000000%05d", k); outPart(o, "o0") == outPart(id, "e0") {
			other = o
		}
	}
	if outPart(id, "e0") == outPart(id, "e4") {
		t.Fatal("the test wants e0's and e4's records in two partitions")
	}
	ctx := context.Background()
	var api []byte
	t.Run("running", func(t *testing.T) {
		in := startStateInstance(t, cfg, "inspect-a")
		cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.DefaultProduceTopic(cfg.InputTopic))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var recs []*kgo.Record
		for i, ev := range []struct{ typ, at string }{
			{"channel.interrupted.v0", "08:00"}, {"channel.resumed.v0", "08:10"}, {"channel.resumed.v0", "08:05"}, // a correction
			{"channel.interrupted.v1", "08:20"}, // open
			{"channel.interrupted.v0", "07:50"}, // e0's interruption is retracted: 07:50 opens one, e2 closes it
		} {
			recs = append(recs, &kgo.Record{Key: []byte(id), Value: testkit.StructuredValue(t,
				testkit.ChannelEvent(ev.typ, fmt.Sprintf("e%d", i), id, testkit.RFC3339(ev.at)))})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		otherRecs := []*kgo.Record{
			{Key: []byte(other), Value: testkit.StructuredValue(t, testkit.ChannelEvent("channel.interrupted.v0", "o0", other, testkit.RFC3339("08:00")))},
			{Key: []byte(other), Value: testkit.StructuredValue(t, testkit.ChannelEvent("channel.resumed.v0", "o1", other, testkit.RFC3339("08:01")))},
		}
		if err := cl.ProduceSync(ctx, otherRecs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		instance.WaitFor(t, 30*time.Second, "the input committed", func() bool {
			return instance.Committed(in.Instance) == int64(len(recs)+len(otherRecs))
		})
		resp, err := http.Get(in.URL + "/v1/channels/" + id)
		if err != nil {
			t.Fatal(err)
		}
		api, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("state API: %d %s", resp.StatusCode, api)
		}
	})
	fromInspect, b, out := inspectAsAPI(t, ctx, cfg.Brokers[0], id, api)
	if len(fromInspect.Interruptions) != 2 || fromInspect.Interruptions[0].Published != 1 || fromInspect.Interruptions[0].Record.OpenedBy.ID != "e4" ||
		len(fromInspect.Retractions) != 1 || fromInspect.Retractions[0].Revision != 3 || !fromInspect.Retractions[0].Published {
		t.Fatalf("inspect: %s; want e4's interruption published, an open one, and e0's retracted at revision 3", b)
	}
	// Timeline in time order: e4 07:50, e0 08:00, e2 08:05, e1 08:10,
	// e3 08:20; the channel's input partition from offset 0, so e<i>
	// arrived at offset i.
	for k, want := range []int64{4, 0, 2, 1, 3} {
		if o := fromInspect.Timeline[k].ArrivalOffset; o == nil || *o != want {
			t.Fatalf("inspect: timeline event %d arrived at %v, want offset %d: %s", k, o, want, b)
		}
	}

	// The output records: e0's revisions 1 and 2 and its retraction (3)
	// in one partition, e4's revision 1 in another; none of the other
	// channel's.
	var printed struct {
		OutputTopic   string             `json:"outputTopic"`
		OutputRecords []outputRecordJSON `json:"outputRecords"`
	}
	if err := json.Unmarshal([]byte(out), &printed); err != nil {
		t.Fatal(err)
	}
	if printed.OutputTopic != cfg.OutputTopic {
		t.Fatalf("output topic %q, want %q", printed.OutputTopic, cfg.OutputTopic)
	}
	var got []string
	lastOffset := map[int32]int64{}
	for _, r := range printed.OutputRecords {
		var data struct {
			ChannelID string `json:"channelId"`
			Revision  int    `json:"revision"`
			OpenedBy  struct {
				ID string `json:"id"`
			} `json:"openedBy"`
		}
		if err := json.Unmarshal(r.Data, &data); err != nil || r.Error != "" {
			t.Fatalf("output record %+v: %v", r, err)
		}
		if data.ChannelID != id {
			t.Fatalf("another channel's record printed: %s", r.Data)
		}
		if want := outPart(id, data.OpenedBy.ID); int(r.Partition) != want || r.Key != codec.InterruptionID(id, "/channel", data.OpenedBy.ID) {
			t.Fatalf("record %+v: partition or key not its interruption's (partition %d)", r, want)
		}
		if last, ok := lastOffset[r.Partition]; ok && r.Offset <= last || r.Timestamp == "" || r.ID == "" {
			t.Fatalf("record %+v: offsets out of order or fields missing", r)
		}
		lastOffset[r.Partition] = r.Offset
		got = append(got, fmt.Sprintf("%s %s #%d", data.OpenedBy.ID, strings.TrimPrefix(r.Type, "channel."), data.Revision))
	}
	slices.Sort(got)
	want := []string{"e0 interruptionended.v0 #1", "e0 interruptionended.v0 #2", "e0 interruptionretracted.v0 #3", "e4 interruptionended.v0 #1"}
	if !slices.Equal(got, want) {
		t.Fatalf("output records %v, want %v", got, want)
	}

	if code, _, _ := runCLI(ctx, nil, "inspect", "--brokers", cfg.Brokers[0], "no-such-channel"); code != 1 {
		t.Fatalf("inspect of an unknown channel exited %d, want 1", code)
	}
	if code, _, errOut := runCLI(ctx, nil, "inspect", "--brokers", cfg.Brokers[0], "--output-topic", "no-such-topic", id); code != 1 || !strings.Contains(errOut, "no-such-topic") {
		t.Fatalf("inspect with a missing output topic exited %d: %s", code, errOut)
	}
}

// crc32Partition is librdkafka's default partitioner (consistent_random)
// for a non-empty key: the CRC-32 (IEEE) of the key modulo the partition
// count, as kcat and the confluent-kafka clients partition by default.
func crc32Partition(key string, parts int) int32 {
	return int32(crc32.ChecksumIEEE([]byte(key)) % uint32(parts))
}

// TestStateAPICRC32Partitioned: input partitioned by CRC32 over two
// instances of one group. Over HTTP, each channel's owner (by the group's
// description from kadm) answers 200 with the channel on its CRC32
// partition and the right timeline and interruption, also when Kafka's
// default partitioner would put it elsewhere; the other instance answers
// 404 and lists the owner, with that partition, among the members to ask.
// After both stop, `inspect` finds every channel in the changelog and
// prints what the state API answered.
func TestStateAPICRC32Partitioned(t *testing.T) {
	const parts = 3
	cfg0 := processor.DefaultConfig()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(parts, cfg0.InputTopic, cfg0.OutputTopic, cfg0.DLQTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := instance.Config(c.ListenAddrs())
	ctx := context.Background()
	const channels = 12
	chID := func(k int) string { return fmt.Sprintf("5b2d7c10-0000-4000-8000-%012d", k) }
	moved := 0
	for k := range channels {
		if crc32Partition(chID(k), parts) != int32(codec.KeyPartition([]byte(chID(k)), parts)) {
			moved++
		}
	}
	if moved < channels/2 {
		t.Fatalf("only %d of %d channels have a CRC32 partition other than their murmur2 one", moved, channels)
	}
	api := map[string][]byte{}
	t.Run("running", func(t *testing.T) {
		a := startStateInstance(t, cfg, "crc-a")
		b := startStateInstance(t, cfg, "crc-b")
		instance.WaitSplit(t, a.Instance, b.Instance, parts)
		cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.DefaultProduceTopic(cfg.InputTopic),
			kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var recs []*kgo.Record
		for k := range channels {
			id, p := chID(k), crc32Partition(chID(k), parts)
			recs = append(recs, &kgo.Record{Key: []byte(id), Partition: p, Value: testkit.StructuredValue(t,
				testkit.ChannelEvent("channel.interrupted.v0", fmt.Sprintf("i%d", k), id, testkit.RFC3339("08:00")))})
			if k%2 == 0 {
				recs = append(recs, &kgo.Record{Key: []byte(id), Partition: p, Value: testkit.StructuredValue(t,
					testkit.ChannelEvent("channel.resumed.v0", fmt.Sprintf("r%d", k), id, testkit.RFC3339("08:05")))})
			}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		instance.WaitFor(t, 30*time.Second, "every input record committed", func() bool {
			return instance.Committed(a.Instance, b.Instance) == int64(len(recs))
		})
		groups, err := kadm.NewClient(cl).DescribeGroups(ctx, cfg.Group)
		if err != nil {
			t.Fatal(err)
		}
		owner := map[int32]string{}
		for _, m := range groups[cfg.Group].Members {
			as, _ := m.Assigned.AsConsumer()
			for _, tp := range as.Topics {
				for _, p := range tp.Partitions {
					owner[p] = m.MemberID
				}
			}
		}
		for k := range channels {
			id, p := chID(k), crc32Partition(chID(k), parts)
			wantIDs, wantStatus := []string{fmt.Sprintf("i%d", k)}, "open"
			if k%2 == 0 {
				wantIDs, wantStatus = append(wantIDs, fmt.Sprintf("r%d", k)), "published"
			}
			answered := 0
			for _, in := range []*stateInstance{a, b} {
				resp, err := http.Get(in.URL + "/v1/channels/" + id)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					answered++
					var ch stateapi.Channel
					if err := json.Unmarshal(body, &ch); err != nil {
						t.Fatal(err)
					}
					var ids []string
					for _, e := range ch.Timeline {
						ids = append(ids, e.ID)
					}
					if ch.Partition != p || !slices.Equal(ids, wantIDs) || len(ch.Interruptions) != 1 || ch.Interruptions[0].Status != wantStatus {
						t.Fatalf("channel %d (CRC32 partition %d): %s", k, p, body)
					}
					api[id] = body
					continue
				}
				var e stateapi.Error
				if err := json.Unmarshal(body, &e); err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusNotFound || !slices.ContainsFunc(e.AskMembers, func(m stateapi.Ask) bool {
					return m.MemberID == owner[p] && slices.Contains(m.Partitions, p)
				}) {
					t.Fatalf("channel %d from the instance without partition %d: %d %s; want 404 asking member %s", k, p, resp.StatusCode, body, owner[p])
				}
			}
			if answered != 1 {
				t.Fatalf("channel %d: %d instances answered 200, want its owner alone", k, answered)
			}
		}
	})
	for k := range channels {
		inspectAsAPI(t, ctx, cfg.Brokers[0], chID(k), api[chID(k)])
	}
}

// inspectAsAPI runs `inspect` for channel id, with the flags in extra,
// and fails the test unless it prints the channel as the state API
// answered it (api). It returns the channel printed, as JSON too, and
// inspect's whole output.
func inspectAsAPI(t *testing.T, ctx context.Context, broker, id string, api []byte, extra ...string) (stateapi.Channel, []byte, string) {
	t.Helper()
	code, out, errOut := runCLI(ctx, nil, append(append([]string{"inspect", "--brokers", broker}, extra...), id)...)
	if code != 0 {
		t.Fatalf("inspect %s exited %d: %s", id, code, errOut)
	}
	var fromAPI, fromInspect stateapi.Channel
	if err := json.Unmarshal(api, &fromAPI); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &fromInspect); err != nil {
		t.Fatalf("inspect output: %v: %s", err, out)
	}
	a, _ := json.Marshal(fromAPI)
	b, _ := json.Marshal(fromInspect)
	if string(a) != string(b) {
		t.Fatalf("channel %s: inspect differs from the state API:\n api     %s\n inspect %s", id, a, b)
	}
	return fromInspect, b, out
}

// getReadyz GETs /readyz and returns the status and body.
func (in *stateInstance) getReadyz(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Get(in.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReadyzWhileCommitsFail breaks the dependency readiness stands for:
// kfake fails every commit (exactly-once: EndTxn; at-least-once: the
// OffsetCommit) until released. /readyz answers 503 with the broker's
// error while the commits fail, and the runner is not ready when it tries
// again after rebuilding its client (rejoined and restored, but nothing
// committed since the failure); once the commits succeed again, the input
// commits and /readyz answers 200.
func TestReadyzWhileCommitsFail(t *testing.T) {
	for _, tc := range []struct {
		guarantee processor.Guarantee
		key       kmsg.Key
		failure   *kerr.Error
		// fail returns the failed response to req; nil: req passes.
		fail func(kmsg.Request, *kerr.Error) kmsg.Response
	}{
		{processor.ExactlyOnce, kmsg.EndTxn, kerr.InvalidTxnState, func(req kmsg.Request, e *kerr.Error) kmsg.Response {
			resp := req.ResponseKind().(*kmsg.EndTxnResponse)
			resp.ErrorCode = e.Code
			return resp
		}},
		{processor.AtLeastOnce, kmsg.OffsetCommit, kerr.InvalidCommitOffsetSize, func(req kmsg.Request, e *kerr.Error) kmsg.Response {
			oc := req.(*kmsg.OffsetCommitRequest)
			resp := oc.ResponseKind().(*kmsg.OffsetCommitResponse)
			for _, tp := range oc.Topics {
				rt := kmsg.NewOffsetCommitResponseTopic()
				rt.Topic = tp.Topic
				for _, pp := range tp.Partitions {
					rp := kmsg.NewOffsetCommitResponseTopicPartition()
					rp.Partition, rp.ErrorCode = pp.Partition, e.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return resp
		}},
		// The processor's records (outputs and changelog, in its
		// transactions) refused: every transaction aborts, the client
		// is not rebuilt. (Not MESSAGE_TOO_LARGE: a refusal as too large
		// that no lower max.message.bytes explains stops the runner.)
		{processor.ExactlyOnce, kmsg.Produce, kerr.InvalidRecord, func(req kmsg.Request, e *kerr.Error) kmsg.Response {
			pr := req.(*kmsg.ProduceRequest)
			if pr.TransactionID == nil {
				return nil // the test's input
			}
			return testkit.FailProduce(pr, e.Code)
		}},
	} {
		t.Run(tc.guarantee.String()+" "+tc.key.Name(), func(t *testing.T) {
			cfg0 := processor.DefaultConfig()
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, cfg0.InputTopic, cfg0.OutputTopic, cfg0.DLQTopic))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			cfg := instance.Config(c.ListenAddrs())
			cfg.Guarantee = tc.guarantee
			in := startStateInstance(t, cfg, "readyz-commits")
			instance.WaitFor(t, 30*time.Second, "/readyz 200", func() bool { code, _ := in.getReadyz(t); return code == http.StatusOK })

			var (
				failing atomic.Bool
				mu      sync.Mutex
				tries   []string // Ready() at each failed commit
			)
			failing.Store(true)
			c.ControlKey(int16(tc.key), func(req kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				if !failing.Load() {
					return nil, nil, false
				}
				ready, why := in.R.Ready()
				resp := tc.fail(req, tc.failure)
				if resp == nil {
					return nil, nil, false
				}
				mu.Lock()
				tries = append(tries, fmt.Sprintf("%v: %s", ready, why))
				mu.Unlock()
				return resp, nil, true
			})
			cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.DefaultProduceTopic(cfg.InputTopic))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			id := "8a0c7e52-0000-4000-8000-00000000fa11"
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte(id), Value: testkit.StructuredValue(t,
				testkit.ChannelEvent("channel.interrupted.v0", "f1", id, testkit.RFC3339("08:00")))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			var body string
			testkit.Poll(t, 30*time.Second, 20*time.Millisecond, "/readyz 503 naming the failed commit", nil, nil, func() (bool, string) {
				var code int
				code, body = in.getReadyz(t)
				mu.Lock()
				defer mu.Unlock()
				return code == http.StatusServiceUnavailable && strings.Contains(body, tc.failure.Message),
					fmt.Sprintf("%d %q after %d failed commits", code, body, len(tries))
			})
			// Each failure that rebuilds the client backs off (1 s, 2 s,
			// ...) and rejoins. The refusals of the first failing unit of
			// work come while the runner is still ready (one unit can
			// send several requests the broker refuses before it ends);
			// once a try finds it not ready (a retry after a recorded
			// failure), every later try must too: nothing committed.
			notReady := func() int {
				for k, tr := range tries {
					if strings.HasPrefix(tr, "false: ") {
						return k
					}
				}
				return -1
			}
			instance.WaitFor(t, 60*time.Second, "a failed commit tried again while not ready, and one more", func() bool {
				mu.Lock()
				defer mu.Unlock()
				k := notReady()
				return k >= 0 && len(tries) > k+1
			})
			mu.Lock()
			first := notReady()
			for k, tr := range tries[first:] {
				if !strings.HasPrefix(tr, "false: ") {
					t.Errorf("try %d, after try %d found the runner not ready: the runner was ready (%s); no commit since the failure", first+k+1, first+1, tr)
				}
			}
			mu.Unlock()
			failing.Store(false)
			instance.WaitFor(t, 30*time.Second, "/readyz 200 and the record committed after the commits recover", func() bool {
				code, _ := in.getReadyz(t)
				ps := in.R.Status().Partitions
				return code == http.StatusOK && len(ps) == 1 && ps[0].Committed == 1
			})
			mu.Lock()
			t.Logf("while the commits failed: %s; Ready at each failed commit: %q", strings.TrimSpace(body), tries)
			mu.Unlock()
		})
	}
}
