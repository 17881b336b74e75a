// Package cekafka is the Kafka binding of the CloudEvent codec (core/codec),
// shared by the Kafka doors (the processor, the ingest bridge, replay, the
// commands and the tests): franz-go records ⇄ CloudEvents through the
// sdk-go Kafka binding (kafka_sarama), which stays the message codec; and
// the dead-letter records. The format itself — the fast paths, the
// reasons, the payloads — is core/codec's.
package cekafka

import (
	"context"
	"fmt"
	"strconv"
	"time"
	"unsafe"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
)

// Binding is the sdk-go Kafka binding's message: the codec.Binding every
// Kafka door decodes through.
func Binding(value []byte, contentType string, headers map[string][]byte) binding.Message {
	return kafka_sarama.NewMessage(value, contentType, headers)
}

// codec.Header and kgo.RecordHeader must have the same layout for Headers
// and recordHeaders to reinterpret one slice as the other; these constants
// fail to compile (a negative array length or an overflowing uint) when
// they do not.
const (
	_ = uintptr(unsafe.Sizeof(codec.Header{}) - unsafe.Sizeof(kgo.RecordHeader{}))
	_ = uintptr(unsafe.Sizeof(kgo.RecordHeader{}) - unsafe.Sizeof(codec.Header{}))
	_ = uintptr(unsafe.Offsetof(codec.Header{}.Value) - unsafe.Offsetof(kgo.RecordHeader{}.Value))
	_ = uintptr(unsafe.Offsetof(kgo.RecordHeader{}.Value) - unsafe.Offsetof(codec.Header{}.Value))
)

// Headers returns a record's headers as the codec's, without copying: the
// two types have the same fields in the same order (a string key and a
// []byte value; the constants above check the layout, and
// TestHeadersLayout the field types).
func Headers(hs []kgo.RecordHeader) []codec.Header {
	if len(hs) == 0 {
		return nil
	}
	return unsafe.Slice((*codec.Header)(unsafe.Pointer(unsafe.SliceData(hs))), len(hs))
}

// recordHeaders is Headers the other way.
func recordHeaders(hs []codec.Header) []kgo.RecordHeader {
	if hs == nil {
		return nil
	}
	return unsafe.Slice((*kgo.RecordHeader)(unsafe.Pointer(unsafe.SliceData(hs))), len(hs))
}

// Decode reads one Kafka record value and its headers as a CloudEvent
// (binary or structured content mode), with codec.Decode through the sdk-go
// Kafka binding, and decodes the data payload into the typed fields the
// matcher needs. Every failure is a *codec.DecodeError.
func Decode(value []byte, headers []kgo.RecordHeader) (match.Event, error) {
	return codec.Decode(value, Headers(headers), Binding)
}

// DecodeRecord reads any CloudEvent Kafka record, in either content mode,
// through the sdk-go Kafka binding. Consumers of the output topic (the demo,
// the tests) use it to read interruption records.
func DecodeRecord(r *kgo.Record) (*event.Event, error) {
	ce, err := binding.ToEvent(context.Background(), codec.BindingMessage(r.Value, Headers(r.Headers), Binding))
	if err != nil {
		return nil, fmt.Errorf("read cloudevent record %s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	return ce, nil
}

// Encoder turns interruptions and CloudEvents into Kafka records through the
// sdk-go Kafka binding.
type Encoder struct {
	// Source is the output records' CloudEvent source.
	Source string
	// Mode is the output content mode.
	Mode codec.Mode
}

// Record returns the Kafka record for an interruption's revision, keyed by
// its interruptionId: a compacted output topic keeps the latest revision of
// every interruption, and all revisions of one stay in one partition.
//
// Records whose strings need no JSON escaping are written by
// codec.FastRecord, byte for byte what the binding writes (a test holds
// them equal); the rest go through the sdk-go binding.
func (enc Encoder) Record(topic string, in match.Interruption) (*kgo.Record, error) {
	if r, ok := enc.fastRecord(topic, in); ok {
		return r, nil
	}
	return enc.bindingRecord(topic, in)
}

// fastRecord is Record through codec.FastRecord alone; false when it
// declines.
func (enc Encoder) fastRecord(topic string, in match.Interruption) (*kgo.Record, bool) {
	key, value, headers, ok := codec.FastRecord(enc.Source, enc.Mode, in)
	if !ok {
		return nil, false
	}
	return &kgo.Record{Topic: topic, Key: key, Value: value, Headers: recordHeaders(headers)}, true
}

// bindingRecord is Record through the sdk-go binding alone: the reference
// codec.FastRecord must equal.
func (enc Encoder) bindingRecord(topic string, in match.Interruption) (*kgo.Record, error) {
	ce, err := codec.RecordEvent(in, enc.Source)
	if err != nil {
		return nil, err
	}
	key := codec.InterruptionID(in.ChannelID, in.OpenedBy.Source, in.OpenedBy.ID)
	r, err := KafkaRecord(topic, []byte(key), ce, enc.Mode)
	if err != nil {
		return nil, fmt.Errorf("record for interruption of channel %s: %w", in.ChannelID, err)
	}
	return r, nil
}

// PhaseRecord returns the Kafka record for a phase record's revision or
// retraction (in.Phase set: codec.PhaseEvent), keyed by its phaseId, as
// Record is keyed by the interruptionId.
//
// Records whose strings need no JSON escaping are written by
// codec.FastPhaseRecord, byte for byte what the binding writes (a test
// holds them equal); the rest go through the sdk-go binding.
func (enc Encoder) PhaseRecord(topic string, in match.Interruption) (*kgo.Record, error) {
	if r, ok := enc.fastPhaseRecord(topic, in); ok {
		return r, nil
	}
	return enc.bindingPhaseRecord(topic, in)
}

// fastPhaseRecord is PhaseRecord through codec.FastPhaseRecord alone;
// false when it declines.
func (enc Encoder) fastPhaseRecord(topic string, in match.Interruption) (*kgo.Record, bool) {
	key, value, headers, ok := codec.FastPhaseRecord(enc.Source, enc.Mode, in)
	if !ok {
		return nil, false
	}
	return &kgo.Record{Topic: topic, Key: key, Value: value, Headers: recordHeaders(headers)}, true
}

// bindingPhaseRecord is PhaseRecord through the sdk-go binding alone: the
// reference codec.FastPhaseRecord must equal.
func (enc Encoder) bindingPhaseRecord(topic string, in match.Interruption) (*kgo.Record, error) {
	ce, err := codec.PhaseEvent(in, enc.Source)
	if err != nil {
		return nil, err
	}
	key := codec.PhaseID(in.ChannelID, in.Phase, in.OpenedBy.Source, in.OpenedBy.ID)
	r, err := KafkaRecord(topic, []byte(key), ce, enc.Mode)
	if err != nil {
		return nil, fmt.Errorf("record for %s phase of channel %s: %w", in.Phase, in.ChannelID, err)
	}
	return r, nil
}

// KafkaRecord writes any CloudEvent as a Kafka record in the given mode
// through the sdk-go Kafka binding.
func KafkaRecord(topic string, key []byte, ce event.Event, mode codec.Mode) (*kgo.Record, error) {
	ctx := kafka_sarama.WithSkipKeyMapping(context.Background())
	if mode == codec.Structured {
		ctx = binding.WithForceStructured(ctx)
	} else {
		ctx = binding.WithForceBinary(ctx)
	}
	var pm sarama.ProducerMessage
	if err := kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(&ce), &pm); err != nil {
		return nil, fmt.Errorf("write %s event %s: %w", mode, ce.ID(), err)
	}
	r := &kgo.Record{Topic: topic, Key: key}
	if pm.Value != nil {
		v, err := pm.Value.Encode()
		if err != nil {
			return nil, fmt.Errorf("encode value of event %s: %w", ce.ID(), err)
		}
		r.Value = v
	}
	r.Headers = make([]kgo.RecordHeader, len(pm.Headers))
	for i, h := range pm.Headers {
		r.Headers[i] = kgo.RecordHeader{Key: string(h.Key), Value: h.Value}
	}
	return r, nil
}

// The headers of a dead-letter record, beside the original record's own.
const (
	HeaderDLQReason    = "dlq-reason"
	HeaderDLQError     = "dlq-error"
	HeaderDLQTopic     = "dlq-source-topic"
	HeaderDLQPartition = "dlq-source-partition"
	HeaderDLQOffset    = "dlq-source-offset"
	HeaderDLQTime      = "dlq-time"
)

// DeadLetter returns the dead-letter record for a rejected input: key, value,
// headers and timestamp preserved byte for byte, with the reason, the error,
// the source topic, partition and offset and the time of rejection added as
// headers.
func DeadLetter(topic string, in *kgo.Record, err *codec.DecodeError, now time.Time) *kgo.Record {
	headers := make([]kgo.RecordHeader, 0, len(in.Headers)+6)
	headers = append(headers, in.Headers...)
	headers = append(headers,
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(err.Reason)},
		kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(err.Error())},
		kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(in.Topic)},
		kgo.RecordHeader{Key: HeaderDLQPartition, Value: strconv.AppendInt(nil, int64(in.Partition), 10)},
		kgo.RecordHeader{Key: HeaderDLQOffset, Value: strconv.AppendInt(nil, in.Offset, 10)},
		kgo.RecordHeader{Key: HeaderDLQTime, Value: []byte(now.UTC().Format(time.RFC3339Nano))},
	)
	return &kgo.Record{
		Topic:     topic,
		Key:       in.Key,
		Value:     in.Value,
		Headers:   headers,
		Timestamp: in.Timestamp,
	}
}
