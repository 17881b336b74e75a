package codec

import (
	"bytes"
	"strings"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
)

// The fast path decodes the common case — a well-formed VCC event with
// plain ASCII attributes — without reflection and with one allocation (a
// copy of the value that every string of the match.Event is cut from). It is an
// optimisation of Decode, not a second definition of the format: whenever
// the input is in any way unusual (escapes in a field we read, extensions,
// data_base64, duplicate or case-folded keys, anything invalid) it declines
// and Decode takes the sdk-go binding path, which stays the contract. A
// differential fuzz test holds the two paths to the same result.
//
// It reads each byte once: headers in one pass, and the data object as it
// goes (in structured mode, inside the envelope), keeping spans of the
// fields the matcher reads and validating, without keeping, everything
// else.

// DecodeFast is Decode's fast path alone: the event and true, or false
// when the sdk-go binding must decide (internal/cekafka's differential
// tests hold the two paths equal).
func DecodeFast(value []byte, headers []Header) (match.Event, bool) {
	return decodeFast(value, headers, false)
}

// DecodeFastPhased is DecodePhased's fast path alone.
func DecodeFastPhased(value []byte, headers []Header) (match.Event, bool) {
	return decodeFast(value, headers, true)
}

func decodeFast(value []byte, headers []Header, phases bool) (match.Event, bool) {
	// In either mode the value is a JSON object. Its first byte is read
	// before the headers, so that a cache miss on the value overlaps
	// those on the headers instead of following them.
	if len(value) == 0 || value[0] != '{' && value[0] != ' ' && value[0] != '\t' && value[0] != '\n' && value[0] != '\r' {
		return match.Event{}, false
	}
	var env envelope
	var seen uint16
	var ct []byte
	hasCT := false
	for i := range headers {
		h := &headers[i]
		var bit uint16
		switch h.Key {
		case "content-type":
			if hasCT {
				return match.Event{}, false
			}
			ct, hasCT = h.Value, true
			continue
		case "ce_specversion":
			bit = keySpecVersion
		case "ce_id":
			bit = keyID
		case "ce_source":
			bit = keySource
		case "ce_type":
			bit = keyType
		case "ce_subject":
			bit = keySubject
		case "ce_time":
			bit = keyTime
		default:
			// Another ce_ attribute (an extension; data and
			// datacontenttype are no headers) or a key the binding
			// would fold to lower case: the binding decides.
			if strings.HasPrefix(h.Key, "ce_") || hasUpper(h.Key) {
				return match.Event{}, false
			}
			continue
		}
		if seen&bit != 0 {
			return match.Event{}, false
		}
		seen |= bit
		v := h.Value
		switch bit {
		case keySpecVersion:
			if string(v) != "1.0" {
				return match.Event{}, false
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
			if env.time, env.hasTime = attrTime(v); !env.hasTime {
				return match.Event{}, false
			}
		}
	}
	if seen == 0 {
		// No ce_* header: structured mode, if the content type allows.
		if hasCT && string(ct) != structuredContentType {
			return match.Event{}, false
		}
		return decodeFastStructured(value, phases)
	}
	if !hasCT || string(ct) != "application/json" {
		return match.Event{}, false
	}
	return decodeFastBinary(value, &env, seen, phases)
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
	// time is the time attribute as attrTime reads it.
	time    int64
	hasTime bool
}

// decodeFastBinary finishes a binary-mode record whose ce_* headers are in
// env and seen: the value is the data, and must be an object the scanner
// accepts whole.
func decodeFastBinary(value []byte, env *envelope, seen uint16, phases bool) (match.Event, bool) {
	if seen&keysRequired != keysRequired || !isToken(env.id) || !isURIPath(env.source) || !isToken(env.typ) ||
		(env.hasSubject && !isToken(env.subject)) {
		return match.Event{}, false
	}
	var p fastPayload
	s := scanner{b: value, maxDepth: fastMaxDepth, ascii: true}
	if !p.parse(&s) || !s.end() {
		return match.Event{}, false
	}
	return fastEvent(env, &p, phases)
}

func decodeFastStructured(value []byte, phases bool) (match.Event, bool) {
	s := scanner{b: value, maxDepth: fastMaxDepth, ascii: true}
	var env envelope
	var p fastPayload
	var seen uint16
	more, ok := s.open()
	for ok && more {
		var key []byte
		if key, ok = s.key(); !ok {
			break
		}
		var bit uint16
		switch string(key) {
		case "specversion":
			bit = keySpecVersion
		case "id":
			bit = keyID
		case "source":
			bit = keySource
		case "type":
			bit = keyType
		case "subject":
			bit = keySubject
		case "time":
			bit = keyTime
		case "datacontenttype":
			bit = keyDataContentType
		case "data":
			bit = keyData
		default:
			return match.Event{}, false
		}
		if seen&bit != 0 {
			return match.Event{}, false
		}
		seen |= bit
		if bit == keyData {
			// fromCloudEvent wants an object for every type it
			// accepts data of; anything else the binding decides.
			ok = p.parse(&s)
		} else {
			var v []byte
			if v, ok = s.plainString(); !ok {
				break
			}
			switch bit {
			case keySpecVersion:
				ok = string(v) == "1.0"
			case keyID:
				env.id, ok = v, isToken(v)
			case keySource:
				env.source, ok = v, isURIPath(v)
			case keyType:
				env.typ, ok = v, isToken(v)
			case keySubject:
				env.subject, env.hasSubject, ok = v, true, isToken(v)
			case keyTime:
				env.time, ok = attrTime(v)
				env.hasTime = ok
			case keyDataContentType:
				ok = string(v) == "application/json"
			}
		}
		if !ok {
			break
		}
		more, ok = s.next()
	}
	if !ok || !s.end() || seen&(keysRequired|keyData) != keysRequired|keyData {
		return match.Event{}, false
	}
	return fastEvent(&env, &p, phases)
}

// fastEvent applies the same rules as fromCloudEvent to an envelope and
// its parsed data, declining wherever fromCloudEvent would reject. The
// strings of the match.Event are cut from one allocation holding only the fields
// it keeps; values every event repeats (source, type, role) are constants
// instead.
func fastEvent(env *envelope, p *fastPayload, phases bool) (match.Event, bool) {
	typ, kind, isHandled, phased, ok := classifyType(env.typ, phases)
	if !ok {
		return match.Event{}, false
	}
	strict := isHandled || phased
	var ts int64
	hasTS := false
	if p.hasTimestamp {
		ts, hasTS = fastTimestamp(p.timestamp)
	}
	if strict {
		// A channelId with a leading or trailing space, or too long, is
		// rejected (ValidChannelID); the scanner takes no other white
		// space or control character.
		if !p.hasChannel || len(p.channelID) == 0 || len(p.channelID) > MaxChannelIDBytes || !hasTS ||
			p.channelID[0] == ' ' || p.channelID[len(p.channelID)-1] == ' ' ||
			(env.hasSubject && !bytes.Equal(env.subject, p.channelID)) {
			return match.Event{}, false
		}
	} else if p.ignored != 0 {
		// The binding reads an ignored type's data leniently as well;
		// such input is rare enough to leave to it.
		return match.Event{}, false
	}
	var sb spanBuilder
	id, subject := sb.add(env.id), sb.add(env.subject)
	source := sb.addConst(env.source, vcc.Intern(env.source))
	typRef := strRef{s: typ, i: -1}
	if typ == "" {
		typRef = sb.add(env.typ)
	}
	var channel, conversation, interaction, role, agent, user strRef
	if strict {
		channel = subject
		if !env.hasSubject {
			channel = sb.add(p.channelID)
		}
		conversation, interaction = sb.add(p.conversationID), sb.add(p.interactionID)
		role = sb.addConst(p.role, vcc.Intern(p.role))
		agent, user = sb.add(p.agentID), sb.add(p.userID)
	}
	sb.finish()
	ev := match.Event{ID: sb.get(id), Source: sb.get(source), Type: sb.get(typRef), Subject: sb.get(subject),
		Timestamp: ts, HasTimestamp: hasTS, Time: env.time, HasTime: env.hasTime}
	if strict {
		if isHandled {
			ev.Kind = kind
		}
		ev.Phased = phased
		ev.ChannelID, ev.ConversationID, ev.InteractionID = sb.get(channel), sb.get(conversation), sb.get(interaction)
		ev.Party = vcc.Party{Role: sb.get(role), AgentID: sb.get(agent), UserID: sb.get(user)}
		ev.IgnoredIdentity = p.ignored
	}
	return ev, true
}

// classifyType returns what fromCloudEvent makes of a type: its kind,
// whether the matcher handles it and, when phases, whether it is a phase
// type, with ok false for a handled (or phase) type of an unsupported
// version (which it rejects). Known VCC types come back as a constant
// string; for others typ is empty.
func classifyType(t []byte, phases bool) (typ string, kind vcc.Kind, isHandled, phased, ok bool) {
	if typ, kind, isHandled, phased = vcc.LookupType(t); typ != "" {
		return typ, kind, isHandled, phased && phases, true
	}
	if phases {
		kind, isHandled, phased, ok = vcc.ClassifyPhased(string(t))
		return "", kind, isHandled, phased, ok
	}
	kind, isHandled, ok = vcc.Classify(string(t))
	return "", kind, isHandled, false, ok
}

// spanBuilder gathers byte spans into one string: one allocation for all
// the strings of a match.Event.
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
	b.spans[b.n] = v
	b.n++
	return strRef{i: b.n - 1}
}

// addConst is add for a value that is the constant c, when c is not empty.
func (b *spanBuilder) addConst(v []byte, c string) strRef {
	if c != "" {
		return strRef{s: c, i: -1}
	}
	return b.add(v)
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

// fastPayload is payload's fast twin: spans of the fields the matcher
// reads. parse declines where encoding/json would do something the fast
// path does not copy: null or non-string values for timestamp and
// channelId, escapes in our fields, duplicate keys, keys that match ours
// only case-insensitively. Identity fields are lenient as payload's are:
// null is absent, another type (party: not an object) absent with its bit
// in ignored. It reads the channel of every type: for an ignored type a
// channel encoding/json cannot decode into payload costs the event its
// timestamp.
type fastPayload struct {
	timestamp                                []byte
	hasTimestamp, hasChannel                 bool
	conversationID, interactionID, channelID []byte
	role, agentID, userID                    []byte
	// ignored holds the IgnoredIdentity bits.
	ignored uint8
}

// parse reads the data object at s.
func (p *fastPayload) parse(s *scanner) bool {
	var seen uint8
	more, ok := s.open()
	for ok && more {
		var key []byte
		if key, ok = s.key(); !ok {
			break
		}
		switch string(key) {
		case "timestamp":
			ok = s.field(&seen, 1, &p.timestamp)
			p.hasTimestamp = true
		case "channel":
			if seen&2 != 0 {
				return false
			}
			seen |= 2
			p.hasChannel = true
			ok = p.parseChannel(s)
		default:
			ok = !foldsTo(key, "timestamp", "channel") && s.value(1)
		}
		if !ok {
			break
		}
		more, ok = s.next()
	}
	return ok
}

func (p *fastPayload) parseChannel(s *scanner) bool {
	var seen uint8
	more, ok := s.open()
	for ok && more {
		var key []byte
		if key, ok = s.key(); !ok {
			break
		}
		switch string(key) {
		case "conversationId":
			ok = p.idField(s, &seen, 1, &p.conversationID, IgnoredConversationID, 2)
		case "interactionId":
			ok = p.idField(s, &seen, 2, &p.interactionID, IgnoredInteractionID, 2)
		case "channelId":
			ok = s.field(&seen, 4, &p.channelID)
		case "party":
			if seen&8 != 0 {
				return false
			}
			seen |= 8
			switch s.ws(); {
			case s.i < len(s.b) && s.b[s.i] == '{':
				ok = p.parseParty(s)
			case s.i < len(s.b) && s.b[s.i] == 'n':
				ok = s.literal("null")
			default:
				p.ignored |= IgnoredParty
				ok = s.value(2)
			}
		default:
			ok = !foldsTo(key, "conversationId", "interactionId", "channelId", "party") && s.value(2)
		}
		if !ok {
			break
		}
		more, ok = s.next()
	}
	return ok
}

func (p *fastPayload) parseParty(s *scanner) bool {
	var seen uint8
	more, ok := s.open()
	for ok && more {
		var key []byte
		if key, ok = s.key(); !ok {
			break
		}
		switch string(key) {
		case "role":
			ok = p.idField(s, &seen, 1, &p.role, IgnoredRole, 3)
		case "agentId":
			ok = p.idField(s, &seen, 2, &p.agentID, IgnoredAgentID, 3)
		case "userId":
			ok = p.idField(s, &seen, 4, &p.userID, IgnoredUserID, 3)
		default:
			ok = !foldsTo(key, "role", "agentId", "userId") && s.value(3)
		}
		if !ok {
			break
		}
		more, ok = s.next()
	}
	return ok
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

// idField is field for an identity field (idString): a plain string is
// its value, null leaves it absent, and any other value, validated in
// depth containers, leaves it absent with ignoredBit set in p.ignored.
func (p *fastPayload) idField(s *scanner, seen *uint8, bit uint8, dst *[]byte, ignoredBit uint8, depth int) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '"' {
		return s.field(seen, bit, dst)
	}
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	if s.i < len(s.b) && s.b[s.i] == 'n' {
		return s.literal("null")
	}
	p.ignored |= ignoredBit
	return s.value(depth)
}

// foldsTo reports whether key equals one of names ignoring ASCII case, as
// encoding/json matches keys (the scanner declines non-ASCII keys, whose
// folding has special cases).
func foldsTo(key []byte, names ...string) bool {
	for _, n := range names {
		if len(key) == len(n) && bytes.EqualFold(key, []byte(n)) {
			return true
		}
	}
	return false
}

// isPlain reports printable ASCII without quote or backslash: a string the
// fast path can take as is.
func isPlain(b []byte) bool {
	for _, c := range b {
		if !plainByte[c] {
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
		if c == ' ' || !plainByte[c] {
			return false
		}
	}
	return true
}

// isURIPath: a non-empty source made only of characters that are valid
// anywhere in a URI reference path, so url.Parse accepts it as the sdk does.
// A leading "//" starts an authority, not a path: the sdk reads "//" as an
// empty source, so those are left to it.
func isURIPath(b []byte) bool {
	if len(b) == 0 || len(b) >= 2 && b[0] == '/' && b[1] == '/' {
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

// plainByte marks the bytes a string can hold as is: printable ASCII but
// quote and backslash. Read only.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c <= 0x7e; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()
