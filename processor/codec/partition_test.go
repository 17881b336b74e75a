package codec

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMurmur2KafkaVectors: the hashes Kafka's own UtilsTest expects.
func TestMurmur2KafkaVectors(t *testing.T) {
	for in, want := range map[string]int32{
		"21": -973932308, "foobar": -790332482, "a-little-bit-long-string": -985981536,
		"a-little-bit-longer-string": -1486304829, "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		if got := int32(murmur2([]byte(in))); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestKeyPartitionAgreesWithFranzGo: franz-go's default partitioner (what
// producers of this project use) picks the same partition for keyed
// records.
func TestKeyPartitionAgreesWithFranzGo(t *testing.T) {
	p := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for i := range 2000 {
		key := []byte(fmt.Sprintf("8a0c7e52-0000-4000-8000-%012d", i))
		for _, n := range []int{1, 3, 6, 7} {
			if got, want := KeyPartition(key, n), p.Partition(&kgo.Record{Key: key}, n); got != want {
				t.Fatalf("KeyPartition(%s, %d) = %d, franz-go %d", key, n, got, want)
			}
		}
	}
}
