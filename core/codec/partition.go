package codec

import "github.com/interruptions/interruptions/core/match"

// KeyPartition returns the partition Kafka's default partitioner (murmur2,
// as in the Java client and franz-go's StickyPartitioner) picks for a
// non-empty key among n partitions.
func KeyPartition[K string | []byte](key K, n int) int {
	return int(murmur2(key)&0x7fffffff) % n
}

// EventKey is the Kafka key producers give an event (the ingest bridge,
// vccgen): its data.channel.channelId or, for an event without one (not a
// channel event), its CloudEvent subject.
func EventKey(ev *match.Event) string {
	if ev.ChannelID != "" {
		return ev.ChannelID
	}
	return ev.Subject
}

// murmur2 is Kafka's murmur2 hash.
func murmur2[K string | []byte](b K) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(b))
	for ; len(b) >= 4; b = b[4:] {
		k := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
