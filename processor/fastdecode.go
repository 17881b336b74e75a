package processor

import (
	"bytes"
	"time"
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
	return fastEvent(value, env)
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
	// Headers are not part of the value: copy the attributes into it so
	// one allocation holds every string.
	buf := make([]byte, 0, len(env.id)+len(env.source)+len(env.typ)+len(env.subject)+len(env.data))
	buf = append(append(append(append(append(buf, env.id...), env.source...), env.typ...), env.subject...), env.data...)
	o := 0
	cut := func(n int) []byte { b := buf[o : o+n]; o += n; return b }
	env.id, env.source, env.typ = cut(len(env.id)), cut(len(env.source)), cut(len(env.typ))
	env.subject, env.data = cut(len(env.subject)), cut(len(env.data))
	return fastEvent(buf, env)
}

// fastEvent applies the same rules as fromCloudEvent to an envelope whose
// spans all lie in src, declining wherever fromCloudEvent would reject.
func fastEvent(src []byte, env envelope) (Event, bool) {
	str := string(src) // the one allocation: every string is cut from it
	cut := func(b []byte) string {
		if len(b) == 0 {
			return ""
		}
		// Every span is a subslice of src reaching to its end, so its
		// capacity gives its offset.
		off := cap(src) - cap(b)
		return str[off : off+len(b)]
	}
	ev := Event{ID: cut(env.id), Source: internSource(cut(env.source)), Type: internType(cut(env.typ)), Subject: cut(env.subject)}
	name, version := splitType(ev.Type)
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
	if !isHandled {
		if p.timestamp != nil {
			if ts, err := parseTimestamp(string(p.timestamp)); err == nil {
				ev.Timestamp, ev.HasTimestamp = ts, true
			}
		}
		return ev, true
	}
	ev.Kind = kind
	if !p.hasChannel || len(p.channelID) == 0 || p.timestamp == nil {
		return Event{}, false
	}
	ts, err := parseTimestamp(string(p.timestamp))
	if err != nil {
		return Event{}, false
	}
	ev.ChannelID = cut(p.channelID)
	if env.hasSubject && ev.Subject != ev.ChannelID {
		return Event{}, false
	}
	ev.Timestamp, ev.HasTimestamp = ts, true
	ev.ConversationID = cut(p.conversationID)
	ev.InteractionID = cut(p.interactionID)
	ev.Party.Role = internRole(cut(p.role))
	ev.Party.AgentID = cut(p.agentID)
	ev.Party.UserID = cut(p.userID)
	return ev, true
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
	field := func(bit uint8, dst *[]byte) bool {
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		v, ok := s.plainString()
		*dst = v
		return ok
	}
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "conversationId":
			return field(1, &p.conversationID)
		case "interactionId":
			return field(2, &p.interactionID)
		case "channelId":
			return field(4, &p.channelID)
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
	field := func(bit uint8, dst *[]byte) bool {
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		v, ok := s.plainString()
		*dst = v
		return ok
	}
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "role":
			return field(1, &p.role)
		case "agentId":
			return field(2, &p.agentID)
		case "userId":
			return field(4, &p.userID)
		}
		if foldsTo(key, "role", "agentId", "userId") {
			return false
		}
		return s.value(3)
	})
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
			return s.b[start:j], true // capacity to the end: see fastEvent
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
