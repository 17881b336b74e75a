package processor

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/interruptions/interruptions/vccgen"
)

// checkAgree fails when the fast path accepts input that the sdk-go
// binding path rejects or decodes differently.
func checkAgree(t *testing.T, value []byte, headers []Header) bool {
	t.Helper()
	fast, ok := decodeFast(value, headers)
	if !ok {
		return false
	}
	slow, err := decodeBinding(value, headers)
	if err != nil {
		t.Fatalf("fast path accepted what the binding rejects (%v):\nheaders %v\nvalue %q", err, headers, value)
	}
	if fast != slow {
		t.Fatalf("paths disagree:\nfast %+v\nslow %+v\nvalue %q", fast, slow, value)
	}
	return true
}

func fastBinaryRecord(t testing.TB, value []byte) *kgo.Record {
	ce, err := ParseStructured(value)
	if err != nil {
		t.Fatal(err)
	}
	r, err := EventRecord("t", nil, ce, Binary)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestFastDecodeAgreesOnGeneratedTraffic: the fast path takes nearly all
// realistic traffic, in both modes, and decodes it exactly as the binding.
func TestFastDecodeAgreesOnGeneratedTraffic(t *testing.T) {
	events := vccgen.New(vccgen.Config{Seed: 8}).Take(20_000)
	structured := []Header{{Key: "content-type", Value: []byte(structuredContentType)}}
	fastS, fastB := 0, 0
	for _, ev := range events {
		if checkAgree(t, ev.Value, structured) {
			fastS++
		}
		checkAgree(t, ev.Value, nil) // no content type reads as structured
		r := fastBinaryRecord(t, ev.Value)
		if checkAgree(t, r.Value, r.Headers) {
			fastB++
		}
	}
	if fastS < len(events)*99/100 || fastB < len(events)*99/100 {
		t.Errorf("fast path took %d structured and %d binary of %d events; want 99%%", fastS, fastB, len(events))
	}
}

// FuzzFastDecode: whatever the input, the fast path either declines or
// agrees with the sdk-go binding path.
func FuzzFastDecode(f *testing.F) {
	for _, ev := range vccgen.New(vccgen.Config{Seed: 9}).Take(40) {
		f.Add(ev.Value, false)
		f.Add(ev.Value, true)
	}
	f.Add([]byte(`{"specversion":"1.0","id":"a","source":"/channel","type":"channel.resumed.v0","subject":"c","data":{"timestamp":"2026-01-05T08:00:00Z","channel":{"channelId":"c","ChannelId":"d"}}}`), false)
	f.Add([]byte(`{"specversion":"1.0","id":"a","source":"/channel","type":"channel.held.v0","data":{"timestamp":"2026-01-05T08:00:00Z","x":[1,-2.5e3,{"y":"\u00e9"}]}}`), false)
	f.Fuzz(func(t *testing.T, value []byte, binary bool) {
		if binary {
			ce, err := ParseStructured(value)
			if err != nil {
				return
			}
			r, err := EventRecord("t", nil, ce, Binary)
			if err != nil {
				return
			}
			checkAgree(t, r.Value, r.Headers)
			return
		}
		checkAgree(t, value, nil)
		checkAgree(t, value, []Header{{Key: "content-type", Value: []byte(structuredContentType)}})
	})
}
