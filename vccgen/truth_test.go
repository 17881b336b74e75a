package vccgen

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
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

// The phase table of issue 25, written out here for the test's own walker
// (independent of truth.go's tables): each phase's opening type, its
// closing types with their outcomes, and the outcomes it may end with.
var (
	pwOpeners = map[string]string{
		"alerting": "channel.alerted", "connected": "channel.connected", "held": "channel.held",
		"parked": "channel.parked", "interrupted": "channel.interrupted", "wrap": "channel.wrapstarted",
	}
	pwClosers = map[string]map[string]string{
		"alerting":    {"channel.connected": "connected", "channel.connectionfailed": "failed"},
		"connected":   {"channel.wrapstarted": "wrap"},
		"held":        {"channel.retrieved": "retrieved"},
		"parked":      {"channel.unparked": "unparked"},
		"interrupted": {"channel.resumed": "resumed"},
		"wrap":        {},
	}
	pwAllowed = map[string][]string{
		"alerting":    {"connected", "failed", "ended", "disconnected", "expired"},
		"connected":   {"wrap", "ended", "disconnected", "expired"},
		"held":        {"retrieved", "ended", "disconnected", "expired"},
		"parked":      {"unparked", "ended", "disconnected", "expired"},
		"interrupted": {"resumed", "ended", "expired"},
		"wrap":        {"ended", "expired"},
	}
)

// pwEnd returns the outcome with which an event of type typ ends phase ph
// (rule 1), or "" when it is no end for it.
func pwEnd(ph, typ string) string {
	switch {
	case typ == "channel.ended":
		return "ended"
	case typ == "channel.disconnected" && ph == "interrupted":
		return "ended"
	case typ == "channel.disconnected" && ph != "wrap":
		return "disconnected"
	}
	return ""
}

// pwEvent is a generated channel event read back from its NDJSON.
type pwEvent struct {
	id, source, typ, channel string
	at                       time.Time
}

// readEvents decodes NDJSON CloudEvents (as VCC sends them), keeping
// channel events, each id once.
func readEvents(t *testing.T, ndjson []byte) []pwEvent {
	t.Helper()
	var out []pwEvent
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(ndjson))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ce struct {
			ID, Source, Type string
			Data             struct {
				Timestamp string
				Channel   *struct{ ChannelID string }
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &ce); err != nil {
			t.Fatal(err)
		}
		if ce.Data.Channel == nil || seen[ce.ID] {
			continue
		}
		seen[ce.ID] = true
		at, err := time.Parse(time.RFC3339Nano, ce.Data.Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pwEvent{id: ce.ID, source: ce.Source, typ: ce.Type[:strings.LastIndexByte(ce.Type, '.')],
			channel: ce.Data.Channel.ChannelID, at: at.UTC()})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// pwResult is what the test's walker found.
type pwResult struct {
	closed, open    map[string]Phase // by channel/phase/openedBy
	whileOpen, late int              // openers that opened nothing
	opened          map[string]int   // phases opened by each event id
}

func phaseKey(p Phase) string { return p.ChannelID + "/" + p.Phase + "/" + p.OpenedBy }

// walkPhases is the test's oracle: it sorts the events by (timestamp,
// source, id) and walks each channel's timeline, each phase kind on its
// own, by the rules of issue 25 (the way the matcher will, not the way the
// simulation built them).
func walkPhases(events []pwEvent) pwResult {
	res := pwResult{closed: map[string]Phase{}, open: map[string]Phase{}, opened: map[string]int{}}
	sorted := slices.Clone(events)
	slices.SortFunc(sorted, func(a, b pwEvent) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.source, b.source), cmp.Compare(a.id, b.id))
	})
	byChannel := map[string][]pwEvent{}
	for _, e := range sorted {
		byChannel[e.channel] = append(byChannel[e.channel], e)
	}
	for ch, evs := range byChannel {
		for ph, opener := range pwOpeners {
			var open, ended bool
			var cur Phase
			// do applies one event to the phase kind.
			do := func(e pwEvent) {
				outcome, isCloser := pwClosers[ph][e.typ]
				end := pwEnd(ph, e.typ)
				switch {
				case e.typ == opener && open:
					res.whileOpen++
				case e.typ == opener && ended:
					res.late++
				case e.typ == opener:
					open, cur = true, Phase{ChannelID: ch, Phase: ph, OpenedBy: e.id, StartedAt: e.at}
					res.opened[e.id]++
				case open && (isCloser || end != ""):
					if !isCloser {
						outcome = end
					}
					cur.Outcome, cur.ClosedBy, cur.EndedAt, open = outcome, e.id, e.at, false
					res.closed[phaseKey(cur)] = cur
				}
				if end != "" {
					ended = true
				}
			}
			for i := 0; i < len(evs); {
				j := i
				for j < len(evs) && evs[j].at.Equal(evs[i].at) {
					j++
				}
				group := slices.Clone(evs[i:j]) // in (source, id) order
				i = j
				for len(group) > 0 {
					// rank: 0 for the event that takes effect first, 1
					// for an end, -1 for neither.
					rank := func(e pwEvent) int {
						_, isCloser := pwClosers[ph][e.typ]
						switch {
						case open && isCloser, !open && !ended && e.typ == opener:
							return 0
						case (open || !ended) && pwEnd(ph, e.typ) != "":
							return 1
						}
						return -1
					}
					best := -1
					for k, e := range group {
						if r := rank(e); r >= 0 && (best < 0 || r < rank(group[best])) {
							best = k
						}
					}
					if best < 0 {
						break
					}
					do(group[best])
					group = slices.Delete(group, best, best+1)
				}
				for _, e := range group {
					do(e)
				}
			}
			if open {
				res.open[phaseKey(cur)] = cur
			}
		}
	}
	return res
}

// TestPhaseTruth: for several seeds and sizes, the true phase periods the
// simulation records are well formed, agree with the true interruptions,
// nest held, parked and interrupted periods in a connected one, account
// for every opener, and equal what the test's own walker of the issue-25
// rules finds in the generated NDJSON sorted by (timestamp, source, id).
func TestPhaseTruth(t *testing.T) {
	if New(Config{Seed: 4}).PhaseTruth() != nil {
		t.Error("PhaseTruth without Config.Truth: want nil")
	}
	outcomes := map[string]int{} // phase/outcome over every case
	for _, tc := range []struct {
		cfg Config
		n   int
	}{
		{Config{Seed: 4}, 20_000},
		{Config{Seed: 11, Agents: 3}, 6_000},
		{Config{Seed: 7, Agents: 150, LateRate: 0.01}, 40_000},
		{Config{Seed: 23, Agents: 40, DuplicateRate: -1, ReorderRate: -1, LateRate: -1}, 15_001},
	} {
		t.Run(fmt.Sprintf("seed%d-agents%d-n%d", tc.cfg.Seed, tc.cfg.Agents, tc.n), func(t *testing.T) {
			tc.cfg.Truth = true
			g := New(tc.cfg)
			events := g.Take(tc.n)
			// Every event built so far: the delivered ones and those still
			// held back or late, as NDJSON.
			var ndjson bytes.Buffer
			all := slices.Clone(events)
			for _, h := range g.held {
				all = append(all, h.ev)
			}
			for _, l := range g.late {
				all = append(all, l.ev)
			}
			for _, ev := range all {
				ndjson.Write(ev.Value)
				ndjson.WriteByte('\n')
			}
			built := readEvents(t, ndjson.Bytes())
			byID := map[string]pwEvent{}
			for _, e := range built {
				byID[e.id] = e
			}
			want := walkPhases(built)

			phases := g.PhaseTruth()
			open := g.truth.phases.openPhases()
			_, whileOpen, late := g.truth.phases.current()
			if len(phases) < tc.n/10 {
				t.Fatalf("%d phases in %d events", len(phases), tc.n)
			}

			// Well formed, and the same as the walker's.
			seen := map[string]bool{}
			for _, p := range phases {
				outcomes[p.Phase+"/"+p.Outcome]++
				k := phaseKey(p)
				if seen[k] {
					t.Errorf("%+v: twice", p)
				}
				seen[k] = true
				if w, ok := want.closed[k]; !ok || w != p {
					t.Errorf("phase %+v\nwalker %+v (found %v)", p, w, ok)
				}
				if p.EndedAt.Before(p.StartedAt) || p.EndedAt.Sub(p.StartedAt) >= 24*time.Hour {
					t.Errorf("%+v: from %s to %s", p, p.StartedAt, p.EndedAt)
				}
				if p.StartedAt.Location() != time.UTC || p.StartedAt.Nanosecond()%int(time.Millisecond) != 0 ||
					p.EndedAt.Location() != time.UTC || p.EndedAt.Nanosecond()%int(time.Millisecond) != 0 {
					t.Errorf("%+v: times not UTC at ms", p)
				}
				if !slices.Contains(pwAllowed[p.Phase], p.Outcome) {
					t.Errorf("%+v: outcome not allowed for the phase", p)
				}
				if (p.ClosedBy == "") != (p.Outcome == "expired") {
					t.Errorf("%+v: closedBy present exactly unless expired", p)
				}
				if o := byID[p.OpenedBy]; o.channel != p.ChannelID || o.typ != pwOpeners[p.Phase] || !o.at.Equal(p.StartedAt) {
					t.Errorf("%+v: opened by %+v", p, o)
				}
				c := byID[p.ClosedBy]
				if outcome, isCloser := pwClosers[p.Phase][c.typ]; c.channel != p.ChannelID || !c.at.Equal(p.EndedAt) ||
					!(isCloser && outcome == p.Outcome || pwEnd(p.Phase, c.typ) == p.Outcome) {
					t.Errorf("%+v: closed by %+v", p, c)
				}
			}
			if len(phases) != len(want.closed) {
				t.Errorf("%d closed phases, walker %d", len(phases), len(want.closed))
			}
			if len(open) != len(want.open) {
				t.Errorf("%d open phases, walker %d", len(open), len(want.open))
			}
			for _, p := range open {
				if w, ok := want.open[phaseKey(p)]; !ok || w != p {
					t.Errorf("open phase %+v\nwalker %+v (found %v)", p, w, ok)
				}
			}

			// Two ends of a channel at one instant: the one with the
			// smaller id closes (the simulation always builds the
			// disconnected first).
			ends := map[string][]pwEvent{} // channel/instant
			for _, e := range built {
				if e.typ == "channel.disconnected" || e.typ == "channel.ended" {
					k := e.channel + "/" + e.at.String()
					ends[k] = append(ends[k], e)
				}
			}
			for _, p := range phases {
				if p.Outcome != "disconnected" && p.Outcome != "ended" || p.Phase == "wrap" {
					continue
				}
				pair := ends[p.ChannelID+"/"+p.EndedAt.String()]
				first := slices.MinFunc(pair, func(a, b pwEvent) int { return cmp.Compare(a.id, b.id) })
				if p.ClosedBy != first.id {
					t.Errorf("%+v: closed by %s, ends at that instant %+v", p, p.ClosedBy, pair)
				}
			}

			// The interrupted phases are the true interruptions.
			inter := map[string]Phase{}
			for _, p := range phases {
				if p.Phase == "interrupted" {
					inter[p.OpenedBy] = p
				}
			}
			truth := g.Truth()
			if len(truth) != len(inter) {
				t.Errorf("%d interrupted phases, %d true interruptions", len(inter), len(truth))
			}
			for _, in := range truth {
				p := inter[in.OpenedBy]
				closedBy := in.ClosedBy
				if in.Outcome == "ended" {
					// Interruption.ClosedBy is the first end the
					// simulation built (the disconnected); the phase's is
					// the smaller id of the channel's ends at that instant.
					for _, e := range ends[in.ChannelID+"/"+in.ClosedAt.String()] {
						closedBy = min(closedBy, e.id)
					}
				}
				if p.ChannelID != in.ChannelID || p.OpenedBy != in.OpenedBy || p.ClosedBy != closedBy || p.Outcome != in.Outcome ||
					!p.StartedAt.Equal(in.InterruptedAt) || !p.EndedAt.Equal(in.ClosedAt) {
					t.Errorf("interrupted phase %+v, true interruption %+v", p, in)
				}
			}

			// Held, parked and interrupted periods lie in a connected one.
			type span struct{ from, to time.Time }
			connected := map[string][]span{}
			for _, p := range phases {
				if p.Phase == "connected" {
					connected[p.ChannelID] = append(connected[p.ChannelID], span{p.StartedAt, p.EndedAt})
				}
			}
			for _, p := range open {
				if p.Phase == "connected" {
					connected[p.ChannelID] = append(connected[p.ChannelID], span{p.StartedAt, time.Unix(1<<40, 0)})
				}
			}
			nested := 0
			for _, list := range [][]Phase{phases, open} {
				for _, p := range list {
					if p.Phase != "held" && p.Phase != "parked" && p.Phase != "interrupted" {
						continue
					}
					to := p.EndedAt
					if p.Outcome == "" {
						to = p.StartedAt // still open: its start at least
					}
					if !slices.ContainsFunc(connected[p.ChannelID], func(s span) bool { return !p.StartedAt.Before(s.from) && !to.After(s.to) }) {
						t.Errorf("%+v: in no connected period of its channel %v", p, connected[p.ChannelID])
					}
					nested++
				}
			}
			if nested == 0 {
				t.Error("no held, parked or interrupted period")
			}

			// Every opener opened exactly one phase, or nothing for a
			// reason the rules give; the counts agree with the walker's.
			openedBy := map[string]int{}
			for _, list := range [][]Phase{phases, open} {
				for _, p := range list {
					openedBy[p.OpenedBy]++
				}
			}
			openers, none := 0, 0
			for _, e := range built {
				isOpener := false
				for _, typ := range pwOpeners {
					isOpener = isOpener || e.typ == typ
				}
				if !isOpener {
					if openedBy[e.id] != 0 {
						t.Errorf("%+v opens a phase", e)
					}
					continue
				}
				openers++
				switch n := openedBy[e.id]; {
				case n == 0:
					none++
				case n > 1:
					t.Errorf("%+v opens %d phases", e, n)
				}
				if openedBy[e.id] != want.opened[e.id] {
					t.Errorf("%+v opens %d phases, walker %d", e, openedBy[e.id], want.opened[e.id])
				}
			}
			if whileOpen != want.whileOpen || late != want.late || none != whileOpen+late {
				t.Errorf("openers that opened nothing: %d while open, %d after the end, %d without a phase; walker %d, %d",
					whileOpen, late, none, want.whileOpen, want.late)
			}
			t.Logf("%d channel events built, %d openers, %d closed phases, %d open; openers opening nothing: %d while open, %d after the end",
				len(built), openers, len(phases), len(open), whileOpen, late)

			var buf bytes.Buffer
			if err := WritePhaseTruth(&buf, phases); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(&buf)
			n := 0
			for sc.Scan() {
				var p Phase
				if err := json.Unmarshal(sc.Bytes(), &p); err != nil || n >= len(phases) || p != phases[n] {
					t.Fatalf("line %d: %v %+v", n, err, p)
				}
				n++
			}
			if n != len(phases) {
				t.Fatalf("%d lines, want %d", n, len(phases))
			}
		})
	}
	for _, o := range []string{"alerting/connected", "alerting/failed", "connected/wrap", "connected/disconnected",
		"connected/ended", "held/retrieved", "parked/unparked", "interrupted/resumed", "interrupted/ended", "wrap/ended"} {
		if outcomes[o] == 0 {
			t.Errorf("no %s phase in any case", o)
		}
	}
	t.Logf("outcomes %v", outcomes)
}
