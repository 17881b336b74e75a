package processor

import (
	"testing"

	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/internal/ksuid"
	"github.com/interruptions/interruptions/state"
)

// brokerDefaultMaxMessageBytes is Kafka's default message.max.bytes (and a
// topic's max.message.bytes when it sets none): 1 MiB + 12 bytes of batch
// overhead.
const brokerDefaultMaxMessageBytes = 1048588

// TestDefaultChannelCapFitsChangelogRecord: a channel at the default
// --max-channel-events, built as densely as VCC traffic makes it (KSUID
// event ids at 1 s intervals with millisecond offsets, interrupted and
// resumed alternating, every interruption published at revision 3, a full
// identity), written whole in one unit of work, takes changelog records
// that a broker with default settings accepts, with room for the key and
// headers, and about 80 bytes per event in all. The encoding is state's
// own (ChangelogEntries); the bound is the broker's.
func TestDefaultChannelCapFitsChangelogRecord(t *testing.T) {
	s := state.New()
	c := s.Edit("ch")
	const base = int64(1_767_600_000_000_000_000)
	for i := range DefaultMaxChannelEvents {
		var k [ksuid.Bytes]byte
		k[0], k[1], k[2], k[3] = 0x12, byte(i>>16), byte(i>>8), byte(i)
		for j := 4; j < len(k); j++ {
			k[j] = byte(i*31 + j*7)
		}
		id := string(ksuid.Append(nil, &k))
		typ := "channel.interrupted.v1"
		if i%2 == 1 {
			typ = "channel.resumed.v0"
		}
		c.InsertEvent(state.Ref{Source: "/channel", ID: id, Type: typ, At: base + int64(i)*1_000_000_123,
			Offset: int64(1_000_000_000 + i), HasOffset: true})
		if i%2 == 0 {
			c.PutPublished(state.Published{Open: state.HashEvent("/channel", id), Fingerprint: uint64(i)*0x9e3779b97f4a7c15 | 1, Revision: 3})
		}
	}
	c.OfferIdentity(base, "/channel", "identity", "5d0f3c6e-8b7a-4d2b-9c1e-2f6a7b8c9d0e", "6d0f3c6e-8b7a-4d2b-9c1e-2f6a7b8c9d0e",
		vcc.Party{Role: "agent", AgentID: "1544", UserID: "7d0f3c6e-8b7a-4d2b-9c1e-2f6a7b8c9d0e"})
	total, longest, records := 0, 0, 0
	state.ChangelogEntries(nil, s, 0, 0, func(k, v []byte) {
		total += len(k) + len(v)
		longest = max(longest, len(k)+len(v))
		records++
	})
	const headroom = 64 << 10 // headers, batch framing
	if longest+headroom > brokerDefaultMaxMessageBytes {
		t.Fatalf("a channel of %d events takes a record of %d bytes: with %d of headroom over the broker's default %d",
			DefaultMaxChannelEvents, longest, headroom, brokerDefaultMaxMessageBytes)
	}
	if per := float64(total) / DefaultMaxChannelEvents; per > 100 {
		t.Fatalf("a channel of %d events takes %d changelog bytes, %.1f per event: more than 100", DefaultMaxChannelEvents, total, per)
	}
	t.Logf("%d events: %d records, %d bytes (%.1f per event), the longest %d bytes", DefaultMaxChannelEvents, records, total,
		float64(total)/float64(DefaultMaxChannelEvents), longest)
}
