package webhook

import (
	"context"
	"fmt"
	"io"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/interruptions/interruptions/core/codec"
)

// toEvent reads a message through the sdk-go binding, with the sdk's
// panics on malformed input turned into errors (codec.Guard). body, when
// not nil, is the message's whole body, already in memory: a structured
// JSON message is then read by structuredJSON instead of binding.ToEvent's
// default builder, which copies the body and runs encoding/json's
// validation and skip passes over it before the event's own JSON reader
// (two thirds of the bridge's decode time).
func toEvent(msg binding.Message, body []byte) (*event.Event, error) {
	return codec.Guard(func() (*event.Event, error) {
		if body != nil && msg.ReadEncoding() == binding.EncodingStructured {
			e := event.New()
			if err := msg.ReadStructured(context.Background(), structuredJSON{e: &e, body: body}); err != nil {
				return nil, err
			}
			return &e, nil
		}
		return binding.ToEvent(context.Background(), msg)
	})
}

// structuredJSON is a binding.StructuredWriter for a body in memory.
type structuredJSON struct {
	e    *event.Event
	body []byte
}

// SetStructuredEvent reads the event in the format the binding found in
// Content-Type: JSON with event.UnmarshalJSON after codec.CheckJSONObject (that
// reader alone is lenient, see codec.CheckJSONObject), other formats through the
// format itself.
func (s structuredJSON) SetStructuredEvent(_ context.Context, f format.Format, r io.Reader) error {
	if f != format.JSON {
		b, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("read %s body: %w", f.MediaType(), err)
		}
		return f.Unmarshal(b, s.e)
	}
	if err := codec.CheckJSONObject(s.body); err != nil {
		return err
	}
	return s.e.UnmarshalJSON(s.body)
}
