package codec

import (
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/state"
)

func TestDecodedEventsUseDataTimestampNotTime(t *testing.T) {
	// time (when VCC sent the notification) is far from data.timestamp and
	// in the wrong order; only data.timestamp may count.
	record := func(typ, id, ts, sent string) match.Event {
		m := testkit.NewEvent(typ)
		set("id", id)(m)
		set("data.timestamp", ts)(m)
		set("time", sent)(m)
		e, err := decode(testkit.StructuredValue(t, m), nil)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		return e
	}
	open := record("channel.interrupted.v1", "i1", "2026-01-05T08:00:00.000Z", "2030-01-01T00:00:00Z")
	closing := record("channel.resumed.v0", "r1", "2026-01-05T08:05:00.250Z", "2020-01-01T00:00:00Z")
	e := match.NewEngine(match.EngineConfig{MaxInterruption: time.Hour, Retention: 2 * time.Hour})
	s := state.New()
	var got []match.Interruption
	for _, x := range []*match.Event{&open, &closing} {
		e.Process(s, x, func(in match.Interruption) { got = append(got, in) })
	}
	if len(got) != 1 || got[0].Outcome != match.OutcomeResumed {
		t.Fatalf("emitted %+v, want one resumed interruption", got)
	}
	if d := time.Duration(got[0].ClosedAt - got[0].InterruptedAt); d != 5*time.Minute+250*time.Millisecond {
		t.Fatalf("duration %v, want 5m0.25s", d)
	}
	if s.StreamTime() != testkit.At("08:05:00.250") {
		t.Fatalf("stream time %s, want the largest data.timestamp", testkit.Millis(s.StreamTime()))
	}
}
