package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
)

// securityHowTo says how to get a broker with the SASL_SSL listener.
const securityHowTo = "start the test broker with its SASL_SSL listener: `scripts/kafka up-secure` " +
	"(or `KAFKA_SECURE=1 scripts/kafka up`; plain `scripts/kafka up` enables it too when openssl is " +
	"installed), which writes .cache/kafka/secure.env; `scripts/kafka run -- CMD` exports its settings. " +
	"For another broker set KAFKA_SECURE_BROKERS, KAFKA_TLS_CA, KAFKA_SASL_USERNAME and " +
	"KAFKA_SASL_PASSWORD (a user known to SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN)"

// securityConfig is the broker's SASL_SSL listener: its address, the CA
// that signed its certificate, a client certificate it accepts (optional)
// and a user.
type securityConfig struct {
	brokers               string
	ca                    string
	clientCert, clientKey string
	username, password    string
}

// securityLoad returns the SASL_SSL listener of the broker under test, from
// the environment (KAFKA_SECURE_BROKERS, ...) or else from the secure.env
// scripts/kafka writes for the broker it runs. Without one the test fails,
// saying how to start one.
func securityLoad(t *testing.T) securityConfig {
	t.Helper()
	vars := map[string]string{}
	for _, k := range []string{"KAFKA_SECURE_BROKERS", "KAFKA_TLS_CA", "KAFKA_TLS_CLIENT_CERT",
		"KAFKA_TLS_CLIENT_KEY", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"} {
		if v := os.Getenv(k); v != "" {
			vars[k] = v
		}
	}
	from := "the environment"
	if vars["KAFKA_SECURE_BROKERS"] == "" {
		file := filepath.Join(repoRoot, ".cache", "kafka", "secure.env")
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("no SASL_SSL listener configured (KAFKA_SECURE_BROKERS is not set and %v): %s", err, securityHowTo)
		}
		vars = securityParseEnv(b)
		if got, want := vars["KAFKA_BROKERS"], os.Getenv("KAFKA_BROKERS"); got != want {
			t.Fatalf("%s describes the broker at %s, but KAFKA_BROKERS=%s: %s", file, got, want, securityHowTo)
		}
		from = file
	}
	cfg := securityConfig{
		brokers:    vars["KAFKA_SECURE_BROKERS"],
		ca:         vars["KAFKA_TLS_CA"],
		clientCert: vars["KAFKA_TLS_CLIENT_CERT"],
		clientKey:  vars["KAFKA_TLS_CLIENT_KEY"],
		username:   vars["KAFKA_SASL_USERNAME"],
		password:   vars["KAFKA_SASL_PASSWORD"],
	}
	if cfg.brokers == "" || cfg.ca == "" || cfg.username == "" || cfg.password == "" {
		t.Fatalf("incomplete SASL_SSL settings from %s (need KAFKA_SECURE_BROKERS, KAFKA_TLS_CA, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD): %s", from, securityHowTo)
	}
	return cfg
}

// securityParseEnv reads KEY=VALUE lines.
func securityParseEnv(b []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return out
}

// securityTLSArgs are the TLS flags for the listener.
func (c securityConfig) securityTLSArgs() []string {
	return []string{"--tls", "--tls-ca-file", c.ca}
}

// securityPasswordFile writes a password to a file of the test's.
func securityPasswordFile(t *testing.T, password string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "sasl-password")
	if err := os.WriteFile(f, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// securityCLI runs `interruptions ARGS...` to completion with extra
// environment variables and returns its stderr and exit code.
func securityCLI(h *harness, env []string, args ...string) (string, int) {
	h.t.Helper()
	_, stderr, code := h.cliEnv(env, nil, args...)
	return stderr, code
}

// TestSecurityTLSAndSASL runs the processor against the broker's SASL_SSL
// listener: `gen` produces generated events over TLS with a client
// certificate and SASL PLAIN (password from the environment), `run` reads
// its settings from a --config YAML file (TLS, SCRAM-SHA-512, password from
// a file); the output, read back through the plaintext listener, equals
// what replay computes. Neither writes the password to its logs.
func TestSecurityTLSAndSASL(t *testing.T) {
	const parts, events, seed = 2, 1000, 17
	h := setup(t)
	sec := securityLoad(t)
	want := h.replay(h.genNDJSON(events, seed), parts, 20)
	h.createTopic(h.Input, parts)

	genArgs := append([]string{"gen", "--brokers", sec.brokers, "--topic", h.Input,
		"--events", fmt.Sprint(events), "--seed", fmt.Sprint(seed), "--mode", "binary",
		"--sasl-mechanism", "PLAIN", "--sasl-username", sec.username}, sec.securityTLSArgs()...)
	if sec.clientCert != "" && sec.clientKey != "" {
		genArgs = append(genArgs, "--tls-cert-file", sec.clientCert, "--tls-key-file", sec.clientKey)
	}
	stderr, code := securityCLI(h, []string{"INTERRUPTIONS_SASL_PASSWORD=" + sec.password}, genArgs...)
	if code != 0 {
		t.Fatalf("gen over SASL_SSL (PLAIN): exit %d\n%s", code, tail(stderr))
	}
	if n := len(h.readTopic(h.Input)); n != events {
		t.Fatalf("input topic holds %d records after gen over SASL_SSL, want %d", n, events)
	}

	config := filepath.Join(t.TempDir(), "interruptions.yaml")
	yaml := fmt.Sprintf(`# run's settings for the SASL_SSL listener
brokers: [%s]
input-topic: %s
output-topic: %s
dlq-topic: %s
group: %s
partitions: %d
tls: true
tls-ca-file: %s
sasl-mechanism: SCRAM-SHA-512
sasl-username: %s
sasl-password-file: %s
`, sec.brokers, h.Input, h.Output, h.DLQ, h.Group, parts, sec.ca, sec.username, securityPasswordFile(t, sec.password))
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := h.start("run", "run", "--config", config)
	h.waitCaughtUp(p)
	p.stopClean()
	h.checkExactlyOnce(want, codec.Binary)
	for _, s := range []string{stderr, p.stderr.String()} {
		if strings.Contains(s, sec.password) {
			t.Errorf("the password is in the log:\n%s", tail(s))
		}
	}
	if !strings.Contains(p.stderr.String(), `"saslMechanism":"SCRAM-SHA-512"`) {
		t.Errorf("run did not log its SASL settings")
	}
}

// TestSecurityFailFast: a wrong password (each mechanism) or a broker
// certificate that does not verify ends `run` and `gen` within seconds,
// exit 1, with "authentication" in the error and the password nowhere, although
// --start-timeout would allow a minute of retries.
func TestSecurityFailFast(t *testing.T) {
	h := setup(t)
	sec := securityLoad(t)
	wrong := fmt.Sprintf("wrong-%d-password", rand.IntN(1_000_000_000))
	const bound = 10 * time.Second
	cases := []struct {
		name string
		args []string
		env  []string
		want []string // in the last stderr line
	}{
		{"scram-sha-512 wrong password, from a file",
			[]string{"--tls", "--tls-ca-file", sec.ca, "--sasl-mechanism", "SCRAM-SHA-512",
				"--sasl-username", sec.username, "--sasl-password-file", securityPasswordFile(t, wrong)},
			nil, []string{"authentication", "SASL"}},
		{"scram-sha-256 wrong password, from the environment",
			[]string{"--tls", "--tls-ca-file", sec.ca, "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-username", sec.username},
			[]string{"INTERRUPTIONS_SASL_PASSWORD=" + wrong}, []string{"authentication", "SASL"}},
		{"plain wrong password, from a flag",
			[]string{"--tls", "--tls-ca-file", sec.ca, "--sasl-mechanism", "PLAIN",
				"--sasl-username", sec.username, "--sasl-password", wrong},
			nil, []string{"authentication", "SASL"}},
		{"unknown user",
			[]string{"--tls", "--tls-ca-file", sec.ca, "--sasl-mechanism", "SCRAM-SHA-512",
				"--sasl-username", fmt.Sprintf("nobody-%d", rand.IntN(1_000_000)), "--sasl-password", wrong},
			nil, []string{"authentication"}},
		{"untrusted broker certificate",
			[]string{"--tls", "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", sec.username,
				"--sasl-password-file", securityPasswordFile(t, sec.password)},
			nil, []string{"authentication", "certificate"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range []string{"run", "gen"} {
				args := []string{cmd, "--brokers", sec.brokers}
				if cmd == "run" {
					args = append(args, "--start-timeout", "60s", "--input-topic", h.Input,
						"--output-topic", h.Output, "--dlq-topic", h.DLQ, "--group", h.Group)
				} else {
					args = append(args, "--topic", h.Input, "--events", "10")
				}
				args = append(args, tc.args...)
				start := time.Now()
				stderr, code := securityCLI(h, tc.env, args...)
				took := time.Since(start)
				t.Logf("%s: exit %d after %s", cmd, code, took.Round(time.Millisecond))
				lines := strings.Split(strings.TrimSpace(stderr), "\n")
				last := lines[len(lines)-1]
				switch {
				case code != 1:
					t.Errorf("%s: exit %d, want 1\n%s", cmd, code, tail(stderr))
				case took > bound:
					t.Errorf("%s: exited after %s, want within %s: it retried", cmd, took, bound)
				}
				for _, w := range tc.want {
					if !strings.Contains(last, w) {
						t.Errorf("%s: the error does not say %q: %s", cmd, w, last)
					}
				}
				if strings.Contains(stderr, wrong) || strings.Contains(stderr, sec.password) {
					t.Errorf("%s: the password is in stderr:\n%s", cmd, tail(stderr))
				}
			}
		})
	}
}

// TestSecurityConfigErrors: bad security settings, from any source, exit 2
// before connecting, naming the setting, never showing the password.
func TestSecurityConfigErrors(t *testing.T) {
	h := setup(t)
	secret := fmt.Sprintf("secret-%d", rand.IntN(1_000_000_000))
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"ca file missing", []string{"--tls", "--tls-ca-file", missing}, nil, "tls-ca-file"},
		{"ca without tls", []string{"--tls-ca-file", missing}, nil, "tls-ca-file"},
		{"cert without key", []string{"--tls", "--tls-cert-file", missing}, nil, "tls-key-file"},
		{"mechanism unknown", []string{"--sasl-mechanism", "GSSAPI"}, nil, "sasl-mechanism"},
		{"no user", []string{"--sasl-mechanism", "PLAIN"}, []string{"INTERRUPTIONS_SASL_PASSWORD=" + secret}, "sasl-username"},
		{"password twice", []string{"--sasl-mechanism", "PLAIN", "--sasl-username", "u", "--sasl-password-file", missing},
			[]string{"INTERRUPTIONS_SASL_PASSWORD=" + secret}, "sasl-password"},
		{"password without mechanism", nil, []string{"INTERRUPTIONS_SASL_PASSWORD=" + secret}, "sasl-password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stderr, code := securityCLI(h, tc.env, append([]string{"run", "--brokers", "127.0.0.1:1"}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, want 2 naming %s:\n%s", code, tc.want, stderr)
			}
			if strings.Contains(stderr, secret) {
				t.Errorf("the password is in stderr:\n%s", stderr)
			}
		})
	}
}
