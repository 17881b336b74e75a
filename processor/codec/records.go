package codec

import (
	"context"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DecodeRecord reads any CloudEvent Kafka record, in either content mode,
// through the sdk-go Kafka binding. Consumers of the output topic (the demo,
// the tests) use it to read interruption records.
func DecodeRecord(r *kgo.Record) (*event.Event, error) {
	ce, err := binding.ToEvent(context.Background(), bindingMessage(r.Value, r.Headers))
	if err != nil {
		return nil, fmt.Errorf("read cloudevent record %s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	return ce, nil
}
