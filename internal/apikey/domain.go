package apikey

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// DomainPattern is an allowed origin of a public key: a host
// ("example.com"), any subdomain of one ("*.example.com", not the apex),
// optionally with a scheme and a port ("https://app.example.com:8443").
type DomainPattern struct {
	Scheme   string // "" matches http and https
	Host     string // lower case, without the "*." of a wildcard
	Wildcard bool
	Port     int // 0 means the scheme's default port
}

var errDomain = errors.New("apikey: bad domain pattern")

// ParseDomainPattern parses one pattern as an admin types it.
func ParseDomainPattern(s string) (DomainPattern, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	var p DomainPattern
	if i := strings.Index(s, "://"); i >= 0 {
		p.Scheme = s[:i]
		if p.Scheme != "http" && p.Scheme != "https" {
			return DomainPattern{}, errDomain
		}
		s = s[i+3:]
	}
	s = strings.TrimSuffix(s, "/")
	host := s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		port, err := strconv.Atoi(s[i+1:])
		if err != nil || port < 1 || port > 65535 {
			return DomainPattern{}, errDomain
		}
		p.Port = port
		host = s[:i]
	}
	if strings.HasPrefix(host, "*.") {
		p.Wildcard = true
		host = host[2:]
	}
	if !validHost(host) {
		return DomainPattern{}, errDomain
	}
	p.Host = host
	return p, nil
}

// validHost accepts DNS names of letters, digits and dashes (labels of 1–63
// characters, not starting or ending with a dash).
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z') && !('0' <= c && c <= '9') && c != '-' {
				return false
			}
		}
	}
	return true
}

// String writes the pattern back in its canonical form.
func (p DomainPattern) String() string {
	var b strings.Builder
	if p.Scheme != "" {
		b.WriteString(p.Scheme + "://")
	}
	if p.Wildcard {
		b.WriteString("*.")
	}
	b.WriteString(p.Host)
	if p.Port != 0 {
		b.WriteString(":" + strconv.Itoa(p.Port))
	}
	return b.String()
}

func defaultPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// Matches reports whether origin (an Origin header value, or a Referer URL)
// is allowed by the pattern. Hosts compare case-insensitively and exactly:
// evil-example.com and example.com.evil.net never match example.com.
func (p DomainPattern) Matches(origin string) bool {
	u, err := url.Parse(strings.TrimSpace(origin))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return false
	}
	if p.Scheme != "" && p.Scheme != u.Scheme {
		return false
	}
	port := defaultPort(u.Scheme)
	if ps := u.Port(); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil {
			return false
		}
		port = n
	}
	want := p.Port
	if want == 0 {
		want = defaultPort(u.Scheme)
	}
	if port != want {
		return false
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if p.Wildcard {
		return strings.HasSuffix(host, "."+p.Host) && len(host) > len(p.Host)+1
	}
	return host == p.Host
}
