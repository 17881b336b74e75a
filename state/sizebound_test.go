package state

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/interruptions/interruptions/core/vcc"
	"github.com/interruptions/interruptions/internal/ksuid"
)

// TestSizeBoundCoversEncoding: for channels of every shape (packed and
// unpacked events, long identity strings, published records with large
// revisions, carriers, a tomb), SizeBound is at least the length of the
// encoding itself (AppendChannel), and not far above it for a channel of
// packed events (within 25 %), so that a limit derived from it refuses
// little that would fit.
func TestSizeBoundCoversEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 300 {
		c := &Channel{}
		c.setKey(&key{})
		packed := round%3 != 0
		for i := range rng.IntN(200) {
			id := fmt.Sprintf("raw-event-id-that-does-not-pack-%d-%d", round, i)
			src := "/some/other/source"
			if packed {
				var k [ksuid.Bytes]byte
				k[0], k[1], k[2] = byte(i), byte(i>>8), byte(round)
				id, src = string(ksuid.Append(nil, &k)), vcc.SourceChannel
			}
			c.InsertEvent(Ref{Source: src, ID: id, Type: "channel.interrupted.v0", At: rng.Int64N(1 << 62),
				Offset: rng.Int64N(1 << 45), HasOffset: rng.IntN(2) == 0})
			if rng.IntN(3) == 0 {
				c.PutPublished(Published{Open: rng.Uint64(), Fingerprint: rng.Uint64(), Revision: rng.Uint32(), Retracted: rng.IntN(2) == 0})
			}
		}
		if round%4 == 0 {
			c.OfferIdentity(-1<<62, "/x", "y", fmt.Sprintf("conversation-%0200d", round), "interaction",
				vcc.Party{Role: "agent", AgentID: "a-long-agent-id-beyond-inline", UserID: "user"})
		}
		if round%5 == 0 {
			tomb := &Tomb{Until: rng.Int64(), Ended: true, EndedUntil: rng.Int64(), Events: make([]uint64, rng.IntN(50))}
			c.ownExt().tomb = tomb
		}
		got, bound := len(AppendChannel(nil, c)), c.SizeBound()
		if bound < got {
			t.Fatalf("round %d: SizeBound %d < encoding %d", round, bound, got)
		}
		if packed && c.NumEvents() > 50 && round%4 != 0 && float64(bound) > 1.25*float64(got)+200 {
			t.Errorf("round %d: SizeBound %d is far above the encoding %d (%d events)", round, bound, got, c.NumEvents())
		}
	}
}
