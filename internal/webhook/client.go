package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"
)

// newClient returns the HTTP client deliveries are sent with: no proxy
// (the environment's proxy variables are ignored), no redirects followed
// (a 3xx is answered as it is), timeout for the whole exchange, and,
// unless allowPrivate, a dialer that refuses every address webhooks may
// not reach, checked on the address it actually connects to. Host names
// are resolved with lookup at every connection.
func newClient(timeout time.Duration, allowPrivate bool, lookup LookupFunc) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = guardControl
	}
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		if _, err := netip.ParseAddr(host); err == nil {
			return dialer.DialContext(ctx, network, address)
		}
		addrs, err := lookup(ctx, host)
		if err != nil {
			return nil, &net.DNSError{Err: "could not resolve host", Name: host, IsNotFound: true}
		}
		if len(addrs) == 0 {
			return nil, &net.DNSError{Err: "no address", Name: host, IsNotFound: true}
		}
		var first error
		for _, a := range addrs {
			conn, err := dialer.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
			if err == nil {
				return conn, nil
			}
			if first == nil || errors.Is(err, ErrRefusedAddress) && !errors.Is(first, ErrRefusedAddress) {
				first = err
			}
			if ctx.Err() != nil {
				break
			}
		}
		return nil, first
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dial,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxIdleConns:           32,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 32 << 10,
		DisableCompression:     true,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// describe turns a failed exchange into a short message for the delivery
// log: no URL (it may hold the receiver's own token), no header.
func describe(err error, timeout time.Duration) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var refused *refusedError
	switch {
	case errors.As(err, &refused):
		return "refused: " + refused.Error() + "; webhooks go only to public addresses"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("no answer within %s", timeout)
	case errors.As(err, &dnsErr):
		return "could not resolve " + dnsErr.Name
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "could not connect: " + short(opErr.Err)
	}
	return short(unwrapURL(err))
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func short(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}
