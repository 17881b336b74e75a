package partread_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/interruptions/interruptions/internal/partread"
)

const topic = "t"

// cluster is an embedded broker with topic on 3 partitions, and a
// producing client that picks partitions from the records.
func cluster(t *testing.T) (*kfake.Cluster, *kgo.Client, *kadm.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return c, cl, kadm.NewClient(cl)
}

// transaction produces values to partition p in one transaction, committed
// or aborted.
func transaction(t *testing.T, c *kfake.Cluster, p int32, commit bool, values ...string) {
	t.Helper()
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID(fmt.Sprintf("tx-%d-%v-%s", p, commit, values[0])))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

func produce(t *testing.T, cl *kgo.Client, p int32, values ...string) {
	t.Helper()
	for _, v := range values {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// collect reads ranges with r and returns each partition's values (markers
// left out) and how many markers it was handed.
func collect(t *testing.T, r partread.Reader, ranges map[int32]partread.Range) (map[int32][]string, int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var (
		mu      sync.Mutex
		got     = map[int32][]string{}
		markers int
		busy    = map[int32]bool{}
	)
	err := r.Read(ctx, ranges, func(p int32, recs []*kgo.Record) error {
		mu.Lock()
		if busy[p] {
			t.Errorf("partition %d handed over twice at once", p)
		}
		busy[p] = true
		mu.Unlock()
		defer func() { mu.Lock(); busy[p] = false; mu.Unlock() }()
		for _, rec := range recs {
			if rec.Partition != p || rec.Offset >= ranges[p].End || rec.Offset < ranges[p].Start {
				t.Errorf("partition %d handed %s[%d]@%d, outside %+v", p, rec.Topic, rec.Partition, rec.Offset, ranges[p])
			}
			mu.Lock()
			if rec.Attrs.IsControl() {
				markers++
			} else {
				got[p] = append(got[p], string(rec.Value))
			}
			mu.Unlock()
		}
		return nil
	})
	return got, markers, err
}

// TestRead reads three partitions, one serially and one in parallel: one
// plain, one ending in a committed transaction's marker with an aborted
// transaction before it, one empty. Each is read to the end its bounds
// had when listed (a record produced after is not read), the aborted
// records left out, and the markers handed over.
func TestRead(t *testing.T) {
	c, cl, adm := cluster(t)
	produce(t, cl, 0, "a0", "a1", "a2")
	transaction(t, c, 1, false, "aborted1", "aborted2")
	transaction(t, c, 1, true, "b0", "b1")
	bounds, err := partread.Bounds(context.Background(), adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	// Offsets: partition 0 holds 3 records; partition 1 two aborted,
	// a marker, two committed, a marker.
	if want := map[int32]partread.Range{0: {0, 3}, 1: {0, 6}, 2: {0, 0}}; !maps.Equal(bounds, want) {
		t.Fatalf("bounds %v, want %v", bounds, want)
	}
	produce(t, cl, 0, "after the bounds")
	for _, parallel := range []bool{false, true} {
		r := partread.Reader{Topic: topic, ClientOpts: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, Parallel: parallel}
		got, markers, err := collect(t, r, bounds)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got[0], []string{"a0", "a1", "a2"}) || !slices.Equal(got[1], []string{"b0", "b1"}) || len(got[2]) != 0 || markers != 2 {
			t.Errorf("parallel %v: read %q, %d markers; want a0-a2, b0-b1, nothing and 2 markers", parallel, got, markers)
		}
		// A range from the middle: partition 0 from offset 1 to 3.
		got, _, err = collect(t, r, map[int32]partread.Range{0: {1, 3}})
		if err != nil || !slices.Equal(got[0], []string{"a1", "a2"}) {
			t.Errorf("parallel %v: partition 0 over [1, 3): %q, %v", parallel, got[0], err)
		}
	}
	// A topic that does not exist: an error naming it.
	if b, err := partread.Bounds(context.Background(), adm, "no-such-topic"); err == nil || !strings.Contains(err.Error(), "no-such-topic") {
		t.Errorf("bounds of a missing topic: %v, %v", b, err)
	}
}

// TestReadFnError: fn's error ends the read, with the partition named.
func TestReadFnError(t *testing.T) {
	c, cl, adm := cluster(t)
	produce(t, cl, 2, "x")
	bounds, err := partread.Bounds(context.Background(), adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	r := partread.Reader{Topic: topic, ClientOpts: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}}
	err = r.Read(context.Background(), bounds, func(int32, []*kgo.Record) error { return fmt.Errorf("bad record") })
	if err == nil || err.Error() != "t[2]: bad record" {
		t.Fatalf("error %v, want t[2]: bad record", err)
	}
}

// TestReadFetchErrors: the broker fails fetches with an error the client
// reports (TOPIC_AUTHORIZATION_FAILED). Without RetryFetchErrors the read ends with
// it; with it, the read goes on and ends once the fetches succeed again
// (after three failures).
func TestReadFetchErrors(t *testing.T) {
	c, cl, adm := cluster(t)
	produce(t, cl, 0, "a0")
	bounds, err := partread.Bounds(context.Background(), adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		budget = -1 // fetches left to fail; negative: every one
		failed int
	)
	c.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		if budget == 0 {
			return nil, nil, false
		}
		failed++
		if budget > 0 {
			budget--
		}
		fr := req.(*kmsg.FetchRequest)
		resp := fr.ResponseKind().(*kmsg.FetchResponse)
		for _, rt := range fr.Topics {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	r := partread.Reader{Topic: topic, ClientOpts: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}}
	t.Run("fail", func(t *testing.T) {
		_, _, err := collect(t, r, bounds)
		if err == nil || !strings.Contains(err.Error(), "fetch t[0]: ") || !strings.Contains(err.Error(), kerr.TopicAuthorizationFailed.Message) {
			t.Fatalf("error %v, want the fetch error of t[0]", err)
		}
	})
	t.Run("retry", func(t *testing.T) {
		mu.Lock()
		budget, failed = 3, 0
		mu.Unlock()
		r.RetryFetchErrors = true
		got, _, err := collect(t, r, bounds)
		mu.Lock()
		defer mu.Unlock()
		if err != nil || !slices.Equal(got[0], []string{"a0"}) || failed < 3 {
			t.Fatalf("read %q after %d failed fetches: %v; want a0 after 3", got, failed, err)
		}
	})
}
