package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/interruptions/interruptions/processor"
)

// The SASL mechanisms --sasl-mechanism accepts.
const (
	saslNone        = "none"
	saslPlain       = "PLAIN"
	saslScramSHA256 = "SCRAM-SHA-256"
	saslScramSHA512 = "SCRAM-SHA-512"
)

// securityFlags are the broker connection's TLS and SASL settings, shared
// by every command that connects to brokers given on the command line.
type securityFlags struct {
	tls                bool
	caFile             string
	certFile, keyFile  string
	serverName         string
	insecureSkipVerify bool
	mechanism          saslMechanismFlag
	username           string
	password           secretFlag
	passwordFile       string
}

func (s *securityFlags) register(c *command) {
	s.mechanism = saslNone
	c.fs.BoolVar(&s.tls, "tls", false, "connect to the brokers with TLS")
	c.fs.StringVar(&s.caFile, "tls-ca-file", "", "PEM file of the CA certificates that sign the brokers' certificates; empty: the system's")
	c.fs.StringVar(&s.certFile, "tls-cert-file", "", "PEM client certificate (chain) for brokers that require one; needs --tls-key-file")
	c.fs.StringVar(&s.keyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	c.fs.StringVar(&s.serverName, "tls-server-name", "", "host name the brokers' certificates must name; empty: each broker's host")
	c.fs.BoolVar(&s.insecureSkipVerify, "tls-insecure-skip-verify", false, "do not verify the brokers' certificates (testing only: anyone can impersonate a broker)")
	c.fs.Var(&s.mechanism, "sasl-mechanism", "SASL mechanism: none, PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (use PLAIN only with --tls)")
	c.fs.StringVar(&s.username, "sasl-username", "", "SASL user name")
	c.fs.Var(&s.password, "sasl-password", "SASL password; prefer the environment variable or --sasl-password-file (a flag shows in the process list). Never logged")
	c.fs.StringVar(&s.passwordFile, "sasl-password-file", "", "file holding the SASL password (one trailing newline is ignored)")
}

// clientOpts checks the settings and returns the franz-go options that
// implement them: none for a plaintext, unauthenticated connection. Its
// errors are usage errors naming the setting; they never contain the
// password.
func (s *securityFlags) clientOpts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		opts = append(opts, kgo.DialTLSConfig(tlsCfg))
	}
	mech, err := s.saslMechanism()
	if err != nil {
		return nil, err
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// apply appends the options of clientOpts to cfg.ClientOpts.
func (s *securityFlags) apply(cfg *processor.Config) error {
	opts, err := s.clientOpts()
	if err != nil {
		return err
	}
	cfg.ClientOpts = append(cfg.ClientOpts, opts...)
	return nil
}

func (s *securityFlags) tlsConfig() (*tls.Config, error) {
	if !s.tls {
		for _, o := range []struct {
			name string
			set  bool
		}{
			{"tls-ca-file", s.caFile != ""},
			{"tls-cert-file", s.certFile != ""},
			{"tls-key-file", s.keyFile != ""},
			{"tls-server-name", s.serverName != ""},
			{"tls-insecure-skip-verify", s.insecureSkipVerify},
		} {
			if o.set {
				return nil, usageError("%s: is set but --tls is false; add --tls", o.name)
			}
		}
		return nil, nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         s.serverName,
		InsecureSkipVerify: s.insecureSkipVerify, //nolint:gosec // opt-in, documented as testing only
	}
	if s.caFile != "" {
		pem, err := os.ReadFile(s.caFile)
		if err != nil {
			return nil, usageError("tls-ca-file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageError("tls-ca-file: %s holds no PEM certificate", s.caFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case s.certFile != "" && s.keyFile == "":
		return nil, usageError("tls-key-file: required with --tls-cert-file")
	case s.keyFile != "" && s.certFile == "":
		return nil, usageError("tls-cert-file: required with --tls-key-file")
	case s.certFile != "":
		cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
		if err != nil {
			return nil, usageError("tls-cert-file, tls-key-file: %v", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (s *securityFlags) saslMechanism() (sasl.Mechanism, error) {
	if s.mechanism == saslNone {
		for _, o := range []struct {
			name string
			set  bool
		}{
			{"sasl-username", s.username != ""},
			{"sasl-password", s.password.value() != ""},
			{"sasl-password-file", s.passwordFile != ""},
		} {
			if o.set {
				return nil, usageError("%s: is set but --sasl-mechanism is none; choose PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", o.name)
			}
		}
		return nil, nil
	}
	if s.username == "" {
		return nil, usageError("sasl-username: required with --sasl-mechanism %s", s.mechanism)
	}
	password := s.password.value()
	switch {
	case password != "" && s.passwordFile != "":
		return nil, usageError("sasl-password-file: set together with sasl-password; give one")
	case s.passwordFile != "":
		b, err := os.ReadFile(s.passwordFile)
		if err != nil {
			return nil, usageError("sasl-password-file: %v", err)
		}
		password = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if password == "" {
			return nil, usageError("sasl-password-file: %s is empty", s.passwordFile)
		}
	case password == "":
		return nil, usageError("sasl-password: required with --sasl-mechanism %s (or --sasl-password-file, or %s)", s.mechanism, envName("sasl-password"))
	}
	switch s.mechanism {
	case saslPlain:
		return plain.Auth{User: s.username, Pass: password}.AsMechanism(), nil
	case saslScramSHA256:
		return scram.Auth{User: s.username, Pass: password}.AsSha256Mechanism(), nil
	default:
		return scram.Auth{User: s.username, Pass: password}.AsSha512Mechanism(), nil
	}
}

// MarshalLogObject logs the settings without the password: only whether
// one was given, and where from.
func (s *securityFlags) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddBool("tls", s.tls)
	if s.tls {
		if s.caFile != "" {
			enc.AddString("tlsCAFile", s.caFile)
		}
		if s.certFile != "" {
			enc.AddString("tlsCertFile", s.certFile)
		}
		if s.serverName != "" {
			enc.AddString("tlsServerName", s.serverName)
		}
		enc.AddBool("tlsInsecureSkipVerify", s.insecureSkipVerify)
	}
	enc.AddString("saslMechanism", string(s.mechanism))
	if s.mechanism != saslNone {
		enc.AddString("saslUsername", s.username)
		switch {
		case s.passwordFile != "":
			enc.AddString("saslPassword", "from "+s.passwordFile)
		case s.password.value() != "":
			enc.AddString("saslPassword", "***")
		}
	}
	return nil
}

// logFields are the brokers and the settings as log fields, password left
// out.
func (s *securityFlags) logFields(brokers []string) []zap.Field {
	return []zap.Field{zap.Strings("brokers", brokers), zap.Object("security", s)}
}

// saslMechanismFlag is --sasl-mechanism: none or a mechanism name, in any
// case.
type saslMechanismFlag string

func (m *saslMechanismFlag) String() string { return string(*m) }

func (m *saslMechanismFlag) Set(v string) error {
	for _, a := range []string{saslNone, saslPlain, saslScramSHA256, saslScramSHA512} {
		if strings.EqualFold(v, a) {
			*m = saslMechanismFlag(a)
			return nil
		}
	}
	return fmt.Errorf("must be one of %s, %s, %s, %s", saslNone, saslPlain, saslScramSHA256, saslScramSHA512)
}

// secretFlag holds a secret. String and GoString never show it, so neither
// --help nor any error or log built from the flag set prints it; and it is
// kept behind a pointer, so that printing a struct that holds the flag
// (fmt's %+v does not call methods of unexported fields) shows an address.
type secretFlag struct{ p *string }

// value is the secret, "" when not set.
func (s *secretFlag) value() string {
	if s == nil || s.p == nil {
		return ""
	}
	return *s.p
}

func (s *secretFlag) String() string {
	if s.value() == "" {
		return ""
	}
	return "***"
}

// GoString keeps %#v from printing the secret.
func (s secretFlag) GoString() string { return (&s).String() }

func (s *secretFlag) Set(v string) error { s.p = &v; return nil }

func (s *secretFlag) secret() {}

// authError marks err as an authentication failure when it is one (wrong
// credentials, an untrusted certificate), so that the message says so.
func authError(err error) error {
	if err != nil && !errors.Is(err, processor.ErrAuthentication) && processor.IsAuthenticationError(err) {
		return fmt.Errorf("%w: %w", processor.ErrAuthentication, err)
	}
	return err
}
