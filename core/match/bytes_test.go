package match

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/interruptions/interruptions/state"
)

// TestChannelBytesLimit: with MaxChannelBytes set, a channel's events are
// placed while its changelog value (state.AppendChannel, the encoder the
// runtime writes with) stays within the limit; the first event that could
// take it over is a ChannelOverflow that changes nothing, and so is every
// later new event of that channel, while other channels go on. The
// limit's slack is bounded: the channel holds at least 80 % of the events
// that would fit exactly.
func TestChannelBytesLimit(t *testing.T) {
	const limit = 4096
	cfg := EngineConfig{MaxInterruption: time.Hour, Retention: 48 * time.Hour, MaxChannelBytes: limit}
	e := newTestEngine(cfg)
	s := state.New()
	emit := func(Interruption) {}
	placed, refused := 0, 0
	var fits int // events that fit exactly, from the encoder
	for i := range 200 {
		x := ev([]string{"i", "r"}[i%2], fmt.Sprintf("2Ae%025d", i), "10:00")
		x.Timestamp += int64(i) * int64(time.Second)
		var before string
		if c := s.Get(chA); c != nil {
			before = string(state.AppendChannel(nil, c))
		}
		d, _ := e.Process(s, &x, emit)
		s.Commit()
		after := state.AppendChannel(nil, s.Get(chA))
		if len(after) > limit {
			t.Fatalf("event %d (%s): the value is %d bytes, over the limit %d", i, d, len(after), limit)
		}
		switch d {
		case Processed:
			if refused > 0 {
				t.Fatalf("event %d placed after event %d was refused", i, placed)
			}
			placed++
			fits = i + 1
		case ChannelOverflow:
			refused++
			if string(after) != before {
				t.Fatalf("refused event %d changed the channel", i)
			}
		default:
			t.Fatalf("event %d: %s", i, d)
		}
	}
	if refused == 0 {
		t.Fatalf("no event refused: the limit did not bind")
	}
	// How many such events fit exactly: grow a copy until the encoding
	// passes the limit.
	c := s.Get(chA).Clone()
	exact := c.NumEvents()
	for len(state.AppendChannel(nil, c)) <= limit {
		c.InsertEvent(state.Ref{Source: "/channel", ID: fmt.Sprintf("2Af%025d", exact), Type: "channel.resumed.v0", At: at("23:00")})
		exact++
	}
	exact-- // the last one did not fit
	if float64(fits) < 0.8*float64(exact) {
		t.Errorf("placed %d events, %d would fit: the bound wastes more than 20 %%", fits, exact)
	}
	b := evOn(chB, "i", "b1", "10:00")
	if d, _ := e.Process(s, &b, emit); d != Processed {
		t.Errorf("another channel's event: %s, want processed", d)
	}
}

// TestChannelEvictedWhenLimitLowered: a channel whose value is longer than
// a limit lowered under it (SetMaxChannelBytes, as the runtime does when
// the changelog topic's max.message.bytes is lowered) is evicted the next
// time the engine changes it: here when its interruption expires, which
// is published first. Its state is then a tomb within the limit, and a
// copy of one of its events is a duplicate, as after a deletion.
func TestChannelEvictedWhenLimitLowered(t *testing.T) {
	cfg := EngineConfig{MaxInterruption: time.Hour, Retention: 48 * time.Hour}
	e := newTestEngine(cfg)
	s := state.New()
	var out []Interruption
	emit := func(in Interruption) { out = append(out, in) }
	for i := range 40 {
		x := ev([]string{"r", "i"}[i%2], fmt.Sprintf("2Ae%025d", i), "10:00")
		x.Timestamp += int64(i) * int64(time.Second)
		e.Process(s, &x, emit)
	}
	s.Commit()
	size := len(state.AppendChannel(nil, s.Get(chA)))
	limit := size / 2
	e.SetMaxChannelBytes(limit)
	if e.MaxChannelBytes() != limit {
		t.Fatalf("MaxChannelBytes() = %d after SetMaxChannelBytes(%d)", e.MaxChannelBytes(), limit)
	}
	out = out[:0]
	tick := evOn(chB, "i", "b1", "12:00") // the clock passes chA's open interruption's bound
	_, hk := e.Process(s, &tick, emit)
	if hk.Evicted != 1 {
		t.Fatalf("housekeeping %+v, want one channel evicted", hk)
	}
	if len(out) != 1 || out[0].ChannelID != chA || out[0].Outcome != OutcomeExpired {
		t.Fatalf("records %v, want chA's expired interruption, published before the eviction", out)
	}
	c := s.Get(chA)
	if c != nil && (c.NumEvents() != 0 || len(state.AppendChannel(nil, c)) > limit) {
		t.Fatalf("after the eviction chA holds %d events, %d bytes (limit %d)", c.NumEvents(), len(state.AppendChannel(nil, c)), limit)
	}
	if c == nil || c.Tomb() == nil {
		t.Fatalf("chA left no tomb")
	}
	again := ev("i", fmt.Sprintf("2Ae%025d", 39), "10:00")
	again.Timestamp += 39 * int64(time.Second)
	if d, _ := e.Process(s, &again, emit); d != Duplicate {
		t.Errorf("a copy of an evicted channel's event: %s, want duplicate", d)
	}
}

// TestSegmentedRecordsWithinLimit: a long channel's changelog is a head and
// segments (state/segment.go), and MaxChannelBytes bounds each record the
// runtime writes, not the channel: with a limit far below the whole
// channel's size, 1,500 events in order and then 1,500 late ones (each at
// a random second among the first 200) are placed unless a record would
// pass the limit, every record every unit writes (state.ChangelogEntries,
// what the runtime produces) is within it, the channel holds several
// times what one record could, and the late events that would overfill
// their segment are ChannelOverflow.
func TestSegmentedRecordsWithinLimit(t *testing.T) {
	const limit = 8000
	cfg := EngineConfig{MaxInterruption: time.Hour, Retention: 48 * time.Hour, MaxChannelBytes: limit}
	e := newTestEngine(cfg)
	s := state.New()
	emit := func(Interruption) {}
	r := rand.New(rand.NewPCG(21, 6000))
	counts := map[Disposition]int{}
	for i := range 3000 {
		sec := i
		if i >= 1500 {
			sec = r.IntN(200)
		}
		x := ev([]string{"i", "r"}[i%2], fmt.Sprintf("2Ae%025d", i), "10:00")
		x.Timestamp += int64(sec) * int64(time.Second)
		d, _ := e.Process(s, &x, emit)
		counts[d]++
		if i%7 == 6 || i == 2999 {
			state.ChangelogEntries(nil, s, 0, 0, func(k, v []byte) {
				if len(v) > limit {
					t.Fatalf("event %d: record %q is %d bytes, over the limit %d", i, k, len(v), limit)
				}
			})
			s.Commit()
		}
	}
	held := s.Get(chA).NumEvents()
	t.Logf("dispositions %v; the channel holds %d events", counts, held)
	if counts[ChannelOverflow] == 0 {
		t.Fatalf("no event overflowed: the limit did not bind (%v)", counts)
	}
	if one := limit / 40; held < 5*one {
		t.Fatalf("the channel holds %d events: not several times what one record holds (about %d)", held, one)
	}
	if counts[Processed]+counts[ChannelOverflow] != 3000 || counts[Processed] != held {
		t.Fatalf("dispositions %v, %d events held", counts, held)
	}
}
