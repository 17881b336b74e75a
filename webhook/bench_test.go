package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/vccgen"
)

// The ingest benchmarks post signed VCC events over real HTTP connections
// to a bridge in this process that produces to KAFKA_BROKERS (a real
// broker on this machine), or to kfake when it is unset.
//
//	KAFKA_BROKERS=127.0.0.1:39092 go test -run '^$' -bench BenchmarkIngest -benchtime 1x ./webhook/
//
// With INGEST_BIN (the built binary) they start `INGEST_BIN ingest` in its
// own process, as users run it, against KAFKA_BROKERS (`make bench-ingest`
// does this), with INGEST_ARGS added to its flags, and report its CPU time
// per request (ingest-cpu-us/req) and peak RSS.
// With INGEST_URL (and INGEST_SECRET_FILE, the secret file it verifies
// with) they post to that bridge instead. INGEST_PIDS (comma separated,
// e.g. the broker's pid) adds each process's CPU time per request (from
// /proc) to the results as pid1-cpu-us/req, pid2-...
//
// BenchmarkIngestSaturation: INGEST_REQUESTS (default 100000) requests from
// INGEST_CONCURRENCY (default 128) keep-alive connections as fast as they
// are answered: requests/s. BenchmarkIngestLatency: INGEST_RATE (default
// 2000) requests/s for INGEST_SECONDS (default 10), open loop (latency is
// measured from each request's scheduled time, so a stall counts against
// every request it delays): p50, p99, max. INGEST_DRIVER picks the load
// driver: raw (default; see newDriver) or net/http. With a bridge started
// here, both check at the end that its topic holds one record per request
// answered 200.
//
// Each benchmark runs once per scheme, http then https, in the same round
// (sub-benchmarks BenchmarkIngestSaturation/http, .../https): the bridge
// serves HTTPS with a fresh self-signed ECDSA P-256 certificate
// (--http-tls-cert-file, --http-tls-key-file for INGEST_BIN) and the
// driver speaks HTTP/1.1 over TLS on its keep-alive connections, as a
// webhook sender does. INGEST_SCHEMES (default "http,https") picks them;
// with INGEST_URL only its own scheme runs (INGEST_CA_FILE: the PEM CA
// that verifies an https INGEST_URL; without it the system's roots).

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchBridge starts a bridge with a fresh topic and returns its URL and a
// function that counts the records in the topic.
func benchBridge(b *testing.B, maxConcurrent int, serverTLS *tls.Config) (string, func() int64) {
	b.Helper()
	brokers := strings.Split(os.Getenv("KAFKA_BROKERS"), ",")
	topic := fmt.Sprintf("bench-ingest-%d", time.Now().UnixNano())
	if brokers[0] == "" {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, topic, topic+".dlq"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		brokers = c.ListenAddrs()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	if os.Getenv("KAFKA_BROKERS") != "" {
		adm := kadm.NewClient(cl)
		if _, err := adm.CreateTopics(context.Background(), 6, 1, nil, topic, topic+".dlq"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { adm.DeleteTopics(context.Background(), topic, topic+".dlq") })
	}
	v, err := NewVerifier([][]byte{testKey}, DefaultLeeway, nil)
	if err != nil {
		b.Fatal(err)
	}
	br, err := New(Config{Client: cl, Topic: topic, DLQTopic: topic + ".dlq", Mode: codec.Structured,
		Verifier: v, MaxConcurrent: maxConcurrent})
	if err != nil {
		b.Fatal(err)
	}
	addr, _ := serveTest(b, br, serverTLS, nil)
	return scheme(serverTLS) + "://" + addr + "/", recordCount(b, kadm.NewClient(cl), topic)
}

// benchTarget is what a benchmark posts to.
type benchTarget struct {
	url string
	key []byte
	// stored counts the records in the bridge's topic; nil for INGEST_URL.
	stored func() int64
	// tls is the drivers' TLS configuration for an https url.
	tls *tls.Config
	// pids are the processes whose CPU time per request is reported
	// (as NAME-cpu-us/req): the bridge's (INGEST_BIN, "ingest") and
	// INGEST_PIDS ("pid1", "pid2", ...).
	pids, names []string
}

// scheme is the URL scheme of a server with tlsCfg.
func scheme(tlsCfg *tls.Config) string {
	if tlsCfg != nil {
		return "https"
	}
	return "http"
}

// schemes are the schemes the ingest benchmarks run: INGEST_URL's, or
// INGEST_SCHEMES (default http and https).
func schemes(b *testing.B) []string {
	if u := os.Getenv("INGEST_URL"); u != "" {
		s, _, _ := strings.Cut(u, "://")
		return []string{s}
	}
	list := os.Getenv("INGEST_SCHEMES")
	if list == "" {
		list = "http,https"
	}
	var out []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "http" && s != "https" {
			b.Fatalf("INGEST_SCHEMES: %q is neither http nor https", s)
		}
		out = append(out, strings.TrimSpace(s))
	}
	return out
}

// target returns what to post to with scheme (http or https): INGEST_URL
// (signing with INGEST_SECRET_FILE's first secret), the binary INGEST_BIN
// started as `ingest` against KAFKA_BROKERS, or a bridge in this process.
func target(b *testing.B, maxConcurrent int, scheme string) benchTarget {
	b.Helper()
	t := benchTarget{key: testKey}
	var serverTLS *tls.Config
	if scheme == "https" && os.Getenv("INGEST_URL") == "" {
		cert, pool := selfSigned(b)
		serverTLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		t.tls = &tls.Config{RootCAs: pool}
	}
	for _, pid := range strings.Split(os.Getenv("INGEST_PIDS"), ",") {
		if pid = strings.TrimSpace(pid); pid != "" {
			t.pids, t.names = append(t.pids, pid), append(t.names, fmt.Sprintf("pid%d", len(t.pids)+1))
		}
	}
	switch {
	case os.Getenv("INGEST_URL") != "":
		keys, err := LoadSecretFiles([]string{os.Getenv("INGEST_SECRET_FILE")})
		if err != nil {
			b.Fatalf("INGEST_SECRET_FILE: %v", err)
		}
		t.url, t.key = os.Getenv("INGEST_URL"), keys[0]
		if ca := os.Getenv("INGEST_CA_FILE"); ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				b.Fatalf("INGEST_CA_FILE: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				b.Fatalf("INGEST_CA_FILE %s holds no PEM certificate", ca)
			}
			t.tls = &tls.Config{RootCAs: pool}
		} else if scheme == "https" {
			t.tls = &tls.Config{}
		}
	case os.Getenv("INGEST_BIN") != "":
		var pid string
		t.url, t.stored, pid = ingestProcess(b, os.Getenv("INGEST_BIN"), maxConcurrent, serverTLS)
		t.pids, t.names = append([]string{pid}, t.pids...), append([]string{"ingest"}, t.names...)
	default:
		t.url, t.stored = benchBridge(b, maxConcurrent, serverTLS)
	}
	return t
}

// ingestProcess starts `INGEST_BIN ingest` as its own process, as users
// run it, on fresh topics of the broker at KAFKA_BROKERS, and stops it
// with SIGTERM at the end; with serverTLS, it serves HTTPS with its
// certificate. It returns its URL, a count of the records in its topic and
// its pid.
func ingestProcess(b *testing.B, bin string, maxConcurrent int, serverTLS *tls.Config) (string, func() int64, string) {
	b.Helper()
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers == "" {
		b.Fatal("INGEST_BIN needs KAFKA_BROKERS")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	topic := fmt.Sprintf("bench-ingest-%d", time.Now().UnixNano())
	if _, err := adm.CreateTopics(context.Background(), 6, 1, nil, topic, topic+".dlq"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { adm.DeleteTopics(context.Background(), topic, topic+".dlq") })
	secret := filepath.Join(b.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(base64.StdEncoding.EncodeToString(testKey)+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port for the bridge
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"ingest", "--brokers", brokers, "--listen", addr, "--signing-secret-file", secret,
		"--topic", topic, "--dlq-topic", topic + ".dlq", "--max-concurrent", strconv.Itoa(maxConcurrent), "--log-level", "warn"},
		strings.Fields(os.Getenv("INGEST_ARGS"))...)
	if serverTLS != nil {
		certFile, keyFile := writeKeyPair(b, serverTLS.Certificates[0])
		args = append(args, "--http-tls-cert-file", certFile, "--http-tls-key-file", keyFile)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		if waitErr != nil {
			b.Errorf("%s ingest: %v", bin, waitErr)
		}
	})
	base := scheme(serverTLS) + "://" + addr
	probe := benchClient(1)
	if serverTLS != nil {
		pool := x509.NewCertPool()
		leaf, err := x509.ParseCertificate(serverTLS.Certificates[0].Certificate[0])
		if err != nil {
			b.Fatal(err)
		}
		pool.AddCert(leaf)
		probe.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	defer probe.CloseIdleConnections()
	testkit.Poll(b, 30*time.Second, 20*time.Millisecond, "ingest ready", exited, func() string { return fmt.Sprint(waitErr) },
		func() (bool, string) {
			resp, err := probe.Get(base + "/readyz")
			if err != nil {
				return false, err.Error()
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, resp.Status
		})
	return base + DefaultPath, recordCount(b, adm, topic), strconv.Itoa(cmd.Process.Pid)
}

// writeKeyPair writes cert's chain and key as PEM files for
// --http-tls-cert-file and --http-tls-key-file.
func writeKeyPair(b *testing.B, cert tls.Certificate) (certFile, keyFile string) {
	b.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	var chain []byte
	for _, c := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	if err := os.WriteFile(certFile, chain, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		b.Fatal(err)
	}
	return certFile, keyFile
}

// recordCount returns a function that counts the records in topic.
func recordCount(b *testing.B, adm *kadm.Client, topic string) func() int64 {
	return func() int64 { return topicRecords(b, adm, topic) }
}

// drivers opens n connections of the INGEST_DRIVER load driver.
func drivers(b *testing.B, t benchTarget, n int) []driver {
	b.Helper()
	ds := make([]driver, n)
	for i := range ds {
		d, err := newDriver(os.Getenv("INGEST_DRIVER"), t.url, t.tls)
		if err != nil {
			b.Fatal(err)
		}
		ds[i] = d
		b.Cleanup(d.close)
	}
	return ds
}

// postOne posts one signed body and fails unless it is answered 200.
func postOne(d driver, body []byte, sig string) error {
	code, err := d.post(body, sig)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("status %d", code)
	}
	return err
}

// checkStored fails unless the topic holds exactly want records: every
// request answered 200 was stored, once (no retries happen in a run).
func checkStored(b *testing.B, stored func() int64, want int64) {
	if stored == nil {
		return
	}
	if got := stored(); got != want {
		b.Errorf("the topic holds %d records after %d requests answered 200", got, want)
	}
}

// signedRequests returns n generated events, each with its signature.
func signedRequests(b *testing.B, key []byte, n int) (bodies [][]byte, sigs []string) {
	b.Helper()
	g := vccgen.New(vccgen.Config{Seed: 11})
	now := time.Now()
	for range n {
		ev := g.Next()
		s, err := Sign(key, ev.Value, now)
		if err != nil {
			b.Fatal(err)
		}
		bodies, sigs = append(bodies, ev.Value), append(sigs, s)
	}
	return bodies, sigs
}

// procCPU is the CPU time (user + system) of the processes pids.
func procCPU(b *testing.B, pids []string) []time.Duration {
	var out []time.Duration
	for _, pid := range pids {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			b.Fatalf("CPU time of process %s: %v", pid, err)
		}
		// Fields after the command's closing parenthesis; utime and
		// stime are the 14th and 15th of the whole line, in 1/100 s.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out = append(out, time.Duration(ut+st)*10*time.Millisecond)
	}
	return out
}

// maxRSS is the peak resident set size of process pid (VmHWM), in bytes.
func maxRSS(b *testing.B, pid string) int64 {
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		b.Fatalf("status of process %s: %v", pid, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("VmHWM of process %s: %q", pid, rest)
			}
			return kb << 10
		}
	}
	b.Fatalf("no VmHWM in /proc/%s/status", pid)
	return 0
}

// reportProcCPU reports the CPU per request of each process of pids.
func reportProcCPU(b *testing.B, t benchTarget, before []time.Duration, n int) {
	for i, after := range procCPU(b, t.pids) {
		b.ReportMetric(float64((after-before[i]).Microseconds())/float64(n), t.names[i]+"-cpu-us/req")
		if t.names[i] == "ingest" {
			b.ReportMetric(float64(maxRSS(b, t.pids[i]))/(1<<20), "ingest-maxrss-MiB")
		}
	}
}

func benchClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost, t.MaxIdleConns = conns, conns
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

func BenchmarkIngestSaturation(b *testing.B) {
	for _, s := range schemes(b) {
		b.Run(s, func(b *testing.B) { benchSaturation(b, s) })
	}
}

func benchSaturation(b *testing.B, scheme string) {
	n, conc := envInt("INGEST_REQUESTS", 100000), envInt("INGEST_CONCURRENCY", 128)
	t := target(b, 2*conc, scheme)
	bodies, sigs := signedRequests(b, t.key, n)
	ds := drivers(b, t, conc)
	var posted int64
	for b.Loop() {
		var next, failed atomic.Int64
		var wg sync.WaitGroup
		cpu0, pcpu0 := cpuTime(), procCPU(b, t.pids)
		start := time.Now()
		for _, d := range ds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= int64(n) {
						return
					}
					if err := postOne(d, bodies[i], sigs[i]); err != nil {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		took := time.Since(start)
		if f := failed.Load(); f > 0 {
			b.Errorf("%d of %d requests failed", f, n)
		}
		b.ReportMetric(float64(n)/took.Seconds(), "req/s")
		// CPU of this process (load driver and bridge, not the broker)
		// per request, and how much of the machine it got.
		cpu := cpuTime() - cpu0
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-us/req")
		b.ReportMetric(cpu.Seconds()/took.Seconds(), "cores")
		reportProcCPU(b, t, pcpu0, n)
		posted += int64(n) - failed.Load()
	}
	checkStored(b, t.stored, posted)
}

// cpuTime is the user and system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkIngestLatency(b *testing.B) {
	for _, s := range schemes(b) {
		b.Run(s, func(b *testing.B) { benchLatency(b, s) })
	}
}

func benchLatency(b *testing.B, scheme string) {
	rate, secs := envInt("INGEST_RATE", 2000), envInt("INGEST_SECONDS", 10)
	n := rate * secs
	const workers = 512
	t := target(b, 2*workers, scheme)
	bodies, sigs := signedRequests(b, t.key, n)
	ds := drivers(b, t, workers)
	var posted int64
	for b.Loop() {
		lat := make([]time.Duration, n)
		var failed atomic.Int64
		type job struct {
			i   int
			due time.Time
		}
		jobs := make(chan job, n)
		var wg sync.WaitGroup
		for _, d := range ds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range jobs {
					if d := time.Until(j.due); d > 0 {
						t := time.NewTimer(d)
						<-t.C
					}
					if err := postOne(d, bodies[j.i], sigs[j.i]); err != nil {
						failed.Add(1)
					}
					lat[j.i] = time.Since(j.due)
				}
			}()
		}
		pcpu0 := procCPU(b, t.pids)
		start := time.Now().Add(50 * time.Millisecond)
		for i := range n {
			jobs <- job{i: i, due: start.Add(time.Duration(i) * time.Second / time.Duration(rate))}
		}
		close(jobs)
		wg.Wait()
		if f := failed.Load(); f > 0 {
			b.Errorf("%d of %d requests failed", f, n)
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[n/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[n*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lat[n-1].Microseconds())/1000, "max-ms")
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "req/s")
		reportProcCPU(b, t, pcpu0, n)
		posted += int64(n) - failed.Load()
	}
	checkStored(b, t.stored, posted)
}

// BenchmarkVerify is the signature check of one generated event.
func BenchmarkVerify(b *testing.B) {
	v, err := NewVerifier([][]byte{testKey}, DefaultLeeway, nil)
	if err != nil {
		b.Fatal(err)
	}
	bodies, sigs := signedRequests(b, testKey, 1)
	for b.Loop() {
		if err := v.Verify(sigs[0], bodies[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode is reading one structured event through the sdk-go HTTP
// binding and finding its key.
func BenchmarkDecode(b *testing.B) {
	bodies, _ := signedRequests(b, testKey, 40)
	body := bodies[len(bodies)-1]
	br := &Bridge{cfg: Config{Topic: "t", Mode: codec.Structured}, structuredHeader: http.Header{"Content-Type": {structuredType}}}
	for b.Loop() {
		if _, de := br.structured(body); de != nil {
			b.Fatal(de)
		}
	}
}
