package replay

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"time"

	"github.com/interruptions/interruptions/core/codec"
)

// utf8BOM is the UTF-8 byte order mark some editors write at the start of
// a file.
var utf8BOM = []byte("\xef\xbb\xbf")

// inputLine returns input line lineNo, read from r without its newline
// (eof: nothing follows it), without the UTF-8 byte order mark that may
// start line 1: it belongs to the file, not to the first event. final is
// true for a final empty line, an editor's trailing blank line, which is
// not an event. Every other empty or blank line is a line, and a dead
// letter.
func inputLine(r *bufio.Reader, line []byte, lineNo int, eof bool) (_ []byte, final bool) {
	if lineNo == 1 {
		line = bytes.TrimPrefix(line, utf8BOM)
	}
	return line, len(line) == 0 && (eof || atEOF(r))
}

// atEOF reports whether r has nothing more to read. Another read error
// is left to the next read, which returns it.
func atEOF(r *bufio.Reader) bool {
	_, err := r.Peek(1)
	return errors.Is(err, io.EOF)
}

// maxClockSkew is MaxClockSkew or its default.
func (c *Config) maxClockSkew() time.Duration {
	if c.MaxClockSkew <= 0 {
		return codec.DefaultMaxClockSkew
	}
	return c.MaxClockSkew
}
