package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/testkit"
)

// TestStateAPICRC32Producer: kcat writes the input with librdkafka's
// default partitioner (consistent_random: CRC32 of the key), as
// confluent-kafka-python, -go and node-rdkafka do, into a three-partition
// topic read by two `run` processes in one group. The state API finds
// every channel on its owner, on the partition kcat chose (CRC32, checked
// against the test's own CRC-32, not the processor's), with its timeline
// and interruption; the other process answers 404 and lists the owner (by
// the group's description from kadm) with that partition among the
// members to ask. After both stop, `inspect` finds every channel in the
// changelog on the same partition.
func TestStateAPICRC32Producer(t *testing.T) {
	const parts, channels = 3, 12
	h := setup(t)
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found on PATH: install it with scripts/deps (run by `make test`, or `make deps`): %v", err)
	}
	h.createTopic(h.Input, parts)
	crc := func(key string) int32 { return int32(crc32.ChecksumIEEE([]byte(key)) % parts) }
	chID := func(k int) string { return fmt.Sprintf("7c4e2b90-0000-4000-8000-%012d", k) }

	// Channel k: interrupted at 08:00, resumed at 08:05 when k is even.
	var lines bytes.Buffer
	moved := 0
	for k := range channels {
		id := chID(k)
		if crc(id) != int32(codec.KeyPartition([]byte(id), parts)) {
			moved++
		}
		ev := []string{string(testkit.StructuredValue(t, testkit.ChannelEvent("channel.interrupted.v0", fmt.Sprintf("i%d", k), id, testkit.RFC3339("08:00"))))}
		if k%2 == 0 {
			ev = append(ev, string(testkit.StructuredValue(t, testkit.ChannelEvent("channel.resumed.v0", fmt.Sprintf("r%d", k), id, testkit.RFC3339("08:05")))))
		}
		for _, v := range ev {
			if strings.ContainsAny(v, "\t\n") {
				t.Fatalf("event %q: a TAB or newline in the line", v)
			}
			fmt.Fprintf(&lines, "%s\t%s\n", id, v)
		}
	}
	if moved < channels/2 {
		t.Fatalf("only %d of %d channels have a CRC32 partition other than their murmur2 one", moved, channels)
	}
	// kcat's defaults: no partitioner set. Idempotence keeps each
	// partition in the order of the lines.
	cmd := exec.CommandContext(h.ctx, kcat, "-P", "-b", strings.Join(h.brokers, ","), "-t", h.Input,
		"-K", "\t", "-H", "content-type=application/cloudevents+json", "-X", "enable.idempotence=true")
	cmd.Stdin = &lines
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, stderr.String())
	}
	in := h.readTopic(h.Input)
	if len(in) != channels+channels/2 {
		t.Fatalf("input topic holds %d records after kcat, want %d", len(in), channels+channels/2)
	}
	for _, r := range in {
		if r.Partition != crc(string(r.Key)) {
			t.Fatalf("kcat wrote key %q to partition %d; CRC32 gives %d", r.Key, r.Partition, crc(string(r.Key)))
		}
	}

	addrs := []string{shutdownFreePort(t), shutdownFreePort(t)}
	var procs []*proc
	for i, addr := range addrs {
		procs = append(procs, h.startRun(fmt.Sprintf("run-%d", i), "--metrics-addr", addr, "--commit-interval", "100ms"))
	}
	for i, addr := range addrs {
		shutdownWaitReady(t, procs[i], addr)
	}
	shutdownWaitFor(t, nil, 60*time.Second, "the partitions split over both processes", func() (bool, string) {
		total, per := 0, []int{}
		for _, addr := range addrs {
			var ps struct {
				Ready      bool `json:"ready"`
				Partitions []struct {
					State string `json:"state"`
				} `json:"partitions"`
			}
			resp, err := http.Get("http://" + addr + "/v1/partitions")
			if err != nil {
				return false, err.Error()
			}
			err = json.NewDecoder(resp.Body).Decode(&ps)
			resp.Body.Close()
			n := 0
			for _, p := range ps.Partitions {
				if p.State == "restored" {
					n++
				}
			}
			if err != nil || !ps.Ready || n == 0 {
				return false, fmt.Sprintf("%s: ready %v, %d restored, %v", addr, ps.Ready, n, err)
			}
			total += n
			per = append(per, n)
		}
		return total == parts, fmt.Sprintf("restored partitions %v", per)
	})
	h.waitCaughtUp(procs...)
	groups, err := h.adm.DescribeGroups(h.ctx, h.Group)
	if err != nil {
		t.Fatal(err)
	}
	owner := map[int32]string{}
	for _, m := range groups[h.Group].Members {
		as, _ := m.Assigned.AsConsumer()
		for _, tp := range as.Topics {
			for _, p := range tp.Partitions {
				owner[p] = m.MemberID
			}
		}
	}
	if len(owner) != parts {
		t.Fatalf("the group assigns %d of %d partitions: %+v", len(owner), parts, groups[h.Group].Members)
	}

	type answer struct {
		code int
		body []byte
	}
	get := func(addr, id string) answer {
		resp, err := http.Get("http://" + addr + "/v1/channels/" + id)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return answer{resp.StatusCode, b.Bytes()}
	}
	type channelView struct {
		Partition int32 `json:"partition"`
		Timeline  []struct {
			ID string `json:"id"`
		} `json:"timeline"`
		Interruptions []struct {
			Status string `json:"status"`
		} `json:"interruptions"`
	}
	for k := range channels {
		id, p := chID(k), crc(chID(k))
		wantIDs, wantStatus := []string{fmt.Sprintf("i%d", k)}, "open"
		if k%2 == 0 {
			wantIDs, wantStatus = append(wantIDs, fmt.Sprintf("r%d", k)), "published"
		}
		// The group's offsets are committed; the owner's state is
		// committed just after: wait for one 200.
		var answers []answer
		shutdownWaitFor(t, nil, 10*time.Second, fmt.Sprintf("channel %d answered by one process", k), func() (bool, string) {
			answers = []answer{get(addrs[0], id), get(addrs[1], id)}
			return answers[0].code == http.StatusOK || answers[1].code == http.StatusOK,
				fmt.Sprintf("%d %s / %d %s", answers[0].code, answers[0].body, answers[1].code, answers[1].body)
		})
		oks := 0
		for i, a := range answers {
			if a.code == http.StatusOK {
				oks++
				var ch channelView
				if err := json.Unmarshal(a.body, &ch); err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, e := range ch.Timeline {
					ids = append(ids, e.ID)
				}
				if ch.Partition != p || !slices.Equal(ids, wantIDs) || len(ch.Interruptions) != 1 || ch.Interruptions[0].Status != wantStatus {
					t.Fatalf("channel %d (CRC32 partition %d) from run-%d: %s", k, p, i, a.body)
				}
				continue
			}
			var e struct {
				Ask []struct {
					MemberID   string  `json:"memberId"`
					Partitions []int32 `json:"partitions"`
				} `json:"askMembers"`
			}
			if err := json.Unmarshal(a.body, &e); err != nil {
				t.Fatal(err)
			}
			asked := false
			for _, m := range e.Ask {
				asked = asked || m.MemberID == owner[p] && slices.Contains(m.Partitions, p)
			}
			if a.code != http.StatusNotFound || !asked {
				t.Fatalf("channel %d from run-%d, which does not own partition %d: %d %s; want 404 asking member %s", k, i, p, a.code, a.body, owner[p])
			}
		}
		if oks != 1 {
			t.Fatalf("channel %d: %d processes answered 200, want its owner alone", k, oks)
		}
	}
	for _, p := range procs {
		p.stopClean()
	}

	for k := range channels {
		id, p := chID(k), crc(chID(k))
		out := h.mustCLI(nil, "inspect", "--brokers", strings.Join(h.brokers, ","), "--group", h.Group, "--output-topic", h.Output, id)
		var ch channelView
		if err := json.Unmarshal(out, &ch); err != nil {
			t.Fatalf("inspect %s: %v: %s", id, err, out)
		}
		if ch.Partition != p || len(ch.Timeline) != 1+(1-k%2) || len(ch.Interruptions) != 1 {
			t.Fatalf("inspect channel %d (CRC32 partition %d): %s", k, p, out)
		}
	}
}
