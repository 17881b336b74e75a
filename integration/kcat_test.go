package integration

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/internal/cekafka"
	"github.com/interruptions/interruptions/internal/testkit"
)

// TestKcatProducer proves interoperability with a third-party producer:
// kcat (librdkafka, from Debian) writes the VCC NDJSON of `interruptions
// gen` into the input topic as key<TAB>value lines, keyed by subject with
// the Java client's partitioner (murmur2) and a structured-mode content-type
// header. The processor's output equals replay's.
func TestKcatProducer(t *testing.T) {
	const parts, events, seed = 3, 3000, 99
	h := setup(t)
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found on PATH: install it with scripts/deps (run by `make test`, or `make deps`): %v", err)
	}
	ndjson := h.genNDJSON(events, seed)
	want := h.replay(ndjson, parts, 100)
	h.createTopic(h.Input, parts)

	// key TAB value, one event a line; the key is the subject, as VCC keys.
	var lines bytes.Buffer
	keys := map[string]string{} // event id -> key
	sc := bufio.NewScanner(bytes.NewReader(ndjson))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		ce, err := codec.ParseStructured(sc.Bytes())
		if err != nil {
			t.Fatalf("gen output %q: %v", sc.Text(), err)
		}
		if ce.Subject() == "" || bytes.ContainsAny(sc.Bytes(), "\t") {
			t.Fatalf("event %s: no subject or a TAB in the line", ce.ID())
		}
		keys[ce.ID()] = ce.Subject()
		lines.WriteString(ce.Subject())
		lines.WriteByte('\t')
		lines.Write(sc.Bytes())
		lines.WriteByte('\n')
	}
	cmd := exec.CommandContext(h.ctx, kcat, "-P", "-b", strings.Join(h.brokers, ","), "-t", h.Input,
		"-K", "\t", "-H", "content-type=application/cloudevents+json",
		// Same partitions as Kafka's Java client and `replay --partitions`;
		// idempotence keeps each partition in the order of the lines.
		"-X", "topic.partitioner=murmur2_random", "-X", "enable.idempotence=true")
	cmd.Stdin = &lines
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, stderr.String())
	}

	// What kcat wrote: every event once, with its key, the header, and on
	// the partition the Java client would choose.
	in := h.readTopic(h.Input)
	if len(in) != events {
		t.Fatalf("input topic holds %d records after kcat, want %d", len(in), events)
	}
	for _, r := range in {
		ce, err := cekafka.DecodeRecord(r)
		if err != nil {
			t.Fatalf("record %d@%d written by kcat: %v", r.Partition, r.Offset, err)
		}
		if string(r.Key) != keys[ce.ID()] || testkit.Header(r, "content-type") != "application/cloudevents+json" {
			t.Fatalf("record %d@%d written by kcat: key %q, headers %v", r.Partition, r.Offset, r.Key, r.Headers)
		}
		if want := codec.KeyPartition(r.Key, parts); int(r.Partition) != want {
			t.Fatalf("kcat wrote key %q to partition %d, the Java client's partitioner to %d", r.Key, r.Partition, want)
		}
	}

	p := h.startRun("run")
	h.waitCaughtUp(p)
	p.stopClean()
	h.checkExactlyOnce(want, codec.Binary)
}
