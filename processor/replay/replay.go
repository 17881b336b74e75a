// Package replay runs the matcher over NDJSON files: structured CloudEvents
// in, output CloudEvents and rejected lines out, with one store per
// simulated Kafka partition so that it computes what `run` computes on a
// topic. It has no wall clock and no broker.
//
// Events have no arrival offset in a replay: the timeline keeps them
// unknown rather than a line number, which is not a Kafka offset (a line
// counts blank and rejected lines, and all partitions share one count),
// and a replay's state is never shown or written to a changelog.
package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/handle"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/state"
)

// Summary counts what became of input and state. The zero value is ready.
type Summary struct {
	Events      map[match.Disposition]int
	DeadLetters map[codec.Reason]int
	// Outcomes counts the records published by outcome, every revision
	// (retractions are in Housekeeping.Retractions).
	Outcomes     map[match.Outcome]int
	Housekeeping match.Housekeeping
	// Open is the number of interruptions still open at the end of the
	// input; Held the number closed but waiting for their grace period.
	Open, Held int
	// Phases counts the phase records written (Config.PhasesOutput), every
	// revision, by phase; PhaseRetractions the phase retractions.
	Phases           map[string]int
	PhaseRetractions int
}

func (s *Summary) event(d match.Disposition) {
	if s.Events == nil {
		s.Events = make(map[match.Disposition]int)
	}
	s.Events[d]++
}

func (s *Summary) deadLetter(r codec.Reason) {
	if s.DeadLetters == nil {
		s.DeadLetters = make(map[codec.Reason]int)
	}
	s.DeadLetters[r]++
}

func (s *Summary) outcome(o match.Outcome) {
	if s.Outcomes == nil {
		s.Outcomes = make(map[match.Outcome]int)
	}
	s.Outcomes[o]++
}

// Config configures Replay.
type Config struct {
	Engine  match.EngineConfig
	Encoder cekafka.Encoder
	// MaxClockSkew is how much later than its time attribute an event's
	// data.timestamp may be (codec.CheckTime); later ones are dead letters
	// (timestamp-in-future). Zero or negative: codec.DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// Partitions, when positive, keeps one store and one stream time per
	// simulated input partition, choosing the partition from the event's
	// subject as Kafka's default partitioner does for a keyed record. This
	// makes replay compute exactly what `run` computes on a topic with that
	// many partitions when producers key events by subject. Zero (the
	// default) keeps one store for the whole input: stream time is the
	// largest timestamp in the input.
	Partitions int
	// OpenOutput, when not nil, receives one OpenLine per interruption
	// still open (or held for its grace period) at the end of the input.
	OpenOutput io.Writer
	// PhasesOutput, when not nil, turns the phase records on (see
	// handle.MatcherConfig.Phases): one structured channel.phase.v0 (or
	// channel.phaseretracted.v0) CloudEvent per line, as `run` publishes
	// them to --phases-topic.
	PhasesOutput io.Writer
	// MaxPhase holds the phases' maxima (match.PhaseConfigs); a phase
	// not in it has match.DefaultMaxPhase.
	MaxPhase map[string]time.Duration
}

// OpenLine is one interruption not published at the end of a replay.
type OpenLine struct {
	InterruptionID string `json:"interruptionId"`
	ChannelID      string `json:"channelId"`
	InterruptedAt  string `json:"interruptedAt"`
	// State is "open" (ExpiresAt is when it expires unless a close
	// arrives) or "held" (closed, waiting for its grace period).
	State     string         `json:"state"`
	ExpiresAt string         `json:"expiresAt,omitempty"`
	Outcome   string         `json:"outcome,omitempty"`
	ClosedAt  string         `json:"closedAt,omitempty"`
	OpenedBy  codec.EventRef `json:"openedBy"`
}

// DeadLine is one rejected input line as written to the replay DLQ file.
type DeadLine struct {
	Line   int          `json:"line"`
	Reason codec.Reason `json:"reason"`
	Error  string       `json:"error"`
	// Original is the line as read, without its newline (and on line 1
	// without a UTF-8 byte order mark), when it is valid UTF-8; otherwise
	// OriginalBase64 holds it.
	Original       string `json:"original,omitempty"`
	OriginalBase64 []byte `json:"originalBase64,omitempty"`
}

// Run runs the engine over NDJSON structured CloudEvents read from in,
// writing one structured output CloudEvent per line to out and one DeadLine
// per rejected line to dlq (which may be nil to discard). It returns when
// in is read to the end; only I/O failures are errors.
func Run(ctx context.Context, in io.Reader, out, dlq io.Writer, cfg Config) (Summary, error) {
	engine := match.NewEngine(cfg.Engine)
	var stats Summary
	outW := bufio.NewWriterSize(out, 64<<10)
	var dlqEnc *json.Encoder
	var dlqW *bufio.Writer
	if dlq != nil {
		dlqW = bufio.NewWriterSize(dlq, 64<<10)
		dlqEnc = json.NewEncoder(dlqW)
	}
	// lineNo is the line being handled, for the output and the dead
	// letters; input is it as the handler's input, res the handler's
	// answer.
	var lineNo int
	var input handle.Input
	var res handle.Result
	stores := make([]*state.Store, max(cfg.Partitions, 1))
	var phases []handle.PhaseMatcher
	var phaseW *bufio.Writer
	if cfg.PhasesOutput != nil {
		phaseW = bufio.NewWriterSize(cfg.PhasesOutput, 64<<10)
		for _, pc := range match.PhaseConfigs(cfg.Engine, cfg.MaxPhase) {
			phases = append(phases, handle.PhaseMatcher{Engine: match.NewEngine(pc), Stores: make([]*state.Store, len(stores))})
		}
	}
	handler := handle.DeadLetter(handle.NewMatcher(handle.MatcherConfig{
		Binding:      cekafka.Binding,
		Engine:       engine,
		Stores:       stores,
		MaxClockSkew: cfg.maxClockSkew(),
		Retention:    cfg.Engine.Retention,
		Phases:       phases,
	}).Handle)
	// write writes what handling a line gave: the emitted interruptions,
	// then the line's dead letter or its disposition.
	// line writes one output CloudEvent as a line of w.
	line := func(w *bufio.Writer, what string, ce event.Event, err error) error {
		if err != nil {
			return fmt.Errorf("write %s for line %d: %w", what, lineNo, err)
		}
		b, err := json.Marshal(ce)
		if err != nil {
			return fmt.Errorf("write %s for line %d: marshal record %s: %w", what, lineNo, ce.ID(), err)
		}
		w.Write(b)
		if err := w.WriteByte('\n'); err != nil {
			return fmt.Errorf("write %s for line %d: %w", what, lineNo, err)
		}
		return nil
	}
	write := func() error {
		for i := range res.Out {
			in := &res.Out[i]
			if !in.Retracted {
				stats.outcome(in.Outcome)
			}
			ce, err := codec.RecordEvent(*in, cfg.Encoder.Source)
			if err := line(outW, "output", ce, err); err != nil {
				return err
			}
		}
		for i := range res.Phases {
			if res.Phases[i].Retracted {
				stats.PhaseRetractions++
			} else {
				if stats.Phases == nil {
					stats.Phases = map[string]int{}
				}
				stats.Phases[res.Phases[i].Phase]++
			}
			ce, err := codec.PhaseEvent(res.Phases[i], cfg.Encoder.Source)
			if err := line(phaseW, "phases", ce, err); err != nil {
				return err
			}
		}
		if derr := res.Rejected; derr != nil {
			stats.deadLetter(derr.Reason)
			if dlqEnc == nil {
				return nil
			}
			dl := DeadLine{Line: lineNo, Reason: derr.Reason, Error: derr.Error()}
			if utf8.Valid(input.Value) {
				dl.Original = string(input.Value)
			} else {
				dl.OriginalBase64 = input.Value
			}
			if err := dlqEnc.Encode(dl); err != nil {
				return fmt.Errorf("write dlq line %d: %w", lineNo, err)
			}
			return nil
		}
		if res.Placed {
			stats.event(res.Disposition)
			stats.Housekeeping.Add(res.Housekeeping)
		}
		return nil
	}
	r := bufio.NewReaderSize(in, 64<<10)
	for lineNo = 1; ; lineNo++ {
		if err := ctx.Err(); err != nil {
			return stats, fmt.Errorf("replay stopped at line %d: %w", lineNo, err)
		}
		line, readErr := r.ReadBytes('\n')
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return stats, fmt.Errorf("read line %d: %w", lineNo, readErr)
		}
		if len(line) == 0 && readErr != nil {
			break // end of input; a final newline does not start a line
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		line, final := inputLine(r, line, lineNo, readErr != nil)
		if final {
			break
		}
		// No arrival offset (see the package doc) and no transport
		// timestamp: an event without a time attribute is not checked
		// (codec.CheckTime).
		input = handle.Input{Value: line}
		if err := handler(&input, &res); err != nil {
			return stats, err
		}
		if res.Store >= 0 {
			stores[res.Store].Commit() // replay never rolls back; keep the undo log empty
			for _, p := range phases {
				if st := p.Stores[res.Store]; st != nil {
					st.Commit()
				}
			}
		}
		if err := write(); err != nil {
			return stats, err // an output or dlq write failed
		}
		if readErr != nil {
			break
		}
	}
	if err := outW.Flush(); err != nil {
		return stats, fmt.Errorf("flush output: %w", err)
	}
	if phaseW != nil {
		if err := phaseW.Flush(); err != nil {
			return stats, fmt.Errorf("flush phases output: %w", err)
		}
	}
	if err := pending(engine, stores, cfg.OpenOutput, &stats); err != nil {
		return stats, err
	}
	if dlqW != nil {
		if err := dlqW.Flush(); err != nil {
			return stats, fmt.Errorf("flush dlq: %w", err)
		}
	}
	return stats, nil
}

// pending counts the interruptions not published at the end of the input,
// and writes them to w when it is not nil, by partition then channel.
func pending(engine *match.Engine, stores []*state.Store, w io.Writer, stats *Summary) error {
	var lines []OpenLine
	for _, st := range stores {
		if st == nil {
			continue
		}
		start := len(lines)
		engine.Pending(st, func(in match.Interruption, open bool) {
			l := OpenLine{
				InterruptionID: codec.InterruptionID(in.ChannelID, in.OpenedBy.Source, in.OpenedBy.ID),
				ChannelID:      in.ChannelID,
				InterruptedAt:  codec.FormatMillis(in.InterruptedAt),
				OpenedBy:       codec.EventRef{ID: in.OpenedBy.ID, Type: in.OpenedBy.Type},
			}
			if open {
				stats.Open++
				l.State, l.ExpiresAt = "open", codec.FormatMillis(in.ClosedAt)
			} else {
				stats.Held++
				l.State, l.Outcome, l.ClosedAt = "held", in.Outcome.String(), codec.FormatMillis(in.ClosedAt)
			}
			lines = append(lines, l)
		})
		part := lines[start:]
		sort.Slice(part, func(i, j int) bool {
			if part[i].ChannelID != part[j].ChannelID {
				return part[i].ChannelID < part[j].ChannelID
			}
			return part[i].InterruptedAt < part[j].InterruptedAt
		})
	}
	if w == nil {
		return nil
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			return fmt.Errorf("write open interruptions: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write open interruptions: %w", err)
	}
	return nil
}
