package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/interruptions/interruptions/core/codec"
	"github.com/interruptions/interruptions/schemas"
)

// TestReplayPhasesOutput runs `replay --phases-output` on the generated
// input: every line of the file is a phase record its JSON Schema accepts,
// the summary's phase counts are the file's, and the interruption output
// is byte for byte the one without phases.
func TestReplayPhasesOutput(t *testing.T) {
	set, err := schemas.Compile()
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join("testdata", "replay", "generated.input.ndjson")
	tmp := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		var stderr bytes.Buffer
		if code := runMain(context.Background(), append([]string{"replay", "--input", in, "--partitions", "3"}, args...),
			env{stderr: &stderr, getenv: func(string) string { return "" }}); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		return stderr.String()
	}
	off, on, phases := filepath.Join(tmp, "off"), filepath.Join(tmp, "on"), filepath.Join(tmp, "phases")
	if summary := run("--output", off); strings.Contains(summary, "phase records") {
		t.Errorf("summary without phases mentions them:\n%s", summary)
	}
	summary := run("--output", on, "--phases-output", phases, "--max-phase", "alerting=10m")
	a, _ := os.ReadFile(off)
	b, _ := os.ReadFile(on)
	if !bytes.Equal(a, b) {
		t.Errorf("the interruption output differs with phases on (%d bytes) and off (%d bytes)", len(b), len(a))
	}
	data, err := os.ReadFile(phases)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	retractions := 0
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if err := set.ValidatePhase(line); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		var rec struct {
			Type string
			Data struct{ Phase string }
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Type == codec.PhaseRetractionType {
			retractions++
		} else {
			counts[rec.Data.Phase]++
		}
	}
	want := fmt.Sprintf("phase records: alerting %d, connected %d, held %d, parked %d, interrupted %d, wrap %d, retractions %d (every revision)",
		counts["alerting"], counts["connected"], counts["held"], counts["parked"], counts["interrupted"], counts["wrap"], retractions)
	if !strings.Contains(summary, want) {
		t.Errorf("summary\n%s\ndoes not say %q", summary, want)
	}
	if counts["alerting"] == 0 || counts["connected"] == 0 || counts["wrap"] == 0 || counts["interrupted"] == 0 {
		t.Errorf("too few phases in the generated input: %v", counts)
	}
}
