package verify

import (
	"context"
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
