package match

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/state"
)

// refMatcher is the reference the engine is checked against: the contract
// of the issue written as plainly as possible, with none of the engine's
// code. It keeps every channel's events in a plain slice in arrival order,
// and on every event re-derives every channel's interruptions from scratch
// and compares them with what it published.
type refMatcher struct {
	cfg      EngineConfig
	clock    int64
	hasClock bool
	channels map[string]*refChannel
	// tombs are the tombs of deleted channels not revived since.
	tombs map[string]*refTomb
}

// refTomb is the deletion rule written plainly: what a deleted channel
// leaves for one more retention. Events of the channel up to until are
// placed against it: a copy of an event the channel held is a duplicate,
// and after an end the channel is ended (up to the end + retention). Its
// until is a retention after the later of the channel's deletion horizon
// and the clock at its deletion. It is dropped once the clock is past
// until + retention; a channel revived while it lives carries it and is
// not deleted before then.
type refTomb struct {
	until      int64
	ended      bool
	endedUntil int64
	keys       map[string]bool
}

type refChannel struct {
	events    []Event // the winning copy of each (source, id); Timestamp truncated to ms
	copies    []Event // every copy received and not too late, for the identity
	last      int64
	published map[string]*refPub // by opening event source + "\x00" + id
	order     []string           // published keys, first published first
	tomb      *refTomb           // of the channel deleted before, or nil
}

type refPub struct {
	rev       int
	content   string
	retracted bool
}

// refInterruption is one derived interruption.
type refInterruption struct {
	open     Event
	close    *Event // nil: expired
	outcome  Outcome
	at       int64
	bound    int64
	closedAt int64
}

func (d refInterruption) content(id refIdentity) string {
	by, typ := "", ""
	if d.close != nil {
		by, typ = d.close.Source+"\x00"+d.close.ID, d.close.Type
	}
	return fmt.Sprint(d.outcome, d.at, d.closedAt, by, d.open.Type, typ, id)
}

// refIdentity is a channel's identity.
type refIdentity struct {
	conv, inter string
	party       vcc.Party
}

// identity is the identity rule written plainly: each of conversationId,
// interactionId and party (whole) from the first of the copies received
// that carry it, by timestamp, source, id, then the value.
func (ch *refChannel) identity() refIdentity {
	var id refIdentity
	type cand struct {
		e     Event
		value string
	}
	first := func(carries func(Event) (bool, string)) (Event, bool) {
		var best *cand
		for _, e := range ch.copies {
			ok, v := carries(e)
			if !ok {
				continue
			}
			c := cand{e, v}
			if best == nil || cmp.Or(cmp.Compare(c.e.Timestamp, best.e.Timestamp), cmp.Compare(c.e.Source, best.e.Source),
				cmp.Compare(c.e.ID, best.e.ID), cmp.Compare(c.value, best.value)) < 0 {
				best = &c
			}
		}
		if best == nil {
			return Event{}, false
		}
		return best.e, true
	}
	if e, ok := first(func(e Event) (bool, string) { return e.ConversationID != "", e.ConversationID }); ok {
		id.conv = e.ConversationID
	}
	if e, ok := first(func(e Event) (bool, string) { return e.InteractionID != "", e.InteractionID }); ok {
		id.inter = e.InteractionID
	}
	if e, ok := first(func(e Event) (bool, string) {
		p := e.Party
		return p != (vcc.Party{}), p.Role + "\x00" + p.AgentID + "\x00" + p.UserID
	}); ok {
		id.party = e.Party
	}
	return id
}

func newRef(cfg EngineConfig) *refMatcher {
	return &refMatcher{cfg: cfg, channels: map[string]*refChannel{}, tombs: map[string]*refTomb{}}
}

func key(e Event) string { return e.Source + "\x00" + e.ID }

func floorMs(ns int64) int64 {
	ms := ns / 1e6
	if ns%1e6 < 0 {
		ms--
	}
	return ms * 1e6
}

// derive walks a channel's events by the contract, and returns its
// interruptions in time order, what became of each event (by key), and
// whether the channel is ended after its last event and until when. An
// end (with nothing open, or closing an interruption) holds for the
// channel's events up to the end + retention; with the tomb of an ended
// channel, the channel starts ended until the tomb's endedUntil.
func (r *refMatcher) derive(events []Event, tomb *refTomb) ([]refInterruption, map[string]string, bool, int64) {
	evs := slices.Clone(events)
	slices.SortStableFunc(evs, func(a, b Event) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
	var out []refInterruption
	roles := map[string]string{}
	var cur *refInterruption
	ended, endedUntil := false, int64(0)
	if tomb != nil && tomb.ended {
		ended, endedUntil = true, tomb.endedUntil
	}
	for i := 0; i < len(evs); {
		t := evs[i].Timestamp
		if ended && t > endedUntil {
			ended = false
		}
		if cur != nil && t > cur.bound {
			cur.outcome, cur.closedAt = OutcomeExpired, cur.bound
			out = append(out, *cur)
			cur = nil
		}
		var group []Event
		for ; i < len(evs) && evs[i].Timestamp == t; i++ {
			group = append(group, evs[i])
		}
		// changes: whether e changes the state now, and its priority.
		changes := func(e Event) (bool, int) {
			switch {
			case cur != nil && e.Kind == vcc.Resumed:
				return true, 0
			case cur != nil && e.Kind == vcc.Ended:
				return true, 1
			case cur == nil && !ended && e.Kind == vcc.Interrupted:
				return true, 0
			case cur == nil && !ended && e.Kind == vcc.Ended:
				return true, 1
			}
			return false, 0
		}
		for len(group) > 0 {
			best, bestPrio := -1, 0
			for j, e := range group {
				ok, prio := changes(e)
				if !ok {
					continue
				}
				if best < 0 || prio < bestPrio || (prio == bestPrio && (e.Source < group[best].Source ||
					(e.Source == group[best].Source && e.ID < group[best].ID))) {
					best, bestPrio = j, prio
				}
			}
			if best < 0 {
				break
			}
			e := group[best]
			group = slices.Delete(group, best, best+1)
			switch {
			case e.Kind == vcc.Interrupted:
				cur = &refInterruption{open: e, at: t, bound: addSat(t, int64(r.cfg.MaxInterruption))}
				roles[key(e)] = "open"
			case e.Kind == vcc.Resumed:
				c := e
				cur.close, cur.outcome, cur.closedAt = &c, OutcomeResumed, t
				out = append(out, *cur)
				cur = nil
				roles[key(e)] = "close"
			case cur != nil:
				c := e
				cur.close, cur.outcome, cur.closedAt = &c, OutcomeEnded, t
				out = append(out, *cur)
				cur = nil
				ended, endedUntil = true, addSat(t, int64(r.cfg.Retention))
				roles[key(e)] = "close"
			default:
				ended, endedUntil = true, addSat(t, int64(r.cfg.Retention))
				roles[key(e)] = "end"
			}
		}
		for _, e := range group {
			switch {
			case e.Kind == vcc.Interrupted && ended:
				roles[key(e)] = "after-end"
			case e.Kind == vcc.Interrupted:
				roles[key(e)] = "while-interrupted"
			case e.Kind == vcc.Resumed:
				roles[key(e)] = "no-interruption"
			default:
				roles[key(e)] = "none"
			}
		}
	}
	if cur != nil {
		cur.outcome, cur.closedAt = OutcomeExpired, cur.bound
		out = append(out, *cur)
	}
	return out, roles, ended, endedUntil
}

// process applies one event and returns its disposition, the records it
// caused, and the number of channels deleted.
func (r *refMatcher) process(ev Event) (Disposition, []Interruption, int) {
	if ev.Kind == vcc.Ignored {
		return Ignored, nil, 0
	}
	ev.Timestamp = floorMs(ev.Timestamp)
	tooLate := r.hasClock && ev.Timestamp < r.clock-int64(r.cfg.Retention)
	ch := r.channels[ev.ChannelID]
	tomb := r.tombs[ev.ChannelID]
	if ch != nil {
		tomb = ch.tomb
	}
	disp := Processed
	held := -1
	if ch != nil {
		for j, e := range ch.events {
			if key(e) == key(ev) {
				held = j
			}
		}
	}
	switch {
	case held >= 0:
		// Copies: the earliest timestamp, then the smallest type, is
		// placed; a copy differing in either conflicts.
		h := ch.events[held]
		disp = Duplicate
		if h.Timestamp != ev.Timestamp || h.Type != ev.Type {
			disp = ConflictingDuplicate
		}
		if ev.Timestamp < h.Timestamp || (ev.Timestamp == h.Timestamp && ev.Type < h.Type) {
			if tooLate {
				return TooLate, nil, 0
			}
			ch.events[held] = ev
			ch.last = ev.Timestamp
			for _, e := range ch.events {
				ch.last = max(ch.last, e.Timestamp)
			}
		}
		ch.copies = append(ch.copies, ev)
		if !r.hasClock || ev.Timestamp > r.clock {
			r.clock, r.hasClock = ev.Timestamp, true
		}
	case tooLate:
		return TooLate, nil, 0
	case tomb != nil && ev.Timestamp <= tomb.until && tomb.keys[key(ev)]:
		// A copy of an event of the deleted channel.
		disp = Duplicate
		if !r.hasClock || ev.Timestamp > r.clock {
			r.clock, r.hasClock = ev.Timestamp, true
		}
	default:
		if ch == nil {
			ch = &refChannel{published: map[string]*refPub{}, last: ev.Timestamp, tomb: tomb}
			r.channels[ev.ChannelID] = ch
			delete(r.tombs, ev.ChannelID)
		}
		ch.events = append(ch.events, ev)
		ch.copies = append(ch.copies, ev)
		ch.last = max(ch.last, ev.Timestamp)
		if !r.hasClock || ev.Timestamp > r.clock {
			r.clock, r.hasClock = ev.Timestamp, true
		}
	}
	var records []Interruption
	deleted := 0
	ids := make([]string, 0, len(r.channels))
	for id := range r.channels {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		recs, gone := r.reconcile(id, r.channels[id])
		records = append(records, recs...)
		if gone != nil {
			delete(r.channels, id)
			r.tombs[id] = gone
			deleted++
		}
	}
	for id, tb := range r.tombs {
		if r.clock > addSat(tb.until, int64(r.cfg.Retention)) {
			delete(r.tombs, id)
		}
	}
	return disp, records, deleted
}

// reconcile publishes what a channel's derivation says that differs from
// what it published, and returns the channel's tomb when it is to be
// deleted (nil when not).
func (r *refMatcher) reconcile(id string, ch *refChannel) ([]Interruption, *refTomb) {
	list, roles, ended, endedUntil := r.derive(ch.events, ch.tomb)
	ident := ch.identity()
	g := int64(r.cfg.Grace)
	now := r.clock
	byKey := map[string]refInterruption{}
	for _, d := range list {
		byKey[key(d.open)] = d
	}
	settled := func(d refInterruption) bool { return d.close != nil || now > d.bound }
	publishable := func(d refInterruption) bool {
		if d.close != nil {
			return now >= d.closedAt+g
		}
		return now > d.bound && now >= d.bound+g
	}
	var out []Interruption
	pending := false
	for _, k := range ch.order {
		p := ch.published[k]
		if p.retracted {
			continue
		}
		d, ok := byKey[k]
		var reason Reason
		switch {
		case !ok && roles[k] == "after-end":
			reason = ReasonAfterEnd
		case !ok:
			reason = ReasonInterruptedWhileInterrupted
		case !settled(d):
			reason = ReasonReopened
		default:
			continue
		}
		p.rev++
		p.retracted, p.content = true, ""
		var open Event
		for _, e := range ch.events {
			if key(e) == k {
				open = e
			}
		}
		out = append(out, Interruption{ChannelID: id, OpenedBy: state.Ref{Source: open.Source, ID: open.ID, Type: open.Type, At: open.Timestamp},
			ConversationID: ident.conv, InteractionID: ident.inter, Party: ident.party,
			InterruptedAt: open.Timestamp, Revision: p.rev, Retracted: true, Reason: reason})
	}
	for _, d := range list {
		k := key(d.open)
		p, ok := ch.published[k]
		switch {
		case ok && !p.retracted && p.content == d.content(ident):
			continue
		case ok && !settled(d):
			pending = true
			continue
		case !ok && !publishable(d):
			pending = true
			continue
		}
		if !ok {
			p = &refPub{}
			ch.published[k] = p
			ch.order = append(ch.order, k)
		}
		p.rev++
		p.retracted, p.content = false, d.content(ident)
		in := Interruption{ChannelID: id, ConversationID: ident.conv, InteractionID: ident.inter, Party: ident.party, Outcome: d.outcome, InterruptedAt: d.at, ClosedAt: d.closedAt,
			OpenedBy: state.Ref{Source: d.open.Source, ID: d.open.ID, Type: d.open.Type, At: d.at}, Revision: p.rev}
		if d.close != nil {
			in.ClosedBy = &state.Ref{Source: d.close.Source, ID: d.close.ID, Type: d.close.Type, At: d.close.Timestamp}
		}
		out = append(out, in)
	}
	horizon := ch.last
	if n := len(list); n > 0 && list[n-1].close == nil {
		horizon = max(horizon, list[n-1].bound)
	}
	ret := int64(r.cfg.Retention)
	deadline := addSat(horizon, ret)
	if ch.tomb != nil {
		deadline = max(deadline, addSat(ch.tomb.until, ret))
	}
	if pending || now <= deadline {
		return out, nil
	}
	tomb := &refTomb{until: addSat(max(deadline, now), ret), ended: ended, keys: map[string]bool{}}
	if ended {
		tomb.endedUntil = endedUntil
	}
	for _, e := range ch.events {
		tomb.keys[key(e)] = true
	}
	return out, tomb
}

// refRow is row without the channel shortcut: every record names its
// channel, and the source of its events.
func refRow(in Interruption) string {
	s := in.ChannelID + ":" + in.OpenedBy.Source + ":" + row(in)
	if in.ChannelID == chA {
		s = chA + ":" + in.OpenedBy.Source + ":" + row(in)
	}
	if in.ClosedBy != nil {
		s += " by " + in.ClosedBy.Source + " " + in.ClosedBy.Type
	}
	return s + fmt.Sprintf(" opened %s at %s; %q %q %+v", in.OpenedBy.Type, hm(in.OpenedBy.At), in.ConversationID, in.InteractionID, in.Party)
}

// eventsFromBytes builds a short event sequence from fuzz bytes, 4 bytes
// an event: kind, channel and source, id, time step. Ids repeat (some
// duplicates carry another time), times collide at one millisecond.
func eventsFromBytes(b []byte) []Event {
	kinds := []string{"i", "r", "e", "d", "x", "i", "r"}
	base := at("10:00")
	now := base
	var evs []Event
	for i := 0; i+4 <= len(b) && len(evs) < 64; i += 4 {
		step := int64(b[i+3])
		switch {
		case step < 64: // same instant, or a few ms on
			now += (step % 4) * int64(time.Millisecond) / 2
		case step < 192: // minutes on or back
			now += (step - 128) * int64(time.Minute)
		default: // hours on or back
			now += (step - 224) * int64(time.Hour) / 4
		}
		e := evOn(fmt.Sprintf("ch-%d", b[i+1]%3), kinds[int(b[i])%len(kinds)], fmt.Sprintf("e%d", b[i+2]%24), "10:00")
		e.Timestamp = now
		if b[i+1]&0x80 != 0 {
			e.Source = "/channel/eu"
		}
		varyIdentity(&e, int(b[i])/len(kinds))
		evs = append(evs, e)
	}
	return evs
}

// varyIdentity gives e one of a few identities by v: the channel's usual
// one, another party, other ids, or none; copies of one (source, id) may
// so differ in identity too.
func varyIdentity(e *Event, v int) {
	switch v % 5 {
	case 1:
		e.Party = vcc.Party{Role: "external", UserID: "user-other"}
	case 2:
		e.ConversationID, e.InteractionID = "conv-other", "inter-other"
	case 3:
		e.ConversationID, e.InteractionID, e.Party = "", "", vcc.Party{}
	case 4:
		e.Party = vcc.Party{Role: "agent", AgentID: "9", UserID: "user-9"}
		e.InteractionID = ""
	}
}

// wholeFinal returns the final table of records whole: the latest revision
// of each interruption (retractions dropped) with its identity, times,
// events and their types, sorted.
func wholeFinal(records []Interruption) []string { return finalBy(records, refRow) }

// configFromBytes picks randomised settings: max-interruption 1 min to 2 h,
// retention from max-interruption to twice that and more, grace 0 to
// 10 min.
func configFromBytes(a, b, c byte) EngineConfig {
	maxI := time.Duration(1+int(a)%120) * time.Minute
	ret := maxI + time.Duration(int(b)%90)*time.Minute
	grace := []time.Duration{0, 0, time.Millisecond, 30 * time.Second, 10 * time.Minute}[int(c)%5]
	return EngineConfig{MaxInterruption: maxI, Retention: ret, Grace: grace}
}

// FuzzEngineAgainstReference runs the engine and the reference over the
// same events with randomised settings, with commits and rollbacks on the
// engine's store, and requires the same disposition and the same records
// (as a set, per event) at every step, and the same deletions.
func FuzzEngineAgainstReference(f *testing.F) {
	f.Add(byte(59), byte(0), byte(0), []byte{0, 0, 0, 10, 1, 0, 1, 140, 0, 0, 2, 130, 1, 0, 3, 120})
	f.Add(byte(10), byte(5), byte(3), []byte{0, 0, 0, 0, 1, 0, 1, 0, 2, 0, 2, 0, 0, 0, 3, 0, 1, 0, 4, 0})
	f.Add(byte(1), byte(0), byte(1), []byte{0, 1, 0, 200, 0, 1, 1, 250, 3, 1, 2, 100, 1, 1, 3, 255, 0, 2, 9, 20})
	f.Add(byte(30), byte(30), byte(4), []byte{0, 0, 0, 130, 2, 0, 1, 135, 0, 0, 2, 125, 1, 0, 3, 0, 0, 0, 4, 0})
	f.Fuzz(func(t *testing.T, a, b, c byte, data []byte) {
		cfg := configFromBytes(a, b, c)
		compareWithReference(t, cfg, eventsFromBytes(data), c%3 == 0)
	})
}

// compareWithReference is the body of FuzzEngineAgainstReference; with
// rollbacks, every third event is processed, rolled back and processed
// again.
func compareWithReference(t *testing.T, cfg EngineConfig, evs []Event, rollbacks bool) {
	t.Helper()
	e := newTestEngine(cfg)
	s := state.New()
	ref := newRef(cfg)
	for i := range evs {
		if rollbacks && i%3 == 2 {
			x := evs[i]
			e.Process(s, &x, func(Interruption) {})
			s.Rollback()
		}
		var got []string
		x := evs[i]
		d, hk := e.Process(s, &x, func(in Interruption) {
			checkRecord(t, cfg, in)
			got = append(got, refRow(in))
		})
		s.Commit()
		rd, recs, deleted := ref.process(evs[i])
		var want []string
		for _, in := range recs {
			want = append(want, refRow(in))
		}
		slices.Sort(got)
		slices.Sort(want)
		if d != rd || !slices.Equal(got, want) || hk.Deleted != deleted {
			t.Fatalf("settings %+v, event %d (%s %s %s at %s): engine %v %q deleted %d; reference %v %q deleted %d\nevents: %s",
				cfg, i, evs[i].ChannelID, evs[i].Type, evs[i].ID, hm(evs[i].Timestamp), d, got, hk.Deleted, rd, want, deleted, describe(evs))
		}
	}
}

func describe(evs []Event) string {
	s := ""
	for _, e := range evs {
		s += fmt.Sprintf("\n  %s %s%s %s %s", e.ChannelID, e.Source, e.Type, e.ID, testkitMillis(e.Timestamp))
	}
	return s
}

func testkitMillis(ns int64) string { return time.Unix(0, ns).UTC().Format("15:04:05.000000") }

// TestEngineAgainstReferenceRandom is the fuzz comparison over seeded
// random inputs, so that every test run covers it.
func TestEngineAgainstReferenceRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	n := 3000
	if testing.Short() {
		n = 500
	}
	for range n {
		b := make([]byte, 4*(1+rng.IntN(40)))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		a, r, c := byte(rng.UintN(256)), byte(rng.UintN(256)), byte(rng.UintN(256))
		compareWithReference(t, configFromBytes(a, r, c), eventsFromBytes(b), c%3 == 0)
		if t.Failed() {
			return
		}
	}
}

// TestArrivalOrderDoesNotMatter is the property of the contract: random
// channels, random arrival permutations within the retention window, the
// same final table (latest revision per interruption, retractions
// dropped, compared whole: identity, times, opening and closing events
// and their types), equal to the reference's final table of the same
// events. The events of one channel disagree on their identity, and some
// (source, id) come as conflicting copies (another time, type or
// identity).
//
// With a grace period the table is compared once the clock has passed
// every grace period (a last event on another channel): until then, an
// interruption published before a late change shows its revision at once
// while one never published waits for its grace, by design.
func TestArrivalOrderDoesNotMatter(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	n := 400
	if testing.Short() {
		n = 100
	}
	kinds := []string{"i", "i", "i", "r", "r", "r", "e", "d"}
	for round := range n {
		cfg := configFromBytes(byte(rng.UintN(256)), byte(rng.UintN(256)), byte(rng.UintN(256)))
		// Events spread over less than the retention window.
		span := int64(cfg.Retention) - 1
		var evs []Event
		for i := range 2 + rng.IntN(16) {
			ts := at("10:00") + rng.Int64N(span)
			if rng.IntN(3) == 0 && len(evs) > 0 { // same instant as another
				ts = evs[rng.IntN(len(evs))].Timestamp
			}
			e := evOn(fmt.Sprintf("ch-%d", rng.IntN(3)), kinds[rng.IntN(len(kinds))], fmt.Sprintf("e%d", i), "10:00")
			e.Timestamp = ts
			varyIdentity(&e, rng.IntN(5))
			evs = append(evs, e)
		}
		for range rng.IntN(4) { // conflicting copies
			c := evs[rng.IntN(len(evs))]
			switch rng.IntN(4) {
			case 0:
				c.Timestamp = at("10:00") + rng.Int64N(span)
			case 1:
				c.Timestamp = evs[rng.IntN(len(evs))].Timestamp
			case 2:
				k := evOn(c.ChannelID, kinds[rng.IntN(len(kinds))], c.ID, "10:00")
				c.Type, c.Kind = k.Type, k.Kind
			}
			varyIdentity(&c, rng.IntN(5))
			evs = append(evs, c)
		}
		var tick []Event
		if cfg.Grace > 0 {
			last := slices.MaxFunc(evs, func(a, b Event) int { return cmp.Compare(a.Timestamp, b.Timestamp) }).Timestamp
			e := evOn("ch-tick", "e", "tick", "10:00")
			e.Timestamp = last + int64(cfg.Grace+cfg.MaxInterruption) + int64(time.Millisecond)
			tick = append(tick, e)
		}
		ref := newRef(cfg)
		var all []Interruption
		for _, e := range slices.Concat(evs, tick) {
			_, recs, _ := ref.process(e)
			all = append(all, recs...)
		}
		want := wholeFinal(all)
		for p := range 6 {
			perm := slices.Clone(evs)
			rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
			perm = append(perm, tick...)
			if got := wholeFinalOf(cfg, perm); !slices.Equal(got, want) {
				t.Fatalf("round %d, permutation %d, settings %+v:\n got %q\nwant %q\narrival: %s", round, p, cfg, got, want, describe(perm))
			}
		}
	}
}

// wholeFinalOf processes events in order and returns the whole final table.
func wholeFinalOf(cfg EngineConfig, events []Event) []string {
	all, _, _ := processAll(cfg, events)
	return wholeFinal(all)
}
