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
// identity), encodes to a changelog value that a broker with default
// settings accepts, with room for the record's key and headers. The
// encoding is state's own (AppendChannel); the bound is the broker's.
func TestDefaultChannelCapFitsChangelogRecord(t *testing.T) {
	c := &state.Channel{}
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
	n := len(state.AppendChannel(nil, c))
	const headroom = 64 << 10 // key, headers, batch framing
	if n+headroom > brokerDefaultMaxMessageBytes {
		t.Fatalf("a channel of %d events encodes to %d bytes: with %d of headroom over the broker's default %d",
			DefaultMaxChannelEvents, n, headroom, brokerDefaultMaxMessageBytes)
	}
	t.Logf("%d events: %d bytes (%.1f per event)", DefaultMaxChannelEvents, n, float64(n)/float64(DefaultMaxChannelEvents))
}
