package codec

import (
	"math"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestFastTimestamp: the timestamp functions agree with the RFC 3339
// oracle, and attrTime with time.Parse, on forms at and past their edges.
func TestFastTimestamp(t *testing.T) {
	for _, s := range []string{
		"2026-01-05T08:00:00Z", "2026-01-05T08:00:00.5465745Z", "2026-01-05T08:00:00.123456789012Z",
		"2026-01-05T10:00:00+02:00", "2026-01-05T02:30:00.1-05:30", "2026-01-05T08:00:00-00:00",
		"2026-01-05T08:00:00+23:59", "2026-01-05T08:00:00-23:59", "2026-01-05T08:00:00+24:00", "2026-01-05T08:00:00+01:60",
		"2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
		"2026-04-31T00:00:00Z", "2026-12-31T23:59:59.999999999Z", "2016-12-31T23:59:60Z", "2026-01-05T24:00:00Z",
		"2026-01-05t08:00:00Z", "2026-01-05T08:00:00z", "2026-01-05t08:00:00.5z", "2026-01-05T8:00:00Z", "2026-01-05T08:00:00,5Z", "2026-01-05T08:00:00.Z",
		"2026-1-05T08:00:00Z", "+026-01-05T08:00:00Z", "2026-01-05T08:00:00.5", "2026-01-05T08:00:00Z ", " 2026-01-05T08:00:00Z",
		"1700-01-01T00:00:00+23:59", "1699-12-31T23:59:59Z", "1677-09-21T00:12:43.145224192Z", "1677-09-21T00:12:43.145224193Z",
		"1677-09-21T00:12:43.145224193+00:01", "1677-09-21T00:13:43.145224193+00:01",
		"2200-12-31T23:59:59.999999999-23:59", "2201-01-01T00:00:00Z", "2262-04-11T23:47:16.854775807Z", "2262-04-11T23:47:16.854775808Z",
		"2262-04-11T23:47:16.854775807-00:01", "2262-04-12T00:46:16.854775807+23:59",
		"0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999999999Z",
		"2026-01-05T08:00:00+02:00:00", "2026-01-05T08:00:00+0200", "", "2026",
	} {
		t.Run(s, func(t *testing.T) { checkTimestamp(t, s) })
	}
}

// rfc3339 is the date-time grammar of RFC 3339 section 5.6 as a regular
// expression: with refRFC3339, the oracle the hand-written parser did not
// compute.
var rfc3339 = regexp.MustCompile(`^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?([Zz]|([+-])([0-9]{2}):([0-9]{2}))$`)

// refRFC3339 reads s by the RFC 3339 grammar and its ranges (month 01-12,
// day in the month, hour 00-23, minute 00-59, second 00-59: no leap
// second, offset hours 00-23 and minutes 00-59), building the time with
// time.Date.
func refRFC3339(s string) (time.Time, bool) {
	m := rfc3339.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	year, month, day, hour, minute, second := n(1), n(2), n(3), n(4), n(5), n(6)
	// The last day of a month is day 0 of the next.
	if month < 1 || month > 12 || day < 1 || day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() ||
		hour > 23 || minute > 59 || second > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if frac := m[7]; frac != "" {
		digits := (frac[1:] + "000000000")[:9]
		nsec, _ = strconv.Atoi(digits)
	}
	offset := 0
	if m[9] != "" {
		oh, om := n(10), n(11)
		if oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if m[9] == "-" {
			offset = -offset
		}
	}
	return time.Date(year, time.Month(month), day, hour, minute, second, nsec, time.FixedZone("", offset)), true
}

// checkTimestamp fails when the timestamp functions disagree with the
// RFC 3339 oracle, or attrTime with time.Parse (the sdk's parser), on s.
func checkTimestamp(t *testing.T, s string) {
	t.Helper()
	ref, refOK := refRFC3339(s)
	sec, nsec, ok := parseRFC3339(s)
	bsec, bnsec, bok := parseRFC3339([]byte(s))
	if ok != refOK || refOK && (sec != ref.Unix() || nsec != int64(ref.Nanosecond())) {
		t.Fatalf("parseRFC3339(%q) = %d, %d, %v; RFC 3339: %v, %v", s, sec, nsec, ok, ref, refOK)
	}
	if bsec != sec || bnsec != nsec || bok != ok {
		t.Fatalf("parseRFC3339 of %q as bytes = %d, %d, %v; as a string %d, %d, %v", s, bsec, bnsec, bok, sec, nsec, ok)
	}
	inRange := refOK && !ref.Before(time.Unix(0, math.MinInt64+1)) && !ref.After(time.Unix(0, math.MaxInt64))
	want := int64(0)
	if inRange {
		want = ref.UnixNano()
	}
	got, err := parseTimestamp(s)
	if (err == nil) != inRange || got != want {
		t.Fatalf("parseTimestamp(%q) = %d, %v; want %d (RFC 3339 %v, in range %v)", s, got, err, want, refOK, inRange)
	}
	if got, ok := fastTimestamp([]byte(s)); got != want || ok != inRange {
		t.Fatalf("fastTimestamp(%q) = %d, %v; want %d, %v", s, got, ok, want, inRange)
	}
	// attrTime: RFC 3339, or what time.Parse (the sdk) accepts.
	sdk, err := time.Parse(time.RFC3339Nano, s)
	if refOK {
		sdk, err = ref, nil
	}
	wantAttr := err == nil && s != "" && isPlain([]byte(s))
	gotAttr, ok := attrTime([]byte(s))
	if ok != wantAttr {
		t.Fatalf("attrTime(%q) ok = %v, want %v (time.Parse: %v)", s, ok, wantAttr, err)
	}
	if ok {
		wantNanos := int64(math.MaxInt64)
		switch {
		case sdk.Before(time.Unix(0, math.MinInt64+1)):
			wantNanos = math.MinInt64 + 1
		case !sdk.After(time.Unix(0, math.MaxInt64)):
			wantNanos = sdk.UnixNano()
		}
		if gotAttr != wantNanos {
			t.Fatalf("attrTime(%q) = %d, want %d (%v)", s, gotAttr, wantNanos, sdk)
		}
	}
}

// FuzzTimestamp: the fast timestamp functions agree with the standard
// library on any string.
func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{"2026-01-05T08:00:00.5465745Z", "2026-01-05T10:00:00.123+02:00", "2024-02-29T23:59:59.999999999-23:59",
		"1700-01-01T00:00:00+23:59", "2200-12-31T23:59:59Z", "2262-04-11T23:47:16.854775807Z", "0000-01-01T00:00:00Z",
		"2026-01-05t08:00:00.5z", "2026-01-05T08:00:00,5Z", "2026-01-05T8:00:00Z", "2026-01-05T08:00:00+24:00", "2016-12-31T23:59:60Z"} {
		f.Add(s)
	}
	f.Fuzz(checkTimestamp)
}
