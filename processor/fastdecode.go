package processor

import (
	"bytes"
	"strings"
	"time"

	"github.com/interruptions/interruptions/state"
)

// The fast path decodes the common case — a well-formed VCC event with
// plain ASCII attributes — without reflection and with one allocation (a
// copy of the value that every string of the Event is cut from). It is an
// optimisation of Decode, not a second definition of the format: whenever
// the input is in any way unusual (escapes in a field we read, extensions,
// data_base64, duplicate or case-folded keys, anything invalid) it declines
// and Decode takes the sdk-go binding path, which stays the contract. A
// differential fuzz test holds the two paths to the same result.

// decodeFast returns the event and true, or false when the sdk-go path
// must decide.
func decodeFast(value []byte, headers []Header) (Event, bool) {
	ct, hasCT, binary := "", false, false
	for _, h := range headers {
		switch {
		case h.Key == "content-type":
			if hasCT {
				return Event{}, false
			}
			ct, hasCT = string(h.Value), true
		case len(h.Key) >= 3 && h.Key[:3] == "ce_":
			binary = true
		}
		if hasUpper(h.Key) {
			return Event{}, false
		}
	}
	if binary {
		if !hasCT || ct != "application/json" {
			return Event{}, false
		}
		return decodeFastBinary(value, headers)
	}
	if hasCT && ct != structuredContentType {
		return Event{}, false
	}
	return decodeFastStructured(value)
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// envelope holds attribute spans into the source bytes.
type envelope struct {
	id, source, typ, subject []byte
	hasSubject               bool
	data                     []byte
}

func decodeFastStructured(value []byte) (Event, bool) {
	s := scanner{b: value}
	var env envelope
	var seen uint16
	ok := s.object(func(key []byte) bool {
		bit, known := envelopeKeys[string(key)]
		if !known || seen&bit != 0 {
			return false
		}
		seen |= bit
		switch bit {
		case keySpecVersion:
			v, ok := s.plainString()
			return ok && string(v) == "1.0"
		case keyID:
			v, ok := s.plainString()
			env.id = v
			return ok && isToken(v)
		case keySource:
			v, ok := s.plainString()
			env.source = v
			return ok && isURIPath(v)
		case keyType:
			v, ok := s.plainString()
			env.typ = v
			return ok && isToken(v)
		case keySubject:
			v, ok := s.plainString()
			env.subject, env.hasSubject = v, true
			return ok && isToken(v)
		case keyTime:
			v, ok := s.plainString()
			if !ok || len(v) == 0 {
				return false
			}
			_, err := time.Parse(time.RFC3339Nano, string(v))
			return err == nil
		case keyDataContentType:
			v, ok := s.plainString()
			return ok && string(v) == "application/json"
		case keyData:
			start := s.i
			if !s.value(0) {
				return false
			}
			env.data = value[start:s.i]
			return true
		}
		return false
	})
	if !ok || !s.end() || seen&keysRequired != keysRequired {
		return Event{}, false
	}
	return fastEvent(env)
}

func decodeFastBinary(value []byte, headers []Header) (Event, bool) {
	var env envelope
	var seen uint16
	for _, h := range headers {
		if len(h.Key) < 3 || h.Key[:3] != "ce_" {
			continue
		}
		bit, known := envelopeKeys[h.Key[3:]]
		if !known || seen&bit != 0 || bit == keyData || bit == keyDataContentType {
			return Event{}, false
		}
		seen |= bit
		v := h.Value
		if !isPlain(v) {
			return Event{}, false
		}
		switch bit {
		case keySpecVersion:
			if string(v) != "1.0" {
				return Event{}, false
			}
		case keyID:
			env.id = v
		case keySource:
			env.source = v
		case keyType:
			env.typ = v
		case keySubject:
			env.subject, env.hasSubject = v, true
		case keyTime:
			if len(v) == 0 {
				return Event{}, false
			}
			if _, err := time.Parse(time.RFC3339Nano, string(v)); err != nil {
				return Event{}, false
			}
		}
	}
	if seen&keysRequired != keysRequired || !isToken(env.id) || !isURIPath(env.source) || !isToken(env.typ) ||
		(env.hasSubject && !isToken(env.subject)) {
		return Event{}, false
	}
	// The value is the data; it must be JSON the scanner accepts whole.
	s := scanner{b: value}
	s.ws()
	start := s.i
	if !s.value(0) {
		return Event{}, false
	}
	env.data = value[start:s.i]
	if !s.end() {
		return Event{}, false
	}
	return fastEvent(env)
}

// fastEvent applies the same rules as fromCloudEvent to an envelope,
// declining wherever fromCloudEvent would reject. The strings of the Event
// are cut from one allocation holding only the fields it keeps; values
// every event repeats (source, type, role) are interned instead.
func fastEvent(env envelope) (Event, bool) {
	name, version := splitType(string(env.typ))
	kind, isHandled := handled[name]
	if isHandled && !supportedVersion(version) {
		return Event{}, false
	}
	data := bytes.TrimSpace(env.data)
	if len(data) == 0 || data[0] != '{' {
		return Event{}, false
	}
	var p fastPayload
	s := scanner{b: data}
	if !p.parse(&s) || !s.end() {
		return Event{}, false
	}
	var ts int64
	hasTS := false
	if p.timestamp != nil {
		var err error
		ts, err = parseTimestamp(string(p.timestamp))
		hasTS = err == nil
	}
	if isHandled {
		if !p.hasChannel || len(p.channelID) == 0 || !hasTS ||
			(env.hasSubject && !bytes.Equal(env.subject, p.channelID)) {
			return Event{}, false
		}
	}
	var sb spanBuilder
	id, source, typ, subject := sb.add(env.id), sb.add(env.source), sb.add(env.typ), sb.add(env.subject)
	var channel, conversation, interaction, role, agent, user strRef
	if isHandled {
		channel = subject
		if !env.hasSubject {
			channel = sb.add(p.channelID)
		}
		conversation, interaction = sb.add(p.conversationID), sb.add(p.interactionID)
		role, agent, user = sb.add(p.role), sb.add(p.agentID), sb.add(p.userID)
	}
	sb.finish()
	ev := Event{ID: sb.get(id), Source: sb.get(source), Type: sb.get(typ), Subject: sb.get(subject),
		Timestamp: ts, HasTimestamp: hasTS}
	if isHandled {
		ev.Kind = kind
		ev.ChannelID, ev.ConversationID, ev.InteractionID = sb.get(channel), sb.get(conversation), sb.get(interaction)
		ev.Party = state.Party{Role: sb.get(role), AgentID: sb.get(agent), UserID: sb.get(user)}
	}
	return ev, true
}

// spanBuilder gathers byte spans into one string: one allocation for all
// the strings of an Event. Values every event repeats (source, type, role)
// are interned instead of copied.
type spanBuilder struct {
	spans [10][]byte
	n     int
	offs  [11]int
	str   string
}

// strRef is a string to be: a final value s when i < 0, else span i.
type strRef struct {
	s string
	i int
}

func (b *spanBuilder) add(v []byte) strRef {
	if len(v) == 0 {
		return strRef{i: -1}
	}
	if s, ok := interned[string(v)]; ok {
		return strRef{s: s, i: -1}
	}
	b.spans[b.n] = v
	b.n++
	return strRef{i: b.n - 1}
}

// finish builds the string; get may be called after it.
func (b *spanBuilder) finish() {
	total := 0
	for _, v := range b.spans[:b.n] {
		total += len(v)
	}
	var sb strings.Builder
	sb.Grow(total)
	for i, v := range b.spans[:b.n] {
		b.offs[i] = sb.Len()
		sb.Write(v)
	}
	b.offs[b.n] = sb.Len()
	b.str = sb.String()
}

func (b *spanBuilder) get(r strRef) string {
	if r.i < 0 {
		return r.s
	}
	return b.str[b.offs[r.i]:b.offs[r.i+1]]
}

// Attribute keys of the envelope, as bits.
const (
	keySpecVersion uint16 = 1 << iota
	keyID
	keySource
	keyType
	keySubject
	keyTime
	keyDataContentType
	keyData
	keysRequired = keySpecVersion | keyID | keySource | keyType
)

var envelopeKeys = map[string]uint16{
	"specversion": keySpecVersion, "id": keyID, "source": keySource, "type": keyType,
	"subject": keySubject, "time": keyTime, "datacontenttype": keyDataContentType, "data": keyData,
}

// fastPayload is payload's fast twin: spans of the fields the matcher
// reads. parse declines where encoding/json would do something the fast
// path does not copy: null or non-string values for our fields, escapes
// in them, duplicate keys, keys that match ours only case-insensitively.
type fastPayload struct {
	timestamp                                []byte
	hasChannel                               bool
	conversationID, interactionID, channelID []byte
	role, agentID, userID                    []byte
}

func (p *fastPayload) parse(s *scanner) bool {
	var seen uint8
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "timestamp":
			if seen&1 != 0 {
				return false
			}
			seen |= 1
			v, ok := s.plainString()
			p.timestamp = v
			return ok && v != nil
		case "channel":
			if seen&2 != 0 {
				return false
			}
			seen |= 2
			p.hasChannel = true
			return p.parseChannel(s)
		}
		if foldsTo(key, "timestamp", "channel") {
			return false
		}
		return s.value(1)
	})
}

func (p *fastPayload) parseChannel(s *scanner) bool {
	var seen uint8
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "conversationId":
			return s.field(&seen, 1, &p.conversationID)
		case "interactionId":
			return s.field(&seen, 2, &p.interactionID)
		case "channelId":
			return s.field(&seen, 4, &p.channelID)
		case "party":
			if seen&8 != 0 {
				return false
			}
			seen |= 8
			return p.parseParty(s)
		}
		if foldsTo(key, "conversationId", "interactionId", "channelId", "party") {
			return false
		}
		return s.value(2)
	})
}

func (p *fastPayload) parseParty(s *scanner) bool {
	var seen uint8
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "role":
			return s.field(&seen, 1, &p.role)
		case "agentId":
			return s.field(&seen, 2, &p.agentID)
		case "userId":
			return s.field(&seen, 4, &p.userID)
		}
		if foldsTo(key, "role", "agentId", "userId") {
			return false
		}
		return s.value(3)
	})
}

// field scans a plain string value into dst; a key seen before (its bit
// already in seen) declines, as encoding/json's last-wins would differ.
func (s *scanner) field(seen *uint8, bit uint8, dst *[]byte) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	v, ok := s.plainString()
	*dst = v
	return ok
}

// foldsTo reports whether key equals one of names ignoring case, as
// encoding/json matches keys.
func foldsTo(key []byte, names ...string) bool {
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			return true
		}
	}
	return false
}

// isPlain reports printable ASCII without quote or backslash: a string the
// fast path can take as is.
func isPlain(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// isToken: a non-empty attribute without spaces (the sdk trims spaces
// before its non-empty checks; the fast path leaves such input to it).
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// isURIPath: a non-empty source made only of characters that are valid
// anywhere in a URI reference path, so url.Parse accepts it as the sdk does.
func isURIPath(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '/' || c == '.' || c == '_' || c == '~' || c == '-':
		default:
			return false
		}
	}
	return true
}

// Interned strings: the values every event repeats are shared, not copied,
// so state that keeps them holds no part of the input.
var interned = func() map[string]string {
	m := map[string]string{}
	for _, s := range []string{"/channel", "/agent", "external", "agent", "monitor", "voicemail"} {
		m[s] = s
	}
	for name := range handled {
		for _, v := range []string{".v0", ".v1"} {
			m[name+v] = name + v
		}
	}
	return m
}()

func intern(s string) string {
	if v, ok := interned[s]; ok {
		return v
	}
	return s
}

func internSource(s string) string { return intern(s) }
func internType(s string) string   { return intern(s) }
func internRole(s string) string   { return intern(s) }

// scanner is a strict JSON scanner over a byte slice. It validates what it
// skips (RFC 8259 grammar), so whatever it accepts both encoding/json and
// the sdk's parser accept too.
type scanner struct {
	b []byte
	i int
}

const maxDepth = 32

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// end reports whether only whitespace remains.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// object scans an object, calling field for each key with the scanner at
// the value; field must consume the value and return false to decline.
func (s *scanner) object(field func(key []byte) bool) bool {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return false
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true
	}
	for {
		s.ws()
		key, ok := s.plainString()
		if !ok {
			return false
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.ws()
		if !field(key) {
			return false
		}
		s.ws()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// plainString scans a string without escapes and with printable ASCII
// only, returning its contents.
func (s *scanner) plainString() ([]byte, bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		c := s.b[j]
		if c == '"' {
			s.i = j + 1
			return s.b[start:j], true
		}
		if c < 0x20 || c > 0x7e || c == '\\' {
			return nil, false
		}
	}
	return nil, false
}

// value skips any JSON value, validating it.
func (s *scanner) value(depth int) bool {
	if depth > maxDepth {
		return false
	}
	s.ws()
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		return s.anyString()
	case c == '{':
		return s.object(func([]byte) bool { return s.value(depth + 1) })
	case c == '[':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return true
		}
		for {
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.i >= len(s.b) {
				return false
			}
			if s.b[s.i] == ']' {
				s.i++
				return true
			}
			if s.b[s.i] != ',' {
				return false
			}
			s.i++
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.number()
	}
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// anyString skips a string with escapes; it declines non-ASCII bytes, whose
// UTF-8 validity the two JSON parsers treat differently.
func (s *scanner) anyString() bool {
	s.i++
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return true
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return false
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				s.i += 6
			default:
				return false
			}
		case c < 0x20 || c > 0x7e:
			return false
		default:
			s.i++
		}
	}
	return false
}

// number skips a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	digits := func() int {
		n := 0
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	if s.i >= len(s.b) {
		return false
	}
	if s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}
