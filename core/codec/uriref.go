package codec

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
)

// CheckSource returns an error, a plain sentence, unless s can be the
// CloudEvent source of the output records: a non-empty URI-reference as
// RFC 3986 (section 4.1) defines it, which the sdk-go also accepts as a
// non-empty source. Go's url.Parse alone, which the sdk uses, accepts
// what RFC 3986 does not (spaces, non-ASCII, "{}|\^`<>), and the sdk
// silently leaves a source it cannot parse empty, which fails every
// record.
func CheckSource(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if err := checkURIReference(s); err != nil {
		return fmt.Errorf("%q is not a URI-reference (RFC 3986): %w", s, err)
	}
	var ec event.EventContextV1
	if err := ec.SetSource(s); err != nil {
		return fmt.Errorf("%q is not a source the CloudEvents sdk accepts: %w", s, err)
	}
	if ec.Source.String() == "" {
		return fmt.Errorf("%q is an empty source to the CloudEvents sdk", s)
	}
	return nil
}

// checkURIReference checks s against RFC 3986's grammar:
//
//	URI-reference = URI / relative-ref
//	URI           = scheme ":" hier-part [ "?" query ] [ "#" fragment ]
//	relative-ref  = relative-part [ "?" query ] [ "#" fragment ]
//	hier-part, relative-part = "//" authority path-abempty / a path without "//"
//	authority     = [ userinfo "@" ] host [ ":" port ]
//
// where a relative reference's first path segment cannot hold a colon.
func checkURIReference(s string) error {
	rest := s
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		if err := checkChars(rest[i+1:], "the fragment", queryByte); err != nil {
			return err
		}
		rest = rest[:i]
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		if err := checkChars(rest[i+1:], "the query", queryByte); err != nil {
			return err
		}
		rest = rest[:i]
	}
	if i := strings.IndexAny(rest, ":/"); i >= 0 && rest[i] == ':' {
		if !isScheme(rest[:i]) {
			return fmt.Errorf("%q before the first colon is not a scheme, and the first segment of a relative path cannot hold a colon", rest[:i])
		}
		rest = rest[i+1:]
	}
	if auth, ok := strings.CutPrefix(rest, "//"); ok {
		rest = ""
		if j := strings.IndexByte(auth, '/'); j >= 0 {
			auth, rest = auth[:j], auth[j:]
		}
		if err := checkAuthority(auth); err != nil {
			return err
		}
	}
	return checkChars(rest, "the path", pathByte)
}

// isScheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// checkAuthority checks [ userinfo "@" ] host [ ":" port ], where host is
// an IP literal in brackets or a reg-name (which an IPv4 address also is).
func checkAuthority(a string) error {
	if i := strings.IndexByte(a, '@'); i >= 0 {
		if err := checkChars(a[:i], "the user information", userinfoByte); err != nil {
			return err
		}
		a = a[i+1:]
	}
	host, port := a, ""
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return errors.New("the host's '[' has no ']'")
		}
		if err := checkIPLiteral(a[1:end]); err != nil {
			return err
		}
		host, port = "", a[end+1:]
		if port != "" {
			p, ok := strings.CutPrefix(port, ":")
			if !ok {
				return fmt.Errorf("%q follows the host's ']'; want a colon and a port", port)
			}
			port = p
		}
	} else if i := strings.IndexByte(a, ':'); i >= 0 {
		host, port = a[:i], a[i+1:]
	}
	if err := checkChars(host, "the host", regNameByte); err != nil {
		return err
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return fmt.Errorf("the port %q is not a number", port)
		}
	}
	return nil
}

// checkIPLiteral checks what is between a host's brackets: an IPv6
// address (no zone) or "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ).
func checkIPLiteral(s string) error {
	if s != "" && (s[0] == 'v' || s[0] == 'V') {
		ver, rest, ok := strings.Cut(s[1:], ".")
		if !ok || ver == "" || rest == "" || strings.Trim(ver, "0123456789abcdefABCDEF") != "" {
			return fmt.Errorf("[%s] is not an IPvFuture address (v<hex>.<text>)", s)
		}
		return checkChars(rest, "the IPvFuture address", func(c byte) bool { return regNameByte(c) || c == ':' })
	}
	if ip, err := netip.ParseAddr(s); err != nil || !ip.Is6() || ip.Zone() != "" {
		return fmt.Errorf("[%s] is not an IPv6 address", s)
	}
	return nil
}

// checkChars checks that every byte of s is allowed or starts a %XX
// escape.
func checkChars(s, part string, allowed func(byte) bool) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) || !IsHex(s[i+1]) || !IsHex(s[i+2]) {
				return fmt.Errorf("the %% at byte %d of %s does not start a %%XX escape", i, part)
			}
			i += 2
			continue
		}
		if !allowed(c) {
			if c < 0x20 || c >= 0x7f {
				return fmt.Errorf("%s cannot hold byte 0x%02x (non-ASCII characters must be %%XX escapes)", part, c)
			}
			return fmt.Errorf("%s cannot hold %q", part, c)
		}
	}
	return nil
}

// The character classes of RFC 3986: unreserved = ALPHA / DIGIT / "-" /
// "." / "_" / "~"; sub-delims = "!" / "$" / "&" / "'" / "(" / ")" / "*" /
// "+" / "," / ";" / "="; pchar = unreserved / pct-encoded / sub-delims /
// ":" / "@". pct-encoded is checkChars' own.
func unreservedByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func subDelimByte(c byte) bool { return strings.IndexByte("!$&'()*+,;=", c) >= 0 }

func regNameByte(c byte) bool  { return unreservedByte(c) || subDelimByte(c) }
func userinfoByte(c byte) bool { return regNameByte(c) || c == ':' }
func pcharByte(c byte) bool    { return regNameByte(c) || c == ':' || c == '@' }
func pathByte(c byte) bool     { return pcharByte(c) || c == '/' }
func queryByte(c byte) bool    { return pathByte(c) || c == '?' }
