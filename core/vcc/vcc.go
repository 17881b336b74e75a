// Package vcc is the Vonage Contact Center vocabulary, written once: the
// CloudEvent types and versions of the channel event family, what each
// means to the matcher, the event families, the envelope sources and the
// party roles. Every other package (codec, match, state, vccgen, metrics,
// schemas, webhook) takes its names from here, so supporting a new version
// is one edit in this file.
//
// Facts come from VCC's public Webhooks API pages, summarised in the
// project's docs/vcc-channel-events.md.
package vcc

import "strings"

// Kind is what an event means to the matcher.
type Kind uint8

// The kinds of event.
const (
	// Ignored is a valid event the matcher does not use: another
	// channel.* type or another family such as agent.presencechanged.
	Ignored Kind = iota
	// Interrupted opens an interruption (channel.interrupted).
	Interrupted
	// Resumed closes one with outcome resumed (channel.resumed).
	Resumed
	// Ended closes one with outcome ended (channel.ended,
	// channel.disconnected).
	Ended
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Interrupted:
		return "interrupted"
	case Resumed:
		return "resumed"
	case Ended:
		return "ended"
	default:
		return "ignored"
	}
}

// Versions are the type version suffixes the matcher understands, oldest
// first. VCC publishes v0 and v1 of every channel event with the same
// payload.
var Versions = [...]string{"v0", "v1"}

// Families: the prefix every type name of an event family starts with.
const (
	// FamilyChannel is the prefix of the channel event family
	// (channel.interrupted, channel.resumed...).
	FamilyChannel = "channel."
	// FamilyAgent is the prefix of the agent event family
	// (agent.presencechanged).
	FamilyAgent = "agent."
)

// Type names without version, as VCC publishes them. The handled ones first.
const (
	TypeInterrupted      = "channel.interrupted"
	TypeResumed          = "channel.resumed"
	TypeEnded            = "channel.ended"
	TypeDisconnected     = "channel.disconnected"
	TypeAlerted          = "channel.alerted"
	TypeConnected        = "channel.connected"
	TypeConnectionFailed = "channel.connectionfailed"
	TypeHeld             = "channel.held"
	TypeRetrieved        = "channel.retrieved"
	TypeParked           = "channel.parked"
	TypeUnparked         = "channel.unparked"
	TypeWrapStarted      = "channel.wrapstarted"
	TypePresenceChanged  = "agent.presencechanged"
)

// Handled are the type names the matcher uses, in a fixed order (the
// packed state's table follows it), with their kinds.
var Handled = [...]struct {
	Name string
	Kind Kind
}{
	{TypeInterrupted, Interrupted},
	{TypeResumed, Resumed},
	{TypeEnded, Ended},
	{TypeDisconnected, Ended},
}

// Known are the names of every type VCC documents in the families this
// processor reads, handled or not.
var Known = [...]string{
	TypeInterrupted, TypeResumed, TypeEnded, TypeDisconnected,
	TypeAlerted, TypeConnected, TypeConnectionFailed, TypeHeld, TypeRetrieved,
	TypeParked, TypeUnparked, TypeWrapStarted, TypePresenceChanged,
}

// PhaseNames are the channel type names the phase matchers read (every
// documented channel type): the Known entries of FamilyChannel.
var PhaseNames = func() []string {
	var out []string
	for _, name := range Known {
		if IsChannelEvent(name) {
			out = append(out, name)
		}
	}
	return out
}()

// IsPhaseName reports whether name (without version) is one of PhaseNames.
func IsPhaseName(name string) bool {
	for _, n := range PhaseNames {
		if n == name {
			return true
		}
	}
	return false
}

// PhaseTypes returns the full types of PhaseNames in every version, in the
// order of PhaseNames then Versions (the handled types among them too).
func PhaseTypes() []string {
	out := make([]string, 0, len(PhaseNames)*len(Versions))
	for _, name := range PhaseNames {
		for _, ver := range Versions {
			out = append(out, Type(name, ver))
		}
	}
	return out
}

// Envelope sources.
const (
	// SourceChannel is the CloudEvent source of channel events.
	SourceChannel = "/channel"
	// SourceAgent is the CloudEvent source of agent events.
	SourceAgent = "/agent"
)

// Sources are the envelope sources VCC uses.
var Sources = [...]string{SourceChannel, SourceAgent}

// Party roles as VCC spells them in data.channel.party.role.
const (
	RoleExternal  = "external"
	RoleAgent     = "agent"
	RoleMonitor   = "monitor"
	RoleVoicemail = "voicemail"
)

// Roles are the party roles VCC documents.
var Roles = [...]string{RoleExternal, RoleAgent, RoleMonitor, RoleVoicemail}

// Party is the party on a channel, as VCC describes it in
// data.channel.party. AgentID is present for agent and monitor parties.
type Party struct {
	Role    string
	AgentID string
	UserID  string
}

// IsChannelEvent reports whether the CloudEvent type t, of any version,
// documented or not, is of the channel event family (FamilyChannel): an
// event about one channel, which carries data.channel.channelId.
func IsChannelEvent(t string) bool { return strings.HasPrefix(t, FamilyChannel) }

// IsAgentEvent reports whether the CloudEvent type t, of any version,
// documented or not, is of the agent event family (FamilyAgent).
func IsAgentEvent(t string) bool { return strings.HasPrefix(t, FamilyAgent) }

// Type returns the full CloudEvent type of type name in version, e.g.
// Type(TypeResumed, "v1") is "channel.resumed.v1"; SplitType undoes it.
// Callers that must not allocate per event build their table of types from
// it once.
func Type(name, version string) string { return name + "." + version }

// Types returns the full CloudEvent types of every documented type (Known)
// in every version (Versions): 26 types, in the order of Known then
// Versions.
func Types() []string {
	out := make([]string, 0, len(Known)*len(Versions))
	for _, name := range Known {
		for _, ver := range Versions {
			out = append(out, Type(name, ver))
		}
	}
	return out
}

// SplitType splits "channel.resumed.v0" into "channel.resumed" and "v0". A
// type without a version suffix returns an empty version.
func SplitType(t string) (name, version string) {
	i := strings.LastIndexByte(t, '.')
	if i < 0 || i+2 > len(t) || t[i+1] != 'v' {
		return t, ""
	}
	for _, c := range t[i+2:] {
		if c < '0' || c > '9' {
			return t, ""
		}
	}
	return t[:i], t[i+1:]
}

// SupportedVersion reports whether v is one of Versions.
func SupportedVersion(v string) bool {
	for _, s := range Versions {
		if v == s {
			return true
		}
	}
	return false
}

// KindOf returns the kind of a type name without version, and whether the
// matcher handles it.
func KindOf(name string) (Kind, bool) {
	for _, h := range Handled {
		if h.Name == name {
			return h.Kind, true
		}
	}
	return Ignored, false
}

// Classify returns what a full CloudEvent type means: its kind, whether the
// matcher handles it, and ok false for a handled type of an unsupported
// version (which the decoder rejects).
func Classify(t string) (kind Kind, handled, ok bool) {
	name, version := SplitType(t)
	kind, handled = KindOf(name)
	if handled && !SupportedVersion(version) {
		return Ignored, false, false
	}
	return kind, handled, true
}

// ClassifyPhased is Classify for a decoder that also reads the phase types
// (PhaseNames) strictly: phased says whether the type is one of them, and
// ok is false for a handled or phased type of an unsupported version.
func ClassifyPhased(t string) (kind Kind, handled, phased, ok bool) {
	name, version := SplitType(t)
	kind, handled = KindOf(name)
	phased = IsPhaseName(name)
	if (handled || phased) && !SupportedVersion(version) {
		return Ignored, false, false, false
	}
	return kind, handled, phased, true
}

// lookup holds read-only tables built once from the lists above, for the
// decoders' fast paths: a known type, source or role found by its bytes
// comes back as a shared constant string, so state that keeps it holds no
// part of the input and decoding allocates nothing for it. Never written
// after package initialisation.
var lookup = newLookup()

type typeInfo struct {
	name    string
	kind    Kind
	handled bool
	phased  bool
}

type tables struct {
	types   map[string]typeInfo
	strings map[string]string
}

func newLookup() tables {
	t := tables{types: map[string]typeInfo{}, strings: map[string]string{}}
	for _, name := range Known {
		kind, handled := KindOf(name)
		for _, ver := range Versions {
			full := Type(name, ver)
			t.types[full] = typeInfo{name: full, kind: kind, handled: handled, phased: IsPhaseName(name)}
		}
	}
	for _, s := range Sources {
		t.strings[s] = s
	}
	for _, s := range Roles {
		t.strings[s] = s
	}
	return t
}

// LookupType returns a documented type (any of Known in any of Versions) as
// a constant string with its kind, whether the matcher handles it and
// whether it is a phase type (PhaseNames); for any other type s is empty.
func LookupType(t []byte) (s string, kind Kind, handled, phased bool) {
	ti, ok := lookup.types[string(t)]
	if !ok {
		return "", Ignored, false, false
	}
	return ti.name, ti.kind, ti.handled, ti.phased
}

// Intern returns a known source or role as a constant string, or "".
func Intern(b []byte) string { return lookup.strings[string(b)] }

// HandledTypes returns the full names of the handled types in every
// version, in the order of Handled then Versions.
func HandledTypes() []string {
	out := make([]string, 0, len(Handled)*len(Versions))
	for _, h := range Handled {
		for _, ver := range Versions {
			out = append(out, Type(h.Name, ver))
		}
	}
	return out
}
