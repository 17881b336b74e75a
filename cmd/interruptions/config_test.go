package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/interruptions/interruptions/processor"
)

// fakeEnv is a getenv over a map.
func fakeEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile writes content to name in a temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runCLI runs runMain in process and returns exit code, stdout, stderr.
func runCLI(ctx context.Context, env map[string]string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runMain(ctx, args, env2(&out, &errb, env))
	return code, out.String(), errb.String()
}

func env2(out, errb *bytes.Buffer, m map[string]string) env {
	return env{stdin: strings.NewReader(""), stdout: out, stderr: errb, getenv: fakeEnv(m)}
}

// TestHelpListsEverySetting: --help names every flag with its default and
// its environment variable, says how the config file works, and shows no
// secret, not even one set in the environment.
func TestHelpListsEverySetting(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		want []string
	}{
		{"run", []string{"brokers", "input-topic", "output-topic", "dlq-topic", "group", "max-interruption", "retention", "max-clock-skew", "max-channel-events",
			"output-mode", "source", "guarantee", "transactional-id", "instance-id", "transaction-timeout", "commit-stall-warning", "commit-interval", "session-timeout", "create-topics", "partitions",
			"replication-factor", "start-timeout", "log-level", "config", "tls", "tls-ca-file", "tls-cert-file",
			"tls-key-file", "tls-server-name", "tls-insecure-skip-verify", "sasl-mechanism", "sasl-username",
			"sasl-password", "sasl-password-file", "fetch-max-partition-bytes", "memory-limit", "idle-timeout", "state-api", "pprof-addr"}},
		{"gen", []string{"events", "seed", "brokers", "topic", "rate", "bad-rate", "mode", "webhook", "signing-secret-file", "concurrency", "config", "tls", "tls-ca-file",
			"sasl-mechanism", "sasl-username", "sasl-password", "sasl-password-file"}},
		{"replay", []string{"input", "output", "dlq", "partitions", "config", "max-interruption", "retention", "max-clock-skew", "source", "max-channel-events"}},
		{"demo", []string{"events", "duration", "config", "max-clock-skew", "via-webhook"}},
		{"ingest", []string{"brokers", "topic", "dlq-topic", "mode", "listen", "path", "http-tls-cert-file", "http-tls-key-file",
			"signing-secret-file", "allow-unsigned", "ack-timeout", "max-body", "max-concurrent", "read-header-timeout",
			"read-timeout", "idle-timeout", "metrics-addr", "shutdown-timeout", "start-timeout", "log-level", "config", "gc-percent", "pprof-addr",
			"tls", "tls-cert-file", "tls-key-file", "sasl-mechanism", "sasl-password-file"}},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			code, out, _ := runCLI(context.Background(), map[string]string{"INTERRUPTIONS_SASL_PASSWORD": "hunter2"}, tc.cmd, "--help")
			if code != 0 {
				t.Fatalf("exit %d", code)
			}
			if !strings.Contains(out, "--config YAML file") || !strings.Contains(out, "flag > environment > file > default") {
				t.Errorf("help does not explain the config file and the precedence:\n%s", out)
			}
			// Each flag: "  --name", then its usage, then "default D, env VAR".
			listed := map[string]string{}
			lines := strings.Split(out, "\n")
			for i, l := range lines {
				if name, ok := strings.CutPrefix(l, "  --"); ok && i+2 < len(lines) {
					listed[name] = strings.TrimSpace(lines[i+2])
				}
			}
			for _, name := range tc.want {
				line, ok := listed[name]
				wantEnv := "env INTERRUPTIONS_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
				switch {
				case !ok:
					t.Errorf("--%s is not listed", name)
				case !strings.HasPrefix(line, "default ") || !strings.HasSuffix(line, ", "+wantEnv):
					t.Errorf("--%s: %q, want \"default ..., %s\"", name, line, wantEnv)
				}
			}
			if d := listed["sasl-password"]; d != "" && d != `default "", env INTERRUPTIONS_SASL_PASSWORD` {
				t.Errorf("sasl-password: %q", d)
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("help shows the password")
			}
		})
	}
}

// TestPrecedence: flag > environment > file > default, observed through
// `gen --events N`, which writes N lines.
func TestPrecedence(t *testing.T) {
	file := writeFile(t, "gen.yaml", "events: 7\nseed: 3\n")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want int
	}{
		{"default", nil, nil, 1000},
		{"file", []string{"--config", file}, nil, 7},
		{"file from INTERRUPTIONS_CONFIG", nil, map[string]string{"INTERRUPTIONS_CONFIG": file}, 7},
		{"env beats file", []string{"--config", file}, map[string]string{"INTERRUPTIONS_EVENTS": "5"}, 5},
		{"flag beats env and file", []string{"--config", file, "--events", "2"}, map[string]string{"INTERRUPTIONS_EVENTS": "5"}, 2},
		{"flag beats file", []string{"--events", "3", "--config", file}, nil, 3},
		{"flag beats env", []string{"--events", "4"}, map[string]string{"INTERRUPTIONS_EVENTS": "5"}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(context.Background(), tc.env, append([]string{"gen"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if n := strings.Count(out, "\n"); n != tc.want {
				t.Errorf("%d events, want %d", n, tc.want)
			}
		})
	}
}

// parseRun parses run's settings like cmdRun does and returns them.
func parseRun(t *testing.T, args []string, env map[string]string) (*kafkaFlags, *securityFlags, error) {
	t.Helper()
	c := newCommand("run", "")
	var f kafkaFlags
	f.register(c)
	var sec securityFlags
	sec.register(c)
	return &f, &sec, c.parse(args, fakeEnv(env))
}

// TestConfigFileValues: every kind of setting reads from the file: lists as
// YAML sequences or comma-separated strings, durations, booleans, numbers,
// enums and secrets; precedence holds per setting.
func TestConfigFileValues(t *testing.T) {
	file := writeFile(t, "run.yaml", `# interruptions run
brokers: [a:9092, "b:9092"]
input-topic: in
output-topic: out
max-interruption: 2h
create-topics: false
partitions: 12
guarantee: at-least-once
tls: true
sasl-mechanism: scram-sha-512
sasl-username: svc
sasl-password: from-file
transactional-id: ""
instance-id: pod-from-file
transaction-timeout: 20s
`)
	f, sec, err := parseRun(t, []string{"--config", file, "--output-topic", "flag-out"},
		map[string]string{"INTERRUPTIONS_INPUT_TOPIC": "env-in", "INTERRUPTIONS_SASL_PASSWORD": "from-env",
			"INTERRUPTIONS_INSTANCE_ID": "pod-from-env"})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("brokers", []string(f.brokers), []string{"a:9092", "b:9092"})
	check("input-topic", f.input, "env-in")
	check("output-topic", f.output, "flag-out")
	check("dlq-topic", f.dlq, "channel-events.dlq")
	check("max-interruption", time.Duration(f.maxInterruption), 2*time.Hour)
	check("create-topics", f.createTopics, false)
	check("partitions", f.partitions, 12)
	check("guarantee", f.guarantee.value, "at-least-once")
	check("tls", sec.tls, true)
	check("sasl-mechanism", sec.mechanism, saslScramSHA512)
	check("sasl-username", sec.username, "svc")
	check("sasl-password", sec.password.value(), "from-env")
	cfg, err := f.config()
	if err != nil {
		t.Fatal(err)
	}
	check("instance-id", cfg.InstanceID, "pod-from-env")
	check("transaction-timeout", cfg.TransactionTimeout, 20*time.Second)

	file2 := writeFile(t, "run.yaml", "brokers: \"x:1, y:2\"\n")
	if f, _, err = parseRun(t, []string{"--config", file2}, nil); err != nil {
		t.Fatal(err)
	}
	check("brokers (string)", []string(f.brokers), []string{"x:1", "y:2"})

	for _, empty := range []string{"", "# only a comment\n", "---\n"} {
		if _, _, err := parseRun(t, []string{"--config", writeFile(t, "e.yaml", empty)}, nil); err != nil {
			t.Errorf("file %q: %v", empty, err)
		}
	}
}

// TestSettingErrors: a bad value from any source, an unknown key, a bad
// file exit 2 with a message naming the setting (and the file and line),
// and never show a secret.
func TestSettingErrors(t *testing.T) {
	const secret = "s3cr3t-never-shown"
	missing := filepath.Join(t.TempDir(), "missing")
	file := func(content string) string { return writeFile(t, "c.yaml", content) }
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"bad duration in the file", []string{"run", "--config", file("max-interruption: 2 hours\n")}, nil,
			[]string{"max-interruption", "c.yaml line 1", `"2 hours"`}},
		{"bad duration in the file, from INTERRUPTIONS_CONFIG", []string{"run"},
			map[string]string{"INTERRUPTIONS_CONFIG": file("input-topic: x\nretention: -1h\n")},
			[]string{"retention", "line 2", "must be positive"}},
		{"bad duration in the environment", []string{"run"}, map[string]string{"INTERRUPTIONS_START_TIMEOUT": "soon"},
			[]string{"start-timeout", "INTERRUPTIONS_START_TIMEOUT", `"soon"`}},
		{"bad duration as a flag", []string{"run", "--commit-interval", "0s"}, nil, []string{"commit-interval", "must be positive"}},
		{"session timeout below a second", []string{"run", "--session-timeout", "500ms"}, nil, []string{"session-timeout", "at least 1s"}},
		{"transaction timeout above the session timeout", []string{"run", "--session-timeout", "6s"}, nil,
			[]string{"transaction-timeout and session-timeout", "transaction-timeout 10s is longer than session-timeout 6s"}},
		{"transaction timeout within 5s of the commit interval", []string{"run", "--commit-interval", "6s"},
			map[string]string{"INTERRUPTIONS_TRANSACTION_TIMEOUT": "10999ms"},
			[]string{"transaction-timeout and commit-interval", "transaction-timeout 10.999s is shorter than commit-interval 6s plus 5s"}},
		{"transaction timeout zero", []string{"run", "--transaction-timeout", "0s"}, nil, []string{"transaction-timeout", "must be positive"}},
		{"commit stall warning negative", []string{"run"}, map[string]string{"INTERRUPTIONS_COMMIT_STALL_WARNING": "-1s"},
			[]string{"commit-stall-warning", "must not be negative"}},
		{"transaction timeout not a duration", []string{"run"}, map[string]string{"INTERRUPTIONS_TRANSACTION_TIMEOUT": "ten"},
			[]string{"transaction-timeout", "INTERRUPTIONS_TRANSACTION_TIMEOUT", `"ten"`}},
		{"transaction timeout over 15m", []string{"run", "--session-timeout", "30m", "--transaction-timeout", "16m"}, nil,
			[]string{"transaction-timeout", "transaction.max.timeout.ms"}},
		{"instance id with a slash, from the file", []string{"run", "--config", file("instance-id: pods/1\n")}, nil,
			[]string{"instance-id", `"pods/1" is not a valid group.instance.id`}},
		{"instance id dot", []string{"demo", "--instance-id", "."}, nil, []string{"instance-id", "not a valid group.instance.id"}},
		{"unknown key", []string{"run", "--config", file("brokers: a:1\ninput_topic: x\n")}, nil,
			[]string{`unknown setting "input_topic"`, "line 2"}},
		{"key of another command", []string{"gen", "--config", file("input-topic: x\n")}, nil, []string{`unknown setting "input-topic"`}},
		{"unknown key even when flags set everything", []string{"gen", "--events", "1", "--config", file("bogus: 1\n")}, nil,
			[]string{`"bogus"`}},
		{"config in the file", []string{"run", "--config", file("config: other.yaml\n")}, nil, []string{`"config" cannot be set`}},
		{"list for a single value", []string{"run", "--config", file("input-topic: [a, b]\n")}, nil,
			[]string{"input-topic", "not a list"}},
		{"mapping for a value", []string{"run", "--config", file("group:\n  name: x\n")}, nil, []string{"group", "not a mapping"}},
		{"empty value", []string{"run", "--config", file("group:\n")}, nil, []string{"group", "no value"}},
		{"bad bool", []string{"run", "--config", file("create-topics: yes\n")}, nil, []string{"create-topics", `"yes"`}},
		{"bad enum", []string{"run", "--config", file("guarantee: maybe\n")}, nil, []string{"guarantee", "exactly-once"}},
		{"twice", []string{"run", "--config", file("group: a\ngroup: b\n")}, nil, []string{"group", "set twice"}},
		{"not a mapping", []string{"run", "--config", file("- brokers\n")}, nil, []string{"config", "want a mapping"}},
		{"bad yaml", []string{"run", "--config", file("brokers: [a\n")}, nil, []string{"config", "c.yaml"}},
		{"two documents", []string{"run", "--config", file("group: a\n---\ngroup: b\n")}, nil, []string{"config", "one YAML document"}},
		{"missing file", []string{"run", "--config", missing}, nil, []string{"config", "no such file"}},
		{"validation", []string{"run", "--config", file("input-topic: same\noutput-topic: same\n")}, nil, []string{"input-topic", "must differ"}},

		{"tls setting without tls", []string{"run", "--tls-ca-file", missing}, nil, []string{"tls-ca-file", "--tls is false"}},
		{"tls ca missing", []string{"run", "--tls", "--tls-ca-file", missing}, nil, []string{"tls-ca-file", "no such file"}},
		{"tls ca not pem", []string{"run", "--tls", "--tls-ca-file", file("not a certificate")}, nil, []string{"tls-ca-file", "no PEM certificate"}},
		{"tls cert without key", []string{"run", "--tls", "--tls-cert-file", missing}, nil, []string{"tls-key-file", "required"}},
		{"tls key without cert", []string{"gen", "--brokers", "x:1", "--tls", "--tls-key-file", missing}, nil, []string{"tls-cert-file", "required"}},
		{"tls bad pair", []string{"run", "--tls", "--tls-cert-file", missing, "--tls-key-file", missing}, nil, []string{"tls-cert-file"}},
		{"sasl mechanism", []string{"run", "--sasl-mechanism", "GSSAPI"}, nil, []string{"sasl-mechanism", "SCRAM-SHA-512"}},
		{"sasl mechanism from the file", []string{"run", "--config", file("sasl-mechanism: OAUTHBEARER\n")}, nil,
			[]string{"sasl-mechanism", "c.yaml line 1"}},
		{"sasl without user", []string{"run", "--sasl-mechanism", "PLAIN"}, map[string]string{"INTERRUPTIONS_SASL_PASSWORD": secret},
			[]string{"sasl-username", "required"}},
		{"sasl without password", []string{"run", "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-username", "u"}, nil,
			[]string{"sasl-password", "INTERRUPTIONS_SASL_PASSWORD"}},
		{"sasl password twice", []string{"run", "--sasl-mechanism", "PLAIN", "--sasl-username", "u",
			"--sasl-password-file", file(secret)}, map[string]string{"INTERRUPTIONS_SASL_PASSWORD": secret}, []string{"sasl-password-file", "give one"}},
		{"sasl password file missing", []string{"gen", "--brokers", "x:1", "--sasl-mechanism", "PLAIN", "--sasl-username", "u",
			"--sasl-password-file", missing}, nil, []string{"sasl-password-file", "no such file"}},
		{"sasl password file empty", []string{"run", "--sasl-mechanism", "PLAIN", "--sasl-username", "u",
			"--sasl-password-file", file("\n")}, nil, []string{"sasl-password-file", "empty"}},
		{"password without mechanism", []string{"run", "--config", file("sasl-password: " + secret + "\n")}, nil,
			[]string{"sasl-password", "--sasl-mechanism is none"}},
		{"password with a bad setting next to it", []string{"run", "--config", file("sasl-password: " + secret + "\nretention: forever\n")},
			map[string]string{"INTERRUPTIONS_SASL_USERNAME": "u"}, []string{"retention"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(context.Background(), tc.env, tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", code, out, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, secret) {
				t.Errorf("stderr shows the secret:\n%s", stderr)
			}
		})
	}
}

// TestSecretFlag: a secret never prints, even through the flag set.
func TestSecretFlag(t *testing.T) {
	_, sec, err := parseRun(t, []string{"--sasl-password", "p4ss"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := sec.password.String(); s != "***" {
		t.Errorf("String() = %q, want ***", s)
	}
	if s := shownValue(&flag.Flag{Name: "sasl-password", Value: &sec.password}, "p4ss"); s != "***" {
		t.Errorf("shownValue = %q", s)
	}
	var empty secretFlag
	if empty.String() != "" {
		t.Errorf("empty secret prints %q", empty.String())
	}
}

// TestSecurityNotLogged: neither the settings' log fields nor a zap dump of
// the whole processor.Config, ClientOpts included, contain the password.
func TestSecurityNotLogged(t *testing.T) {
	const password = "pa55-w0rd-in-memory"
	pwFile := writeFile(t, "pw", password+"\n")
	for _, args := range [][]string{
		{"--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", "u", "--sasl-password", password},
		{"--sasl-mechanism", "PLAIN", "--sasl-username", "u", "--sasl-password-file", pwFile},
	} {
		f, sec, err := parseRun(t, args, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := f.config()
		if err != nil {
			t.Fatal(err)
		}
		if err := sec.apply(&cfg); err != nil {
			t.Fatal(err)
		}
		if len(cfg.ClientOpts) != 1 {
			t.Fatalf("%d client options, want 1 (SASL)", len(cfg.ClientOpts))
		}
		var buf bytes.Buffer
		log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zap.DebugLevel))
		log.Info("broker connection", sec.logFields(cfg.Brokers)...)
		log.Info("config", zap.Any("config", cfg), zap.Reflect("reflect", cfg), zap.String("sprintf", fmt.Sprintf("%+v %#v", cfg, sec)))
		if strings.Contains(buf.String(), password) {
			t.Errorf("the password is in the log:\n%s", buf.String())
		}
		var first map[string]any
		if err := json.Unmarshal([]byte(strings.SplitN(buf.String(), "\n", 2)[0]), &first); err != nil {
			t.Fatal(err)
		}
		if s := first["security"].(map[string]any); s["saslMechanism"] == "" || s["saslUsername"] != "u" || s["saslPassword"] == nil {
			t.Errorf("security log fields: %v", s)
		}
	}
}

// testPKI is a CA and a server and a client certificate signed by it, as
// PEM files and as a server tls.Config.
type testPKI struct {
	caFile, certFile, keyFile string
	server                    *tls.Config
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	srvDER, srvKey := leaf(2, x509.ExtKeyUsageServerAuth)
	cliDER, cliKey := leaf(3, x509.ExtKeyUsageClientAuth)
	cliKeyDER, _ := x509.MarshalPKCS8PrivateKey(cliKey)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{
		caFile:   write("ca.pem", "CERTIFICATE", caDER),
		certFile: write("client.pem", "CERTIFICATE", cliDER),
		keyFile:  write("client-key.pem", "PRIVATE KEY", cliKeyDER),
		server: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}},
			ClientCAs:    pool,
			ClientAuth:   tls.VerifyClientCertIfGiven,
		},
	}
}

// TestSecurityAgainstKfake: gen and run connect to franz-go's in-process
// broker with TLS (client certificate too) and SCRAM; a broker certificate
// from an unknown CA ends run at once, exit 1, saying "authentication".
func TestSecurityAgainstKfake(t *testing.T) {
	pki := newTestPKI(t)
	const user, password = "svc", "kfake-secret"
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(pki.server), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", user, password), kfake.SeedTopics(1, "events"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]
	pwFile := writeFile(t, "pw", password+"\n")
	secure := []string{"--brokers", broker, "--tls", "--tls-ca-file", pki.caFile,
		"--tls-cert-file", pki.certFile, "--tls-key-file", pki.keyFile,
		"--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", user}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code, _, stderr := runCLI(ctx, map[string]string{"INTERRUPTIONS_SASL_PASSWORD": password},
		append([]string{"gen", "--events", "20", "--topic", "events"}, secure...)...)
	if code != 0 {
		t.Fatalf("gen over TLS+SCRAM: exit %d: %s", code, stderr)
	}

	// run: up to "processor starting" (brokers answered, topics made),
	// then a clean stop.
	cfgFile := writeFile(t, "run.yaml", fmt.Sprintf("input-topic: events\nsasl-password-file: %s\nmetrics-addr: \"\"\n", pwFile))
	started := newWatchWriter("processor starting")
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		done <- runMain(runCtx, append([]string{"run", "--config", cfgFile}, secure...),
			env{stdout: &bytes.Buffer{}, stderr: started, getenv: fakeEnv(nil)})
	}()
	select {
	case <-started.matched:
	case code := <-done:
		t.Fatalf("run exited %d before starting:\n%s", code, started)
	case <-ctx.Done():
		t.Fatalf("run did not start:\n%s", started)
	}
	stop()
	if code := <-done; code != 0 {
		t.Fatalf("run exit %d after cancel:\n%s", code, started)
	}
	if strings.Contains(started.String(), password) {
		t.Errorf("run logged the password:\n%s", started)
	}

	// A CA that did not sign the broker's certificate: no retries.
	other := newTestPKI(t)
	begin := time.Now()
	code, _, stderr = runCLI(ctx, nil, "run", "--brokers", broker, "--metrics-addr", "", "--start-timeout", "1m",
		"--tls", "--tls-ca-file", other.caFile)
	if code != 1 || !strings.Contains(stderr, "authentication") || !strings.Contains(stderr, "certificate") {
		t.Errorf("run with an unknown CA: exit %d, want 1 with an authentication error:\n%s", code, stderr)
	}
	if took := time.Since(begin); took > 10*time.Second {
		t.Errorf("run with an unknown CA took %s: it retried", took)
	}
}

// watchWriter is a log sink that closes matched when a line contains want.
type watchWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	want    string
	matched chan struct{}
	once    sync.Once
}

func newWatchWriter(want string) *watchWriter {
	return &watchWriter{want: want, matched: make(chan struct{})}
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.matched) })
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestIsAuthenticationError: what ends the start at once.
func TestIsAuthenticationError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("metadata: %w", kerr.SaslAuthenticationFailed), true},
		{fmt.Errorf("dial: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), true},
		{x509.HostnameError{Host: "kafka"}, true},
		{tls.AlertError(42), true},
		{fmt.Errorf("sasl: %w", kerr.IllegalSaslState), true},
		{kerr.UnsupportedSaslMechanism, true},
		{errors.New("connection refused"), false},
		{kerr.TopicAuthorizationFailed, false},
		{nil, false},
	} {
		if got := processor.IsAuthenticationError(tc.err); got != tc.want {
			t.Errorf("IsAuthenticationError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestEnvNamesMatchFlags: every env variable named in --help is the flag's.
func TestEnvNamesMatchFlags(t *testing.T) {
	_, out, _ := runCLI(context.Background(), nil, "run", "--help")
	re := regexp.MustCompile(`(?m)^  --(\S+)\n.*\n\s+default .*, env (\S+)$`)
	var names []string
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		if m[2] != envName(m[1]) {
			t.Errorf("--%s: env %s", m[1], m[2])
		}
		names = append(names, m[1])
	}
	if !sort.StringsAreSorted(names) || len(names) < 25 {
		t.Errorf("flags listed: %v", names)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "***") {
			t.Errorf("help shows a secret: %s", sc.Text())
		}
	}
}

// TestDemoLogLevel: demo's own default log level still yields to the
// environment and the file.
func TestDemoLogLevel(t *testing.T) {
	c := newCommand("demo", "")
	var f kafkaFlags
	f.register(c)
	f.logLevel = "warn"
	c.fs.Lookup("log-level").DefValue = "warn"
	if err := c.parse([]string{"--config", writeFile(t, "d.yaml", "log-level: debug\n")}, fakeEnv(nil)); err != nil {
		t.Fatal(err)
	}
	if f.logLevel != "debug" {
		t.Errorf("log-level %q, want debug from the file", f.logLevel)
	}
	_, out, _ := runCLI(context.Background(), nil, "demo", "--help")
	if !strings.Contains(out, "default warn, env INTERRUPTIONS_LOG_LEVEL") {
		t.Errorf("demo --help does not show its log-level default")
	}
}

// TestRetentionEqualToMaxInterruptionAccepted: --retention equal to
// --max-interruption is valid (README: "at least `--max-interruption`"):
// run's settings become a configuration with both at 1h, whichever source
// gives them, and replay, which checks the same rules, runs to exit 0.
func TestRetentionEqualToMaxInterruptionAccepted(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flags", []string{"--retention", "1h", "--max-interruption", "1h"}, nil},
		{"file and environment", []string{"--config", writeFile(t, "run.yaml", "retention: 60m\n")},
			map[string]string{"INTERRUPTIONS_MAX_INTERRUPTION": "3600s"}},
	} {
		t.Run("run/"+tc.name, func(t *testing.T) {
			f, _, err := parseRun(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := f.config()
			if err != nil {
				t.Fatalf("retention equal to max-interruption refused: %v", err)
			}
			if cfg.Engine.Retention != time.Hour || cfg.Engine.MaxInterruption != time.Hour {
				t.Errorf("retention %s, max-interruption %s; want 1h and 1h", cfg.Engine.Retention, cfg.Engine.MaxInterruption)
			}
		})
	}
	t.Run("replay", func(t *testing.T) {
		in := filepath.Join("testdata", "replay", "cases.input.ndjson")
		code, out, stderr := runCLI(context.Background(), nil, "replay", "--input", in, "--retention", "1h", "--max-interruption", "1h")
		if code != 0 {
			t.Fatalf("exit %d, want 0\nstderr: %s", code, stderr)
		}
		if !strings.Contains(out, `"interruptedAt"`) {
			t.Errorf("replay wrote no interruption record:\n%s", out)
		}
	})
}
