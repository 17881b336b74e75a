package vccgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// noNoise disables every kind of delivery noise.
func noNoise(seed int64) Config {
	return Config{Seed: seed, DuplicateRate: -1, ReorderRate: -1, LateRate: -1}
}

// wire is the strict shape of a Value; decoding with DisallowUnknownFields
// catches any field VCC does not send.
type wire struct {
	SpecVersion     string `json:"specversion"`
	Type            string `json:"type"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Subject         string `json:"subject"`
	Time            string `json:"time"`
	DataContentType string `json:"datacontenttype"`
	Data            struct {
		Timestamp string `json:"timestamp"`
		Channel   *struct {
			ConversationID string `json:"conversationId"`
			InteractionID  string `json:"interactionId"`
			ChannelID      string `json:"channelId"`
			Party          struct {
				Role    string  `json:"role"`
				AgentID *string `json:"agentId"`
				UserID  *string `json:"userId"`
			} `json:"party"`
		} `json:"channel"`
		Agent *struct {
			AgentID  string `json:"agentId"`
			UserID   string `json:"userId"`
			Presence string `json:"presence"`
		} `json:"agent"`
		Reason *string `json:"reason"`
	} `json:"data"`
}

func decodeWire(t *testing.T, value []byte) wire {
	t.Helper()
	var w wire
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		t.Fatalf("value is not the expected JSON: %v\n%s", err, value)
	}
	if dec.More() {
		t.Fatalf("trailing data after value: %s", value)
	}
	return w
}

func TestDeterminism(t *testing.T) {
	start := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	explicitDefaults := Config{Seed: 7, Start: DefaultStart(), Agents: DefaultAgents,
		DuplicateRate: DefaultDuplicateRate, ReorderRate: DefaultReorderRate, LateRate: DefaultLateRate}
	tests := []struct {
		name      string
		a, b      Config
		wantEqual bool
	}{
		{"same seed", Config{Seed: 42}, Config{Seed: 42}, true},
		{"same seed, custom config", Config{Seed: 9, Start: start, Agents: 5, DuplicateRate: 0.2}, Config{Seed: 9, Start: start, Agents: 5, DuplicateRate: 0.2}, true},
		{"zero fields equal explicit defaults", Config{Seed: 7}, explicitDefaults, true},
		{"different seed", Config{Seed: 1}, Config{Seed: 2}, false},
		{"different start", Config{Seed: 1}, Config{Seed: 1, Start: start}, false},
		{"different agents", Config{Seed: 1}, Config{Seed: 1, Agents: 21}, false},
	}
	const n = 5000
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := New(tc.a).Take(n), New(tc.b).Take(n)
			equal := true
			for i := range a {
				if !eventsEqual(a[i], b[i]) {
					equal = false
					if tc.wantEqual {
						t.Fatalf("event %d differs:\n%s\n%s", i, a[i].Value, b[i].Value)
					}
					break
				}
			}
			if equal != tc.wantEqual {
				t.Fatalf("streams equal = %v, want %v", equal, tc.wantEqual)
			}
		})
	}
}

func eventsEqual(a, b Event) bool {
	return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) && a.ID == b.ID &&
		a.Source == b.Source && a.Type == b.Type && a.ChannelID == b.ChannelID &&
		a.Timestamp.Equal(b.Timestamp) && a.Seq == b.Seq && a.Delivery == b.Delivery
}

func TestTakeMatchesNext(t *testing.T) {
	taken := New(Config{Seed: 5}).Take(2000)
	g := New(Config{Seed: 5})
	for i, want := range taken {
		if got := g.Next(); !eventsEqual(got, want) {
			t.Fatalf("event %d: Take and Next differ", i)
		}
	}
	if got := New(Config{}).Take(-1); len(got) != 0 {
		t.Errorf("Take(-1) returned %d events", len(got))
	}
}

func TestConfigDefaultsAndClamping(t *testing.T) {
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{"zero", Config{}, Config{Start: DefaultStart(), Agents: DefaultAgents, DuplicateRate: DefaultDuplicateRate, ReorderRate: DefaultReorderRate, LateRate: DefaultLateRate}},
		{"negative disables, above one clamps", Config{Agents: -3, DuplicateRate: -1, ReorderRate: 2, LateRate: -0.5},
			Config{Start: DefaultStart(), Agents: DefaultAgents, DuplicateRate: 0, ReorderRate: 1, LateRate: 0}},
		{"too many agents", Config{Agents: 1 << 20}, Config{Start: DefaultStart(), Agents: MaxAgents, DuplicateRate: DefaultDuplicateRate, ReorderRate: DefaultReorderRate, LateRate: DefaultLateRate}},
		{"start to UTC millisecond", Config{Start: time.Date(2026, 2, 1, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))},
			Config{Start: time.Date(2026, 2, 1, 9, 0, 0, 123e6, time.UTC), Agents: DefaultAgents, DuplicateRate: DefaultDuplicateRate, ReorderRate: DefaultReorderRate, LateRate: DefaultLateRate}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := New(tc.in).Config()
			if got != tc.want {
				t.Errorf("Config() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestFirstEventAtStart(t *testing.T) {
	for _, start := range []time.Time{DefaultStart(), time.Date(2024, 12, 31, 23, 59, 59, 999e6, time.UTC)} {
		events := New(Config{Seed: 3, Start: start}).Take(200)
		first := slices.MinFunc(events, func(a, b Event) int { return int(a.Seq) - int(b.Seq) })
		if first.Seq != 0 || !first.Timestamp.Equal(start) {
			t.Errorf("first event (seq %d) at %v, want seq 0 at %v", first.Seq, first.Timestamp, start)
		}
		for _, e := range events {
			if e.Timestamp.Before(start) {
				t.Errorf("event %d at %v before start %v", e.Seq, e.Timestamp, start)
			}
		}
	}
}

func TestValueShape(t *testing.T) {
	var (
		uuidV4RE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
		ksuidRE  = regexp.MustCompile(`^[0-9A-Za-z]{27}$`)
		tsRE     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)
		timeRE   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$`)
		typeRE   = regexp.MustCompile(`^(channel\.(alerted|connected|connectionfailed|held|retrieved|parked|unparked|interrupted|resumed|disconnected|wrapstarted|ended)|agent\.presencechanged)\.v[01]$`)
		agentRE  = regexp.MustCompile(`^[1-9]\d{3}$`)
	)
	events := New(Config{Seed: 11}).Take(30000)
	var channelFirst, timestampFirst, reasonFirst, roleLast int
	for _, e := range events {
		w := decodeWire(t, e.Value)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("event seq %d: "+format+"\n%s", append([]any{e.Seq}, append(args, e.Value)...)...)
		}
		if w.SpecVersion != "1.0" || w.DataContentType != "application/json" {
			fail("bad specversion/datacontenttype")
		}
		if w.Type != e.Type || !typeRE.MatchString(w.Type) {
			fail("type %q (Event.Type %q)", w.Type, e.Type)
		}
		if w.ID != e.ID || !ksuidRE.MatchString(w.ID) {
			fail("id %q (Event.ID %q)", w.ID, e.ID)
		}
		if w.Source != e.Source || w.Subject != string(e.Key) {
			fail("source/subject/key mismatch")
		}
		if !tsRE.MatchString(w.Data.Timestamp) || !timeRE.MatchString(w.Time) {
			fail("timestamp %q / time %q not in VCC's format", w.Data.Timestamp, w.Time)
		}
		ts, err := time.Parse(time.RFC3339Nano, w.Data.Timestamp)
		if err != nil || !ts.Equal(e.Timestamp) {
			fail("data.timestamp %q != Event.Timestamp %v (%v)", w.Data.Timestamp, e.Timestamp, err)
		}
		sent, err := time.Parse(time.RFC3339Nano, w.Time)
		if err != nil {
			fail("time: %v", err)
		}
		lag := sent.Sub(ts)
		switch e.Delivery {
		case InOrder:
			if lag < 300*time.Millisecond || lag > 700*time.Millisecond {
				fail("time is %v after timestamp, want 0.3-0.7 s", lag)
			}
		case Late:
			if lag < 2*time.Minute {
				fail("late event sent only %v after it happened", lag)
			}
		}
		if e.Delivery == InOrder {
			// The KSUID's timestamp is the send second.
			idTS, _ := decodeKSUID(t, e.ID)
			if want := sent.Unix() - ksuidEpoch; int64(idTS) != want {
				fail("ksuid timestamp %d, want %d", idTS, want)
			}
		}
		isChannel := strings.HasPrefix(e.Type, "channel.")
		switch {
		case isChannel:
			c := w.Data.Channel
			if e.Source != "/channel" || c == nil || w.Data.Agent != nil {
				fail("channel event without data.channel or with data.agent")
			}
			if c.ChannelID != e.ChannelID || w.Subject != c.ChannelID {
				fail("subject %q, channelId %q, Event.ChannelID %q", w.Subject, c.ChannelID, e.ChannelID)
			}
			for _, id := range []string{c.ConversationID, c.InteractionID, c.ChannelID} {
				if !uuidV4RE.MatchString(id) {
					fail("%q is not a lowercase v4 UUID", id)
				}
			}
			p := c.Party
			switch p.Role {
			case "agent", "monitor":
				if p.AgentID == nil || !agentRE.MatchString(*p.AgentID) || p.UserID == nil {
					fail("%s party needs agentId and userId", p.Role)
				}
			case "external", "voicemail":
				if p.AgentID != nil {
					fail("%s party has an agentId", p.Role)
				}
			default:
				fail("role %q", p.Role)
			}
			if p.UserID != nil && !uuidV4RE.MatchString(*p.UserID) {
				fail("userId %q", *p.UserID)
			}
			needsReason := strings.HasPrefix(e.Type, "channel.ended.") || strings.HasPrefix(e.Type, "channel.connectionfailed.")
			if needsReason != (w.Data.Reason != nil) || needsReason && *w.Data.Reason == "" {
				fail("reason present = %v, want %v", w.Data.Reason != nil, needsReason)
			}
		default:
			a := w.Data.Agent
			if e.Source != "/agent" || a == nil || w.Data.Channel != nil || e.ChannelID != "" {
				fail("agent event shape")
			}
			if w.Subject != a.AgentID || !agentRE.MatchString(a.AgentID) || !uuidV4RE.MatchString(a.UserID) || a.Presence == "" {
				fail("agent event fields")
			}
		}
		// Key order inside data varies.
		data := e.Value[bytes.Index(e.Value, []byte(`"data":{`))+len(`"data":{`):]
		switch {
		case bytes.HasPrefix(data, []byte(`"timestamp"`)):
			timestampFirst++
		case bytes.HasPrefix(data, []byte(`"reason"`)):
			reasonFirst++
		default:
			channelFirst++
		}
		if bytes.Contains(e.Value, []byte(`"role":"agent"}`)) {
			roleLast++
		}
	}
	if timestampFirst == 0 || channelFirst == 0 || reasonFirst == 0 || roleLast == 0 {
		t.Errorf("key order does not vary: timestamp first %d, channel/agent first %d, reason first %d, role last %d",
			timestampFirst, channelFirst, reasonFirst, roleLast)
	}
	if timestampFirst < channelFirst {
		t.Errorf("the seed page's order (timestamp first) should dominate: %d vs %d", timestampFirst, channelFirst)
	}
}

func TestNoiseDisabledDeliversInEventTimeOrder(t *testing.T) {
	events := New(noNoise(4)).Take(20000)
	var prev time.Time
	for i, e := range events {
		if e.Seq != uint64(i) || e.Delivery != InOrder {
			t.Fatalf("delivery %d: seq %d (%v), want seq %d in order", i, e.Seq, e.Delivery, i)
		}
		if e.Timestamp.Before(prev) {
			t.Fatalf("seq %d: event time went backwards: %v < %v", e.Seq, e.Timestamp, prev)
		}
		prev = e.Timestamp
	}
}

// dataPart is the part of a Value that does not depend on delivery (the
// envelope time does).
func dataPart(v []byte) []byte { return v[bytes.Index(v, []byte(`"data":`)):] }

func TestNoiseDoesNotChangeTraffic(t *testing.T) {
	clean := New(noNoise(8)).Take(3000)
	noisy := New(Config{Seed: 8, LateRate: -1, DuplicateRate: 0.2, ReorderRate: 0.3}).Take(3000 + 3000/2)
	byID := make(map[string]Event, len(noisy))
	for _, e := range noisy {
		byID[e.ID] = e
	}
	for _, c := range clean[:2500] {
		n, ok := byID[c.ID]
		if !ok {
			t.Fatalf("event %s (seq %d) of the clean stream is missing from the noisy one", c.ID, c.Seq)
		}
		if n.Seq != c.Seq || n.Type != c.Type || !bytes.Equal(n.Key, c.Key) || !bytes.Equal(dataPart(n.Value), dataPart(c.Value)) {
			t.Fatalf("seq %d differs between clean and noisy stream:\n%s\n%s", c.Seq, c.Value, n.Value)
		}
		if n.Delivery == InOrder && !bytes.Equal(n.Value, c.Value) {
			t.Fatalf("in-order event differs:\n%s\n%s", c.Value, n.Value)
		}
	}
}

// deliveryStats measures the delivery noise of events from the data alone
// (not from the Delivery labels).
type deliveryStats struct {
	unique, duplicates, outOfOrder, lateOver2m int
	maxLateness                                time.Duration
}

func measureDelivery(t *testing.T, events []Event) deliveryStats {
	t.Helper()
	var s deliveryStats
	seen := make(map[string][]byte, len(events))
	var maxSeq uint64
	var maxTS time.Time
	for i, e := range events {
		if prev, ok := seen[e.ID]; ok {
			if !bytes.Equal(prev, e.Value) {
				t.Fatalf("id %s delivered twice with different bytes", e.ID)
			}
			if e.Delivery != Duplicate {
				t.Fatalf("repeat of %s not labelled duplicate", e.ID)
			}
			s.duplicates++
			continue
		}
		seen[e.ID] = e.Value
		s.unique++
		if e.Delivery == Duplicate {
			t.Fatalf("first delivery of %s labelled duplicate", e.ID)
		}
		if i > 0 && e.Seq < maxSeq {
			s.outOfOrder++
			if e.Delivery != Reordered && e.Delivery != Late {
				t.Fatalf("seq %d delivered out of order but labelled %v", e.Seq, e.Delivery)
			}
		}
		if lag := maxTS.Sub(e.Timestamp); lag > 0 {
			s.maxLateness = max(s.maxLateness, lag)
			if lag >= 2*time.Minute {
				s.lateOver2m++
			}
		}
		maxSeq = max(maxSeq, e.Seq)
		if e.Timestamp.After(maxTS) {
			maxTS = e.Timestamp
		}
	}
	return s
}

func TestDeliveryNoiseMatchesRates(t *testing.T) {
	const n = 100000
	events := New(Config{Seed: 21}).Take(n)
	s := measureDelivery(t, events)
	frac := func(k int) float64 { return float64(k) / float64(s.unique) }
	t.Logf("unique %d, duplicates %.2f%%, out of order %.2f%%, >=2 min late %.3f%%, max lateness %v",
		s.unique, 100*frac(s.duplicates), 100*frac(s.outOfOrder), 100*frac(s.lateOver2m), s.maxLateness)
	checks := []struct {
		name     string
		got      float64
		min, max float64
	}{
		{"duplicates", frac(s.duplicates), 0.025, 0.035},
		// Reordered and late events: up to 5.2 % (a few late ones are not
		// behind anything when they arrive).
		{"out of order", frac(s.outOfOrder), 0.045, 0.053},
		{"late by >= 2 min", frac(s.lateOver2m), 0.001, 0.003},
	}
	for _, c := range checks {
		if c.got < c.min || c.got > c.max {
			t.Errorf("%s = %.4f, want within [%.4f, %.4f]", c.name, c.got, c.min, c.max)
		}
	}
	if s.maxLateness > time.Duration(lateMax)*time.Millisecond {
		t.Errorf("an event arrived %v late, more than the %v bound", s.maxLateness, time.Duration(lateMax)*time.Millisecond)
	}
	// Nothing is lost: every event up to well past the lateness bound arrived.
	got := make(map[uint64]bool, s.unique)
	for _, e := range events {
		got[e.Seq] = true
	}
	for seq := range uint64(n / 2) {
		if !got[seq] {
			t.Fatalf("seq %d never delivered in %d deliveries", seq, n)
		}
	}
}

func TestQueuesStayBoundedAndDrain(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"all reordered and duplicated", Config{Seed: 1, ReorderRate: 1, DuplicateRate: 1, LateRate: -1}},
		{"all late", Config{Seed: 2, LateRate: 1, DuplicateRate: -1}},
		{"many agents, heavy noise", Config{Seed: 3, Agents: 2000, LateRate: 0.5, ReorderRate: 0.5, DuplicateRate: 0.5}},
	}
	const n = 40000
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := New(tc.cfg)
			delivered := make(map[uint64]bool)
			var newest time.Time
			for range n {
				e := g.Next()
				delivered[e.Seq] = true
				if len(g.held) > maxHeld+1 || len(g.late) > maxLate+1 {
					t.Fatalf("queues grew past their bounds: held %d, late %d", len(g.held), len(g.late))
				}
				if e.Timestamp.After(newest) {
					newest = e.Timestamp
				}
				if lag := newest.Sub(e.Timestamp); lag > time.Duration(lateMax)*time.Millisecond {
					t.Fatalf("seq %d delivered %v behind the newest event, more than the lateness bound", e.Seq, lag)
				}
			}
			// Nothing is lost: every event pulled from the simulation was
			// delivered or is still waiting.
			for _, h := range g.held {
				delivered[h.ev.Seq] = true
			}
			for _, l := range g.late {
				delivered[l.ev.Seq] = true
			}
			for seq := range g.pulled {
				if !delivered[seq] {
					t.Fatalf("seq %d (of %d pulled) neither delivered nor pending", seq, g.pulled)
				}
			}
		})
	}
}

func TestEventMix(t *testing.T) {
	const n = 100000
	events := New(Config{Seed: 99}).Take(n)
	byType := map[string]int{}
	v1, unique := 0, 0
	seen := map[string]bool{}
	for _, e := range events {
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		unique++
		byType[e.Type]++
		if strings.HasSuffix(e.Type, ".v1") {
			v1++
		}
	}
	byKind := map[string]int{}
	for typ, k := range byType {
		byKind[typ[:strings.LastIndexByte(typ, '.')]] += k
	}
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	var report strings.Builder
	for _, k := range kinds {
		report.WriteString("\n  " + k + ": " + percent(byKind[k], unique))
	}
	t.Logf("%d unique events, v1 %s; by type:%s", unique, percent(v1, unique), report.String())

	for _, k := range []string{"channel.alerted", "channel.connected", "channel.connectionfailed", "channel.held",
		"channel.retrieved", "channel.parked", "channel.unparked", "channel.interrupted", "channel.resumed",
		"channel.disconnected", "channel.wrapstarted", "channel.ended", "agent.presencechanged"} {
		if byKind[k] == 0 {
			t.Errorf("no %s events", k)
		}
	}
	for _, typ := range []string{"channel.interrupted.v0", "channel.interrupted.v1", "channel.resumed.v0", "channel.resumed.v1"} {
		if byType[typ] == 0 {
			t.Errorf("no %s events", typ)
		}
	}
	if f := float64(v1) / float64(unique); f < 0.18 || f > 0.22 {
		t.Errorf("v1 share %.3f, want about 0.20", f)
	}
	if f := float64(byKind["channel.interrupted"]+byKind["channel.resumed"]) / float64(unique); f < 0.05 || f > 0.3 {
		t.Errorf("interrupted+resumed share %.3f: want a realistic minority (5-30%%)", f)
	}
}

func percent(k, n int) string {
	return fmt.Sprintf("%.2f%%", 100*float64(k)/float64(n))
}

func BenchmarkNext(b *testing.B) {
	g := New(Config{Seed: 1})
	var bytesOut int64
	b.ReportAllocs()
	for b.Loop() {
		e := g.Next()
		bytesOut += int64(len(e.Value))
	}
	b.SetBytes(bytesOut / int64(max(b.N, 1)))
}
