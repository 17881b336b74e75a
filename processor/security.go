package processor

import (
	"crypto/tls"
	"crypto/x509"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrAuthentication is returned when the brokers reject the client's
// credentials or the TLS handshake fails: retrying cannot fix either.
var ErrAuthentication = errors.New("authentication failed")

// IsAuthenticationError reports errors that no retry can fix because the
// client and the brokers do not trust each other: a SASL authentication
// failure, a SASL mechanism the broker does not enable, SASL on a listener
// without it, a broker certificate that does not verify (unknown CA, wrong
// host name, expired), a TLS alert from the broker (it rejected the client
// certificate or the protocol) and a broker that answers TLS with non-TLS.
func IsAuthenticationError(err error) bool {
	if err == nil {
		return false
	}
	var (
		verify   *tls.CertificateVerificationError
		alert    tls.AlertError
		record   tls.RecordHeaderError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	return errors.Is(err, kerr.SaslAuthenticationFailed) ||
		errors.Is(err, kerr.UnsupportedSaslMechanism) ||
		errors.Is(err, kerr.IllegalSaslState) ||
		errors.Is(err, ErrAuthentication) ||
		errors.As(err, &verify) ||
		errors.As(err, &alert) ||
		errors.As(err, &record) ||
		errors.As(err, &unknown) ||
		errors.As(err, &hostname) ||
		errors.As(err, &invalid)
}
