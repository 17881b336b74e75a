package records

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
)

// ParseNDJSON reads structured CloudEvents, one a line (the output of
// `interruptions replay`), into a multiset. Blank lines are skipped.
func ParseNDJSON(b []byte) (testkit.Records, error) {
	rs := testkit.Records{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		ce, err := codec.ParseStructured(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if err := rs.Add(&ce); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read ndjson: %w", err)
	}
	return rs, nil
}

// CheckOutput decodes one output record with the sdk-go binding and checks
// what every output record must be: a valid CloudEvent of the record or
// the retraction type, source /interruptions, JSON data, the Kafka key
// equal to data.interruptionId and the subject to data.channelId, and
// written in mode.
func CheckOutput(r *kgo.Record, mode codec.Mode) (*event.Event, error) {
	ce, err := cekafka.DecodeRecord(r)
	if err != nil {
		return nil, fmt.Errorf("decode output record %s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	var problems []string
	if err := ce.Validate(); err != nil {
		problems = append(problems, fmt.Sprintf("invalid cloudevent: %v", err))
	}
	if (ce.Type() != codec.RecordType && ce.Type() != codec.RetractionType) || ce.Source() != "/interruptions" || ce.DataContentType() != "application/json" {
		problems = append(problems, fmt.Sprintf("type %q source %q datacontenttype %q", ce.Type(), ce.Source(), ce.DataContentType()))
	}
	// The output is an upsert stream keyed by interruption: Kafka key =
	// data.interruptionId; the subject is the channel.
	var data struct {
		InterruptionID string `json:"interruptionId"`
		ChannelID      string `json:"channelId"`
	}
	if err := json.Unmarshal(ce.Data(), &data); err != nil || string(r.Key) != data.InterruptionID || ce.Subject() != data.ChannelID {
		problems = append(problems, fmt.Sprintf("key %q, interruptionId %q, subject %q, channelId %q (%v)", r.Key, data.InterruptionID, ce.Subject(), data.ChannelID, err))
	}
	if m := Mode(r); m != mode {
		problems = append(problems, fmt.Sprintf("%s mode (headers %v), want %s", m, r.Headers, mode))
	}
	if len(problems) > 0 {
		return ce, fmt.Errorf("output record %s: %s", ce.ID(), strings.Join(problems, "; "))
	}
	return ce, nil
}

// DecodeOutput checks every output record with CheckOutput and counts it.
// It fails the test on a record that does not decode; other problems are
// errors of the test.
func DecodeOutput(t testing.TB, recs []*kgo.Record, mode codec.Mode) testkit.Records {
	t.Helper()
	rs := testkit.Records{}
	for _, r := range recs {
		ce, err := CheckOutput(r, mode)
		if ce == nil {
			t.Fatal(err)
		}
		if err != nil {
			t.Error(err)
		}
		if err := rs.Add(ce); err != nil {
			t.Fatal(err)
		}
	}
	return rs
}
