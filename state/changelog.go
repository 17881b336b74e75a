package state

import (
	"encoding/binary"
	"fmt"
)

// The changelog format, in one place. Each input partition's state is
// written to the same partition of a compacted topic, one record per key:
//
//	key                  value
//	<channelId>          AppendChannel(channel), or nil (a tombstone: deleted)
//	StreamTimeKey        AppendStreamTime(stream time, Unix ns)
//	InputOffsetKey       AppendInputOffset(the next input offset)
//
// A channel the engine deleted after its retention is a channel value
// holding only its Tomb (no events) until the tomb is dropped, then nil.
// Reserved keys start with a NUL byte; channel ids are GUIDs and never do.
// Encode with ChangelogEntries, decode with a Loader: the two are symmetric.
const (
	// StreamTimeKey is the key of the partition's stream time.
	StreamTimeKey = "\x00stream-time"
	// InputOffsetKey is the key of the partition's next input offset: the
	// first input record the state written with it has not seen.
	InputOffsetKey = "\x00input-offset"
)

// AppendStreamTime appends the encoding of a stream time to dst.
func AppendStreamTime(dst []byte, t int64) []byte { return appendInt64(dst, t) }

// DecodeStreamTime decodes a value written by AppendStreamTime.
func DecodeStreamTime(b []byte) (int64, error) { return decodeInt64(b) }

// AppendInputOffset appends the encoding of an input offset to dst (the
// same encoding as a stream time).
func AppendInputOffset(dst []byte, offset int64) []byte { return appendInt64(dst, offset) }

// DecodeInputOffset decodes a value written by AppendInputOffset.
func DecodeInputOffset(b []byte) (int64, error) { return decodeInt64(b) }

// int64Version is the version byte of stream-time and input-offset values:
// their format has not changed since the first version, whatever the
// channels' (codecVersion).
const int64Version = 1

func appendInt64(dst []byte, v int64) []byte {
	return binary.AppendVarint(append(dst, int64Version), v)
}

func decodeInt64(b []byte) (int64, error) {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != int64Version {
		return 0, fmt.Errorf("%w: unknown version %d", ErrCorrupt, v)
	}
	t := d.varint()
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return t, d.err
}

// ChangelogEntries calls emit with the key and value of one changelog
// record per change of s since its last Commit, then one for its stream
// time if it moved, then one for nextOffset if it differs from
// committedOffset. A nil value is a tombstone. Keys and values are appended
// to buf, which is returned grown; each emitted slice stays valid (its own
// sub-slice of the buffer, capacity-limited) until buf is reused.
func ChangelogEntries(buf []byte, s *Store, nextOffset, committedOffset int64, emit func(key, value []byte)) []byte {
	add := func(key string, value func([]byte) []byte) {
		start := len(buf)
		buf = append(buf, key...)
		mid := len(buf)
		if value == nil {
			emit(buf[start:mid:mid], nil)
			return
		}
		buf = value(buf)
		emit(buf[start:mid:mid], buf[mid:len(buf):len(buf)])
	}
	for _, ch := range s.Changes() {
		if ch.Channel == nil {
			add(ch.ChannelID, nil)
			continue
		}
		add(ch.ChannelID, func(b []byte) []byte { return AppendChannel(b, ch.Channel) })
	}
	if s.StreamTimeChanged() {
		add(StreamTimeKey, func(b []byte) []byte { return AppendStreamTime(b, s.StreamTime()) })
	}
	if nextOffset != committedOffset {
		add(InputOffsetKey, func(b []byte) []byte { return AppendInputOffset(b, nextOffset) })
	}
	return buf
}

// Loader rebuilds one partition's store from its changelog records, read in
// offset order.
type Loader struct {
	// Store receives the channels and the stream time.
	Store *Store
	// InputOffset is the last input offset read (0 when none was).
	InputOffset int64
	// Records counts the records loaded.
	Records int
}

// NewLoader returns a loader into a new store sized for about n channels.
func NewLoader(n int) *Loader { return &Loader{Store: NewSized(n)} }

// Load applies one changelog record.
func (l *Loader) Load(key, value []byte) error {
	l.Records++
	switch string(key) {
	case InputOffsetKey:
		o, err := DecodeInputOffset(value)
		if err != nil {
			return fmt.Errorf("input offset: %w", err)
		}
		l.InputOffset = o
	case StreamTimeKey:
		t, err := DecodeStreamTime(value)
		if err != nil {
			return fmt.Errorf("stream time: %w", err)
		}
		l.Store.RestoreStreamTime(t)
	default:
		if value == nil {
			l.Store.Restore(string(key), nil)
			return nil
		}
		if len(value) > 0 && value[0] < minCodecVersion {
			return &OldFormatError{Version: value[0]}
		}
		c, err := DecodeChannel(value)
		if err != nil {
			return fmt.Errorf("channel %s: %w", key, err)
		}
		l.Store.Restore(string(key), c)
	}
	return nil
}

// OldFormatError reports a channel written by an earlier version of the
// processor, whose state format this version does not read (version 1 held
// pairs, not timelines: a timeline cannot be rebuilt from it). Version 2
// values (timelines without arrival offsets) are read.
type OldFormatError struct {
	// Version is the format of the record found.
	Version byte
}

func (e *OldFormatError) Error() string {
	return fmt.Sprintf("the changelog holds state of format %d, written by an earlier version; this version reads formats %d to %d: "+
		"start it with a new --group (or delete the changelog topic) and replay the input", e.Version, minCodecVersion, codecVersion)
}
