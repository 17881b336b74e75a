package testkit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/internal/testkit"
)

func TestCompare(t *testing.T) {
	r := func(id, data string) testkit.Record { return testkit.Record{ID: id, Data: data} }
	want := testkit.Records{r("a", `{"x":1}`): 1, r("b", `{"x":2}`): 1}
	for _, tt := range []struct {
		name          string
		got           testkit.Records
		equal, covers bool
		repeats       int
		report        string
	}{
		{"equal", testkit.Records{r("a", `{"x":1}`): 1, r("b", `{"x":2}`): 1}, true, true, 0, ""},
		{"a repeat", testkit.Records{r("a", `{"x":1}`): 3, r("b", `{"x":2}`): 1}, false, true, 2, "a ×3 (want 1)"},
		{"missing", testkit.Records{r("a", `{"x":1}`): 1}, false, false, 0, "b (0 of 1)"},
		{"other data", testkit.Records{r("a", `{"x":1}`): 1, r("b", `{"x":3}`): 1}, false, false, 0, "b ×1 with other data"},
		{"unexpected", testkit.Records{r("a", `{"x":1}`): 1, r("b", `{"x":2}`): 1, r("c", `{}`): 1}, false, false, 0, "c ×1: {}"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := testkit.Compare(want, tt.got)
			if d.Equal() != tt.equal || d.Covers() != tt.covers || d.Repeats != tt.repeats {
				t.Errorf("Compare = %+v: equal %v covers %v repeats %d; want %v %v %d", d, d.Equal(), d.Covers(), d.Repeats, tt.equal, tt.covers, tt.repeats)
			}
			if rep := d.Report(5, true); !strings.Contains(rep, tt.report) || (tt.report == "") != (rep == "") {
				t.Errorf("Report = %q, want it to say %q", rep, tt.report)
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	a, err := testkit.Canonical([]byte(` {"b": 1.50, "a": [1, {"d":"x","c":null}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if a != `{"a":[1,{"c":null,"d":"x"}],"b":1.50}` {
		t.Errorf("Canonical = %s", a)
	}
	for _, bad := range []string{``, `{`, `{} {}`} {
		if _, err := testkit.Canonical([]byte(bad)); err == nil {
			t.Errorf("Canonical(%q): no error", bad)
		}
	}
}

// TestLag commits offsets of a group by hand on an embedded broker and
// checks Lag, CaughtUp and WaitCommitted against the counts produced.
func TestLag(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// 4, 0 and 2 records on partitions 0, 1, 2.
	for p, n := range []int{4, 0, 2} {
		for range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "in", Partition: int32(p), Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(want int64) {
		t.Helper()
		lag, err := testkit.Lag(ctx, adm, "g", "in")
		if err != nil || lag != want {
			t.Fatalf("Lag = %d, %v; want %d", lag, err, want)
		}
		if ok, err := testkit.CaughtUp(ctx, adm, "g", "in"); ok != (want == 0) || err != nil {
			t.Fatalf("CaughtUp = %v, %v with lag %d", ok, err, want)
		}
	}
	commit := func(p int32, at int64) {
		t.Helper()
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: "in", Partition: p, At: at, LeaderEpoch: -1})
		if _, err := adm.CommitOffsets(ctx, "g", os); err != nil {
			t.Fatal(err)
		}
	}
	check(6) // nothing committed: every partition counts whole
	commit(0, 3)
	check(3)
	commit(0, 4)
	check(2)
	short, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer scancel()
	if err := testkit.WaitCommitted(short, adm, "g", "in", 20*time.Millisecond, nil); err == nil || !strings.Contains(err.Error(), "2 records behind") {
		t.Fatalf("WaitCommitted with lag 2 = %v", err)
	}
	commit(2, 2)
	check(0)
	if err := testkit.WaitCommitted(ctx, adm, "g", "in", 20*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
}

// TestCreateTopicsAndReadAll creates topics on an embedded broker, produces
// to one, and reads both back whole.
func TestCreateTopicsAndReadAll(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	seed := []kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)}
	cl, err := kgo.NewClient(append(seed, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if err := testkit.CreateTopics(ctx, adm, 3, nil, "full", "empty"); err != nil {
		t.Fatal(err)
	}
	if err := testkit.CreateTopics(ctx, adm, 3, nil, "full"); err == nil {
		t.Error("creating an existing topic: no error")
	}
	want := map[string]bool{}
	for i := range 7 {
		v := fmt.Sprint("v", i)
		want[v] = true
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "full", Partition: int32(i % 2), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := testkit.ReadAll(ctx, adm, seed, "full")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		if !want[string(r.Value)] {
			t.Errorf("read %q twice or never produced", r.Value)
		}
		delete(want, string(r.Value))
	}
	if len(want) > 0 || len(got) != 7 {
		t.Errorf("read %d records; not read: %v", len(got), want)
	}
	if empty, err := testkit.ReadAll(ctx, adm, seed, "empty"); err != nil || len(empty) != 0 {
		t.Errorf("ReadAll of an empty topic = %d records, %v", len(empty), err)
	}
}

// TestSeed checks the seed fixture against its own constants: the
// structured example, its data and its binary headers say the same.
func TestSeed(t *testing.T) {
	var page struct {
		ID, Subject, Time string
		Data              json.RawMessage
	}
	if err := json.Unmarshal([]byte(testkit.SeedResumed), &page); err != nil {
		t.Fatal(err)
	}
	if page.ID != testkit.SeedID || page.Subject != testkit.SeedChannelID || page.Time != testkit.SeedTime {
		t.Errorf("seed attributes %+v", page)
	}
	if !strings.Contains(testkit.SeedResumed, "\t") || string(page.Data) != testkit.SeedData {
		t.Errorf("seed data is not the documentation's verbatim:\n%s", page.Data)
	}
	for _, c := range []string{testkit.SeedConversationID, testkit.SeedInteractionID, testkit.SeedAgentID, testkit.SeedUserID, testkit.SeedTimestamp} {
		if !strings.Contains(testkit.SeedData, `"`+c+`"`) {
			t.Errorf("seed data lacks %s", c)
		}
	}
	// The binary encoding of an event built like the seed has its headers.
	value, hs := testkit.BinaryValue(t, testkit.NewEvent("channel.resumed.v0").With(testkit.Set("time", testkit.SeedTime)))
	want := map[string]string{}
	for _, h := range testkit.SeedHeaders() {
		want[h.Key] = string(h.Value)
	}
	if len(hs) != len(want) {
		t.Errorf("binary headers %v, want %v", hs, want)
	}
	for _, h := range hs {
		if want[h.Key] != string(h.Value) {
			t.Errorf("binary header %s = %q, want %q", h.Key, h.Value, want[h.Key])
		}
	}
	if !json.Valid(value) || strings.Contains(string(value), "specversion") {
		t.Errorf("binary value %s", value)
	}
}
