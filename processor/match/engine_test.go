package match

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/processor/vcc"
	"github.com/interruptions/interruptions/state"
)

// Channels of the engine tests.
const (
	chA = "ch-a"
	chB = "ch-b"
)

// at returns a short or full test time in Unix nanoseconds.
var at = testkit.At

// testKinds is the test's own view of which types the matcher handles.
var testKinds = map[string]vcc.Kind{
	"channel.interrupted":  vcc.Interrupted,
	"channel.resumed":      vcc.Resumed,
	"channel.ended":        vcc.Ended,
	"channel.disconnected": vcc.Ended,
}

// ev returns a decoded event as Decode makes it. typ is short
// ("interrupted", "resumed.v1", "held": channel.<typ>, v0 when no version
// is given) or a full type of another family ("agent.presencechanged.v0").
// ts is short ("08:00") or full RFC 3339.
func ev(typ, id, channel, ts string) Event {
	full := typ
	if !strings.HasPrefix(typ, "channel.") && !strings.HasPrefix(typ, "agent.") {
		full = "channel." + typ
		if !strings.Contains(typ, ".") {
			full += ".v0"
		}
	}
	e := Event{ID: id, Source: "/channel", Type: full, Subject: channel, Timestamp: at(ts), HasTimestamp: true}
	name := full[:strings.LastIndexByte(full, '.')]
	if k, ok := testKinds[name]; ok {
		e.Kind = k
		e.ChannelID = channel
		e.ConversationID = "conv-" + channel
		e.InteractionID = "inter-" + channel
		e.Party = vcc.Party{Role: "agent", AgentID: "1544", UserID: "user-" + channel}
	}
	return e
}

// from returns e with another source.
func from(source string, e Event) Event {
	e.Source = source
	return e
}

// tick is an ignored event at ts: it only moves stream time.
func tick(ts string) Event { return ev("held", "tick-"+ts, chB, ts) }

// out is an expected emitted interruption.
type out struct {
	outcome  Outcome
	from, to string // interruptedAt, closedAt (short or full times)
	opened   string // opening event id
	closed   string // closing event id; "" for expired
	channel  string // chA when empty
}

func resumed(from, to, opened, closed string) out {
	return out{outcome: OutcomeResumed, from: from, to: to, opened: opened, closed: closed}
}

func ended(from, to, opened, closed string) out {
	return out{outcome: OutcomeEnded, from: from, to: to, opened: opened, closed: closed}
}

func expired(from, to, opened string) out {
	return out{outcome: OutcomeExpired, from: from, to: to, opened: opened}
}

func (o out) on(channel string) out { o.channel = channel; return o }

// step is one event in arrival order and what it must do.
type step struct {
	ev   Event
	disp Disposition
	out  []out
	hk   Housekeeping
}

// processed, ignored and duplicate build steps tersely.
func processed(e Event, o ...out) step { return step{ev: e, disp: Processed, out: o} }
func ignored(e Event, o ...out) step   { return step{ev: e, disp: Ignored, out: o} }
func duplicate(e Event) step           { return step{ev: e, disp: Duplicate} }

// with sets the housekeeping a step must report.
func (s step) with(hk Housekeeping) step { s.hk = hk; return s }

// defaultConfig is MaxInterruption 1h, Retention 2h.
var defaultConfig = EngineConfig{MaxInterruption: time.Hour, Retention: 2 * time.Hour}

// checkInterruption asserts what every emitted interruption must satisfy.
func checkInterruption(t *testing.T, cfg EngineConfig, in Interruption) {
	t.Helper()
	d := in.ClosedAt - in.InterruptedAt
	if d < 0 || d > int64(cfg.MaxInterruption) {
		t.Errorf("interruption %s→%s lasts %v: outside [0, %v]", testkit.Millis(in.InterruptedAt), testkit.Millis(in.ClosedAt), time.Duration(d), cfg.MaxInterruption)
	}
	if (in.Outcome == OutcomeExpired) != (in.ClosedBy == nil) {
		t.Errorf("outcome %v with ClosedBy %v", in.Outcome, in.ClosedBy)
	}
	if in.Outcome == OutcomeExpired && d != int64(cfg.MaxInterruption) {
		t.Errorf("expired interruption closed at %v after it opened, want MaxInterruption %v", time.Duration(d), cfg.MaxInterruption)
	}
	if in.OpenedBy.At != in.InterruptedAt || (in.ClosedBy != nil && in.ClosedBy.At != in.ClosedAt) {
		t.Errorf("times %d→%d differ from the events' %+v %+v", in.InterruptedAt, in.ClosedAt, in.OpenedBy, in.ClosedBy)
	}
}

// describe renders an interruption like an out, for comparisons.
func describe(in Interruption) string {
	closed := ""
	if in.ClosedBy != nil {
		closed = in.ClosedBy.ID
	}
	return fmt.Sprintf("%s %s %s→%s opened=%s closed=%s", in.ChannelID, in.Outcome,
		testkit.Millis(in.InterruptedAt), testkit.Millis(in.ClosedAt), in.OpenedBy.ID, closed)
}

func (o out) String() string {
	ch := o.channel
	if ch == "" {
		ch = chA
	}
	return fmt.Sprintf("%s %s %s→%s opened=%s closed=%s", ch, o.outcome,
		testkit.Millis(at(o.from)), testkit.Millis(at(o.to)), o.opened, o.closed)
}

// runSteps processes steps in order on one store and checks each.
func runSteps(t *testing.T, cfg EngineConfig, s *state.Store, steps []step) {
	t.Helper()
	e := NewEngine(cfg)
	for i, st := range steps {
		var got []string
		d, hk := e.Process(s, &st.ev, func(in Interruption) {
			checkInterruption(t, cfg, in)
			got = append(got, describe(in))
		})
		var want []string
		for _, o := range st.out {
			want = append(want, o.String())
		}
		label := fmt.Sprintf("step %d (%s %s at %s)", i+1, st.ev.Type, st.ev.ID, testkit.Millis(st.ev.Timestamp))
		if d != st.disp {
			t.Errorf("%s: disposition %v, want %v", label, d, st.disp)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: emitted\n  %s\nwant\n  %s", label, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		if hk != st.hk {
			t.Errorf("%s: housekeeping %+v, want %+v", label, hk, st.hk)
		}
	}
}

func TestEngineScenarios(t *testing.T) {
	expiredOne := Housekeeping{Expired: 1}
	droppedOne := Housekeeping{DroppedCloses: 1}
	deletedOne := Housekeeping{Deleted: 1}
	tests := []struct {
		name  string
		cfg   EngineConfig // defaultConfig when zero
		steps []step
	}{
		{name: "in order: interrupted, resumed", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("resumed", "r1", chA, "08:05"), resumed("08:00", "08:05", "i1", "r1")),
		}},
		{name: "seed-like millisecond times", steps: []step{
			processed(ev("interrupted", "i1", chA, "2022-08-30T14:30:00.001Z")),
			processed(ev("resumed", "r1", chA, "2022-08-30T14:34:36.088Z"),
				resumed("2022-08-30T14:30:00.001Z", "2022-08-30T14:34:36.088Z", "i1", "r1")),
		}},
		{name: "resumed before interrupted", steps: []step{
			processed(ev("resumed", "r1", chA, "08:05")),
			processed(ev("interrupted", "i1", chA, "08:00"), resumed("08:00", "08:05", "i1", "r1")),
		}},
		{name: "two interruptions in a row", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("resumed", "r1", chA, "08:05"), resumed("08:00", "08:05", "i1", "r1")),
			processed(ev("interrupted", "i2", chA, "08:10")),
			processed(ev("resumed", "r2", chA, "08:20"), resumed("08:10", "08:20", "i2", "r2")),
		}},
		{name: "two interruptions, closes first and in reverse", steps: []step{
			processed(ev("resumed", "r2", chA, "08:20")),
			processed(ev("resumed", "r1", chA, "08:05")),
			processed(ev("interrupted", "i2", chA, "08:10"), resumed("08:10", "08:20", "i2", "r2")),
			processed(ev("interrupted", "i1", chA, "08:00"), resumed("08:00", "08:05", "i1", "r1")),
		}},
		{name: "interrupted twice, resumed once: the latest pairs, the earlier expires", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("interrupted", "i2", chA, "08:10")),
			processed(ev("resumed", "r1", chA, "08:15"), resumed("08:10", "08:15", "i2", "r1")),
			ignored(tick("09:00")),
			ignored(tick("09:00:00.001"), expired("08:00", "09:00", "i1")).with(expiredOne),
		}},
		{name: "disconnected and ended at one instant while interrupted", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("disconnected", "d1", chA, "08:30"), ended("08:00", "08:30", "i1", "d1")),
			processed(ev("ended", "e1", chA, "08:30")), // held
			ignored(tick("09:30")),
			ignored(tick("09:30:00.001")).with(droppedOne),
			ignored(tick("10:30")),
			ignored(tick("10:30:00.001")).with(deletedOne),
		}},
		{name: "ended before disconnected at one instant while interrupted", steps: []step{
			processed(ev("interrupted.v1", "i1", chA, "08:00")),
			processed(ev("ended.v1", "e1", chA, "08:30"), ended("08:00", "08:30", "i1", "e1")),
			processed(ev("disconnected.v1", "d1", chA, "08:30")),
			ignored(tick("09:30:00.001")).with(droppedOne),
		}},
		{name: "ended while not interrupted", steps: []step{
			processed(ev("ended", "e1", chA, "08:00")),
			ignored(tick("09:00:00.001")).with(droppedOne),
			ignored(tick("10:00:00.001")).with(deletedOne),
		}},
		{name: "duplicate of the interrupted after close", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("resumed", "r1", chA, "08:05"), resumed("08:00", "08:05", "i1", "r1")),
			duplicate(ev("interrupted", "i1", chA, "08:00")),
			duplicate(ev("resumed", "r1", chA, "08:05")),
			// The duplicate did not reopen: a new resume is held, not paired.
			processed(ev("resumed", "r2", chA, "08:06")),
			ignored(tick("09:06:00.001")).with(droppedOne),
		}},
		{name: "duplicates after the channel ended", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("disconnected", "d1", chA, "08:30"), ended("08:00", "08:30", "i1", "d1")),
			processed(ev("ended", "e1", chA, "08:30")),
			duplicate(ev("disconnected", "d1", chA, "08:30")),
			duplicate(ev("ended", "e1", chA, "08:30")),
			duplicate(ev("interrupted", "i1", chA, "08:00")),
			ignored(tick("09:30:00.001")).with(droppedOne), // e1 once, not twice
		}},
		{name: "duplicate while open and while held", steps: []step{
			processed(ev("resumed", "r1", chA, "08:05")),
			duplicate(ev("resumed", "r1", chA, "08:05")),
			processed(ev("interrupted", "i1", chA, "08:00"), resumed("08:00", "08:05", "i1", "r1")),
			duplicate(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("interrupted", "i2", chA, "08:10")),
			duplicate(ev("interrupted", "i2", chA, "08:10")),
			processed(ev("resumed", "r2", chA, "08:20"), resumed("08:10", "08:20", "i2", "r2")),
			ignored(tick("11:00")).with(deletedOne), // nothing left open or held
		}},
		{name: "a duplicate's data is not read: another timestamp or type changes nothing", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			duplicate(ev("resumed", "i1", chA, "08:05")),
			processed(ev("resumed", "r1", chA, "08:06"), resumed("08:00", "08:06", "i1", "r1")),
		}},
		{name: "same id with another source is not a duplicate", steps: []step{
			processed(ev("interrupted", "x", chA, "08:00")),
			processed(from("/channel/other", ev("resumed", "x", chA, "08:05")), resumed("08:00", "08:05", "x", "x")),
			duplicate(from("/channel/other", ev("resumed", "x", chA, "08:05"))),
			duplicate(ev("interrupted", "x", chA, "08:00")),
		}},
		{name: "same id on another channel is not a duplicate", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("interrupted", "i1", chB, "08:00")),
			processed(ev("resumed", "r1", chB, "08:03"), resumed("08:00", "08:03", "i1", "r1").on(chB)),
			processed(ev("resumed", "r1", chA, "08:04"), resumed("08:00", "08:04", "i1", "r1")),
		}},
		{name: "channels are independent", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("resumed", "r1", chB, "08:05")),
			ignored(tick("09:00:00.001"), expired("08:00", "09:00", "i1")).with(expiredOne),
			ignored(tick("09:05:00.001")).with(droppedOne),
		}},
		{name: "v0 and v1 mixed", steps: []step{
			processed(ev("interrupted.v1", "i1", chA, "08:00")),
			processed(ev("resumed.v0", "r1", chA, "08:05"), resumed("08:00", "08:05", "i1", "r1")),
			processed(ev("interrupted.v0", "i2", chA, "08:10")),
			processed(ev("disconnected.v1", "d2", chA, "08:20"), ended("08:10", "08:20", "i2", "d2")),
			processed(ev("ended.v0", "e2", chA, "08:30")),
			processed(ev("interrupted.v1", "i3", chA, "08:25"), ended("08:25", "08:30", "i3", "e2")),
		}},
		{name: "equal timestamps: duration 0", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("resumed", "r1", chA, "08:00"), resumed("08:00", "08:00", "i1", "r1")),
			processed(ev("ended", "e2", chA, "08:10")),
			processed(ev("interrupted", "i2", chA, "08:10"), ended("08:10", "08:10", "i2", "e2")),
		}},
		{name: "a close pairs with the latest open interruption at or before it", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("interrupted", "i3", chA, "08:20")),
			processed(ev("interrupted", "i2", chA, "08:10")),
			processed(ev("resumed", "r1", chA, "08:15"), resumed("08:10", "08:15", "i2", "r1")),
			processed(ev("resumed", "r2", chA, "08:25"), resumed("08:20", "08:25", "i3", "r2")),
			processed(ev("resumed", "r3", chA, "08:26"), resumed("08:00", "08:26", "i1", "r3")),
		}},
		{name: "a close before every open interruption is held", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:10")),
			processed(ev("resumed", "r0", chA, "08:05")),
			processed(ev("interrupted", "i0", chA, "08:00"), resumed("08:00", "08:05", "i0", "r0")),
			ignored(tick("09:10:00.001"), expired("08:10", "09:10", "i1")).with(expiredOne),
		}},
		{name: "a late interrupted pairs with the earliest held close at or after it", steps: []step{
			processed(ev("resumed", "r3", chA, "08:30")),
			processed(ev("ended", "e2", chA, "08:20")),
			processed(ev("resumed", "r0", chA, "08:05")),
			processed(ev("interrupted", "i1", chA, "08:10"), ended("08:10", "08:20", "i1", "e2")),
			ignored(tick("09:05:00.001")).with(droppedOne),
			ignored(tick("09:30:00.001")).with(droppedOne),
		}},
		{name: "a held close earlier than the interrupted is not used", steps: []step{
			processed(ev("resumed", "r0", chA, "07:55")),
			processed(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("resumed", "r1", chA, "08:05"), resumed("08:00", "08:05", "i1", "r1")),
			ignored(tick("08:55:00.001")).with(droppedOne),
		}},
		{name: "a close exactly MaxInterruption later pairs", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("resumed", "r1", chA, "09:00"), resumed("08:00", "09:00", "i1", "r1")),
		}},
		{name: "a close beyond MaxInterruption does not pair: the interruption expires", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("resumed", "r1", chA, "09:00:00.001"), expired("08:00", "09:00", "i1")).with(expiredOne),
			ignored(tick("10:00:00.001")),
			ignored(tick("10:00:00.002")).with(droppedOne),
		}},
		{name: "a late interrupted exactly MaxInterruption before a held close pairs", steps: []step{
			processed(ev("resumed", "r1", chA, "09:00")),
			processed(ev("interrupted", "i1", chA, "08:00"), resumed("08:00", "09:00", "i1", "r1")),
		}},
		{name: "a late interrupted beyond MaxInterruption before a held close expires at once", steps: []step{
			processed(ev("resumed", "r1", chA, "09:00:00.001")),
			processed(ev("interrupted", "i1", chA, "08:00"), expired("08:00", "09:00", "i1")).with(expiredOne),
			ignored(tick("10:00:00.002")).with(droppedOne),
		}},
		{name: "expiry is strict, to the nanosecond", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			ignored(tick("08:59:59.999999999")),
			ignored(tick("09:00")),
			ignored(tick("07:00")), // stream time never moves back
			ignored(tick("09:00:00.000000001"), expired("08:00", "09:00", "i1")).with(expiredOne),
		}},
		{name: "a held close exactly at its bound survives its channel's other due close", steps: []step{
			processed(ev("resumed", "r0", chA, "07:59:59.999")),
			processed(ev("ended", "r1", chA, "08:00")),
			ignored(tick("09:00")).with(droppedOne), // r0 only
			ignored(tick("09:00:00.001")).with(droppedOne),
		}},
		{name: "an interruption exactly at its bound survives its channel's due close", steps: []step{
			processed(ev("resumed", "r0", chA, "07:59:59.999")),
			processed(ev("interrupted", "i1", chA, "08:00")),
			ignored(tick("09:00")).with(droppedOne),
			ignored(tick("09:00:00.001"), expired("08:00", "09:00", "i1")).with(expiredOne),
		}},
		{name: "retention is strict too", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			ignored(tick("10:00"), expired("08:00", "09:00", "i1")).with(expiredOne),
			ignored(tick("10:00:00.001")).with(deletedOne),
		}},
		{name: "stream time is the partition's: another channel's event expires", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("interrupted", "i2", chA, "08:30")),
			processed(ev("interrupted", "j1", chB, "09:15"), expired("08:00", "09:00", "i1")).with(expiredOne),
			processed(ev("resumed", "k1", chB, "09:40"), resumed("09:15", "09:40", "j1", "k1").on(chB), expired("08:30", "09:30", "i2")).with(expiredOne),
		}},
		{name: "several channels expire in one step, in channel order", steps: []step{
			processed(ev("interrupted", "i1", chB, "08:00")),
			processed(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("resumed", "r0", "ch-c", "08:00")),
			ignored(tick("12:00"), expired("08:00", "09:00", "i1"), expired("08:00", "09:00", "i1").on(chB)).
				with(Housekeeping{Expired: 2, DroppedCloses: 1, Deleted: 3}),
		}},
		{name: "a close arriving after its interruption expired is held and dropped", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			ignored(tick("09:30"), expired("08:00", "09:00", "i1")).with(expiredOne),
			processed(ev("resumed", "r1", chA, "08:30")),
			ignored(tick("09:30:00.001")).with(droppedOne),
		}},
		{name: "a late interrupted after stream time passed its bound expires at once", steps: []step{
			ignored(tick("12:00")),
			processed(ev("interrupted", "i1", chA, "08:00"), expired("08:00", "09:00", "i1")).
				with(Housekeeping{Expired: 1, Deleted: 1}),
		}},
		{name: "retention counts from the last event", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("resumed", "r1", chA, "08:05"), resumed("08:00", "08:05", "i1", "r1")),
			processed(ev("ended", "e1", chA, "09:00")),
			ignored(tick("10:00:00.001")).with(droppedOne),
			ignored(tick("11:00")),
			ignored(tick("11:00:00.001")).with(deletedOne),
		}},
		{name: "late duplicates are recognised until retention; after deletion events count as new", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			processed(ev("resumed", "r1", chA, "08:05"), resumed("08:00", "08:05", "i1", "r1")),
			ignored(tick("10:05")),
			duplicate(ev("interrupted", "i1", chA, "08:00")),
			duplicate(ev("resumed", "r1", chA, "08:05")),
			ignored(tick("10:05:00.001")).with(deletedOne),
			// The channel's seen ids are gone: the same events are
			// processed as new. Stream time is far past them, so the
			// interrupted expires at once (a second record for i1, with
			// outcome expired) and the resumed is held and dropped at
			// once; each time the channel is deleted again.
			processed(ev("interrupted", "i1", chA, "08:00"), expired("08:00", "09:00", "i1")).
				with(Housekeeping{Expired: 1, Deleted: 1}),
			processed(ev("resumed", "r1", chA, "08:05")).with(Housekeeping{DroppedCloses: 1, Deleted: 1}),
		}},
		{name: "an open interruption keeps its channel past retention", cfg: EngineConfig{MaxInterruption: 3 * time.Hour, Retention: time.Hour},
			steps: []step{
				processed(ev("interrupted", "i1", chA, "08:00")),
				ignored(tick("10:00")),
				duplicate(ev("interrupted", "i1", chA, "08:00")),
				ignored(tick("11:00:00.001"), expired("08:00", "11:00", "i1")).with(Housekeeping{Expired: 1, Deleted: 1}),
			}},
		{name: "held closes do not keep a channel past retention", cfg: EngineConfig{MaxInterruption: 3 * time.Hour, Retention: time.Hour},
			steps: []step{
				processed(ev("resumed", "r1", chA, "08:00")),
				ignored(tick("09:00:00.001")).with(Housekeeping{DroppedCloses: 1, Deleted: 1}),
				// r1's interrupted, 1h before it and within MaxInterruption,
				// finds no partner: the close went with the channel.
				processed(ev("interrupted", "i1", chA, "07:00")),
				ignored(tick("10:00:00.001"), expired("07:00", "10:00", "i1")).with(Housekeeping{Expired: 1, Deleted: 1}),
			}},
		{name: "ignored events only move stream time", steps: []step{
			processed(ev("interrupted", "i1", chA, "08:00")),
			ignored(ev("held", "h1", chA, "08:10")),
			ignored(ev("connected.v1", "c1", chA, "08:20")),
			ignored(ev("agent.presencechanged.v0", "p1", "1544", "08:30")),
			ignored(Event{ID: "n1", Source: "/channel", Type: "channel.parked.v0"}), // no timestamp
			processed(ev("resumed", "r1", chA, "08:40"), resumed("08:00", "08:40", "i1", "r1")),
			ignored(ev("agent.presencechanged.v1", "p2", "1544", "10:40:00.001")).with(deletedOne),
		}},
		{name: "an ignored event's id is not remembered", steps: []step{
			ignored(ev("held", "x", chA, "08:00")),
			processed(ev("interrupted", "x", chA, "08:00")),
			ignored(ev("held", "x", chA, "08:00")),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg == (EngineConfig{}) {
				cfg = defaultConfig
			}
			runSteps(t, cfg, state.New(), tt.steps)
		})
	}
}

func TestEngineInterruptionDetails(t *testing.T) {
	e := NewEngine(defaultConfig)
	s := state.New()
	var got []Interruption
	emit := func(in Interruption) { got = append(got, in) }
	open := ev("interrupted.v1", "i1", chA, "08:00:00.123")
	closing := from("/channel/eu", ev("resumed", "r1", chA, "08:05:00.456"))
	// A later event's details do not replace the first's.
	closing.ConversationID, closing.Party = "other-conv", vcc.Party{Role: "monitor"}
	e.Process(s, &open, emit)
	e.Process(s, &closing, emit)
	open2 := ev("interrupted", "i2", chA, "08:10")
	e.Process(s, &open2, emit)
	later := tick("09:10:00.001")
	e.Process(s, &later, emit)

	party := vcc.Party{Role: "agent", AgentID: "1544", UserID: "user-" + chA}
	want := []Interruption{
		{
			ChannelID: chA, ConversationID: "conv-" + chA, InteractionID: "inter-" + chA, Party: party,
			Outcome: OutcomeResumed, InterruptedAt: at("08:00:00.123"), ClosedAt: at("08:05:00.456"),
			OpenedBy: state.Ref{Source: "/channel", ID: "i1", Type: "channel.interrupted.v1", At: at("08:00:00.123")},
			ClosedBy: &state.Ref{Source: "/channel/eu", ID: "r1", Type: "channel.resumed.v0", At: at("08:05:00.456")},
		},
		{
			ChannelID: chA, ConversationID: "conv-" + chA, InteractionID: "inter-" + chA, Party: party,
			Outcome: OutcomeExpired, InterruptedAt: at("08:10"), ClosedAt: at("09:10"),
			OpenedBy: state.Ref{Source: "/channel", ID: "i2", Type: "channel.interrupted.v0", At: at("08:10")},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("emitted\n%+v\nwant\n%+v", got, want)
	}
}

func TestEngineFirstDetailsWin(t *testing.T) {
	// A close held before its interrupted gave the channel its details;
	// missing details are filled in from later events.
	e := NewEngine(defaultConfig)
	s := state.New()
	closing := ev("resumed", "r1", chA, "08:05")
	closing.InteractionID, closing.Party = "", vcc.Party{}
	open := ev("interrupted", "i1", chA, "08:00")
	open.ConversationID = "conv-other"
	var got []Interruption
	for _, x := range []Event{closing, open} {
		e.Process(s, &x, func(in Interruption) { got = append(got, in) })
	}
	if len(got) != 1 {
		t.Fatalf("emitted %d interruptions, want 1", len(got))
	}
	in := got[0]
	if in.ConversationID != "conv-"+chA || in.InteractionID != "inter-"+chA || in.Party != open.Party {
		t.Fatalf("details %q %q %+v; want the first event's conversation and the later event's interaction and party",
			in.ConversationID, in.InteractionID, in.Party)
	}
}

func TestEngineChannelStateDeleted(t *testing.T) {
	e := NewEngine(defaultConfig)
	s := state.New()
	for _, x := range []Event{ev("interrupted", "i1", chA, "08:00"), ev("resumed", "r1", chA, "08:05")} {
		e.Process(s, &x, func(Interruption) {})
	}
	if c := s.Get(chA); c == nil || c.NumSeen() != 2 || c.NumOpen() != 0 || c.NumHeld() != 0 || c.LastEventAt != at("08:05") {
		t.Fatalf("channel state %+v: want 2 seen ids, nothing open or held, last event 08:05", c)
	}
	s.Commit()
	late := tick("10:05:00.001")
	_, hk := e.Process(s, &late, func(Interruption) {})
	if hk != (Housekeeping{Deleted: 1}) || s.Get(chA) != nil || s.Len() != 0 {
		t.Fatalf("after retention: hk %+v, channel %+v, %d channels; want it deleted", hk, s.Get(chA), s.Len())
	}
	if ch := s.Changes(); len(ch) != 1 || ch[0].ChannelID != chA || ch[0].Channel != nil {
		t.Fatalf("Changes = %+v, want one tombstone for %s", ch, chA)
	}
}

func TestEngineIgnoredEventsCreateNoState(t *testing.T) {
	e := NewEngine(defaultConfig)
	s := state.New()
	for _, x := range []Event{ev("held", "h1", chA, "08:00"), ev("agent.presencechanged.v0", "p1", "1544", "08:01")} {
		if d, _ := e.Process(s, &x, func(Interruption) { t.Fatal("emitted") }); d != Ignored {
			t.Fatalf("%s: disposition %v, want ignored", x.Type, d)
		}
	}
	if s.Len() != 0 || len(s.Changes()) != 0 {
		t.Fatalf("ignored events created state: %d channels, changes %+v", s.Len(), s.Changes())
	}
	if s.StreamTime() != at("08:01") {
		t.Fatalf("stream time %s, want 08:01", testkit.Millis(s.StreamTime()))
	}
}

func TestEngineTimestampExtremes(t *testing.T) {
	// data.timestamp may be anything Unix nanoseconds in an int64 hold
	// (1677 to 2262). Bounds near the ends must not wrap around.
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "interruption within MaxInterruption of the largest time", steps: []step{
			processed(ev("interrupted", "i1", chA, "2262-04-11T23:00:00Z")),
			processed(ev("resumed", "r1", chA, "2262-04-11T23:30:00Z"), resumed("2262-04-11T23:00:00Z", "2262-04-11T23:30:00Z", "i1", "r1")),
			processed(ev("interrupted", "i2", chA, "2262-04-11T23:40:00Z")),
			ignored(tick("2262-04-11T23:47:16.854775807Z")),
		}},
		{name: "a close centuries after a late interrupted does not pair", steps: []step{
			processed(ev("resumed", "r1", chA, "2250-01-01T00:00:00Z")),
			processed(ev("interrupted", "i1", chA, "1700-01-01T00:00:00Z"), expired("1700-01-01T00:00:00Z", "1700-01-01T01:00:00Z", "i1")).
				with(Housekeeping{Expired: 1}),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, defaultConfig, state.New(), tt.steps)
		})
	}
}

// recorder collects what an engine run emits, as comparable strings.
type recorder struct{ lines []string }

func (r *recorder) emit(in Interruption) { r.lines = append(r.lines, describe(in)) }

func (r *recorder) process(e *Engine, s *state.Store, evs ...Event) {
	for _, x := range evs {
		d, hk := e.Process(s, &x, r.emit)
		r.lines = append(r.lines, fmt.Sprintf("%s %s: %v %+v", x.Type, x.ID, d, hk))
	}
}

func TestEngineRollbackReplaysTheSameOutput(t *testing.T) {
	e := NewEngine(defaultConfig)
	s := state.New()
	var setup recorder
	setup.process(e, s,
		ev("interrupted", "i1", chA, "08:00"),
		ev("resumed", "r2", chB, "08:30"),
		ev("interrupted", "i3", chB, "07:50"),
		ev("ended", "e4", "ch-c", "08:40"),
	)
	s.Commit()
	epoch := []Event{
		ev("interrupted", "i5", chA, "08:50"),
		ev("resumed", "r5", chA, "08:55"),
		tick("11:00"), // expires i1, drops e4, deletes channels
		ev("interrupted", "i1", chA, "08:00"),
	}
	var first recorder
	first.process(e, s, epoch...)
	s.Rollback()
	var second recorder
	second.process(e, s, epoch...)
	if !reflect.DeepEqual(first.lines, second.lines) {
		t.Fatalf("after Rollback the same input gave other output:\n%s\nthen\n%s", strings.Join(first.lines, "\n"), strings.Join(second.lines, "\n"))
	}
	var expiredI1, dropped bool
	for _, l := range first.lines {
		expiredI1 = expiredI1 || strings.Contains(l, "expired") && strings.Contains(l, "opened=i1")
		dropped = dropped || strings.Contains(l, "DroppedCloses:1")
	}
	if !expiredI1 || !dropped {
		t.Fatalf("the epoch should expire i1 and drop e4, got:\n%s", strings.Join(first.lines, "\n"))
	}
}

func TestEngineRestoredFromChangelog(t *testing.T) {
	// A store rebuilt from the changelog records behaves like the original.
	e := NewEngine(defaultConfig)
	orig := state.New()
	var discard recorder
	discard.process(e, orig,
		ev("interrupted", "i1", chA, "08:00"),
		ev("interrupted", "i2", chA, "08:10"),
		ev("resumed", "r1", chA, "08:15"),
		ev("resumed", "r9", chB, "08:20"),
		ev("interrupted", "j1", "ch-c", "07:00"),
		ev("resumed", "k1", "ch-c", "07:01"),
	)
	restored := state.New()
	for _, ch := range orig.Changes() {
		if ch.Channel == nil {
			restored.Restore(ch.ChannelID, nil)
			continue
		}
		c, err := state.DecodeChannel(state.AppendChannel(nil, ch.Channel))
		if err != nil {
			t.Fatal(err)
		}
		restored.Restore(ch.ChannelID, c)
	}
	ts, err := state.DecodeStreamTime(state.AppendStreamTime(nil, orig.StreamTime()))
	if err != nil {
		t.Fatal(err)
	}
	restored.RestoreStreamTime(ts)
	var none recorder
	if hk := e.Restored(restored, none.emit); hk != (Housekeeping{}) || len(none.lines) != 0 {
		t.Fatalf("Restored ran %+v and emitted %v; nothing was due", hk, none.lines)
	}
	rest := []Event{
		ev("interrupted", "i1", chA, "08:00"),
		ev("interrupted", "i9", chB, "08:19"),
		tick("09:05"),
		tick("11:00"),
	}
	var a, b recorder
	a.process(e, orig, rest...)
	b.process(e, restored, rest...)
	if !reflect.DeepEqual(a.lines, b.lines) {
		t.Fatalf("restored store diverged:\n%s\nvs\n%s", strings.Join(a.lines, "\n"), strings.Join(b.lines, "\n"))
	}
	if !strings.Contains(strings.Join(a.lines, "\n"), "duplicate") || !strings.Contains(strings.Join(a.lines, "\n"), "expired") {
		t.Fatalf("expected a duplicate and an expiry in:\n%s", strings.Join(a.lines, "\n"))
	}
}

func TestEngineRestoredRunsWhatIsDue(t *testing.T) {
	s := state.New()
	s.Restore(chA, state.NewChannel(state.ChannelData{
		LastEventAt: at("08:00"),
		Seen:        []uint64{eventHash("/channel", "i1")},
		Open:        []state.Ref{{Source: "/channel", ID: "i1", Type: "channel.interrupted.v0", At: at("08:00")}},
	}))
	s.Restore(chB, state.NewChannel(state.ChannelData{
		LastEventAt: at("08:00"),
		Held:        []state.Ref{{Source: "/channel", ID: "r1", Type: "channel.resumed.v0", At: at("08:00")}},
	}))
	s.RestoreStreamTime(at("09:30"))
	var r recorder
	hk := NewEngine(defaultConfig).Restored(s, r.emit)
	want := []string{describe(Interruption{ChannelID: chA, Outcome: OutcomeExpired, InterruptedAt: at("08:00"), ClosedAt: at("09:00"),
		OpenedBy: state.Ref{ID: "i1"}})}
	if !reflect.DeepEqual(r.lines, want) || hk != (Housekeeping{Expired: 1, DroppedCloses: 1}) {
		t.Fatalf("Restored emitted %v with %+v; want %v with one expiry and one dropped close", r.lines, hk, want)
	}
}

// TestEngineInvariants runs random event sequences (fixed seeds) in random
// arrival order with duplicates and checks what must always hold: every
// interruption is emitted exactly once, durations lie in [0,
// MaxInterruption], a closing event closes at most one interruption, and
// duplicates never emit.
func TestEngineInvariants(t *testing.T) {
	// Retention outlasts the hour of events: nothing is deleted before the
	// final tick, so a repeated event is always a duplicate.
	cfg := EngineConfig{MaxInterruption: 10 * time.Minute, Retention: 2 * time.Hour}
	types := []string{"interrupted", "interrupted.v1", "resumed", "resumed.v1", "ended", "disconnected.v1", "held"}
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 42))
		var evs []Event
		base := at("08:00")
		for i := range 40 {
			ch := []string{chA, chB}[rng.IntN(2)]
			ts := base + rng.Int64N(int64(time.Hour))
			e := ev(types[rng.IntN(len(types))], fmt.Sprintf("e%d", i), ch, "08:00")
			e.Timestamp = ts
			evs = append(evs, e)
		}
		// Arrival order: sorted with local disorder, plus duplicates.
		order := make([]Event, 0, len(evs)*2)
		for _, i := range rng.Perm(len(evs)) {
			order = append(order, evs[i])
			if rng.IntN(4) == 0 {
				order = append(order, evs[rng.IntN(len(evs))])
			}
		}
		order = append(order, tick("12:00"))

		e := NewEngine(cfg)
		s := state.New()
		opened := map[string]int{}
		closedBy := map[string]int{}
		seen := map[string]bool{}
		for _, x := range order {
			var emitted int
			d, _ := e.Process(s, &x, func(in Interruption) {
				emitted++
				checkInterruption(t, cfg, in)
				opened[in.OpenedBy.ID]++
				if in.ClosedBy != nil {
					closedBy[in.ClosedBy.ID]++
				}
			})
			key := x.ChannelID + "/" + x.ID
			switch {
			case x.Kind == vcc.Ignored:
				if d != Ignored {
					t.Fatalf("seed %d: ignored event %s got %v", seed, x.ID, d)
				}
			case seen[key]:
				if d != Duplicate || emitted != 0 {
					t.Fatalf("seed %d: repeated %s got %v and emitted %d", seed, x.ID, d, emitted)
				}
			default:
				if d != Processed {
					t.Fatalf("seed %d: first %s got %v", seed, x.ID, d)
				}
				seen[key] = true
			}
		}
		for _, x := range evs {
			switch {
			case x.Kind == vcc.Interrupted && opened[x.ID] != 1:
				t.Fatalf("seed %d: interruption %s emitted %d times, want once", seed, x.ID, opened[x.ID])
			case x.Kind != vcc.Interrupted && opened[x.ID] != 0:
				t.Fatalf("seed %d: %s %s opened an interruption", seed, x.Type, x.ID)
			case closedBy[x.ID] > 1 || (closedBy[x.ID] == 1 && x.Kind != vcc.Resumed && x.Kind != vcc.Ended):
				t.Fatalf("seed %d: %s %s closed %d interruptions", seed, x.Type, x.ID, closedBy[x.ID])
			}
		}
		if s.Len() != 0 {
			t.Fatalf("seed %d: %d channels left after retention", seed, s.Len())
		}
	}
}

func TestKindOutcomeDispositionStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{vcc.Ignored.String(), "ignored"},
		{vcc.Interrupted.String(), "interrupted"},
		{vcc.Resumed.String(), "resumed"},
		{vcc.Ended.String(), "ended"},
		{vcc.Kind(99).String(), "ignored"},
		{OutcomeResumed.String(), "resumed"},
		{OutcomeEnded.String(), "ended"},
		{OutcomeExpired.String(), "expired"},
		{Outcome(0).String(), "unknown"},
		{Processed.String(), "processed"},
		{Ignored.String(), "ignored"},
		{Duplicate.String(), "duplicate"},
		{Disposition(0).String(), "unknown"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("String() = %q, want %q", tt.got, tt.want)
		}
	}
}

func TestEventHashIsStable(t *testing.T) {
	// Hashes are stored in the changelog: they must never change. The
	// values are FNV-1a 64 of source, NUL, id, computed independently.
	for _, tt := range []struct {
		source, id string
		want       uint64
	}{
		{"/channel", "2Zks0VJxXAegKlhmHygjlZRwu0F", 0xd693108989100e56},
		{"", "", 0xaf63bd4c8601b7df},
	} {
		if got := eventHash(tt.source, tt.id); got != tt.want {
			t.Errorf("eventHash(%q, %q) = %#x, want %#x", tt.source, tt.id, got, tt.want)
		}
	}
	distinct := map[uint64]string{}
	for _, p := range [][2]string{{"/channel", "a"}, {"/channel", "b"}, {"/channela", ""}, {"/channel", "a\x00"}, {"", "/channela"}} {
		h := eventHash(p[0], p[1])
		if prev, ok := distinct[h]; ok {
			t.Errorf("eventHash%q collides with %s", p, prev)
		}
		distinct[h] = fmt.Sprintf("%q", p)
	}
}

// TestEngineKeepsIdentifiersExact runs interruptions whose identifiers are
// in every form the state packs differently (canonical UUIDs and KSUIDs,
// near misses, short and long ids, unknown roles and sources) through the
// engine, through a held close and through a changelog round trip, and
// checks that the emitted interruptions carry the exact strings.
func TestEngineKeepsIdentifiersExact(t *testing.T) {
	idents := []struct {
		channel, conv, inter string
		party                vcc.Party
		source, open, close  string
	}{
		{"3e71f453-116a-4abc-8769-bc678ef6e080", "1371f451-116a-4abc-8869-bc678ef67070", "ef71f453-556a-4abc-9769-bc678ef6e090",
			vcc.Party{Role: "agent", AgentID: "1544", UserID: "aa71f453-556a-4abc-9769-bc678ef6e090"},
			"/channel", "2Zks0VJxXAegKlhmHygjlZRwu0F", "37pWERwB5Qk7iMmAEo7JfMDL5Js"},
		{"3E71F453-116A-4ABC-8769-BC678EF6E080", "1371F451-116A-4ABC-8869-BC678EF67070", "{ef71f453-556a-4abc-9769-bc678ef6e090}",
			vcc.Party{Role: "Supervisor", AgentID: "aa71f453-556a-4abc-9769-bc678ef6e090", UserID: "u"},
			"/channel/eu", "zzzzzzzzzzzzzzzzzzzzzzzzzzz", "37pWERwB5Qk7iMmAEo7JfMDL5J-"},
		{"c", "", "x", vcc.Party{Role: "external"}, "/channel", "i", "an-event-id-longer-than-twenty-bytes"},
	}
	for _, id := range idents {
		mk := func(typ, eid, ts string) Event {
			x := ev(typ, eid, id.channel, ts)
			x.Source, x.ConversationID, x.InteractionID, x.Party = id.source, id.conv, id.inter, id.party
			return x
		}
		check := func(what string, got []Interruption, opened, closed string) {
			t.Helper()
			if len(got) != 1 {
				t.Fatalf("%s %s: emitted %d interruptions, want 1", id.channel, what, len(got))
			}
			in := got[0]
			if in.ChannelID != id.channel || in.ConversationID != id.conv || in.InteractionID != id.inter || in.Party != id.party ||
				in.OpenedBy.Source != id.source || in.OpenedBy.ID != opened {
				t.Errorf("%s %s: emitted %+v", id.channel, what, in)
			}
			if closed == "" && in.ClosedBy != nil || closed != "" && (in.ClosedBy == nil || in.ClosedBy.ID != closed || in.ClosedBy.Source != id.source) {
				t.Errorf("%s %s: closed by %+v, want %q", id.channel, what, in.ClosedBy, closed)
			}
		}
		e := NewEngine(defaultConfig)
		var got []Interruption
		collect := func(in Interruption) { got = append(got, in) }

		s := state.New()
		for _, x := range []Event{mk("interrupted", id.open, "08:00"), mk("resumed", id.close, "08:01")} {
			e.Process(s, &x, collect)
		}
		check("resumed", got, id.open, id.close)

		got, s = nil, state.New()
		for _, x := range []Event{mk("resumed", id.close, "08:01"), mk("interrupted", id.open, "08:00")} {
			e.Process(s, &x, collect)
		}
		check("held close", got, id.open, id.close)

		got, s = nil, state.New()
		x := mk("interrupted", id.open, "08:00")
		e.Process(s, &x, collect)
		restored := state.New()
		for _, ch := range s.Changes() {
			c, err := state.DecodeChannel(state.AppendChannel(nil, ch.Channel))
			if err != nil {
				t.Fatal(err)
			}
			restored.Restore(ch.ChannelID, c)
		}
		restored.RestoreStreamTime(at("09:30"))
		e.Restored(restored, collect)
		check("expired after restore", got, id.open, "")
	}
}
