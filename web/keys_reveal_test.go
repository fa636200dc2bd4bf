package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"keyplane/internal/product"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/views/keys"
)

// TestRevealCurlExamples: the reveal, and only the reveal, shows curl
// examples with the new key in X-Api-Key and in Authorization: Bearer,
// against the key's product's API address (a marked placeholder when none
// is set), with the guard and the .env download that need no request.
func TestRevealCurlExamples(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		c := k.admin
		for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
			r := c.post("/orgs/acme/keys", keyForm("Backend "+strings.Join(hdr, "")), hdr...)
			wantStatus(t, r, http.StatusOK)
			secret := revealed(t, r)
			if got := r.Header.Get("Cache-Control"); got != "no-store" {
				t.Fatalf("%v: Cache-Control %q, want no-store", hdr, got)
			}
			xKey, bearer := r.text("curl-x-api-key"), r.text("curl-bearer")
			if !strings.HasPrefix(xKey, "curl "+keys.PlaceholderAPIURL+"/") || !strings.Contains(xKey, "-H 'X-Api-Key: "+secret+"'") {
				t.Errorf("%v: X-Api-Key example %q", hdr, xKey)
			}
			if !strings.HasPrefix(bearer, "curl "+keys.PlaceholderAPIURL+"/") || !strings.Contains(bearer, "-H 'Authorization: Bearer "+secret+"'") {
				t.Errorf("%v: Bearer example %q", hdr, bearer)
			}
			if !strings.Contains(r.text("api-url-placeholder"), "placeholder") {
				t.Errorf("%v: the placeholder address is not marked as one", hdr)
			}
			dl := r.testid("download-env")
			if dl.AttrOr("data-download-env", "") != "revealed-key" || dl.AttrOr("data-env-name", "") != "KEYPLANE_API_KEY" {
				t.Errorf("%v: no .env download of the revealed key", hdr)
			}
			if strings.Contains(r.doc.Find("[href],[hx-get],[hx-post],[action]").Text(), secret) {
				t.Errorf("%v: the key is in a URL", hdr)
			}
			if hdr != nil {
				if r.doc.Find("dialog[data-reveal-guard]").Length() != 1 || r.testid("reveal-confirm").AttrOr("hidden", "x") != "" {
					t.Errorf("the reveal dialog has no hidden confirmation guard: %.300s", r.body)
				}
				if !strings.Contains(r.text("reveal-confirm"), "You have not copied the key. Close anyway?") {
					t.Errorf("guard text %q", r.text("reveal-confirm"))
				}
			}
			// No other page shows the examples or the key.
			for _, path := range []string{"/orgs/acme/keys", "/orgs/acme/keys/" + k.keyBySecret(secret).ID} {
				p := c.get(path)
				if p.testid("curl-examples").Length() != 0 || strings.Contains(p.body, secret) {
					t.Errorf("GET %s shows the curl examples or the key", path)
				}
			}
		}

		// A product with its own API address: its keys' examples call it.
		if _, err := k.products.Create(context.Background(), product.Input{
			Slug: "migo", Name: "MigoSMTP", KeyFormat: "migo_{env}_", Kinds: "private", MaxKeysPerOrg: "5",
			APIURL: "https://api.migo.example/",
		}); err != nil {
			t.Fatal(err)
		}
		form := keyForm("Mailer")
		form.Set("product", "migo")
		r := c.post("/orgs/acme/keys", form, "HX-Request", "true")
		wantStatus(t, r, http.StatusOK)
		secret := r.testid("revealed-key").AttrOr("value", "")
		if !strings.HasPrefix(secret, "migo_live_") {
			t.Fatalf("revealed %q, want a migo key", secret)
		}
		if got := r.text("curl-bearer"); !strings.HasPrefix(got, "curl https://api.migo.example/ ") || !strings.Contains(got, secret) {
			t.Errorf("migo Bearer example %q", got)
		}
		if r.testid("api-url-placeholder").Length() != 0 {
			t.Error("a configured API address is called a placeholder")
		}
	})
}
