package webhook

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// testSecret is testKey as a secret file holds it: base64. Its text
// reading is these characters, its decoded reading testKey.
var testSecret = base64.StdEncoding.EncodeToString(testKey)

func secretVerifier(t *testing.T, now func() time.Time) *Verifier {
	t.Helper()
	secrets, err := ParseSecretFile("f", []byte("# rotated out\n"+base64.StdEncoding.EncodeToString(otherKey)+"\n"+testSecret+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets) != 2 || string(secrets[1].Decoded) != string(testKey) || string(secrets[1].Text) != testSecret {
		t.Fatalf("secrets %q, want the two readings of each line", secrets)
	}
	v, err := NewSecretVerifier(secrets, DefaultLeeway, now)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestVerifySecretReadings: a token signed with the secret's decoded bytes
// and one signed with its text both verify, and VerifySecret names the
// reading; expiry, the iat limit of a token without exp, the payload hash
// and a foreign key are judged the same under either reading.
func TestVerifySecretReadings(t *testing.T) {
	v := secretVerifier(t, nil)
	body := genEvent(t, 0)
	now := time.Now()
	sum := sha256.Sum256(body)
	noExp := func(key []byte, iat time.Time) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"iat": iat.Unix(), "payload_hash": hex.EncodeToString(sum[:])}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	text := []byte(testSecret)
	for _, tc := range []struct {
		name    string
		sig     string
		body    []byte
		reading SecretReading
		err     error
	}{
		{"decoded", sign(t, testKey, body, now), body, SecretDecoded, nil},
		{"text", sign(t, text, body, now), body, SecretText, nil},
		{"rotated-out secret as text", sign(t, []byte(base64.StdEncoding.EncodeToString(otherKey)), body, now), body, SecretText, nil},
		{"text, no exp, recent iat", noExp(text, now.Add(-time.Minute)), body, SecretText, nil},
		{"text, no exp, old iat", noExp(text, now.Add(-TokenLifetime-DefaultLeeway-time.Second)), body, "", ErrExpiredSignature},
		{"text, expired", sign(t, text, body, now.Add(-TokenLifetime-DefaultLeeway-time.Second)), body, "", ErrExpiredSignature},
		{"text, other body", sign(t, text, body, now), append([]byte(" "), body...), "", ErrPayloadHash},
		{"foreign key", sign(t, []byte("nobody's secret"), body, now), body, "", ErrBadSignature},
		{"the secret's text decoded twice", sign(t, []byte(base64.StdEncoding.EncodeToString(text)), body, now), body, "", ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := v.VerifySecret(tc.sig, tc.body)
			if r != tc.reading || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Errorf("VerifySecret: %q, %v; want %q, %v", r, err, tc.reading, tc.err)
			}
		})
	}
	// A Verifier of keys alone (the demo, gen's tests) knows no text.
	kv, err := NewVerifier([][]byte{testKey}, DefaultLeeway, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Verify(sign(t, text, body, now), body); !errors.Is(err, ErrBadSignature) {
		t.Errorf("NewVerifier accepted a token signed with the text: %v", err)
	}
}

// TestSignatureReadingCounted: the bridge stores requests signed under
// either reading, counts each by reading and logs each reading once, at
// info, the first time it verifies.
func TestSignatureReadingCounted(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	cfg := Config{Verifier: secretVerifier(t, nil), AckTimeout: 5 * time.Second, Logger: zap.New(core)}
	e := start(t, cfg)
	keys := [][]byte{[]byte(testSecret), testKey, []byte(testSecret), []byte(testSecret)}
	for i, k := range keys {
		body := genEvent(t, i)
		if code, msg := e.post(body, map[string]string{SignatureHeader: sign(t, k, body, time.Now())}); code != http.StatusOK {
			t.Fatalf("request %d: %d (%s), want 200", i, code, msg)
		}
	}
	if n := e.count(testTopic); n != int64(len(keys)) {
		t.Errorf("%d records, want %d", n, len(keys))
	}
	for r, want := range map[SecretReading]float64{SecretText: 3, SecretDecoded: 1} {
		if got := testutil.ToFloat64(e.bridge.metrics.signatures.WithLabelValues(string(r))); got != want {
			t.Errorf("signatures_verified_total{secret_reading=%s} = %v, want %v", r, got, want)
		}
	}
	seen := map[string]int{}
	for _, l := range logs.FilterMessageSnippet("reading of the subscription secret").All() {
		seen[l.ContextMap()["secretReading"].(string)]++
	}
	if seen["text"] != 1 || seen["base64"] != 1 || len(seen) != 2 {
		t.Errorf("reading logs %v, want text and base64 once each", seen)
	}
}
