package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/interruptions/interruptions/processor"
)

// TestMaxChannelEventsSetting: --max-channel-events comes from the flag,
// INTERRUPTIONS_MAX_CHANNEL_EVENTS or the config file's max-channel-events
// (flag > environment > file), defaults to processor.DefaultMaxChannelEvents
// (TestDefaultChannelCapFitsChangelogRecord bounds it), and a
// value below 1 makes run and replay exit 2 naming the setting.
func TestMaxChannelEventsSetting(t *testing.T) {
	file := writeFile(t, "run.yaml", "max-channel-events: 300\n")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want int
	}{
		{"default", nil, nil, processor.DefaultMaxChannelEvents},
		{"file", []string{"--config", file}, nil, 300},
		{"environment over file", []string{"--config", file}, map[string]string{"INTERRUPTIONS_MAX_CHANNEL_EVENTS": "200"}, 200},
		{"flag over environment", []string{"--config", file, "--max-channel-events", "100"},
			map[string]string{"INTERRUPTIONS_MAX_CHANNEL_EVENTS": "200"}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, err := parseRun(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := f.config()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Engine.MaxChannelEvents != tc.want {
				t.Errorf("max-channel-events = %d, want %d", cfg.Engine.MaxChannelEvents, tc.want)
			}
		})
	}
	in := filepath.Join("testdata", "replay", "cases.input.ndjson")
	for _, args := range [][]string{
		{"run", "--max-channel-events", "0"},
		{"replay", "--input", in, "--max-channel-events", "-1"},
	} {
		code, _, stderr := runCLI(context.Background(), nil, args...)
		if code != 2 || !strings.Contains(stderr, "max-channel-events") {
			t.Errorf("%v: exit %d, want 2 naming max-channel-events; stderr: %s", args, code, stderr)
		}
	}
}

// TestReplayMaxChannelEvents: replay applies the cap as run does: with
// --max-channel-events 1 every channel of the test cases keeps its first
// event and dead-letters its next ones as channel-overflow.
func TestReplayMaxChannelEvents(t *testing.T) {
	in := filepath.Join("testdata", "replay", "cases.input.ndjson")
	code, _, stderr := runCLI(context.Background(), nil, "replay", "--input", in)
	if code != 0 || strings.Contains(stderr, "channel-overflow") {
		t.Fatalf("replay with the default cap: exit %d, stderr %s", code, stderr)
	}
	code, _, stderr = runCLI(context.Background(), nil, "replay", "--input", in, "--max-channel-events", "1")
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, stderr)
	}
	var n int
	for _, l := range strings.Split(stderr, "\n") {
		if _, err := fmt.Sscanf(l, "dead letters channel-overflow: %d", &n); err == nil {
			break
		}
	}
	if n == 0 {
		t.Errorf("replay --max-channel-events 1 dead-lettered no channel-overflow:\n%s", stderr)
	}
}
