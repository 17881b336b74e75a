package vccgen

import "time"

// Layouts used when a time falls outside the years the fast formatter handles.
const (
	layoutMillis = "2006-01-02T15:04:05.000Z07:00"
	layoutTicks  = "2006-01-02T15:04:05.0000000Z07:00"
)

// appendMillis appends the Unix time ms (milliseconds) as an RFC 3339 UTC
// string with exactly three fractional digits, e.g. 2022-08-30T14:34:36.088Z.
func appendMillis(b []byte, ms int64) []byte {
	sec, frac := floorDiv(ms, 1000)
	return appendUTC(b, sec, frac, 3)
}

// appendTicks appends the Unix time t (in 100 ns ticks) as an RFC 3339 UTC
// string with exactly seven fractional digits, e.g. 2022-08-30T14:34:36.6134321Z.
func appendTicks(b []byte, t int64) []byte {
	sec, frac := floorDiv(t, 1e7)
	return appendUTC(b, sec, frac, 7)
}

// appendUTC appends sec (Unix seconds) plus frac (a fraction of a second with
// the given number of digits) as RFC 3339 in UTC.
func appendUTC(b []byte, sec, frac int64, digits int) []byte {
	days, sod := floorDiv(sec, 86400)
	y, m, d := civil(days)
	if y < 0 || y > 9999 {
		layout := layoutMillis
		nsPerUnit := int64(1e6)
		if digits == 7 {
			layout, nsPerUnit = layoutTicks, 100
		}
		return time.Unix(sec, frac*nsPerUnit).UTC().AppendFormat(b, layout)
	}
	b = appendDigits(b, y, 4)
	b = append(b, '-')
	b = appendDigits(b, int64(m), 2)
	b = append(b, '-')
	b = appendDigits(b, int64(d), 2)
	b = append(b, 'T')
	b = appendDigits(b, sod/3600, 2)
	b = append(b, ':')
	b = appendDigits(b, sod/60%60, 2)
	b = append(b, ':')
	b = appendDigits(b, sod%60, 2)
	b = append(b, '.')
	b = appendDigits(b, frac, digits)
	return append(b, 'Z')
}

// appendDigits appends v (non-negative) zero-padded to exactly n digits.
func appendDigits(b []byte, v int64, n int) []byte {
	var buf [20]byte
	for i := n - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[:n]...)
}

// floorDiv returns the floored quotient and the non-negative remainder.
func floorDiv(a, b int64) (q, r int64) {
	q, r = a/b, a%b
	if r < 0 {
		q--
		r += b
	}
	return q, r
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days_from_civil inverse).
func civil(days int64) (year int64, month, day int) {
	z := days + 719468
	era, doe := floorDiv(z, 146097)
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		month = int(mp + 3)
	} else {
		month = int(mp - 9)
	}
	year = yoe + era*400
	if month <= 2 {
		year++
	}
	return year, month, day
}

// appendString appends s as a JSON string. Every string the generator writes
// (UUIDs, KSUIDs, digits, fixed ASCII names) needs no escaping, so the quotes
// are added directly.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendKey appends "key": (with a leading comma unless first).
func appendKey(b []byte, key string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = appendString(b, key)
	return append(b, ':')
}
