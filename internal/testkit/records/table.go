package records

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/vccgen"
)

// RetractionType is the CloudEvent type of a retraction: the interruption
// data.interruptionId, as of revision data.revision, is no more.
const RetractionType = "channel.interruptionretracted.v0"

// Row is one interruption of a final table.
type Row struct {
	// Revision is data.revision, 1 for records without one.
	Revision int64
	// ID is the CloudEvent id of the record.
	ID string
	// Data is the record's data as canonical JSON.
	Data string
}

// Table is the final state of an output stream: one row per
// interruptionId still standing.
type Table map[string]Row

// FinalTable reduces output records, in any order and either content mode,
// to their final table; see FinalTableOf.
func FinalTable(recs []*kgo.Record) (Table, error) {
	evs := make([]*event.Event, 0, len(recs))
	for _, r := range recs {
		ce, err := cekafka.DecodeRecord(r)
		if err != nil {
			return nil, fmt.Errorf("record %s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		evs = append(evs, ce)
	}
	return FinalTableOf(evs)
}

// FinalTableOf reduces an output stream to its final table: per
// data.interruptionId the record with the highest data.revision (1 when
// there is none, as in records written before revisions), unless a
// retraction (RetractionType) of that id has a revision at least as high,
// which removes it. The order of the stream does not matter, so records
// read from several partitions reduce as one. Identical copies are one;
// two different records or retractions with the same id and revision are
// an error, as is an event of another type or without interruptionId.
func FinalTableOf(evs []*event.Event) (Table, error) {
	type entry struct {
		row       Row
		retracted bool
	}
	latest := make(map[string]entry, len(evs))
	for _, ce := range evs {
		var d struct {
			InterruptionID string `json:"interruptionId"`
			Revision       *int64 `json:"revision"`
		}
		if err := json.Unmarshal(ce.Data(), &d); err != nil {
			return nil, fmt.Errorf("event %s: data: %w", ce.ID(), err)
		}
		if d.InterruptionID == "" {
			return nil, fmt.Errorf("event %s: no data.interruptionId", ce.ID())
		}
		rev := int64(1)
		if d.Revision != nil {
			rev = *d.Revision
		}
		data, err := testkit.Canonical(ce.Data())
		if err != nil {
			return nil, fmt.Errorf("event %s: %w", ce.ID(), err)
		}
		var e entry
		switch ce.Type() {
		case codec.RecordType:
			e = entry{row: Row{Revision: rev, ID: ce.ID(), Data: data}}
		case RetractionType:
			e = entry{row: Row{Revision: rev, ID: ce.ID(), Data: data}, retracted: true}
		default:
			return nil, fmt.Errorf("event %s: type %q is neither a record nor a retraction", ce.ID(), ce.Type())
		}
		prev, seen := latest[d.InterruptionID]
		switch {
		case !seen || rev > prev.row.Revision:
			latest[d.InterruptionID] = e
		case rev < prev.row.Revision:
			// superseded
		case prev == e:
			// an identical copy
		case prev.retracted != e.retracted:
			// A retraction of the revision it names wins over that revision.
			if e.retracted {
				latest[d.InterruptionID] = e
			}
		default:
			return nil, fmt.Errorf("interruption %s: two different events of revision %d: %s %s and %s %s",
				d.InterruptionID, rev, prev.row.ID, prev.row.Data, e.row.ID, e.row.Data)
		}
	}
	t := make(Table, len(latest))
	for id, e := range latest {
		if !e.retracted {
			t[id] = e.row
		}
	}
	return t, nil
}

// PhaseFinalTable reduces phase records (structured CloudEvent JSON, in
// any order) to their final table: per data.phaseId the data of the
// record with the highest data.revision, the revision left out, as JSON
// with sorted keys; a phase whose highest revision is a retraction
// (codec.PhaseRetractionType) is dropped. A (phaseId, revision) seen twice
// with another type or data is an error, as is a record without phaseId
// or revision.
func PhaseFinalTable(values [][]byte) (map[string]string, error) {
	type latest struct {
		rev       int
		retracted bool
		data      string
	}
	seen := map[string]string{}
	table := map[string]latest{}
	for _, v := range values {
		var rec struct {
			Type string                     `json:"type"`
			Data map[string]json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(v, &rec); err != nil {
			return nil, fmt.Errorf("phase record %s: %w", v, err)
		}
		var id string
		var rev int
		if err := json.Unmarshal(rec.Data["phaseId"], &id); err != nil || id == "" {
			return nil, fmt.Errorf("phase record %s: no data.phaseId (%v)", v, err)
		}
		if err := json.Unmarshal(rec.Data["revision"], &rev); err != nil {
			return nil, fmt.Errorf("phase record %s: data.revision: %w", v, err)
		}
		delete(rec.Data, "revision")
		b, err := json.Marshal(rec.Data)
		if err != nil {
			return nil, fmt.Errorf("phase record %s: %w", v, err)
		}
		k, content := fmt.Sprintf("%s#%d", id, rev), rec.Type+" "+string(b)
		if old, ok := seen[k]; ok && old != content {
			return nil, fmt.Errorf("phase %s revision %d published with two contents:\n  %s\n  %s", id, rev, old, content)
		}
		seen[k] = content
		if old, ok := table[id]; !ok || rev > old.rev {
			table[id] = latest{rev: rev, retracted: rec.Type == codec.PhaseRetractionType, data: string(b)}
		}
	}
	out := make(map[string]string, len(table))
	for id, l := range table {
		if !l.retracted {
			out[id] = l.data
		}
	}
	return out, nil
}

// PhaseTruth compares a final phase table (PhaseFinalTable) with vccgen's
// true phases, given the events produced: a final phase must be a true one
// and, when its true closing event was produced, have the true phase,
// channel, outcome, opening and closing events and times; every true phase
// whose opening and closing events were produced must be in the table.
// It returns what disagrees (sorted), the final phases checked by phase,
// and the true phases with both events produced by phase.
func PhaseTruth(final map[string]string, evs []vccgen.Event, truth []vccgen.Phase) (wrong []string, checked, complete map[string]int, err error) {
	produced := map[string]bool{}
	for _, ev := range evs {
		produced[ev.ID] = true
	}
	byID := map[string]vccgen.Phase{}
	for _, p := range truth {
		byID[codec.PhaseID(p.ChannelID, p.Phase, vccgen.SourceChannel, p.OpenedBy)] = p
	}
	checked, complete = map[string]int{}, map[string]int{}
	for id, data := range final {
		var d codec.PhaseData
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			return nil, nil, nil, fmt.Errorf("final phase %s: %w", id, err)
		}
		tr, ok := byID[id]
		switch {
		case !ok:
			wrong = append(wrong, fmt.Sprintf("%s phase %s opened by %s: not a true phase", d.Phase, id, d.OpenedBy.ID))
		case !produced[tr.ClosedBy]:
			// Its true close is still held for late delivery.
		case d.Phase != tr.Phase || d.ChannelID != tr.ChannelID || d.Outcome != tr.Outcome ||
			d.ClosedBy == nil || d.ClosedBy.ID != tr.ClosedBy || d.OpenedBy.ID != tr.OpenedBy ||
			d.StartedAt != codec.FormatMillis(tr.StartedAt.UnixNano()) || d.EndedAt != codec.FormatMillis(tr.EndedAt.UnixNano()):
			wrong = append(wrong, fmt.Sprintf("phase %s: %s\n  truth %+v", id, data, tr))
		default:
			checked[d.Phase]++
		}
	}
	for id, tr := range byID {
		if !produced[tr.OpenedBy] || !produced[tr.ClosedBy] {
			continue
		}
		complete[tr.Phase]++
		if _, ok := final[id]; !ok {
			wrong = append(wrong, fmt.Sprintf("true phase %s %+v: missing from the final table", id, tr))
		}
	}
	slices.Sort(wrong)
	return wrong, checked, complete, nil
}
