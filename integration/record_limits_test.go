package integration

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
)

// limitEvents are n events of channel, interrupted and resumed alternately
// one second apart from second `from`, as input records keyed by the
// channel, with their event ids in order.
func limitEvents(t *testing.T, topic, channel string, from, n int) ([]*kgo.Record, []string) {
	t.Helper()
	base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	var ids []string
	for i := from; i < from+n; i++ {
		typ := "channel.interrupted.v0"
		if i%2 == 1 {
			typ = "channel.resumed.v0"
		}
		id := fmt.Sprintf("%s-%06d", channel, i)
		ts := base.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano)
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(channel),
			Value: testkit.StructuredValue(t, testkit.ChannelEvent(typ, id, channel, ts))})
		ids = append(ids, id)
	}
	return recs, ids
}

// createLimitedChangelog creates the test's input topic and its changelog
// topic (compacted, as the processor would) with max.message.bytes n.
func (h *harness) createLimitedChangelog(partitions int32, n int) {
	h.t.Helper()
	h.createTopic(h.Input, partitions)
	compact, limit := "compact", fmt.Sprint(n)
	if err := testkit.CreateTopics(h.ctx, h.adm, partitions, map[string]*string{"cleanup.policy": &compact, "max.message.bytes": &limit}, h.Changelog()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) produceRecs(recs []*kgo.Record) {
	h.t.Helper()
	if err := h.cl.ProduceSync(h.ctx, recs...).FirstErr(); err != nil {
		h.t.Fatalf("produce input: %v", err)
	}
}

// inspectTimeline is the ids of the events in channel's timeline, as
// `interruptions inspect` reads it from the changelog.
func (h *harness) inspectTimeline(channel string) []string {
	h.t.Helper()
	out := h.mustCLI(nil, "inspect", "--brokers", strings.Join(h.brokers, ","), "--group", h.Group, "--output-topic", h.Output, channel)
	var view struct {
		Timeline []struct {
			ID string `json:"id"`
		} `json:"timeline"`
	}
	if err := json.Unmarshal(out, &view); err != nil {
		h.t.Fatalf("inspect %s: %v: %s", channel, err, out)
	}
	var ids []string
	for _, e := range view.Timeline {
		ids = append(ids, e.ID)
	}
	return ids
}

// checkNoLoss holds a channel's input to what became of it: every event
// (ids, in input order) is in the channel's timeline or dead-lettered with
// reason channel-overflow, not both; dead-lettered are the event ids the
// dead-letter topic holds for it. It returns how many were dead-lettered.
func (h *harness) checkNoLoss(channel string, ids []string, dead map[string]string) int {
	h.t.Helper()
	kept := h.inspectTimeline(channel)
	n := 0
	for _, id := range ids {
		reason, isDead := dead[id]
		inState := slices.Contains(kept, id)
		switch {
		case isDead && inState:
			h.t.Errorf("%s: event %s is in the state and dead-lettered", channel, id)
		case !isDead && !inState:
			h.t.Errorf("%s: event %s is lost: neither in the state nor dead-lettered", channel, id)
		case isDead && reason != string(codec.ReasonChannelOverflow):
			h.t.Errorf("%s: event %s dead-lettered with reason %s, want %s", channel, id, reason, codec.ReasonChannelOverflow)
		}
		if isDead {
			n++
		}
	}
	return n
}

// deadLetters reads the dead-letter topic: event id → reason.
func (h *harness) deadLetters() map[string]string {
	h.t.Helper()
	out := map[string]string{}
	for _, r := range h.readTopic(h.DLQ) {
		var ev struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			h.t.Fatalf("dead letter %s: %v", r.Value, err)
		}
		out[ev.ID] = testkit.Header(r, cekafka.HeaderDLQReason)
	}
	return out
}

// TestChangelogRecordsWithinMaxMessageBytes: the changelog topic exists
// beforehand with max.message.bytes 4096; 300 events of one channel (each
// adds to its changelog value, ~19 KiB in all) and two events of each of
// three others go in. The processor commits the input to its end, every
// changelog record on the broker is within 4096 bytes (key + value), the
// big channel's events that would overflow are dead-lettered with reason
// channel-overflow, and none is lost: each event of every channel is in
// its state (inspect) or in the dead-letter topic. Needs the engine's
// MaxChannelBytes check (core/match): without it the processor stops,
// naming the refused record.
func TestChangelogRecordsWithinMaxMessageBytes(t *testing.T) {
	h := setup(t)
	h.createLimitedChangelog(2, 4096)
	big, bigIDs := limitEvents(t, h.Input, "chan-big", 0, 300)
	h.produceRecs(big)
	small := map[string][]string{}
	for k := range 3 {
		ch := fmt.Sprintf("chan-small-%d", k)
		recs, ids := limitEvents(t, h.Input, ch, 1000, 2)
		h.produceRecs(recs)
		small[ch] = ids
	}
	p := h.startRun("run")
	h.waitCaughtUp(p)
	if !strings.Contains(p.stderr.String(), `"max_value_bytes":3754`) {
		t.Errorf("no log of the changelog value limit 3754 (max.message.bytes 4096 - 65 - 2 - (4+2+267+2))")
	}
	p.stopClean()

	for _, r := range h.readTopic(h.Changelog()) {
		if len(r.Key)+len(r.Value) > 4096 {
			t.Errorf("changelog record %s[%d]@%d: key %d B + value %d B > max.message.bytes 4096", r.Topic, r.Partition, r.Offset, len(r.Key), len(r.Value))
		}
	}
	dead := h.deadLetters()
	if n := h.checkNoLoss("chan-big", bigIDs, dead); n == 0 {
		t.Errorf("no event of chan-big was dead-lettered: its 300 events cannot fit 4096 bytes")
	}
	for ch, ids := range small {
		if n := h.checkNoLoss(ch, ids, dead); n != 0 {
			t.Errorf("%s: %d events dead-lettered, want none", ch, n)
		}
	}
}

// TestChangelogLimitLoweredAtRuntime: the changelog topic starts at
// max.message.bytes 4096 (value limit 3754) and 20 events of one channel
// are committed; then the operator lowers max.message.bytes to 1024
// (AlterTopicConfigs) while events keep coming for that channel and a new
// one. The broker bounds the record batch as stored, after compression
// (franz-go compresses with snappy by default), so the processor learns of
// the change only when a changelog batch no longer fits compressed: the
// broker refuses it (MESSAGE_TOO_LARGE), and the processor reads the new
// limit, logs it (value limit 682) and goes on. That refusal is certain
// before the old value limit stops the channel from growing: 40 events of
// chan-big fit under 3754 (measured: its value is then 2702 B, and
// 1160 B snappy-compressed as franz-go compresses it, over 1024 on its own);
// with 5 events a batch the refusal comes at its 30th event.
// The test feeds the channel until the log of the new limit appears
// (60 s at most) and checks that the processor never exited and committed
// the input to its end, that every changelog record written after the log
// has a value within 682 B (a record the broker took is within its limit
// by definition, so the old limit and the compressed size prove nothing),
// that at least one event of the big channel was dead-lettered
// (channel-overflow) and none of either channel is lost. Needs the engine's
// MaxChannelBytes check and the runtime's re-reading of the limits on a
// refusal.
func TestChangelogLimitLoweredAtRuntime(t *testing.T) {
	h := setup(t)
	h.createLimitedChangelog(2, 4096)
	first, bigIDs := limitEvents(t, h.Input, "chan-big", 0, 20)
	h.produceRecs(first)
	p := h.startRun("run")
	h.waitCaughtUp(p)

	must(t, "lower max.message.bytes", testkit.SetTopicConfig(h.ctx, h.adm, h.Changelog(), "max.message.bytes", "1024"))

	// The new limit's log: max.message.bytes 1024, value limit
	// 1024 - 65 (batch header 61 + 4) - 2 (record length varint) -
	// (4 (attributes, timestamp and offset deltas, header count) + 2 (key
	// length varint) + 267 (longest key assumed: a segment record's, for
	// a 255-byte channelId) + 2 (value length varint))
	// = 682.
	const newValueLimit = 682
	applied := func() bool {
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			if strings.Contains(line, `"msg":"changelog value limit"`) && strings.Contains(line, `"max_message_bytes":1024`) &&
				strings.Contains(line, fmt.Sprintf(`"max_value_bytes":%d`, newValueLimit)) {
				return true
			}
		}
		return false
	}
	var otherIDs []string
	deadline := time.Now().Add(60 * time.Second)
	for batch := 0; !applied(); batch++ {
		if time.Now().After(deadline) {
			t.Fatalf("after %d events of chan-big, no log of the new limit (max.message.bytes 1024, value limit %d) within 60 s", len(bigIDs), newValueLimit)
		}
		recs, ids := limitEvents(t, h.Input, "chan-big", 20+5*batch, 5)
		bigIDs = append(bigIDs, ids...)
		more, moreIDs := limitEvents(t, h.Input, "chan-other", 1000+batch, 1)
		otherIDs = append(otherIDs, moreIDs...)
		h.produceRecs(append(recs, more...))
		// The next batch once this one is committed: the processor
		// never stops committing.
		h.waitCaughtUp(p)
	}
	// What the changelog holds when the new limit is known: everything
	// written from here on is bounded by it.
	ends, err := h.adm.ListEndOffsets(h.ctx, h.Changelog())
	must(t, "changelog ends", err)
	// Both channels go on after the change.
	t.Logf("new limit logged after %d events of chan-big", len(bigIDs))
	recs, ids := limitEvents(t, h.Input, "chan-big", len(bigIDs), 1)
	bigIDs = append(bigIDs, ids...)
	more, moreIDs := limitEvents(t, h.Input, "chan-other", 1000+len(otherIDs), 1)
	otherIDs = append(otherIDs, moreIDs...)
	h.produceRecs(append(recs, more...))
	h.waitCaughtUp(p)
	if p.exited() {
		t.Fatalf("the processor exited: %v", p.err)
	}
	p.stopClean()

	after := 0
	for _, r := range h.readTopic(h.Changelog()) {
		o, _ := ends.Lookup(r.Topic, r.Partition)
		if r.Offset < o.Offset {
			continue
		}
		after++
		if len(r.Value) > newValueLimit {
			t.Errorf("changelog record %s[%d]@%d (end when the new limit was logged %d), key %q: value %d B > %d", r.Topic, r.Partition, r.Offset, o.Offset, r.Key, len(r.Value), newValueLimit)
		}
	}
	t.Logf("%d changelog records written after the new limit was logged", after)
	if after == 0 {
		t.Errorf("no changelog record written after the new limit was logged: the check above checked nothing")
	}
	dead := h.deadLetters()
	if n := h.checkNoLoss("chan-big", bigIDs, dead); n == 0 {
		t.Errorf("no event of chan-big was dead-lettered after the limit fell below its value")
	}
	if dead[bigIDs[len(bigIDs)-1]] != string(codec.ReasonChannelOverflow) {
		t.Errorf("chan-big's event after the new limit (%s) was not dead-lettered as channel-overflow: its value is over %d B", bigIDs[len(bigIDs)-1], newValueLimit)
	}
	if n := h.checkNoLoss("chan-other", otherIDs, dead); n != 0 {
		t.Errorf("chan-other: %d events dead-lettered, want none (%d events, far below %d B)", n, len(otherIDs), newValueLimit)
	}
}
