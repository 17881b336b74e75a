package handle

import (
	"fmt"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/state"
)

// phaseInput is a structured channel event of type typ (without version)
// at ts (HH:MM:SS on the test day).
func phaseInput(typ, id, ts string) *Input {
	return &Input{Value: []byte(fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/channel","type":"channel.%s.v0","subject":"c1",`+
		`"data":{"timestamp":"2026-01-05T%sZ","channel":{"channelId":"c1","party":{"role":"agent","agentId":"7"}}}}`, id, typ, ts))}
}

// TestPhaseStoreRejectsAfterTheOthersPlaced pins the README's rule for an
// event a phase store cannot place: it is rejected (to the DLQ) with that
// store's reason after every store that could place it did, so sending it
// again is a duplicate to those. Here the held store holds at most two
// events: the second hold overflows there, while the parked store, which
// reads no hold, and the interruption matcher are unaffected; the
// interrupted phase's record is the interruption matcher's, renamed.
func TestPhaseStoreRejectsAfterTheOthersPlaced(t *testing.T) {
	base := match.EngineConfig{MaxInterruption: time.Hour, Retention: 2 * time.Hour, MaxChannelEvents: 2}
	var phases []PhaseMatcher
	names := map[string]int{}
	for _, pc := range match.PhaseConfigs(base, nil) {
		names[pc.Phase.Name] = len(phases)
		phases = append(phases, PhaseMatcher{Engine: match.NewEngine(pc), Stores: []*state.Store{state.New()}})
	}
	main := state.New()
	h := DeadLetter(NewMatcher(MatcherConfig{Binding: cekafka.Binding, Engine: match.NewEngine(base), Stores: []*state.Store{main},
		MaxClockSkew: time.Minute, Retention: base.Retention, Phases: phases}).Handle)
	var res Result
	do := func(in *Input) {
		t.Helper()
		if err := h(in, &res); err != nil {
			t.Fatal(err)
		}
	}
	do(phaseInput("interrupted", "i1", "08:00:00"))
	do(phaseInput("resumed", "r1", "08:01:00"))
	if len(res.Out) != 1 || len(res.Phases) != 1 || res.Phases[0].Phase != match.PhaseInterrupted || res.Phases[0].OpenedBy.ID != "i1" {
		t.Fatalf("resumed: out %+v, phases %+v; want the interruption and its interrupted phase", res.Out, res.Phases)
	}
	do(phaseInput("held", "h1", "08:02:00"))
	do(phaseInput("retrieved", "t1", "08:03:00"))
	if len(res.Phases) != 1 || res.Phases[0].Phase != match.PhaseHeld || res.Rejected != nil {
		t.Fatalf("retrieved: phases %+v, rejected %v", res.Phases, res.Rejected)
	}
	held := phases[names[match.PhaseHeld]].Stores[0]
	do(phaseInput("held", "h2", "08:04:00"))
	if res.Rejected == nil || res.Rejected.Reason != codec.ReasonChannelOverflow {
		t.Fatalf("third event of the held store: rejected %v, want channel-overflow", res.Rejected)
	}
	if n := held.Get("c1").NumEvents(); n != 2 {
		t.Errorf("held store holds %d events, want 2", n)
	}
	if main.Get("c1").NumEvents() != 2 {
		t.Errorf("the interruption matcher's store changed: %d events", main.Get("c1").NumEvents())
	}
	// An end: the interruption store's channel (i1, r1) and the held
	// store's are full, so it is rejected, but the stores that read it
	// and have room place it all the same.
	do(phaseInput("ended", "e1", "08:05:00"))
	if res.Rejected == nil || res.Rejected.Reason != codec.ReasonChannelOverflow {
		t.Fatalf("ended: rejected %v, want channel-overflow from the held store", res.Rejected)
	}
	if c := main.Get("c1"); c.NumEvents() != 2 {
		t.Errorf("the interruption store holds %d events, want 2 (at its cap too)", c.NumEvents())
	}
	connected := phases[names[match.PhaseConnected]].Stores[0]
	if c := connected.Get("c1"); c == nil || c.NumEvents() != 1 {
		t.Errorf("the connected store did not place the end")
	}
}
