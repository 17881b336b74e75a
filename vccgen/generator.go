// Package vccgen generates realistic Vonage Contact Center (VCC) channel and
// agent CloudEvents, deterministically from a seed.
//
// A discrete-event simulation models agents working calls, emails, chats and
// voicemails in event time: calls interrupt the email or chat an agent is
// working on (channel.interrupted on both its channels), which resumes when
// the call's wrap-up ends, or ends while interrupted. The events are encoded
// exactly as VCC sends them (structured-mode CloudEvents 1.0 JSON) and then
// delivered the way VCC delivers them: mostly in order, with duplicates,
// reordering and rare deliveries hours late.
//
// The same Config (including Seed) always yields a byte-identical stream.
package vccgen

import (
	"bytes"
	"time"

	"github.com/interruptions/interruptions/core/vcc"
)

// Defaults applied by New to zero fields of Config.
const (
	// DefaultAgents is the default number of concurrent agents.
	DefaultAgents = 20
	// DefaultDuplicateRate is the default fraction of events delivered twice.
	DefaultDuplicateRate = 0.03
	// DefaultReorderRate is the default fraction of events delivered after later events.
	DefaultReorderRate = 0.05
	// DefaultLateRate is the default fraction of events delivered minutes to hours late.
	DefaultLateRate = 0.002
	// MaxAgents is the largest supported number of agents (agent ids are
	// distinct four-digit numbers, some of which go to supervisors).
	MaxAgents = 8000
)

// DefaultStart returns the default event time of the first event,
// 2026-01-05T08:00:00Z (a Monday morning).
func DefaultStart() time.Time {
	return time.Date(2026, time.January, 5, 8, 0, 0, 0, time.UTC)
}

// Config configures a Generator. The zero value of every field means its
// default. Rates are fractions in [0, 1]; a negative rate disables that kind
// of delivery noise and rates above 1 are treated as 1.
type Config struct {
	// Seed seeds every random choice; the same Seed and Config give a
	// byte-identical stream.
	Seed int64
	// Start is the event time of the first event (data.timestamp), truncated
	// to the millisecond; default DefaultStart().
	Start time.Time
	// Agents is the number of concurrent agents; default DefaultAgents, at
	// most MaxAgents.
	Agents int
	// DuplicateRate is the fraction of events delivered twice (same id, same
	// bytes), the copy a few deliveries later; default DefaultDuplicateRate.
	DuplicateRate float64
	// ReorderRate is the fraction of events held back and delivered after 1
	// to 8 later events; default DefaultReorderRate.
	ReorderRate float64
	// LateRate is the fraction of events delivered very late: 2 minutes to 3
	// hours of event time after they happened, like VCC's retries for up to
	// 24 h; default DefaultLateRate.
	LateRate float64
	// Truth records the true interruptions and phase periods of the
	// simulated channels, for Generator.Truth and Generator.PhaseTruth. It
	// does not change the stream.
	Truth bool
}

// withDefaults returns cfg with defaults applied and values clamped.
func (cfg Config) withDefaults() Config {
	if cfg.Start.IsZero() {
		cfg.Start = DefaultStart()
	}
	cfg.Start = cfg.Start.UTC().Truncate(time.Millisecond)
	if cfg.Agents <= 0 {
		cfg.Agents = DefaultAgents
	}
	cfg.Agents = min(cfg.Agents, MaxAgents)
	cfg.DuplicateRate = rate(cfg.DuplicateRate, DefaultDuplicateRate)
	cfg.ReorderRate = rate(cfg.ReorderRate, DefaultReorderRate)
	cfg.LateRate = rate(cfg.LateRate, DefaultLateRate)
	return cfg
}

func rate(v, def float64) float64 {
	switch {
	case v == 0:
		return def
	case !(v > 0): // negative or NaN
		return 0
	case v > 1:
		return 1
	}
	return v
}

// Delivery tells how an event was delivered relative to event-time order.
type Delivery uint8

const (
	// InOrder means delivered when it happened, after every earlier event
	// that was not itself held back.
	InOrder Delivery = iota
	// Reordered means held back and delivered after a few later events.
	Reordered
	// Late means delivered minutes to hours (of event time) after it happened.
	Late
	// Duplicate means a repeated delivery of an event already delivered, with
	// the same id and bytes.
	Duplicate
)

// String returns the name of the delivery kind.
func (d Delivery) String() string {
	switch d {
	case InOrder:
		return "in-order"
	case Reordered:
		return "reordered"
	case Late:
		return "late"
	case Duplicate:
		return "duplicate"
	}
	return "unknown"
}

// Event is one delivered notification.
type Event struct {
	// Key is the Kafka key: the channelId, or the agentId for agent events.
	// It aliases the subject inside Value.
	Key []byte
	// Value is the structured-mode CloudEvent JSON, exactly as VCC sends it.
	Value []byte
	// ID is the CloudEvent id, a 27-character base62 KSUID.
	ID string
	// Source is vcc.SourceChannel or vcc.SourceAgent.
	Source string
	// Type is the CloudEvent type, e.g. "channel.interrupted.v1".
	Type string
	// ChannelID is the channel's id; "" for agent events.
	ChannelID string
	// Timestamp is data.timestamp, the event time (UTC, millisecond precision).
	Timestamp time.Time
	// Seq is the event's 0-based position in event-time order (the order in
	// which the simulation produced it). A duplicate repeats its original's
	// Seq; events at the same instant keep their causal order in Seq.
	Seq uint64
	// Delivery tells how this copy was delivered.
	Delivery Delivery
}

// Delivery-layer bounds and delays.
const (
	maxHeld         = 256 // held (reordered or duplicate) events; beyond it the earliest is released
	maxLate         = 4096
	reorderMaxLag   = 8  // a reordered event comes after 1..reorderMaxLag later events
	duplicateMaxLag = 12 // a duplicate comes after 0..duplicateMaxLag later events
	lateMin         = 2 * minute
	lateMax         = 3 * 60 * minute
	v1Percent       = 20 // share of events sent as .v1
	ticksPerMilli   = 10000
)

// heldEvent is an event waiting until pulled >= release.
type heldEvent struct {
	ev      Event
	release uint64
}

// lateEvent is an event waiting until event time reaches releaseAt.
type lateEvent struct {
	ev        Event
	releaseAt int64
}

func (a *lateEvent) before(b *lateEvent) bool {
	return a.releaseAt < b.releaseAt || a.releaseAt == b.releaseAt && a.ev.Seq < b.ev.Seq
}

// Generator produces an infinite stream of VCC events in delivery order. It is
// not safe for concurrent use.
type Generator struct {
	cfg     Config
	sim     *sim
	content rng // content choices: version, id, send offset, key order
	deliv   rng // delivery choices: fate, delays, duplicates
	pulled  uint64
	held    []heldEvent
	late    []lateEvent
	scratch []byte
	truth   *truth // when cfg.Truth
}

// New returns a Generator for cfg (zero fields take their defaults).
func New(cfg Config) *Generator {
	cfg = cfg.withDefaults()
	g := &Generator{
		cfg:     cfg,
		sim:     newSim(newRNG(cfg.Seed, 1), cfg.Start.UnixMilli(), cfg.Agents),
		content: newRNG(cfg.Seed, 2),
		deliv:   newRNG(cfg.Seed, 3),
		scratch: make([]byte, 0, 1024),
	}
	if cfg.Truth {
		g.truth = &truth{open: map[*channel]openTruth{}}
	}
	return g
}

// Config returns the effective configuration, defaults applied.
func (g *Generator) Config() Config { return g.cfg }

// Take returns the next n events.
func (g *Generator) Take(n int) []Event {
	out := make([]Event, max(n, 0))
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

// Next returns the next event in delivery order. The stream never ends; the
// buffers behind it (held and late events) are bounded and drain.
func (g *Generator) Next() Event {
	for {
		if i := g.dueHeld(); i >= 0 {
			ev := g.held[i].ev
			copy(g.held[i:], g.held[i+1:])
			g.held[len(g.held)-1] = heldEvent{}
			g.held = g.held[:len(g.held)-1]
			return g.deliver(ev)
		}
		if len(g.late) > 0 && (g.late[0].releaseAt <= g.sim.now || len(g.late) > maxLate) {
			return g.deliver(heapPop(&g.late).ev)
		}
		raw := g.sim.next()
		seq := g.pulled
		g.pulled++
		u := g.deliv.float()
		switch {
		case u < g.cfg.LateRate:
			d := g.deliv.logUniform(lateMin, lateMax)
			ev := g.build(&raw, seq, d*ticksPerMilli, Late)
			heapPush(&g.late, lateEvent{ev: ev, releaseAt: raw.at + d})
		case u < g.cfg.LateRate+g.cfg.ReorderRate:
			extra := g.deliv.between(200*ticksPerMilli, 5000*ticksPerMilli)
			ev := g.build(&raw, seq, extra, Reordered)
			g.held = append(g.held, heldEvent{ev: ev, release: g.pulled + uint64(g.deliv.between(1, reorderMaxLag))})
		default:
			return g.deliver(g.build(&raw, seq, 0, InOrder))
		}
	}
}

// dueHeld returns the index of the held event to release now, or -1: the one
// with the smallest release tick that is due, or the earliest one when the
// buffer is over its bound.
func (g *Generator) dueHeld() int {
	best := -1
	for i := range g.held {
		if best < 0 || g.held[i].release < g.held[best].release {
			best = i
		}
	}
	if best >= 0 && (g.held[best].release <= g.pulled || len(g.held) > maxHeld) {
		return best
	}
	return -1
}

// deliver returns ev, first scheduling a duplicate of it with probability
// DuplicateRate (duplicates are not duplicated again).
func (g *Generator) deliver(ev Event) Event {
	if ev.Delivery != Duplicate && g.cfg.DuplicateRate > 0 && g.deliv.chance(g.cfg.DuplicateRate) {
		dup := ev
		dup.Value = bytes.Clone(ev.Value)
		dup.Key = keyIn(dup.Value, len(ev.Key))
		dup.Delivery = Duplicate
		lag := uint64(g.deliv.between(0, duplicateMaxLag))
		g.held = append(g.held, heldEvent{ev: dup, release: g.pulled + lag})
	}
	return ev
}

// subjectPrefix precedes the subject (the Kafka key) in every Value.
const subjectPrefix = `,"subject":"`

// keyIn returns the subject of length n inside value.
func keyIn(value []byte, n int) []byte {
	i := bytes.Index(value, []byte(subjectPrefix)) + len(subjectPrefix)
	return value[i : i+n : i+n]
}

// build encodes raw as VCC sends it. delay (in 100 ns ticks) is added to the
// envelope time for late or reordered deliveries.
func (g *Generator) build(raw *rawEvent, seq uint64, delay int64, how Delivery) Event {
	c := &g.content
	x := c.u64()
	v1 := (x>>48)%100 < v1Percent
	dataOrder := (x >> 32 & 0xffff) % 100
	channelOrder := (x >> 16 & 0xffff) % 100
	partyOrder := (x & 0xffff) % 100
	sent := raw.at*ticksPerMilli + c.between(300*ticksPerMilli, 700*ticksPerMilli) // sent 0.3-0.7 s after
	id := c.ksuid(floorDivQ(sent, 1e7))
	if g.truth != nil {
		g.truth.observe(raw, id)
	}

	ev := Event{
		ID:        id,
		Type:      typeName(raw.kind, v1),
		Timestamp: time.UnixMilli(raw.at).UTC(),
		Seq:       seq,
		Delivery:  how,
	}
	subject := ""
	if raw.ch != nil {
		ev.Source = vcc.SourceChannel
		ev.ChannelID = raw.ch.id
		subject = raw.ch.id
	} else {
		ev.Source = vcc.SourceAgent
		subject = raw.ag.agentID
	}

	b := g.scratch[:0]
	b = append(b, `{"specversion":"1.0","type":`...)
	b = appendString(b, ev.Type)
	b = append(b, `,"id":`...)
	b = appendString(b, id)
	b = append(b, `,"source":`...)
	b = appendString(b, ev.Source)
	b = append(b, subjectPrefix...)
	keyStart := len(b)
	b = append(b, subject...)
	b = append(b, `","time":"`...)
	b = appendTicks(b, sent+delay)
	b = append(b, `","datacontenttype":"application/json","data":{`...)

	// Key order inside data varies between events, as on VCC's pages.
	first := true
	if dataOrder >= 90 && raw.reason != "" {
		b = appendKey(b, "reason", first)
		b = appendString(b, raw.reason)
		first = false
	}
	if dataOrder >= 70 {
		b = appendSubject(b, raw, first, channelOrder, partyOrder)
		b = appendKey(b, "timestamp", false)
		b = append(b, '"')
		b = appendMillis(b, raw.at)
		b = append(b, '"')
	} else {
		b = appendKey(b, "timestamp", first)
		b = append(b, '"')
		b = appendMillis(b, raw.at)
		b = append(b, '"')
		b = appendSubject(b, raw, false, channelOrder, partyOrder)
	}
	if dataOrder < 90 && raw.reason != "" {
		b = appendKey(b, "reason", false)
		b = appendString(b, raw.reason)
	}
	b = append(b, "}}"...)
	g.scratch = b

	ev.Value = bytes.Clone(b)
	ev.Key = ev.Value[keyStart : keyStart+len(subject) : keyStart+len(subject)]
	return ev
}

// appendSubject appends the "channel" or "agent" member of data.
func appendSubject(b []byte, raw *rawEvent, first bool, channelOrder, partyOrder uint64) []byte {
	if raw.ch == nil {
		b = appendKey(b, "agent", first)
		b = append(b, `{"agentId":`...)
		b = appendString(b, raw.ag.agentID)
		b = append(b, `,"userId":`...)
		b = appendString(b, raw.ag.userID)
		b = append(b, `,"presence":`...)
		b = appendString(b, raw.presence)
		return append(b, '}')
	}
	ch := raw.ch
	b = appendKey(b, "channel", first)
	b = append(b, '{')
	if channelOrder >= 85 {
		b = appendKey(b, "channelId", true)
		b = appendString(b, ch.id)
		b = appendKey(b, "conversationId", false)
		b = appendString(b, ch.conv.id)
		b = appendKey(b, "interactionId", false)
		b = appendString(b, ch.conv.interactionID)
	} else {
		b = appendKey(b, "conversationId", true)
		b = appendString(b, ch.conv.id)
		b = appendKey(b, "interactionId", false)
		b = appendString(b, ch.conv.interactionID)
		b = appendKey(b, "channelId", false)
		b = appendString(b, ch.id)
	}
	b = append(b, `,"party":`...)
	return append(appendParty(b, ch, partyOrder >= 85), '}')
}

// appendParty appends the party object: role, agentId (agent and monitor
// only), userId (when known); reversed when reverse is set.
func appendParty(b []byte, ch *channel, reverse bool) []byte {
	type member struct{ key, value string }
	var ms [3]member
	n := 0
	ms[n] = member{"role", ch.role.String()}
	n++
	if ch.agentID != "" {
		ms[n] = member{"agentId", ch.agentID}
		n++
	}
	if ch.userID != "" {
		ms[n] = member{"userId", ch.userID}
		n++
	}
	b = append(b, '{')
	for i := range n {
		m := ms[i]
		if reverse {
			m = ms[n-1-i]
		}
		b = appendKey(b, m.key, i == 0)
		b = appendString(b, m.value)
	}
	return append(b, '}')
}

// floorDivQ returns the floored quotient of a by b.
func floorDivQ(a, b int64) int64 {
	q, _ := floorDiv(a, b)
	return q
}
