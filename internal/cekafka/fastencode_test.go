package cekafka

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
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

// phaseRecords returns the phase records (revisions and retractions) the
// phase matchers of the table emit over n generated events of seed,
// decoded in phased mode, every matcher with its own store, as the doors
// run them.
func phaseRecords(t testing.TB, seed int64, n int) []match.Interruption {
	t.Helper()
	var values [][]byte
	for _, ev := range vccgen.New(vccgen.Config{Seed: seed, LateRate: 0.05}).Take(n) {
		values = append(values, ev.Value)
	}
	return runPhaseMatchers(t, values)
}

// runPhaseMatchers feeds the structured CloudEvents values, decoded in
// phased mode, to the phase matchers of the table and returns what they
// emit.
func runPhaseMatchers(t testing.TB, values [][]byte) []match.Interruption {
	t.Helper()
	base := match.EngineConfig{MaxInterruption: 10 * time.Minute, Retention: time.Hour}
	cfgs := match.PhaseConfigs(base, nil)
	engines := make([]*match.Engine, len(cfgs))
	stores := make([]*state.Store, len(cfgs))
	for i, c := range cfgs {
		engines[i], stores[i] = match.NewEngine(c), state.New()
	}
	var out []match.Interruption
	emit := func(in match.Interruption) { out = append(out, in) }
	for _, v := range values {
		e, err := codec.DecodePhased(v, nil, Binding)
		if err != nil {
			continue
		}
		for i, engine := range engines {
			c := e
			engine.Process(stores[i], &c, emit)
		}
	}
	if len(out) == 0 {
		t.Fatal("the phase matchers emitted nothing")
	}
	return out
}

// channelEvent is a structured VCC channel event.
func channelEvent(typ, id, channelID, ts string) []byte {
	return []byte(`{"specversion":"1.0","type":"` + typ + `","id":"` + id + `","source":"/channel","subject":"` + channelID +
		`","datacontenttype":"application/json","data":{"timestamp":"` + ts + `","channel":{"channelId":"` + channelID +
		`","conversationId":"conv-1","interactionId":"int-1","party":{"role":"agent","agentId":"42","userId":"u-42"}}}}`)
}

// lateRetractions are the phase matchers' records over two channels whose
// late events retract published held phases: a late earlier hold (the
// published hold opened while open) and a late earlier end (the published
// hold after the end).
func lateRetractions(t testing.TB) []match.Interruption {
	const a, b = "7f2a9c1e-0b3d-4e5f-8a6b-1c2d3e4f5a6b", "8e3b0d2f-1c4e-4f60-9b7c-2d3e4f5a6b7c"
	return runPhaseMatchers(t, [][]byte{
		channelEvent("channel.held.v0", "h1", a, "2026-01-05T10:00:10.000Z"),
		channelEvent("channel.retrieved.v0", "r1", a, "2026-01-05T10:00:20.000Z"),
		channelEvent("channel.held.v1", "h0", a, "2026-01-05T10:00:05.000Z"),
		channelEvent("channel.held.v0", "h2", b, "2026-01-05T10:00:10.000Z"),
		channelEvent("channel.retrieved.v0", "r2", b, "2026-01-05T10:00:20.000Z"),
		channelEvent("channel.ended.v0", "e2", b, "2026-01-05T10:00:05.000Z"),
	})
}

// specPhaseNamespace is the phase ids' namespace as the spec defines it,
// built here rather than taken from codec.
var specPhaseNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:interruptions:channel.phase"))

// TestFastPhaseRecordEqualsBinding: for every phase record and retraction
// the phase matchers emit over a realistic stream with late events, and
// for edge cases (each retraction reason, expiry, empty and partial
// parties, strings that need escaping, a channel id the sdk would trim,
// negative times, ids long enough to hash off the stack), the fast
// encoder writes exactly the bytes the sdk-go binding writes, in both
// modes, or declines where it may. Every phase, outcome and retraction
// reason goes through the fast path in both modes. The key and the
// CloudEvent id are also checked against the spec's UUIDv5 definition
// computed here with github.com/google/uuid, so the stack-hashing ids are
// held to an oracle the binding does not share.
func TestFastPhaseRecordEqualsBinding(t *testing.T) {
	real := append(phaseRecords(t, 4, 30_000), lateRetractions(t)...)
	realPhases, realOutcomes, realReasons := map[string]bool{}, map[string]int{}, map[match.Reason]int{}
	for _, in := range real {
		realPhases[in.Phase] = true
		if in.Retracted {
			realReasons[in.Reason]++
		} else {
			realOutcomes[in.Phase+"/"+in.Outcome.String()]++
		}
	}
	t.Logf("%d phase records from the engines: outcomes %v, retractions %v", len(real), realOutcomes, realReasons)
	if realReasons[match.ReasonInterruptedWhileInterrupted] == 0 || realReasons[match.ReasonAfterEnd] == 0 {
		t.Fatalf("the late events retracted nothing (%v): the engines' retractions go untested", realReasons)
	}
	for _, c := range match.PhaseConfigs(match.EngineConfig{}, nil) {
		if !realPhases[c.Phase.Name] {
			t.Errorf("the generated stream gave no %s phase record", c.Phase.Name)
		}
	}
	var base, retraction match.Interruption
	for _, in := range real {
		if !in.Retracted && in.ClosedBy != nil && in.Party.AgentID != "" && base.Phase == "" {
			base = in
		}
		if in.Retracted && retraction.Phase == "" {
			retraction = in
		}
	}
	if base.Phase == "" {
		t.Fatal("no closed phase record with an agent party in the generated stream")
	}
	type tc struct {
		in         match.Interruption
		mayDecline bool
	}
	var cases []tc
	for _, in := range real {
		cases = append(cases, tc{in: in})
	}
	edge := func(from match.Interruption, mayDecline bool, f func(*match.Interruption)) {
		c := from
		f(&c)
		cases = append(cases, tc{in: c, mayDecline: mayDecline})
	}
	// Every phase of the table with every outcome it can have, the
	// interrupted one included (its records are the interruption
	// matcher's, but the encoder takes them).
	closers := map[match.Outcome]string{
		match.OutcomeConnected: "channel.connected.v0", match.OutcomeFailed: "channel.connectionfailed.v1",
		match.OutcomeWrap: "channel.wrapstarted.v0", match.OutcomeRetrieved: "channel.retrieved.v0",
		match.OutcomeUnparked: "channel.unparked.v1", match.OutcomeResumed: "channel.resumed.v0",
		match.OutcomeEnded: "channel.ended.v0", match.OutcomeDisconnected: "channel.disconnected.v1",
	}
	for _, p := range match.Phases() {
		outcomes := []match.Outcome{match.OutcomeExpired}
		for _, o := range p.Close {
			outcomes = append(outcomes, o)
		}
		for _, o := range p.End {
			outcomes = append(outcomes, o)
		}
		for _, o := range outcomes {
			edge(base, false, func(in *match.Interruption) {
				in.Phase, in.Outcome = p.Name, o
				in.OpenedBy.Type = p.Open[0] + ".v1"
				if o == match.OutcomeExpired {
					in.ClosedBy, in.ClosedAt = nil, in.InterruptedAt+int64(match.DefaultMaxPhase)
				} else {
					in.ClosedBy = &state.Ref{Source: "/channel", ID: "2Zks0VJxXAegKlhmHygjlZRwu0F", Type: closers[o]}
				}
			})
		}
	}
	for _, r := range []match.Reason{match.ReasonInterruptedWhileInterrupted, match.ReasonAfterEnd, match.ReasonReopened} {
		edge(retraction, false, func(in *match.Interruption) { in.Reason = r })
		edge(retraction, false, func(in *match.Interruption) { in.Reason, in.Phase = r, match.PhaseWrap })
	}
	edge(retraction, true, func(in *match.Interruption) { in.Reason = "a<b" })
	edge(retraction, false, func(in *match.Interruption) { in.InterruptedAt, in.Revision = -1_500_000_123, 2 })
	edge(retraction, true, func(in *match.Interruption) { in.OpenedBy.ID = "é\"\\" })
	edge(retraction, false, func(in *match.Interruption) { in.ConversationID = "a<b>&c" }) // not written in a retraction
	edge(base, false, func(in *match.Interruption) { in.Party = vcc.Party{Role: "external"} })
	edge(base, false, func(in *match.Interruption) { in.Party = vcc.Party{} })
	edge(base, false, func(in *match.Interruption) { in.Party = vcc.Party{Role: "agent", UserID: "u-1"} })
	edge(base, false, func(in *match.Interruption) { in.InterruptedAt, in.ClosedAt = -1_500_000_123, -1_000_000_000 })
	edge(base, false, func(in *match.Interruption) { in.InterruptedAt, in.ClosedAt = -1_500_000_123, 2_000_000_000 })
	edge(base, false, func(in *match.Interruption) { in.ClosedAt = in.InterruptedAt }) // 0 ms
	edge(base, false, func(in *match.Interruption) { in.ClosedAt = in.InterruptedAt + 120_000_000 })
	edge(base, false, func(in *match.Interruption) { in.OpenedBy.ID = strings.Repeat("k", 300) })
	edge(base, false, func(in *match.Interruption) { in.ChannelID = strings.Repeat("c", 255) })
	edge(base, true, func(in *match.Interruption) { in.ChannelID = " " + in.ChannelID })
	edge(base, true, func(in *match.Interruption) { in.ChannelID = in.ChannelID + " " })
	edge(base, true, func(in *match.Interruption) { in.ConversationID = "a<b>&c" })
	edge(base, true, func(in *match.Interruption) { in.InteractionID = "é\"\\" })
	edge(base, true, func(in *match.Interruption) { in.Party.AgentID = "tab\there" })
	edge(base, true, func(in *match.Interruption) { in.ClosedBy = &state.Ref{ID: "x", Type: "channel.retrieved.v0\u2028"} })
	edge(base, true, func(in *match.Interruption) { in.Phase = "held&" })

	fastPhases, fastOutcomes, fastReasons := map[string]int{}, map[match.Outcome]int{}, map[match.Reason]int{}
	for _, mode := range []codec.Mode{codec.Binary, codec.Structured} {
		enc := Encoder{Source: "/interruptions", Mode: mode}
		for i, c := range cases {
			in := c.in
			want, err := enc.bindingPhaseRecord("phases", in)
			if err != nil {
				t.Fatalf("%s case %d: %v", mode, i, err)
			}
			name := in.ChannelID + "\x00" + in.Phase + "\x00" + in.OpenedBy.Source + "\x00" + in.OpenedBy.ID
			pid := uuid.NewSHA1(specPhaseNamespace, []byte(name)).String()
			if string(want.Key) != pid {
				t.Fatalf("%s case %d: key %s, want the spec's phaseId %s", mode, i, want.Key, pid)
			}
			if id, wantID := codec.PhaseRecordID(in), uuid.NewSHA1(specPhaseNamespace, []byte(pid+"\x00"+strconv.Itoa(in.Revision))).String(); id != wantID {
				t.Fatalf("case %d: record id %s, want %s", i, id, wantID)
			}
			got, ok := enc.fastPhaseRecord("phases", in)
			if !ok {
				if !c.mayDecline {
					t.Fatalf("%s case %d: the fast path declined %+v", mode, i, in)
				}
				continue
			}
			if err := sameRecord(got, want); err != nil {
				t.Fatalf("%s case %d: %v", mode, i, err)
			}
			if r, err := enc.PhaseRecord("phases", in); err != nil || sameRecord(r, want) != nil {
				t.Fatalf("%s case %d: PhaseRecord gave %v, %v", mode, i, r, err)
			}
			fastPhases[in.Phase]++
			if in.Retracted {
				fastReasons[in.Reason]++
			} else {
				fastOutcomes[in.Outcome]++
			}
		}
	}
	for _, p := range match.Phases() {
		if fastPhases[p.Name] < 2 {
			t.Errorf("phase %s: %d fast records", p.Name, fastPhases[p.Name])
		}
	}
	for o := match.OutcomeResumed; o <= match.OutcomeDisconnected; o++ {
		if fastOutcomes[o] < 2 {
			t.Errorf("outcome %s: %d fast records", o, fastOutcomes[o])
		}
	}
	for _, r := range []match.Reason{match.ReasonInterruptedWhileInterrupted, match.ReasonAfterEnd, match.ReasonReopened} {
		if fastReasons[r] < 2 {
			t.Errorf("retraction reason %s: %d fast records", r, fastReasons[r])
		}
	}
}

// TestPhaseRecordDeclinesToBinding: a record the fast path declines is
// still written, through the binding; a record without a phase is an
// error.
func TestPhaseRecordDeclinesToBinding(t *testing.T) {
	in := phaseRecords(t, 5, 5_000)[0]
	in.Retracted = false
	in.ConversationID = "<escaped>"
	enc := Encoder{Source: "/interruptions", Mode: codec.Structured}
	if _, ok := enc.fastPhaseRecord("phases", in); ok {
		t.Fatal("the fast path took a string that needs escaping")
	}
	r, err := enc.PhaseRecord("phases", in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(r.Value, []byte(`"conversationId":"\u003cescaped\u003e"`)) {
		t.Fatalf("binding record %s lacks the escaped conversationId", r.Value)
	}
	in.Phase = ""
	if _, err := enc.PhaseRecord("phases", in); err == nil {
		t.Fatal("PhaseRecord took a record without a phase")
	}
}

// BenchmarkPhaseRecord compares the fast phase record encoder with the
// sdk-go binding over the phase records of a generated stream, in both
// modes. One op is one record.
func BenchmarkPhaseRecord(b *testing.B) {
	ins := phaseRecords(b, 1, 50_000)
	for _, mode := range []codec.Mode{codec.Binary, codec.Structured} {
		enc := Encoder{Source: "/interruptions", Mode: mode}
		b.Run("mode="+mode.String()+"/path=fast", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := enc.PhaseRecord("phases", ins[i%len(ins)]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("mode="+mode.String()+"/path=binding", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := enc.bindingPhaseRecord("phases", ins[i%len(ins)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
