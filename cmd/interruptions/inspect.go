package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/processor/codec"
	"github.com/interruptions/interruptions/state"
)

// inspectJSON is what inspect prints: the channel as the state API
// answers it, then the channel's records in the output topic.
type inspectJSON struct {
	channelJSON
	OutputTopic string `json:"outputTopic"`
	// OutputRecords are the output topic's records of the channel's
	// interruptions (every revision and retraction the topic still
	// holds), in the order of their Kafka timestamps.
	OutputRecords []outputRecordJSON `json:"outputRecords"`
}

// outputRecordJSON is one output record: where it is, when it was
// written, and its CloudEvent.
type outputRecordJSON struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
	// Timestamp is the Kafka record's timestamp.
	Timestamp string `json:"timestamp"`
	// Key is the interruptionId.
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
	c := newCommand("inspect", "Print one channel's state (its timeline, interruptions and revisions, as GET /v1/channels/{id}\nanswers) from the state changelog, then its records in the output topic, without a running\ninstance. Usage: interruptions inspect [flags] CHANNEL_ID")
	c.args = 1
	def := processor.DefaultConfig()
	var (
		brokers     = listFlag(def.Brokers)
		group       string
		outputTopic string
		timeout     = positiveDuration(30 * time.Second)
		f           engineFlags
		sec         securityFlags
	)
	c.fs.Var(&brokers, "brokers", "Kafka seed brokers, comma separated")
	c.fs.StringVar(&group, "group", def.Group, "the processor's consumer group; its changelog is <group>-state-changelog")
	c.fs.StringVar(&outputTopic, "output-topic", def.OutputTopic, "the processor's topic of interruption records, read for the channel's records")
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
	cs, err := inspectChannel(ctx, adm, opts, group+"-state-changelog", channelID, f.engine())
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
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(inspectJSON{channelJSON: channelView(cs), OutputTopic: outputTopic, OutputRecords: out})
}

// inspectChannel finds channelID in the changelog and describes it as of
// its last committed value. It reads the partition its input partition
// by Kafka's default partitioner (murmur2) maps to first, then every
// other partition in order, so that it finds channels whose producer used
// another partitioner (librdkafka's default is CRC32); each to its end,
// read_committed. Not found: the ChannelState names the murmur2
// partition, with that partition's clock.
func inspectChannel(ctx context.Context, adm *kadm.Client, opts []kgo.Opt, topic, channelID string, cfg match.EngineConfig) (processor.ChannelState, error) {
	cs := processor.ChannelState{ChannelID: channelID}
	bounds, err := partitionBounds(ctx, adm, topic)
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
		found, err := inspectPartition(ctx, opts, topic, p, bounds[p], channelID, cfg)
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
// channelID as of its last value there.
func inspectPartition(ctx context.Context, opts []kgo.Opt, topic string, p int32, r offsetRange, channelID string, cfg match.EngineConfig) (processor.ChannelState, error) {
	cs := processor.ChannelState{ChannelID: channelID, Partition: p}
	var value []byte
	var clock int64
	found := false
	err := readPartition(ctx, opts, topic, p, r, func(r *kgo.Record) {
		switch string(r.Key) {
		case channelID:
			value, found = r.Value, r.Value != nil
		case state.StreamTimeKey:
			if t, err := state.DecodeStreamTime(r.Value); err == nil {
				clock = t
			}
		}
	})
	if err != nil {
		return cs, err
	}
	cs.Clock = clock
	if !found {
		return cs, nil
	}
	l := state.NewLoader(1)
	if err := l.Load([]byte(channelID), value); err != nil {
		return cs, fmt.Errorf("decode channel %s: %w", channelID, err)
	}
	ch := l.Store.Get(channelID)
	cs.Found = true
	cs.ConversationID, cs.InteractionID, cs.Party = ch.Identity()
	cs.Description = match.NewEngine(cfg).Describe(ch, clock)
	return cs, nil
}

// inspectOutput returns the output topic's records of the channel's
// interruptions. They are keyed by interruptionId, which the channel's
// id and each opening event's source and id give: every event on the
// timeline is a candidate (an interruption's opening event stays on it
// for as long as the channel has state), and only the partitions those
// keys map to are read, each to the end it had when the read began.
func inspectOutput(ctx context.Context, adm *kadm.Client, opts []kgo.Opt, topic string, cs processor.ChannelState) ([]outputRecordJSON, error) {
	out := []outputRecordJSON{}
	bounds, err := partitionBounds(ctx, adm, topic)
	if err != nil {
		return out, err
	}
	keys := map[string]bool{}
	var parts []int32
	for _, ev := range cs.Events {
		k := codec.InterruptionID(cs.ChannelID, ev.Source, ev.ID)
		keys[k] = true
		if p := int32(codec.KeyPartition([]byte(k), len(bounds))); !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	slices.Sort(parts)
	for _, p := range parts {
		err := readPartition(ctx, opts, topic, p, bounds[p], func(r *kgo.Record) {
			if keys[string(r.Key)] {
				out = append(out, outputRecordView(r))
			}
		})
		if err != nil {
			return out, err
		}
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
	ce, err := codec.DecodeRecord(r)
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

// offsetRange is a partition's offsets to read: [start, end).
type offsetRange struct{ start, end int64 }

// partitionBounds returns each partition's log start and end (high
// watermark) offsets.
func partitionBounds(ctx context.Context, adm *kadm.Client, topic string) (map[int32]offsetRange, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	if len(ends[topic]) == 0 {
		return nil, fmt.Errorf("topic %s does not exist", topic)
	}
	bounds := make(map[int32]offsetRange, len(ends[topic]))
	for p, end := range ends[topic] {
		start, _ := starts.Lookup(topic, p)
		bounds[p] = offsetRange{start: start.Offset, end: end.Offset}
	}
	return bounds, nil
}

// readPartition reads partition p of topic over r, read_committed, and
// calls fn with each record that is not a transaction marker. It stops at
// r's end (the high watermark when the bounds were listed): it keeps the
// markers to see the last offset, which may be one.
func readPartition(ctx context.Context, opts []kgo.Opt, topic string, p int32, r offsetRange, fn func(*kgo.Record)) error {
	if r.end <= r.start {
		return nil // empty
	}
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	for done := false; !done; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s[%d]: %w", topic, p, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return fmt.Errorf("read %s[%d]: %w", topic, p, ferr)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			if done {
				return
			}
			if !rec.Attrs.IsControl() && rec.Offset < r.end {
				fn(rec)
			}
			if rec.Offset >= r.end-1 {
				done = true
			}
		})
	}
	return nil
}
