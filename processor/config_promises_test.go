package processor_test

import (
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/processor"
)

// TestConfigRetentionAtLeastMaxInterruption: --retention must be at least
// --max-interruption (README: "at least `--max-interruption`"): equal is
// valid, a retention one nanosecond shorter is refused with an error that
// names both settings and both values, and nothing else is refused.
func TestConfigRetentionAtLeastMaxInterruption(t *testing.T) {
	for _, tc := range []struct {
		name           string
		max, retention time.Duration
		ok             bool
	}{
		{"equal", time.Hour, time.Hour, true},
		{"equal, one millisecond (the least max-interruption)", time.Millisecond, time.Millisecond, true},
		{"equal to the default max-interruption", 24 * time.Hour, 24 * time.Hour, true},
		{"longer", time.Hour, time.Hour + time.Nanosecond, true},
		{"shorter by a nanosecond", time.Hour, time.Hour - time.Nanosecond, false},
		{"shorter", 2 * time.Hour, time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := processor.DefaultConfig()
			cfg.Engine.MaxInterruption, cfg.Engine.Retention = tc.max, tc.retention
			err := cfg.Validate()
			if tc.ok {
				if err != nil {
					t.Fatalf("max-interruption %s, retention %s refused: %v", tc.max, tc.retention, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("max-interruption %s, retention %s accepted", tc.max, tc.retention)
			}
			msg := err.Error()
			for _, want := range []string{"retention and max-interruption", "retention " + tc.retention.String(),
				"max-interruption " + tc.max.String()} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			if n := strings.Count(msg, "\n") + 1; n != 1 {
				t.Errorf("error %q: %d problems, want only the retention one", msg, n)
			}
		})
	}
}
