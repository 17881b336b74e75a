package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/webhook"
)

func cmdDemo(ctx context.Context, args []string, e env) error {
	c := newCommand("demo", "Run the processor on an embedded Kafka (kfake) with generated VCC traffic: prints each\ninterruption record as it is committed, then a summary (with the phase records of\n--phases-topic, unless it is empty). Ctrl-C ends it cleanly.")
	var (
		f          kafkaFlags
		events     int
		duration   positiveDuration
		seed       int64
		rate       float64
		badRate    float64
		partitions int
		quiet      bool
		viaWebhook bool
	)
	f.register(c)
	duration = positiveDuration(2 * time.Minute)
	c.fs.IntVar(&events, "events", 5000, "number of generated events")
	c.fs.Var(&duration, "duration", "stop after this long even if not all events were processed")
	c.fs.Int64Var(&seed, "seed", 1, "random seed of the generated traffic")
	c.fs.Float64Var(&rate, "rate", 2000, "generated events per second; 0: as fast as possible")
	c.fs.Float64Var(&badRate, "bad-rate", 0.005, "fraction of generated events replaced by malformed input")
	c.fs.IntVar(&partitions, "input-partitions", 3, "partitions of the embedded topics")
	c.fs.BoolVar(&quiet, "quiet", false, "print only the summary")
	c.fs.BoolVar(&viaWebhook, "via-webhook", false, "deliver the generated events as VCC does: signed HTTP POSTs on loopback to the ingest bridge, which produces them")
	// The demo's own defaults differ from run's: quiet logs, console
	// format, phase records on. Defaults, not Sets: a set flag would hide
	// the environment and file.
	f.logLevel = "warn"
	c.fs.Lookup("log-level").DefValue = "warn"
	f.phasesTopic = demoPhasesTopic
	c.fs.Lookup("phases-topic").DefValue = demoPhasesTopic
	if err := parseOrHelp(c, args, e); err != nil {
		return err
	}
	if events <= 0 || partitions <= 0 || rate < 0 || badRate < 0 || badRate > 1 {
		return usageError("events and input-partitions must be positive, rate not negative, bad-rate between 0 and 1")
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	log, err := newLogger(f.logLevel, true, e.stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	f.applyMemoryLimit(log)

	topics := []string{cfg.InputTopic, cfg.OutputTopic, cfg.DLQTopic}
	if cfg.PhasesTopic != "" {
		topics = append(topics, cfg.PhasesTopic)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), topics...))
	if err != nil {
		return fmt.Errorf("start embedded kafka: %w", err)
	}
	defer cluster.Close()
	cfg.Brokers = cluster.ListenAddrs()
	cfg.Logger = log
	cfg.TransactionalID = "interruptions-demo"
	runner, err := processor.NewRunner(cfg)
	if err != nil {
		return usageError("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(duration))
	defer cancel()
	// The processor and the printer stop when the traffic is fully
	// processed (or at the deadline); the generator stops on its own.
	procCtx, stopProc := context.WithCancel(ctx)
	defer stopProc()

	// deliver sends the generated events into the input topic: produced
	// directly, or through the webhook bridge.
	deliver := func(gctx context.Context) error {
		return produce(gctx, cfg.Brokers, cfg.InputTopic, codec.Binary, events, rate, newSource(seed, badRate))
	}
	via := ""
	g, gctx := errgroup.WithContext(ctx)
	if viaWebhook {
		bridgeCtx, stopBridge := context.WithCancel(ctx)
		defer stopBridge()
		url, serve, post, err := demoBridge(cfg, log)
		if err != nil {
			return err
		}
		via = " through the signed webhook at " + url
		g.Go(func() error { return serve(bridgeCtx) })
		deliver = func(gctx context.Context) error {
			defer stopBridge()
			return post(gctx, events, rate, newSource(seed, badRate))
		}
	}
	fmt.Fprintf(e.stdout, "embedded Kafka at %s; %d events at %.0f/s into %q (%d partitions)%s, %s\n\n",
		strings.Join(cfg.Brokers, ","), events, rate, cfg.InputTopic, partitions, via, cfg.Guarantee)

	sum := newSummary()
	g.Go(func() error { return runner.Run(procCtx) })
	g.Go(func() error {
		if err := deliver(gctx); err != nil {
			return fmt.Errorf("generator: %w", err)
		}
		if err := waitProcessed(gctx, cfg); err != nil {
			return err
		}
		stopProc()
		return nil
	})
	g.Go(func() error { return printRecords(procCtx, cfg, e.stdout, quiet, sum) })
	var phases *phaseSummary
	if cfg.PhasesTopic != "" {
		phases = newPhaseSummary()
		g.Go(func() error { return readPhases(procCtx, cfg, phases) })
	}
	err = g.Wait()
	if err != nil && ctx.Err() == nil {
		return err
	}
	if ctx.Err() != nil {
		fmt.Fprintf(e.stdout, "\nstopped before all events were processed: %v\n", context.Cause(ctx))
	}
	dlq, err := countTopic(context.WithoutCancel(ctx), cfg.Brokers, cfg.DLQTopic)
	if err != nil {
		return err
	}
	sum.write(e.stdout, events, dlq)
	if phases != nil {
		phases.write(e.stdout, cfg.PhasesTopic)
	}
	return nil
}

// demoPhasesTopic is demo's default --phases-topic (run's is empty: off).
const demoPhasesTopic = "channel-phases"

// demoBridge sets up the ingest bridge for demo --via-webhook: a producer
// client on the embedded broker, a random subscription secret, a loopback
// listener. It returns the webhook's URL, the function that serves it
// until its ctx ends, and the one that posts generated events to it,
// signed, as VCC does.
func demoBridge(cfg processor.Config, log *zap.Logger) (string, func(context.Context) error, func(context.Context, int, float64, *source) error, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", nil, nil, fmt.Errorf("subscription secret: %w", err)
	}
	v, err := webhook.NewVerifier([][]byte{key}, webhook.DefaultLeeway, nil)
	if err != nil {
		return "", nil, nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ProducerLinger(0))
	if err != nil {
		return "", nil, nil, fmt.Errorf("bridge producer: %w", err)
	}
	b, err := webhook.New(webhook.Config{Client: cl, Topic: cfg.InputTopic, DLQTopic: cfg.DLQTopic,
		Mode: codec.Binary, Verifier: v, Logger: log.Named("ingest")})
	if err != nil {
		cl.Close()
		return "", nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cl.Close()
		return "", nil, nil, fmt.Errorf("webhook listener: %w", err)
	}
	url := "http://" + ln.Addr().String() + webhook.DefaultPath
	serve := func(ctx context.Context) error {
		defer cl.Close()
		return b.Serve(ctx, ln, nil, nil)
	}
	const conc = 8
	p := &webhook.Poster{URL: url, Key: key, Client: &http.Client{Transport: webhookTransport(conc)}}
	post := func(ctx context.Context, events int, rate float64, src *source) error {
		_, err := postEvents(ctx, p, events, rate, conc, src)
		return err
	}
	return url, serve, post, nil
}

// waitProcessed returns when the group's committed offsets reach the input
// topic's end, then waits for the output to be readable to its end.
func waitProcessed(ctx context.Context, cfg processor.Config) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, cfg.InputTopic)
	if err != nil {
		return fmt.Errorf("input end offsets: %w", err)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		committed, err := adm.FetchOffsets(ctx, cfg.Group)
		if err == nil && caughtUp(ends, committed, cfg.InputTopic) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func caughtUp(ends kadm.ListedOffsets, committed kadm.OffsetResponses, topic string) bool {
	done := true
	ends.Each(func(o kadm.ListedOffset) {
		if o.Topic != topic {
			return
		}
		c, ok := committed.Lookup(topic, o.Partition)
		if o.Offset > 0 && (!ok || c.At < o.Offset) {
			done = false
		}
	})
	return done
}

// printRecords reads committed output records until ctx ends and the
// output is read to its end, printing one line each.
func printRecords(ctx context.Context, cfg processor.Config, w io.Writer, quiet bool, sum *summary) error {
	if !quiet {
		fmt.Fprintf(w, "%-23s  %-23s  %10s  %-8s  %-9s  %s\n", "interrupted at (UTC)", "closed at", "duration", "outcome", "role", "channel")
	}
	return readCommitted(ctx, cfg.Brokers, cfg.OutputTopic, func(r *kgo.Record) {
		ce, err := cekafka.DecodeRecord(r)
		if err != nil {
			fmt.Fprintf(w, "undecodable output record at offset %d: %v\n", r.Offset, err)
			return
		}
		var d codec.RecordData
		if err := json.Unmarshal(ce.Data(), &d); err != nil {
			fmt.Fprintf(w, "undecodable output data at offset %d: %v\n", r.Offset, err)
			return
		}
		retracted := ce.Type() == codec.RetractionType
		sum.add(d, retracted)
		if quiet {
			return
		}
		switch {
		case retracted:
			fmt.Fprintf(w, "%-23s  %-23s  %10s  %-8s  %-9s  %s (revision %d)\n", d.InterruptedAt, "-", "-", "retracted", "", d.ChannelID, d.Revision)
		default:
			rev := ""
			if d.Revision > 1 {
				rev = fmt.Sprintf(" (revision %d)", d.Revision)
			}
			fmt.Fprintf(w, "%-23s  %-23s  %10s  %-8s  %-9s  %s%s\n", d.InterruptedAt, d.ClosedAt,
				(time.Duration(d.DurationMs) * time.Millisecond).String(), d.Outcome, d.Party.Role, d.ChannelID, rev)
		}
	})
}

// readCommitted reads topic's committed records (read_committed) until ctx
// ends and the topic is read to its end, calling each for every record.
func readCommitted(ctx context.Context, brokers []string, topic string, each func(*kgo.Record)) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return fmt.Errorf("reader of %s: %w", topic, err)
	}
	defer cl.Close()
	for {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 300*time.Millisecond)
		fetches := cl.PollFetches(pctx)
		cancel()
		n := 0
		fetches.EachRecord(func(r *kgo.Record) {
			n++
			each(r)
		})
		if ctx.Err() != nil && n == 0 {
			return nil
		}
	}
}

// readPhases reads the committed phase records into ps until ctx ends and
// the phases topic is read to its end. It prints nothing (printRecords
// writes beside it): ps counts the records it cannot decode.
func readPhases(ctx context.Context, cfg processor.Config, ps *phaseSummary) error {
	return readCommitted(ctx, cfg.Brokers, cfg.PhasesTopic, func(r *kgo.Record) {
		ce, err := cekafka.DecodeRecord(r)
		if err != nil {
			ps.undecodable++
			return
		}
		var d codec.PhaseData
		if err := json.Unmarshal(ce.Data(), &d); err != nil {
			ps.undecodable++
			return
		}
		// A retraction's data is a subset of a phase's (phaseId,
		// revision, phase): PhaseData reads what the summary needs.
		ps.add(d, ce.Type() == codec.PhaseRetractionType)
	})
}

// phaseSummary gathers the phase records the demo read and keeps the
// final table, as summary does for interruptions: the latest revision of
// each phase, retracted ones dropped.
type phaseSummary struct {
	finalTable[codec.PhaseData]
	undecodable int
}

func newPhaseSummary() *phaseSummary {
	return &phaseSummary{finalTable: finalTable[codec.PhaseData]{final: map[string]finalRow[codec.PhaseData]{}}}
}

func (s *phaseSummary) add(d codec.PhaseData, retracted bool) {
	s.keep(d.PhaseID, d.Revision, d, retracted)
}

// write prints the phase summary: one line per phase of the table, with
// the number of final phases and their mean duration.
func (s *phaseSummary) write(w io.Writer, topic string) {
	count := map[string]int{}
	totalMs := map[string]int64{}
	total := 0
	for _, p := range s.final {
		if p.retracted {
			continue
		}
		total++
		count[p.d.Phase]++
		totalMs[p.d.Phase] += p.d.DurationMs
	}
	fmt.Fprintf(w, "\nphases in %q: %d records (%d corrections, %d retractions);\n"+
		"final table (the latest revision of each phase, retracted ones dropped): %d phases\n\n",
		topic, s.records, s.corrections, s.retractions, total)
	if s.undecodable > 0 {
		fmt.Fprintf(w, "%d undecodable phase records (not counted)\n\n", s.undecodable)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tphases\tmean\t")
	for _, ph := range match.Phases() {
		mean := "-"
		if n := count[ph.Name]; n > 0 {
			mean = (time.Duration(totalMs[ph.Name]) * time.Millisecond / time.Duration(n)).Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t\n", ph.Name, count[ph.Name], mean)
	}
	tw.Flush()
}

// countTopic counts the records in a topic (end minus start offsets).
func countTopic(ctx context.Context, brokers []string, topic string) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return 0, fmt.Errorf("admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(topic, o.Partition); ok {
			n += o.Offset - s.Offset
		}
	})
	return n, errors.Join(starts.Error(), ends.Error())
}

// summary gathers the records the demo printed and keeps the final table:
// the latest revision of each interruption, retracted ones dropped. The
// summary counts what the final table holds, as a downstream consumer
// would; every record is counted only in the header line.
type summary struct{ finalTable[codec.RecordData] }

func newSummary() *summary {
	return &summary{finalTable[codec.RecordData]{final: map[string]finalRow[codec.RecordData]{}}}
}

func (s *summary) add(d codec.RecordData, retracted bool) {
	s.keep(d.InterruptionID, d.Revision, d, retracted)
}

// finalTable counts the records of an upsert stream (interruption or
// phase records) and keeps its final table: the latest revision of each
// id, with whether it is a retraction.
type finalTable[D any] struct {
	records, corrections, retractions int
	final                             map[string]finalRow[D]
}

type finalRow[D any] struct {
	d         D
	rev       int
	retracted bool
}

// keep counts revision rev of id and keeps it when it is the latest.
func (t *finalTable[D]) keep(id string, rev int, d D, retracted bool) {
	t.records++
	switch {
	case retracted:
		t.retractions++
	case rev > 1:
		t.corrections++
	}
	if cur, ok := t.final[id]; ok && cur.rev >= rev {
		return
	}
	t.final[id] = finalRow[D]{d: d, rev: rev, retracted: retracted}
}

func (s *summary) write(w io.Writer, events int, dlq int64) {
	outcomes := map[string]int{}
	durations := map[string][]int64{} // by party role, in ms
	total := 0
	for _, r := range s.final {
		if r.retracted {
			continue
		}
		total++
		outcomes[r.d.Outcome]++
		durations[r.d.Party.Role] = append(durations[r.d.Party.Role], r.d.DurationMs)
	}
	fmt.Fprintf(w, "\nsummary: %d events generated, %d records (%d corrections, %d retractions), %d dead letters;\n"+
		"final table (the latest revision of each interruption, retracted ones dropped): %d interruptions\n\n",
		events, s.records, s.corrections, s.retractions, dlq, total)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "outcome\tinterruptions\t")
	for _, o := range []string{"resumed", "ended", "expired"} {
		fmt.Fprintf(tw, "%s\t%d\t\n", o, outcomes[o])
	}
	tw.Flush()
	fmt.Fprintln(w)
	roles := make([]string, 0, len(durations))
	for r := range durations {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "role\tinterruptions\tp50\tp90\tp99\t")
	for _, r := range roles {
		ds := slices.Clone(durations[r])
		slices.Sort(ds)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t\n", r, len(ds), pct(ds, 0.50), pct(ds, 0.90), pct(ds, 0.99))
	}
	tw.Flush()
}

// pct returns the nearest-rank percentile of sorted durations in ms.
func pct(sorted []int64, p float64) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return (time.Duration(sorted[i]) * time.Millisecond).Round(100 * time.Millisecond).String()
}
