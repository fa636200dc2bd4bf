package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

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

// TestKeyCreateWithoutScopesWarns: a key without scopes is created only
// once the admin saw what it cannot do; with a scope no warning shows.
func TestKeyCreateWithoutScopesWarns(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, map[string]string{"KEYPLANE_ROUTE_SCOPES": "POST /v1/sms*=write"})
		c := k.admin
		for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
			form := keyForm("No scopes")
			form.Del("no_scopes")
			r := c.post("/orgs/acme/keys", form, hdr...)
			wantStatus(t, r, http.StatusOK)
			warning := r.text("no-scopes-warning")
			if !strings.Contains(warning, "able to call nothing that needs a scope") || !strings.Contains(warning, "POST /v1/sms* needs write") {
				t.Errorf("%v: warning %q", hdr, warning)
			}
			if r.testid("no-scopes-warning").AttrOr("role", "") != "alert" || r.testid("revealed-key").Length() != 0 {
				t.Errorf("%v: not an alert, or a key was revealed", hdr)
			}
			if r.testid("key-form").Find(`input[name="no_scopes"][value="ok"]`).Length() != 1 ||
				r.testid("key-form").Find(`input[name="description"]`).AttrOr("value", "") != "No scopes" {
				t.Errorf("%v: the form does not keep its values and the confirmation", hdr)
			}
		}
		if n := k.count("api_keys"); n != 0 {
			t.Fatalf("%d keys created before the confirmation", n)
		}
		// Posted again with the confirmation, it is created.
		revealed(t, c.post("/orgs/acme/keys", keyForm("No scopes")))
		// With a scope, no warning.
		form := keyForm("Scoped")
		form.Del("no_scopes")
		form["scopes"] = []string{"read"}
		r := c.post("/orgs/acme/keys", form)
		revealed(t, r)
		if r.testid("no-scopes-warning").Length() != 0 {
			t.Error("a scoped key was warned about")
		}
	})
}

// TestKeyCreateExpiryPresets: 30 days, 90 days and 1 year expire at the end
// of that UTC day; never sets none; a custom date is taken as given.
func TestKeyCreateExpiryPresets(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		if k.admin.get("/orgs/acme/keys/new").testid("expiry-presets").Find(`input[name="expires_in"][value="never"][checked]`).Length() != 1 {
			t.Error("the create form does not offer the presets, never chosen")
		}
		now := k.clock.Now().UTC()
		custom := now.AddDate(0, 0, 10).Format("2006-01-02")
		for preset, want := range map[string]string{
			"30": now.AddDate(0, 0, 30).Format("2006-01-02"), "90": now.AddDate(0, 0, 90).Format("2006-01-02"),
			"365": now.AddDate(0, 0, 365).Format("2006-01-02"), "never": "", "custom": custom,
		} {
			form := keyForm("Expires " + preset)
			form.Set("expires_in", preset)
			form.Set("expires_at", custom)
			_, key := k.createKey(k.admin, form)
			got := ""
			if key.ExpiresAt != nil {
				got = key.ExpiresAt.UTC().Format("2006-01-02")
				if h := key.ExpiresAt.UTC().Format("15:04"); h != "23:59" && h != "00:00" {
					t.Errorf("%s: expires at %s, not the end of a day", preset, key.ExpiresAt)
				}
			}
			if got != want && !(key.ExpiresAt != nil && key.ExpiresAt.UTC().Add(-time.Second).Format("2006-01-02") == want) {
				t.Errorf("preset %s: expires %q, want %q", preset, got, want)
			}
		}
	})
}
