package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/product"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestProductsDataPlane: a key of a second product works only where that
// product is served (forward-auth under /v1/products/{slug}, verify with
// "product"), with the product's route scopes and in X-Keyplane-Product;
// everywhere else it is refused exactly like an unknown key and counted
// nowhere. /v1/me and the management API take any product's key.
func TestProductsDataPlane(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPIEnv(t, db)
		ctx := context.Background()
		if _, err := a.products.Create(ctx, product.Input{
			Slug: "gosend", Name: "GoSendAPI", KeyFormat: "gsk_{env}_", Kinds: "private",
			Scopes: "send=Send messages;reports:read=Read reports", RouteScopes: "POST /v1/messages*=send",
		}); err != nil {
			t.Fatal(err)
		}
		gs, err := a.keys.Create(ctx, a.acme.ID, "", apikey.Input{
			Product: "gosend", Description: "Sender", Kind: "private", Environment: "live", Scopes: []string{"send", "keys:manage"},
		}, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(gs.Secret, "gsk_live_") {
			t.Fatalf("a GoSendAPI key: %q", gs.Secret[:10])
		}
		def := a.creds[credManage]
		auth := func(path, key string, hdr ...string) *http.Response {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, a.ts.URL+path, nil)
			req.Header.Set("X-Api-Key", key)
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			res, err := a.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res
		}
		unknown, _ := apikey.MustFormat("gsk_{env}_").Generate(nil, apikey.Private, apikey.Live)

		for _, c := range []struct {
			name, path, key string
			hdr             []string
			status          int
			code, product   string
		}{
			{"default key at /v1/auth", "/v1/auth", def, nil, 200, "", "default"},
			{"product key at /v1/auth", "/v1/auth", gs.Secret, nil, 401, "unauthorized", ""},
			{"product key at its path", "/v1/products/gosend/auth", gs.Secret, nil, 200, "", "gosend"},
			{"default key at the product's path", "/v1/products/gosend/auth", def, nil, 401, "unauthorized", ""},
			{"the product's route scope, granted", "/v1/products/gosend/auth", gs.Secret, []string{"X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/v1/messages/sms"}, 200, "", "gosend"},
			{"Envoy's path after auth", "/v1/products/gosend/auth/v1/messages", gs.Secret, []string{"X-Forwarded-Method", "POST"}, 200, "", "gosend"},
			{"the default product's path at /products/default", "/v1/products/default/auth", def, nil, 200, "", "default"},
			{"an unknown product key", "/v1/products/gosend/auth", unknown, nil, 401, "unauthorized", ""},
			{"no such product", "/v1/products/nothing/auth", gs.Secret, nil, 404, "not_found", ""},
		} {
			res := auth(c.path, c.key, c.hdr...)
			if res.StatusCode != c.status || res.Header.Get("X-Keyplane-Error") != c.code || res.Header.Get("X-Keyplane-Product") != c.product {
				t.Errorf("%s: %d %q product %q, want %d %q %q", c.name, res.StatusCode, res.Header.Get("X-Keyplane-Error"),
					res.Header.Get("X-Keyplane-Product"), c.status, c.code, c.product)
			}
		}
		// The product's route scopes apply: a key without send is refused there.
		reader, err := a.keys.Create(ctx, a.acme.ID, "", apikey.Input{
			Product: "gosend", Description: "Reports", Kind: "private", Environment: "test", Scopes: []string{"reports:read"},
		}, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		if res := auth("/v1/products/gosend/auth", reader.Secret, "X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/v1/messages"); res.StatusCode != 403 {
			t.Errorf("a route scope of the product, not granted: %d", res.StatusCode)
		}

		verifyAs := func(body string) map[string]any {
			t.Helper()
			rec := serve(a.srv, http.MethodPost, "/v1/verify", "198.51.100.7:1", strings.NewReader(body), []string{"Content-Type", "application/json"})
			var out map[string]any
			json.Unmarshal(rec.Body.Bytes(), &out)
			if rec.Code != 200 {
				out = map[string]any{"status": float64(rec.Code)}
			}
			return out
		}
		if out := verifyAs(`{"key": "` + gs.Secret + `"}`); out["valid"] != false || out["code"] != "unauthorized" {
			t.Errorf("verify a product key without product: %v", out)
		}
		if out := verifyAs(`{"key": "` + gs.Secret + `", "product": "gosend"}`); out["valid"] != true || out["product"] != "gosend" {
			t.Errorf("verify with its product: %v", out)
		}
		if out := verifyAs(`{"key": "` + def + `", "product": "gosend"}`); out["valid"] != false || out["code"] != "unauthorized" {
			t.Errorf("verify a default key as gosend: %v", out)
		}
		if out := verifyAs(`{"key": "` + def + `", "product": "nothing"}`); out["status"] != float64(400) {
			t.Errorf("verify with an unknown product: %v", out)
		}

		// /v1/me takes any product's key and names it.
		rec := serve(a.srv, http.MethodGet, "/v1/me", "198.51.100.7:1", nil, []string{"X-Api-Key", gs.Secret})
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"product":"gosend"`) {
			t.Errorf("/v1/me: %d %s", rec.Code, rec.Body)
		}
		// So does the management API, which lists and makes keys of any product.
		r := a.call("GET", "/v1/keys", "/api/v1/keys?product=gosend", gs.Secret, "")
		if r.status != 200 || len(r.body["data"].([]any)) != 2 {
			t.Fatalf("the org API with a product's key: %d %s", r.status, r.raw)
		}
		r = a.call("POST", "/v1/keys", "/api/v1/keys", def, `{"product": "gosend", "description": "API made", "scopes": ["send"]}`)
		if r.status != 201 || r.body["product"] != "gosend" || !strings.HasPrefix(r.body["secret"].(string), "gsk_live_") {
			t.Errorf("create a product's key through the API: %d %s", r.status, r.raw)
		}
		r = a.call("POST", "/v1/keys", "/api/v1/keys", def, `{"product": "gosend", "description": "Web", "kind": "public", "domains": ["x.example.com"]}`)
		if r.status != 422 || r.fields()[0] != "kind" {
			t.Errorf("a public key of a private-only product: %d %s", r.status, r.raw)
		}
		r = a.call("POST", "/v1/keys", "/api/v1/keys", def, `{"product": "gosend", "description": "Bad", "scopes": ["read"]}`)
		if r.status != 422 || r.fields()[0] != "scopes" {
			t.Errorf("another product's scope: %d %s", r.status, r.raw)
		}
		r = a.call("POST", "/v1/keys", "/api/v1/keys", def, `{"product": "nothing", "description": "Bad"}`)
		if r.status != 422 || r.fields()[0] != "product" {
			t.Errorf("no such product: %d %s", r.status, r.raw)
		}
		r = a.call("PATCH", "/v1/keys/{id}", "/api/v1/keys/"+gs.Key.ID, def, `{"product": "default"}`)
		if r.status != 422 || r.fields()[0] != "product" {
			t.Errorf("changing a key's product: %d %s", r.status, r.raw)
		}
	})
}
