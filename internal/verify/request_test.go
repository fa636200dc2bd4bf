package verify

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"keyplane/internal/apikey"
	"keyplane/internal/config"
)

func TestRequiredScopes(t *testing.T) {
	rules := []config.RouteScope{
		{Method: "POST", Path: "/v1/sms*", Scope: "sms:send"},
		{Method: "GET", Path: "/v1/reports*", Scope: "reports:read"},
		{Method: "*", Path: "/v1/admin", Scope: "admin"},
	}
	tests := []struct {
		name, header, method, path string
		want                       []string
	}{
		{name: "nothing", method: "GET", path: "/"},
		{name: "header only", header: "sms:send", method: "GET", path: "/", want: []string{"sms:send"}},
		{name: "header list", header: "a, b c,,a", method: "GET", path: "/", want: []string{"a", "b", "c"}},
		{name: "route rule", method: "POST", path: "/v1/sms", want: []string{"sms:send"}},
		{name: "route rule, rest of path", method: "POST", path: "/v1/sms/batch", want: []string{"sms:send"}},
		{name: "route rule, method any case", method: "post", path: "/v1/sms", want: []string{"sms:send"}},
		{name: "query string ignored", method: "GET", path: "/v1/reports?scope=none", want: []string{"reports:read"}},
		{name: "query string never matches a rule", method: "GET", path: "/x?/v1/reports", want: nil},
		{name: "other method", method: "GET", path: "/v1/sms"},
		{name: "exact rule", method: "DELETE", path: "/v1/admin", want: []string{"admin"}},
		{name: "exact rule, longer path", method: "DELETE", path: "/v1/admin/x"},
		{name: "union with header, no duplicate", header: "sms:send reports:read", method: "POST", path: "/v1/sms", want: []string{"sms:send", "reports:read"}},
		{name: "union adds the rule", header: "x", method: "POST", path: "/v1/sms", want: []string{"x", "sms:send"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RequiredScopes(tt.header, tt.method, tt.path, rules)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("RequiredScopes(%q, %q, %q) = %q, want %q", tt.header, tt.method, tt.path, got, tt.want)
			}
		})
	}
}

// FuzzOriginMatch checks that a domain pattern never allows an origin whose
// host is not the pattern's host (or, for a wildcard, a subdomain of it).
func FuzzOriginMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"example.com", "https://example.com"},
		{"example.com", "https://EXAMPLE.com:443"},
		{"example.com", "https://evil-example.com"},
		{"example.com", "https://example.com.evil.net"},
		{"example.com", "https://example.com@evil.net"},
		{"example.com", "https://evil.net#example.com"},
		{"example.com", "https://evil.net/?https://example.com"},
		{"example.com", "https://example.com./"},
		{"example.com", "https://example%2ecom"},
		{"*.example.com", "https://a.example.com"},
		{"*.example.com", "https://example.com"},
		{"*.example.com", "https://.example.com"},
		{"*.example.com", "https://aexample.com"},
		{"https://app.example.com:8443", "https://app.example.com:8443"},
		{"https://app.example.com:8443", "http://app.example.com:8443"},
		{"http://example.com", "http://example.com:80"},
		{"example.com", "null"},
		{"example.com", "file:///etc/passwd"},
		{"example.com", "https://[::1]"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, origin string) {
		p, err := apikey.ParseDomainPattern(pattern)
		if err != nil {
			return
		}
		ok := originAllowed([]apikey.DomainPattern{p}, origin)
		if ok != p.Matches(origin) {
			t.Fatal("originAllowed disagrees with Matches")
		}
		if !ok {
			return
		}
		u, err := url.Parse(strings.TrimSpace(origin))
		if err != nil {
			t.Fatalf("%q matched %q but does not parse: %v", origin, pattern, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("%q matched %q with scheme %q", origin, pattern, u.Scheme)
		}
		if p.Scheme != "" && u.Scheme != p.Scheme {
			t.Fatalf("%q matched %q with another scheme", origin, pattern)
		}
		host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
		switch {
		case p.Wildcard && (!strings.HasSuffix(host, "."+p.Host) || host == "."+p.Host):
			t.Fatalf("%q matched %q: host %q is no subdomain of %q", origin, pattern, host, p.Host)
		case !p.Wildcard && host != p.Host:
			t.Fatalf("%q matched %q: host %q is not %q", origin, pattern, host, p.Host)
		}
		// The raw origin names the host too: no match through escapes.
		if !strings.Contains(strings.ToLower(origin), p.Host) {
			t.Fatalf("%q matched %q without naming its host", origin, pattern)
		}
	})
}
