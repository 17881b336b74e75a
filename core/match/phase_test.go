package match

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/state"
)

// phaseTypes are the short names the phase tests write events with.
var phaseTypes = map[string]string{
	"al": vcc.TypeAlerted, "co": vcc.TypeConnected, "cf": vcc.TypeConnectionFailed, "h": vcc.TypeHeld,
	"rt": vcc.TypeRetrieved, "p": vcc.TypeParked, "u": vcc.TypeUnparked, "i": vcc.TypeInterrupted,
	"r": vcc.TypeResumed, "w": vcc.TypeWrapStarted, "e": vcc.TypeEnded, "d": vcc.TypeDisconnected,
}

// phaseEv returns a channel event as codec.DecodePhased gives it: Phased,
// with the interruption kind only for the interruption matcher's types.
func phaseEv(code, id, ts string) Event {
	name, ok := phaseTypes[code]
	if !ok {
		panic("phaseEv: unknown code " + code)
	}
	kind, _ := vcc.KindOf(name)
	return Event{ID: id, Source: "/channel", Type: name + ".v0", Kind: kind, Phased: true, Subject: chA,
		Timestamp: at(ts), HasTimestamp: true, ChannelID: chA, ConversationID: "conv", InteractionID: "inter",
		Party: vcc.Party{Role: "agent", AgentID: "1544", UserID: "u1"}}
}

// phaseCfg is the engine configuration of phase p with a one-hour maximum.
func phaseCfg(t *testing.T, name string) EngineConfig {
	t.Helper()
	p, ok := PhaseByName(name)
	if !ok {
		t.Fatalf("no phase %q", name)
	}
	return EngineConfig{MaxInterruption: time.Hour, Retention: 2 * time.Hour, Phase: &p}
}

// phaseRows processes the events on phase name's matcher and returns its
// records as row writes them, each checked to name the phase.
func phaseRows(t *testing.T, name string, events ...Event) []string {
	t.Helper()
	cfg := phaseCfg(t, name)
	e := newTestEngine(cfg)
	s := state.New()
	var rows []string
	for i := range events {
		e.Process(s, &events[i], func(in Interruption) {
			if in.Phase != name {
				t.Errorf("record %s: phase %q, want %q", row(in), in.Phase, name)
			}
			checkRecord(t, cfg, in)
			rows = append(rows, row(in))
		})
		s.Commit()
	}
	return rows
}

// phaseFinal is the final table of phaseRows' records: the latest
// revision of each phase, retractions dropped, revisions written as #0.
func phaseFinal(t *testing.T, name string, events ...Event) []string {
	t.Helper()
	out, _, _ := processAll(phaseCfg(t, name), events)
	return final(out)
}

func wantRows(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("records\n got %q\nwant %q", got, want)
	}
}

// Every rule of the phase table, one test each (README, "Phases").

func TestPhaseAlertingClosedByConnected(t *testing.T) {
	wantRows(t, phaseRows(t, PhaseAlerting, phaseEv("al", "a1", "10:00"), phaseEv("co", "c1", "10:00:07")),
		"a1 connected 10:00-10:00:07 c1 #1")
}

func TestPhaseAlertingClosedByConnectionFailed(t *testing.T) {
	wantRows(t, phaseRows(t, PhaseAlerting, phaseEv("al", "a1", "10:00"), phaseEv("cf", "f1", "10:00:30")),
		"a1 failed 10:00-10:00:30 f1 #1")
}

func TestPhaseConnectedClosedByWrapStarted(t *testing.T) {
	wantRows(t, phaseRows(t, PhaseConnected, phaseEv("co", "c1", "10:00"), phaseEv("w", "w1", "10:05")),
		"c1 wrap 10:00-10:05 w1 #1")
}

func TestPhaseConnectedClosedByDisconnected(t *testing.T) {
	wantRows(t, phaseRows(t, PhaseConnected, phaseEv("co", "c1", "10:00"), phaseEv("d", "d1", "10:05")),
		"c1 disconnected 10:00-10:05 d1 #1")
}

func TestPhaseHeldClosedByRetrieved(t *testing.T) {
	wantRows(t, phaseRows(t, PhaseHeld, phaseEv("h", "h1", "10:01"), phaseEv("rt", "r1", "10:02")),
		"h1 retrieved 10:01-10:02 r1 #1")
}

func TestPhaseParkedClosedByUnparked(t *testing.T) {
	wantRows(t, phaseRows(t, PhaseParked, phaseEv("p", "p1", "10:01"), phaseEv("u", "u1", "10:03")),
		"p1 unparked 10:01-10:03 u1 #1")
}

func TestPhaseInterruptedClosedByResumed(t *testing.T) {
	wantRows(t, phaseRows(t, PhaseInterrupted, phaseEv("i", "i1", "10:01"), phaseEv("r", "r1", "10:03")),
		"i1 resumed 10:01-10:03 r1 #1")
}

func TestPhaseInterruptedCallsDisconnectedEnded(t *testing.T) {
	wantRows(t, phaseRows(t, PhaseInterrupted, phaseEv("i", "i1", "10:01"), phaseEv("d", "d1", "10:03")),
		"i1 ended 10:01-10:03 d1 #1")
}

func TestPhaseWrapClosedByEnded(t *testing.T) {
	wantRows(t, phaseRows(t, PhaseWrap, phaseEv("w", "w1", "10:05"), phaseEv("e", "e1", "10:06")),
		"w1 ended 10:05-10:06 e1 #1")
}

// The wrap starts at the disconnect: channel.disconnected neither closes
// nor ends it.
func TestPhaseWrapIgnoresDisconnected(t *testing.T) {
	wantRows(t, phaseRows(t, PhaseWrap, phaseEv("d", "d1", "10:05"), phaseEv("w", "w1", "10:05"),
		phaseEv("d", "d2", "10:05:30"), phaseEv("e", "e1", "10:06")),
		"w1 ended 10:05-10:06 e1 #1")
}

// An end closes every phase that is open, with the end's own outcome.
func TestPhaseEndsCloseEveryPhase(t *testing.T) {
	for _, c := range []struct{ phase, open string }{
		{PhaseAlerting, "al"}, {PhaseConnected, "co"}, {PhaseHeld, "h"}, {PhaseParked, "p"},
	} {
		t.Run(c.phase, func(t *testing.T) {
			wantRows(t, phaseRows(t, c.phase, phaseEv(c.open, "o1", "10:00"), phaseEv("e", "e1", "10:04")),
				"o1 ended 10:00-10:04 e1 #1")
			wantRows(t, phaseRows(t, c.phase, phaseEv(c.open, "o1", "10:00"), phaseEv("d", "d1", "10:04")),
				"o1 disconnected 10:00-10:04 d1 #1")
		})
	}
}

func TestPhaseSecondOpenerWhileOpenHasNoEffect(t *testing.T) {
	wantRows(t, phaseRows(t, PhaseHeld, phaseEv("h", "h1", "10:01"), phaseEv("h", "h2", "10:02"), phaseEv("rt", "r1", "10:03")),
		"h1 retrieved 10:01-10:03 r1 #1")
}

func TestPhaseOpenerAfterEndOpensNothing(t *testing.T) {
	wantRows(t, phaseRows(t, PhaseHeld, phaseEv("e", "e1", "10:01"), phaseEv("h", "h1", "10:02"), phaseEv("rt", "r1", "10:03")))
}

func TestPhaseCloserWhileNotOpenHasNoEffect(t *testing.T) {
	wantRows(t, phaseRows(t, PhaseParked, phaseEv("u", "u1", "10:01"), phaseEv("p", "p1", "10:02"), phaseEv("u", "u2", "10:04")),
		"p1 unparked 10:02-10:04 u2 #1")
}

// Expiry at the start + the phase's maximum (one hour here), published
// once the clock passes it: the clock of every phase event, also of types
// the phase does not read (EngineConfig.Phase).
func TestPhaseExpiresAtItsMaximum(t *testing.T) {
	wantRows(t, phaseRows(t, PhaseHeld, phaseEv("h", "h1", "10:00"), phaseEv("co", "c9", "11:00:00.001")),
		"h1 expired 10:00-11:00 - #1")
}

// Decided: disconnected + wrapstarted in one millisecond close the
// connected phase with outcome wrap (the closer before the end), and the
// wrap opens at that instant; whatever their ids' order.
func TestPhaseSameInstantDisconnectedAndWrapStarted(t *testing.T) {
	for _, ids := range [][2]string{{"d1", "w1"}, {"w1", "d1"}} {
		evs := []Event{phaseEv("co", "c1", "10:00"), phaseEv("d", ids[0], "10:05"), phaseEv("w", ids[1], "10:05"), phaseEv("e", "e1", "10:07")}
		if ids[0] == "w1" {
			evs[1].Type, evs[2].Type = vcc.TypeWrapStarted+".v0", vcc.TypeDisconnected+".v0"
			evs[1].Kind, evs[2].Kind = vcc.Ignored, vcc.Ended
		}
		// Delivered disconnected first, the close is revised to wrap when
		// the wrapstarted arrives: the final table is the same.
		wantRows(t, phaseFinal(t, PhaseConnected, evs...), "c1 wrap 10:00-10:05 w1 #0")
		wantRows(t, phaseFinal(t, PhaseConnected, evs[0], evs[2], evs[1], evs[3]), "c1 wrap 10:00-10:05 w1 #0")
		wantRows(t, phaseFinal(t, PhaseWrap, evs...), "w1 ended 10:05-10:07 e1 #0")
	}
}

// Decided: an alerted and an ended at one instant give a 0 ms alerting
// phase closed by ended (while not open and not ended, the opener first).
func TestPhaseSameInstantAlertedAndEnded(t *testing.T) {
	wantRows(t, phaseRows(t, PhaseAlerting, phaseEv("e", "a0", "10:00"), phaseEv("al", "z9", "10:00")),
		"z9 ended 10:00-10:00 a0 #1")
}

// Decided: an ended while alerting closes the alerting phase with outcome
// ended (no connected phase follows: a connected after it opens nothing).
func TestPhaseEndedWhileAlerting(t *testing.T) {
	evs := []Event{phaseEv("al", "a1", "10:00"), phaseEv("e", "e1", "10:00:20"), phaseEv("co", "c1", "10:00:30")}
	wantRows(t, phaseRows(t, PhaseAlerting, evs...), "a1 ended 10:00-10:00:20 e1 #1")
	wantRows(t, phaseRows(t, PhaseConnected, evs...))
}

// Decided: phases are independent. A hold while interrupted is a held
// phase inside the interrupted one; both are published whole.
func TestPhaseHoldWhileInterrupted(t *testing.T) {
	evs := []Event{phaseEv("co", "c1", "10:00"), phaseEv("i", "i1", "10:01"), phaseEv("h", "h1", "10:02"),
		phaseEv("rt", "r1", "10:03"), phaseEv("r", "s1", "10:04"), phaseEv("w", "w1", "10:05")}
	wantRows(t, phaseRows(t, PhaseHeld, evs...), "h1 retrieved 10:02-10:03 r1 #1")
	wantRows(t, phaseRows(t, PhaseInterrupted, evs...), "i1 resumed 10:01-10:04 s1 #1")
	wantRows(t, phaseRows(t, PhaseConnected, evs...), "c1 wrap 10:00-10:05 w1 #1")
}

// A late closer corrects a published expiry (revision 2), and a late
// opener before an end-less close retracts what it took over.
func TestPhaseLateEventsCorrect(t *testing.T) {
	wantRows(t, phaseRows(t, PhaseHeld, phaseEv("h", "h1", "10:00"), phaseEv("co", "c9", "11:30"), phaseEv("rt", "r1", "10:20")),
		"h1 expired 10:00-11:00 - #1", "h1 retrieved 10:00-10:20 r1 #2")
	wantRows(t, phaseRows(t, PhaseHeld, phaseEv("h", "h2", "10:10"), phaseEv("rt", "r1", "10:20"), phaseEv("h", "h1", "10:00")),
		"h2 retrieved 10:10-10:20 r1 #1", "h2 retracted interrupted-while-interrupted #2", "h1 retrieved 10:00-10:20 r1 #1")
}

// TestPhaseLateOpenerReopens: a late earlier opener takes a published
// period's closing event (at one instant a closer while open goes before
// an opener), so the later period is open again: it is retracted with
// reason reopened, which a phase record keeps (codec.PhaseReason).
func TestPhaseLateOpenerReopens(t *testing.T) {
	wantRows(t, phaseRows(t, PhaseHeld, phaseEv("h", "h2", "10:05"), phaseEv("rt", "r1", "10:05"), phaseEv("h", "h1", "10:00")),
		"h2 retrieved 10:05-10:05 r1 #1", "h2 retracted reopened #2", "h1 retrieved 10:00-10:05 r1 #1")
	wantRows(t, phaseRows(t, PhaseAlerting, phaseEv("al", "a2", "10:05"), phaseEv("co", "c1", "10:05"), phaseEv("al", "a1", "10:00")),
		"a2 connected 10:05-10:05 c1 #1", "a2 retracted reopened #2", "a1 connected 10:00-10:05 c1 #1")
}

// The phase matcher is the interruption matcher with its types renamed:
// on random timelines of one phase's types (ties, duplicates, late and
// reversed deliveries, expiries), every record it emits, in order and
// whole, is what the interruption matcher emits for the same events
// renamed to interrupted (openers), resumed (closers) and ended (ends),
// with the outcome, types and phase named back. The interruption matcher
// is held to its independent model elsewhere (reference_test.go).
func TestPhaseMatcherIsTheInterruptionMatcherRenamed(t *testing.T) {
	for _, p := range Phases() {
		t.Run(p.Name, func(t *testing.T) {
			roles, err := compilePhase(p)
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for typ := range roles.roles {
				types = append(types, typ)
			}
			slices.Sort(types)
			cfg := EngineConfig{MaxInterruption: 10 * time.Minute, Retention: 30 * time.Minute, Phase: &p}
			icfg := cfg
			icfg.Phase = nil
			renamed := map[vcc.Kind]string{vcc.Interrupted: vcc.TypeInterrupted + ".v0", vcc.Resumed: vcc.TypeResumed + ".v0", vcc.Ended: vcc.TypeEnded + ".v0"}
			for seed := range uint64(300) {
				rng := rand.New(rand.NewPCG(seed, 25))
				n := 2 + rng.IntN(14)
				base := at("10:00")
				var evs, ievs []Event
				original := map[string]string{} // id → type
				for k := range n {
					typ := types[rng.IntN(len(types))]
					ts := base + int64(rng.IntN(40))*int64(time.Minute)/4
					if rng.IntN(4) == 0 && k > 0 {
						ts = evs[rng.IntN(len(evs))].Timestamp // a tie
					}
					id := fmt.Sprintf("e%02d", k)
					if rng.IntN(8) == 0 && k > 0 {
						dup := evs[rng.IntN(len(evs))] // an exact duplicate
						evs, ievs = append(evs, dup), append(ievs, ievs[slices.IndexFunc(evs, func(e Event) bool { return e.ID == dup.ID })])
						continue
					}
					name, _ := vcc.SplitType(typ)
					kind, _ := vcc.KindOf(name)
					ev := Event{ID: id, Source: "/channel", Type: typ, Kind: kind, Phased: true, Subject: chA, Timestamp: ts,
						HasTimestamp: true, ChannelID: chA, ConversationID: "conv", Party: vcc.Party{Role: "agent", AgentID: "7"}}
					ie := ev
					role := roles.role(typ)
					ie.Type, ie.Kind, ie.Phased = renamed[role.kind], role.kind, false
					original[id] = typ
					evs, ievs = append(evs, ev), append(ievs, ie)
				}
				got, _, _ := processAll(cfg, evs)
				want, _, _ := processAll(icfg, ievs)
				for i := range want {
					w := &want[i]
					w.Phase = p.Name
					w.OpenedBy.Type = original[w.OpenedBy.ID]
					if w.ClosedBy != nil {
						cb := *w.ClosedBy
						cb.Type = original[cb.ID]
						w.ClosedBy = &cb
						w.Outcome = roles.role(cb.Type).outcome
					}
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("seed %d: phase records\n got %+v\nwant %+v", seed, got, want)
				}
			}
		})
	}
}

// The final table of a phase is a function of the set of events: every
// delivery order of a timeline gives the same latest revision of each
// phase, compared whole (identity, times, closing event, outcome).
func TestPhaseFinalTableIndependentOfOrder(t *testing.T) {
	evs := []Event{phaseEv("al", "a1", "10:00"), phaseEv("co", "c1", "10:00:05"), phaseEv("h", "h1", "10:01"),
		phaseEv("rt", "r1", "10:02"), phaseEv("h", "h2", "10:03"), phaseEv("p", "p1", "10:03"), phaseEv("u", "u1", "10:03:30"),
		phaseEv("i", "i1", "10:04"), phaseEv("h", "h3", "10:04:10"), phaseEv("rt", "r2", "10:04:20"), phaseEv("r", "s1", "10:05"),
		phaseEv("d", "d1", "10:06"), phaseEv("w", "w1", "10:06"), phaseEv("e", "e1", "10:07")}
	for _, p := range Phases() {
		t.Run(p.Name, func(t *testing.T) {
			cfg := phaseCfg(t, p.Name)
			in, _, _ := processAll(cfg, evs)
			want := settledWhole(in)
			if len(want) == 0 {
				t.Fatalf("no %s phase in the timeline", p.Name)
			}
			rng := rand.New(rand.NewPCG(25, 1))
			for range 200 {
				perm := slices.Clone(evs)
				rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
				out, _, _ := processAll(cfg, perm)
				if got := settledWhole(out); !reflect.DeepEqual(got, want) {
					t.Fatalf("order %v:\n got %+v\nwant %+v", eventIDs(perm), got, want)
				}
			}
		})
	}
}

// settledWhole is latestWhole without the retracted: the final table.
func settledWhole(records []Interruption) []Interruption {
	return slices.DeleteFunc(latestWhole(records), func(in Interruption) bool { return in.Retracted })
}

func eventIDs(evs []Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = evs[i].ID
	}
	return out
}

// phaseRenames maps the reference's event types to phase p's, for the
// phases whose types sort as the interruption's do (opener before closer,
// both after the ends): held and parked. An ignored event becomes one no
// phase matcher is given (not Phased).
func phaseRenames(p Phase) (opener, closer string) {
	opener = p.Open[0] + ".v0"
	for t := range p.Close {
		closer = t + ".v0"
	}
	return opener, closer
}

// compareWithReferenceAsPhase is compareWithReference for phase p: the
// events renamed to p's types, the phase matcher's records at every step
// compared with the independent reference's (reference_test.go), named
// back (types, and the outcome: p's closer's, or disconnected for a close
// by channel.disconnected), with the same dispositions and deletions.
func compareWithReferenceAsPhase(t *testing.T, cfg EngineConfig, p Phase, evs []Event, rollbacks bool) {
	t.Helper()
	opener, closer := phaseRenames(p)
	rename := map[string]string{vcc.TypeInterrupted + ".v0": opener, vcc.TypeResumed + ".v0": closer}
	pevs := make([]Event, len(evs))
	for i, ev := range evs {
		pe := ev
		switch {
		case ev.Kind == vcc.Ignored:
			pe.Type, pe.Phased = vcc.TypeAlerted+".v0", false
		case rename[ev.Type] != "":
			pe.Type, pe.Kind, pe.Phased = rename[ev.Type], vcc.Ignored, true
		default: // ended, disconnected
			pe.Phased = true
		}
		pevs[i] = pe
	}
	pcfg := cfg
	pcfg.Phase = &p
	e := newTestEngine(pcfg)
	s := state.New()
	ref := newRef(cfg)
	named := func(r state.Ref) state.Ref {
		if n := rename[r.Type]; n != "" {
			r.Type = n
		}
		return r
	}
	for i := range pevs {
		if rollbacks && i%3 == 2 {
			x := pevs[i]
			e.Process(s, &x, func(Interruption) {})
			s.Rollback()
		}
		var got []string
		x := pevs[i]
		d, hk := e.Process(s, &x, func(in Interruption) {
			if in.Phase != p.Name {
				t.Errorf("record of phase %q, want %q", in.Phase, p.Name)
			}
			got = append(got, refRow(in))
		})
		s.Commit()
		rd, recs, deleted := ref.process(evs[i])
		var want []string
		for _, in := range recs {
			in.OpenedBy = named(in.OpenedBy)
			if in.ClosedBy != nil {
				c := named(*in.ClosedBy)
				in.ClosedBy = &c
				switch {
				case in.Outcome == OutcomeResumed:
					in.Outcome = p.Close[strings.TrimSuffix(c.Type, ".v0")]
				case c.Type == vcc.TypeDisconnected+".v0":
					in.Outcome = OutcomeDisconnected
				}
			}
			want = append(want, refRow(in))
		}
		slices.Sort(got)
		slices.Sort(want)
		if d != rd || !slices.Equal(got, want) || hk.Deleted != deleted {
			t.Fatalf("phase %s, settings %+v, event %d (%s %s %s at %s): engine %v %q deleted %d; reference %v %q deleted %d\nevents: %s",
				p.Name, cfg, i, pevs[i].ChannelID, pevs[i].Type, pevs[i].ID, hm(pevs[i].Timestamp), d, got, hk.Deleted, rd, want, deleted, describe(pevs))
		}
	}
}

// FuzzPhaseAgainstReference holds the held and parked phase matchers to
// the interruption matcher's independent reference, as
// FuzzEngineAgainstReference holds the interruption matcher: random
// settings, ties, conflicting copies, identities, rollbacks.
func FuzzPhaseAgainstReference(f *testing.F) {
	f.Add(byte(59), byte(0), byte(0), []byte{0, 0, 0, 10, 1, 0, 1, 140, 0, 0, 2, 130, 1, 0, 3, 120})
	f.Add(byte(10), byte(5), byte(3), []byte{0, 0, 0, 0, 1, 0, 1, 0, 2, 0, 2, 0, 0, 0, 3, 0, 1, 0, 4, 0})
	f.Add(byte(1), byte(0), byte(1), []byte{0, 1, 0, 200, 0, 1, 1, 250, 3, 1, 2, 100, 1, 1, 3, 255, 0, 2, 9, 20})
	f.Add(byte(30), byte(30), byte(4), []byte{0, 0, 0, 130, 2, 0, 1, 135, 0, 0, 2, 125, 1, 0, 3, 0, 0, 0, 4, 0})
	held, _ := PhaseByName(PhaseHeld)
	parked, _ := PhaseByName(PhaseParked)
	f.Fuzz(func(t *testing.T, a, b, c byte, data []byte) {
		p := held
		if a&1 == 1 {
			p = parked
		}
		compareWithReferenceAsPhase(t, configFromBytes(a, b, c), p, eventsFromBytes(data), c%3 == 0)
	})
}

// TestPhaseAgainstReferenceRandom is that comparison over seeded random
// inputs, so that every test run covers it.
func TestPhaseAgainstReferenceRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	n := 2000
	if testing.Short() {
		n = 300
	}
	held, _ := PhaseByName(PhaseHeld)
	parked, _ := PhaseByName(PhaseParked)
	for k := range n {
		b := make([]byte, 4*(1+rng.IntN(40)))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		a, r, c := byte(rng.UintN(256)), byte(rng.UintN(256)), byte(rng.UintN(256))
		p := held
		if k%2 == 1 {
			p = parked
		}
		compareWithReferenceAsPhase(t, configFromBytes(a, r, c), p, eventsFromBytes(b), c%3 == 0)
		if t.Failed() {
			return
		}
	}
}
