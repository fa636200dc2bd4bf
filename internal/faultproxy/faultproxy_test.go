package faultproxy

import (
	"bufio"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

type client struct {
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{c: c, r: bufio.NewReader(c)}
}

// roundTrip sends a line and returns the answer, or "" after wait.
func (c *client) roundTrip(t *testing.T, line string, wait time.Duration) string {
	t.Helper()
	if _, err := c.c.Write([]byte(line + "\n")); err != nil {
		return ""
	}
	return c.read(wait)
}

func (c *client) read(wait time.Duration) string {
	c.c.SetReadDeadline(time.Now().Add(wait))
	got, err := c.r.ReadString('\n')
	if err != nil {
		return ""
	}
	return got[:len(got)-1]
}

func TestPassBlackholeRestore(t *testing.T) {
	p := Start(t, echoServer(t))
	a := dial(t, p.Addr())
	if got := a.roundTrip(t, "one", time.Second); got != "one" {
		t.Fatalf("through the proxy: %q", got)
	}
	p.Blackhole()
	if got := a.roundTrip(t, "two", 200*time.Millisecond); got != "" {
		t.Fatalf("open connection answered %q during a blackhole", got)
	}
	b := dial(t, p.Addr()) // accepted, but silent
	if got := b.roundTrip(t, "three", 200*time.Millisecond); got != "" {
		t.Fatalf("new connection answered %q during a blackhole", got)
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	if got := a.read(time.Second); got != "two" {
		t.Fatalf("held-back data after restore: %q, want two", got)
	}
	if got := b.read(time.Second); got != "three" {
		t.Fatalf("held-back data of the new connection after restore: %q, want three", got)
	}
}

func TestFreezeKillsOnlyOpenConnections(t *testing.T) {
	p := Start(t, echoServer(t))
	old := dial(t, p.Addr())
	if got := old.roundTrip(t, "one", time.Second); got != "one" {
		t.Fatalf("through the proxy: %q", got)
	}
	p.Freeze()
	if got := old.roundTrip(t, "two", 200*time.Millisecond); got != "" {
		t.Fatalf("frozen connection answered %q", got)
	}
	fresh := dial(t, p.Addr())
	if got := fresh.roundTrip(t, "three", time.Second); got != "three" {
		t.Fatalf("new connection after a freeze: %q", got)
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	if got := old.read(200 * time.Millisecond); got != "" {
		t.Fatalf("frozen connection came back with %q after Restore", got)
	}
}

func TestCutRefusesAndRestores(t *testing.T) {
	p := Start(t, echoServer(t))
	a := dial(t, p.Addr())
	p.Cut()
	if got := a.roundTrip(t, "one", 500*time.Millisecond); got != "" {
		t.Fatalf("cut connection answered %q", got)
	}
	// A new connection is reset at once: nothing passes.
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
			t.Fatalf("a connection made while cut was not reset: %v", err)
		}
		c.Close()
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	b := dial(t, p.Addr())
	if got := b.roundTrip(t, "two", time.Second); got != "two" {
		t.Fatalf("after restore: %q", got)
	}
}
