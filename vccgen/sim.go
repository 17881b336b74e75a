package vccgen

// The simulation models a contact center in event time (Unix milliseconds).
// Actions sit in a min-heap ordered by (time, sequence); running an action
// emits zero or more events at its instant and schedules later actions, so
// events come out in non-decreasing event time. Every agent has at most a
// handful of pending actions, which bounds memory by the number of agents.

const (
	second = int64(1000)
	minute = 60 * second
)

// Simulation parameters (event time, milliseconds unless noted).
const (
	loginSpread     = 10 * minute // agents other than the first log in within this window
	callGapMean     = 5 * minute  // mean idle time before an agent's next call
	bgGapMean       = 3 * minute  // mean time before the next email/chat arrives
	vmGapMeanPer20  = 40 * minute // mean gap between voicemails for 20 agents
	talkMin         = 40 * second
	talkMean        = 3*minute + 30*second
	talkMax         = 30 * minute
	wrapMin         = 5 * second
	wrapMean        = 40 * second
	failRate        = 0.04 // agent channel alerts that end in connectionfailed
	holdRate        = 0.25 // calls with at least one hold
	secondHoldRate  = 0.3  // of those, calls with a second hold
	monitorRate     = 0.06 // long calls joined by a supervisor
	abortRate       = 0.10 // interruptions in which the email/chat ends (no resume)
	chatRate        = 0.4  // share of async work that is chat (the rest is email)
	parkRate        = 0.06 // emails parked once
	lunchRate       = 0.2  // breaks that are lunch
	breakGapMin     = 45 * minute
	breakGapMean    = 60 * minute
	extUserIDRate   = 0.3 // external parties that carry a userId
	vmUserIDRate    = 0.5 // voicemail parties that carry a userId
	firstAgentIDMin = 1000
	agentIDSpan     = 9000 // agent ids are distinct 4-digit numbers
)

// media is the kind of a conversation.
type media uint8

const (
	mediaCall media = iota
	mediaEmail
	mediaChat
	mediaVoicemail
)

// convState is the lifecycle state of a conversation's agent side.
type convState uint8

const (
	convQueued convState = iota
	convAlerting
	convConnected
	convWrap
	convDone
)

// person is an agent or supervisor identity.
type person struct {
	agentID string
	userID  string
}

// channel is one party's leg of a conversation.
type channel struct {
	id      string
	conv    *conversation
	role    role
	agentID string
	userID  string
	held    bool
}

// conversation is a call, email, chat or voicemail with its channels.
type conversation struct {
	id            string
	interactionID string
	media         media
	ag            *agent
	ext, agt, mon *channel
	state         convState
	parked        bool
	interrupted   bool
	endPending    bool
}

// agent is a simulated agent with at most one call and one email/chat.
type agent struct {
	person
	call         *conversation
	bg           *conversation
	onBreak      bool
	breakPending bool
}

// actKind names a scheduled simulation step.
type actKind uint8

const (
	actLogin actKind = iota
	actBreakStart
	actBreakEnd
	actCallArrive
	actCallOffer
	actCallFail
	actCallConnect
	actHold
	actRetrieve
	actMonitorJoin
	actMonitorConnect
	actCallHangup
	actCallWrapEnd
	actBgArrive
	actBgOffer
	actBgConnect
	actBgPark
	actBgUnpark
	actBgEnd
	actBgWrapEnd
	actBgAbort
	actVoicemailArrive
	actVoicemailConnect
	actVoicemailEnd
)

// action is a scheduled step.
type action struct {
	at   int64
	seq  uint64
	kind actKind
	ag   *agent
	conv *conversation
}

func (a *action) before(b *action) bool {
	return a.at < b.at || a.at == b.at && a.seq < b.seq
}

// rawEvent is an event as the simulation produces it, before encoding.
type rawEvent struct {
	at       int64
	kind     evKind
	ch       *channel // nil for agent events
	ag       *person  // agent events only
	reason   string
	presence string
}

// sim is the discrete-event contact-center simulation.
type sim struct {
	r           rng
	now         int64
	seq         uint64
	acts        []action // binary min-heap
	out         []rawEvent
	head        int
	agents      []*agent
	supervisors []person
	vmGapMean   int64
}

func newSim(r rng, start int64, agents int) *sim {
	s := &sim{r: r, now: start}
	used := make(map[int64]bool, agents)
	newID := func() string {
		for {
			n := firstAgentIDMin + s.r.intn(agentIDSpan)
			if !used[n] {
				used[n] = true
				return itoa(n)
			}
		}
	}
	s.agents = make([]*agent, agents)
	for i := range s.agents {
		s.agents[i] = &agent{person: person{agentID: newID(), userID: s.r.uuid()}}
		at := start
		if i > 0 {
			at += s.r.intn(loginSpread)
		}
		s.schedule(at, actLogin, s.agents[i], nil)
	}
	nSup := min(agents/10+1, agentIDSpan-agents)
	s.supervisors = make([]person, max(nSup, 0))
	for i := range s.supervisors {
		s.supervisors[i] = person{agentID: newID(), userID: s.r.uuid()}
	}
	s.vmGapMean = max(vmGapMeanPer20*20/int64(agents), 10*second)
	s.schedule(start+s.r.exp(s.vmGapMean), actVoicemailArrive, nil, nil)
	return s
}

// itoa formats a non-negative integer.
func itoa(n int64) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(buf[i:])
		}
	}
}

// next returns the next event in event-time order.
func (s *sim) next() rawEvent {
	for s.head == len(s.out) {
		s.out, s.head = s.out[:0], 0
		s.step()
	}
	e := s.out[s.head]
	s.head++
	return e
}

func (s *sim) schedule(at int64, kind actKind, ag *agent, conv *conversation) {
	s.seq++
	heapPush(&s.acts, action{at: at, seq: s.seq, kind: kind, ag: ag, conv: conv})
}

// after schedules kind at now+d.
func (s *sim) after(d int64, kind actKind, ag *agent, conv *conversation) {
	s.schedule(s.now+max(d, 0), kind, ag, conv)
}

func (s *sim) emit(kind evKind, ch *channel, reason string) {
	s.out = append(s.out, rawEvent{at: s.now, kind: kind, ch: ch, reason: reason})
}

func (s *sim) emitPresence(p *person, presence string) {
	s.out = append(s.out, rawEvent{at: s.now, kind: evPresenceChanged, ag: p, presence: presence})
}

// emitPair emits the same kind for two channels at the current instant, in
// random order.
func (s *sim) emitPair(kind evKind, a, b *channel) {
	if s.r.chance(0.5) {
		a, b = b, a
	}
	s.emit(kind, a, "")
	s.emit(kind, b, "")
}

// newConversation creates a conversation with its external channel.
func (s *sim) newConversation(m media, ag *agent) *conversation {
	c := &conversation{id: s.r.uuid(), interactionID: s.r.uuid(), media: m, ag: ag}
	c.ext = &channel{id: s.r.uuid(), conv: c, role: roleExternal}
	if s.r.chance(extUserIDRate) {
		c.ext.userID = s.r.uuid()
	}
	return c
}

// newChannel adds a channel for p in role rl to c.
func (s *sim) newChannel(c *conversation, rl role, p person) *channel {
	return &channel{id: s.r.uuid(), conv: c, role: rl, agentID: p.agentID, userID: p.userID}
}

// endNow emits disconnected + ended (same instant) for a channel that has no
// wrap-up phase.
func (s *sim) endNow(ch *channel) {
	s.emit(evDisconnected, ch, "")
	s.emit(evEnded, ch, reasonReleased)
}

// step runs the earliest scheduled action.
func (s *sim) step() {
	a := heapPop(&s.acts)
	s.now = a.at
	switch a.kind {
	case actLogin, actBreakStart, actBreakEnd:
		s.presenceStep(a.kind, a.ag)
	case actCallArrive, actCallOffer, actCallFail, actCallConnect, actHold, actRetrieve,
		actMonitorJoin, actMonitorConnect, actCallHangup, actCallWrapEnd:
		s.callStep(a.kind, a.ag, a.conv)
	case actBgArrive, actBgOffer, actBgConnect, actBgPark, actBgUnpark, actBgEnd, actBgWrapEnd, actBgAbort:
		s.backgroundStep(a.kind, a.ag, a.conv)
	case actVoicemailArrive, actVoicemailConnect, actVoicemailEnd:
		s.voicemailStep(a.kind, a.conv)
	}
}

// presenceStep runs an agent's login and breaks.
func (s *sim) presenceStep(kind actKind, ag *agent) {
	switch kind {
	case actLogin:
		s.emitPresence(&ag.person, presenceAvailable)
		s.after(s.r.exp(callGapMean), actCallArrive, ag, nil)
		s.after(s.r.exp(bgGapMean), actBgArrive, ag, nil)
		s.after(breakGapMin+s.r.exp(breakGapMean), actBreakStart, ag, nil)
	case actBreakStart:
		s.breakStart(ag)
	case actBreakEnd:
		ag.onBreak = false
		s.emitPresence(&ag.person, presenceAvailable)
		s.after(breakGapMin+s.r.exp(breakGapMean), actBreakStart, ag, nil)
	}
}

// breakStart sends the agent on a break or to lunch, once any call is over.
func (s *sim) breakStart(ag *agent) {
	if ag.call != nil {
		ag.breakPending = true
		return
	}
	ag.onBreak = true
	if s.r.chance(lunchRate) {
		s.emitPresence(&ag.person, presenceLunch)
		s.after(s.r.between(30*minute, 45*minute), actBreakEnd, ag, nil)
	} else {
		s.emitPresence(&ag.person, presenceBreak)
		s.after(5*minute+s.r.exp(10*minute), actBreakEnd, ag, nil)
	}
}

// callStep runs a step of an agent's phone call.
func (s *sim) callStep(kind actKind, ag *agent, c *conversation) {
	switch kind {
	case actCallArrive:
		s.callArrive(ag)
	case actCallOffer:
		s.callOffer(ag, c)
	case actCallFail:
		reason := reasonRejected
		if s.r.chance(0.5) {
			reason = reasonTimeout
		}
		s.emit(evConnectionFailed, c.agt, reason)
		s.after(s.r.between(5*second, 20*second), actCallOffer, ag, c)
	case actCallConnect:
		s.callConnect(ag, c)
	case actHold:
		if c.state == convConnected && !c.ext.held {
			c.ext.held = true
			s.emit(evHeld, c.ext, "")
		}
	case actRetrieve:
		if c.state == convConnected && c.ext.held {
			c.ext.held = false
			s.emit(evRetrieved, c.ext, "")
		}
	case actMonitorJoin:
		s.monitorJoin(ag, c)
	case actMonitorConnect:
		if c.state == convConnected {
			s.emit(evConnected, c.mon, "")
		}
	case actCallHangup:
		s.startWrap(c)
		if c.mon != nil {
			s.endNow(c.mon)
		}
		s.after(wrapMin+s.r.exp(wrapMean), actCallWrapEnd, ag, c)
	case actCallWrapEnd:
		s.callWrapEnd(ag, c)
	}
}

// callArrive brings a call to a free agent (or tries again later).
func (s *sim) callArrive(ag *agent) {
	if ag.onBreak || ag.call != nil || ag.bg != nil && ag.bg.state == convAlerting {
		s.after(20*second+s.r.exp(minute), actCallArrive, ag, nil)
		return
	}
	c := s.newConversation(mediaCall, ag)
	ag.call = c
	s.emit(evConnected, c.ext, "")
	s.after(2*second+s.r.exp(20*second), actCallOffer, ag, c)
}

// callOffer alerts the agent; the offer connects or fails.
func (s *sim) callOffer(ag *agent, c *conversation) {
	c.agt = s.newChannel(c, roleAgent, ag.person)
	c.state = convAlerting
	s.emit(evAlerted, c.agt, "")
	if s.r.chance(failRate) {
		s.after(s.r.between(8*second, 30*second), actCallFail, ag, c)
	} else {
		s.after(s.r.between(2*second, 12*second), actCallConnect, ag, c)
	}
}

// monitorJoin has a supervisor join a connected call as monitor.
func (s *sim) monitorJoin(ag *agent, c *conversation) {
	if c.state == convConnected && len(s.supervisors) > 0 {
		sup := s.supervisors[s.r.intn(int64(len(s.supervisors)))]
		c.mon = s.newChannel(c, roleMonitor, sup)
		s.emit(evAlerted, c.mon, "")
		s.after(s.r.between(1*second, 4*second), actMonitorConnect, ag, c)
	}
}

// backgroundStep runs a step of an agent's email or chat.
func (s *sim) backgroundStep(kind actKind, ag *agent, c *conversation) {
	switch kind {
	case actBgArrive:
		s.bgArrive(ag)
	case actBgOffer:
		s.bgOffer(ag, c)
	case actBgConnect:
		s.bgConnect(ag, c)
	case actBgPark:
		if c.state == convConnected && !c.interrupted && !c.parked {
			c.parked = true
			s.emitPair(evParked, c.agt, c.ext)
			s.after(2*minute+s.r.exp(8*minute), actBgUnpark, ag, c)
		}
	case actBgUnpark:
		s.bgUnpark(ag, c)
	case actBgEnd:
		s.bgEnd(ag, c)
	case actBgWrapEnd:
		c.state = convDone
		s.emit(evEnded, c.agt, reasonReleased)
		ag.bg = nil
		s.after(s.r.exp(bgGapMean), actBgArrive, ag, nil)
	case actBgAbort:
		s.bgAbort(ag, c)
	}
}

// bgArrive brings an email or chat to an agent who has none (or tries
// again later).
func (s *sim) bgArrive(ag *agent) {
	if ag.onBreak || ag.bg != nil {
		s.after(30*second+s.r.exp(minute), actBgArrive, ag, nil)
		return
	}
	m := mediaEmail
	if s.r.chance(chatRate) {
		m = mediaChat
	}
	c := s.newConversation(m, ag)
	ag.bg = c
	s.emit(evConnected, c.ext, "")
	s.after(5*second+s.r.exp(40*second), actBgOffer, ag, c)
}

// bgOffer alerts the agent of the email or chat, once no call is on.
func (s *sim) bgOffer(ag *agent, c *conversation) {
	if ag.call != nil || ag.onBreak {
		s.after(10*second+s.r.exp(30*second), actBgOffer, ag, c)
		return
	}
	c.agt = s.newChannel(c, roleAgent, ag.person)
	c.state = convAlerting
	s.emit(evAlerted, c.agt, "")
	s.after(s.r.between(2*second, 15*second), actBgConnect, ag, c)
}

// bgConnect connects the email or chat and schedules its end (and, for
// some emails, a park).
func (s *sim) bgConnect(ag *agent, c *conversation) {
	c.state = convConnected
	s.emit(evConnected, c.agt, "")
	var dur int64
	if c.media == mediaChat {
		dur = 8*minute + s.r.exp(20*minute)
	} else {
		dur = 6*minute + s.r.exp(15*minute)
	}
	s.after(dur, actBgEnd, ag, c)
	if c.media == mediaEmail && s.r.chance(parkRate) {
		s.after(second+s.r.intn(dur/2), actBgPark, ag, c)
	}
}

// bgUnpark takes a parked email up again once no call is on; an end that
// came while parked follows.
func (s *sim) bgUnpark(ag *agent, c *conversation) {
	if ag.call != nil {
		s.after(30*second+s.r.exp(30*second), actBgUnpark, ag, c)
		return
	}
	c.parked = false
	s.emitPair(evUnparked, c.agt, c.ext)
	if c.endPending {
		c.endPending = false
		s.after(30*second+s.r.exp(2*minute), actBgEnd, ag, c)
	}
}

// bgEnd starts the wrap-up of a connected email or chat, or defers it
// while the conversation is interrupted or parked.
func (s *sim) bgEnd(ag *agent, c *conversation) {
	if c.state != convConnected {
		return
	}
	if c.interrupted || c.parked {
		c.endPending = true
		return
	}
	s.startWrap(c)
	s.after(10*second+s.r.exp(45*second), actBgWrapEnd, ag, c)
}

// bgAbort ends an email or chat while it is interrupted: both channels
// disconnect and end at the same instant and never see channel.resumed.
func (s *sim) bgAbort(ag *agent, c *conversation) {
	if c.state != convConnected || !c.interrupted {
		return
	}
	c.state, c.interrupted = convDone, false
	if s.r.chance(0.5) {
		s.endNow(c.agt)
		s.endNow(c.ext)
	} else {
		s.endNow(c.ext)
		s.endNow(c.agt)
	}
	ag.bg = nil
	s.after(s.r.exp(bgGapMean), actBgArrive, ag, nil)
}

// voicemailStep runs a step of a voicemail: arrivals for the whole
// center, then each voicemail's connect and end.
func (s *sim) voicemailStep(kind actKind, c *conversation) {
	switch kind {
	case actVoicemailArrive:
		s.voicemailArrive()
	case actVoicemailConnect:
		s.emit(evConnected, c.agt, "")
		s.after(15*second+s.r.exp(40*second), actVoicemailEnd, nil, c)
	case actVoicemailEnd:
		s.endNow(c.ext)
		s.endNow(c.agt)
	}
}

// voicemailArrive schedules the next voicemail and starts this one, owned
// by an agent's user id or by nobody.
func (s *sim) voicemailArrive() {
	s.after(s.r.exp(s.vmGapMean), actVoicemailArrive, nil, nil)
	c := s.newConversation(mediaVoicemail, nil)
	var owner person
	if s.r.chance(vmUserIDRate) {
		owner.userID = s.agents[s.r.intn(int64(len(s.agents)))].userID
	}
	c.agt = s.newChannel(c, roleVoicemail, owner)
	s.emit(evConnected, c.ext, "")
	s.emit(evAlerted, c.agt, "")
	s.after(s.r.between(1*second, 5*second), actVoicemailConnect, nil, c)
}

// callConnect connects the agent to a call; an email/chat the agent is
// working on is interrupted at the same instant on both its channels.
func (s *sim) callConnect(ag *agent, c *conversation) {
	c.state = convConnected
	s.emit(evConnected, c.agt, "")
	talk := min(talkMin+s.r.exp(talkMean), talkMax)
	if bg := ag.bg; bg != nil && bg.state == convConnected && !bg.parked {
		bg.interrupted = true
		s.emitPair(evInterrupted, bg.agt, bg.ext)
		if s.r.chance(abortRate) {
			s.after(second+s.r.intn(talk-second), actBgAbort, ag, bg)
		}
	}
	if s.r.chance(holdRate) {
		at := talk/5 + s.r.intn(talk/5)
		s.after(at, actHold, ag, c)
		s.after(at+min(s.r.between(10*second, 90*second), talk/6), actRetrieve, ag, c)
		if s.r.chance(secondHoldRate) {
			at = talk*3/5 + s.r.intn(talk/10)
			s.after(at, actHold, ag, c)
			s.after(at+min(s.r.between(10*second, 60*second), talk/5), actRetrieve, ag, c)
		}
	}
	if talk >= 90*second && s.r.chance(monitorRate) {
		s.after(10*second+s.r.intn(talk/3), actMonitorJoin, ag, c)
	}
	s.after(talk, actCallHangup, ag, c)
}

// startWrap ends a conversation's connected phase: the customer's channel
// disconnects and ends, the agent's disconnects and starts wrap-up, at the
// same instant and in either order (VCC sends both orders).
func (s *sim) startWrap(c *conversation) {
	c.state = convWrap
	agentFirst := s.r.chance(0.5)
	if agentFirst {
		s.emit(evDisconnected, c.agt, "")
		s.emit(evWrapStarted, c.agt, "")
	}
	s.endNow(c.ext)
	if !agentFirst {
		s.emit(evDisconnected, c.agt, "")
		s.emit(evWrapStarted, c.agt, "")
	}
}

// callWrapEnd ends the agent's call channel after wrap-up; an interrupted
// email/chat resumes at that instant.
func (s *sim) callWrapEnd(ag *agent, c *conversation) {
	c.state = convDone
	s.emit(evEnded, c.agt, reasonReleased)
	ag.call = nil
	if bg := ag.bg; bg != nil && bg.interrupted {
		bg.interrupted = false
		s.emitPair(evResumed, bg.agt, bg.ext)
		if bg.endPending {
			bg.endPending = false
			s.after(5*second+s.r.exp(30*second), actBgEnd, ag, bg)
		}
	}
	if ag.breakPending {
		ag.breakPending = false
		s.after(s.r.between(second, 5*second), actBreakStart, ag, nil)
	}
	s.after(s.r.exp(callGapMean), actCallArrive, ag, nil)
}
