package cekafka

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/state"
	"github.com/interruptions/interruptions/vccgen"
)

func sameRecord(a, b *kgo.Record) error {
	if a.Topic != b.Topic || !bytes.Equal(a.Key, b.Key) || !bytes.Equal(a.Value, b.Value) || len(a.Headers) != len(b.Headers) {
		return fmt.Errorf("topic/key/value/headers differ:\nfast    %s %q %s %v\nbinding %s %q %s %v", a.Topic, a.Key, a.Value, a.Headers, b.Topic, b.Key, b.Value, b.Headers)
	}
	for i := range a.Headers {
		if a.Headers[i].Key != b.Headers[i].Key || !bytes.Equal(a.Headers[i].Value, b.Headers[i].Value) {
			return fmt.Errorf("header %d: fast %s=%q, binding %s=%q", i, a.Headers[i].Key, a.Headers[i].Value, b.Headers[i].Key, b.Headers[i].Value)
		}
	}
	return nil
}

// TestFastRecordEqualsBinding: for every interruption of a realistic
// stream (all outcomes, parties with and without ids) and for edge cases,
// the fast encoder writes exactly the bytes the sdk-go binding writes, or
// declines.
func TestFastRecordEqualsBinding(t *testing.T) {
	var ins []match.Interruption
	engine := match.NewEngine(match.EngineConfig{MaxInterruption: 10 * time.Minute, Retention: time.Hour})
	st := state.New()
	for _, ev := range vccgen.New(vccgen.Config{Seed: 4}).Take(20_000) {
		e, err := Decode(ev.Value, nil)
		if err != nil {
			continue
		}
		engine.Process(st, &e, func(in match.Interruption) { ins = append(ins, in) })
	}
	base := ins[0]
	edge := func(f func(*match.Interruption)) match.Interruption { c := base; f(&c); return c }
	ins = append(ins,
		edge(func(in *match.Interruption) { in.Party = vcc.Party{Role: "external"} }),
		edge(func(in *match.Interruption) { in.Party = vcc.Party{} }),
		edge(func(in *match.Interruption) { in.InterruptedAt, in.ClosedAt = -1_500_000_123, -1_000_000_000 }),
		edge(func(in *match.Interruption) { in.ClosedAt = in.InterruptedAt + 120_000_000 }),
		edge(func(in *match.Interruption) { in.ConversationID = "a<b>&c" }),
		edge(func(in *match.Interruption) { in.ConversationID = "é\"\\" }),
		edge(func(in *match.Interruption) { in.Outcome, in.ClosedBy = match.OutcomeExpired, nil }),
	)
	outcomes := map[match.Outcome]int{}
	fast := 0
	for _, mode := range []codec.Mode{codec.Binary, codec.Structured} {
		enc := Encoder{Source: "/interruptions", Mode: mode}
		for i, in := range ins {
			want, err := enc.bindingRecord("out", in)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := enc.fastRecord("out", in)
			if !ok {
				continue
			}
			fast++
			outcomes[in.Outcome]++
			if err := sameRecord(got, want); err != nil {
				t.Fatalf("%s record %d: %v", mode, i, err)
			}
		}
	}
	if fast < 2*(len(ins)-2) || outcomes[match.OutcomeResumed] == 0 || outcomes[match.OutcomeEnded] == 0 || outcomes[match.OutcomeExpired] == 0 {
		t.Errorf("fast path wrote %d of %d records (outcomes %v): the comparison covers too little", fast, 2*len(ins), outcomes)
	}
}
