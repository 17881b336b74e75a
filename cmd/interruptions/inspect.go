package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/partread"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/state"
	"github.com/interruptions/interruptions/stateapi"
)

// inspectJSON is what inspect prints: the channel as the state API
// answers it, then the channel's records in the output topic.
type inspectJSON struct {
	stateapi.Channel
	OutputTopic string `json:"outputTopic"`
	// OutputRecords are the output topic's records of the channel's
	// interruptions (every revision and retraction the topic still
	// holds), in the order of their Kafka timestamps.
	OutputRecords []outputRecordJSON `json:"outputRecords"`
	// PhasesTopic and PhaseRecords, with --phases-topic: the phases
	// topic's records of the channel's phase periods, as OutputRecords.
	PhasesTopic  string             `json:"phasesTopic,omitempty"`
	PhaseRecords []outputRecordJSON `json:"phaseRecords,omitempty"`
}

// outputRecordJSON is one output record: where it is, when it was
// written, and its CloudEvent.
type outputRecordJSON struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
	// Timestamp is the Kafka record's timestamp.
	Timestamp string `json:"timestamp"`
	// Key is the interruptionId (phaseId for a phase record).
	Key  string `json:"key"`
	Type string `json:"type"`
	ID   string `json:"id"`
	// Data is the CloudEvent's data: the record (revision, outcome,
	// times, events) or the retraction (revision, reason).
	Data json.RawMessage `json:"data,omitempty"`
	// Error says why a record could not be read as a CloudEvent.
	Error string `json:"error,omitempty"`
}

// cmdInspect prints one channel's state as the state API answers it, read
// from the changelog, and its records in the output topic: for when no
// instance runs.
func cmdInspect(ctx context.Context, args []string, e env) error {
	c := newCommand("inspect", "Print one channel's state (its timeline, interruptions and revisions, and its phases when the\nchangelog holds phase records, as GET /v1/channels/{id} answers) from the state changelog, then\nits records in the output topic (and in the phases topic, with --phases-topic), without a running\ninstance. Usage: interruptions inspect [flags] CHANNEL_ID")
	c.args = 1
	def := processor.DefaultConfig()
	var (
		brokers     = listFlag(def.Brokers)
		group       string
		outputTopic string
		phasesTopic string
		timeout     = positiveDuration(30 * time.Second)
		f           engineFlags
		sec         securityFlags
	)
	c.fs.Var(&brokers, "brokers", "Kafka seed brokers, comma separated")
	c.fs.StringVar(&group, "group", def.Group, "the processor's consumer group; its changelog is <group>-state-changelog")
	c.fs.StringVar(&outputTopic, "output-topic", def.OutputTopic, "the processor's topic of interruption records, read for the channel's records")
	c.fs.StringVar(&phasesTopic, "phases-topic", "", "the processor's topic of phase records (its --phases-topic), read for the records of the channel's phases; empty (the default): not read")
	c.fs.Var(&timeout, "timeout", "how long to wait for the brokers and the reads")
	f.register(c)
	sec.register(c)
	if err := parseOrHelp(c, args, e); err != nil {
		return err
	}
	if c.fs.NArg() != 1 {
		return usageError("want one CHANNEL_ID, got %d arguments", c.fs.NArg())
	}
	channelID := c.fs.Arg(0)
	if err := f.validate(); err != nil {
		return err
	}
	opts, err := sec.clientOpts()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(timeout))
	defer cancel()
	opts = append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)
	admCl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	cs, err := inspectChannel(ctx, adm, opts, group+"-state-changelog", channelID, f.engine(), f.maxPhase)
	if err != nil {
		return authError(err)
	}
	if !cs.Found {
		return fmt.Errorf("channel %s: no state in any partition of %s-state-changelog", channelID, group)
	}
	out, err := inspectOutput(ctx, adm, opts, outputTopic, cs)
	if err != nil {
		return authError(err)
	}
	view := inspectJSON{Channel: stateapi.ChannelView(cs), OutputTopic: outputTopic, OutputRecords: out}
	if phasesTopic != "" {
		view.PhasesTopic = phasesTopic
		if view.PhaseRecords, err = inspectPhases(ctx, adm, opts, phasesTopic, cs); err != nil {
			return authError(err)
		}
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(view)
}

// inspectChannel finds channelID in the changelog and describes it as of
// its last committed value. It reads the partition its input partition
// by Kafka's default partitioner (murmur2) maps to first, then every
// other partition in order, so that it finds channels whose producer used
// another partitioner (librdkafka's default is CRC32); each to its end,
// read_committed. Not found: the ChannelState names the murmur2
// partition, with that partition's clock.
func inspectChannel(ctx context.Context, adm *kadm.Client, opts []kgo.Opt, topic, channelID string, cfg match.EngineConfig, maxPhase map[string]time.Duration) (processor.ChannelState, error) {
	cs := processor.ChannelState{ChannelID: channelID}
	bounds, err := topicBounds(ctx, adm, topic)
	if err != nil {
		return cs, err
	}
	first := int32(codec.KeyPartition([]byte(channelID), len(bounds)))
	order := []int32{first}
	for p := range int32(len(bounds)) {
		if p != first {
			order = append(order, p)
		}
	}
	for _, p := range order {
		found, err := inspectPartition(ctx, opts, topic, p, bounds[p], channelID, cfg, maxPhase)
		if err != nil {
			return cs, err
		}
		if p == first || found.Found {
			cs = found
		}
		if found.Found {
			break
		}
	}
	return cs, nil
}

// inspectPartition reads changelog partition p over r and describes
// channelID as of its last value there; with the phases too when the
// partition holds phase records (the processor ran with --phases-topic).
func inspectPartition(ctx context.Context, opts []kgo.Opt, topic string, p int32, r partread.Range, channelID string, cfg match.EngineConfig, maxPhase map[string]time.Duration) (processor.ChannelState, error) {
	cs := processor.ChannelState{ChannelID: channelID, Partition: p}
	phaseCfgs := match.PhaseConfigs(cfg, maxPhase)
	var clock int64
	phaseClocks := make([]int64, len(phaseCfgs))
	phased := false // a phase store's record seen
	// The channel's records (its head and, for a long channel, its
	// segments), loaded in order; a phase store's records (keyed by
	// state.PhaseKeyPrefix(i) then what the store alone would write) go
	// to the loader's phase loader i.
	l := state.NewLoader(1).WithPhases(len(phaseCfgs))
	var loadErr error
	err := readRecords(ctx, opts, topic, map[int32]partread.Range{p: r}, func(r *kgo.Record) {
		key, phase := r.Key, -1
		if i, inner, ok := state.PhaseKey(r.Key); ok {
			if i >= len(phaseCfgs) {
				return // a phase store this build does not run
			}
			key, phase, phased = inner, i, true
		}
		if string(key) == state.StreamTimeKey {
			if t, err := state.DecodeStreamTime(r.Value); err == nil {
				if phase >= 0 {
					phaseClocks[phase] = t
				} else {
					clock = t
				}
			}
			return
		}
		if id, ok := state.ChannelOfKey(key); ok && id == channelID && loadErr == nil {
			loadErr = l.Load(r.Key, r.Value)
		}
	})
	if err != nil {
		return cs, err
	}
	if loadErr == nil {
		loadErr = l.Finish()
	}
	if loadErr != nil {
		return cs, fmt.Errorf("decode channel %s: %w", channelID, loadErr)
	}
	cs.Clock = clock
	if ch := l.Store.Get(channelID); ch != nil {
		cs.Found = true
		cs.ConversationID, cs.InteractionID, cs.Party = ch.Identity()
		cs.Description = match.NewEngine(cfg).Describe(ch, clock)
	}
	if phased {
		engines := make([]*match.Engine, len(phaseCfgs))
		channels := make([]*state.Channel, len(phaseCfgs))
		for i, pc := range phaseCfgs {
			engines[i], channels[i] = match.NewEngine(pc), l.Phases[i].Store.Get(channelID)
		}
		processor.DescribePhases(&cs, engines, channels, phaseClocks)
	}
	return cs, nil
}

// inspectOutput returns the output topic's records of the channel's
// interruptions. They are keyed by interruptionId, which the channel's
// id and each opening event's source and id give: every event on the
// timeline is a candidate (an interruption's opening event stays on it
// for as long as the channel has state), and only the partitions those
// keys map to are read, each to the end it had when the read began.
func inspectOutput(ctx context.Context, adm *kadm.Client, opts []kgo.Opt, topic string, cs processor.ChannelState) ([]outputRecordJSON, error) {
	var keys []string
	for _, ev := range cs.Events {
		keys = append(keys, codec.InterruptionID(cs.ChannelID, ev.Source, ev.ID))
	}
	return inspectRecords(ctx, adm, opts, topic, keys)
}

// inspectPhases returns the phases topic's records of the channel's
// phase periods, found as inspectOutput finds interruption records: a
// period is keyed by its phaseId, which the channel's id, the phase and
// its opening event give, and every event on a phase's timeline is a
// candidate opener of that phase.
func inspectPhases(ctx context.Context, adm *kadm.Client, opts []kgo.Opt, topic string, cs processor.ChannelState) ([]outputRecordJSON, error) {
	var keys []string
	for _, ph := range cs.Phases {
		for _, ev := range ph.Events {
			keys = append(keys, codec.PhaseID(cs.ChannelID, ph.Phase, ev.Source, ev.ID))
		}
	}
	return inspectRecords(ctx, adm, opts, topic, keys)
}

// inspectRecords returns topic's records keyed by one of keys, reading
// only the partitions the keys map to (Kafka's default partitioner, as
// the processor produces them), each to the end it had when the read
// began, ordered by timestamp.
func inspectRecords(ctx context.Context, adm *kadm.Client, opts []kgo.Opt, topic string, keyList []string) ([]outputRecordJSON, error) {
	out := []outputRecordJSON{}
	bounds, err := topicBounds(ctx, adm, topic)
	if err != nil {
		return out, err
	}
	keys := map[string]bool{}
	parts := map[int32]partread.Range{}
	for _, k := range keyList {
		keys[k] = true
		p := int32(codec.KeyPartition([]byte(k), len(bounds)))
		parts[p] = bounds[p]
	}
	err = readRecords(ctx, opts, topic, parts, func(r *kgo.Record) {
		if keys[string(r.Key)] {
			out = append(out, outputRecordView(r))
		}
	})
	if err != nil {
		return out, err
	}
	slices.SortFunc(out, func(a, b outputRecordJSON) int {
		return cmp.Or(cmp.Compare(a.Timestamp, b.Timestamp), cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	return out, nil
}

// outputRecordView spells an output record out.
func outputRecordView(r *kgo.Record) outputRecordJSON {
	v := outputRecordJSON{Partition: r.Partition, Offset: r.Offset, Key: string(r.Key),
		Timestamp: codec.FormatMillis(r.Timestamp.UnixNano())}
	ce, err := cekafka.DecodeRecord(r)
	if err != nil {
		v.Error = err.Error()
		return v
	}
	v.Type, v.ID = ce.Type(), ce.ID()
	if d := ce.Data(); json.Valid(d) {
		v.Data = d
	} else {
		v.Error = "data is not JSON"
	}
	return v
}

// topicBounds returns each partition's log start and end (high
// watermark) offsets; a topic without partitions is an error.
func topicBounds(ctx context.Context, adm *kadm.Client, topic string) (map[int32]partread.Range, error) {
	bounds, err := partread.Bounds(ctx, adm, topic)
	if err == nil && len(bounds) == 0 {
		err = fmt.Errorf("topic %s does not exist", topic)
	}
	return bounds, err
}

// readRecords reads partitions ps of topic over their ranges,
// read_committed, and calls fn with each record that is not a transaction
// marker, one partition after the other. It stops at each range's end
// (the high watermark when the bounds were listed).
func readRecords(ctx context.Context, opts []kgo.Opt, topic string, ps map[int32]partread.Range, fn func(*kgo.Record)) error {
	return partread.Reader{Topic: topic, ClientOpts: opts}.Read(ctx, ps, func(_ int32, recs []*kgo.Record) error {
		for _, r := range recs {
			if !r.Attrs.IsControl() {
				fn(r)
			}
		}
		return nil
	})
}
