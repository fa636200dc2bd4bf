package api

import (
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"
	"testing"

	"keyplane/internal/apikey"
	"keyplane/internal/verify"
)

func TestKeyOf(t *testing.T) {
	tests := []struct {
		name          string
		xAPIKey, auth []string
		key           string
		conflict      bool
	}{
		{name: "none"},
		{name: "X-Api-Key", xAPIKey: []string{"k1"}, key: "k1"},
		{name: "X-Api-Key trimmed", xAPIKey: []string{"  k1 \t"}, key: "k1"},
		{name: "bearer", auth: []string{"Bearer k1"}, key: "k1"},
		{name: "bearer any case", auth: []string{"bEARER k1"}, key: "k1"},
		{name: "bearer extra spaces", auth: []string{"  Bearer   k1  "}, key: "k1"},
		{name: "both equal", xAPIKey: []string{"k1"}, auth: []string{"Bearer k1"}, key: "k1"},
		{name: "both different", xAPIKey: []string{"k1"}, auth: []string{"Bearer k2"}, conflict: true},
		{name: "empty bearer with X-Api-Key", xAPIKey: []string{"k1"}, auth: []string{"Bearer "}, key: "k1"},
		{name: "basic auth is not a key", auth: []string{"Basic dXNlcjpwYXNz"}},
		{name: "basic auth beside X-Api-Key", xAPIKey: []string{"k1"}, auth: []string{"Basic dXNlcjpwYXNz"}, key: "k1"},
		{name: "scheme without token", auth: []string{"Bearer"}},
		{name: "token without scheme", auth: []string{"k1"}},
		{name: "Bearerk1 is no scheme", auth: []string{"Bearerk1"}},
		{name: "X-Api-Key twice, equal", xAPIKey: []string{"k1", " k1"}, key: "k1"},
		{name: "X-Api-Key twice, different", xAPIKey: []string{"k1", "k2"}, conflict: true},
		{name: "X-Api-Key twice, one empty", xAPIKey: []string{"", "k1"}, key: "k1"},
		{name: "bearer twice, different", auth: []string{"Bearer k1", "Bearer k2"}, conflict: true},
		{name: "bearer beside basic auth", auth: []string{"Basic dXNlcjpwYXNz", "Bearer k1"}, key: "k1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.xAPIKey {
				h.Add("X-Api-Key", v)
			}
			for _, v := range tt.auth {
				h.Add("Authorization", v)
			}
			key, conflict := keyOf(h)
			if key != tt.key || conflict != tt.conflict {
				t.Fatalf("keyOf(%q) = %q, %v; want %q, %v", h, key, conflict, tt.key, tt.conflict)
			}
		})
	}
}

func FuzzKeyOf(f *testing.F) {
	for _, s := range [][2]string{
		{"", ""}, {"k1", ""}, {"", "Bearer k1"}, {"k1", "Bearer k2"}, {"k1", "Bearer k1"},
		{" k1 ", "bearer  k1 "}, {"", "Basic x"}, {"k1", "Bearer"}, {"\x00", "Bearer \x00"}, {"", "Bearer \t"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, xAPIKey, auth string) {
		key, conflict := keyOf(http.Header{"X-Api-Key": {xAPIKey}, "Authorization": {auth}})
		x := strings.TrimSpace(xAPIKey)
		if conflict {
			if key != "" {
				t.Fatalf("conflict with a key %q", key)
			}
			if x == "" {
				t.Fatal("conflict without X-Api-Key")
			}
			scheme, _, _ := strings.Cut(strings.TrimSpace(auth), " ")
			if !strings.EqualFold(scheme, "bearer") {
				t.Fatalf("conflict without a bearer token: %q", auth)
			}
			return
		}
		if key != strings.TrimSpace(key) {
			t.Fatalf("key %q is not trimmed", key)
		}
		if x != "" && key != x {
			t.Fatalf("X-Api-Key %q present but key %q", x, key)
		}
		if x == "" && key != "" && (key != bearer(auth) || !strings.Contains(auth, key)) {
			t.Fatalf("key %q from nowhere (auth %q)", key, auth)
		}
		// The same key in both headers is no conflict.
		if key != "" {
			k2, c2 := keyOf(http.Header{"X-Api-Key": {key}, "Authorization": {"Bearer " + key}})
			if k2 != key || c2 {
				t.Fatalf("the same key in both headers: %q, %v", k2, c2)
			}
		}
	})
}

// TestVerifyBodyAddress checks whose address a body's "ip" may name: any
// for a private key, but for a public key only from a trusted proxy, so a
// stranger cannot spend the per-IP limit of someone else's address.
func TestVerifyBodyAddress(t *testing.T) {
	// httptest requests come from 192.0.2.1.
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		// secondValid is whether a second request, naming another
		// address, still passes the public key's limit of one.
		secondValid bool
	}{
		{"stranger", nil, false},
		{"trusted proxy", []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPIEnv(t, tc.trusted...)
			example, err := apikey.ParseDomainPattern("example.com")
			if err != nil {
				t.Fatal(err)
			}
			pub := a.add(t, &verify.Key{ID: "pk", OrgID: "o1", Kind: apikey.Public, Environment: apikey.Live,
				Domains: []apikey.DomainPattern{example}, RateLimit: 1})
			body := func(ip string) string {
				return `{"key": "` + pub + `", "origin": "https://example.com", "ip": "` + ip + `"}`
			}
			if rec, out := a.do(postVerify(body("203.0.113.7"))); rec.Code != 200 || out["valid"] != true {
				t.Fatalf("first: %d %s", rec.Code, rec.Body)
			}
			rec, out := a.do(postVerify(body("198.51.100.9")))
			if rec.Code != 200 || out["valid"] != tc.secondValid {
				t.Fatalf("second from another address: %d %s, want valid %v", rec.Code, rec.Body, tc.secondValid)
			}
			if !tc.secondValid && out["code"] != verify.CodeRateLimited {
				t.Fatalf("second from another address: %s, want rate_limited", rec.Body)
			}
		})
	}

	t.Run("private key, stranger", func(t *testing.T) {
		a := newAPIEnv(t)
		priv := a.add(t, &verify.Key{ID: "sk", OrgID: "o1", Kind: apikey.Private, Environment: apikey.Live,
			IPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}})
		rec, out := a.do(postVerify(`{"key": "` + priv + `", "ip": "203.0.113.7"}`))
		if rec.Code != 200 || out["valid"] != true {
			t.Fatalf("body address in the allowlist: %d %s", rec.Code, rec.Body)
		}
	})

	t.Run("malformed key with _pk_", func(t *testing.T) {
		a := newAPIEnv(t)
		priv := a.add(t, &verify.Key{ID: "sk", OrgID: "o1", Kind: apikey.Private, Environment: apikey.Live})
		for _, key := range []string{priv + "_pk_", "kp_pk_live_x", "_pk_"} {
			rec, out := a.do(postVerify(`{"key": "` + key + `", "ip": "203.0.113.7"}`))
			if rec.Code != 200 || out["valid"] != false || out["code"] != verify.CodeUnauthorized {
				t.Fatalf("%q: %d %s, want unauthorized", key, rec.Code, rec.Body)
			}
		}
	})
}

// TestHeaderNamesAreCanonical: the data plane indexes header maps with
// these names, which only works if they are in canonical form.
func TestHeaderNamesAreCanonical(t *testing.T) {
	for _, name := range []string{hAPIKey, hAuthorization, hOrigin, hReferer, hXForwardedFor, hPreflightMethod,
		hRequiredScope, hForwardedMethod, hOriginalMethod, hForwardedURI, hOriginalURI,
		HeaderKeyID, HeaderOrgID, HeaderOrg, HeaderEnvironment, HeaderScopes, HeaderProduct, HeaderError} {
		if c := textproto.CanonicalMIMEHeaderKey(name); c != name {
			t.Errorf("%q is not canonical: %q", name, c)
		}
	}
}
