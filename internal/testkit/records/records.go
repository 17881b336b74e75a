// Package records turns test data into Kafka records and output records
// back into what tests compare, through the codec: input records in either
// CloudEvents content mode as `interruptions gen` writes them, the checks
// every output record must pass, replay's NDJSON, and the final table of an
// output stream. It is imported only by _test.go files; the codec's own
// tests cannot import it (it imports the codec) and use package testkit.
package records

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/vccgen"
)

// StructuredContentType is the content-type header of a structured-mode
// record, as `interruptions gen --mode structured` writes it.
const StructuredContentType = "application/cloudevents+json"

// Input turns one structured CloudEvent (JSON) into an input record
// on topic in the given content mode, as `interruptions gen` does: the
// value as it is with a content-type header (structured), or the event
// written by the codec's sdk-go binding (binary).
func Input(topic string, key, value []byte, mode codec.Mode) (*kgo.Record, error) {
	if mode == codec.Structured {
		return &kgo.Record{Topic: topic, Key: key, Value: value,
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte(StructuredContentType)}}}, nil
	}
	ce, err := codec.ParseStructured(value)
	if err != nil {
		return nil, fmt.Errorf("input record: %w", err)
	}
	r, err := cekafka.KafkaRecord(topic, key, ce, codec.Binary)
	if err != nil {
		return nil, fmt.Errorf("input record %s: %w", ce.ID(), err)
	}
	return r, nil
}

// Inputs turns generated events into input records on topic, in
// order, the mode of each chosen by modeOf (its index in evs). It converts
// on every CPU: benchmarks turn a million events at once.
func Inputs(topic string, evs []vccgen.Event, modeOf func(i int) codec.Mode) ([]*kgo.Record, error) {
	recs := make([]*kgo.Record, len(evs))
	workers := runtime.GOMAXPROCS(0)
	per := (len(evs) + workers - 1) / workers
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := w*per, min((w+1)*per, len(evs))
		if lo >= hi {
			break
		}
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				r, err := Input(topic, evs[i].Key, evs[i].Value, modeOf(i))
				if err != nil {
					errs[w] = fmt.Errorf("event %d (%s): %w", i, evs[i].ID, err)
					return
				}
				recs[i] = r
			}
		})
	}
	wg.Wait()
	return recs, errors.Join(errs...)
}

// All is a modeOf for Inputs: every record in mode.
func All(mode codec.Mode) func(int) codec.Mode {
	return func(int) codec.Mode { return mode }
}

// Alternating is a modeOf for Inputs: structured and binary records
// in turn, structured first.
func Alternating(i int) codec.Mode {
	if i%2 == 0 {
		return codec.Structured
	}
	return codec.Binary
}

// Mode tells a record's CloudEvents content mode from its headers:
// binary when it has a ce_specversion header (any case), else structured.
func Mode(r *kgo.Record) codec.Mode {
	for _, h := range r.Headers {
		if strings.EqualFold(h.Key, "ce_specversion") {
			return codec.Binary
		}
	}
	return codec.Structured
}
