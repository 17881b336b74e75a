package processor_test

import (
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/processor"
)

// TestConfigMaxInterruptionAtLeastOneMillisecond is issue 21 item 7:
// event times have millisecond precision, so a max-interruption under 1ms
// (--max-interruption 1ns was accepted and gave expired records of 0 ms)
// is refused with one error that names the setting, its value and the
// minimum; 1ms itself is valid, with retention equal to it too.
func TestConfigMaxInterruptionAtLeastOneMillisecond(t *testing.T) {
	for _, tc := range []struct {
		max, retention time.Duration
		ok             bool
	}{
		{time.Nanosecond, 48 * time.Hour, false},
		{time.Millisecond - time.Nanosecond, 48 * time.Hour, false},
		{time.Microsecond, time.Microsecond, false},
		{time.Millisecond, 48 * time.Hour, true},
		{time.Millisecond, time.Millisecond, true},
		{time.Millisecond + time.Nanosecond, time.Second, true},
	} {
		cfg := processor.DefaultConfig()
		cfg.Engine.MaxInterruption, cfg.Engine.Retention = tc.max, tc.retention
		err := cfg.Validate()
		if tc.ok {
			if err != nil {
				t.Errorf("max-interruption %s, retention %s refused: %v", tc.max, tc.retention, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("max-interruption %s, retention %s accepted", tc.max, tc.retention)
			continue
		}
		msg := err.Error()
		for _, want := range []string{"max-interruption: ", tc.max.String(), "at least 1ms"} {
			if !strings.Contains(msg, want) {
				t.Errorf("max-interruption %s: error %q does not say %q", tc.max, msg, want)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("max-interruption %s, retention %s: error %q has more than the max-interruption problem", tc.max, tc.retention, msg)
		}
	}
}
