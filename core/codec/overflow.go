package codec

import (
	"fmt"

	"github.com/interruptions/interruptions/core/match"
)

// ReasonChannelOverflow is the dead-letter reason of a new event of a
// channel that already holds the most timeline events the settings allow
// (match.ChannelOverflow, --max-channel-events).
const ReasonChannelOverflow Reason = "channel-overflow"

// ChannelOverflowError returns the dead-letter error of an event the
// engine refused because its channel holds held events, the cap.
func ChannelOverflowError(ev *match.Event, held int) *DecodeError {
	return &DecodeError{Reason: ReasonChannelOverflow, Err: fmt.Errorf("event %s of channel %s at %s: the channel already holds %d events, the most --max-channel-events allows",
		ev.ID, ev.ChannelID, FormatMillis(ev.Timestamp), held)}
}
