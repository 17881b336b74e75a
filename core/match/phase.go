package match

import (
	"fmt"
	"time"

	"github.com/interruptions/interruptions/core/vcc"
)

// The outcomes of the other phases (see Phases), after the interruption's.
const (
	// OutcomeConnected: channel.connected closed an alerting phase.
	OutcomeConnected Outcome = iota + OutcomeExpired + 1
	// OutcomeFailed: channel.connectionfailed closed an alerting phase.
	OutcomeFailed
	// OutcomeWrap: channel.wrapstarted closed a connected phase.
	OutcomeWrap
	// OutcomeRetrieved: channel.retrieved closed a held phase.
	OutcomeRetrieved
	// OutcomeUnparked: channel.unparked closed a parked phase.
	OutcomeUnparked
	// OutcomeDisconnected: channel.disconnected closed a phase (not an
	// interruption, which calls it ended, nor a wrap, which it leaves).
	OutcomeDisconnected
)

// Phase is one kind of period of a channel's life that the phase matchers
// derive from its timeline, each under the interruption contract: the walk
// at millisecond precision; a second opener while open has no effect; an
// end (End) closes what is open and marks the channel ended, so that a
// later opener opens nothing; expiry at the opener + the phase's maximum;
// at one instant, while open a closer before an end, while not open and not
// ended an opener before an end, the rest in (source, id) order; grace,
// too-late, corrections and retractions as for interruptions.
type Phase struct {
	// Name is the phase as records name it (data.phase).
	Name string
	// Open are the type names (without version) that open the phase.
	Open []string
	// Close maps the type names that close it to the outcome.
	Close map[string]Outcome
	// End maps the type names that end the channel (closing an open
	// phase) to the outcome.
	End map[string]Outcome
}

// The phase names.
const (
	PhaseAlerting    = "alerting"
	PhaseConnected   = "connected"
	PhaseHeld        = "held"
	PhaseParked      = "parked"
	PhaseInterrupted = "interrupted"
	PhaseWrap        = "wrap"
)

// ends is End of every phase but the interruption's and the wrap's.
func ends() map[string]Outcome {
	return map[string]Outcome{vcc.TypeEnded: OutcomeEnded, vcc.TypeDisconnected: OutcomeDisconnected}
}

// Phases returns the phase table, in the order records list phases. The
// interrupted phase is the interruption matcher's contract exactly (its
// disconnected is an end with outcome ended); the wrap phase starts at the
// disconnect, so channel.disconnected plays no part in it.
func Phases() []Phase {
	return []Phase{
		{Name: PhaseAlerting, Open: []string{vcc.TypeAlerted},
			Close: map[string]Outcome{vcc.TypeConnected: OutcomeConnected, vcc.TypeConnectionFailed: OutcomeFailed}, End: ends()},
		{Name: PhaseConnected, Open: []string{vcc.TypeConnected},
			Close: map[string]Outcome{vcc.TypeWrapStarted: OutcomeWrap}, End: ends()},
		{Name: PhaseHeld, Open: []string{vcc.TypeHeld},
			Close: map[string]Outcome{vcc.TypeRetrieved: OutcomeRetrieved}, End: ends()},
		{Name: PhaseParked, Open: []string{vcc.TypeParked},
			Close: map[string]Outcome{vcc.TypeUnparked: OutcomeUnparked}, End: ends()},
		{Name: PhaseInterrupted, Open: []string{vcc.TypeInterrupted},
			Close: map[string]Outcome{vcc.TypeResumed: OutcomeResumed},
			End:   map[string]Outcome{vcc.TypeEnded: OutcomeEnded, vcc.TypeDisconnected: OutcomeEnded}},
		{Name: PhaseWrap, Open: []string{vcc.TypeWrapStarted},
			End: map[string]Outcome{vcc.TypeEnded: OutcomeEnded}},
	}
}

// PhaseByName returns the phase of the table named name.
func PhaseByName(name string) (Phase, bool) {
	for _, p := range Phases() {
		if p.Name == name {
			return p, true
		}
	}
	return Phase{}, false
}

// DefaultMaxPhase is each phase's default maximum: a phase not closed by
// its start + this is published as expired at that bound. The interrupted
// phase takes --max-interruption instead.
const DefaultMaxPhase = 24 * time.Hour

// phaseRole is what one full type means to a phase matcher: an opener
// (vcc.Interrupted), a closer (vcc.Resumed) or an end (vcc.Ended), with
// the outcome of a close or an end; vcc.Ignored for a type the phase does
// not read.
type phaseRole struct {
	kind    vcc.Kind
	outcome Outcome
}

// phaseRoles is a phase compiled for the walk: the role of every full
// type (each of vcc.Versions).
type phaseRoles struct {
	name  string
	roles map[string]phaseRole
}

func compilePhase(p Phase) (*phaseRoles, error) {
	r := &phaseRoles{name: p.Name, roles: map[string]phaseRole{}}
	add := func(name string, role phaseRole) error {
		if !vcc.IsPhaseName(name) {
			return fmt.Errorf("phase %s: %q is not a channel event type", p.Name, name)
		}
		for _, v := range vcc.Versions {
			t := vcc.Type(name, v)
			if _, dup := r.roles[t]; dup {
				return fmt.Errorf("phase %s: %q has two roles", p.Name, name)
			}
			r.roles[t] = role
		}
		return nil
	}
	for _, n := range p.Open {
		if err := add(n, phaseRole{kind: vcc.Interrupted}); err != nil {
			return nil, err
		}
	}
	for n, o := range p.Close {
		if err := add(n, phaseRole{kind: vcc.Resumed, outcome: o}); err != nil {
			return nil, err
		}
	}
	for n, o := range p.End {
		if err := add(n, phaseRole{kind: vcc.Ended, outcome: o}); err != nil {
			return nil, err
		}
	}
	if len(p.Open) == 0 {
		return nil, fmt.Errorf("phase %s: no opening type", p.Name)
	}
	return r, nil
}

// role returns the role of a full type.
func (r *phaseRoles) role(typ string) phaseRole { return r.roles[typ] }

// PhaseConfigs returns the engine configurations of the phase matchers a
// door runs beside the interruption matcher of base: every phase of the
// table but the interrupted one (the interruption matcher's records are
// its records), in table order, each with base's settings and its maximum
// from maxima (when absent DefaultMaxPhase, or base.Retention when
// shorter).
func PhaseConfigs(base EngineConfig, maxima map[string]time.Duration) []EngineConfig {
	var out []EngineConfig
	for _, p := range Phases() {
		if p.Name == PhaseInterrupted {
			continue
		}
		cfg := base
		cfg.Phase = &p
		cfg.MaxInterruption = DefaultMaxPhase
		if base.Retention > 0 && base.Retention < DefaultMaxPhase {
			cfg.MaxInterruption = base.Retention
		}
		if d, ok := maxima[p.Name]; ok {
			cfg.MaxInterruption = d
		}
		out = append(out, cfg)
	}
	return out
}
