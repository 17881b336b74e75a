package stateapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/internal/testkit/instance"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/stateapi"
)

// stateInstance is one processor with the state API over HTTP.
type stateInstance struct{ *instance.Instance }

// startStateInstance runs a processor on cfg until the test ends and serves
// its state API over real HTTP.
func startStateInstance(t *testing.T, cfg processor.Config, name string) *stateInstance {
	t.Helper()
	return &stateInstance{instance.Start(t, cfg, name, func(r *processor.Runner) http.Handler {
		mux := http.NewServeMux()
		stateapi.Register(mux, r)
		return mux
	})}
}

// get GETs path and decodes the JSON answer into v; it returns the status.
func (in *stateInstance) get(t *testing.T, path string, v any) int {
	t.Helper()
	resp, err := http.Get(in.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: content type %q: %s", path, resp.Header.Get("Content-Type"), b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
	return resp.StatusCode
}

// TestStateAPI over real HTTP against two instances of one group on a
// three-partition topic: a channel's state from its owner; from the other
// instance a 404 that names the partition and its owner; an unknown
// channel; open interruptions oldest first, bounded by limit; partitions.
func TestStateAPI(t *testing.T) {
	const parts = 3
	cfg0 := processor.DefaultConfig()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(parts, cfg0.InputTopic, cfg0.OutputTopic, cfg0.DLQTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := instance.Config(c.ListenAddrs())
	a := startStateInstance(t, cfg, "state-a")
	b := startStateInstance(t, cfg, "state-b")
	instance.WaitSplit(t, a.Instance, b.Instance, parts)

	// Channel k: interrupted at 08:0k; resumed 5 minutes later when k is even.
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.DefaultProduceTopic(cfg.InputTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const channels = 12
	var recs []*kgo.Record
	chID := func(k int) string { return fmt.Sprintf("8a0c7e52-0000-4000-8000-%012d", k) }
	for k := range channels {
		ts := fmt.Sprintf("08:%02d", k)
		recs = append(recs, &kgo.Record{Key: []byte(chID(k)), Value: testkit.StructuredValue(t,
			testkit.ChannelEvent("channel.interrupted.v0", fmt.Sprintf("i%d", k), chID(k), testkit.RFC3339(ts)))})
		if k%2 == 0 {
			ts := fmt.Sprintf("08:%02d", k+5)
			recs = append(recs, &kgo.Record{Key: []byte(chID(k)), Value: testkit.StructuredValue(t,
				testkit.ChannelEvent("channel.resumed.v0", fmt.Sprintf("r%d", k), chID(k), testkit.RFC3339(ts)))})
		}
	}
	// Channel 2's interrupted again (a duplicate): its arrival offset
	// stays the first one's.
	firstI2 := recs[3]
	recs = append(recs, &kgo.Record{Key: []byte(chID(2)), Value: firstI2.Value})
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	instance.WaitFor(t, 30*time.Second, "every input record committed", func() bool {
		return instance.Committed(a.Instance, b.Instance) == int64(len(recs))
	})

	// Channel 2: interrupted 08:02, resumed 08:07, published.
	id := chID(2)
	p, err := a.R.PartitionOf(id)
	if err != nil {
		t.Fatal(err)
	}
	owner, other := a, b
	if _, err := a.R.Channel(context.Background(), id); err != nil {
		owner, other = b, a
	}
	var ch stateapi.Channel
	if code := owner.get(t, "/v1/channels/"+id, &ch); code != http.StatusOK {
		t.Fatalf("owner: %d", code)
	}
	if ch.Partition != p || len(ch.Timeline) != 2 || ch.Timeline[0].ID != "i2" || ch.Timeline[1].ID != "r2" ||
		len(ch.Interruptions) != 1 || ch.Interruptions[0].Status != "published" || ch.Interruptions[0].Published != 1 ||
		ch.Interruptions[0].Record.DurationMs != 5*60*1000 || ch.Interruptions[0].Record.Outcome != "resumed" || ch.DeleteAt == nil {
		t.Fatalf("owner's answer: %+v", ch)
	}
	for i, want := range []*kgo.Record{firstI2, recs[4]} { // i2, r2
		if got := ch.Timeline[i].ArrivalOffset; got == nil || *got != want.Offset {
			t.Fatalf("timeline event %s arrived at offset %v, want %d (the duplicate came at %d)", ch.Timeline[i].ID, got, want.Offset, recs[len(recs)-1].Offset)
		}
	}
	var e stateapi.Error
	if code := other.get(t, "/v1/channels/"+id, &e); code != http.StatusNotFound || e.Partition == nil || *e.Partition != p ||
		e.Owner == nil || e.Owner.MemberID == "" {
		t.Fatalf("other instance: %d %+v; want 404 naming partition %d and its owner", code, e, p)
	}
	// An unknown channel: 404 from the owner of its partition, no owner named.
	unknown := "ffffffff-0000-4000-8000-000000000000"
	up, _ := a.R.PartitionOf(unknown)
	uown := a
	if _, err := a.R.Channel(context.Background(), unknown); err != nil {
		uown = b
	}
	e = stateapi.Error{}
	if code := uown.get(t, "/v1/channels/"+unknown, &e); code != http.StatusNotFound || e.Owner != nil || *e.Partition != up {
		t.Fatalf("unknown channel: %d %+v", code, e)
	}

	// Open: the odd channels, oldest first, over both instances.
	var got []string
	for _, in := range []*stateInstance{a, b} {
		var open struct {
			Interruptions []struct {
				Partition int32           `json:"partition"`
				Record    json.RawMessage `json:"record"`
			} `json:"interruptions"`
		}
		if code := in.get(t, "/v1/interruptions/open?limit=2", &open); code != http.StatusOK || len(open.Interruptions) > 2 {
			t.Fatalf("open: %d, %d interruptions with limit 2", code, len(open.Interruptions))
		}
		if code := in.get(t, "/v1/interruptions/open?limit=100&olderThan=1m", &open); code != http.StatusOK {
			t.Fatalf("open: %d", code)
		}
		last := ""
		for _, o := range open.Interruptions {
			var rec struct {
				ChannelID     string `json:"channelId"`
				InterruptedAt string `json:"interruptedAt"`
			}
			_ = json.Unmarshal(o.Record, &rec)
			if rec.InterruptedAt < last {
				t.Fatalf("open interruptions not oldest first: %s after %s", rec.InterruptedAt, last)
			}
			last = rec.InterruptedAt
			got = append(got, rec.ChannelID)
		}
	}
	// Open at least a minute by their partition's clock: all but the
	// youngest on each partition may qualify; every answer is an odd channel.
	for _, g := range got {
		var k int
		fmt.Sscanf(g[len(g)-12:], "%d", &k)
		if k%2 == 0 {
			t.Fatalf("channel %d is closed but listed open", k)
		}
	}
	if len(got) == 0 {
		t.Fatal("no open interruption listed")
	}
	var bad stateapi.Error
	if code := a.get(t, "/v1/interruptions/open?limit=0", &bad); code != http.StatusBadRequest {
		t.Fatalf("limit=0: %d", code)
	}

	var parts0 struct {
		Partitions []struct {
			Partition int32  `json:"partition"`
			State     string `json:"state"`
			Channels  int    `json:"channels"`
		} `json:"partitions"`
	}
	total := 0
	for _, in := range []*stateInstance{a, b} {
		if code := in.get(t, "/v1/partitions", &parts0); code != http.StatusOK {
			t.Fatalf("partitions: %d", code)
		}
		for _, pj := range parts0.Partitions {
			if pj.State != "restored" {
				t.Fatalf("partition %+v", pj)
			}
			total += pj.Channels
		}
	}
	if total != channels {
		t.Fatalf("partitions hold %d channels, want %d", total, channels)
	}
}

// TestStateAPIRestoring: while a partition's state is being restored, a
// query for a channel on it answers 503 with the progress, and
// /v1/partitions lists the partition as restoring.
func TestStateAPIRestoring(t *testing.T) {
	cfg0 := processor.DefaultConfig()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, cfg0.InputTopic, cfg0.OutputTopic, cfg0.DLQTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := instance.Config(c.ListenAddrs())
	cfg.Guarantee = processor.AtLeastOnce // restore starts at once, without the stable-offsets wait
	// Hold every ListOffsets (the changelog reader's first request) until
	// released: the partition is assigned but not restored.
	release := make(chan struct{})
	c.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})
	in := startStateInstance(t, cfg, "state-restoring")
	defer close(release)
	instance.WaitFor(t, 30*time.Second, "the partition assigned", func() bool { return in.R.Status().Assigned == 1 })
	var e stateapi.Error
	id := "8a0c7e52-0000-4000-8000-000000000001"
	if code := in.get(t, "/v1/channels/"+id, &e); code != http.StatusServiceUnavailable || e.Restoring != 1 || e.Assigned != 1 {
		t.Fatalf("while restoring: %d %+v; want 503 with 1 of 1 restoring", code, e)
	}
	var ps struct {
		Partitions []struct {
			State string `json:"state"`
		} `json:"partitions"`
	}
	if code := in.get(t, "/v1/partitions", &ps); code != http.StatusOK || len(ps.Partitions) != 1 || ps.Partitions[0].State != "restoring" {
		t.Fatalf("partitions while restoring: %d %+v", code, ps)
	}
}
