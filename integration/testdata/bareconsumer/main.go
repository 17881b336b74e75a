// Command bareconsumer is the floor of the end-to-end benchmark
// (integration/e2ebench_test.go): a franz-go group consumer that reads a
// topic from a new group until every partition reaches the given end
// offset, discards the records, prints how many it read and exits. It runs
// as its own process so that its rusage (CPU, max RSS) is its own. It uses
// the same group settings as the processor's consumer (cooperative-sticky
// balancer, auto-commit off) and franz-go's default fetch sizes. It is not
// a user-facing command; the benchmark builds it from testdata.
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
	cl, err := kgo.NewClient(
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
	fmt.Println(records)
	return nil
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
