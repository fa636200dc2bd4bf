package main

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

func TestParseResponse(t *testing.T) {
	t.Parallel()
	ok := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Keyplane-Key-Id: k\r\n\r\n"
	json := "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"error\":\"nope\"}\n"
	chunked := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\nTrailer: t\r\n\r\n"
	closing := "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
	for _, tc := range []struct {
		in     string
		status int
		keep   bool
	}{{ok, 200, true}, {json, 401, true}, {chunked, 200, true}, {closing, 204, false}, {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", 200, false}} {
		// Whole, then followed by the next response: n is this one's length.
		for _, b := range []string{tc.in, tc.in + ok} {
			status, n, keep, err := parseResponse([]byte(b))
			if err != nil || status != tc.status || n != len(tc.in) || keep != tc.keep {
				t.Errorf("parseResponse(%q) = %d, %d, %v, %v; want %d, %d, %v", b, status, n, keep, err, tc.status, len(tc.in), tc.keep)
			}
		}
		// Every shorter prefix is incomplete, never an error.
		for i := range len(tc.in) {
			if _, n, _, err := parseResponse([]byte(tc.in[:i])); n != 0 || err != nil {
				t.Fatalf("parseResponse of %d of %d bytes of %q = n %d, %v; want incomplete", i, len(tc.in), tc.in, n, err)
			}
		}
	}
	for _, bad := range []string{
		"SMTP 220 hello\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nbody until close",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	} {
		if _, _, _, err := parseResponse([]byte(bad)); !errors.Is(err, errMalformed) {
			t.Errorf("parseResponse(%q): %v, want malformed", bad, err)
		}
	}
}

// TestReadResponse: the closed loop's blocking reader agrees with
// parseResponse on the same answers, and leaves the next one unread.
func TestReadResponse(t *testing.T) {
	t.Parallel()
	next := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	for _, tc := range []struct {
		in     string
		status int
		keep   bool
	}{
		{next, 200, true},
		{"HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\nnope\n", 401, true},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n", 200, true},
		{"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", 204, false},
	} {
		r := bufio.NewReader(strings.NewReader(tc.in + next))
		status, keep, err := readResponse(r)
		if err != nil || status != tc.status || keep != tc.keep {
			t.Errorf("readResponse(%q) = %d, %v, %v; want %d, %v", tc.in, status, keep, err, tc.status, tc.keep)
			continue
		}
		if status, _, err := readResponse(r); err != nil || status != 200 {
			t.Errorf("after %q, the next answer: %d, %v", tc.in, status, err)
		}
	}
	if _, _, err := readResponse(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"))); !errors.Is(err, errMalformed) {
		t.Errorf("negative Content-Length: %v, want malformed", err)
	}
}
