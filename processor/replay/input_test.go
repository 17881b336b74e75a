package replay

import (
	"bytes"
	"slices"
	"testing"

	"github.com/interruptions/interruptions/core/codec"
)

// TestInputFraming: a UTF-8 byte order mark at the start of the input and a
// final empty line are not events, so not dead letters; every other empty
// or blank line is, with its line number, and a BOM anywhere else is part
// of its line.
func TestInputFraming(t *testing.T) {
	lines := trafficLines(400)
	plain := insertAt(lines, -1) // every line ends with "\n"
	base := runReplay(t, plain, 0)
	if len(base.dlq) != 0 || len(base.out) == 0 {
		t.Fatalf("the traffic alone: %d output bytes, dead letters %s", len(base.out), base.dlq)
	}
	const bom = "\xef\xbb\xbf"
	crlf := bytes.ReplaceAll(plain, []byte("\n"), []byte("\r\n"))
	n := len(lines)
	tests := []struct {
		name  string
		input []byte
		dead  []int // line numbers of the dead letters
	}{
		{name: "final newline", input: plain},
		{name: "no final newline", input: bytes.TrimSuffix(plain, []byte("\n"))},
		{name: "BOM", input: append([]byte(bom), plain...)},
		{name: "BOM, CRLF", input: append([]byte(bom), crlf...)},
		{name: "final empty line", input: append(slices.Clone(plain), '\n')},
		{name: "final empty line, CRLF", input: append(slices.Clone(crlf), "\r\n"...)},
		{name: "final empty line without its newline, CRLF", input: append(slices.Clone(crlf), '\r')},
		{name: "BOM and final empty line", input: append(append([]byte(bom), plain...), '\n')},
		{name: "two final empty lines: the first is a dead letter", input: append(slices.Clone(plain), "\n\n"...), dead: []int{n + 1}},
		{name: "final blank line", input: append(slices.Clone(plain), " \n"...), dead: []int{n + 1}},
		{name: "empty first line", input: append([]byte("\n"), plain...), dead: []int{1}},
		{name: "BOM then an empty first line", input: append([]byte(bom+"\n"), plain...), dead: []int{1}},
		{name: "empty line inside", input: insertAt(lines, 10, ""), dead: []int{11}},
		{name: "BOM on line 2", input: insertAt(lines, 1, bom+string(lines[1])), dead: []int{2}},
		{name: "two BOMs", input: append([]byte(bom+bom+"\n"), plain...), dead: []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runReplay(t, tt.input, 0)
			if !bytes.Equal(got.out, base.out) {
				t.Fatalf("records differ from the plain input's")
			}
			var dead []int
			for _, dl := range deadLines(t, got.dlq) {
				dead = append(dead, dl.Line)
				if dl.Reason != codec.ReasonNotCloudEvent {
					t.Errorf("line %d: reason %s, want %s", dl.Line, dl.Reason, codec.ReasonNotCloudEvent)
				}
			}
			if !slices.Equal(dead, tt.dead) {
				t.Fatalf("dead letters on lines %v, want %v", dead, tt.dead)
			}
		})
	}
	// A dead first line after a BOM is written without it: the BOM belongs
	// to the file, as the newline belongs to the line.
	got := runReplay(t, []byte(bom+"not json\n"), 0)
	if dead := deadLines(t, got.dlq); len(dead) != 1 || dead[0].Original != "not json" {
		t.Fatalf("dead letters %+v, want line 1 as %q", dead, "not json")
	}
	// Only a BOM, or only an empty line: no events, no dead letters.
	for _, in := range []string{bom, bom + "\n", "\n", "\r\n", ""} {
		if got := runReplay(t, []byte(in), 0); len(got.out) != 0 || len(got.dlq) != 0 {
			t.Fatalf("input %q: output %q, dead letters %q", in, got.out, got.dlq)
		}
	}
}
