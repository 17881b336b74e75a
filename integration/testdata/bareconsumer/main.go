// Command bareconsumer is the floor of the end-to-end benchmark
// (integration/e2ebench_test.go): a franz-go group consumer that reads a
// topic from a new group until every partition reaches the given end
// offset, discards the records, prints how many it read and exits. It runs
// as its own process so that its rusage (CPU) and peak RSS are its own. It uses
// the same group settings as the processor's consumer (cooperative-sticky
// balancer, auto-commit off) and franz-go's default fetch sizes. It is not
// a user-facing command; the benchmark builds it from testdata. On stderr
// it reports the record batches it read: their count, records per batch,
// and compressed and uncompressed bytes (the shape of the input).
//
//	bareconsumer -brokers HOST:PORT -topic T -group G -ends 0:123,1:456,...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "bareconsumer: %v\n", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bareconsumer", flag.ContinueOnError)
	brokers := fs.String("brokers", "", "seed brokers, comma separated")
	topic := fs.String("topic", "", "topic to read")
	group := fs.String("group", "", "consumer group (new)")
	endsArg := fs.String("ends", "", "partition:end-offset pairs, comma separated")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *brokers == "" || *topic == "" || *group == "" || *endsArg == "" {
		return errors.New("-brokers, -topic, -group and -ends are required")
	}
	ends, err := parseEnds(*endsArg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	left := 0
	for _, e := range ends {
		if e > 0 {
			left++
		}
	}
	var batches batchStats
	cl, err := kgo.NewClient(
		kgo.WithHooks(&batches),
		kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.ConsumerGroup(*group),
		kgo.ConsumeTopics(*topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
	)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	var records int64
	done := make(map[int32]bool, len(ends))
	for left > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("%d records read, %d partitions not at their end: %w", records, left, ctx.Err())
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("fetch %s[%d]: %w", t, p, err))
		})
		if ferr != nil {
			return ferr
		}
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			records += int64(len(fp.Records))
			if last := fp.Records[len(fp.Records)-1].Offset; !done[fp.Partition] && last+1 >= ends[fp.Partition] {
				done[fp.Partition] = true
				left--
			}
		})
	}
	hwm, err := vmHWM()
	if err != nil {
		return err
	}
	fmt.Println(records, hwm)
	n := max(batches.n.Load(), 1)
	fmt.Fprintf(os.Stderr, "%d batches, %.0f records/batch, %.0f B/batch compressed, %.0f B/batch uncompressed, %.2f compression ratio\n",
		n, float64(batches.records.Load())/float64(n), float64(batches.compressed.Load())/float64(n),
		float64(batches.uncompressed.Load())/float64(n), float64(batches.uncompressed.Load())/float64(max(batches.compressed.Load(), 1)))
	return nil
}

// batchStats counts the record batches read. The client calls the hook
// from its fetch goroutines: the counters are atomic.
type batchStats struct {
	n, records, compressed, uncompressed atomic.Int64
}

// OnFetchBatchRead implements kgo.HookFetchBatchRead.
func (s *batchStats) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	s.n.Add(1)
	s.records.Add(int64(m.NumRecords))
	s.compressed.Add(int64(m.CompressedBytes))
	s.uncompressed.Add(int64(m.UncompressedBytes))
}

// vmHWM is this process's peak resident set size in kB (VmHWM in
// /proc/self/status). Not rusage's maxrss: that includes the address space
// the process had before exec, the parent's when it was started with vfork,
// as Go's os/exec does.
func vmHWM() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read /proc/self/status: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}

// parseEnds parses "0:123,1:456".
func parseEnds(s string) (map[int32]int64, error) {
	ends := make(map[int32]int64)
	for _, kv := range strings.Split(s, ",") {
		p, e, ok := strings.Cut(kv, ":")
		if !ok {
			return nil, fmt.Errorf("-ends: %q is not partition:offset", kv)
		}
		pn, err := strconv.ParseInt(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("-ends: partition %q: %w", p, err)
		}
		en, err := strconv.ParseInt(e, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("-ends: offset %q: %w", e, err)
		}
		ends[int32(pn)] = en
	}
	return ends, nil
}
