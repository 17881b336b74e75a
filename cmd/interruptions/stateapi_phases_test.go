package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/internal/testkit/instance"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/stateapi"
)

// TestPhasesInStateAPIAndInspect (issue 25): with phase records on, GET
// /v1/channels/{id} answers every phase of the channel in the phase
// table's order, and `inspect` prints the same from the changelog after
// the processor stopped.
//
// The oracle is the channel's own events: each period's outcome, times,
// duration and events are written here from the event times, and each
// published period's record must equal, field for field, the last record
// of its phaseId in the phases topic. A channel that only rang is found
// through its alerting store alone, with an open period.
func TestPhasesInStateAPIAndInspect(t *testing.T) {
	const phasesTopic = "channel-phases"
	cfg0 := processor.DefaultConfig()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, cfg0.InputTopic, cfg0.OutputTopic, cfg0.DLQTopic, phasesTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := instance.Config(c.ListenAddrs())
	cfg.PhasesTopic = phasesTopic
	cfg.Engine.Grace = 0

	const call = "8a0c7e52-0000-4000-8000-00000000beef"
	const ringing = "8a0c7e52-0000-4000-8000-00000000feed"
	const onHold = "8a0c7e52-0000-4000-8000-00000000face" // connected, on hold and interrupted
	type ev struct{ typ, id, at string }
	callEvents := []ev{
		{"channel.alerted.v0", "a1", "08:00:00"},
		{"channel.connected.v0", "c1", "08:00:07"},
		{"channel.held.v0", "h1", "08:01:00"},
		{"channel.retrieved.v0", "r1", "08:03:00"},
		{"channel.interrupted.v0", "i1", "08:04:00"},
		{"channel.resumed.v0", "s1", "08:06:30"},
		{"channel.disconnected.v0", "d1", "08:10:00"},
		{"channel.wrapstarted.v0", "w1", "08:10:01"},
		{"channel.ended.v0", "e1", "08:11:01"},
	}
	// What each phase of the call says, from the times above: phase,
	// outcome, opening and closing event, duration.
	type period struct {
		phase, outcome, open, close string
		ms                          int64
	}
	want := []period{
		{"alerting", "connected", "a1", "c1", 7_000},
		{"connected", "disconnected", "c1", "d1", (9*60 + 53) * 1000},
		{"held", "retrieved", "h1", "r1", 2 * 60 * 1000},
		{"interrupted", "resumed", "i1", "s1", 150_000},
		{"wrap", "ended", "w1", "e1", 60_000},
	}
	at := map[string]string{}
	for _, e := range callEvents {
		at[e.id] = codec.FormatMillis(testkit.At(e.at))
	}

	ctx := context.Background()
	api := map[string][]byte{}
	t.Run("running", func(t *testing.T) {
		in := startStateInstance(t, cfg, "phases-a")
		cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.DefaultProduceTopic(cfg.InputTopic))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var recs []*kgo.Record
		for _, e := range callEvents {
			recs = append(recs, &kgo.Record{Key: []byte(call), Value: testkit.StructuredValue(t, testkit.ChannelEvent(e.typ, e.id, call, testkit.RFC3339(e.at)))})
		}
		recs = append(recs, &kgo.Record{Key: []byte(ringing), Value: testkit.StructuredValue(t, testkit.ChannelEvent("channel.alerted.v0", "a2", ringing, testkit.RFC3339("08:05")))})
		for _, e := range []ev{{"channel.alerted.v0", "a3", "08:20:00"}, {"channel.connected.v0", "c3", "08:20:05"}, {"channel.held.v0", "h3", "08:21:00"}, {"channel.interrupted.v0", "i3", "08:22:00"}} {
			recs = append(recs, &kgo.Record{Key: []byte(onHold), Value: testkit.StructuredValue(t, testkit.ChannelEvent(e.typ, e.id, onHold, testkit.RFC3339(e.at)))})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		instance.WaitFor(t, 30*time.Second, "the input committed", func() bool {
			return instance.Committed(in.Instance) == int64(len(recs))
		})
		for _, id := range []string{call, ringing} {
			resp, err := http.Get(in.URL + "/v1/channels/" + id)
			if err != nil {
				t.Fatal(err)
			}
			api[id], _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("state API, channel %s: %d %s", id, resp.StatusCode, api[id])
			}
		}
		checkOpenPhases(t, in, map[string][]string{
			"alerting": {ringing + " a2 08:05:00"}, "connected": {onHold + " c3 08:20:05"}, "held": {onHold + " h3 08:21:00"},
			"parked": nil, "interrupted": {onHold + " i3 08:22:00"}, "wrap": nil,
		})
	})

	var ch stateapi.Channel
	if err := json.Unmarshal(api[call], &ch); err != nil {
		t.Fatal(err)
	}
	names := []string{"alerting", "connected", "held", "parked", "interrupted", "wrap"}
	if len(ch.Phases) != len(names) {
		t.Fatalf("%d phases, want %d: %s", len(ch.Phases), len(names), api[call])
	}
	byPhase := map[string]stateapi.Phase{}
	for i, ph := range ch.Phases {
		if ph.Phase != names[i] || !ph.Found {
			t.Fatalf("phase %d is %q (found %v), want %q found: %s", i, ph.Phase, ph.Found, names[i], api[call])
		}
		byPhase[ph.Phase] = ph
	}
	// The parked store holds the call for its ends, and derives nothing.
	if p := byPhase["parked"]; len(p.Periods) != 0 || len(p.Timeline) != 2 || p.Timeline[0].ID != "d1" || p.Timeline[1].ID != "e1" {
		t.Fatalf("parked: %+v, want the two ends and no period", p)
	}
	// The phases topic, last record of each phaseId.
	published := map[string]codec.PhaseData{}
	topicRecords := map[string]bool{} // the call's records, as partition/offset/key
	for _, r := range readTopic(t, cfg.Brokers, phasesTopic) {
		ce, err := cekafka.DecodeRecord(r)
		if err != nil {
			t.Fatalf("phase record: %v", err)
		}
		var d codec.PhaseData
		if err := json.Unmarshal(ce.Data(), &d); err != nil {
			t.Fatal(err)
		}
		if d.ChannelID == call {
			published[string(r.Key)] = d
			topicRecords[fmt.Sprintf("%d/%d/%s", r.Partition, r.Offset, r.Key)] = true
		}
	}
	if len(published) != len(want) {
		t.Fatalf("%d phases of the call in %s, want %d", len(published), phasesTopic, len(want))
	}
	for _, w := range want {
		p := byPhase[w.phase]
		if len(p.Periods) != 1 {
			t.Fatalf("%s: %d periods, want 1: %+v", w.phase, len(p.Periods), p)
		}
		got := p.Periods[0]
		r := got.Record
		if got.Status != "published" || got.Published != 1 || r.Revision != 1 || r.Phase != w.phase || r.Outcome != w.outcome ||
			r.StartedAt != at[w.open] || r.EndedAt != at[w.close] || r.DurationMs != w.ms ||
			r.OpenedBy.ID != w.open || r.ClosedBy == nil || r.ClosedBy.ID != w.close || r.ChannelID != call ||
			r.PhaseID != codec.PhaseID(call, w.phase, "/channel", w.open) {
			t.Fatalf("%s: %+v (record %+v), want %+v published at revision 1", w.phase, got, r, w)
		}
		rec, ok := published[r.PhaseID]
		if !ok {
			t.Fatalf("%s: no record of %s in %s", w.phase, r.PhaseID, phasesTopic)
		}
		a, _ := json.Marshal(r)
		b, _ := json.Marshal(rec)
		if string(a) != string(b) {
			t.Fatalf("%s: the state API's record differs from the published one:\n api       %s\n published %s", w.phase, a, b)
		}
	}

	// The channel that only rang: no interruption state, an open alerting
	// period, the other phases not found.
	var rang stateapi.Channel
	if err := json.Unmarshal(api[ringing], &rang); err != nil {
		t.Fatal(err)
	}
	if len(rang.Timeline) != 0 || len(rang.Interruptions) != 0 || len(rang.Phases) != len(names) {
		t.Fatalf("ringing channel: %s", api[ringing])
	}
	for _, ph := range rang.Phases {
		if ph.Phase == "alerting" {
			if !ph.Found || len(ph.Periods) != 1 || ph.Periods[0].Status != "open" || ph.Periods[0].Published != 0 ||
				ph.Periods[0].Record.OpenedBy.ID != "a2" || ph.Periods[0].Record.ClosedBy != nil || ph.DeleteAt != nil {
				t.Fatalf("ringing channel, alerting: %+v", ph)
			}
		} else if ph.Found || len(ph.Periods) != 0 || len(ph.Timeline) != 0 {
			t.Fatalf("ringing channel, %s: %+v, want not found", ph.Phase, ph)
		}
	}

	// inspect, from the changelog, prints what the state API answered.
	for _, id := range []string{call, ringing} {
		inspectAsAPI(t, ctx, cfg.Brokers[0], id, api[id], "--grace", "0s")
	}

	// With --phases-topic, inspect lists the call's phase records (found
	// by the phaseIds of its timelines): those the topic holds for it, as
	// read above by the channelId in their data.
	code, out, errOut := runCLI(ctx, nil, "inspect", "--brokers", cfg.Brokers[0], "--grace", "0s", "--phases-topic", phasesTopic, call)
	if code != 0 {
		t.Fatalf("inspect --phases-topic exited %d: %s", code, errOut)
	}
	var printed struct {
		PhasesTopic  string             `json:"phasesTopic"`
		PhaseRecords []outputRecordJSON `json:"phaseRecords"`
	}
	if err := json.Unmarshal([]byte(out), &printed); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range printed.PhaseRecords {
		var d codec.PhaseData
		if err := json.Unmarshal(r.Data, &d); err != nil || r.Error != "" || r.Type != codec.PhaseType || d.PhaseID != r.Key {
			t.Fatalf("phase record %+v: %v", r, err)
		}
		got[fmt.Sprintf("%d/%d/%s", r.Partition, r.Offset, r.Key)] = true
	}
	if printed.PhasesTopic != phasesTopic || len(got) != len(printed.PhaseRecords) || !maps.Equal(got, topicRecords) {
		t.Fatalf("inspect's phase records (topic %q) %v, want %v", printed.PhasesTopic, got, topicRecords)
	}
}

// readTopic returns every record of topic, read from the start to its
// end, read_committed.
func readTopic(t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs, err := testkit.ReadAll(context.Background(), kadm.NewClient(cl), []kgo.Opt{kgo.SeedBrokers(brokers...)}, topic)
	if err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	return recs
}

// checkOpenPhases GETs /v1/phases/open for each phase of want and fails
// the test unless it lists exactly want's periods ("channel opener
// start", oldest first), each as its record at its bound (outcome
// expired, revision 1) with openForSeconds its partition's clock minus
// its start; a bound past every period lists none, and an unknown or
// missing phase is a 400.
func checkOpenPhases(t *testing.T, in *stateInstance, want map[string][]string) {
	t.Helper()
	type openJSON struct {
		Phases []struct {
			Partition      int32           `json:"partition"`
			Clock          string          `json:"clock"`
			OpenForSeconds float64         `json:"openForSeconds"`
			Record         codec.PhaseData `json:"record"`
		} `json:"phases"`
	}
	get := func(query string, v any) int {
		t.Helper()
		resp, err := http.Get(in.URL + "/v1/phases/open?" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("/v1/phases/open?%s: %v", query, err)
		}
		return resp.StatusCode
	}
	for phase, w := range want {
		var open openJSON
		if code := get("phase="+phase, &open); code != http.StatusOK {
			t.Fatalf("open %s: %d", phase, code)
		}
		var got []string
		for _, o := range open.Phases {
			r := o.Record
			got = append(got, r.ChannelID+" "+r.OpenedBy.ID+" "+r.StartedAt[len("2006-01-02T"):len("2006-01-02T15:04:05")])
			clock, err := time.Parse(time.RFC3339Nano, o.Clock)
			start, err2 := time.Parse(time.RFC3339Nano, r.StartedAt)
			if err != nil || err2 != nil || r.Phase != phase || r.Outcome != "expired" || r.Revision != 1 || r.ClosedBy != nil ||
				math.Abs(o.OpenForSeconds-clock.Sub(start).Seconds()) > 1e-6 || o.OpenForSeconds < 0 {
				t.Fatalf("open %s: %+v", phase, o)
			}
			if p, err := in.R.PartitionOf(r.ChannelID); err != nil || p != o.Partition {
				t.Fatalf("open %s: partition %d, the channel's is %d (%v)", phase, o.Partition, p, err)
			}
		}
		if !slices.Equal(got, w) {
			t.Fatalf("open %s: %q, want %q", phase, got, w)
		}
		if code := get("phase="+phase+"&olderThan=24h", &open); code != http.StatusOK || len(open.Phases) != 0 {
			t.Fatalf("open %s older than 24h: %d, %d periods", phase, code, len(open.Phases))
		}
	}
	var e stateapi.Error
	for _, q := range []string{"phase=ringing", "", "phase=held&limit=0"} {
		if code := get(q, &e); code != http.StatusBadRequest {
			t.Fatalf("/v1/phases/open?%s: %d, want 400", q, code)
		}
	}
}
