package vccgen

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Channel states of the lifecycle in docs/vcc-channel-events.md, plus two
// transient ones for the instant between disconnected and what follows it.
type lcState int

const (
	lcNew lcState = iota
	lcAlerting
	lcConnected
	lcHeld
	lcParked
	lcInterrupted
	lcDisconnected            // after disconnected, expecting wrapstarted or ended at the same instant
	lcDisconnectedInterrupted // disconnected while interrupted: ended must follow at the same instant
	lcWrap
	lcEnd
)

// transition returns the state after an event of the given kind, and whether
// the lifecycle allows that event in state s.
func transition(s lcState, kind, role string) (lcState, bool) {
	switch {
	case s == lcNew && kind == "alerted":
		return lcAlerting, true
	case s == lcNew && kind == "connected" && (role == "external"):
		// External parties join connected; VCC's pages show no alerting for them.
		return lcConnected, true
	case s == lcAlerting && kind == "connected":
		return lcConnected, true
	case s == lcAlerting && kind == "connectionfailed":
		return lcEnd, true
	case s == lcConnected && kind == "held":
		return lcHeld, true
	case s == lcHeld && kind == "retrieved":
		return lcConnected, true
	case s == lcConnected && kind == "parked":
		return lcParked, true
	case s == lcParked && kind == "unparked":
		return lcConnected, true
	case s == lcConnected && kind == "interrupted":
		return lcInterrupted, true
	case s == lcInterrupted && kind == "resumed":
		return lcConnected, true
	case s == lcConnected && kind == "disconnected":
		return lcDisconnected, true
	case s == lcInterrupted && kind == "disconnected":
		return lcDisconnectedInterrupted, true
	case s == lcDisconnected && kind == "wrapstarted" && role == "agent":
		return lcWrap, true
	case (s == lcDisconnected || s == lcDisconnectedInterrupted) && kind == "ended":
		return lcEnd, true
	case s == lcWrap && kind == "ended":
		return lcEnd, true
	}
	return s, false
}

type channelTrack struct {
	state         lcState
	role          string
	last          time.Time
	interruptedAt time.Time
	interruptions int
}

// TestLifecycle replays every channel's events in event-time (Seq) order
// through the documented lifecycle and checks the interruption rules.
func TestLifecycle(t *testing.T) {
	const n = 100000
	events := New(Config{Seed: 31}).Take(n)

	// Deduplicate and restore event-time order; keep only the prefix that has
	// certainly been delivered completely (late events lag a few thousand).
	bySeq := make(map[uint64]Event, n)
	for _, e := range events {
		bySeq[e.Seq] = e
	}
	const prefix = n / 2
	ordered := make([]Event, 0, prefix)
	for seq := range uint64(prefix) {
		e, ok := bySeq[seq]
		if !ok {
			t.Fatalf("seq %d missing from the first %d deliveries", seq, n)
		}
		ordered = append(ordered, e)
	}
	// Finish the last instant so that simultaneous pairs are complete.
	for seq := uint64(prefix); ; seq++ {
		e, ok := bySeq[seq]
		if !ok || !e.Timestamp.Equal(ordered[len(ordered)-1].Timestamp) {
			break
		}
		ordered = append(ordered, e)
	}

	channels := map[string]*channelTrack{}
	type instantKey struct {
		conversation, kind string
		at                 time.Time
	}
	siblings := map[instantKey][]string{} // roles of interrupted/resumed channels per conversation and instant
	var closedByResumed, closedByEnded int
	var prevTS time.Time
	for _, e := range ordered {
		if e.Timestamp.Before(prevTS) {
			t.Fatalf("seq %d: event time goes backwards in Seq order (%v < %v)", e.Seq, e.Timestamp, prevTS)
		}
		prevTS = e.Timestamp
		if e.Source != "/channel" {
			continue
		}
		w := decodeWire(t, e.Value)
		kind := strings.Split(e.Type, ".")[1]
		role := w.Data.Channel.Party.Role
		c := channels[e.ChannelID]
		if c == nil {
			c = &channelTrack{role: role}
			channels[e.ChannelID] = c
		}
		if c.role != role {
			t.Fatalf("channel %s changed role %s -> %s", e.ChannelID, c.role, role)
		}
		if (c.state == lcDisconnected || c.state == lcDisconnectedInterrupted) && !e.Timestamp.Equal(c.last) {
			t.Fatalf("channel %s (%s): %s at %v, not at the disconnect instant %v", e.ChannelID, role, kind, e.Timestamp, c.last)
		}
		from := c.state
		next, ok := transition(from, kind, role)
		if !ok {
			t.Fatalf("channel %s (%s): illegal %s in state %d at seq %d", e.ChannelID, role, kind, from, e.Seq)
		}
		switch kind {
		case "interrupted":
			c.interruptedAt = e.Timestamp
			c.interruptions++
		case "resumed":
			if e.Timestamp.Before(c.interruptedAt) {
				t.Fatalf("channel %s resumed at %v before its interruption at %v", e.ChannelID, e.Timestamp, c.interruptedAt)
			}
			closedByResumed++
		case "ended":
			if from == lcDisconnectedInterrupted {
				if e.Timestamp.Before(c.interruptedAt) {
					t.Fatalf("channel %s ended before its interruption", e.ChannelID)
				}
				closedByEnded++
			}
		}
		if kind == "interrupted" || kind == "resumed" || kind == "ended" && from == lcDisconnectedInterrupted {
			k := instantKey{w.Data.Channel.ConversationID, kind, e.Timestamp}
			siblings[k] = append(siblings[k], role)
		}
		c.state, c.last = next, e.Timestamp
	}

	// Both channels of the email/chat (agent and customer) change together.
	for k, roles := range siblings {
		slices.Sort(roles)
		if !slices.Equal(roles, []string{"agent", "external"}) {
			t.Errorf("conversation %s: %s at %v on roles %v, want exactly the agent and the external channel",
				k.conversation, k.kind, k.at, roles)
		}
	}
	multi, roles := 0, map[string]int{}
	for _, c := range channels {
		if c.interruptions > 1 {
			multi++
		}
		roles[c.role]++
	}
	t.Logf("%d channels %v; interruptions closed by resumed %d, by ended %d; channels interrupted more than once %d",
		len(channels), roles, closedByResumed, closedByEnded, multi)
	if closedByResumed == 0 || closedByEnded == 0 || multi == 0 {
		t.Errorf("want interruptions closed by resumed (%d) and by ended (%d), and channels interrupted more than once (%d)",
			closedByResumed, closedByEnded, multi)
	}
	if closedByEnded > closedByResumed/4 {
		t.Errorf("ending while interrupted should be the exception: %d vs %d resumed", closedByEnded, closedByResumed)
	}
	for _, r := range []string{"external", "agent", "monitor", "voicemail"} {
		if roles[r] == 0 {
			t.Errorf("no %s channels", r)
		}
	}
}
