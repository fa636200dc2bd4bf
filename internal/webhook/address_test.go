package webhook

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"keyplane/internal/apperr"
)

func TestCheckURLRefusesInternalAddresses(t *testing.T) {
	lookup := publicLookup(map[string]string{
		"internal.example.com": "10.0.0.7",
		"meta.example.com":     "169.254.169.254",
		"v6.example.com":       "fd00::1",
		"gone.example.com":     "",
	})
	refused := map[string]string{
		"http://127.0.0.1/hook":          "loopback",
		"http://127.1.2.3:8080/hook":     "loopback",
		"http://10.1.2.3/hook":           "private",
		"http://172.16.0.1/hook":         "private",
		"http://192.168.1.1/hook":        "private",
		"http://169.254.169.254/latest":  "link-local",
		"http://100.64.0.1/hook":         "CGNAT",
		"http://[::1]/hook":              "loopback",
		"http://[fc00::1]/hook":          "ULA",
		"http://[fe80::1]/hook":          "link-local",
		"http://[::ffff:127.0.0.1]/hook": "IPv4-mapped",
		"http://0.0.0.0/hook":            "unspecified",
		"http://[::]/hook":               "unspecified",
		"http://[::127.0.0.1]/hook":      "IPv4-compatible",
		"http://[2001:0:4136::1]/hook":   "Teredo",
		"http://[fec0::1]/hook":          "site-local",
		"http://[100::1]/hook":           "discard",
		"http://224.0.0.1/hook":          "multicast",
		"http://localhost/hook":          "loopback",
		"http://LOCALHOST.:9000/hook":    "loopback",
		"http://api.localhost/hook":      "loopback",
		// Names: one answer whether they resolve to an internal address or
		// not at all, and never the address.
		"https://internal.example.com/hook":  "internal.example.com does not resolve to a public address",
		"https://meta.example.com/hook":      "meta.example.com does not resolve to a public address",
		"https://v6.example.com/hook":        "v6.example.com does not resolve to a public address",
		"https://gone.example.com/hook":      "gone.example.com does not resolve to a public address",
		"ftp://example.com/hook":             "http or https",
		"file:///etc/passwd":                 "http or https",
		"javascript:alert(1)":                "http or https",
		"gopher://example.com/":              "http or https",
		"https://user:pass@example.com/hook": "user name or password",
		"https://user@example.com/hook":      "user name or password",
		"https://example.com/hook#frag":      "fragment",
		"https:///hook":                      "host",
		"https://example.com:0/hook":         "port",
		"https://example.com:99999/hook":     "port",
		"":                                   "Enter the URL",
		"not a url":                          "http or https",
	}
	for raw, want := range refused {
		_, err := checkURL(context.Background(), raw, false, lookup)
		if !apperr.Is(err, apperr.Invalid) {
			t.Errorf("%q: err = %v, want Invalid", raw, err)
			continue
		}
		msg := apperr.FieldsOf(err)["url"]
		if !strings.Contains(msg, want) {
			t.Errorf("%q: url message %q, want it to mention %q", raw, msg, want)
		}
		for _, internal := range []string{"10.0.0.7", "169.254", "fd00", "fc00"} {
			if strings.Contains(msg, internal) && !strings.Contains(raw, internal) {
				t.Errorf("%q: the message %q shows the address a name resolves to", raw, msg)
			}
		}
	}
	for _, raw := range []string{"https://hooks.example.com/keyplane", "http://93.184.216.34:8080/x?a=1", "https://[2606:4700::1111]/hook", "HTTPS://Example.com/Path"} {
		if _, err := checkURL(context.Background(), raw, false, lookup); err != nil {
			t.Errorf("%q refused: %v", raw, err)
		}
	}
}

func TestCheckURLAllowPrivate(t *testing.T) {
	lookup := publicLookup(nil)
	for _, raw := range []string{"http://127.0.0.1:9000/hook", "http://localhost/hook", "http://[::1]/"} {
		if _, err := checkURL(context.Background(), raw, true, lookup); err != nil {
			t.Errorf("%q refused with private addresses allowed: %v", raw, err)
		}
	}
	for _, raw := range []string{"ftp://127.0.0.1/", "http://u:p@127.0.0.1/"} {
		if _, err := checkURL(context.Background(), raw, true, lookup); err == nil {
			t.Errorf("%q accepted with private addresses allowed", raw)
		}
	}
}

func TestGuardControl(t *testing.T) {
	for _, a := range []string{"127.0.0.1:80", "10.0.0.1:443", "[::1]:80", "[fd12::1]:80", "169.254.169.254:80", "100.100.100.100:80", "[::ffff:10.0.0.1]:80"} {
		if err := guardControl("tcp", a, nil); err == nil {
			t.Errorf("guardControl let %s through", a)
		}
	}
	for _, a := range []string{"93.184.216.34:443", "[2606:4700::1111]:443"} {
		if err := guardControl("tcp", a, nil); err != nil {
			t.Errorf("guardControl refused %s: %v", a, err)
		}
	}
	if RefusedAddr(netip.MustParseAddr("8.8.8.8")) != "" {
		t.Error("8.8.8.8 refused")
	}
}
