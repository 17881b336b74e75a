package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/core/vcc"
)

// Times in this file are Unix nanoseconds in an int64: years 1677 to 2262.
// The smallest int64 is left out, as time's own bounds do.
const (
	minNanos = math.MinInt64 + 1
	maxNanos = math.MaxInt64
	// The same bounds as seconds and nanoseconds.
	minSec, minNsec = -9223372037, 145224193
	maxSec, maxNsec = 9223372036, 854775807
)

// unixNanos returns sec seconds and nsec nanoseconds (0 ≤ nsec < 1e9)
// after the Unix epoch as nanoseconds, or ok false when an int64 cannot
// hold them.
func unixNanos(sec, nsec int64) (int64, bool) {
	if sec < minSec || sec == minSec && nsec < minNsec || sec > maxSec || sec == maxSec && nsec > maxNsec {
		return 0, false
	}
	// At sec == minSec the product overflows, and the sum wraps back to
	// the exact result: Go's integer arithmetic is modular.
	return sec*1e9 + nsec, true
}

// clampNanos is unixNanos with out-of-range times clamped to the bounds.
func clampNanos(sec, nsec int64) int64 {
	if n, ok := unixNanos(sec, nsec); ok {
		return n
	}
	if sec < 0 {
		return minNanos
	}
	return maxNanos
}

// timeNanos is clampNanos for a time.Time.
func timeNanos(t time.Time) int64 { return clampNanos(t.Unix(), int64(t.Nanosecond())) }

// parseTimestamp parses data.timestamp: an RFC 3339 date-time (see
// parseRFC3339) that Unix nanoseconds in an int64 can hold (years 1677 to
// 2262).
func parseTimestamp(s string) (int64, error) {
	sec, nsec, ok := parseRFC3339(s)
	if !ok {
		return 0, fmt.Errorf("%q is not an RFC 3339 date-time (2006-01-02T15:04:05, optional .fraction, then Z or ±hh:mm)", s)
	}
	ts, ok := unixNanos(sec, nsec)
	if !ok {
		return 0, fmt.Errorf("timestamp %q is out of range (years 1677 to 2262)", s)
	}
	return ts, nil
}

// fastTimestamp is parseTimestamp for a span, without the error.
func fastTimestamp(b []byte) (int64, bool) {
	sec, nsec, ok := parseRFC3339(b)
	if !ok {
		return 0, false
	}
	return unixNanos(sec, nsec)
}

// attrTime returns what DecodeBinding makes of a CloudEvent time
// attribute, as clamped Unix nanoseconds, or ok false when it rejects it.
// The sdk parses time itself, with time.Parse and the RFC 3339 layout,
// which is not RFC 3339 itself: it rejects a lower-case t or z and accepts
// a comma before the fraction, a one-digit hour, offset hours up to 99 and
// offset minutes up to 99. DecodeBinding gives the sdk the lower-case
// letters in upper case (upperRFC3339Letters), so RFC 3339 is accepted
// whole, with the sdk's laxness on top. The fast path must read time
// exactly so: the RFC 3339 form by hand, anything else through
// time.Parse.
func attrTime(v []byte) (int64, bool) {
	if sec, nsec, ok := parseRFC3339(v); ok {
		return clampNanos(sec, nsec), true
	}
	if len(v) == 0 || !isPlain(v) {
		return 0, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(v))
	if err != nil {
		return 0, false
	}
	return timeNanos(t), true
}

// parseRFC3339 parses an RFC 3339 date-time (RFC 3339 section 5.6):
//
//	date-time = full-date "T" full-time     ; "T" or "t"
//	full-date = 4DIGIT "-" 2DIGIT "-" 2DIGIT ; month 01-12, day valid for month and year
//	full-time = 2DIGIT ":" 2DIGIT ":" 2DIGIT ["." 1*DIGIT] time-offset
//	time-offset = "Z" / ("+" / "-") 2DIGIT ":" 2DIGIT ; "Z" or "z"; hours 00-23, minutes 00-59
//
// with hours 00-23 and minutes and seconds 00-59. It returns the Unix time
// in seconds and nanoseconds (from the first nine fractional digits; the
// rest are dropped, as time.Parse does).
//
// Where RFC 3339 leaves room it decides: no space in place of the T (the
// RFC allows applications to choose one; ISO 8601 and VCC use T), and no
// leap second (second 60): none has been inserted since 2016 nor will be,
// VCC's clocks and Unix time have none, and time.Parse rejects it too.
func parseRFC3339[T string | []byte](b T) (sec, nsec int64, ok bool) {
	if len(b) < len("2006-01-02T15:04:05Z") ||
		b[4] != '-' || b[7] != '-' || b[10] != 'T' && b[10] != 't' || b[13] != ':' || b[16] != ':' {
		return 0, 0, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	second, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || second > 59 {
		return 0, 0, false
	}
	rest := b[19:]
	if len(rest) >= 2 && rest[0] == '.' && '0' <= rest[1] && rest[1] <= '9' {
		n, used := 1, 0
		for ; n < len(rest) && '0' <= rest[n] && rest[n] <= '9'; n++ {
			if used < 9 {
				nsec = nsec*10 + int64(rest[n]-'0')
				used++
			}
		}
		for ; used < 9; used++ {
			nsec *= 10
		}
		rest = rest[n:]
	}
	var offset int64
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		hh, okh := digits(rest[1:3])
		mm, okm := digits(rest[4:6])
		if !okh || !okm || hh > 23 || mm > 59 {
			return 0, 0, false
		}
		offset = (hh*60 + mm) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, 0, false
	}
	sec = daysFromCivil(year, month, day)*86400 + hour*3600 + minute*60 + second - offset
	return sec, nsec, true
}

// digits parses a fixed-width decimal number.
func digits[T string | []byte](b T) (int64, bool) {
	var n int64
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// daysIn returns the days of a month of the proleptic Gregorian calendar.
func daysIn(month, year int64) int64 {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days from 1970-01-01 to a date of the
// proleptic Gregorian calendar (H. Hinnant's days_from_civil).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	doy := (153*((m+9)%12)+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// DefaultMaxClockSkew is the default of --max-clock-skew: how much later
// than the time it was sent (or written to Kafka) an event may say it
// happened.
const DefaultMaxClockSkew = 5 * time.Minute

// CheckTime checks that an event's data.timestamp is plausible: not later
// than its own time attribute + maxSkew (time is when VCC sent the
// notification, so what it reports cannot have happened much later) and,
// when hasRecordTS, not later than recordTS (the Kafka record timestamp) +
// maxSkew. An event without a time attribute is checked against the record
// timestamp alone; `replay`, which has none, passes hasRecordTS false, so
// such events are not checked at all there. maxSkew is the validated
// --max-clock-skew (positive). Past timestamps are never implausible here:
// how late an event may be is the matcher's rule, by the partition clock.
//
// A handled event that fails the check is a *DecodeError with reason
// timestamp-in-future: the record goes to the DLQ. An ignored event (any
// other type, VCC's or not) is never a dead letter for its data, so one
// that fails the check stays ignored but loses its timestamp
// (HasTimestamp false), exactly as when its timestamp is unreadable: it
// can never move the clock, whatever the matcher does with ignored types.
// CheckTime returns nil for it and changes *ev; it changes nothing else.
func CheckTime(ev *match.Event, recordTS time.Time, hasRecordTS bool, maxSkew time.Duration) error {
	if !ev.HasTimestamp {
		return nil
	}
	var err *DecodeError
	switch {
	case ev.HasTime && ev.Timestamp > addClamped(ev.Time, maxSkew):
		err = reject(ReasonTimestampInFuture, "data.timestamp %s is later than time %s + max-clock-skew %s",
			formatNanos(ev.Timestamp), formatNanos(ev.Time), maxSkew)
	case hasRecordTS && ev.Timestamp > addClamped(timeNanos(recordTS), maxSkew):
		err = reject(ReasonTimestampInFuture, "data.timestamp %s is later than the Kafka record timestamp %s + max-clock-skew %s",
			formatNanos(ev.Timestamp), recordTS.UTC().Format(time.RFC3339Nano), maxSkew)
	default:
		return nil
	}
	if ev.Kind == vcc.Ignored && !ev.Phased {
		ev.Timestamp, ev.HasTimestamp = 0, false
		return nil
	}
	return err
}

// addClamped returns n + d, clamped to the int64 bounds.
func addClamped(n int64, d time.Duration) int64 {
	switch {
	case d > 0 && n > maxNanos-int64(d):
		return maxNanos
	case d < 0 && n < minNanos-int64(d):
		return minNanos
	}
	return n + int64(d)
}

// formatNanos writes Unix nanoseconds as RFC 3339 in UTC.
func formatNanos(n int64) string { return time.Unix(0, n).UTC().Format(time.RFC3339Nano) }

// upperRFC3339Letters returns a copy of v with the lower-case t and z that
// RFC 3339 allows in upper case, as the sdk (time.Parse) wants them, and
// true, when v is an RFC 3339 date-time that has any.
func upperRFC3339Letters(v []byte) ([]byte, bool) {
	if _, _, ok := parseRFC3339(v); !ok || v[10] == 'T' && v[len(v)-1] != 'z' {
		return nil, false
	}
	u := bytes.Clone(v)
	u[10] = 'T'
	if u[len(u)-1] == 'z' {
		u[len(u)-1] = 'Z'
	}
	return u, true
}

// upperTimeLetters returns a copy of a structured-mode event with
// upperRFC3339Letters applied to every top-level "time" member that is a
// string without escapes, and whether it changed any. It reads the JSON
// with encoding/json; anything it cannot read it leaves alone.
func upperTimeLetters(value []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(value))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var fixed []byte
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, false
		}
		if key != "time" || len(raw) < 2 || raw[0] != '"' || bytes.IndexByte(raw, '\\') >= 0 {
			continue
		}
		u, ok := upperRFC3339Letters(raw[1 : len(raw)-1])
		if !ok {
			continue
		}
		if fixed == nil {
			fixed = bytes.Clone(value)
		}
		// The value ends where the decoder stopped reading.
		end := int(dec.InputOffset()) - 1
		copy(fixed[end-len(u):end], u)
	}
	return fixed, fixed != nil
}
