package vccgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
)

// TestTruth: recording the truth does not change the stream; every true
// interruption opens with a channel.interrupted and closes with a
// resumed, disconnected or ended of its channel, no earlier; WriteTruth
// writes one line each.
func TestTruth(t *testing.T) {
	plain := New(Config{Seed: 4}).Take(20_000)
	g := New(Config{Seed: 4, Truth: true})
	traced := g.Take(20_000)
	for i := range plain {
		if !bytes.Equal(plain[i].Value, traced[i].Value) {
			t.Fatalf("event %d differs when the truth is recorded", i)
		}
	}
	if New(Config{Seed: 4}).Truth() != nil {
		t.Error("Truth without Config.Truth: want nil")
	}
	byID := map[string]Event{}
	for _, ev := range traced {
		byID[ev.ID] = ev
	}
	truth := g.Truth()
	if len(truth) < 100 {
		t.Fatalf("%d true interruptions in 20k events", len(truth))
	}
	outcomes := map[string]int{}
	for _, in := range truth {
		outcomes[in.Outcome]++
		if in.ClosedAt.Before(in.InterruptedAt) {
			t.Errorf("%+v: closes before it opens", in)
		}
		if o, ok := byID[in.OpenedBy]; ok && (o.ChannelID != in.ChannelID || o.Type[:len("channel.interrupted")] != "channel.interrupted" || !o.Timestamp.Equal(in.InterruptedAt)) {
			t.Errorf("%+v: opened by %s %s at %s", in, o.ChannelID, o.Type, o.Timestamp)
		}
		if c, ok := byID[in.ClosedBy]; ok && (c.ChannelID != in.ChannelID || !c.Timestamp.Equal(in.ClosedAt)) {
			t.Errorf("%+v: closed by %s %s at %s", in, c.ChannelID, c.Type, c.Timestamp)
		}
	}
	if outcomes["resumed"] == 0 || outcomes["ended"] == 0 || len(outcomes) != 2 {
		t.Errorf("outcomes %v: want resumed and ended only, both present", outcomes)
	}
	var buf bytes.Buffer
	if err := WriteTruth(&buf, truth); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	n := 0
	for sc.Scan() {
		var in Interruption
		if err := json.Unmarshal(sc.Bytes(), &in); err != nil || in != truth[n] {
			t.Fatalf("line %d: %v %+v, want %+v", n, err, in, truth[n])
		}
		n++
	}
	if n != len(truth) {
		t.Fatalf("%d lines, want %d", n, len(truth))
	}
}
