package processor_test

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/processor"
)

// crc32Partition is librdkafka's default partitioner (consistent_random)
// for a non-empty key: the CRC-32 (IEEE) of the key modulo the partition
// count. kcat, confluent-kafka-python, -go and node-rdkafka use it.
func crc32Partition(key string, parts int) int32 {
	return int32(crc32.ChecksumIEEE([]byte(key)) % uint32(parts))
}

// TestOwnerFindsCRC32Channels: input partitioned by CRC32, as librdkafka's
// producers partition by default, over two runners in one group. Every
// channel is found by the runner that owns its CRC32 partition, with its
// timeline and interruption, also when its murmur2 partition (the state
// API's first guess) is elsewhere; the other runner answers that it has
// no state and names the member that owns the channel's partition (by the
// group's description) among those to ask.
func TestOwnerFindsCRC32Channels(t *testing.T) {
	const parts = 4
	g := startOwnerGroup(t, parts)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Channel k: interrupted at 08:00, resumed at 08:05 when k is even.
	const channels = 24
	chID := func(k int) string { return fmt.Sprintf("3f1e9a40-0000-4000-8000-%012d", k) }
	var recs []*kgo.Record
	moved := 0
	for k := range channels {
		id := chID(k)
		p := crc32Partition(id, parts)
		if p != int32(codec.KeyPartition([]byte(id), parts)) {
			moved++
		}
		recs = append(recs, &kgo.Record{Key: []byte(id), Partition: p, Value: testkit.StructuredValue(t,
			testkit.ChannelEvent("channel.interrupted.v0", fmt.Sprintf("i%d", k), id, testkit.RFC3339("08:00")))})
		if k%2 == 0 {
			recs = append(recs, &kgo.Record{Key: []byte(id), Partition: p, Value: testkit.StructuredValue(t,
				testkit.ChannelEvent("channel.resumed.v0", fmt.Sprintf("r%d", k), id, testkit.RFC3339("08:05")))})
		}
	}
	if moved < channels/2 {
		t.Fatalf("only %d of %d channels have a CRC32 partition other than their murmur2 one", moved, channels)
	}
	if err := g.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitUntil(ctx, t, "every input record committed", func() bool {
		var n int64
		for _, r := range g.runners {
			for _, p := range r.Status().Partitions {
				n += p.Committed
			}
		}
		return n == int64(len(recs))
	})
	owners := g.assignment(ctx, t)
	for k := range channels {
		id := chID(k)
		p := crc32Partition(id, parts)
		for i, r := range g.runners {
			mine := slices.ContainsFunc(r.Status().Partitions, func(ps processor.PartitionStatus) bool { return ps.Partition == p })
			cs, err := r.Channel(ctx, id)
			if mine {
				if err != nil || !cs.Found || cs.Partition != p {
					t.Fatalf("channel %d (CRC32 partition %d) from its owner, runner %d: %+v, %v", k, p, i, cs, err)
				}
				wantEvents, wantStatus := []string{fmt.Sprintf("i%d", k)}, match.StatusOpen
				if k%2 == 0 {
					wantEvents, wantStatus = append(wantEvents, fmt.Sprintf("r%d", k)), match.StatusPublished
				}
				var gotEvents []string
				for _, e := range cs.Events {
					gotEvents = append(gotEvents, e.ID)
				}
				if !slices.Equal(gotEvents, wantEvents) || len(cs.Derived) != 1 || cs.Derived[0].Status != wantStatus ||
					cs.Derived[0].InterruptedAt != testkit.At("08:00") {
					t.Fatalf("channel %d: events %v, derived %+v; want events %v, one interruption from 08:00 %v", k, gotEvents, cs.Derived, wantEvents, wantStatus)
				}
				continue
			}
			// Not here: no state, and the answer names the member the
			// group assigns partition p among those to ask.
			el := cs.Elsewhere
			var notOwned *processor.NotOwnedError
			switch {
			case errors.As(err, &notOwned):
				el = notOwned.Elsewhere
			case err != nil || cs.Found:
				t.Fatalf("channel %d from runner %d, which does not own partition %d: %+v, %v", k, i, p, cs, err)
			}
			owner := owners[p].MemberID
			if !slices.ContainsFunc(el.Ask, func(m processor.MemberPartitions) bool {
				return m.MemberID == owner && slices.Contains(m.Partitions, p)
			}) {
				t.Fatalf("channel %d from runner %d: ask %+v; want member %s with partition %d", k, i, el.Ask, owner, p)
			}
		}
	}
}
