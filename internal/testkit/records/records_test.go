package records_test

import (
	"fmt"
	"maps"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit/records"
)

// out builds an output CloudEvent of type typ with JSON data.
func out(t *testing.T, typ, id, data string) *event.Event {
	t.Helper()
	ce := event.New()
	ce.SetID(id)
	ce.SetType(typ)
	ce.SetSource("/interruptions")
	ce.SetSubject("ch")
	if err := ce.SetData("application/json", []byte(data)); err != nil {
		t.Fatal(err)
	}
	return &ce
}

func TestFinalTable(t *testing.T) {
	rec := func(id, data string) *event.Event { return out(t, codec.RecordType, id, data) }
	retract := func(id, data string) *event.Event { return out(t, records.RetractionType, id, data) }
	// Today's records: no revision.
	a1 := rec("e1", `{"interruptionId":"A","durationMs":5}`)
	b1 := rec("e2", `{"interruptionId":"B","durationMs":7}`)
	// The coming format.
	a2 := rec("e3", `{"interruptionId":"A","revision":2,"durationMs":9}`)
	a3x := retract("e4", `{"interruptionId":"A","revision":3}`)
	a4 := rec("e5", `{"interruptionId":"A","revision":4,"durationMs":11}`)
	b1x := retract("e6", `{"interruptionId":"B","revision":1}`)
	for _, tt := range []struct {
		name string
		evs  []*event.Event
		want map[string]string // interruptionId -> record id; nil: an error
	}{
		{"today's records, revision 1", []*event.Event{a1, b1}, map[string]string{"A": "e1", "B": "e2"}},
		{"identical copies are one", []*event.Event{a1, b1, a1, b1}, map[string]string{"A": "e1", "B": "e2"}},
		{"a later revision wins, in any order", []*event.Event{a2, a1}, map[string]string{"A": "e3"}},
		{"a retraction removes", []*event.Event{a1, a2, a3x, b1}, map[string]string{"B": "e2"}},
		{"a retraction out of order removes", []*event.Event{a3x, a1, a2}, map[string]string{}},
		{"a revision after the retraction stands", []*event.Event{a4, a3x, a1}, map[string]string{"A": "e5"}},
		{"a retraction of revision 1 wins over it", []*event.Event{b1x, b1, a1}, map[string]string{"A": "e1"}},
		{"two records of one revision conflict", []*event.Event{a1, rec("e7", `{"interruptionId":"A","durationMs":6}`)}, nil},
		{"no interruptionId", []*event.Event{rec("e8", `{"durationMs":6}`)}, nil},
		{"another type", []*event.Event{out(t, "channel.resumed.v0", "e9", `{"interruptionId":"A"}`)}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := records.FinalTableOf(tt.evs)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("FinalTableOf = %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("table %v, want ids %v", got, tt.want)
			}
			for id, ev := range tt.want {
				if got[id].ID != ev {
					t.Errorf("row %s = %+v, want record %s", id, got[id], ev)
				}
			}
		})
	}
}

func TestFinalTableOfRecords(t *testing.T) {
	var recs []*kgo.Record
	for i, mode := range []codec.Mode{codec.Binary, codec.Structured} {
		ce := out(t, codec.RecordType, fmt.Sprint("e", i), fmt.Sprintf(`{"interruptionId":"I%d","durationMs":1}`, i))
		r, err := cekafka.KafkaRecord("out", []byte("ch"), *ce, mode)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	got, err := records.FinalTable(recs)
	if err != nil {
		t.Fatal(err)
	}
	if got["I0"].Data != `{"durationMs":1,"interruptionId":"I0"}` || got["I1"].ID != "e1" || len(got) != 2 {
		t.Errorf("FinalTable = %v", got)
	}
}

// TestPhaseFinalTable: the highest revision wins whatever the order, a
// retraction as the highest drops the phase, and one (phaseId, revision)
// with two contents is an error.
func TestPhaseFinalTable(t *testing.T) {
	rec := func(typ, id string, rev int, outcome string) []byte {
		return []byte(fmt.Sprintf(`{"type":%q,"data":{"phaseId":%q,"revision":%d,"outcome":%q}}`, typ, id, rev, outcome))
	}
	got, err := records.PhaseFinalTable([][]byte{
		rec("channel.phase.v0", "a", 2, "wrap"), rec("channel.phase.v0", "a", 1, "disconnected"),
		rec("channel.phase.v0", "b", 1, "retrieved"), rec("channel.phaseretracted.v0", "b", 2, ""),
		rec("channel.phase.v0", "a", 2, "wrap"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"a": `{"outcome":"wrap","phaseId":"a"}`}; !maps.Equal(got, want) {
		t.Errorf("final table %v, want %v", got, want)
	}
	if _, err := records.PhaseFinalTable([][]byte{rec("channel.phase.v0", "a", 1, "wrap"), rec("channel.phase.v0", "a", 1, "ended")}); err == nil {
		t.Error("two contents of one revision accepted")
	}
}
