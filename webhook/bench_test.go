package webhook

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
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

	"github.com/interruptions/interruptions/processor/codec"
	"github.com/interruptions/interruptions/vccgen"
)

// The ingest benchmarks post signed VCC events over real HTTP connections
// to a bridge in this process that produces to KAFKA_BROKERS (a real
// broker on this machine), or to kfake when it is unset.
//
//	KAFKA_BROKERS=127.0.0.1:39092 go test -run '^$' -bench BenchmarkIngest -benchtime 1x ./webhook/
//
// With INGEST_URL (and INGEST_SECRET_FILE, the secret file it verifies
// with) they post to that bridge instead, e.g. `interruptions ingest` in
// its own process. INGEST_PIDS (comma separated: the bridge, the broker)
// adds each process's CPU time per request (from /proc) to the results.
//
// BenchmarkIngestSaturation: INGEST_REQUESTS (default 100000) requests from
// INGEST_CONCURRENCY (default 128) keep-alive connections as fast as they
// are answered: requests/s. BenchmarkIngestLatency: INGEST_RATE (default
// 2000) requests/s for INGEST_SECONDS (default 10), open loop (latency is
// measured from each request's scheduled time, so a stall counts against
// every request it delays): p50, p99, max.

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchBridge starts a bridge with a fresh topic and returns its URL.
func benchBridge(b *testing.B, maxConcurrent int) string {
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- br.Serve(ctx, ln, nil, nil) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String() + "/"
}

// target returns the URL to post to and the key to sign with: INGEST_URL
// and INGEST_SECRET_FILE's first secret, or a bridge started here.
func target(b *testing.B, maxConcurrent int) (string, []byte) {
	b.Helper()
	url := os.Getenv("INGEST_URL")
	if url == "" {
		return benchBridge(b, maxConcurrent), testKey
	}
	keys, err := LoadSecretFiles([]string{os.Getenv("INGEST_SECRET_FILE")})
	if err != nil {
		b.Fatalf("INGEST_SECRET_FILE: %v", err)
	}
	return url, keys[0]
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

// procCPU is the CPU time (user + system) of the processes in INGEST_PIDS.
func procCPU(b *testing.B) []time.Duration {
	var out []time.Duration
	for _, pid := range strings.Split(os.Getenv("INGEST_PIDS"), ",") {
		if pid = strings.TrimSpace(pid); pid == "" {
			continue
		}
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			b.Fatalf("INGEST_PIDS: %v", err)
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

// reportProcCPU reports the CPU per request of each INGEST_PIDS process.
func reportProcCPU(b *testing.B, before []time.Duration, n int) {
	for i, after := range procCPU(b) {
		b.ReportMetric(float64((after-before[i]).Microseconds())/float64(n), fmt.Sprintf("pid%d-cpu-us/req", i+1))
	}
}

func benchClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost, t.MaxIdleConns = conns, conns
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// postOne posts one signed body and reports whether it was answered 200.
func postOne(cl *http.Client, url string, body []byte, sig string) error {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", structuredType)
	req.Header.Set(SignatureHeader, sig)
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	var buf [64]byte
	for {
		if _, err := resp.Body.Read(buf[:]); err != nil {
			break
		}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func BenchmarkIngestSaturation(b *testing.B) {
	n, conc := envInt("INGEST_REQUESTS", 100000), envInt("INGEST_CONCURRENCY", 128)
	url, key := target(b, 2*conc)
	bodies, sigs := signedRequests(b, key, n)
	cl := benchClient(conc)
	for b.Loop() {
		var next, failed atomic.Int64
		var wg sync.WaitGroup
		cpu0, pcpu0 := cpuTime(), procCPU(b)
		start := time.Now()
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= int64(n) {
						return
					}
					if err := postOne(cl, url, bodies[i], sigs[i]); err != nil {
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
		reportProcCPU(b, pcpu0, n)
	}
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
	rate, secs := envInt("INGEST_RATE", 2000), envInt("INGEST_SECONDS", 10)
	n := rate * secs
	const workers = 512
	url, key := target(b, 2*workers)
	bodies, sigs := signedRequests(b, key, n)
	cl := benchClient(workers)
	for b.Loop() {
		lat := make([]time.Duration, n)
		var failed atomic.Int64
		type job struct {
			i   int
			due time.Time
		}
		jobs := make(chan job, n)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range jobs {
					if d := time.Until(j.due); d > 0 {
						t := time.NewTimer(d)
						<-t.C
					}
					if err := postOne(cl, url, bodies[j.i], sigs[j.i]); err != nil {
						failed.Add(1)
					}
					lat[j.i] = time.Since(j.due)
				}
			}()
		}
		pcpu0 := procCPU(b)
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
		reportProcCPU(b, pcpu0, n)
	}
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
