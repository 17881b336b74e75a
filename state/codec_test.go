package state

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/interruptions/interruptions/core/vcc"
)

// fullData has every field set, with awkward values.
func fullData() ChannelData {
	return ChannelData{
		ConversationID: "3e71f453-116a-3abc-7769-bc678ef6e080",
		InteractionID:  "1371f451-116a-4abc-8869-bc678ef67070",
		Party:          vcc.Party{Role: "agent", AgentID: "1544", UserID: "ef71f453-556a-3abc-7769-bc678ef6e090"},
		LastEventAt:    1661870076088000000,
		Events: []Ref{
			{Source: "", ID: "", Type: "", At: math.MinInt64},
			{Source: "/channel", ID: "2Zks0VJxXAegKlhmHygjlZRwu0F", Type: "channel.interrupted.v0", At: 1661870000000000000, HasOffset: true},
			{Source: "/channel", ID: "2", Type: "channel.interrupted.v1", At: 1661870000000000001, Offset: maxPackedOffset, HasOffset: true},
			// Packs but for its offset: kept in the overflow.
			{Source: "/channel", ID: "3", Type: "channel.resumed.v0", At: 1661870000000000002, Offset: maxPackedOffset + 1, HasOffset: true},
			{Source: "/ünïcode/\x00", ID: strings.Repeat("x", 299), Type: "channel.ended.v1", At: math.MaxInt64},
			{Source: "/ünïcode/\x00", ID: strings.Repeat("x", 300), Type: "channel.ended.v1", At: math.MaxInt64, Offset: math.MaxInt64, HasOffset: true},
		},
		Published: []Published{{Open: 0, Fingerprint: math.MaxUint64, Revision: 1}, {Open: 0xdeadbeefcafebabe, Fingerprint: 1, Revision: math.MaxUint32, Retracted: true}},
		HasOpen:   true,
		OpenAt:    math.MinInt64,
		Held:      255,
	}
}

// fullChannel is fullData packed.
func fullChannel() *Channel { return NewChannel(fullData()) }

// exported returns the channel's value without derived state.
func exported(c *Channel) ChannelData { return c.Data() }

func TestChannelRoundTrip(t *testing.T) {
	scheduled := fullChannel()
	scheduled.deadline = 123
	scheduled.flags |= flagScheduled
	tests := []struct {
		name string
		c    *Channel
	}{
		{"zero", &Channel{}},
		{"open and held only", NewChannel(ChannelData{HasOpen: true, OpenAt: -3, Held: 2})},
		{"negative last event", NewChannel(ChannelData{LastEventAt: -1})},
		{"party only role", NewChannel(ChannelData{Party: vcc.Party{Role: "external"}})},
		{"published only", NewChannel(ChannelData{Published: []Published{{Open: 42, Revision: 1}}})},
		{"full", fullChannel()},
		{"derived state is not encoded", scheduled},
		{"many events", NewChannel(ChannelData{Events: func() []Ref {
			s := make([]Ref, 1000)
			for i := range s {
				s[i] = ref(fmt.Sprint(i), int64(i/3))
			}
			return s
		}()})},
		{"one packed event", NewChannel(ChannelData{Events: []Ref{ref("2Zks0VJxXAegKlhmHygjlZRwu0F", 5)}})},
		{"one event that does not pack", NewChannel(ChannelData{Events: []Ref{{Source: "/other", ID: "x", Type: "t", At: 5}}})},
		{"unpackable strings", NewChannel(awkwardData())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendChannel(nil, tt.c)
			got, err := DecodeChannel(b)
			if tt.c.Segmented() {
				if !errors.Is(err, ErrSegmented) {
					t.Fatalf("DecodeChannel of a segmented head: %v, want ErrSegmented", err)
				}
				got = loadWhole(t, tt.c)
				if again := AppendChannel(nil, got); !bytes.Equal(again, b) {
					t.Fatalf("re-encoding the head differs:\n%x\n%x", again, b)
				}
				if !reflect.DeepEqual(exported(got), exported(tt.c)) {
					t.Fatalf("round trip:\n got %+v\nwant %+v", exported(got), exported(tt.c))
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeChannel: %v", err)
			}
			if !reflect.DeepEqual(exported(got), exported(tt.c)) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", exported(got), exported(tt.c))
			}
			if got.deadline != 0 || got.flags&flagScheduled != 0 {
				t.Fatalf("decoded channel has derived state: deadline %d flags %b", got.deadline, got.flags)
			}
			if again := AppendChannel(nil, got); !bytes.Equal(again, b) {
				t.Fatalf("re-encoding differs:\n%x\n%x", again, b)
			}
		})
	}
}

func TestAppendChannelAppends(t *testing.T) {
	prefix := []byte("prefix")
	b := AppendChannel(append([]byte(nil), prefix...), fullChannel())
	if !bytes.HasPrefix(b, prefix) {
		t.Fatalf("AppendChannel overwrote dst: %q", b[:len(prefix)])
	}
	if want := AppendChannel(nil, fullChannel()); !bytes.Equal(b[len(prefix):], want) {
		t.Fatal("appended encoding differs from a fresh one")
	}
}

func TestDecodeChannelTruncatedAtEveryLength(t *testing.T) {
	for name, c := range map[string]*Channel{"zero": {}, "full": fullChannel(), "awkward": NewChannel(awkwardData())} {
		b := AppendChannel(nil, c)
		for n := 0; n < len(b); n++ {
			got, err := DecodeChannel(b[:n])
			if !errors.Is(err, ErrCorrupt) || got != nil {
				t.Fatalf("%s truncated to %d of %d bytes: got %+v, %v; want nil, ErrCorrupt", name, n, len(b), got, err)
			}
		}
	}
}

func TestDecodeChannelCorrupt(t *testing.T) {
	valid := AppendChannel(nil, fullChannel())
	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"unknown version 0", append([]byte{0}, valid[1:]...)},
		{"old version 1", append([]byte{1}, valid[1:]...)},
		{"unknown version 6", append([]byte{6}, valid[1:]...)},
		{"version 2 with offsets", append([]byte{2}, valid[1:]...)},
		{"timeline out of order", AppendChannel(nil, NewChannel(ChannelData{Events: []Ref{ref("a", 2)}}).withEvent(ref("b", 1)))},
		// version 3, empty strings, LastEventAt 0, no open, held 0, one
		// event ("", "", "", at 0) whose offset + 1 is 2^63 + 1.
		{"offset overflow", []byte{3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0}},
		{"bad open flag", []byte{2, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0}},
		{"trailing byte", append(append([]byte(nil), valid...), 0)},
		{"trailing bytes of another record", append(append([]byte(nil), valid...), valid...)},
		// version, five empty strings, LastEventAt 0, no open, held 0,
		// then an event count far larger than the input: must not
		// allocate it.
		{"huge event count", []byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"huge string length", []byte{2, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'}},
		{"huge published count", []byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f}},
		{"varint overflow", []byte{2, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0}},
		{"stream time record", AppendStreamTime(nil, 5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeChannel(tt.b)
			if !errors.Is(err, ErrCorrupt) || got != nil {
				t.Fatalf("DecodeChannel(%x) = %+v, %v; want nil, ErrCorrupt", tt.b, got, err)
			}
		})
	}
}

func TestDecodeChannelRejectsCountsBeforeAllocating(t *testing.T) {
	// A published count the remaining bytes could hold one byte each but
	// not seventeen: rejected before the list is allocated.
	const n = 4 << 20
	b := []byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	b = binary.AppendUvarint(b, n)
	b = append(b, make([]byte, n)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c, err := DecodeChannel(b)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrCorrupt) || c != nil {
		t.Fatalf("DecodeChannel = %v, %v; want ErrCorrupt", c, err)
	}
	// Allowing for a copy of the input, anything beyond it would be the
	// list.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 2*n {
		t.Fatalf("DecodeChannel allocated %d bytes for a corrupt count; the %d-byte list should never be made", grew, 8*n)
	}
}

func TestStreamTimeRoundTrip(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 1661870076088000000, math.MaxInt64, math.MinInt64} {
		b := AppendStreamTime(nil, v)
		got, err := DecodeStreamTime(b)
		if err != nil || got != v {
			t.Errorf("DecodeStreamTime(AppendStreamTime(%d)) = %d, %v", v, got, err)
		}
		for n := 0; n < len(b); n++ {
			if _, err := DecodeStreamTime(b[:n]); !errors.Is(err, ErrCorrupt) {
				t.Errorf("stream time %d truncated to %d bytes: err %v, want ErrCorrupt", v, n, err)
			}
		}
	}
	if b := AppendStreamTime([]byte("k"), 7); b[0] != 'k' {
		t.Errorf("AppendStreamTime overwrote dst")
	}
}

func TestDecodeStreamTimeCorrupt(t *testing.T) {
	valid := AppendStreamTime(nil, 12345)
	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"version only", []byte{1}},
		{"unknown version", append([]byte{9}, valid[1:]...)},
		{"trailing", append(append([]byte(nil), valid...), 0)},
		{"varint overflow", []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"channel record", AppendChannel(nil, fullChannel())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := DecodeStreamTime(tt.b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeStreamTime(%x) = %d, %v; want ErrCorrupt", tt.b, got, err)
			}
		})
	}
}

// FuzzDecodeChannel: DecodeChannel never panics; it either fails with
// ErrCorrupt or returns a channel that survives another round trip.
func FuzzDecodeChannel(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add(AppendChannel(nil, &Channel{}))
	f.Add(AppendChannel(nil, fullChannel()))
	f.Add(AppendStreamTime(nil, 42))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeChannel(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || c != nil {
				t.Fatalf("DecodeChannel(%x) = %+v, %v; want nil and ErrCorrupt", b, c, err)
			}
			if _, err := DecodeStreamTime(b); err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeStreamTime(%x): error %v is not ErrCorrupt", b, err)
			}
			return
		}
		again, err := DecodeChannel(AppendChannel(nil, c))
		if err != nil {
			t.Fatalf("re-decoding %+v: %v", c, err)
		}
		if !reflect.DeepEqual(exported(again), exported(c)) {
			t.Fatalf("round trip changed the channel:\n got %+v\nwant %+v", again, c)
		}
	})
}

// awkwardData has strings that look like what the channel packs but must
// not be packed: uppercase or malformed UUIDs, KSUIDs out of range or with
// invalid digits, ids just over the inline sizes, unknown roles, sources
// and types.
func awkwardData() ChannelData {
	return ChannelData{
		ConversationID: "3E71F453-116A-3ABC-7769-BC678EF6E080",
		InteractionID:  "1371f451-116a-4abc-8869-bc678ef6707g",
		Party:          vcc.Party{Role: "Agent", AgentID: "123456789", UserID: "ef71f453x556a-3abc-7769-bc678ef6e090"},
		Events: []Ref{
			{Source: "/channel", ID: "zzzzzzzzzzzzzzzzzzzzzzzzzzz", Type: "channel.interrupted.v0", At: 1},
			{Source: "/channel", ID: "2Zks0VJxXAegKlhmHygjlZRwu0-", Type: "channel.resumed.v2", At: 2},
			{Source: "/channel", ID: "123456789012345678901", Type: "channel.resumed.v0", At: 3},
		},
	}
}

// TestDecodeChannelOldEncodings: values of version 1 (open interruptions,
// held closes, seen hashes, before the timeline) are refused as corrupt,
// never read as something else.
func TestDecodeChannelOldEncodings(t *testing.T) {
	typical := "012433653731663435332d313136612d346162632d383736392d6263363738656636653038302431333731463435312d313136412d344142432d383836392d424336373845463637303730056167656e7404313534342465663731663435332d353536612d346162632d393736392d62633637386566366530393080f89cc1ef8193902e0307000000000000000800000000000000090000000000000001082f6368616e6e656c1b333770574552774235516b37694d6d41456f374a664d444c354a73166368616e6e656c2e696e7465727275707465642e7630808087ceb8fd92902e00"
	b, err := hex.DecodeString(typical)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := DecodeChannel(b); !errors.Is(err, ErrCorrupt) || c != nil || !strings.Contains(err.Error(), "version 1") {
		t.Fatalf("DecodeChannel(v1) = %v, %v; want ErrCorrupt naming version 1", c, err)
	}
}

// withEvent appends r to c's timeline without keeping it sorted, for
// encodings InsertEvent cannot make.
func (c *Channel) withEvent(r Ref) *Channel {
	c.events = append(c.events, c.pack(r))
	return c
}

// TestDecodeChannelVersion2: values written by the previous version (2,
// timelines without arrival offsets; testdata/channel-v2.txt was written
// by it) are read, their events' offsets unknown, and are written back as
// version 3 without inventing offsets.
func TestDecodeChannelVersion2(t *testing.T) {
	fixtures, err := os.ReadFile("testdata/channel-v2.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ChannelData{
		"full":    fullDataV2(),
		"awkward": awkwardData(),
		"zero":    {},
	}
	for name, d := range want {
		// A value before version 4 holds fingerprints of the engine's
		// earlier definition.
		for i := range d.Published {
			d.Published[i].Legacy = true
		}
		want[name] = d
	}
	seen := 0
	for line := range strings.Lines(string(fixtures)) {
		name, h, _ := strings.Cut(strings.TrimSpace(line), " ")
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b[0] != 2 {
			t.Fatalf("%s: fixture of version %d", name, b[0])
		}
		c, err := DecodeChannel(b)
		if err != nil {
			t.Fatalf("%s: DecodeChannel(v2): %v", name, err)
		}
		if got := exported(c); !reflect.DeepEqual(got, want[name]) {
			t.Fatalf("%s: v2 decoded as\n%+v\nwant\n%+v", name, got, want[name])
		}
		for i := range c.NumEvents() {
			if e := c.Event(i); e.HasOffset {
				t.Fatalf("%s: event %d of a v2 value has offset %d", name, i, e.Offset)
			}
		}
		again := AppendChannel(nil, c)
		if again[0] != tombVersion {
			t.Fatalf("%s: re-encoded as version %d", name, again[0])
		}
		c3, err := DecodeChannel(again)
		if err != nil || !reflect.DeepEqual(exported(c3), want[name]) {
			t.Fatalf("%s: v2 → v3 round trip: %+v, %v", name, c3, err)
		}
		l := NewLoader(1)
		if err := l.Load([]byte("ch"), b); err != nil {
			t.Fatalf("%s: Loader refuses v2: %v", name, err)
		}
		seen++
	}
	if seen != len(want) {
		t.Fatalf("%d fixtures, want %d", seen, len(want))
	}
}

// fullDataV2 is fullData as it was when testdata/channel-v2.txt was
// written (the events differ: the v2 fixture predates the offsets).
func fullDataV2() ChannelData {
	d := fullData()
	d.Events = []Ref{
		{Source: "", ID: "", Type: "", At: math.MinInt64},
		{Source: "/channel", ID: "2Zks0VJxXAegKlhmHygjlZRwu0F", Type: "channel.interrupted.v0", At: 1661870000000000000},
		{Source: "/channel", ID: "2", Type: "channel.interrupted.v1", At: 1661870000000000001},
		{Source: "/ünïcode/\x00", ID: strings.Repeat("x", 300), Type: "channel.ended.v1", At: math.MaxInt64},
	}
	return d
}

// TestArrivalOffsets: each event keeps the offset it was given, exactly,
// packed or not; unknown and negative offsets read back as unknown (0,
// false), and the offset does not change how an event is found.
func TestArrivalOffsets(t *testing.T) {
	offs := []struct {
		off     int64
		has     bool
		wantOff int64
		wantHas bool
	}{
		{0, false, 0, false},
		{7, false, 0, false}, // not known: dropped
		{-1, true, 0, false}, // negative: unknown
		{0, true, 0, true},
		{1, true, 1, true},
		{maxPackedOffset, true, maxPackedOffset, true},
		{maxPackedOffset + 1, true, maxPackedOffset + 1, true},
		{math.MaxInt64, true, math.MaxInt64, true},
	}
	for _, id := range []string{"2Zks0VJxXAegKlhmHygjlZRwu0F", "short", strings.Repeat("z", 40)} {
		c := &Channel{}
		for i, o := range offs {
			c.InsertEvent(Ref{Source: "/channel", ID: fmt.Sprint(id, i), Type: "channel.interrupted.v0", At: int64(i), Offset: o.off, HasOffset: o.has})
		}
		dec, err := DecodeChannel(AppendChannel(nil, c))
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range []*Channel{c, dec, c.Clone(), NewChannel(c.Data())} {
			for i, o := range offs {
				e := ch.Event(i)
				if e.Offset != o.wantOff || e.HasOffset != o.wantHas {
					t.Fatalf("id %s event %d: offset %d %v; want %d %v", id, i, e.Offset, e.HasOffset, o.wantOff, o.wantHas)
				}
				if ch.FindEvent("/channel", fmt.Sprint(id, i)) != i {
					t.Fatalf("id %s event %d not found", id, i)
				}
			}
		}
	}
}

// loadWhole writes every record of c (a channel set whole: every segment
// dirty) and loads them back with a Loader.
func loadWhole(t *testing.T, c *Channel) *Channel {
	t.Helper()
	l := NewLoader(1)
	load := func(key []byte, value func([]byte) []byte) {
		if err := l.Load(key, value(nil)); err != nil {
			t.Fatalf("Load %q: %v", key, err)
		}
	}
	partRecords("ch", c, load)
	load([]byte("ch"), func(b []byte) []byte { return AppendChannel(b, c) })
	if err := l.Finish(); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return l.Store.Get("ch")
}
