package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestReplayGolden")

// TestReplayGolden runs `interruptions replay` on each testdata/replay
// input and compares output, DLQ file and summary with golden files.
// Regenerate with `go test ./cmd/interruptions -run TestReplayGolden -update`
// and review the diff.
func TestReplayGolden(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"cases", []string{"--max-interruption", "1h", "--retention", "2h"}},
		{"generated", []string{"--partitions", "3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", "replay")
			in := filepath.Join(dir, tc.name+".input.ndjson")
			if tc.name == "generated" && *update {
				var gen bytes.Buffer
				if code := runMain(context.Background(), []string{"gen", "--events", "3000", "--seed", "42", "--bad-rate", "0.01"},
					env{stdout: &gen, stderr: os.Stderr, getenv: func(string) string { return "" }}); code != 0 {
					t.Fatalf("gen exit %d", code)
				}
				if err := os.WriteFile(in, gen.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tmp := t.TempDir()
			out, dlq := filepath.Join(tmp, "out"), filepath.Join(tmp, "dlq")
			var stderr bytes.Buffer
			args := append([]string{"replay", "--input", in, "--output", out, "--dlq", dlq}, tc.args...)
			if code := runMain(context.Background(), args, env{stderr: &stderr, getenv: func(string) string { return "" }}); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			for _, f := range []struct{ got, golden string }{
				{out, tc.name + ".output.ndjson"},
				{dlq, tc.name + ".dlq.ndjson"},
			} {
				got, err := os.ReadFile(f.got)
				if err != nil {
					t.Fatal(err)
				}
				compareGolden(t, filepath.Join(dir, f.golden), got)
			}
			compareGolden(t, filepath.Join(dir, tc.name+".summary.txt"), stderr.Bytes())
		})
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) && i < len(wl); i++ {
			if gl[i] != wl[i] {
				t.Fatalf("%s differs at line %d:\n got %s\nwant %s", path, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s differs: got %d lines, want %d", path, len(gl), len(wl))
	}
}
