package webhook

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SignatureHeader is the HTTP header of a signed VCC notification: a JWT,
// optionally after "Bearer ".
const SignatureHeader = "Vonage-Signature"

// PayloadHashClaim is the JWT claim that holds the hex SHA-256 hash of the
// request body (VCC's NodeJs consumer example reads this claim).
const PayloadHashClaim = "payload_hash"

// TokenLifetime is how long after issue VCC's signatures expire; Sign uses
// it, and Verify applies it to a token that has an iat but no exp.
const TokenLifetime = 5 * time.Minute

// DefaultLeeway is the clock skew Verify tolerates on exp and iat.
const DefaultLeeway = 30 * time.Second

// Signature failures, as the metric label and the 401 answer name them.
var (
	ErrMissingSignature = errors.New("missing " + SignatureHeader + " header")
	ErrBadSignature     = errors.New("signature does not verify")
	ErrExpiredSignature = errors.New("signature expired")
	ErrPayloadHash      = errors.New("payload hash does not match the body")
)

// SignatureReason is the short word of a signature failure, for metrics.
func SignatureReason(err error) string {
	switch {
	case errors.Is(err, ErrMissingSignature):
		return "missing"
	case errors.Is(err, ErrExpiredSignature):
		return "expired"
	case errors.Is(err, ErrPayloadHash):
		return "payload_hash"
	default:
		return "invalid"
	}
}

// claims are the claims of a VCC signature this package reads. Times are
// plain numbers (NumericDate's own JSON decoding costs more); aud, iss and
// sub are not read.
type claims struct {
	Exp         *float64 `json:"exp,omitempty"`
	Iat         *float64 `json:"iat,omitempty"`
	Nbf         *float64 `json:"nbf,omitempty"`
	PayloadHash string   `json:"payload_hash"`
}

func numericDate(f *float64) *jwt.NumericDate {
	if f == nil {
		return nil
	}
	sec, frac := math.Modf(*f)
	return jwt.NewNumericDate(time.Unix(int64(sec), int64(frac*1e9)))
}

// GetExpirationTime implements jwt.Claims.
func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return numericDate(c.Exp), nil }

// GetIssuedAt implements jwt.Claims.
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error) { return numericDate(c.Iat), nil }

// GetNotBefore implements jwt.Claims.
func (c *claims) GetNotBefore() (*jwt.NumericDate, error) { return numericDate(c.Nbf), nil }

// GetIssuer implements jwt.Claims.
func (c *claims) GetIssuer() (string, error) { return "", nil }

// GetSubject implements jwt.Claims.
func (c *claims) GetSubject() (string, error) { return "", nil }

// GetAudience implements jwt.Claims.
func (c *claims) GetAudience() (jwt.ClaimStrings, error) { return nil, nil }

// SecretReading is how a subscription secret becomes an HMAC key. VCC's
// documentation does not say which reading it signs with, so a Verifier
// built from secrets (NewSecretVerifier) accepts both and tells which one
// verified.
type SecretReading string

// The readings of a subscription secret.
const (
	// SecretDecoded: the secret's base64-decoded bytes (as VCC's NodeJs
	// consumer example reads it).
	SecretDecoded SecretReading = "base64"
	// SecretText: the bytes of the secret's text, as VCC shows it.
	SecretText SecretReading = "text"
)

// Secret is one subscription secret under both readings.
type Secret struct {
	// Decoded is the base64-decoded secret, Text its text as written.
	Decoded, Text []byte
}

// Verifier checks Vonage-Signature headers against one or more subscription
// secrets (several during a rotation). It is safe for concurrent use.
type Verifier struct {
	// keys are the HMAC keys by reading: [0] decoded, [1] text (empty
	// when the Verifier was built from keys alone).
	keys   [2]jwt.VerificationKeySet
	parser *jwt.Parser
	now    func() time.Time
	leeway time.Duration
}

// readings are the SecretReading of Verifier.keys, by index.
var readings = [2]SecretReading{SecretDecoded, SecretText}

// NewVerifier returns a Verifier for HMAC keys (the decoded subscription
// secrets, see ParseSecrets). now is the clock (nil: time.Now); leeway the
// tolerated clock skew.
func NewVerifier(keys [][]byte, leeway time.Duration, now func() time.Time) (*Verifier, error) {
	return newVerifier(keys, nil, leeway, now)
}

// NewSecretVerifier returns a Verifier that accepts a signature made with
// either reading of any of the secrets: the base64-decoded bytes, tried
// first, or the text. VerifySecret says which one verified.
func NewSecretVerifier(secrets []Secret, leeway time.Duration, now func() time.Time) (*Verifier, error) {
	var decoded, text [][]byte
	for _, s := range secrets {
		decoded, text = append(decoded, s.Decoded), append(text, s.Text)
	}
	return newVerifier(decoded, text, leeway, now)
}

func newVerifier(decoded, text [][]byte, leeway time.Duration, now func() time.Time) (*Verifier, error) {
	if len(decoded) == 0 {
		return nil, errors.New("no signing secret")
	}
	if now == nil {
		now = time.Now
	}
	v := &Verifier{now: now, leeway: leeway}
	for i, keys := range [2][][]byte{decoded, text} {
		for _, k := range keys {
			v.keys[i].Keys = append(v.keys[i].Keys, k)
		}
	}
	v.parser = jwt.NewParser(
		// Only HS256: "none", RS256 with the secret as a "public key" and
		// every other algorithm are refused before any key is tried.
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithLeeway(leeway),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(now),
	)
	return v, nil
}

// Verify checks the header value (a JWT, optionally after "Bearer ")
// against body: the HS256 signature with any of the keys, the expiry (exp,
// or iat plus TokenLifetime when there is no exp) and the payload hash.
// Errors wrap one of ErrMissingSignature, ErrBadSignature,
// ErrExpiredSignature, ErrPayloadHash.
func (v *Verifier) Verify(header string, body []byte) error {
	_, err := v.VerifySecret(header, body)
	return err
}

// VerifySecret is Verify that also returns, when the signature verifies,
// the reading of the secret whose key verified it.
func (v *Verifier) VerifySecret(header string, body []byte) (SecretReading, error) {
	tok := strings.TrimSpace(header)
	if len(tok) > 7 && strings.EqualFold(tok[:7], "bearer ") {
		tok = strings.TrimSpace(tok[7:])
	}
	if tok == "" {
		return "", ErrMissingSignature
	}
	var (
		c       claims
		err     error
		reading SecretReading
	)
	for i, keys := range v.keys {
		if len(keys.Keys) == 0 {
			break
		}
		c, reading = claims{}, readings[i]
		_, err = v.parser.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return keys, nil })
		// Only a signature no key of this reading verifies tries the
		// next reading; anything else (expiry, a bad token) is the answer.
		if !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			break
		}
	}
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "", fmt.Errorf("%w: %w", ErrExpiredSignature, err)
	case err != nil:
		return "", fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	if c.Exp == nil {
		iat := numericDate(c.Iat)
		if iat == nil {
			return "", fmt.Errorf("%w: token has neither exp nor iat", ErrBadSignature)
		}
		if v.now().After(iat.Add(TokenLifetime + v.leeway)) {
			return "", fmt.Errorf("%w: issued at %s, more than %s ago", ErrExpiredSignature, iat.UTC().Format(time.RFC3339), TokenLifetime)
		}
	}
	want, err := hex.DecodeString(c.PayloadHash)
	if err != nil || len(want) != sha256.Size {
		return "", fmt.Errorf("%w: claim %s is not a hex SHA-256 hash", ErrPayloadHash, PayloadHashClaim)
	}
	got := sha256.Sum256(body)
	if subtle.ConstantTimeCompare(got[:], want) != 1 {
		return "", ErrPayloadHash
	}
	return reading, nil
}

// Sign returns a Vonage-Signature header value for body as VCC makes one:
// "Bearer " and an HS256 JWT with the key, holding the body's SHA-256 hash
// in payload_hash, issued at now and expiring TokenLifetime later.
func Sign(key, body []byte, now time.Time) (string, error) {
	sum := sha256.Sum256(body)
	iat, exp := float64(now.Unix()), float64(now.Add(TokenLifetime).Unix())
	c := &claims{Iat: &iat, Exp: &exp, PayloadHash: hex.EncodeToString(sum[:])}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return "Bearer " + s, nil
}

// ParseSecrets reads subscription secrets, one per line, each base64
// encoded as VCC's consumer example holds it; blank lines and lines
// starting with # are skipped. It returns the decoded keys. name is the
// file's name for errors, which never show a secret.
func ParseSecrets(name string, data []byte) ([][]byte, error) {
	secrets, err := ParseSecretFile(name, data)
	return decodedKeys(secrets), err
}

// ParseSecretFile reads secrets as ParseSecrets does and returns each under
// both readings: decoded, and its text (the line, trimmed).
func ParseSecretFile(name string, data []byte) ([]Secret, error) {
	var secrets []Secret
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			k, err = base64.RawStdEncoding.DecodeString(line)
		}
		if err != nil {
			return nil, fmt.Errorf("%s line %d: the secret is not base64 (encode a raw secret with `printf %%s SECRET | base64`)", name, n)
		}
		if len(k) == 0 {
			return nil, fmt.Errorf("%s line %d: empty secret", name, n)
		}
		secrets = append(secrets, Secret{Decoded: k, Text: []byte(line)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%s holds no secret", name)
	}
	return secrets, nil
}

// LoadSecretFiles reads every file with ParseSecrets and returns all keys,
// in order.
func LoadSecretFiles(paths []string) ([][]byte, error) {
	secrets, err := LoadSecrets(paths)
	return decodedKeys(secrets), err
}

// LoadSecrets reads every file with ParseSecretFile and returns all
// secrets, in order.
func LoadSecrets(paths []string) ([]Secret, error) {
	var secrets []Secret
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("signing secret file: %w", err)
		}
		s, err := ParseSecretFile(p, data)
		if err != nil {
			return nil, err
		}
		secrets = append(secrets, s...)
	}
	return secrets, nil
}

// decodedKeys are the decoded keys of secrets.
func decodedKeys(secrets []Secret) [][]byte {
	var keys [][]byte
	for _, s := range secrets {
		keys = append(keys, s.Decoded)
	}
	return keys
}
