package testkit_test

import (
	"context"
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
