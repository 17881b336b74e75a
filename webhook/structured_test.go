package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/vccgen"
)

// structuredSeeds are bodies at every edge of what checkJSONObject and the
// event's JSON reader accept between them.
var structuredSeeds = []string{
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":1}}`,
	`  {"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":[1,{"b":"}"}]}}` + "\r\n\t ",
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":1}} xyz`,
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":1}}}`,
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":1}}{}`,
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":}}`,
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":1,}}`,
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data":[1,2,]}`,
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":1]}`,
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":1}`,
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data":"a` + "\x01" + `b"}`,
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data":"a\"}b\\"}`,
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data":"\q"}`,
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":01}}`,
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":1e}}`,
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":tru}}`,
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":"\ud800"}}`,
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":"` + "\xff\xfe" + `"}}`,
	`{"specversion":"1.0","id":"1","id":"2","source":"s","type":"t"}`,
	`{"specversion":"1.0","id":"1","source":"s","type":"t","ext":[1,,2]}`,
	`{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"aGk="}`,
	`{"specversion":"0.3","id":"1","source":"s","type":"t"}`,
	`[{"specversion":"1.0","id":"1","source":"s","type":"t"}]`,
	`{"specversion":"1.0","":}`, `{"specversion":"1.0","a":1,}`,
	`"x"`, `{`, `}`, ``, `   `, `{}`, `{"a":"\`, "\xef\xbb\xbf{}",
}

// FuzzStructuredRead holds the bridge's structured read to the sdk-go
// binding's own (binding.ToEvent): the same bodies are refused, and the
// same events are read from the others.
func FuzzStructuredRead(f *testing.F) {
	for _, s := range structuredSeeds {
		f.Add([]byte(s))
	}
	g := vccgen.New(vccgen.Config{Seed: 3})
	for range 5 {
		f.Add(g.Next().Value)
	}
	h := http.Header{"Content-Type": {structuredType}}
	f.Fuzz(func(t *testing.T, body []byte) {
		want, wantErr := sdkToEvent(h, body)
		got, err := toEvent(cehttp.NewMessage(h, io.NopCloser(bytes.NewReader(body))), body)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("body %q: bridge error %v, sdk error %v", body, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("body %q: bridge read\n%v\nsdk read\n%v", body, got, want)
		}
	})
}

// sdkToEvent is the binding's own read, the oracle.
func sdkToEvent(h http.Header, body []byte) (ev any, err error) {
	defer func() {
		if r := recover(); r != nil {
			ev, err = nil, io.ErrUnexpectedEOF
		}
	}()
	e, err := binding.ToEvent(context.Background(), cehttp.NewMessage(h, io.NopCloser(bytes.NewReader(body))))
	if err != nil {
		return nil, err
	}
	return e, nil
}

// FuzzCheckJSONObject holds checkJSONObject to encoding/json: valid JSON
// whose value is an object, and nothing else.
func FuzzCheckJSONObject(f *testing.F) {
	for _, s := range structuredSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{`{"a":-0.5e+10}`, `{"a":-}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":"\u00e9\uD83D"}`,
		`{"a":"\u00g0"}`, `{"a":[]}`, `{"a":[ ]}`, `{"a":{ }}`, `{"a":nul}`, `{"a":true }`, `{"a" : [1 , 2]}`, `{"a":1}` + "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		trimmed := bytes.TrimLeft(b, " \t\r\n")
		want := json.Valid(b) && len(trimmed) > 0 && trimmed[0] == '{'
		if err := codec.CheckJSONObject(b); (err == nil) != want {
			t.Fatalf("%q: checkJSONObject error %v, encoding/json valid object %v", b, err, want)
		}
	})
}

func TestCheckJSONObjectDepth(t *testing.T) {
	deep := func(n int) []byte {
		return []byte(`{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`)
	}
	for _, n := range []int{codec.MaxJSONDepth, codec.MaxJSONDepth + 1} {
		want := n <= codec.MaxJSONDepth
		if json.Valid(deep(n)) != want {
			t.Fatalf("depth %d: encoding/json's limit is no longer %d", n, codec.MaxJSONDepth)
		}
		if err := codec.CheckJSONObject(deep(n)); (err == nil) != want {
			t.Errorf("depth %d: checkJSONObject error %v, encoding/json valid %v", n, err, want)
		}
	}
}

// FuzzReadChannelData holds readChannelData to encoding/json: the same
// data is refused, and the same channelId read from the rest (duplicate
// keys, keys in other cases, escapes, invalid UTF-8, wrong types).
func FuzzReadChannelData(f *testing.F) {
	for _, s := range []string{
		`{"channel":{"channelId":"c1"}}`, `{"channel":{"channelId":"c1","channelId":"c2"}}`,
		`{"channel":{"ChannelID":"c1"}}`, `{"CHANNEL":{"channelid":"c1"}}`, `{"channel":{"channelId":"\u0063\ud83d\ude00"}}`,
		`{"channel":{"channelId":"` + "\xff\xfe" + `"}}`, `{"channel":{"channelId":"\ud800"}}`, `{"channel":{"channelId":5}}`,
		`{"channel":{"channelId":null}}`, `{"channel":null}`, `{"channel":[1]}`, `{"channel":"x"}`, `{"channel":{"channelId":"a"},"channel":{}}`,
		`{"channel":{"channelId":"a"},"channel":null}`, `{"channel":{"channelId":"a"}} x`, `{"channel":{"channelId":"a",}}`, `{}`,
		`{"channel":{"channelId":"c\"1\\"}}`, `{"channel":{"channelId":1e400}}`, `{"channel":{"channelId":true}}`,
	} {
		f.Add([]byte(s))
	}
	g := vccgen.New(vccgen.Config{Seed: 5})
	for range 3 {
		ev := g.Next()
		var m struct{ Data json.RawMessage }
		if json.Unmarshal(ev.Value, &m) == nil {
			f.Add([]byte(m.Data))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(bytes.TrimSpace(data)) == 0 || bytes.TrimSpace(data)[0] != '{' {
			return // decode refuses these before reading data
		}
		var want channelData
		wantErr := json.Unmarshal(data, &want)
		got, err := readChannelData(data)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%q: error %v, encoding/json error %v", data, err, wantErr)
		}
		if err != nil {
			return
		}
		if (got.Channel == nil) != (want.Channel == nil) || got.Channel != nil && got.Channel.ChannelID != want.Channel.ChannelID {
			t.Fatalf("%q: read %+v, encoding/json read %+v", data, got.Channel, want.Channel)
		}
	})
}
