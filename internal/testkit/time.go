// Package testkit holds the helpers that unit tests, benchmarks and
// integration tests share: short test times, the seed event and VCC events
// as editable maps with their structured and binary encodings, header
// lookup, record comparison (a multiset with a readable diff), and Kafka
// waits and reads ("the group has committed to the end" via kadm's Lag,
// reading a topic read_committed). It imports nothing of this module, so
// every package's tests can use it; what needs the codec is in
// testkit/records. It is imported only by _test.go files.
package testkit

import (
	"fmt"
	"strings"
	"time"
)

// Day is the date of short times such as "08:00" or "08:00:00.001".
const Day = "2026-01-05T"

// RFC3339 expands a short time ("08:00", "08:00:00.001") on Day in UTC; a
// full RFC 3339 time is returned as given.
func RFC3339(ts string) string {
	if strings.Contains(ts, "T") {
		return ts
	}
	if len(ts) == len("08:00") {
		ts += ":00"
	}
	return Day + ts + "Z"
}

// At returns a short or full time in Unix nanoseconds. A time that does not
// parse is a bug in the test: it panics.
func At(ts string) int64 {
	t, err := time.Parse(time.RFC3339Nano, RFC3339(ts))
	if err != nil {
		panic(fmt.Sprintf("bad test time %q: %v", ts, err))
	}
	return t.UnixNano()
}

// Millis formats Unix nanoseconds as RFC 3339 UTC with milliseconds, for
// messages.
func Millis(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
