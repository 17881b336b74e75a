package codec

import (
	"strconv"
	"time"

	"github.com/interruptions/interruptions/core/match"
)

// FastRecord writes an output record without the sdk-go event model: the
// key, value and headers (in the binding's order) of the record the
// sdk-go Kafka binding writes for RecordEvent(in, source) in mode, byte for
// byte (internal/cekafka's TestFastRecordEqualsBinding holds them equal). It
// declines (ok false), and the binding writes the record, when any string
// would need JSON escaping.
func FastRecord(source string, mode Mode, in match.Interruption) (key, value []byte, headers []Header, ok bool) {
	// A source that is not plainly a valid URI reference is left to the
	// binding, which validates it.
	if in.Retracted || !isURIPath([]byte(source)) || !plainJSON(in.ChannelID) || !plainJSON(in.ConversationID) ||
		!plainJSON(in.InteractionID) || !plainJSON(in.Party.Role) || !plainJSON(in.Party.AgentID) ||
		!plainJSON(in.Party.UserID) || !plainJSON(in.OpenedBy.ID) || !plainJSON(in.OpenedBy.Type) ||
		in.ChannelID == "" || (in.ClosedBy != nil && (!plainJSON(in.ClosedBy.ID) || !plainJSON(in.ClosedBy.Type))) {
		return nil, nil, nil, false
	}
	iid := InterruptionID(in.ChannelID, in.OpenedBy.Source, in.OpenedBy.ID)
	id := recordID(iid, in.Revision)
	ceTime := time.UnixMilli(match.Millis(in.ClosedAt)).UTC().Format(time.RFC3339Nano)
	key = []byte(iid)
	if mode == Structured {
		b := make([]byte, 0, 1024)
		b = append(b, `{"specversion":"1.0","id":"`...)
		b = append(b, id...)
		b = append(b, `","source":"`...)
		b = append(b, source...)
		b = append(b, `","type":"`+RecordType+`","subject":"`...)
		b = append(b, in.ChannelID...)
		b = append(b, `","datacontenttype":"application/json","time":"`...)
		b = append(b, ceTime...)
		b = append(b, `","data":`...)
		b = appendData(b, iid, in)
		b = append(b, '}')
		return key, b, []Header{{Key: "content-type", Value: []byte(structuredContentType)}}, true
	}
	value = appendData(make([]byte, 0, 640), iid, in)
	headers = []Header{
		{Key: "ce_id", Value: []byte(id)},
		{Key: "ce_source", Value: []byte(source)},
		{Key: "ce_specversion", Value: []byte("1.0")},
		{Key: "ce_type", Value: []byte(RecordType)},
		{Key: "content-type", Value: []byte("application/json")},
		{Key: "ce_subject", Value: []byte(in.ChannelID)},
		{Key: "ce_time", Value: []byte(ceTime)},
	}
	return key, value, headers, true
}

// appendData appends the record data as encoding/json writes RecordData.
func appendData(b []byte, iid string, in match.Interruption) []byte {
	opened, closed := match.Millis(in.InterruptedAt), match.Millis(in.ClosedAt)
	field := func(b []byte, key, v string) []byte {
		b = append(b, `"`...)
		b = append(b, key...)
		b = append(b, `":"`...)
		b = append(b, v...)
		return append(b, '"')
	}
	b = append(b, '{')
	b = field(b, "interruptionId", iid)
	b = append(b, `,"revision":`...)
	b = strconv.AppendInt(b, int64(in.Revision), 10)
	b = append(b, ',')
	b = field(b, "channelId", in.ChannelID)
	b = append(b, ',')
	b = field(b, "conversationId", in.ConversationID)
	b = append(b, ',')
	b = field(b, "interactionId", in.InteractionID)
	b = append(b, `,"party":{`...)
	b = field(b, "role", in.Party.Role)
	if in.Party.AgentID != "" {
		b = append(b, ',')
		b = field(b, "agentId", in.Party.AgentID)
	}
	if in.Party.UserID != "" {
		b = append(b, ',')
		b = field(b, "userId", in.Party.UserID)
	}
	b = append(b, "},"...)
	b = field(b, "outcome", in.Outcome.String())
	b = append(b, ',')
	b = field(b, "interruptedAt", "")
	b = time.UnixMilli(opened).UTC().AppendFormat(b[:len(b)-1], millisLayout)
	b = append(b, `","closedAt":"`...)
	b = time.UnixMilli(closed).UTC().AppendFormat(b, millisLayout)
	b = append(b, `","durationMs":`...)
	b = strconv.AppendInt(b, closed-opened, 10)
	b = append(b, `,"openedBy":{`...)
	b = field(b, "id", in.OpenedBy.ID)
	b = append(b, ',')
	b = field(b, "type", in.OpenedBy.Type)
	b = append(b, '}')
	if in.ClosedBy != nil {
		b = append(b, `,"closedBy":{`...)
		b = field(b, "id", in.ClosedBy.ID)
		b = append(b, ',')
		b = field(b, "type", in.ClosedBy.Type)
		b = append(b, '}')
	}
	return append(b, '}')
}

// plainJSON reports whether encoding/json writes s as is between quotes:
// printable ASCII without quote, backslash or the HTML characters it
// escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
