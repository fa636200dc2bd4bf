// Package oidctest starts a real OpenID Connect provider (mockoidc) on a
// loopback port for tests, optionally behind a fault proxy.
package oidctest

import (
	"net"
	"net/http"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"keyplane/internal/faultproxy"
)

// Provider is a running mockoidc. Its issuer, and every endpoint it
// announces, lead through Proxy when there is one.
type Provider struct {
	M      *mockoidc.MockOIDC
	Proxy  *faultproxy.Proxy // nil unless started with viaProxy
	Issuer string
}

// proxiedListener tells mockoidc the proxy's address.
type proxiedListener struct {
	net.Listener
	addr net.Addr
}

func (l proxiedListener) Addr() net.Addr { return l.addr }

// Start runs a provider until the test ends; middleware, if any, sees
// every request first.
func Start(t testing.TB, viaProxy bool, middleware ...func(http.Handler) http.Handler) *Provider {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatalf("mockoidc: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{M: m}
	var serve net.Listener = ln
	if viaProxy {
		p.Proxy = faultproxy.Start(t, ln.Addr().String())
		addr, err := net.ResolveTCPAddr("tcp", p.Proxy.Addr())
		if err != nil {
			t.Fatal(err)
		}
		serve = proxiedListener{Listener: ln, addr: addr}
	}
	for _, mw := range middleware {
		if err := m.AddMiddleware(mw); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Start(serve, nil); err != nil {
		t.Fatalf("mockoidc start: %v", err)
	}
	t.Cleanup(func() { m.Server.Close() })
	p.Issuer = m.Issuer()
	return p
}
