package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// conn is one keep-alive HTTP/1.1 connection. It writes prepared request
// bytes and reads just enough of each response to find its status and end:
// far cheaper than net/http's client, so on a small machine the server under
// test, not the load generator, gets the CPU.
type conn struct {
	addr     string
	deadline time.Time
	c        net.Conn
	r        *bufio.Reader
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

func (c *conn) dial() error {
	nc, err := net.DialTimeout("tcp", c.addr, 2*time.Second)
	if err != nil {
		return err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	// One deadline for the whole run bounds every read and write without
	// arming a timer per request.
	nc.SetDeadline(c.deadline)
	c.c = nc
	if c.r == nil {
		c.r = bufio.NewReaderSize(nc, 16<<10)
	} else {
		c.r.Reset(nc)
	}
	return nil
}

// do sends req and returns the response status. On any error the connection
// is closed; the next call dials again.
func (c *conn) do(req []byte) (int, error) {
	if c.c == nil {
		if err := c.dial(); err != nil {
			return 0, err
		}
	}
	if _, err := c.c.Write(req); err != nil {
		c.close()
		return 0, err
	}
	status, keep, err := readResponse(c.r)
	if err != nil {
		c.close()
		return 0, err
	}
	if !keep {
		c.close()
	}
	return status, nil
}

var errMalformed = errors.New("malformed response")

// readResponse reads one response: status line, headers, and a body framed
// by Content-Length or chunked encoding, which it discards.
func readResponse(r *bufio.Reader) (status int, keepAlive bool, err error) {
	line, err := readLine(r)
	if err != nil {
		return 0, false, err
	}
	h, err := parseStatus(line)
	if err != nil {
		return 0, false, err
	}
	for {
		field, err := readLine(r)
		if err != nil {
			return 0, false, err
		}
		if len(field) == 0 {
			break
		}
		if err := h.field(field); err != nil {
			return 0, false, err
		}
	}
	status, keepAlive, length, chunked := h.status, h.keepAlive, h.length, h.chunked
	switch {
	case chunked:
		err = discardChunked(r)
	case length > 0:
		_, err = r.Discard(length)
	case length < 0 && status != 204 && status != 304:
		// No framing: the body ends with the connection.
		_, err = io.Copy(io.Discard, r)
		keepAlive = false
	}
	return status, keepAlive, err
}

func discardChunked(r *bufio.Reader) error {
	for {
		line, err := readLine(r)
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil {
			return fmt.Errorf("%w: chunk size %q", errMalformed, line)
		}
		if n == 0 {
			for { // trailers, then the blank line
				t, err := readLine(r)
				if err != nil || len(t) == 0 {
					return err
				}
			}
		}
		if _, err := r.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}

// readLine returns one line without its CRLF; the slice is valid until the
// next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
