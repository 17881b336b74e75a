package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/processor/replay"
	"go.uber.org/zap"
)

func zapError(err error) zap.Field { return zap.Error(err) }

func cmdReplay(ctx context.Context, args []string, e env) error {
	c := newCommand("replay", "Run the matching engine on NDJSON structured CloudEvents: events in, interruption records out,\nrejected lines to the DLQ file. Exits 0 when the input was read to the end.")
	var f engineFlags
	f.register(c)
	var input, output, dlq, openOutput, phasesOutput string
	var partitions int
	c.fs.StringVar(&input, "input", "-", "NDJSON input file; - reads stdin")
	c.fs.StringVar(&output, "output", "-", "NDJSON output file; - writes stdout")
	c.fs.StringVar(&dlq, "dlq", "", "NDJSON file for rejected lines (line, reason, error, original); empty: discard")
	c.fs.StringVar(&openOutput, "open-output", "", "NDJSON file for the interruptions still open (or held for --grace) at the end of the input, one line each; empty: only their count on stderr")
	c.fs.StringVar(&phasesOutput, "phases-output", "", "NDJSON file for the phase records (channel.phase.v0: alerting, connected, held, parked, interrupted and wrap periods, with corrections and retractions), one structured CloudEvent per line, as run publishes them to --phases-topic; empty: phases off")
	c.fs.IntVar(&partitions, "partitions", 0, "simulate this many input partitions (stream time per partition, keyed by subject) as `run` sees them; 0: one stream")
	if err := parseOrHelp(c, args, e); err != nil {
		return err
	}
	if partitions < 0 {
		return usageError("partitions: must not be negative")
	}
	// Before any file is opened: bad settings write nothing.
	if err := f.validate(); err != nil {
		return err
	}
	in := e.stdin
	if input != "-" && input != "" {
		fh, err := os.Open(input)
		if err != nil {
			return fmt.Errorf("open input: %w", err)
		}
		defer fh.Close()
		in = fh
	}
	out := e.stdout
	if output != "-" && output != "" {
		fh, err := os.Create(output)
		if err != nil {
			return fmt.Errorf("create output: %w", err)
		}
		defer fh.Close()
		out = fh
	}
	var dlqW io.Writer
	if dlq != "" {
		fh, err := os.Create(dlq)
		if err != nil {
			return fmt.Errorf("create dlq: %w", err)
		}
		defer fh.Close()
		dlqW = fh
	}
	var openW io.Writer
	if openOutput != "" {
		fh, err := os.Create(openOutput)
		if err != nil {
			return fmt.Errorf("create open output: %w", err)
		}
		defer fh.Close()
		openW = fh
	}
	var phasesW io.Writer
	if phasesOutput != "" {
		fh, err := os.Create(phasesOutput)
		if err != nil {
			return fmt.Errorf("create phases output: %w", err)
		}
		defer fh.Close()
		phasesW = fh
	}
	stats, err := replay.Run(ctx, in, out, dlqW, replay.Config{
		PhasesOutput: phasesW,
		MaxPhase:     f.maxPhase,
		Engine:       f.engine(),
		Encoder:      cekafka.Encoder{Source: f.source, Mode: codec.Structured},
		Partitions:   partitions,
		MaxClockSkew: time.Duration(f.maxClockSkew),
		OpenOutput:   openW,
	})
	if err != nil {
		return err
	}
	writeStats(e.stderr, stats)
	return nil
}

// writeStats prints counts in a stable order.
func writeStats(w io.Writer, s replay.Summary) {
	fmt.Fprintf(w, "events: processed %d, ignored %d, duplicate %d, conflicting-duplicate %d, dead-lettered %d\n",
		s.Events[match.Processed], s.Events[match.Ignored], s.Events[match.Duplicate], s.Events[match.ConflictingDuplicate], sum(s.DeadLetters))
	hk := s.Housekeeping
	fmt.Fprintf(w, "records: resumed %d, ended %d, expired %d (every revision); corrections %d, retractions %d\n",
		s.Outcomes[match.OutcomeResumed], s.Outcomes[match.OutcomeEnded], s.Outcomes[match.OutcomeExpired],
		hk.Corrections, hk.Retractions)
	fmt.Fprintf(w, "timeline: interrupted-while-interrupted %d, after-end %d, resume-without-interruption %d, too-late %d\n",
		hk.InterruptedWhileInterrupted, hk.AfterEnd, hk.ResumeWithoutInterruption, s.DeadLetters[codec.ReasonTooLate])
	fmt.Fprintf(w, "at end: open %d, held for grace %d; channels deleted %d\n", s.Open, s.Held, hk.Deleted)
	if s.Phases != nil || s.PhaseRetractions > 0 {
		fmt.Fprint(w, "phase records:")
		for _, p := range match.Phases() {
			fmt.Fprintf(w, " %s %d,", p.Name, s.Phases[p.Name])
		}
		fmt.Fprintf(w, " retractions %d (every revision)\n", s.PhaseRetractions)
	}
	reasons := make([]string, 0, len(s.DeadLetters))
	for r := range s.DeadLetters {
		reasons = append(reasons, string(r))
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(w, "dead letters %s: %d\n", r, s.DeadLetters[codec.Reason(r)])
	}
}

func sum[K comparable](m map[K]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
