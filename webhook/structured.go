package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/event"
)

// toEvent reads a message through the sdk-go binding, with the sdk's
// panics on malformed input turned into errors. body, when not nil, is the
// message's whole body, already in memory: a structured JSON message is
// then read by structuredJSON instead of binding.ToEvent's default
// builder, which copies the body and runs encoding/json's validation and
// skip passes over it before the event's own JSON reader (two thirds of
// the bridge's decode time).
func toEvent(msg binding.Message, body []byte) (ce *event.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			ce, err = nil, fmt.Errorf("cloudevents sdk panicked: %v", r)
		}
	}()
	if body != nil && msg.ReadEncoding() == binding.EncodingStructured {
		e := event.New()
		if err := msg.ReadStructured(context.Background(), structuredJSON{e: &e, body: body}); err != nil {
			return nil, err
		}
		return &e, nil
	}
	return binding.ToEvent(context.Background(), msg)
}

// structuredJSON is a binding.StructuredWriter for a body in memory.
type structuredJSON struct {
	e    *event.Event
	body []byte
}

// SetStructuredEvent reads the event in the format the binding found in
// Content-Type: JSON with event.UnmarshalJSON after checkJSONObject (that
// reader alone is lenient, see checkJSONObject), other formats through the
// format itself.
func (s structuredJSON) SetStructuredEvent(_ context.Context, f format.Format, r io.Reader) error {
	if f != format.JSON {
		b, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("read %s body: %w", f.MediaType(), err)
		}
		return f.Unmarshal(b, s.e)
	}
	if err := checkJSONObject(s.body); err != nil {
		return err
	}
	return s.e.UnmarshalJSON(s.body)
}

// maxJSONDepth is encoding/json's nesting limit, kept so that the same
// bodies are refused.
const maxJSONDepth = 10000

// checkJSONObject reports whether b is one valid JSON object (RFC 8259, as
// encoding/json.Valid decides it, nesting included), with nothing but
// white space around it. The event's JSON reader is lenient (it takes
// `{"":}`, and anything after the object); this single allocation-free
// pass makes the bridge refuse exactly what the binding refuses, at a
// fraction of encoding/json's validation cost.
func checkJSONObject(b []byte) error {
	v := jsonValidator{b: b}
	v.i = skipSpace(b, 0)
	if v.i == len(b) || b[v.i] != '{' {
		return errors.New("body is not a JSON object")
	}
	if err := v.value(0); err != nil {
		return err
	}
	if j := skipSpace(b, v.i); j != len(b) {
		return fmt.Errorf("invalid character %q after the JSON object at byte %d", b[j], j)
	}
	return nil
}

// jsonValidator is a recursive-descent JSON checker over b from i.
type jsonValidator struct {
	b []byte
	i int
}

func (v *jsonValidator) errAt(what string) error {
	if v.i >= len(v.b) {
		return fmt.Errorf("unexpected end of JSON input (%s)", what)
	}
	return fmt.Errorf("invalid character %q at byte %d (%s)", v.b[v.i], v.i, what)
}

// value checks one value starting at i (white space skipped first).
func (v *jsonValidator) value(depth int) error {
	v.i = skipSpace(v.b, v.i)
	if v.i == len(v.b) {
		return v.errAt("looking for a value")
	}
	switch c := v.b[v.i]; {
	case c == '{':
		if depth++; depth > maxJSONDepth {
			return errors.New("JSON nested too deeply")
		}
		v.i++
		if v.i = skipSpace(v.b, v.i); v.i < len(v.b) && v.b[v.i] == '}' {
			v.i++
			return nil
		}
		for {
			if v.i = skipSpace(v.b, v.i); v.i == len(v.b) || v.b[v.i] != '"' {
				return v.errAt("looking for an object key")
			}
			if err := v.str(); err != nil {
				return err
			}
			if v.i = skipSpace(v.b, v.i); v.i == len(v.b) || v.b[v.i] != ':' {
				return v.errAt("after an object key")
			}
			v.i++
			if err := v.value(depth); err != nil {
				return err
			}
			if v.i = skipSpace(v.b, v.i); v.i == len(v.b) {
				return v.errAt("after an object value")
			}
			switch v.b[v.i] {
			case ',':
				v.i++
			case '}':
				v.i++
				return nil
			default:
				return v.errAt("after an object value")
			}
		}
	case c == '[':
		if depth++; depth > maxJSONDepth {
			return errors.New("JSON nested too deeply")
		}
		v.i++
		if v.i = skipSpace(v.b, v.i); v.i < len(v.b) && v.b[v.i] == ']' {
			v.i++
			return nil
		}
		for {
			if err := v.value(depth); err != nil {
				return err
			}
			if v.i = skipSpace(v.b, v.i); v.i == len(v.b) {
				return v.errAt("after an array element")
			}
			switch v.b[v.i] {
			case ',':
				v.i++
			case ']':
				v.i++
				return nil
			default:
				return v.errAt("after an array element")
			}
		}
	case c == '"':
		return v.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return v.number()
	case c == 't':
		return v.literal("true")
	case c == 'f':
		return v.literal("false")
	case c == 'n':
		return v.literal("null")
	}
	return v.errAt("looking for a value")
}

// str checks a string starting at its opening quote.
func (v *jsonValidator) str() error {
	for v.i++; v.i < len(v.b); v.i++ {
		switch c := v.b[v.i]; {
		case c == '"':
			v.i++
			return nil
		case c == '\\':
			v.i++
			if v.i == len(v.b) {
				return v.errAt("in a string escape")
			}
			switch v.b[v.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for range 4 {
					v.i++
					if v.i == len(v.b) || !isHex(v.b[v.i]) {
						return v.errAt("in a \\u escape")
					}
				}
			default:
				return v.errAt("in a string escape")
			}
		case c < 0x20:
			return v.errAt("in a string")
		}
	}
	return v.errAt("in a string")
}

// number checks a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (v *jsonValidator) number() error {
	if v.b[v.i] == '-' {
		v.i++
	}
	switch {
	case v.i < len(v.b) && v.b[v.i] == '0':
		v.i++
	case v.i < len(v.b) && v.b[v.i] >= '1' && v.b[v.i] <= '9':
		v.digits()
	default:
		return v.errAt("in a number")
	}
	if v.i < len(v.b) && v.b[v.i] == '.' {
		v.i++
		if v.digits() == 0 {
			return v.errAt("after a decimal point")
		}
	}
	if v.i < len(v.b) && (v.b[v.i] == 'e' || v.b[v.i] == 'E') {
		v.i++
		if v.i < len(v.b) && (v.b[v.i] == '+' || v.b[v.i] == '-') {
			v.i++
		}
		if v.digits() == 0 {
			return v.errAt("in an exponent")
		}
	}
	return nil
}

// digits skips decimal digits and returns how many.
func (v *jsonValidator) digits() int {
	start := v.i
	for v.i < len(v.b) && v.b[v.i] >= '0' && v.b[v.i] <= '9' {
		v.i++
	}
	return v.i - start
}

func (v *jsonValidator) literal(word string) error {
	if len(v.b)-v.i < len(word) || string(v.b[v.i:v.i+len(word)]) != word {
		return v.errAt("in a literal")
	}
	v.i += len(word)
	return nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// skipSpace returns the index of the first byte of b at or after i that is
// not JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
