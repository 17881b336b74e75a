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
	key = []byte(iid)
	if mode == Structured {
		b := appendStructuredHead(make([]byte, 0, 1024), id, source, RecordType, in.ChannelID, match.Millis(in.ClosedAt))
		b = appendData(b, recordNames, iid, in)
		b = append(b, '}')
		return key, b, structuredHeaders(), true
	}
	value = appendData(make([]byte, 0, 640), recordNames, iid, in)
	return key, value, binaryHeaders(id, source, RecordType, in.ChannelID, match.Millis(in.ClosedAt)), true
}

// FastPhaseRecord is FastRecord for a phase record (in.Phase set): the
// key (the phaseId), value and headers the sdk-go Kafka binding writes for
// PhaseEvent(in, source) in mode, byte for byte, a channel.phase.v0 record
// or a channel.phaseretracted.v0 retraction (internal/cekafka's
// TestFastPhaseRecordEqualsBinding holds them equal). It declines (ok
// false), and the binding writes the record, when any string would need
// JSON escaping, the source is not plainly a URI reference, or the channel
// id is empty or begins or ends with a space (event.SetSubject trims it).
func FastPhaseRecord(source string, mode Mode, in match.Interruption) (key, value []byte, headers []Header, ok bool) {
	ch := in.ChannelID
	if in.Phase == "" || ch == "" || ch[0] == ' ' || ch[len(ch)-1] == ' ' || !isURIPath([]byte(source)) ||
		!plainJSON(ch) || !plainJSON(in.Phase) || !plainJSON(in.OpenedBy.ID) || !plainJSON(in.OpenedBy.Type) {
		return nil, nil, nil, false
	}
	if in.Retracted {
		if !plainJSON(PhaseReason(in.Reason)) {
			return nil, nil, nil, false
		}
	} else if !plainJSON(in.ConversationID) || !plainJSON(in.InteractionID) || !plainJSON(in.Party.Role) ||
		!plainJSON(in.Party.AgentID) || !plainJSON(in.Party.UserID) ||
		(in.ClosedBy != nil && (!plainJSON(in.ClosedBy.ID) || !plainJSON(in.ClosedBy.Type))) {
		return nil, nil, nil, false
	}
	key = appendUUID(make([]byte, 0, 36), phaseID(ch, in.Phase, in.OpenedBy.Source, in.OpenedBy.ID))
	var idBuf [36]byte
	id := appendUUID(idBuf[:0], phaseRecordID(key, in.Revision))
	typ, at := PhaseType, match.Millis(in.ClosedAt)
	if in.Retracted {
		typ, at = PhaseRetractionType, match.Millis(in.InterruptedAt)
	}
	data := func(b []byte) []byte {
		if in.Retracted {
			return appendPhaseRetraction(b, key, in)
		}
		return appendData(b, phaseNames, key, in)
	}
	if mode == Structured {
		b := appendStructuredHead(make([]byte, 0, 1024), id, source, typ, ch, at)
		b = append(data(b), '}')
		return key, b, structuredHeaders(), true
	}
	return key, data(make([]byte, 0, 640)), binaryHeaders(id, source, typ, ch, at), true
}

// appendStructuredHead appends a structured-mode event up to its data's
// value, as the sdk-go binding writes the attributes: the time (Unix
// milliseconds) in RFC 3339 with as many fractional digits as it needs.
func appendStructuredHead[S string | []byte](b []byte, id S, source, typ, subject string, ms int64) []byte {
	b = append(b, `{"specversion":"1.0","id":"`...)
	b = append(b, id...)
	b = append(b, `","source":"`...)
	b = append(b, source...)
	b = append(b, `","type":"`...)
	b = append(b, typ...)
	b = append(b, `","subject":"`...)
	b = append(b, subject...)
	b = append(b, `","datacontenttype":"application/json","time":"`...)
	b = time.UnixMilli(ms).UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, `","data":`...)
}

// structuredHeaders are the headers of a structured-mode record.
func structuredHeaders() []Header {
	return []Header{{Key: "content-type", Value: []byte(structuredContentType)}}
}

// binaryHeaders are the headers of a binary-mode record, in the binding's
// order.
func binaryHeaders[S string | []byte](id S, source, typ, subject string, ms int64) []Header {
	return []Header{
		{Key: "ce_id", Value: []byte(id)},
		{Key: "ce_source", Value: []byte(source)},
		{Key: "ce_specversion", Value: []byte("1.0")},
		{Key: "ce_type", Value: []byte(typ)},
		{Key: "content-type", Value: []byte("application/json")},
		{Key: "ce_subject", Value: []byte(subject)},
		{Key: "ce_time", Value: time.UnixMilli(ms).UTC().AppendFormat(nil, time.RFC3339Nano)},
	}
}

// dataNames are the names of the fields of a record's data that differ
// between interruption and phase records.
type dataNames struct {
	id, start, end string
	phase          bool
}

var (
	recordNames = dataNames{id: "interruptionId", start: "interruptedAt", end: "closedAt"}
	phaseNames  = dataNames{id: "phaseId", start: "startedAt", end: "endedAt", phase: true}
)

// jsonField appends "key":"v".
func jsonField[S string | []byte](b []byte, key string, v S) []byte {
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, `":"`...)
	b = append(b, v...)
	return append(b, '"')
}

// appendPhaseRetraction appends a phase retraction's data as
// encoding/json writes PhaseRetractionData.
func appendPhaseRetraction(b, pid []byte, in match.Interruption) []byte {
	b = append(b, '{')
	b = jsonField(b, "phaseId", pid)
	b = append(b, `,"revision":`...)
	b = strconv.AppendInt(b, int64(in.Revision), 10)
	b = append(b, ',')
	b = jsonField(b, "phase", in.Phase)
	b = append(b, ',')
	b = jsonField(b, "channelId", in.ChannelID)
	b = append(b, ',')
	b = jsonField(b, "reason", PhaseReason(in.Reason))
	b = append(b, `,"startedAt":"`...)
	b = time.UnixMilli(match.Millis(in.InterruptedAt)).UTC().AppendFormat(b, millisLayout)
	b = append(b, `","openedBy":{`...)
	b = jsonField(b, "id", in.OpenedBy.ID)
	b = append(b, ',')
	b = jsonField(b, "type", in.OpenedBy.Type)
	return append(b, "}}"...)
}

// appendData appends a record's data as encoding/json writes RecordData
// (names recordNames) or PhaseData (phaseNames), id its interruptionId or
// phaseId.
func appendData[S string | []byte](b []byte, names dataNames, id S, in match.Interruption) []byte {
	opened, closed := match.Millis(in.InterruptedAt), match.Millis(in.ClosedAt)
	b = append(b, '{')
	b = jsonField(b, names.id, id)
	b = append(b, `,"revision":`...)
	b = strconv.AppendInt(b, int64(in.Revision), 10)
	if names.phase {
		b = append(b, ',')
		b = jsonField(b, "phase", in.Phase)
	}
	b = append(b, ',')
	b = jsonField(b, "channelId", in.ChannelID)
	b = append(b, ',')
	b = jsonField(b, "conversationId", in.ConversationID)
	b = append(b, ',')
	b = jsonField(b, "interactionId", in.InteractionID)
	b = append(b, `,"party":{`...)
	b = jsonField(b, "role", in.Party.Role)
	if in.Party.AgentID != "" {
		b = append(b, ',')
		b = jsonField(b, "agentId", in.Party.AgentID)
	}
	if in.Party.UserID != "" {
		b = append(b, ',')
		b = jsonField(b, "userId", in.Party.UserID)
	}
	b = append(b, "},"...)
	b = jsonField(b, "outcome", in.Outcome.String())
	b = append(b, `,"`...)
	b = append(b, names.start...)
	b = append(b, `":"`...)
	b = time.UnixMilli(opened).UTC().AppendFormat(b, millisLayout)
	b = append(b, `","`...)
	b = append(b, names.end...)
	b = append(b, `":"`...)
	b = time.UnixMilli(closed).UTC().AppendFormat(b, millisLayout)
	b = append(b, `","durationMs":`...)
	b = strconv.AppendInt(b, closed-opened, 10)
	b = append(b, `,"openedBy":{`...)
	b = jsonField(b, "id", in.OpenedBy.ID)
	b = append(b, ',')
	b = jsonField(b, "type", in.OpenedBy.Type)
	b = append(b, '}')
	if in.ClosedBy != nil {
		b = append(b, `,"closedBy":{`...)
		b = jsonField(b, "id", in.ClosedBy.ID)
		b = append(b, ',')
		b = jsonField(b, "type", in.ClosedBy.Type)
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
