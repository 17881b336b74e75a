package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSettingsValidatedAsAWhole: run, demo and replay apply the same rules
// to the settings they share, before they touch a broker or a file, and
// exit 2 with every problem named: retention shorter than
// max-interruption names both; a source that is not a URI-reference (RFC
// 3986) or a max-clock-skew that is not positive names its setting.
func TestSettingsValidatedAsAWhole(t *testing.T) {
	file := func(content string) string { return writeFile(t, "c.yaml", content) }
	for _, cmd := range []string{"run", "demo", "replay"} {
		for _, tc := range []struct {
			name string
			args []string
			env  map[string]string
			want []string
		}{
			{"retention shorter than max-interruption", []string{"--retention", "1h", "--max-interruption", "2h"}, nil,
				[]string{"retention and max-interruption", "retention 1h0m0s is shorter than max-interruption 2h0m0s"}},
			{"retention shorter than the default max-interruption", []string{"--retention", "23h"}, nil,
				[]string{"retention and max-interruption", "shorter than max-interruption 24h0m0s"}},
			{"retention from the file, max-interruption from the environment", []string{"--config", file("retention: 90m\n")},
				map[string]string{"INTERRUPTIONS_MAX_INTERRUPTION": "2h"}, []string{"retention and max-interruption", "1h30m0s"}},
			{"source %%%", []string{"--source", "%%%"}, nil, []string{"source", `"%%%" is not a URI-reference (RFC 3986)`}},
			{"source with a space", []string{"--source", "/my interruptions"}, nil, []string{"source", "cannot hold ' '"}},
			{"source from the environment", nil, map[string]string{"INTERRUPTIONS_SOURCE": "1a:b"}, []string{"source", "not a scheme"}},
			{"source empty", []string{"--source", ""}, nil, []string{"source", "must not be empty"}},
			{"max-clock-skew zero", []string{"--max-clock-skew", "0s"}, nil, []string{"max-clock-skew", "must be positive"}},
			{"max-clock-skew negative, from the file", []string{"--config", file("max-clock-skew: -5m\n")}, nil,
				[]string{"max-clock-skew", "c.yaml line 1", "must be positive"}},
			{"max-clock-skew not a duration", nil, map[string]string{"INTERRUPTIONS_MAX_CLOCK_SKEW": "5"}, []string{"max-clock-skew", "INTERRUPTIONS_MAX_CLOCK_SKEW"}},
			{"every problem at once", []string{"--retention", "1h", "--max-interruption", "2h", "--source", "%%%"}, nil,
				[]string{"retention and max-interruption", "source: "}},
		} {
			t.Run(cmd+"/"+tc.name, func(t *testing.T) {
				code, out, stderr := runCLI(context.Background(), tc.env, append([]string{cmd}, tc.args...)...)
				if code != 2 {
					t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", code, out, stderr)
				}
				if out != "" {
					t.Errorf("wrote to stdout before failing: %q", out)
				}
				for _, w := range tc.want {
					if !strings.Contains(stderr, w) {
						t.Errorf("stderr does not say %q:\n%s", w, stderr)
					}
				}
			})
		}
	}
}

// TestReplayBadSourceWritesNothing: replay with a bad --source exits 2
// before it creates its output and DLQ files (it used to exit 1 after
// writing part of the output).
func TestReplayBadSourceWritesNothing(t *testing.T) {
	in := filepath.Join("testdata", "replay", "generated.input.ndjson")
	dir := t.TempDir()
	out, dlq := filepath.Join(dir, "out"), filepath.Join(dir, "dlq")
	code, stdout, stderr := runCLI(context.Background(), nil, "replay", "--input", in, "--output", out, "--dlq", dlq, "--source", "%%%")
	if code != 2 || !strings.Contains(stderr, "source") {
		t.Fatalf("exit %d, want 2 naming source\nstderr: %s", code, stderr)
	}
	for _, f := range []string{out, dlq} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s exists (%v): replay wrote before it checked its settings", f, err)
		}
	}
	// Without --output, nothing on stdout either.
	code, stdout, _ = runCLI(context.Background(), nil, "replay", "--input", in, "--source", "%%%")
	if code != 2 || stdout != "" {
		t.Fatalf("exit %d, stdout %d bytes; want 2 and nothing", code, len(stdout))
	}
	// The control: the same command with a good source writes records.
	code, stdout, stderr = runCLI(context.Background(), nil, "replay", "--input", in, "--source", "urn:example:interruptions")
	if code != 0 || !strings.Contains(stdout, `"source":"urn:example:interruptions"`) {
		t.Fatalf("exit %d, stdout %d bytes without the source; stderr %s", code, len(stdout), stderr)
	}
}

// TestMaxClockSkewSetting: --max-clock-skew reaches replay's check and
// run's processor configuration.
func TestMaxClockSkewSetting(t *testing.T) {
	// Sent at 08:00, says it happened at 08:30: implausible with the
	// default 5m, plausible with 1h.
	const line = `{"specversion":"1.0","type":"channel.interrupted.v0","id":"s1","source":"/channel","subject":"c","time":"2026-01-05T08:00:00Z",` +
		`"data":{"timestamp":"2026-01-05T08:30:00Z","channel":{"channelId":"c"}}}` + "\n"
	in := writeFile(t, "in.ndjson", line)
	for _, tc := range []struct {
		args []string
		dead bool
	}{
		{nil, true},
		{[]string{"--max-clock-skew", "29m"}, true},
		{[]string{"--max-clock-skew", "30m"}, false},
		{[]string{"--max-clock-skew", "1h"}, false},
	} {
		code, _, stderr := runCLI(context.Background(), nil, append([]string{"replay", "--input", in}, tc.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, stderr)
		}
		if got := strings.Contains(stderr, "dead letters timestamp-in-future: 1"); got != tc.dead {
			t.Errorf("%v: timestamp-in-future %v, want %v\n%s", tc.args, got, tc.dead, stderr)
		}
	}

	for _, tc := range []struct {
		args []string
		want time.Duration
	}{{nil, 5 * time.Minute}, {[]string{"--max-clock-skew", "90s"}, 90 * time.Second}} {
		f, _, err := parseRun(t, tc.args, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := f.config()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.MaxClockSkew != tc.want {
			t.Errorf("%v: MaxClockSkew %v, want %v", tc.args, cfg.MaxClockSkew, tc.want)
		}
	}
}
