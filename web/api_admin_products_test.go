package web

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

const (
	productsRoute = "/v1/admin/products"
	productRoute  = "/v1/admin/products/{slug}"
)

// sameJSON reports whether got (decoded JSON) equals want written as JSON.
func sameJSON(t *testing.T, got any, want string) bool {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(w)
	return string(a) == string(b)
}

// TestAdminAPIProducts: the default product is listed first and read-only;
// a product is created with every setting, listed, changed property by
// property (absent ones keep their value), and its keys are made at once.
func TestAdminAPIProducts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAdminEnv(t, db)
		now := a.clock.Now().UTC().Format(time.RFC3339)

		r := a.op("GET", productsRoute, "/api"+productsRoute, opValid, "")
		if r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.raw)
		}
		def := `{"slug": "default", "name": "Default", "key_format": "kp_{kind}_{env}_",
			"scopes": [{"name": "read", "description": "Read access"}, {"name": "write", "description": "Write access"}],
			"route_scopes": [], "kinds": ["private", "public"], "max_keys_per_org": 1000, "public_rate_limit": 5,
			"public_block": "5m", "api_url": "", "default": true, "created_at": null}`
		if !sameJSON(t, r.body, `{"data": [`+def+`]}`) {
			t.Errorf("a fresh list: %s", r.raw)
		}

		gosend := `{"slug": "gosend", "name": "GoSendAPI", "key_format": "gsk_{env}_",
			"scopes": [{"name": "sms:send", "description": "Send SMS"}, {"name": "reports:read", "description": "Read reports"}],
			"route_scopes": ["POST /v1/sms*=sms:send", "GET /v1/reports=reports:read"], "kinds": ["private"],
			"max_keys_per_org": 20, "public_rate_limit": 30, "public_block": "1h", "api_url": "https://api.gosend.example"}`
		r = a.op("POST", productsRoute, "/api"+productsRoute, opValid, gosend)
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		created := gosend[:len(gosend)-1] + `, "default": false, "created_at": "` + now + `"}`
		if !sameJSON(t, r.body, created) {
			t.Errorf("created %s\nwant %s", r.raw, created)
		}
		r = a.op("GET", productsRoute, "/api"+productsRoute, opValid, "")
		if !sameJSON(t, r.body, `{"data": [`+def+`, `+created+`]}`) {
			t.Errorf("list after create: %s", r.raw)
		}
		k, err := a.keys.Create(context.Background(), a.acme.ID, "", apikey.Input{
			Product: "gosend", Description: "Sender", Kind: "private", Environment: "live", Scopes: []string{"sms:send"},
		}, audit.Actor{})
		if err != nil || k.Key.Product != "gosend" || k.Secret[:9] != "gsk_live_" {
			t.Fatalf("a key of the new product: %v %+v", err, k.Key)
		}

		// Only what is given changes; the defaults fill a minimal product.
		r = a.op("PATCH", productRoute, "/api/v1/admin/products/gosend", opValid, `{"name": "GoSend", "public_block": "0"}`)
		if r.status != 200 {
			t.Fatalf("patch: %d %s", r.status, r.raw)
		}
		renamed := `{"slug": "gosend", "name": "GoSend", "key_format": "gsk_{env}_",
			"scopes": [{"name": "sms:send", "description": "Send SMS"}, {"name": "reports:read", "description": "Read reports"}],
			"route_scopes": ["POST /v1/sms*=sms:send", "GET /v1/reports=reports:read"], "kinds": ["private"],
			"max_keys_per_org": 20, "public_rate_limit": 30, "public_block": "0", "api_url": "https://api.gosend.example",
			"default": false, "created_at": "` + now + `"}`
		if !sameJSON(t, r.body, renamed) {
			t.Errorf("patched %s\nwant %s", r.raw, renamed)
		}
		r = a.op("PATCH", productRoute, "/api/v1/admin/products/gosend", opValid, `{"scopes": [{"name": "sms:send", "description": "Send"}],
			"route_scopes": ["* /v1/sms/*=sms:send"], "kinds": ["private", "public"], "max_keys_per_org": 5, "public_rate_limit": 7,
			"public_block": "90m", "api_url": ""}`)
		want := `{"slug": "gosend", "name": "GoSend", "key_format": "gsk_{env}_", "scopes": [{"name": "sms:send", "description": "Send"}],
			"route_scopes": ["* /v1/sms/*=sms:send"], "kinds": ["private", "public"], "max_keys_per_org": 5, "public_rate_limit": 7,
			"public_block": "90m", "api_url": "", "default": false, "created_at": "` + now + `"}`
		if r.status != 200 || !sameJSON(t, r.body, want) {
			t.Errorf("patched every setting: %d %s\nwant %s", r.status, r.raw, want)
		}
		r = a.op("POST", productsRoute, "/api"+productsRoute, opValid, `{"slug": "mail", "name": "Mail", "key_format": "ml_{kind}_{env}_"}`)
		want = `{"slug": "mail", "name": "Mail", "key_format": "ml_{kind}_{env}_",
			"scopes": [{"name": "read", "description": "Read access"}, {"name": "write", "description": "Write access"}],
			"route_scopes": [], "kinds": ["private", "public"], "max_keys_per_org": 1000, "public_rate_limit": 5,
			"public_block": "5m", "api_url": "", "default": false, "created_at": "` + now + `"}`
		if r.status != 201 || !sameJSON(t, r.body, want) {
			t.Errorf("a minimal product: %d %s\nwant %s", r.status, r.raw, want)
		}

		if r = a.op("POST", productsRoute, "/api"+productsRoute, opValid, `{"slug": "gosend", "name": "Again", "key_format": "again_{env}_"}`); r.status != 409 || r.code() != "conflict" {
			t.Errorf("a taken slug: %d %s", r.status, r.raw)
		}
		for _, body := range []string{`{"name": "Mine"}`, `{"kinds": ["private"]}`, `{}`} {
			if r = a.op("PATCH", productRoute, "/api/v1/admin/products/default", opValid, body); r.status != 409 || r.code() != "conflict" {
				t.Errorf("patch the default product with %s: %d %s", body, r.status, r.raw)
			}
		}
		if r = a.op("PATCH", productRoute, "/api/v1/admin/products/nothing", opValid, `{"name": "X"}`); r.status != 404 || r.code() != "not_found" {
			t.Errorf("an unknown slug: %d %s", r.status, r.raw)
		}
		if r = a.op("PATCH", productRoute, "/api/v1/admin/products/gosend", opValid, `{"key_format": "gs_{env}_"}`); r.status != 422 || !slices.Equal(r.fields(), []string{"key_format"}) {
			t.Errorf("the format of a product with keys: %d %s", r.status, r.raw)
		}
		if r = a.op("PATCH", productRoute, "/api/v1/admin/products/gosend", opValid, `{"slug": "other"}`); r.status != 422 {
			t.Errorf("a new slug: %d %s", r.status, r.raw)
		}
	})
}

// TestAdminAPIProductsInvalid: each wrong setting is 422 naming the
// request's own field, on create and on change, and nothing is stored.
func TestAdminAPIProductsInvalid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAdminEnv(t, db)
		if r := a.op("POST", productsRoute, "/api"+productsRoute, opValid, `{"slug": "gosend", "name": "GoSendAPI", "key_format": "gsk_{env}_"}`); r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		base := `"slug": "mail", "name": "Mail", "key_format": "ml_{env}_"`
		bad := []struct{ name, body, field string }{
			{"slug", `{"slug": "Mail Box", "name": "Mail", "key_format": "ml_{env}_"}`, "slug"},
			{"slug default", `{"slug": "default", "name": "Mail", "key_format": "ml_{env}_"}`, "slug"},
			{"name", `{"slug": "mail", "name": " ", "key_format": "ml_{env}_"}`, "name"},
			{"no {env}", `{"slug": "mail", "name": "Mail", "key_format": "ml_"}`, "key_format"},
			{"unknown placeholder", `{"slug": "mail", "name": "Mail", "key_format": "ml_{env}_{x}_"}`, "key_format"},
			{"overlaps the default", `{"slug": "mail", "name": "Mail", "key_format": "kp_m_{env}_"}`, "key_format"},
			{"overlaps gosend", `{"slug": "mail", "name": "Mail", "key_format": "gsk_m_{env}_"}`, "key_format"},
			{"built-in scope", `{` + base + `, "scopes": [{"name": "admin", "description": "Mine"}]}`, "scopes"},
			{"; in a scope", `{` + base + `, "scopes": [{"name": "a", "description": "x;b=y"}]}`, "scopes"},
			{"unknown route scope", `{` + base + `, "route_scopes": ["POST /v1/mail=send"]}`, "route_scopes"},
			{"malformed rule", `{` + base + `, "route_scopes": ["/v1/mail read"]}`, "route_scopes"},
			{"public only", `{` + base + `, "kinds": ["public"]}`, "kinds"},
			{"unknown kind", `{` + base + `, "kinds": ["secret"]}`, "kinds"},
			{"no kinds", `{` + base + `, "kinds": []}`, "kinds"},
			{"max keys", `{` + base + `, "max_keys_per_org": 0}`, "max_keys_per_org"},
			{"rate", `{` + base + `, "public_rate_limit": 100001}`, "public_rate_limit"},
			{"block seconds", `{` + base + `, "public_block": "90s"}`, "public_block"},
			{"block words", `{` + base + `, "public_block": "soon"}`, "public_block"},
			{"block negative", `{` + base + `, "public_block": "-5m"}`, "public_block"},
			{"block too long", `{` + base + `, "public_block": "31d"}`, "public_block"},
			{"api url", `{` + base + `, "api_url": "ftp://api.example.com"}`, "api_url"},
			{"unknown field", `{` + base + `, "colour": "blue"}`, "colour"},
			{"null", `{` + base + `, "scopes": null}`, "scopes"},
		}
		for _, c := range bad {
			r := a.op("POST", productsRoute, "/api"+productsRoute, opValid, c.body)
			if r.status != 422 || r.code() != "invalid" || !slices.Equal(r.fields(), []string{c.field}) {
				t.Errorf("create with %s: %d %s, want 422 naming %s", c.name, r.status, r.raw, c.field)
			}
		}
		r := a.op("POST", productsRoute, "/api"+productsRoute, opValid, `{"slug": "-", "name": "", "key_format": "x"}`)
		if r.status != 422 || !slices.Equal(r.fields(), []string{"key_format", "name", "slug"}) {
			t.Errorf("three wrong fields: %d %s", r.status, r.raw)
		}
		if a.count("products") != 1 {
			t.Fatalf("a refused create stored a product")
		}

		patch := []struct{ name, body, field string }{
			{"overlap", `{"key_format": "kp_g_{env}_"}`, "key_format"},
			{"no {env}", `{"key_format": "gsk_"}`, "key_format"},
			{"rule of a removed scope", `{"route_scopes": ["POST /v1/x=write"], "scopes": [{"name": "send", "description": ""}]}`, "route_scopes"},
			{"kinds", `{"kinds": ["public", "secret"]}`, "kinds"},
			{"block", `{"public_block": "1h30s"}`, "public_block"},
			{"null", `{"name": null}`, "name"},
		}
		for _, c := range patch {
			r := a.op("PATCH", productRoute, "/api/v1/admin/products/gosend", opValid, c.body)
			if r.status != 422 || !slices.Equal(r.fields(), []string{c.field}) {
				t.Errorf("patch with %s: %d %s, want 422 naming %s", c.name, r.status, r.raw, c.field)
			}
		}
		p, _ := a.products.Get("gosend")
		if p.Name != "GoSendAPI" || p.Format.String() != "gsk_{env}_" || len(p.RouteScopes) != 0 {
			t.Errorf("a refused patch changed the product: %+v", p)
		}
	})
}

// TestAdminAPIDeleteProduct: a product without keys is deleted and answers
// as it was; one with a key, the default and an unknown slug are refused.
func TestAdminAPIDeleteProduct(t *testing.T) {
	a := newAdminEnv(t, storetest.SQLite(t))
	route := productsRoute + "/{slug}"
	for _, slug := range []string{"spare", "used"} {
		body := `{"slug": "` + slug + `", "name": "` + slug + `", "key_format": "` + slug + `_{env}_"}`
		if r := a.op("POST", productsRoute, "/api"+productsRoute, opValid, body); r.status != 201 {
			t.Fatalf("create %s: %d %s", slug, r.status, r.raw)
		}
	}
	if r := a.call("POST", "/v1/keys", "/api/v1/keys", a.creds[credManage], `{"product": "used", "description": "A key"}`); r.status != 201 {
		t.Fatalf("a key of used: %d %s", r.status, r.raw)
	}
	r := a.op("DELETE", route, "/api"+productsRoute+"/spare", opValid, "")
	if r.status != 200 || r.body["slug"] != "spare" || r.body["key_format"] != "spare_{env}_" {
		t.Errorf("delete spare: %d %s", r.status, r.raw)
	}
	for path, want := range map[string]int{"/spare": 404, "/used": 409, "/default": 409, "/nothing": 404} {
		if r := a.op("DELETE", route, "/api"+productsRoute+path, opValid, ""); r.status != want {
			t.Errorf("delete %s: %d, want %d: %s", path, r.status, want, r.raw)
		}
	}
	if _, err := a.products.Get("used"); err != nil {
		t.Errorf("a product with keys was deleted: %v", err)
	}
}
