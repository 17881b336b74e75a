package state_test

import (
	"testing"

	"github.com/interruptions/interruptions/state"
)

// restoreStreamTimes returns the stream times among a store's changelog
// entries since its last commit, in order.
func restoreStreamTimes(t *testing.T, s *state.Store) []int64 {
	t.Helper()
	var out []int64
	state.ChangelogEntries(nil, s, 0, 0, func(k, v []byte) {
		if string(k) != state.StreamTimeKey {
			return
		}
		st, err := state.DecodeStreamTime(v)
		if err != nil {
			t.Fatalf("stream time entry %x: %v", v, err)
		}
		out = append(out, st)
	})
	return out
}

// TestPromiseResetStreamTimeWrittenBack: a restored clock lowered with
// ResetStreamTime (the runtime's distrust of a future clock) is written to
// the changelog at the next commit, with the lowered value; once committed
// it is not written again, and it is what a later rollback returns to.
func TestPromiseResetStreamTimeWrittenBack(t *testing.T) {
	l := state.NewLoader(0)
	if err := l.Load([]byte(state.StreamTimeKey), state.AppendStreamTime(nil, 500)); err != nil {
		t.Fatal(err)
	}
	s := l.Store
	if s.StreamTime() != 500 || len(restoreStreamTimes(t, s)) != 0 {
		t.Fatalf("restored: clock %d, entries %v; want 500 and nothing to write", s.StreamTime(), restoreStreamTimes(t, s))
	}
	s.ResetStreamTime(300)
	if got := restoreStreamTimes(t, s); s.StreamTime() != 300 || len(got) != 1 || got[0] != 300 {
		t.Fatalf("after ResetStreamTime(300): clock %d, stream-time entries %v; want 300 and [300]", s.StreamTime(), got)
	}
	if s.CommittedStreamTime() != 300 {
		t.Fatalf("committed clock %d after the reset, want 300", s.CommittedStreamTime())
	}
	s.Commit()
	if got := restoreStreamTimes(t, s); s.StreamTime() != 300 || len(got) != 0 {
		t.Fatalf("after the commit: clock %d, stream-time entries %v; want 300 and none", s.StreamTime(), got)
	}
	// An epoch that advances the lowered clock and rolls back returns
	// to it, not to the restored one.
	s.AdvanceStreamTime(400)
	s.Rollback()
	if s.StreamTime() != 300 {
		t.Fatalf("after a rollback: clock %d, want the lowered 300", s.StreamTime())
	}
}
