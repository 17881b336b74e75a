package testkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
)

// Record is one output CloudEvent as tests compare it: its id, and its
// data as canonical JSON (see Canonical).
type Record struct {
	ID, Data string
}

// Records is a multiset of output records: how many copies of each.
type Records map[Record]int

// Add counts one copy of the CloudEvent ce.
func (rs Records) Add(ce *event.Event) error {
	data, err := Canonical(ce.Data())
	if err != nil {
		return fmt.Errorf("record %s: %w", ce.ID(), err)
	}
	rs[Record{ID: ce.ID(), Data: data}]++
	return nil
}

// Len is the number of records, copies included.
func (rs Records) Len() int {
	n := 0
	for _, c := range rs {
		n += c
	}
	return n
}

// Distinct is the number of distinct ids.
func (rs Records) Distinct() int {
	ids := make(map[string]bool, len(rs))
	for r := range rs {
		ids[r.ID] = true
	}
	return len(ids)
}

// Canonical re-encodes JSON with sorted keys, no spaces and numbers as
// written, so equal documents compare equal as strings.
func Canonical(b []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("json %q: %w", b, err)
	}
	if dec.More() {
		return "", fmt.Errorf("json %q: more than one value", b)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// Diff is how a multiset of records differs from the one wanted, each
// entry a readable line.
type Diff struct {
	// Missing: wanted records with fewer copies than wanted.
	Missing []string
	// Unexpected: records not wanted; "with other data" when the id is
	// wanted with other data.
	Unexpected []string
	// Repeated: wanted records with more copies than wanted.
	Repeated []string
	// Repeats counts the copies beyond those wanted.
	Repeats int
}

// Compare tells how got differs from want.
func Compare(want, got Records) Diff {
	byID := make(map[string]string, len(want))
	for r := range want {
		byID[r.ID] = r.Data
	}
	var d Diff
	for r, n := range want {
		if got[r] < n {
			d.Missing = append(d.Missing, fmt.Sprintf("%s (%d of %d): %s", r.ID, got[r], n, r.Data))
		}
	}
	for r, n := range got {
		w, ok := want[r]
		switch {
		case !ok && byID[r.ID] != "":
			d.Unexpected = append(d.Unexpected, fmt.Sprintf("%s ×%d with other data:\n  got  %s\n  want %s", r.ID, n, r.Data, byID[r.ID]))
		case !ok:
			d.Unexpected = append(d.Unexpected, fmt.Sprintf("%s ×%d: %s", r.ID, n, r.Data))
		case n > w:
			d.Repeated = append(d.Repeated, fmt.Sprintf("%s ×%d (want %d)", r.ID, n, w))
			d.Repeats += n - w
		}
	}
	slices.Sort(d.Missing)
	slices.Sort(d.Unexpected)
	slices.Sort(d.Repeated)
	return d
}

// Equal reports whether got was want exactly: nothing missing, nothing
// unexpected, nothing repeated.
func (d Diff) Equal() bool {
	return len(d.Missing)+len(d.Unexpected)+len(d.Repeated) == 0
}

// Covers reports whether got held every wanted record, repeats only as
// identical copies (at-least-once).
func (d Diff) Covers() bool {
	return len(d.Missing)+len(d.Unexpected) == 0
}

// Report lists up to n entries of each kind; repeated ones only when
// repeats count.
func (d Diff) Report(n int, repeats bool) string {
	var b strings.Builder
	part := func(what string, items []string) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(&b, "%d records %s, e.g.:\n", len(items), what)
		for _, s := range items[:min(n, len(items))] {
			b.WriteString("  " + s + "\n")
		}
	}
	part("missing", d.Missing)
	part("not expected", d.Unexpected)
	if repeats {
		part("more than once", d.Repeated)
	}
	return b.String()
}

// SameRecords fails the test unless got equals want as multisets (each
// record as often as wanted: exactly once when want is replay's output).
func SameRecords(t testing.TB, want, got Records) {
	t.Helper()
	if d := Compare(want, got); !d.Equal() {
		t.Errorf("got %d records (%d ids), want %d (%d ids):\n%s", got.Len(), got.Distinct(), want.Len(), want.Distinct(), d.Report(10, true))
	}
}

// CoversRecords fails the test unless got holds every record of want,
// repeats only as identical copies (at-least-once); it returns the number
// of repeats.
func CoversRecords(t testing.TB, want, got Records) int {
	t.Helper()
	d := Compare(want, got)
	if !d.Covers() {
		t.Errorf("got %d records (%d ids), want every one of %d (%d ids), repeats allowed:\n%s",
			got.Len(), got.Distinct(), want.Len(), want.Distinct(), d.Report(10, false))
	}
	return d.Repeats
}
