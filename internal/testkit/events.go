package testkit

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The seed example: the channel.resumed.v0 example of the VCC
// documentation (seed-channel.resumed.v0.txt), its identifiers and time.
const (
	// SeedID is the example's CloudEvent id (a KSUID).
	SeedID = "2Zks0VJxXAegKlhmHygjlZRwu0F"
	// SeedChannelID is its data.channel.channelId, also its subject.
	SeedChannelID = "740109c1-12d5-430f-9543-131fe5c4edcb"
	// SeedConversationID is its data.channel.conversationId.
	SeedConversationID = "3e71f453-116a-3abc-7769-bc678ef6e080"
	// SeedInteractionID is its data.channel.interactionId.
	SeedInteractionID = "1371f451-116a-4abc-8869-bc678ef67070"
	// SeedAgentID is its data.channel.party.agentId.
	SeedAgentID = "1544"
	// SeedUserID is its data.channel.party.userId.
	SeedUserID = "ef71f453-556a-3abc-7769-bc678ef6e090"
	// SeedTimestamp is its data.timestamp, the event time.
	SeedTimestamp = "2022-08-30T14:34:36.088Z"
	// SeedTime is its time attribute (seven fractional digits).
	SeedTime = "2022-08-30T14:34:36.6134321Z"
)

// SeedResumed is the seed example verbatim, as a structured-mode record
// value: the documentation's indentation, its one tab character included.
const SeedResumed = `{
   "specversion":"1.0",
   "type":"channel.resumed.v0",
   "id":"2Zks0VJxXAegKlhmHygjlZRwu0F",
   "source":"/channel",
   "subject":"740109c1-12d5-430f-9543-131fe5c4edcb",
   "time":"2022-08-30T14:34:36.6134321Z",
   "datacontenttype":"application/json",
   "data":` + SeedData + `
}`

// SeedData is the data member of the seed example, verbatim: the value of
// the example as a binary-mode record.
const SeedData = `{
      "timestamp":"2022-08-30T14:34:36.088Z",
      "channel":{
		 "conversationId":"3e71f453-116a-3abc-7769-bc678ef6e080",
         "interactionId":"1371f451-116a-4abc-8869-bc678ef67070",
         "channelId":"740109c1-12d5-430f-9543-131fe5c4edcb",
         "party":{
            "role":"agent",
            "agentId":"1544",
            "userId":"ef71f453-556a-3abc-7769-bc678ef6e090"
         }
      }
   }`

// SeedHeaders returns the binary-mode headers of the seed example (a new
// slice each call, for a test to change): the ce_* attributes, then
// content-type.
func SeedHeaders() []kgo.RecordHeader {
	return []kgo.RecordHeader{
		{Key: "ce_specversion", Value: []byte("1.0")},
		{Key: "ce_type", Value: []byte("channel.resumed.v0")},
		{Key: "ce_id", Value: []byte(SeedID)},
		{Key: "ce_source", Value: []byte("/channel")},
		{Key: "ce_subject", Value: []byte(SeedChannelID)},
		{Key: "ce_time", Value: []byte(SeedTime)},
		{Key: "content-type", Value: []byte("application/json")},
	}
}

// Event is a structured CloudEvent as a JSON object, for a test to change
// with Set before it encodes it with StructuredValue or BinaryValue.
type Event map[string]any

// Defaults of the events New builds.
const (
	// DefaultTimestamp is data.timestamp.
	DefaultTimestamp = "2026-01-05T08:00:00.123Z"
	// DefaultTime is the time attribute.
	DefaultTime = "2026-01-05T08:00:00.6134321Z"
)

// NewEvent returns a VCC channel event of type typ shaped like the seed
// example: id SeedID, source /channel, subject and channelId
// SeedChannelID, time DefaultTime, data.timestamp DefaultTimestamp,
// conversation "conv-1", interaction "inter-1", party agent 1544 "user-1".
func NewEvent(typ string) Event {
	return Event{
		"specversion":     "1.0",
		"type":            typ,
		"id":              SeedID,
		"source":          "/channel",
		"subject":         SeedChannelID,
		"time":            DefaultTime,
		"datacontenttype": "application/json",
		"data": map[string]any{
			"timestamp": DefaultTimestamp,
			"channel": map[string]any{
				"conversationId": "conv-1",
				"interactionId":  "inter-1",
				"channelId":      SeedChannelID,
				"party":          map[string]any{"role": "agent", "agentId": SeedAgentID, "userId": "user-1"},
			},
		},
	}
}

// ChannelEvent is NewEvent(typ) with id, the channel (subject and
// data.channel.channelId) and ts as both data.timestamp and time.
func ChannelEvent(typ, id, channelID, ts string) Event {
	return NewEvent(typ).With(Set("id", id), Set("subject", channelID), Set("time", ts),
		Set("data.timestamp", ts), Set("data.channel.channelId", channelID))
}

// Absent, as the value of Set, deletes the member.
var Absent = &struct{}{}

// Set returns a change that sets the member at a dotted path
// ("data.channel.channelId") to v, or deletes it when v is Absent. The
// objects on the way must exist.
func Set(path string, v any) func(Event) {
	return func(e Event) {
		m := map[string]any(e)
		keys := strings.Split(path, ".")
		for _, k := range keys[:len(keys)-1] {
			m = m[k].(map[string]any)
		}
		last := keys[len(keys)-1]
		if v == Absent {
			delete(m, last)
		} else {
			m[last] = v
		}
	}
}

// With applies changes to e and returns it.
func (e Event) With(changes ...func(Event)) Event {
	for _, c := range changes {
		c(e)
	}
	return e
}

// StructuredValue returns e as a structured-mode record value (JSON). A
// value that does not marshal fails the test.
func StructuredValue(t testing.TB, e Event) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any(e))
	if err != nil {
		t.Fatalf("structured event: %v", err)
	}
	return b
}

// BinaryValue returns e as a binary-mode record: data as the value, every
// other attribute as a ce_* header (datacontenttype as content-type), in
// the order of the attribute names. An attribute that is not a string, or
// data that does not marshal, fails the test.
func BinaryValue(t testing.TB, e Event) (value []byte, headers []kgo.RecordHeader) {
	t.Helper()
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "data" {
			b, err := json.Marshal(e[k])
			if err != nil {
				t.Fatalf("binary event data: %v", err)
			}
			value = b
			continue
		}
		s, ok := e[k].(string)
		if !ok {
			t.Fatalf("binary event: attribute %s = %v is not a string", k, e[k])
		}
		name := "ce_" + k
		if k == "datacontenttype" {
			name = "content-type"
		}
		headers = append(headers, kgo.RecordHeader{Key: name, Value: []byte(s)})
	}
	return value, headers
}
