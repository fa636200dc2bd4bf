package main

import (
	"bytes"
	"fmt"
	"strconv"
)

// parseResponse reads one whole response from the front of b, as it stands
// after non-blocking reads: its status, its length in bytes, and whether
// the connection stays open after it. n == 0 means b does not hold a whole
// response yet. A body must be framed by Content-Length or chunked
// encoding (or be absent, for 204 and 304); one that ends with the
// connection is an error here.
func parseResponse(b []byte) (status, n int, keepAlive bool, err error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > 64<<10 {
			return 0, 0, false, fmt.Errorf("%w: header over 64 KiB", errMalformed)
		}
		return 0, 0, false, nil
	}
	line, rest, _ := bytes.Cut(b[:end], []byte("\r\n"))
	h, err := parseStatus(line)
	if err != nil {
		return 0, 0, false, err
	}
	for len(rest) > 0 {
		var field []byte
		field, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		if err := h.field(field); err != nil {
			return 0, 0, false, err
		}
	}
	status, keepAlive, length, chunked := h.status, h.keepAlive, h.length, h.chunked
	body := end + 4
	switch {
	case chunked:
		m, err := chunkedLength(b[body:])
		if err != nil || m == 0 {
			return 0, 0, false, err
		}
		return status, body + m, keepAlive, nil
	case length >= 0:
		if len(b) < body+length {
			return 0, 0, false, nil
		}
		return status, body + length, keepAlive, nil
	case status == 204 || status == 304 || (status >= 100 && status < 200):
		return status, body, keepAlive, nil
	}
	return 0, 0, false, fmt.Errorf("%w: a body without Content-Length or chunked encoding", errMalformed)
}

// head is what a response's status line and header fields say.
type head struct {
	status    int
	keepAlive bool
	length    int // Content-Length; -1 when absent
	chunked   bool
}

// parseStatus reads a status line ("HTTP/1.1 200 OK").
func parseStatus(line []byte) (head, error) {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return head{}, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return head{}, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	return head{status: status, keepAlive: line[7] == '1', length: -1}, nil
}

// field reads one header field into h: the body's framing and whether the
// connection stays open.
func (h *head) field(line []byte) error {
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return nil
	}
	value = bytes.TrimSpace(value)
	switch {
	case asciiEqualFold(name, "content-length"):
		n, err := strconv.Atoi(string(value))
		if err != nil || n < 0 {
			return fmt.Errorf("%w: content-length %q", errMalformed, value)
		}
		h.length = n
	case asciiEqualFold(name, "transfer-encoding"):
		h.chunked = asciiEqualFold(value, "chunked")
	case asciiEqualFold(name, "connection"):
		if asciiEqualFold(value, "close") {
			h.keepAlive = false
		}
	}
	return nil
}

// chunkedLength is the length of a whole chunked body at the front of b
// (through its trailers), or 0 when b does not hold all of it yet.
func chunkedLength(b []byte) (int, error) {
	i := 0
	for {
		eol := bytes.Index(b[i:], []byte("\r\n"))
		if eol < 0 {
			return 0, nil
		}
		line := b[i : i+eol]
		if j := bytes.IndexByte(line, ';'); j >= 0 {
			line = line[:j]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 32)
		if err != nil || size < 0 {
			return 0, fmt.Errorf("%w: chunk size %q", errMalformed, line)
		}
		i += eol + 2
		if size == 0 {
			for { // trailers, then the blank line
				eol := bytes.Index(b[i:], []byte("\r\n"))
				if eol < 0 {
					return 0, nil
				}
				i += eol + 2
				if eol == 0 {
					return i, nil
				}
			}
		}
		if len(b) < i+int(size)+2 {
			return 0, nil
		}
		i += int(size) + 2
	}
}
