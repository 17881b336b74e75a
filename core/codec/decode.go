package codec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
)

// Reason says why an input went to the dead-letter topic. It is written to
// the DLQ record's headers and used as a metric label, so it is a short,
// stable word.
type Reason string

// The reasons an input is rejected.
const (
	ReasonNotCloudEvent      Reason = "not-cloudevent"     // neither mode decodes: bad JSON, no attributes
	ReasonInvalidCloudEvent  Reason = "invalid-cloudevent" // required attribute missing or invalid
	ReasonSpecVersion        Reason = "unsupported-specversion"
	ReasonUnsupportedVersion Reason = "unsupported-version" // handled type with a version other than v0, v1
	ReasonDataNotObject      Reason = "data-not-object"
	ReasonInvalidData        Reason = "invalid-data" // data is an object but its fields have wrong types
	ReasonMissingChannelID   Reason = "missing-channel-id"
	// ReasonInvalidChannelID: data.channel.channelId has leading or
	// trailing white space or holds a control character (see Decode).
	ReasonInvalidChannelID Reason = "invalid-channel-id"
	ReasonInvalidTimestamp Reason = "invalid-timestamp"
	ReasonSubjectMismatch  Reason = "subject-mismatch"
	// ReasonTimestampInFuture: data.timestamp is later than the event's
	// time attribute or its Kafka record timestamp by more than
	// --max-clock-skew (see CheckTime).
	ReasonTimestampInFuture Reason = "timestamp-in-future"
)

// DecodeError is the one rejection type: every input the processor or the
// bridge refuses carries one, whatever refused it — the decoder (the reasons
// above), the engine (ReasonTooLate, see TooLateError) or a recovered panic
// while processing the record (ReasonProcessingPanic). The input
// goes to the dead-letter topic with Reason and Error() in its headers, and
// Reason is the dead-letter metric's label.
type DecodeError struct {
	Reason Reason
	Err    error
}

// Error returns the reason and the underlying error.
func (e *DecodeError) Error() string { return string(e.Reason) + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *DecodeError) Unwrap() error { return e.Err }

func reject(r Reason, format string, args ...any) *DecodeError {
	return &DecodeError{Reason: r, Err: fmt.Errorf(format, args...)}
}

// Header is one record header: a key and its value. It has the layout of
// franz-go's kgo.RecordHeader, which internal/cekafka relies on to pass a
// record's headers without copying them.
type Header struct {
	Key   string
	Value []byte
}

// Binding wraps a record value, its content type and its headers (keys in
// lower case) as a message of an sdk-go protocol binding: the binding
// Decode falls back to when the fast path declines. The Kafka doors pass
// internal/cekafka.Binding, the sdk-go Kafka binding's message.
type Binding func(value []byte, contentType string, headers map[string][]byte) binding.Message

// structuredContentType is the media type of a structured-mode CloudEvent in
// JSON; a record with no content type and no ce_specversion header is read
// as one.
const structuredContentType = "application/cloudevents+json"

// Decode reads one record value and its headers as a CloudEvent (binary or
// structured content mode) through the sdk-go binding b, then decodes the
// data payload into the typed fields the matcher needs. Every failure is a
// *DecodeError. A strict fast path (fastdecode.go) decodes the common case
// without the binding and declines the rest.
//
// Timing and key fields are strict: a handled event whose data.timestamp or
// data.channel.channelId is missing or of the wrong type is rejected.
// Identity fields are lenient: a data.channel.party that is not an object,
// and a party.role, party.agentId, party.userId, data.channel.conversationId
// or data.channel.interactionId that is not a string, is read as absent and
// its bit set in match.Event.IgnoredIdentity (IgnoredParty, ...); the event
// is placed. A JSON null is absent, as encoding/json reads it, and not
// counted.
//
// Subject and channelId: every output record's subject is its
// data.channelId byte for byte. The sdk trims white space from a subject it
// sets (event.SetSubject: the record encoder, and the binary-mode reader)
// while a channelId is kept verbatim, so a handled event whose channelId
// has leading or trailing white space (as strings.TrimSpace sees it), any
// control character (unicode.IsControl) or more than MaxChannelIDBytes
// bytes is rejected as invalid-channel-id;
// a subject attribute, as the sdk read it, must equal the channelId
// (subject-mismatch).
func Decode(value []byte, headers []Header, b Binding) (match.Event, error) {
	if ev, ok := decodeFast(value, headers, false); ok {
		return ev, nil
	}
	return decodeVia(value, headers, b, false)
}

// DecodePhased is Decode for a door whose phase matchers are on: every
// channel type (vcc.PhaseNames) is read as strictly as a handled one
// (channelId, timestamp, identity, version) and marked match.Event.Phased;
// Kind stays vcc.Ignored for those the interruption matcher does not use.
func DecodePhased(value []byte, headers []Header, b Binding) (match.Event, error) {
	if ev, ok := decodeFast(value, headers, true); ok {
		return ev, nil
	}
	return decodeVia(value, headers, b, true)
}

// DecodeBinding is Decode through the sdk-go binding alone: the reference
// the fast path (fastdecode.go) must agree with.
func DecodeBinding(value []byte, headers []Header, b Binding) (match.Event, error) {
	return decodeVia(value, headers, b, false)
}

// DecodeBindingPhased is DecodePhased through the sdk-go binding alone.
func DecodeBindingPhased(value []byte, headers []Header, b Binding) (match.Event, error) {
	return decodeVia(value, headers, b, true)
}

func decodeVia(value []byte, headers []Header, b Binding, phases bool) (match.Event, error) {
	msg := BindingMessage(value, headers, b)
	ce, err := ToEvent(msg)
	if err != nil && msg.ReadEncoding() == binding.EncodingStructured {
		// The sdk rejects the lower-case t and z RFC 3339 allows in time
		// (see attrTime); with them in upper case it may accept the event.
		if fixed, ok := upperTimeLetters(value); ok {
			if ce2, err2 := ToEvent(BindingMessage(fixed, headers, b)); err2 == nil {
				ce, err = ce2, nil
			}
		}
	}
	if err != nil {
		return match.Event{}, reject(ReasonNotCloudEvent, "read cloudevent (%s mode): %w", encodingName(msg.ReadEncoding()), err)
	}
	return fromCloudEvent(ce, phases)
}

// ToEvent reads msg with the sdk-go binding's default reader. See Guard.
func ToEvent(msg binding.Message) (*event.Event, error) {
	return Guard(func() (*event.Event, error) { return binding.ToEvent(context.Background(), msg) })
}

// Guard runs read, an sdk-go read of one event, with the sdk's panics
// turned into errors: the sdk panics on some malformed input (a structured
// event whose data_base64 is a one-character JSON value such as 1 slices
// out of range); that is bad input, not a bug of ours, so the panic becomes
// an error and the input a dead letter. The decoder and the bridge both
// read through it.
func Guard(read func() (*event.Event, error)) (ce *event.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			ce, err = nil, fmt.Errorf("cloudevents sdk panicked: %v", r)
		}
	}()
	return read()
}

// BindingMessage wraps a record for the sdk-go binding b, as the Kafka
// binding reads headers: keys case-insensitive, a time attribute with the
// lower-case letters RFC 3339 allows upper-cased (see attrTime), and a
// record without content type and without ce_specversion read as a
// structured event.
func BindingMessage(value []byte, headers []Header, b Binding) binding.Message {
	var contentType string
	hs := make(map[string][]byte, len(headers))
	for _, h := range headers {
		k := strings.ToLower(h.Key)
		hs[k] = h.Value
		if k == "ce_time" {
			if u, ok := upperRFC3339Letters(h.Value); ok {
				hs[k] = u // see attrTime
			}
		}
		if k == "content-type" {
			contentType = string(h.Value)
		}
	}
	if contentType == "" && hs["ce_specversion"] == nil {
		contentType = structuredContentType
	}
	return b(value, contentType, hs)
}

func encodingName(e binding.Encoding) string {
	switch e {
	case binding.EncodingBinary:
		return "binary"
	case binding.EncodingStructured:
		return "structured"
	default:
		return "unknown"
	}
}

// payload is the part of data the matcher reads. Unknown fields are
// ignored; identity fields are lenient (idString, idParty).
type payload struct {
	Timestamp *string `json:"timestamp"`
	Channel   *struct {
		ConversationID idString `json:"conversationId"`
		InteractionID  idString `json:"interactionId"`
		ChannelID      string   `json:"channelId"`
		Party          idParty  `json:"party"`
	} `json:"channel"`
}

// The bits of match.Event.IgnoredIdentity: identity fields read as absent
// because of their JSON type.
const (
	IgnoredParty uint8 = 1 << iota
	IgnoredRole
	IgnoredAgentID
	IgnoredUserID
	IgnoredConversationID
	IgnoredInteractionID
)

// IgnoredFieldNames names the bits of match.Event.IgnoredIdentity, lowest
// bit first, as the JSON fields are named: the identity metric's labels.
var IgnoredFieldNames = [...]string{"party", "role", "agentId", "userId", "conversationId", "interactionId"}

// idString is a lenient identity string: a JSON string is its value; null
// leaves it as it was (as encoding/json does for a string); any other type
// makes it absent and wrong.
type idString struct {
	s     string
	wrong bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *idString) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case 'n':
		return nil
	case '"':
		f.wrong = false
		return json.Unmarshal(b, &f.s)
	}
	*f = idString{wrong: true}
	return nil
}

// idParty is a lenient party: an object is read (merged into what an
// earlier duplicate key read, as encoding/json does for a struct); null
// leaves it as it was; any other type makes it absent and wrong.
type idParty struct {
	Role    idString `json:"role"`
	AgentID idString `json:"agentId"`
	UserID  idString `json:"userId"`
	wrong   bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *idParty) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case 'n':
		return nil
	case '{':
		p.wrong = false
		type fields idParty // without the method
		return json.Unmarshal(b, (*fields)(p))
	}
	*p = idParty{wrong: true}
	return nil
}

// ignoredBits returns the IgnoredIdentity bits of a decoded channel.
func ignoredBits(party *idParty, conversation, interaction *idString) uint8 {
	var bits uint8
	for _, f := range [...]struct {
		wrong bool
		bit   uint8
	}{
		{party.wrong, IgnoredParty}, {party.Role.wrong, IgnoredRole}, {party.AgentID.wrong, IgnoredAgentID},
		{party.UserID.wrong, IgnoredUserID}, {conversation.wrong, IgnoredConversationID}, {interaction.wrong, IgnoredInteractionID},
	} {
		if f.wrong {
			bits |= f.bit
		}
	}
	return bits
}

// MaxChannelIDBytes is the longest channelId accepted (VCC's are GUIDs,
// 36 bytes): the channelId is every record's key, the changelog's
// included, and a bounded key lets the runtime size changelog values to
// the topic's max.message.bytes without assuming.
const MaxChannelIDBytes = 255

// ValidChannelID reports whether a channelId can be a record's subject and
// key as is: at most MaxChannelIDBytes bytes, no leading or trailing white
// space (which event.SetSubject trims) and no control character. The
// ingest bridge asks it too, so that what it takes the processor does not
// reject for its key.
func ValidChannelID(id string) bool {
	if len(id) > MaxChannelIDBytes || id != strings.TrimSpace(id) {
		return false
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func fromCloudEvent(ce *event.Event, phases bool) (match.Event, error) {
	if v := ce.SpecVersion(); v != event.CloudEventsVersionV1 {
		return match.Event{}, reject(ReasonSpecVersion, "specversion %q, want %q", v, event.CloudEventsVersionV1)
	}
	if err := ce.Validate(); err != nil {
		return match.Event{}, reject(ReasonInvalidCloudEvent, "validate: %w", err)
	}
	ev := match.Event{ID: ce.ID(), Source: ce.Source(), Type: ce.Type(), Subject: ce.Subject()}
	if ec, ok := ce.Context.(*event.EventContextV1); ok && ec.Time != nil {
		ev.Time, ev.HasTime = timeNanos(ec.Time.Time), true
	}
	var kind vcc.Kind
	var isHandled, phased, ok bool
	if phases {
		kind, isHandled, phased, ok = vcc.ClassifyPhased(ev.Type)
	} else {
		kind, isHandled, ok = vcc.Classify(ev.Type)
	}
	if !ok {
		_, version := vcc.SplitType(ev.Type)
		return match.Event{}, reject(ReasonUnsupportedVersion, "type %q: version %q is not %s", ev.Type, version, strings.Join(vcc.Versions[:], " or "))
	}
	data := bytes.TrimSpace(ce.Data())
	if !isHandled && !phased {
		// Ignored events only lend their timestamp to stream time, when
		// they carry a readable one; they are never rejected for data.
		var p payload
		if len(data) > 0 && data[0] == '{' && json.Unmarshal(data, &p) == nil && p.Timestamp != nil {
			if ts, err := parseTimestamp(*p.Timestamp); err == nil {
				ev.Timestamp, ev.HasTimestamp = ts, true
			}
		}
		return ev, nil
	}
	if isHandled {
		ev.Kind = kind
	}
	ev.Phased = phased
	if len(data) == 0 || data[0] != '{' {
		return match.Event{}, reject(ReasonDataNotObject, "type %q: data is not a JSON object", ev.Type)
	}
	var p payload
	if err := json.Unmarshal(data, &p); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return match.Event{}, reject(ReasonDataNotObject, "type %q: data is not valid JSON: %w", ev.Type, err)
		}
		return match.Event{}, reject(ReasonInvalidData, "type %q: decode data: %w", ev.Type, err)
	}
	if p.Channel == nil || p.Channel.ChannelID == "" {
		return match.Event{}, reject(ReasonMissingChannelID, "type %q: data.channel.channelId is missing or empty", ev.Type)
	}
	if !ValidChannelID(p.Channel.ChannelID) {
		return match.Event{}, reject(ReasonInvalidChannelID, "type %q: data.channel.channelId %q has leading or trailing white space or a control character, or is longer than %d bytes",
			ev.Type, p.Channel.ChannelID, MaxChannelIDBytes)
	}
	if p.Timestamp == nil {
		return match.Event{}, reject(ReasonInvalidTimestamp, "type %q: data.timestamp is missing", ev.Type)
	}
	ts, err := parseTimestamp(*p.Timestamp)
	if err != nil {
		return match.Event{}, reject(ReasonInvalidTimestamp, "type %q: data.timestamp: %w", ev.Type, err)
	}
	ch := p.Channel
	if s := ce.Subject(); s != "" && s != ch.ChannelID {
		return match.Event{}, reject(ReasonSubjectMismatch, "subject %q differs from data.channel.channelId %q", s, ch.ChannelID)
	}
	ev.Timestamp, ev.HasTimestamp = ts, true
	ev.ChannelID = ch.ChannelID
	ev.ConversationID = ch.ConversationID.s
	ev.InteractionID = ch.InteractionID.s
	ev.Party.Role = ch.Party.Role.s
	ev.Party.AgentID = ch.Party.AgentID.s
	ev.Party.UserID = ch.Party.UserID.s
	ev.IgnoredIdentity = ignoredBits(&ch.Party, &ch.ConversationID, &ch.InteractionID)
	return ev, nil
}
