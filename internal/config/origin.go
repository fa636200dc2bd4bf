package config

import (
	"net/url"
	"slices"
	"strings"
)

// isLoopbackHost reports whether host (without port) names this machine:
// the only hosts a plain-http return address may have.
func isLoopbackHost(host string) bool {
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// originOf returns u's origin, scheme://host[:port] in lower case without
// a default port, or a message saying why u cannot be a return address: it
// must be absolute, https (http only on localhost, 127.0.0.1 or ::1), and
// carry no user name or password.
func originOf(u *url.URL) (string, string) {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	switch {
	case scheme != "https" && scheme != "http", u.Host == "", u.Opaque != "":
		return "", "Use an absolute https URL."
	case u.User != nil:
		return "", "Leave out the user name and password."
	case scheme == "http" && !isLoopbackHost(host):
		return "", "Use https; plain http is allowed only on localhost."
	}
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, ""
}

// parseOrigins reads KEYPLANE_PORTAL_RETURN_ORIGINS: comma-separated
// origins, each https (or http on localhost) with no path, query or
// fragment.
func parseOrigins(s string) ([]string, error) {
	var out []string
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		u, err := url.Parse(item)
		if err != nil {
			return nil, invalid(envPortalReturnOrigins, "invalid origin %q: want scheme://host[:port]", item)
		}
		origin, msg := originOf(u)
		switch {
		case msg != "":
			return nil, invalid(envPortalReturnOrigins, "invalid origin %q: want https://host[:port], or http only for localhost, 127.0.0.1 or ::1", item)
		case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(item, "#"):
			return nil, invalid(envPortalReturnOrigins, "invalid origin %q: want no path, query or fragment", item)
		}
		if !slices.Contains(out, origin) {
			out = append(out, origin)
		}
	}
	return out, nil
}

func (l *loader) portalReturnOrigins() (err error) {
	l.c.PortalReturnOrigins, err = parseOrigins(l.get(envPortalReturnOrigins))
	return err
}

// CheckReturnURL says why raw cannot be the return address of a portal
// session ("" when it can): it must be an absolute https URL (http only on
// localhost) of at most 2048 bytes whose origin is one of origins (as in
// Config.PortalReturnOrigins).
func CheckReturnURL(raw string, origins []string) string {
	if raw == "" {
		return "Give the address of your dashboard to return to."
	}
	if len(raw) > 2048 {
		return "Use at most 2048 characters."
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "Use an absolute https URL."
	}
	origin, msg := originOf(u)
	switch {
	case msg != "":
		return msg
	case len(origins) == 0:
		return "No return address is allowed: set KEYPLANE_PORTAL_RETURN_ORIGINS on the Keyplane server."
	case !slices.Contains(origins, origin):
		return origin + " is not in KEYPLANE_PORTAL_RETURN_ORIGINS."
	}
	return ""
}
