package codec

import (
	"strings"
	"testing"
)

// TestCheckSource: output sources RFC 3986 calls URI-references, which the
// sdk also takes, pass; everything else fails with a sentence that says why.
func TestCheckSource(t *testing.T) {
	tests := []struct {
		source string
		why    string // empty: valid; else a part of the error
	}{
		{"/interruptions", ""},
		{"/x//", ""},
		{"interruptions", ""},
		{"a/b:c", ""},
		{"./a:b", ""},
		{"urn:vcc:interruptions", ""},
		{"https://analytics.example/interruptions?v=1#x", ""},
		{"https://user:pw@analytics.example:8443/a/b", ""},
		{"//analytics.example/x", ""},
		{"//analytics.example:/x", ""},
		{"//[::1]:80/x", ""},
		{"//[2001:db8::ffff:192.0.2.1]/x", ""},
		{"/a%2Fb", ""},
		{"/!$&'()*+,;=:@-._~", ""},
		{"/?a=/?#/?", ""},
		{"?x", ""},

		{"", "must not be empty"},
		{"%%%", "does not start a %XX escape"},
		{"/a%4", "does not start a %XX escape"},
		{"/a%zz", "does not start a %XX escape"},
		{"/a b", `the path cannot hold ' '`},
		{"/a{b}", `the path cannot hold '{'`},
		{"/a|b", `cannot hold '|'`},
		{"/a\\b", `cannot hold '\\'`},
		{"/caf\u00e9", "the path cannot hold byte 0xc3"},
		{"/a\tb", "the path cannot hold byte 0x09"},
		{"/a?b c", `the query cannot hold ' '`},
		{"/a#b#c", `the fragment cannot hold '#'`},
		{"1a:b", "is not a scheme"},
		{":x", "is not a scheme"},
		{"a_b:c", "is not a scheme"},
		{"//host:8x/", "is not a number"},
		{"//ho st/", "the host cannot hold ' '"},
		{"//a@b@c/", "the host cannot hold '@'"},
		{"//[::1/", "has no ']'"},
		{"//[::1]x/", "want a colon and a port"},
		{"//[192.0.2.1]/", "is not an IPv6 address"},
		{"//[fe80::1%25eth0]/", "is not an IPv6 address"},
		{"//[v1]/", "is not an IPvFuture address"},
		{"#", "empty source"},
		// RFC 3986 allows IPvFuture hosts; Go's url.Parse, so the sdk, does not.
		{"//[v7.a:b]/x", "is not a source the CloudEvents sdk accepts"},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			err := CheckSource(tt.source)
			switch {
			case tt.why == "" && err != nil:
				t.Fatalf("CheckSource(%q) = %v, want nil", tt.source, err)
			case tt.why != "" && (err == nil || !strings.Contains(err.Error(), tt.why)):
				t.Fatalf("CheckSource(%q) = %v, want an error saying %q", tt.source, err, tt.why)
			}
		})
	}
}
