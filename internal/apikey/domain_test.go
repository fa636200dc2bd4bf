package apikey

import "testing"

func TestParseDomainPattern(t *testing.T) {
	good := map[string]string{
		"example.com":                  "example.com",
		"  Example.COM ":               "example.com",
		"*.example.com":                "*.example.com",
		"https://app.example.com:8443": "https://app.example.com:8443",
		"http://localhost:3000":        "http://localhost:3000",
		"https://example.com/":         "https://example.com",
	}
	for in, want := range good {
		p, err := ParseDomainPattern(in)
		if err != nil || p.String() != want {
			t.Errorf("ParseDomainPattern(%q) = %q, %v; want %q", in, p.String(), err, want)
		}
	}
	for _, bad := range []string{"", "*", "*.", "ftp://example.com", "example.com/path", "exa mple.com", "ex*ample.com",
		"example.com:0", "example.com:99999", "-example.com", "example..com", "a.*.example.com", "https://"} {
		if _, err := ParseDomainPattern(bad); err == nil {
			t.Errorf("ParseDomainPattern(%q) accepted", bad)
		}
	}
}

func TestDomainPatternMatches(t *testing.T) {
	tests := []struct {
		pattern string
		origin  string
		want    bool
	}{
		{"example.com", "https://example.com", true},
		{"example.com", "http://example.com", true},
		{"example.com", "https://EXAMPLE.com", true},
		{"example.com", "https://example.com:443", true},
		{"example.com", "https://example.com:8443", false},
		{"example.com", "https://www.example.com", false},
		{"example.com", "https://evil-example.com", false},
		{"example.com", "https://example.com.evil.net", false},
		{"example.com", "https://example.com/some/page?x=1", true},
		{"example.com", "null", false},
		{"example.com", "", false},
		{"example.com", "ftp://example.com", false},
		{"example.com", "https://user@example.com", false},
		{"*.example.com", "https://app.example.com", true},
		{"*.example.com", "https://a.b.example.com", true},
		{"*.example.com", "https://example.com", false},
		{"*.example.com", "https://evilexample.com", false},
		{"https://app.example.com:8443", "https://app.example.com:8443", true},
		{"https://app.example.com:8443", "http://app.example.com:8443", false},
		{"https://app.example.com", "https://app.example.com", true},
		{"https://app.example.com", "http://app.example.com", false},
		{"http://localhost:3000", "http://localhost:3000", true},
		{"http://localhost:3000", "http://localhost:3001", false},
	}
	for _, tt := range tests {
		p, err := ParseDomainPattern(tt.pattern)
		if err != nil {
			t.Fatalf("pattern %q: %v", tt.pattern, err)
		}
		if got := p.Matches(tt.origin); got != tt.want {
			t.Errorf("%q matches %q = %v, want %v", tt.pattern, tt.origin, got, tt.want)
		}
	}
}
