package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"keyplane/internal/apperr"
)

// MaxURLLen bounds an endpoint's URL.
const MaxURLLen = 2000

// refusedNets are the addresses no webhook may reach (unless private
// addresses are allowed): they lead into the network Keyplane runs in,
// not to a receiver on the internet.
var refusedNets = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a shared (CGNAT) address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "a reserved address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a reserved address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
	{netip.MustParsePrefix("::/128"), "an unspecified address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible address"}, // after :: and ::1, which it holds
	{netip.MustParsePrefix("::ffff:0:0/96"), "an IPv4-mapped address"},
	{netip.MustParsePrefix("64:ff9b::/96"), "a translated (NAT64) address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a translated (NAT64) address"},
	{netip.MustParsePrefix("2002::/16"), "a translated (6to4) address"},
	{netip.MustParsePrefix("2001::/32"), "a translated (Teredo) address"},
	{netip.MustParsePrefix("100::/64"), "a discard address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
	{netip.MustParsePrefix("fc00::/7"), "a private (ULA) address"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
}

// RefusedAddr returns why a webhook may not reach addr (loopback, private,
// link-local, CGNAT, ULA, IPv4-mapped, unspecified, multicast, reserved),
// or "" when it may.
func RefusedAddr(addr netip.Addr) string {
	if !addr.IsValid() {
		return "an invalid address"
	}
	addr = addr.WithZone("")
	for _, n := range refusedNets {
		if n.prefix.Contains(addr) {
			return n.why
		}
	}
	return ""
}

// ErrRefusedAddress is the error of a connection the dialer would not
// make: the address it resolved to is one webhooks may not reach.
var ErrRefusedAddress = errors.New("webhook: refused address")

// LookupFunc resolves a host name to its addresses.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// systemLookup resolves with the system's resolver.
func systemLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// checkURL validates an endpoint's URL: http or https, a host, no user
// name or password, no fragment; unless allowPrivate, a host that is or
// resolves to a refused address is refused. Returns the normalised URL, or
// Invalid naming the field url.
func checkURL(ctx context.Context, raw string, allowPrivate bool, lookup LookupFunc) (string, error) {
	bad := func(format string, args ...any) error {
		return apperr.InvalidFields(map[string]string{"url": fmt.Sprintf(format, args...)})
	}
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		return "", bad("Enter the URL of the endpoint.")
	case len(raw) > MaxURLLen:
		return "", bad("Use at most %d characters.", MaxURLLen)
	case !utf8.ValidString(raw):
		return "", bad("Enter a valid URL.")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", bad("Enter a valid URL, such as https://example.com/webhooks.")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", bad("Use an http or https URL.")
	case u.Opaque != "" || u.Host == "":
		return "", bad("Enter a full URL with a host, such as https://example.com/webhooks.")
	case u.User != nil:
		return "", bad("A URL with a user name or password is not allowed: authenticate requests with the signature.")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", bad("Remove the #fragment: it is never sent.")
	}
	host := u.Hostname()
	if host == "" {
		return "", bad("Enter a full URL with a host, such as https://example.com/webhooks.")
	}
	if p := u.Port(); p != "" {
		if _, err := netip.ParseAddrPort("0.0.0.0:" + p); err != nil || p == "0" {
			return "", bad("The port must be a number from 1 to 65535.")
		}
	}
	if allowPrivate {
		return u.String(), nil
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if why := RefusedAddr(addr); why != "" {
			return "", bad("%s is %s; webhooks go only to public addresses.", host, why)
		}
		return u.String(), nil
	}
	lower := strings.ToLower(strings.TrimSuffix(host, "."))
	if lower == "localhost" || strings.HasSuffix(lower, ".localhost") {
		return "", bad("%s is a loopback address; webhooks go only to public addresses.", host)
	}
	// One answer for a name that does not resolve and one that resolves to
	// an internal address, without the address: the form must not map the
	// platform's internal names for a tenant.
	refused := bad("%s does not resolve to a public address; check the host name (webhooks go only to public addresses).", host)
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := lookup(lctx, host)
	if err != nil || len(addrs) == 0 {
		return "", refused
	}
	for _, a := range addrs {
		if RefusedAddr(a) != "" {
			return "", refused
		}
	}
	return u.String(), nil
}

// lookupTimeout bounds the resolution of a webhook URL's host when it is
// registered or changed.
const lookupTimeout = 5 * time.Second

// guardControl is a net.Dialer's Control: it refuses to connect to an
// address webhooks may not reach. It sees the address the dialer actually
// connects to, after every resolution, so a name that resolves to a public
// address when registered and a private one later (DNS rebinding) is
// caught at delivery.
func guardControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &refusedError{addr: address, why: "not an IP address"}
	}
	if why := RefusedAddr(ap.Addr()); why != "" {
		return &refusedError{addr: ap.Addr().String(), why: why}
	}
	return nil
}

// refusedError is guardControl's refusal: which address, and why.
type refusedError struct{ addr, why string }

// Error names the kind of address, not the address: delivery logs are
// shown to the organization, and a rebinding name must not tell it the
// platform's internal addresses.
func (e *refusedError) Error() string        { return "the host resolved to an address that is " + e.why }
func (e *refusedError) Is(target error) bool { return target == ErrRefusedAddress }
