// Package clientip decides which address a request comes from: the TCP peer,
// or, when the peer is a trusted proxy, the right-most address of
// X-Forwarded-For that is not itself a trusted proxy.
package clientip

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds the client address of a request.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a Resolver that believes X-Forwarded-For only from peers inside
// trusted. With no trusted prefixes the TCP peer is always the answer.
func New(trusted []netip.Prefix) *Resolver { return &Resolver{trusted: trusted} }

// FromRequest returns the client address of r as a string; Echo's
// IPExtractor has this signature.
func (res *Resolver) FromRequest(r *http.Request) string {
	return res.Resolve(r.RemoteAddr, r.Header.Values("X-Forwarded-For")).String()
}

// Resolve returns the client address given the TCP peer ("host:port" or a
// bare address) and the X-Forwarded-For header values. A peer that cannot be
// parsed yields the zero Addr.
func (res *Resolver) Resolve(remoteAddr string, xff []string) netip.Addr {
	peer := parsePeer(remoteAddr)
	if !peer.IsValid() || !res.isTrusted(peer) || len(xff) == 0 {
		return peer
	}
	client := peer
	hops := strings.Split(strings.Join(xff, ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// A garbled hop was written by someone we do not trust: stop at
			// the last address a trusted proxy vouched for.
			return client
		}
		addr = addr.Unmap()
		client = addr
		if !res.isTrusted(addr) {
			return addr
		}
	}
	return client
}

// TrustsPeer reports whether the TCP peer remoteAddr is a trusted proxy.
func (res *Resolver) TrustsPeer(remoteAddr string) bool {
	peer := parsePeer(remoteAddr)
	return peer.IsValid() && res.isTrusted(peer)
}

func (res *Resolver) isTrusted(a netip.Addr) bool {
	for _, p := range res.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func parsePeer(remoteAddr string) netip.Addr {
	// What net/http sets: an address and a port, read in one pass.
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().WithZone("").Unmap()
	}
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i]
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
