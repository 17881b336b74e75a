package codec

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestIDsEqualGoogleUUID: InterruptionID and recordID, which hash on the
// stack, give what github.com/google/uuid's NewSHA1 gives for the same
// names: random channel ids, sources and event ids of every length up to
// past the stack buffers (so both the stack and the heap paths run), and
// revisions up to the largest int.
func TestIDsEqualGoogleUUID(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	str := func() string {
		n := rng.IntN(160)
		var b strings.Builder
		for range n {
			b.WriteByte(byte(rng.IntN(256)))
		}
		return b.String()
	}
	for i := range 20_000 {
		ch, src, id := str(), str(), str()
		want := uuid.NewSHA1(namespace, []byte(ch+"\x00"+src+"\x00"+id)).String()
		if got := InterruptionID(ch, src, id); got != want {
			t.Fatalf("InterruptionID(%q, %q, %q) = %s, want %s", ch, src, id, got, want)
		}
		rev := rng.IntN(1 << 62)
		if i%100 == 0 {
			rev = int(^uint(0) >> 1)
		}
		wantRec := uuid.NewSHA1(namespace, []byte(want+"\x00"+itoa(rev))).String()
		if got := recordID(want, rev); got != wantRec {
			t.Fatalf("recordID(%s, %d) = %s, want %s", want, rev, got, wantRec)
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// BenchmarkRecordIDs: the two ids of an output record (make bench does
// not run it; for comparisons of the id path alone).
func BenchmarkRecordIDs(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		iid := InterruptionID("5d0f3c6e-8b7a-4d2b-9c1e-2f6a7b8c9d0e", "/channel", "2Zks0VJxXAegKlhmHygjlZRwu0F")
		_ = recordID(iid, i&7)
	}
}
