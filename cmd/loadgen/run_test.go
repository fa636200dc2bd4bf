package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestTickerWakesEveryPeriod(t *testing.T) {
	wait, stop, err := newTicker(time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	start := time.Now()
	for range 20 {
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	}
	// Twenty periods of 1 ms: never early; the upper bound only catches a
	// ticker that does not tick at all.
	if d := time.Since(start); d < 19*time.Millisecond || d > 2*time.Second {
		t.Fatalf("20 ticks of 1ms took %s", d)
	}
}

// TestOpenLoopSendsOnSchedule runs the open loop with one P, as on a CPU of
// its own: every scheduled request is sent and answered.
func TestOpenLoopSendsOnSchedule(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
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
