package cekafka

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/core/codec"
)

// TestKeyPartitionAgreesWithFranzGo: codec.KeyPartition and franz-go's default partitioner (what
// producers of this project use) picks the same partition for keyed
// records.
func TestKeyPartitionAgreesWithFranzGo(t *testing.T) {
	p := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for i := range 2000 {
		key := []byte(fmt.Sprintf("8a0c7e52-0000-4000-8000-%012d", i))
		for _, n := range []int{1, 3, 6, 7} {
			if got, want := codec.KeyPartition(key, n), p.Partition(&kgo.Record{Key: key}, n); got != want {
				t.Fatalf("KeyPartition(%s, %d) = %d, franz-go %d", key, n, got, want)
			}
		}
	}
}

// TestHeadersLayout: codec.Header and kgo.RecordHeader have the same
// fields, of the same types, at the same offsets (the constants in
// cekafka.go check sizes and the value's offset at compile time), and
// Headers and recordHeaders see the same headers without copying them.
func TestHeadersLayout(t *testing.T) {
	c, k := reflect.TypeFor[codec.Header](), reflect.TypeFor[kgo.RecordHeader]()
	if c.Size() != k.Size() || c.NumField() != k.NumField() {
		t.Fatalf("codec.Header %d bytes, %d fields; kgo.RecordHeader %d bytes, %d fields", c.Size(), c.NumField(), k.Size(), k.NumField())
	}
	for i := range c.NumField() {
		cf, kf := c.Field(i), k.Field(i)
		if cf.Name != kf.Name || cf.Type != kf.Type || cf.Offset != kf.Offset {
			t.Errorf("field %d: codec %s %s @%d, kgo %s %s @%d", i, cf.Name, cf.Type, cf.Offset, kf.Name, kf.Type, kf.Offset)
		}
	}
	hs := []kgo.RecordHeader{{Key: "ce_id", Value: []byte("a")}, {Key: "dup", Value: nil}}
	got := Headers(hs)
	if len(got) != 2 || got[0].Key != "ce_id" || string(got[0].Value) != "a" || got[1].Key != "dup" || got[1].Value != nil {
		t.Fatalf("Headers = %+v", got)
	}
	if &got[0].Value[0] != &hs[0].Value[0] {
		t.Error("Headers copied the values")
	}
	if back := recordHeaders(got); &back[0] != &hs[0] {
		t.Error("recordHeaders does not return the same headers")
	}
	if Headers(nil) != nil || recordHeaders(nil) != nil {
		t.Error("nil headers are not nil")
	}
}
