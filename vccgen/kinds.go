package vccgen

// evKind is the kind of a generated event, independent of its version.
type evKind uint8

const (
	evAlerted evKind = iota
	evConnected
	evConnectionFailed
	evHeld
	evRetrieved
	evParked
	evUnparked
	evInterrupted
	evResumed
	evDisconnected
	evWrapStarted
	evEnded
	evPresenceChanged
)

// typeName returns the CloudEvent type of an event of kind k, version 0 or 1.
// It returns string constants so that building an event allocates nothing.
func typeName(k evKind, v1 bool) string {
	switch k {
	case evAlerted:
		return pick(v1, "channel.alerted.v0", "channel.alerted.v1")
	case evConnected:
		return pick(v1, "channel.connected.v0", "channel.connected.v1")
	case evConnectionFailed:
		return pick(v1, "channel.connectionfailed.v0", "channel.connectionfailed.v1")
	case evHeld:
		return pick(v1, "channel.held.v0", "channel.held.v1")
	case evRetrieved:
		return pick(v1, "channel.retrieved.v0", "channel.retrieved.v1")
	case evParked:
		return pick(v1, "channel.parked.v0", "channel.parked.v1")
	case evUnparked:
		return pick(v1, "channel.unparked.v0", "channel.unparked.v1")
	case evInterrupted:
		return pick(v1, "channel.interrupted.v0", "channel.interrupted.v1")
	case evResumed:
		return pick(v1, "channel.resumed.v0", "channel.resumed.v1")
	case evDisconnected:
		return pick(v1, "channel.disconnected.v0", "channel.disconnected.v1")
	case evWrapStarted:
		return pick(v1, "channel.wrapstarted.v0", "channel.wrapstarted.v1")
	case evEnded:
		return pick(v1, "channel.ended.v0", "channel.ended.v1")
	default:
		return pick(v1, "agent.presencechanged.v0", "agent.presencechanged.v1")
	}
}

func pick(v1 bool, v0Name, v1Name string) string {
	if v1 {
		return v1Name
	}
	return v0Name
}

// role is the role of a party on a channel.
type role uint8

const (
	roleExternal role = iota
	roleAgent
	roleMonitor
	roleVoicemail
)

// String returns the role as VCC spells it.
func (r role) String() string {
	switch r {
	case roleAgent:
		return "agent"
	case roleMonitor:
		return "monitor"
	case roleVoicemail:
		return "voicemail"
	default:
		return "external"
	}
}

// Source values of the envelope.
const (
	// SourceChannel is the CloudEvent source of channel events.
	SourceChannel = "/channel"
	// SourceAgent is the CloudEvent source of agent events.
	SourceAgent = "/agent"
)

// Reasons carried by channel.ended and channel.connectionfailed. VCC does not
// publish the full list; "released" is the documented example, the others
// are plausible stand-ins.
const (
	reasonReleased = "released"
	reasonRejected = "rejected"
	reasonTimeout  = "timeout"
)

// Agent presence values carried by agent.presencechanged (not documented by
// VCC; plausible stand-ins).
const (
	presenceAvailable = "Available"
	presenceBreak     = "Break"
	presenceLunch     = "Lunch"
)
