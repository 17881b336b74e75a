package codec

import (
	"testing"

	"github.com/interruptions/interruptions/internal/testkit"
)

func TestFormatMillis(t *testing.T) {
	tests := []struct {
		ns   int64
		want string
	}{
		{0, "1970-01-01T00:00:00.000Z"},
		{1, "1970-01-01T00:00:00.000Z"},
		{999999, "1970-01-01T00:00:00.000Z"},
		{1000000, "1970-01-01T00:00:00.001Z"},
		{-1, "1969-12-31T23:59:59.999Z"},
		{-1000000, "1969-12-31T23:59:59.999Z"},
		{-1000001, "1969-12-31T23:59:59.998Z"},
		{testkit.At("2022-08-30T14:34:36.0889999Z"), "2022-08-30T14:34:36.088Z"},
		{testkit.At("2026-01-05T23:30:00.5-01:00"), "2026-01-06T00:30:00.500Z"},
	}
	for _, tt := range tests {
		if got := FormatMillis(tt.ns); got != tt.want {
			t.Errorf("FormatMillis(%d) = %s, want %s", tt.ns, got, tt.want)
		}
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want Mode
		ok   bool
	}{
		{"binary", Binary, true},
		{"structured", Structured, true},
		{"", 0, false},
		{"Binary", 0, false},
		{"json", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseMode(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseMode(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && got.String() != tt.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tt.in)
		}
	}
}
