package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/testkit"
	"github.com/interruptions/interruptions/internal/testkit/records"
	"github.com/interruptions/interruptions/state"
)

// The long channel's size in TestLongChannelOnRealBroker: its events, those
// produced before the processor is killed, and its event cap.
const (
	longChannelEvents = 50_000
	longChannelFirst  = 25_000
	longMaxEvents     = 60_000
	// longShortChannels short channels of two events each go to the other
	// partitions.
	longShortChannels = 300
	// longChunks is how many chunks the remaining events come in, each
	// once the one before is committed, and longChunkBound how long the
	// processor may take to commit one.
	longChunks     = 5
	longChunkBound = 30 * time.Second
	// longBytesPerEvent bounds the changelog value bytes written for the
	// whole run per event of the long channel.
	longBytesPerEvent = 10_000
)

// TestLongChannelOnRealBroker (issue 21): one channel of 50,000 events
// (interrupted and resumed alternately, one second apart) on one partition
// of a 3-partition input, and 300 channels of one interrupted and one
// resumed each (1 to 5 s apart) on the two others. The processor (event cap
// 60,000, the changelog topic as it creates it: the broker's default
// max.message.bytes, about 1 MB, far below the long channel's state of
// some 70 B an event) takes the first 25,000 events of the long channel and
// all the short channels, is SIGKILLed once it has committed them, and a
// new processor restores the state from the changelog and takes the
// remaining 25,000. Checked against what the input implies, not what the
// engine computed:
//   - the output, reduced to the latest revision per interruptionId, is
//     one record per interrupted/resumed pair of the input: 25,000 of
//     exactly 1,000 ms for the long channel, one of its own duration for
//     each short channel, outcome resumed, opened and closed by the
//     pair's events; no id with two contents at one revision;
//   - the dead-letter topic is empty (no channel-overflow);
//   - the long channel's partition commits each of the 5 chunks of 5,000
//     events the second processor is given (the next chunk is produced
//     once the last is committed; the committed offset is sampled every
//     50 ms), up to its end;
//   - every changelog record written (read as it is written, before the
//     compaction could drop any) fits the topic's max.message.bytes, and
//     the changelog value bytes of the whole run stay below 10,000 per
//     event of the long channel;
//   - inspect, reading the changelog after the restart, shows the long
//     channel's 50,000 events in order;
//   - and the premise: the long channel's state in the changelog (the
//     last value of each key of its partition) is above max.message.bytes.
func TestLongChannelOnRealBroker(t *testing.T) {
	const partitions = 3
	h := setup(t)
	h.createTopic(h.Input, partitions)

	long := "chan-long"
	longPart := int32(codec.KeyPartition(long, partitions))
	longRecs, longIDs := limitEvents(t, h.Input, long, 0, longChannelEvents)
	var shortRecs []*kgo.Record
	var shorts []string
	shortBase := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	for k := 0; len(shorts) < longShortChannels; k++ {
		ch := fmt.Sprintf("chan-short-%04d", k)
		if int32(codec.KeyPartition(ch, partitions)) == longPart {
			continue
		}
		j := len(shorts)
		at := shortBase.Add(time.Duration(j) * 10 * time.Second)
		shortRecs = append(shortRecs, shortPair(t, h.Input, ch, at, time.Duration(1+j%5)*time.Second)...)
		shorts = append(shorts, ch)
	}
	want := expectedPairs(t, append(slices.Clone(longRecs), shortRecs...))
	if n := len(want[long]); n != longChannelEvents/2 {
		t.Fatalf("the input construction gives %d interruptions of %s, want %d", n, long, longChannelEvents/2)
	}

	// Both processors are one static member: the second takes the killed
	// one's place at once (no session timeout to wait for) and fences its
	// transactional producer.
	args := []string{"--max-channel-events", fmt.Sprint(longMaxEvents), "--instance-id", "long-channel"}

	h.produceRecs(append(slices.Clone(longRecs[:longChannelFirst]), shortRecs...))
	for _, r := range longRecs[:longChannelFirst] {
		if r.Partition != longPart {
			t.Fatalf("%s's record went to partition %d, KeyPartition says %d", long, r.Partition, longPart)
		}
	}
	for _, r := range shortRecs {
		if r.Partition == longPart {
			t.Fatalf("short channel %s's record went to the long channel's partition %d", r.Key, longPart)
		}
	}
	start := time.Now()
	p1 := h.startRun("run-1", args...)
	h.waitFor("the changelog topic", 50*time.Millisecond, []*proc{p1}, func() (bool, error) {
		return h.topicPartitionCount(h.Changelog()) == partitions, nil
	})
	limit := h.changelogMaxMessageBytes()
	tally := h.tailChangelog()

	h.waitCaughtUp(p1)
	t.Logf("run-1: %d events of %s and %d short channels committed in %s", longChannelFirst, long, len(shorts), time.Since(start).Round(time.Millisecond))
	if code, _ := p1.interrupt(syscall.SIGKILL, 10*time.Second); code != -1 {
		t.Fatalf("run-1 exited %d on SIGKILL, want death by the signal", code)
	}
	// The remaining events in longChunks chunks, the next once the long
	// channel's partition has committed the last: run-2 starts after the
	// first (it restores the channel, then takes a backlog), and the
	// partition must commit each chunk as the channel grows. One backlog
	// of 25,000 would prove little: with the 100 ms commit interval the
	// processor can take it in a single unit of work. The group's
	// committed offset is sampled every 50 ms throughout.
	type step struct {
		at     time.Duration
		offset int64
	}
	showSteps := func(steps []step) string {
		var b strings.Builder
		for i, s := range steps {
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%d@%s", s.offset, s.at)
		}
		return b.String()
	}
	steps := []step{{0, h.committedOffset(longPart)}}
	if steps[0].offset != longChannelFirst {
		t.Fatalf("after run-1 the group's committed offset of partition %d is %d, want %d", longPart, steps[0].offset, longChannelFirst)
	}
	chunk := (longChannelEvents - longChannelFirst) / longChunks
	start = time.Now()
	var p2 *proc
	for from := longChannelFirst; from < longChannelEvents; from += chunk {
		recs := longRecs[from:min(from+chunk, longChannelEvents)]
		h.produceRecs(recs)
		for _, r := range recs {
			if r.Partition != longPart {
				t.Fatalf("%s's record went to partition %d, KeyPartition says %d", long, r.Partition, longPart)
			}
		}
		if p2 == nil {
			p2 = h.startRun("run-2", args...)
		}
		target := int64(from + len(recs))
		if !h.waitUpTo(longChunkBound, fmt.Sprintf("partition %d committed to %d", longPart, target), 50*time.Millisecond, []*proc{p2}, func() (bool, error) {
			o := h.committedOffset(longPart)
			if o >= 0 && o != steps[len(steps)-1].offset {
				steps = append(steps, step{time.Since(start).Round(time.Millisecond), o})
			}
			return o >= target, nil
		}) {
			t.Fatalf("partition %d stopped committing: %d events of %s produced, committed offset %d after %s (steps: %s)",
				longPart, target, long, steps[len(steps)-1].offset, longChunkBound, showSteps(steps))
		}
	}
	end := h.offsets(false, h.Input)[h.Input][longPart]
	if end != longChannelEvents {
		t.Fatalf("the long channel's partition %d ends at %d, want %d: it holds other records", longPart, end, longChannelEvents)
	}
	h.waitCaughtUp(p2)
	t.Logf("run-2: restored and committed the remaining %d events in %s; partition %d committed offsets: %s", longChannelEvents-longChannelFirst, time.Since(start).Round(time.Millisecond), longPart, showSteps(steps))
	p2.stopClean()

	// 1. The output.
	h.checkLongOutput(want)

	// 2. No dead letter.
	dead := h.deadLetters()
	if len(dead) > 0 {
		reasons := map[string]int{}
		for _, reason := range dead {
			reasons[reason]++
		}
		t.Errorf("the dead-letter topic holds %d records (by reason: %v), want none", len(dead), reasons)
	}

	// 3. The long channel's partition kept committing: each chunk was
	// committed within longChunkBound (above), and the sampled offsets
	// never went back and end at the partition's end.
	for i := 1; i < len(steps); i++ {
		if steps[i].offset < steps[i-1].offset {
			t.Errorf("partition %d's committed offset went back from %d to %d", longPart, steps[i-1].offset, steps[i].offset)
		}
	}
	if last := steps[len(steps)-1].offset; last != end {
		t.Errorf("partition %d's committed offset ended at %d, want its end %d", longPart, last, end)
	}

	// 4. The changelog records' sizes.
	committed := h.readTopic(h.Changelog())
	h.waitFor("the changelog reader to have read every committed changelog record", 50*time.Millisecond, nil, func() (bool, error) {
		return tally.covers(committed)
	})
	tally.stop()
	sum := tally.summary()
	perEvent := float64(sum.valueBytes) / longChannelEvents
	t.Logf("changelog: %d records written (%d committed now), %d value bytes in all: %.1f B per event of %s; largest record %d B (key %d + value %d, key %q) at partition %d offset %d; max.message.bytes %d",
		sum.records, len(committed), sum.valueBytes, perEvent, long, sum.maxKey+sum.maxValue, sum.maxKey, sum.maxValue, sum.maxKeyText, sum.maxPartition, sum.maxOffset, limit)
	if sum.maxKey+sum.maxValue > limit {
		t.Errorf("changelog record at partition %d offset %d, key %q: key %d B + value %d B > max.message.bytes %d", sum.maxPartition, sum.maxOffset, sum.maxKeyText, sum.maxKey, sum.maxValue, limit)
	}
	// The premise: the long channel's state, what the changelog holds
	// last for each key of its partition (it has no other channel), is
	// more than one record may hold.
	if size := tally.stateBytes(longPart); size <= limit {
		t.Errorf("%s's state in the changelog is %d B, not above max.message.bytes %d: it never grew past what one record holds", long, size, limit)
	} else {
		t.Logf("%s's state in the changelog: %d B, %.1f B per event", long, size, float64(size)/longChannelEvents)
	}
	if perEvent >= longBytesPerEvent {
		t.Errorf("the changelog took %d value bytes for the run, %.1f B per event of %s, want below %d", sum.valueBytes, perEvent, long, longBytesPerEvent)
	}

	// 5. inspect reads the long channel's whole timeline back.
	got := h.inspectTimeline(long)
	if !slices.Equal(got, longIDs) {
		i := 0
		for i < len(got) && i < len(longIDs) && got[i] == longIDs[i] {
			i++
		}
		first := "none"
		if i < len(got) {
			first = got[i]
		}
		t.Errorf("inspect shows %d events of %s after the restart, want its %d events in order: the first difference at %d (got %s, want %s)", len(got), long, len(longIDs), i, first, longIDs[min(i, len(longIDs)-1)])
	}
}

// shortPair is channel's interrupted event at at and its resumed event d
// later, as input records keyed by the channel.
func shortPair(t *testing.T, topic, channel string, at time.Time, d time.Duration) []*kgo.Record {
	t.Helper()
	var recs []*kgo.Record
	for i, typ := range []string{"channel.interrupted.v0", "channel.resumed.v0"} {
		ts := at.Add(time.Duration(i) * d).Format(time.RFC3339Nano)
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(channel),
			Value: testkit.StructuredValue(t, testkit.ChannelEvent(typ, fmt.Sprintf("%s-%d", channel, i), channel, ts))})
	}
	return recs
}

// pairEvent is what expectedPairs reads of an input event.
type pairEvent struct {
	ID, Type, Source, Subject, Time string
}

// wantInterruption is the interruption an interrupted/resumed pair of the
// input implies.
type wantInterruption struct {
	channel         string
	opener, closer  pairEvent
	started, closed time.Time
}

// expectedPairs reads structured input records and pairs, per channel in
// order, each channel.interrupted with the channel.resumed after it: one
// interruption each, by channel and interruptionId. Any other sequence
// fails the test (the inputs are built as pairs).
func expectedPairs(t *testing.T, recs []*kgo.Record) map[string]map[string]wantInterruption {
	t.Helper()
	out := map[string]map[string]wantInterruption{}
	open := map[string]*pairEvent{}
	for _, r := range recs {
		var ev pairEvent
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatalf("input %s: %v", r.Value, err)
		}
		ch := ev.Subject
		switch {
		case ev.Type == "channel.interrupted.v0" && open[ch] == nil:
			open[ch] = &ev
		case ev.Type == "channel.resumed.v0" && open[ch] != nil:
			opener := *open[ch]
			open[ch] = nil
			started, err1 := time.Parse(time.RFC3339Nano, opener.Time)
			closed, err2 := time.Parse(time.RFC3339Nano, ev.Time)
			if err1 != nil || err2 != nil {
				t.Fatalf("input times %q %q: %v %v", opener.Time, ev.Time, err1, err2)
			}
			if out[ch] == nil {
				out[ch] = map[string]wantInterruption{}
			}
			out[ch][codec.InterruptionID(ch, opener.Source, opener.ID)] = wantInterruption{ch, opener, ev, started, closed}
		default:
			t.Fatalf("input event %s (%s) of %s is not part of an interrupted/resumed pair", ev.ID, ev.Type, ch)
		}
	}
	return out
}

// checkLongOutput reads the output, reduces it to the latest revision per
// interruptionId and fails the test unless that is want: each interruption
// with its channel, times, duration, outcome resumed and its opening and
// closing events. It reports differences per channel kind (the long one,
// the short ones) with the first few in event id order.
func (h *harness) checkLongOutput(want map[string]map[string]wantInterruption) {
	h.t.Helper()
	recs := h.readTopic(h.Output)
	// Every record a valid output record; one content per CloudEvent id.
	byID := map[string]string{}
	for r := range records.DecodeOutput(h.t, recs, codec.Binary) {
		if prev, ok := byID[r.ID]; ok && prev != r.Data {
			h.t.Errorf("output record id %s has two contents: %s and %s", r.ID, prev, r.Data)
		}
		byID[r.ID] = r.Data
	}
	table, err := records.FinalTable(recs)
	if err != nil {
		h.t.Fatalf("output: %v", err)
	}
	h.t.Logf("output: %d records, %d interruptions after reduction", len(recs), len(table))

	problems := map[string][]string{} // by channel kind
	kind := func(ch string) string {
		if strings.HasPrefix(ch, "chan-short-") {
			return "short channels"
		}
		return ch
	}
	wantByID := map[string]wantInterruption{}
	for _, ins := range want {
		for id, in := range ins {
			wantByID[id] = in
		}
	}
	for id, row := range table {
		in, ok := wantByID[id]
		if !ok {
			problems["unexpected"] = append(problems["unexpected"], fmt.Sprintf("interruption %s not implied by the input: %s", id, row.Data))
			continue
		}
		if diff := outputDiff(row.Data, in); diff != "" {
			problems[kind(in.channel)] = append(problems[kind(in.channel)], fmt.Sprintf("opened by %s (interruption %s): %s", in.opener.ID, id, diff))
		}
	}
	for id, in := range wantByID {
		if _, ok := table[id]; !ok {
			problems[kind(in.channel)] = append(problems[kind(in.channel)], fmt.Sprintf("opened by %s at %s (interruption %s): is missing", in.opener.ID, in.opener.Time, id))
		}
	}
	kinds := make([]string, 0, len(problems))
	for k := range problems {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		ps := problems[k]
		sort.Strings(ps)
		missing := 0
		for _, p := range ps {
			if strings.HasSuffix(p, "is missing") {
				missing++
			}
		}
		n := 0
		for _, ins := range want {
			for _, in := range ins {
				if kind(in.channel) == k {
					n++
				}
			}
		}
		h.t.Errorf("%s: %d of %d expected interruptions wrong (%d missing from the output); e.g.:\n  %s", k, len(ps), n, missing, strings.Join(ps[:min(len(ps), 5)], "\n  "))
	}
}

// outputDiff compares one output record's data with the interruption the
// input implies; "" when they agree.
func outputDiff(data string, in wantInterruption) string {
	type ref struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	var d struct {
		ChannelID     string `json:"channelId"`
		Outcome       string `json:"outcome"`
		InterruptedAt string `json:"interruptedAt"`
		ClosedAt      string `json:"closedAt"`
		DurationMs    int64  `json:"durationMs"`
		OpenedBy      ref    `json:"openedBy"`
		ClosedBy      *ref   `json:"closedBy"`
	}
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return err.Error()
	}
	var diffs []string
	check := func(what string, got, want any) {
		if got != want {
			diffs = append(diffs, fmt.Sprintf("%s %v, want %v", what, got, want))
		}
	}
	check("channelId", d.ChannelID, in.channel)
	check("outcome", d.Outcome, "resumed")
	check("durationMs", d.DurationMs, in.closed.Sub(in.started).Milliseconds())
	startedAt, err1 := time.Parse(time.RFC3339Nano, d.InterruptedAt)
	closedAt, err2 := time.Parse(time.RFC3339Nano, d.ClosedAt)
	if err1 != nil || err2 != nil || !startedAt.Equal(in.started) || !closedAt.Equal(in.closed) {
		diffs = append(diffs, fmt.Sprintf("interruptedAt %s closedAt %s, want %s %s", d.InterruptedAt, d.ClosedAt, in.opener.Time, in.closer.Time))
	}
	check("openedBy", d.OpenedBy, ref{in.opener.ID, in.opener.Type})
	if d.ClosedBy == nil {
		diffs = append(diffs, "no closedBy")
	} else {
		check("closedBy", *d.ClosedBy, ref{in.closer.ID, in.closer.Type})
	}
	return strings.Join(diffs, "; ")
}

// committedOffset is the group's committed offset of the input partition
// p, -1 while there is none or it cannot be fetched.
func (h *harness) committedOffset(p int32) int64 {
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	offs, err := h.adm.FetchOffsets(ctx, h.Group)
	if err != nil {
		return -1
	}
	o, ok := offs.Lookup(h.Input, p)
	if !ok || o.Err != nil {
		return -1
	}
	return o.At
}

// changelogMaxMessageBytes reads the changelog topic's max.message.bytes
// (kadm DescribeTopicConfigs) and logs it with where it comes from.
func (h *harness) changelogMaxMessageBytes() int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	cfgs, err := h.adm.DescribeTopicConfigs(ctx, h.Changelog())
	must(h.t, "describe the changelog's configuration", err)
	rc, err := cfgs.On(h.Changelog(), nil)
	if err == nil {
		err = rc.Err
	}
	must(h.t, "the changelog's configuration", err)
	for _, c := range rc.Configs {
		if c.Key == "max.message.bytes" {
			n, err := strconv.Atoi(c.MaybeValue())
			must(h.t, "max.message.bytes", err)
			h.t.Logf("changelog %s: max.message.bytes %d (source %v)", h.Changelog(), n, c.Source)
			return n
		}
	}
	h.t.Fatalf("the changelog's configuration has no max.message.bytes: %+v", rc.Configs)
	return 0
}

// changelogTally counts the changelog records as they are written: a
// consumer reading uncommitted from the start while the processors work,
// so that it sees every record before the compaction may drop one.
type changelogTally struct {
	mu         sync.Mutex
	records    int64
	valueBytes int64
	maxKey     int
	maxValue   int
	maxKeyText string
	maxPart    int32
	maxOffset  int64
	last       map[int32]int64          // the highest offset read, by partition
	latest     map[int32]map[string]int // the last value's size, by partition and key
	err        error                    // the last fetch error

	stopOnce sync.Once
	stopFn   func()
}

// tallySummary is what a changelogTally counted.
type tallySummary struct {
	records, valueBytes int64
	maxKey, maxValue    int
	maxKeyText          string
	maxPartition        int32
	maxOffset           int64
}

// tailChangelog starts a changelogTally on the test's changelog; it stops
// with stop or at the test's end.
func (h *harness) tailChangelog() *changelogTally {
	h.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.brokers...), kgo.ConsumeTopics(h.Changelog()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadUncommitted()),
		kgo.MetadataMinAge(100*time.Millisecond))
	must(h.t, "changelog reader", err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c := &changelogTally{last: map[int32]int64{}, latest: map[int32]map[string]int{}}
	go func() {
		defer close(done)
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			c.mu.Lock()
			fs.EachError(func(_ string, _ int32, err error) { c.err = err })
			fs.EachRecord(func(r *kgo.Record) {
				c.records++
				c.valueBytes += int64(len(r.Value))
				if len(r.Key)+len(r.Value) > c.maxKey+c.maxValue {
					c.maxKey, c.maxValue, c.maxKeyText, c.maxPart, c.maxOffset = len(r.Key), len(r.Value), string(r.Key), r.Partition, r.Offset
				}
				c.last[r.Partition] = max(c.last[r.Partition], r.Offset)
				if c.latest[r.Partition] == nil {
					c.latest[r.Partition] = map[string]int{}
				}
				c.latest[r.Partition][string(r.Key)] = len(r.Value)
			})
			c.mu.Unlock()
		}
	}()
	c.stopFn = func() {
		cancel()
		<-done
		cl.Close()
	}
	h.t.Cleanup(c.stop)
	return c
}

// stop stops the reader; it may be called more than once.
func (c *changelogTally) stop() { c.stopOnce.Do(c.stopFn) }

// covers reports whether the reader has read up to the last of recs on
// every partition, with its last fetch error.
func (c *changelogTally) covers(recs []*kgo.Record) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range recs {
		if last, ok := c.last[r.Partition]; !ok || last < r.Offset {
			return false, c.err
		}
	}
	return true, nil
}

// stateBytes is the size of the state partition p's changelog holds: the
// last value of each key but the stream time's and the input offset's.
func (c *changelogTally) stateBytes(p int32) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for key, size := range c.latest[p] {
		if key != state.StreamTimeKey && key != state.InputOffsetKey {
			n += size
		}
	}
	return n
}

// summary is what the reader has counted so far.
func (c *changelogTally) summary() tallySummary {
	c.mu.Lock()
	defer c.mu.Unlock()
	return tallySummary{c.records, c.valueBytes, c.maxKey, c.maxValue, c.maxKeyText, c.maxPart, c.maxOffset}
}
