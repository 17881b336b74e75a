package codec

import (
	"errors"
	"fmt"
)

// scanner is the one JSON scanner of the project: a strict, allocation-free
// recursive-descent reader over a byte slice, validating what it skips
// (RFC 8259 grammar, as encoding/json.Valid decides it). The decoder's fast
// path reads the fields it needs with it (open, key, next, plainString) and
// skips the rest with value; CheckJSONObject, the bridge's validity pass,
// runs value over a whole body.
//
// On failure a method returns false and leaves i at the offending byte and
// what saying where it was (for CheckJSONObject's error; the fast path only
// declines).
type scanner struct {
	b []byte
	i int
	// maxDepth is how many containers may nest, the outermost counted.
	maxDepth int
	// ascii: strings may hold printable ASCII only; any other byte fails
	// (the fast path declines it: the sdk's and encoding/json's readers
	// treat UTF-8 differently).
	ascii bool
	// what says where a scan failed; deep that it failed on nesting.
	what string
	deep bool
}

// fastMaxDepth is the fast path's nesting limit: the data object and 32
// levels inside it. Deeper data is left to the binding.
const fastMaxDepth = 33

// MaxJSONDepth is encoding/json's nesting limit, which CheckJSONObject
// keeps so that it refuses the same bodies.
const MaxJSONDepth = 10000

// CheckJSONObject reports whether b is one valid JSON object (RFC 8259, as
// encoding/json.Valid decides it, nesting included), with nothing but
// white space around it. The sdk's JSON event reader is lenient (it takes
// `{"":}`, and anything after the object); this single allocation-free
// pass makes the bridge refuse exactly what the binding refuses, at a
// fraction of encoding/json's validation cost.
func CheckJSONObject(b []byte) error {
	s := scanner{b: b, maxDepth: MaxJSONDepth}
	s.ws()
	if s.i == len(b) || b[s.i] != '{' {
		return errors.New("body is not a JSON object")
	}
	if !s.value(0) {
		if s.deep {
			return errors.New("JSON nested too deeply")
		}
		if s.i >= len(s.b) {
			return fmt.Errorf("unexpected end of JSON input (%s)", s.what)
		}
		return fmt.Errorf("invalid character %q at byte %d (%s)", s.b[s.i], s.i, s.what)
	}
	if s.ws(); s.i != len(b) {
		return fmt.Errorf("invalid character %q after the JSON object at byte %d", b[s.i], s.i)
	}
	return nil
}

// fail records where a scan failed and returns false.
func (s *scanner) fail(what string) bool {
	s.what = what
	return false
}

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

// open scans the start of an object; members is false for an empty one,
// which open consumes whole. Members are read with key, the value, and
// next:
//
//	more, ok := s.open()
//	for ok && more {
//		key, ok = s.key() ... scan the value ...
//		more, ok = s.next()
//	}
func (s *scanner) open() (members, ok bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return false, false
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return false, true
	}
	return true, true
}

// key scans a member's key (a plain string) and its colon.
func (s *scanner) key() ([]byte, bool) {
	k, ok := s.plainString()
	if !ok {
		return nil, false
	}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return nil, false
	}
	s.i++
	return k, true
}

// next scans what follows a member: a comma (more is true) or the end of
// the object.
func (s *scanner) next() (more, ok bool) {
	s.ws()
	if s.i >= len(s.b) {
		return false, false
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		return true, true
	case '}':
		s.i++
		return false, true
	}
	return false, false
}

// plainString scans a string without escapes and with printable ASCII
// only, returning its contents.
func (s *scanner) plainString() ([]byte, bool) {
	s.ws()
	b, i := s.b, s.i
	if i >= len(b) || b[i] != '"' {
		return nil, false
	}
	i++
	start := i
	for i < len(b) && plainByte[b[i]] {
		i++
	}
	if i >= len(b) || b[i] != '"' {
		return nil, false
	}
	s.i = i + 1
	return b[start:i], true
}

// value scans any JSON value (white space skipped first) in depth
// containers, validating it.
func (s *scanner) value(depth int) bool {
	s.ws()
	if s.i == len(s.b) {
		return s.fail("looking for a value")
	}
	switch c := s.b[s.i]; {
	case c == '{':
		if depth++; depth > s.maxDepth {
			s.deep = true
			return false
		}
		s.i++
		if s.ws(); s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			return true
		}
		for {
			if s.ws(); s.i == len(s.b) || s.b[s.i] != '"' {
				return s.fail("looking for an object key")
			}
			if !s.str() {
				return false
			}
			if s.ws(); s.i == len(s.b) || s.b[s.i] != ':' {
				return s.fail("after an object key")
			}
			s.i++
			if !s.value(depth) {
				return false
			}
			if s.ws(); s.i == len(s.b) {
				return s.fail("after an object value")
			}
			switch s.b[s.i] {
			case ',':
				s.i++
			case '}':
				s.i++
				return true
			default:
				return s.fail("after an object value")
			}
		}
	case c == '[':
		if depth++; depth > s.maxDepth {
			s.deep = true
			return false
		}
		s.i++
		if s.ws(); s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return true
		}
		for {
			if !s.value(depth) {
				return false
			}
			if s.ws(); s.i == len(s.b) {
				return s.fail("after an array element")
			}
			switch s.b[s.i] {
			case ',':
				s.i++
			case ']':
				s.i++
				return true
			default:
				return s.fail("after an array element")
			}
		}
	case c == '"':
		return s.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.fail("looking for a value")
}

// str scans a string starting at its opening quote. (Its index is a local
// variable: the loop is the scanner's hottest.)
func (s *scanner) str() bool {
	b, i := s.b, s.i+1
	for i < len(b) {
		c := b[i]
		if plainByte[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			s.i = i + 1
			return true
		case c == '\\':
			if i++; i == len(b) {
				s.i = i
				return s.fail("in a string escape")
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for range 4 {
					if i++; i == len(b) || !IsHex(b[i]) {
						s.i = i
						return s.fail("in a \\u escape")
					}
				}
			default:
				s.i = i
				return s.fail("in a string escape")
			}
			i++
		case c < 0x20 || s.ascii:
			s.i = i
			return s.fail("in a string")
		default:
			i++
		}
	}
	s.i = i
	return s.fail("in a string")
}

// number scans a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		return s.fail("in a number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return s.fail("after a decimal point")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return s.fail("in an exponent")
		}
	}
	return true
}

// digits skips decimal digits and returns how many.
func (s *scanner) digits() int {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}

func (s *scanner) literal(word string) bool {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return s.fail("in a literal")
	}
	s.i += len(word)
	return true
}

// IsHex reports whether c is a hexadecimal digit.
func IsHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
