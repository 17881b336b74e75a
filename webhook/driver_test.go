package webhook

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A driver posts one signed body and reports the answer's status.
type driver interface {
	post(body []byte, sig string) (int, error)
	close()
}

// newDriver returns a connection of the load driver named by
// INGEST_DRIVER: "raw" (the default) or "net/http". An https target is
// dialled with tlsCfg (HTTP/1.1 over TLS, as a webhook sender does).
//
// The raw driver is one keep-alive HTTP/1.1 connection that writes each
// request in one write and reads the answer with a small parser. It sends
// what a webhook sender sends (one request at a time per connection, no
// pipelining) at a fraction of the CPU of Go's net/http client, which on a
// two-core machine would otherwise take a third of the CPU from the bridge
// and the broker it is meant to measure.
func newDriver(kind, target string, tlsCfg *tls.Config) (driver, error) {
	switch kind {
	case "", "raw":
		return dialRaw(target, tlsCfg)
	case "net/http":
		cl := benchClient(1)
		cl.Transport.(*http.Transport).TLSClientConfig = tlsCfg
		return &netHTTPDriver{cl: cl, url: target}, nil
	}
	return nil, fmt.Errorf("INGEST_DRIVER %q: want raw or net/http", kind)
}

type netHTTPDriver struct {
	cl  *http.Client
	url string
}

func (d *netHTTPDriver) post(body []byte, sig string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, d.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", structuredType)
	req.Header.Set(SignatureHeader, sig)
	resp, err := d.cl.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

func (d *netHTTPDriver) close() { d.cl.CloseIdleConnections() }

// rawDriver is one HTTP/1.1 keep-alive connection, over TLS when tls is
// set.
type rawDriver struct {
	addr, host, path string
	tls              *tls.Config
	conn             net.Conn
	r                *bufio.Reader
	buf              []byte
}

func dialRaw(target string, tlsCfg *tls.Config) (*rawDriver, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", target, err)
	}
	d := &rawDriver{addr: u.Host, host: u.Host, path: u.RequestURI()}
	switch {
	case u.Scheme == "https" && tlsCfg != nil:
		d.tls = tlsCfg.Clone()
		d.tls.NextProtos = []string{"http/1.1"}
	case u.Scheme != "http":
		return nil, fmt.Errorf("the raw driver speaks http, and https with a TLS config, not %q", u.Scheme)
	}
	return d, d.dial()
}

func (d *rawDriver) dial() error {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	var (
		c   net.Conn
		err error
	)
	if d.tls != nil {
		c, err = tls.DialWithDialer(dialer, "tcp", d.addr, d.tls)
	} else {
		c, err = dialer.Dial("tcp", d.addr)
	}
	if err != nil {
		return fmt.Errorf("dial %s: %w", d.addr, err)
	}
	d.conn, d.r = c, bufio.NewReaderSize(c, 4096)
	return nil
}

func (d *rawDriver) close() {
	if d.conn != nil {
		d.conn.Close()
	}
}

// post writes the request and reads the answer. A connection the server
// closed is redialled once for the next request.
func (d *rawDriver) post(body []byte, sig string) (int, error) {
	if d.conn == nil {
		if err := d.dial(); err != nil {
			return 0, err
		}
	}
	b := d.buf[:0]
	b = append(b, "POST "...)
	b = append(b, d.path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, d.host...)
	b = append(b, "\r\nContent-Type: "+structuredType+"\r\n"+SignatureHeader+": "...)
	b = append(b, sig...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	d.buf = b
	d.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := d.conn.Write(b); err != nil {
		d.close()
		d.conn = nil
		return 0, fmt.Errorf("write: %w", err)
	}
	code, keep, err := d.readResponse()
	if err != nil || !keep {
		d.close()
		d.conn = nil
	}
	return code, err
}

// readResponse reads one answer: the status, whether the connection stays
// open, and the body (discarded; Content-Length or chunked).
func (d *rawDriver) readResponse() (code int, keep bool, err error) {
	line, err := d.r.ReadSlice('\n')
	if err != nil {
		return 0, false, fmt.Errorf("read status: %w", err)
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	if code, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	length, chunked := -1, false
	keep = true
	for {
		line, err := d.r.ReadSlice('\n')
		if err != nil {
			return code, false, fmt.Errorf("read header: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return code, false, fmt.Errorf("bad header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch strings.ToLower(string(name)) {
		case "content-length":
			if length, err = strconv.Atoi(string(value)); err != nil {
				return code, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case "transfer-encoding":
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case "connection":
			keep = !bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		for {
			line, err := d.r.ReadSlice('\n')
			if err != nil {
				return code, false, fmt.Errorf("read chunk size: %w", err)
			}
			size, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.SplitN(line, []byte(";"), 2)[0])), 16, 64)
			if err != nil {
				return code, false, fmt.Errorf("bad chunk size %q", line)
			}
			if _, err := d.r.Discard(int(size) + 2); err != nil { // the chunk and its CRLF
				return code, false, fmt.Errorf("read chunk: %w", err)
			}
			if size == 0 {
				return code, keep, nil
			}
		}
	case length >= 0:
		if _, err := d.r.Discard(length); err != nil {
			return code, false, fmt.Errorf("read body: %w", err)
		}
		return code, keep, nil
	default:
		return code, false, errors.New("answer has neither Content-Length nor chunked encoding")
	}
}
