package config

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

func (l *loader) addr() error {
	l.c.Addr = l.get(envAddr)
	if l.c.Addr == "" {
		l.c.Addr = ":8080"
	}
	_, port, err := net.SplitHostPort(l.c.Addr)
	if err != nil {
		return invalid(envAddr, "invalid address %q: want host:port, e.g. :8080", l.c.Addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return invalid(envAddr, "invalid port %q: want a number from 0 to 65535", port)
	}
	l.port = port
	return nil
}

func (l *loader) baseURL() error {
	s := l.get(envBaseURL)
	if s == "" {
		s = "http://localhost:" + l.port
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return invalid(envBaseURL, "invalid URL %q", s)
	case u.User != nil:
		return invalid(envBaseURL, "must not carry a user name or password")
	case u.Scheme != "http" && u.Scheme != "https":
		return invalid(envBaseURL, "invalid URL %q: want an absolute http or https URL", s)
	case u.Host == "":
		return invalid(envBaseURL, "invalid URL %q: missing host", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return invalid(envBaseURL, "invalid URL %q: want no query or fragment", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	l.c.BaseURL = u
	return nil
}

func (l *loader) databaseURL() error {
	l.c.DatabaseURL = l.get(envDatabaseURL)
	if l.c.DatabaseURL == "" {
		return nil
	}
	u, err := url.Parse(l.c.DatabaseURL)
	switch {
	case err != nil:
		return invalid(envDatabaseURL, "not a valid URL (value not shown)")
	case u.Scheme != "postgres" && u.Scheme != "postgresql":
		return invalid(envDatabaseURL, "unsupported scheme: want postgres:// or postgresql:// (value not shown)")
	}
	return nil
}

func (l *loader) redisURL() error {
	l.c.RedisURL = l.get(envRedisURL)
	if l.c.RedisURL == "" {
		return nil
	}
	u, err := url.Parse(l.c.RedisURL)
	switch {
	case err != nil:
		return invalid(envRedisURL, "not a valid URL (value not shown)")
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return invalid(envRedisURL, "unsupported scheme: want redis:// or rediss:// (value not shown)")
	case u.Hostname() == "":
		return invalid(envRedisURL, "missing host (value not shown)")
	}
	return nil
}

func (l *loader) trustedProxies() error {
	for entry := range strings.SplitSeq(l.get(envTrustedProxies), ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if strings.Contains(entry, "/") {
			p, err := netip.ParsePrefix(entry)
			if err != nil {
				return invalid(envTrustedProxies, "invalid CIDR %q", entry)
			}
			l.c.TrustedProxies = append(l.c.TrustedProxies, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(entry)
		if err != nil || a.Zone() != "" {
			return invalid(envTrustedProxies, "invalid address %q: want a CIDR or an IP address", entry)
		}
		l.c.TrustedProxies = append(l.c.TrustedProxies, netip.PrefixFrom(a, a.BitLen()))
	}
	return nil
}
