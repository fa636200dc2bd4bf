package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestOpenLoopSendsOnSchedule: every scheduled request is sent, on
// schedule, and answered.
func TestOpenLoopSendsOnSchedule(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "k" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().(*net.TCPAddr)
	head := "GET /v1/auth HTTP/1.1\r\nHost: " + addr.String() + "\r\nX-Api-Key: k\r\n\r\n"
	p := plan{addr: addr.String(), conns: 4, duration: 500 * time.Millisecond, rate: 2000, tick: 100 * time.Microsecond,
		requests: requests{fixed: []byte(head)}}
	r := openLoop(p)
	if r.Scheduled != 1000 || r.Requests != 1000 || r.Errors != 0 || r.Status["200"] != 1000 {
		t.Fatalf("scheduled %d, completed %d, errors %d (%s), statuses %v", r.Scheduled, r.Requests, r.Errors, r.LastError, r.Status)
	}
	if n := got.Load(); n != 1000 {
		t.Fatalf("server saw %d requests", n)
	}
	if r.SendLag == nil || r.SendLag.Max > 1000 {
		t.Fatalf("send lag %+v", r.SendLag)
	}
	if !strings.Contains(r.Mode, "open") {
		t.Fatalf("mode %q", r.Mode)
	}
}

// TestOpenLoopReconnects: answers with bodies, refusals and "Connection:
// close" are all counted, and each request carries its own key.
func TestOpenLoopReconnects(t *testing.T) {
	var seen sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := r.Header.Get("X-Api-Key")
		if _, dup := seen.LoadOrStore(k, true); dup {
			t.Errorf("key %q sent twice", k)
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(k, "k"))
		if n%10 == 0 {
			w.Header().Set("Connection", "close")
		}
		if n%2 == 1 {
			http.Error(w, `{"error":"invalid_key"}`, http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	head := "GET /v1/auth HTTP/1.1\r\nHost: " + addr + "\r\nX-Api-Key: "
	p := plan{addr: addr, conns: 3, duration: time.Second, rate: 400, tick: 100 * time.Microsecond,
		requests: requests{n: 300, build: func(i int) []byte { return []byte(head + "k" + strconv.Itoa(i) + "\r\n\r\n") }}}
	r := openLoop(p)
	if r.Scheduled != 300 || r.Requests != 300 || r.Errors != 0 || r.Status["200"] != 150 || r.Status["401"] != 150 {
		t.Fatalf("scheduled %d, completed %d, errors %d (%s), statuses %v", r.Scheduled, r.Requests, r.Errors, r.LastError, r.Status)
	}
}
