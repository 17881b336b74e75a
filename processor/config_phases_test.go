package processor_test

import (
	"strings"
	"testing"
	"time"

	"github.com/interruptions/interruptions/core/match"
	"github.com/interruptions/interruptions/processor"
)

// TestConfigPhases: --max-phase takes each phase with its own maximum, at
// least 1ms and at most --retention, and nothing else; --phases-topic must
// differ from the other topics. Each refusal names the settings.
func TestConfigPhases(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   func(*processor.Config)
		wants []string // nil: valid
	}{
		{"off", func(*processor.Config) {}, nil},
		{"on", func(c *processor.Config) { c.PhasesTopic = "channel-phases" }, nil},
		{"every phase at retention", func(c *processor.Config) {
			c.MaxPhase = map[string]time.Duration{"alerting": 48 * time.Hour, "connected": 48 * time.Hour, "held": time.Millisecond,
				"parked": time.Hour, "wrap": 2 * time.Minute}
		}, nil},
		{"unknown phase", func(c *processor.Config) { c.MaxPhase = map[string]time.Duration{"talking": time.Hour} }, []string{"max-phase", `"talking"`}},
		{"interrupted has max-interruption", func(c *processor.Config) { c.MaxPhase = map[string]time.Duration{"interrupted": time.Hour} },
			[]string{"max-phase", "max-interruption"}},
		{"shorter than 1ms", func(c *processor.Config) { c.MaxPhase = map[string]time.Duration{"held": time.Microsecond} },
			[]string{"max-phase: held=1µs", "1ms"}},
		{"longer than retention", func(c *processor.Config) { c.MaxPhase = map[string]time.Duration{"wrap": 49 * time.Hour} },
			[]string{"retention and max-phase", "retention 48h0m0s", "wrap=49h0m0s"}},
		{"phases topic is the output topic", func(c *processor.Config) { c.PhasesTopic = c.OutputTopic },
			[]string{"phases-topic", "output-topic"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := processor.DefaultConfig()
			tc.set(&cfg)
			err := cfg.Validate()
			if tc.wants == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	// Each phase not given has the default maximum, or the retention when
	// shorter (match.PhaseConfigs).
	base := match.EngineConfig{MaxInterruption: time.Hour, Retention: 12 * time.Hour}
	for _, pc := range match.PhaseConfigs(base, map[string]time.Duration{"wrap": time.Minute}) {
		want := 12 * time.Hour
		if pc.Phase.Name == "wrap" {
			want = time.Minute
		}
		if pc.MaxInterruption != want || pc.Phase.Name == "interrupted" {
			t.Errorf("phase %s: maximum %s, want %s", pc.Phase.Name, pc.MaxInterruption, want)
		}
	}
}
