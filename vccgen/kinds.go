package vccgen

import "github.com/interruptions/interruptions/core/vcc"

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

// evKindNames are the type names (without version) of the event kinds,
// from the vocabulary.
var evKindNames = [...]string{
	evAlerted:          vcc.TypeAlerted,
	evConnected:        vcc.TypeConnected,
	evConnectionFailed: vcc.TypeConnectionFailed,
	evHeld:             vcc.TypeHeld,
	evRetrieved:        vcc.TypeRetrieved,
	evParked:           vcc.TypeParked,
	evUnparked:         vcc.TypeUnparked,
	evInterrupted:      vcc.TypeInterrupted,
	evResumed:          vcc.TypeResumed,
	evDisconnected:     vcc.TypeDisconnected,
	evWrapStarted:      vcc.TypeWrapStarted,
	evEnded:            vcc.TypeEnded,
	evPresenceChanged:  vcc.TypePresenceChanged,
}

// evTypes holds the full CloudEvent type of each kind in version 0 and 1
// (vcc.Versions[0], [1]), built once so that building an event allocates
// nothing. Never written after package initialisation.
var evTypes = func() (t [len(evKindNames)][2]string) {
	for k, name := range evKindNames {
		for v := range t[k] {
			t[k][v] = vcc.Type(name, vcc.Versions[v])
		}
	}
	return t
}()

// typeName returns the CloudEvent type of an event of kind k, version 0 or 1.
func typeName(k evKind, v1 bool) string {
	if v1 {
		return evTypes[k][1]
	}
	return evTypes[k][0]
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
		return vcc.RoleAgent
	case roleMonitor:
		return vcc.RoleMonitor
	case roleVoicemail:
		return vcc.RoleVoicemail
	default:
		return vcc.RoleExternal
	}
}

// Sources of the envelope: the vocabulary's (vcc.SourceChannel,
// vcc.SourceAgent), named here too for the generator's callers, which
// compare Event.Source with them.
const (
	// SourceChannel is the CloudEvent source of channel events.
	SourceChannel = vcc.SourceChannel
	// SourceAgent is the CloudEvent source of agent events.
	SourceAgent = vcc.SourceAgent
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
