package verify

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"keyplane/internal/apikey"
)

// twoProducts knows the default format (kp) and gosend's (gsk_{env}_).
type twoProducts struct{}

func (twoProducts) ProductOf(key string) (string, apikey.Kind, bool) {
	if strings.HasPrefix(key, "gsk_") {
		p, err := apikey.MustFormat("gsk_{env}_").Parse(key)
		return "gosend", apikey.Private, err == nil && p.Environment != ""
	}
	p, err := apikey.MustFormat("kp_{kind}_{env}_").Parse(key)
	return apikey.DefaultProduct, p.Kind, err == nil
}

// TestProducts: a key is verified only for its own product, unless the
// request takes any; elsewhere it is refused as unknown, with no key in
// the result (so nothing is counted against it), before any lookup.
func TestProducts(t *testing.T) {
	f := newFixture(t, Options{Products: twoProducts{}})
	def := f.add(t, nil)
	gs, _ := apikey.MustFormat("gsk_{env}_").Generate(nil, apikey.Private, apikey.Live)
	f.store.put(gs, &Key{ID: "gs-1", OrgID: "org-1", Product: "gosend", Kind: apikey.Private, Environment: apikey.Live})
	// A stored key whose row names another product than its shape.
	liar, _ := apikey.MustFormat("gsk_{env}_").Generate(nil, apikey.Private, apikey.Test)
	f.store.put(liar, &Key{ID: "gs-2", OrgID: "org-1", Product: "other", Kind: apikey.Private, Environment: apikey.Test})
	ctx := context.Background()

	for _, c := range []struct {
		name    string
		req     Request
		allowed bool
	}{
		{"default key, default product", Request{Key: def}, true},
		{"default key, gosend", Request{Key: def, Product: "gosend"}, false},
		{"gosend key, default product", Request{Key: gs}, false},
		{"gosend key, gosend", Request{Key: gs, Product: "gosend"}, true},
		{"gosend key, any product", Request{Key: gs, AnyProduct: true}, true},
		{"default key, any product", Request{Key: def, AnyProduct: true}, true},
		{"a row of another product", Request{Key: liar, Product: "gosend"}, false},
	} {
		reads := f.store.totalReads()
		res := f.v.Verify(ctx, c.req)
		if res.Allowed != c.allowed {
			t.Errorf("%s: %+v", c.name, res)
			continue
		}
		if !c.allowed && (res.Code != CodeUnauthorized || res.Key != nil) {
			t.Errorf("%s: refused as %q with key %v, want unauthorized and no key", c.name, res.Code, res.Key)
		}
		if !c.allowed && c.name != "a row of another product" && f.store.totalReads() != reads {
			t.Errorf("%s: read the store", c.name)
		}
	}
}

// TestBodyIPByStoredKind: a stated client address counts for a private key
// whatever its format says (a format without {kind} says nothing), and for
// a public key only from a trusted caller.
func TestBodyIPByStoredKind(t *testing.T) {
	f := newFixture(t, Options{Products: twoProducts{}})
	gs, _ := apikey.MustFormat("gsk_{env}_").Generate(nil, apikey.Private, apikey.Live)
	f.store.put(gs, &Key{ID: "gs-1", OrgID: "org-1", Product: "gosend", Kind: apikey.Private, Environment: apikey.Live,
		IPs: mustPrefixes(t, "203.0.113.7/32")})
	pub, _ := apikey.MustFormat("gsk_{env}_").Generate(nil, apikey.Private, apikey.Test)
	f.store.put(pub, &Key{ID: "gs-2", OrgID: "org-1", Product: "gosend", Kind: apikey.Public, Environment: apikey.Test,
		IPs: mustPrefixes(t, "203.0.113.7/32"), Domains: []apikey.DomainPattern{mustDomain(t, "shop.example.com")}})
	caller, stated := ip("198.51.100.1"), ip("203.0.113.7")
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		req     Request
		allowed bool
		used    netip.Addr
	}{
		{"private, stated", Request{Key: gs, Product: "gosend", ClientIP: caller, BodyIP: stated}, true, stated},
		{"private, not stated", Request{Key: gs, Product: "gosend", ClientIP: caller}, false, caller},
		{"public, stated by a stranger", Request{Key: pub, Product: "gosend", ClientIP: caller, BodyIP: stated, Origin: "https://shop.example.com"}, false, caller},
		{"public, stated by a trusted proxy", Request{Key: pub, Product: "gosend", ClientIP: caller, BodyIP: stated, TrustBodyIP: true, Origin: "https://shop.example.com"}, true, stated},
	} {
		res := f.v.Verify(ctx, c.req)
		if res.Allowed != c.allowed || res.ClientIP != c.used {
			t.Errorf("%s: allowed %v (%s), checked %v; want %v, %v", c.name, res.Allowed, res.Code, res.ClientIP, c.allowed, c.used)
		}
	}
}

func mustDomain(t *testing.T, s string) apikey.DomainPattern {
	t.Helper()
	d, err := apikey.ParseDomainPattern(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
