package codec

import (
	"testing"

	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/testkit"
)

// The tests decode as the Kafka doors do, through the sdk-go Kafka binding
// (internal/cekafka.Binding, which this package cannot import: cekafka
// imports it), from the franz-go headers internal/testkit builds. The
// tests of the Kafka records themselves (KafkaRecord, Encoder, DeadLetter,
// the fast path against records the binding writes) are cekafka's.

// kafkaBinding is the sdk-go Kafka binding's message, as cekafka.Binding.
func kafkaBinding(value []byte, contentType string, headers map[string][]byte) binding.Message {
	return kafka_sarama.NewMessage(value, contentType, headers)
}

// kafkaHeaders copies franz-go record headers into the codec's.
func kafkaHeaders(hs []kgo.RecordHeader) []Header {
	if hs == nil {
		return nil
	}
	out := make([]Header, len(hs))
	for i, h := range hs {
		out[i] = Header{Key: h.Key, Value: h.Value}
	}
	return out
}

// decode is Decode through the Kafka binding.
func decode(value []byte, headers []Header) (match.Event, error) {
	return Decode(value, headers, kafkaBinding)
}

// decodeBinding is DecodeBinding through the Kafka binding: the reference
// the fast path must agree with.
func decodeBinding(value []byte, headers []Header) (match.Event, error) {
	return DecodeBinding(value, headers, kafkaBinding)
}

// seedHeaders is testkit.SeedHeaders as the codec's headers.
func seedHeaders() []Header { return kafkaHeaders(testkit.SeedHeaders()) }

// binaryValue is testkit.BinaryValue with the codec's headers.
func binaryValue(t testing.TB, e testkit.Event) ([]byte, []Header) {
	t.Helper()
	value, hs := testkit.BinaryValue(t, e)
	return value, kafkaHeaders(hs)
}
