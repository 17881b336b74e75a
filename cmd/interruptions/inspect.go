package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/processor"
	"github.com/interruptions/interruptions/processor/codec"
	"github.com/interruptions/interruptions/processor/match"
	"github.com/interruptions/interruptions/state"
)

// cmdInspect prints one channel's state as the state API answers it, read
// from the changelog: for when no instance runs.
func cmdInspect(ctx context.Context, args []string, e env) error {
	c := newCommand("inspect", "Print one channel's state (its timeline, interruptions and revisions, as GET /v1/channels/{id}\nanswers) from the state changelog, without a running instance. Usage: interruptions inspect [flags] CHANNEL_ID")
	c.args = 1
	def := processor.DefaultConfig()
	var (
		brokers = listFlag(def.Brokers)
		group   string
		timeout = positiveDuration(30 * time.Second)
		f       engineFlags
		sec     securityFlags
	)
	c.fs.Var(&brokers, "brokers", "Kafka seed brokers, comma separated")
	c.fs.StringVar(&group, "group", def.Group, "the processor's consumer group; its changelog is <group>-state-changelog")
	c.fs.Var(&timeout, "timeout", "how long to wait for the brokers and the read")
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
	cs, err := inspectChannel(ctx, append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...), group+"-state-changelog", channelID, f.engine())
	if err != nil {
		return authError(err)
	}
	if !cs.Found {
		return fmt.Errorf("channel %s: no state in partition %d of %s-state-changelog", channelID, cs.Partition, group)
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(channelView(cs))
}

// inspectChannel reads the changelog partition that holds channelID (the
// one its input partition maps to) to its end, read_committed, and
// describes the channel as of its last committed value.
func inspectChannel(ctx context.Context, opts []kgo.Opt, topic, channelID string, cfg match.EngineConfig) (processor.ChannelState, error) {
	cs := processor.ChannelState{ChannelID: channelID}
	admCl, err := kgo.NewClient(opts...)
	if err != nil {
		return cs, fmt.Errorf("client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return cs, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return cs, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	n := len(ends[topic])
	if n == 0 {
		return cs, fmt.Errorf("topic %s does not exist", topic)
	}
	p := int32(codec.KeyPartition([]byte(channelID), n))
	cs.Partition = p
	end, _ := ends.Lookup(topic, p)
	if end.Offset == 0 {
		return cs, nil
	}
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		return cs, fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	var value []byte
	var clock int64
	found := false
	for done := false; !done; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return cs, fmt.Errorf("read %s[%d]: %w", topic, p, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return cs, fmt.Errorf("read %s[%d]: %w", topic, p, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			switch {
			case r.Attrs.IsControl():
			case string(r.Key) == channelID:
				value, found = r.Value, r.Value != nil
			case string(r.Key) == state.StreamTimeKey:
				if t, err := state.DecodeStreamTime(r.Value); err == nil {
					clock = t
				}
			}
			if r.Offset >= end.Offset-1 {
				done = true
			}
		})
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
