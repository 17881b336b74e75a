package state

import (
	"errors"
	"reflect"
	"testing"
)

// TestTombRoundTrip: a channel's tomb, alone (a channel deleted by the
// engine) or beside a timeline (a channel revived after its deletion),
// survives the changelog encoding, and a value without a tomb decodes
// without one.
func TestTombRoundTrip(t *testing.T) {
	tomb := &Tomb{Until: -5_000_000, Ended: true, EndedUntil: -7, Events: []uint64{1, 1 << 63, 0xdeadbeefcafebabe}}
	for _, d := range []ChannelData{
		{LastEventAt: 7, Tomb: tomb},
		{LastEventAt: 9, Events: []Ref{{Source: "/channel", ID: "x", Type: "channel.interrupted.v1", At: 9}}, Tomb: &Tomb{Until: 42}},
		{LastEventAt: 9, Events: []Ref{{Source: "/channel", ID: "x", Type: "channel.interrupted.v1", At: 9}}},
	} {
		b := AppendChannel(nil, NewChannel(d))
		c, err := DecodeChannel(b)
		if err != nil {
			t.Fatalf("decode %+v: %v", d, err)
		}
		got := c.Data()
		if !reflect.DeepEqual(got.Tomb, d.Tomb) {
			t.Fatalf("tomb %+v, want %+v", got.Tomb, d.Tomb)
		}
		if len(got.Events) != len(d.Events) || got.LastEventAt != d.LastEventAt {
			t.Fatalf("round trip %+v, want %+v", got, d)
		}
		if (c.Tomb() == nil) != (d.Tomb == nil) {
			t.Fatalf("Tomb() = %+v, want %+v", c.Tomb(), d.Tomb)
		}
	}
	if !tomb.Has(0xdeadbeefcafebabe) || tomb.Has(2) {
		t.Fatal("Has disagrees with Events")
	}
}

// TestTombOldValuesDecode: a version 4 value (written before tombs: the
// version 5 encoding without its last byte, 0 = no tomb) still decodes,
// without a tomb; a corrupt tomb section is refused.
func TestTombOldValuesDecode(t *testing.T) {
	d := ChannelData{LastEventAt: 3, Events: []Ref{{Source: "/channel", ID: "x", Type: "channel.ended.v1", At: 3}}}
	b := AppendChannel(nil, NewChannel(d))
	if b[0] != 5 || b[len(b)-1] != 0 {
		t.Fatalf("version 5 value %x: want version 5, ending in a 0 (no tomb)", b)
	}
	v4 := append([]byte{4}, b[1:len(b)-1]...)
	c, err := DecodeChannel(v4)
	if err != nil || c.Tomb() != nil || c.NumEvents() != 1 {
		t.Fatalf("version 4 value: %+v, %v", c, err)
	}
	withTomb := AppendChannel(nil, NewChannel(ChannelData{Tomb: &Tomb{Until: 1, Events: []uint64{5, 6}}}))
	for name, bad := range map[string][]byte{
		"tomb flag":        append(append([]byte(nil), b[:len(b)-1]...), 2),
		"ended flag":       func() []byte { x := append([]byte(nil), withTomb...); x[len(x)-2-16] = 7; return x }(),
		"unsorted events":  AppendChannel(nil, NewChannel(ChannelData{Tomb: &Tomb{Until: 1, Events: []uint64{6, 5}}})),
		"truncated events": withTomb[:len(withTomb)-3],
	} {
		if c, err := DecodeChannel(bad); !errors.Is(err, ErrCorrupt) || c != nil {
			t.Errorf("%s: DecodeChannel(%x) = %+v, %v; want ErrCorrupt", name, bad, c, err)
		}
	}
}
