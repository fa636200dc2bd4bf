package clientip

import (
	"net/netip"
	"testing"
)

func TestResolve(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     []string
		want    string
	}{
		{"no proxies trusted ignores XFF", nil, "10.1.2.3:5555", []string{"1.2.3.4"}, "10.1.2.3"},
		{"untrusted peer ignores XFF", trusted, "203.0.113.9:5555", []string{"1.2.3.4"}, "203.0.113.9"},
		{"trusted peer, one hop", trusted, "10.0.0.1:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"right-most untrusted wins over spoofed left", trusted, "10.0.0.1:80", []string{"6.6.6.6, 198.51.100.7, 10.0.0.2"}, "198.51.100.7"},
		{"several header lines", trusted, "10.0.0.1:80", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7"},
		{"all hops trusted gives left-most", trusted, "10.0.0.1:80", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"garbage hop stops at last vouched", trusted, "10.0.0.1:80", []string{"garbage, 10.0.0.2"}, "10.0.0.2"},
		{"ipv6 peer and client", trusted, "[fd00::1]:80", []string{"2001:db8::5"}, "2001:db8::5"},
		{"ipv4-mapped peer", trusted, "[::ffff:10.0.0.1]:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"empty XFF", trusted, "10.0.0.1:80", nil, "10.0.0.1"},
		{"bare address", nil, "192.0.2.1", nil, "192.0.2.1"},
		{"ipv6 peer with a zone", nil, "[fe80::1%eth0]:80", nil, "fe80::1"},
		{"ipv4-mapped peer, untrusted", nil, "[::ffff:192.0.2.8]:80", nil, "192.0.2.8"},
		{"unparseable peer", nil, "not-an-address:80", nil, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := New(tt.trusted).Resolve(tt.peer, tt.xff)
			if got.String() != tt.want {
				t.Fatalf("Resolve(%q, %q) = %s, want %s", tt.peer, tt.xff, got, tt.want)
			}
		})
	}
}
