// Package schemas holds the JSON Schemas (draft 2020-12) of the events the
// interruptions processor reads and writes, embedded in the binary, and
// validates documents against them.
//
// Input: VCC channel events (channel-event.schema.json) and agent events
// (agent-event.schema.json). Output: the revisions of an interruption
// (interruption-ended.schema.json) and retractions
// (interruption-retracted.schema.json); the revisions of a channel's phase
// periods (channel-phase.schema.json) and their retractions
// (channel-phase-retracted.schema.json), published to --phases-topic.
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/interruptions/interruptions/core/vcc"
)

//go:embed *.json
var files embed.FS

// Schema file names, as embedded.
const (
	// ChannelEventFile is the schema of VCC channel events.
	ChannelEventFile = "channel-event.schema.json"
	// AgentEventFile is the schema of VCC agent events.
	AgentEventFile = "agent-event.schema.json"
	// InterruptionEndedFile is the schema of the processor's output record.
	InterruptionEndedFile = "interruption-ended.schema.json"
	// InterruptionRetractedFile is the schema of a retraction record.
	InterruptionRetractedFile = "interruption-retracted.schema.json"
	// ChannelPhaseFile is the schema of a phase record (channel.phase.v0).
	ChannelPhaseFile = "channel-phase.schema.json"
	// ChannelPhaseRetractedFile is the schema of a phase retraction record
	// (channel.phaseretracted.v0).
	ChannelPhaseRetractedFile = "channel-phase-retracted.schema.json"
)

// baseURL is the prefix of every schema's $id.
const baseURL = "https://github.com/interruptions/interruptions/schemas/"

// Set is the compiled schemas. It is safe for concurrent use.
type Set struct {
	channel      *jsonschema.Schema
	agent        *jsonschema.Schema
	output       *jsonschema.Schema
	retract      *jsonschema.Schema
	phase        *jsonschema.Schema
	phaseRetract *jsonschema.Schema
}

// Source returns the raw text of the embedded schema file name (one of the
// *File constants).
func Source(name string) ([]byte, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("schemas: read %s: %w", name, err)
	}
	return b, nil
}

// Compile compiles every embedded schema, with format assertions (such as
// date-time) enabled.
func Compile() (*Set, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	entries, err := files.ReadDir(".")
	if err != nil {
		return nil, fmt.Errorf("schemas: list embedded files: %w", err)
	}
	for _, e := range entries {
		raw, err := files.ReadFile(e.Name())
		if err != nil {
			return nil, fmt.Errorf("schemas: read %s: %w", e.Name(), err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("schemas: parse %s: %w", e.Name(), err)
		}
		if err := c.AddResource(baseURL+e.Name(), doc); err != nil {
			return nil, fmt.Errorf("schemas: add %s: %w", e.Name(), err)
		}
	}
	var s Set
	for _, target := range []struct {
		name string
		dst  **jsonschema.Schema
	}{
		{ChannelEventFile, &s.channel},
		{AgentEventFile, &s.agent},
		{InterruptionEndedFile, &s.output},
		{InterruptionRetractedFile, &s.retract},
		{ChannelPhaseFile, &s.phase},
		{ChannelPhaseRetractedFile, &s.phaseRetract},
	} {
		sch, err := c.Compile(baseURL + target.name)
		if err != nil {
			return nil, fmt.Errorf("schemas: compile %s: %w", target.name, err)
		}
		*target.dst = sch
	}
	return &s, nil
}

// ErrUnknownType is returned (wrapped) by ValidateInput for an event whose
// type is neither channel.* nor agent.*.
var ErrUnknownType = errors.New("event type is neither channel.* nor agent.*")

// ValidateInput validates one VCC event (structured-mode CloudEvent JSON)
// against the channel or agent schema, chosen by the prefix of its type.
// Validation failures wrap a *jsonschema.ValidationError.
func (s *Set) ValidateInput(raw []byte) error {
	doc, err := parse(raw)
	if err != nil {
		return fmt.Errorf("schemas: input: %w", err)
	}
	typ, _ := member(doc, "type").(string)
	var sch *jsonschema.Schema
	switch {
	case vcc.IsChannelEvent(typ):
		sch = s.channel
	case vcc.IsAgentEvent(typ):
		sch = s.agent
	default:
		return fmt.Errorf("schemas: input type %q: %w", typ, ErrUnknownType)
	}
	if err := sch.Validate(doc); err != nil {
		return fmt.Errorf("schemas: input %s event %v: %w", typ, member(doc, "id"), err)
	}
	return nil
}

// ValidateOutput validates one output record (structured-mode CloudEvent
// JSON) against interruption-retracted.schema.json when its type is
// channel.interruptionretracted.v0, else interruption-ended.schema.json.
// Validation failures wrap a *jsonschema.ValidationError.
func (s *Set) ValidateOutput(raw []byte) error {
	doc, err := parse(raw)
	if err != nil {
		return fmt.Errorf("schemas: output: %w", err)
	}
	sch := s.output
	if member(doc, "type") == "channel.interruptionretracted.v0" {
		sch = s.retract
	}
	if err := sch.Validate(doc); err != nil {
		return fmt.Errorf("schemas: output record %v: %w", member(doc, "id"), err)
	}
	return nil
}

// ValidatePhase validates one phase record (structured-mode CloudEvent JSON)
// against channel-phase-retracted.schema.json when its type is
// channel.phaseretracted.v0, else channel-phase.schema.json. Validation
// failures wrap a *jsonschema.ValidationError.
func (s *Set) ValidatePhase(raw []byte) error {
	doc, err := parse(raw)
	if err != nil {
		return fmt.Errorf("schemas: phase: %w", err)
	}
	sch := s.phase
	if member(doc, "type") == "channel.phaseretracted.v0" {
		sch = s.phaseRetract
	}
	if err := sch.Validate(doc); err != nil {
		return fmt.Errorf("schemas: phase record %v: %w", member(doc, "id"), err)
	}
	return nil
}

// parse decodes one JSON document the way the validator expects (numbers as
// json.Number) and rejects trailing data.
func parse(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("invalid JSON: trailing data after the document")
	}
	return doc, nil
}

// member returns obj[key] if doc is an object, else nil.
func member(doc any, key string) any {
	obj, _ := doc.(map[string]any)
	return obj[key]
}
