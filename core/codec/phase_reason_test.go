package codec_test

import (
	"testing"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/state"
)

// TestPhaseRetractionReasons: a phase retraction names its reason in the
// phases' words (README): interrupted-while-interrupted is
// opened-while-open; after-end and reopened stay.
func TestPhaseRetractionReasons(t *testing.T) {
	for reason, want := range map[match.Reason]string{
		match.ReasonInterruptedWhileInterrupted: "opened-while-open",
		match.ReasonAfterEnd:                    "after-end",
		match.ReasonReopened:                    "reopened",
	} {
		in := match.Interruption{Phase: match.PhaseHeld, ChannelID: "ch", Retracted: true, Reason: reason, Revision: 2,
			OpenedBy: state.Ref{Source: "/channel", ID: "h1", Type: "channel.held.v0"}}
		if got := codec.PhaseRetractionPayload(in).Reason; got != want {
			t.Errorf("reason %s: written %q, want %q", reason, got, want)
		}
	}
}
