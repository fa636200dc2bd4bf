// Package faultproxy is a TCP proxy for tests that puts a network fault
// between Keyplane and a dependency (PostgreSQL, Redis, a webhook receiver)
// without touching the shared server: it can refuse connections, silently
// drop everything (a partition), or freeze the connections already open
// while new ones work (what a partition leaves behind in a pool).
package faultproxy

import (
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy forwards TCP connections from Addr to a target. It is safe for
// concurrent use; the test that started it closes it when it ends.
type Proxy struct {
	target string
	addr   string

	mu      sync.Mutex
	ln      net.Listener
	links   map[*link]struct{}
	paused  bool // new and open links forward nothing (a partition)
	refused bool // new connections are reset at once
	closed  bool
	wg      sync.WaitGroup
}

// Start listens on a free loopback port and forwards every connection to
// target (host:port). It is closed when the test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultproxy: listen: %v", err)
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), ln: ln, links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept(ln)
	t.Cleanup(p.Close)
	return p
}

// InFront starts a proxy to the host of rawURL (postgres://, redis://, any
// URL with a host:port) and returns it with rawURL pointing at it instead.
func InFront(t testing.TB, rawURL string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		t.Fatalf("faultproxy: %q is not a URL with a host", rawURL)
	}
	p := Start(t, u.Host)
	u.Host = p.Addr()
	return p, u.String()
}

// Addr is the proxy's host:port, to dial instead of the target.
func (p *Proxy) Addr() string { return p.addr }

// Port is the proxy's port as text.
func (p *Proxy) Port() string {
	_, port, _ := net.SplitHostPort(p.addr)
	return port
}

// Cut closes every open connection and resets new ones until Restore: a
// server that went away. (The port stays bound, so nothing else can take
// it before Restore.)
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused = true
	for l := range p.links {
		l.close()
		delete(p.links, l)
	}
}

// Blackhole makes every connection, open or new, forward nothing in either
// direction until Restore: packets silently dropped, as in a partition. New
// connections are accepted (the kernel completes the handshake), so a
// client sees a connection that never answers.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = true
	for l := range p.links {
		l.pause()
	}
}

// Freeze makes the connections open now forward nothing, for good; new
// connections work. This is what a partition that healed leaves in a
// connection pool: sockets that look open and never answer again.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		l.freeze()
	}
}

// Restore ends a Cut or a Blackhole: new connections pass again, and links
// paused by the Blackhole resume with what they held back. Frozen links
// stay dead.
func (p *Proxy) Restore() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("faultproxy: closed")
	}
	p.paused, p.refused = false, false
	for l := range p.links {
		l.resume()
	}
	return nil
}

// Open returns how many connections pass through the proxy now.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for l := range p.links {
		l.close()
		delete(p.links, l)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	p.mu.Lock()
	refused := p.refused
	p.mu.Unlock()
	if refused {
		if tc, ok := client.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset, as from a closed port
		}
		client.Close()
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	l := newLink(client, server)
	p.mu.Lock()
	if p.closed || p.refused {
		p.mu.Unlock()
		l.close()
		return
	}
	if p.paused {
		l.pause()
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()

	var done sync.WaitGroup
	done.Add(2)
	go func() { defer done.Done(); l.pipe(server, client) }()
	go func() { defer done.Done(); l.pipe(client, server) }()
	done.Wait()
	l.close()
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// link is one proxied connection. Its pipes check the gate before every
// write, so data read while paused is held back, and dropped when frozen.
type link struct {
	client, server net.Conn

	mu     sync.Mutex
	cond   *sync.Cond
	paused bool
	frozen bool
	closed bool
}

func newLink(client, server net.Conn) *link {
	l := &link{client: client, server: server}
	l.cond = sync.NewCond(&l.mu)
	return l
}

func (l *link) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !l.wait() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				l.close()
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) || !l.wait() {
				l.close()
				return
			}
			// Half-close: pass the EOF on, keep the other direction.
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			return
		}
	}
}

// wait blocks while the link is paused or frozen; false means it is closed.
// A frozen link never forwards again, but keeps its sockets open so the
// peers see silence, not a reset.
func (l *link) wait() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for (l.paused || l.frozen) && !l.closed {
		l.cond.Wait()
	}
	return !l.closed
}

func (l *link) pause() {
	l.mu.Lock()
	l.paused = true
	l.mu.Unlock()
}

func (l *link) resume() {
	l.mu.Lock()
	l.paused = false
	l.cond.Broadcast()
	l.mu.Unlock()
}

func (l *link) freeze() {
	l.mu.Lock()
	l.frozen = true
	l.mu.Unlock()
}

func (l *link) close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		l.client.Close()
		l.server.Close()
	}
	l.cond.Broadcast()
	l.mu.Unlock()
}
