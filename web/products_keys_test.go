package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keyplane/internal/product"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestKeysPagesWithProducts: with a second product, the keys list shows a
// product column, filter and each product's count; the create form asks
// for the product first and then offers that product's scopes and kinds;
// the key is made in the product's format. With one product none of this
// shows.
func TestKeysPagesWithProducts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		c := k.admin
		_, def := k.createKey(c, keyForm("Default backend"))

		r := c.get("/orgs/acme/keys")
		if r.testid("filter-product").Length() != 0 || r.testid("key-product").Length() != 0 {
			t.Error("one product, yet a product filter or column")
		}
		if r = c.get("/orgs/acme/keys/new"); r.testid("product-chooser").Length() != 0 || r.testid("key-form").Length() != 1 {
			t.Error("one product, yet the form asks for a product")
		}

		if _, err := k.products.Create(context.Background(), product.Input{
			Slug: "migo", Name: "MigoSMTP", KeyFormat: "migo_{env}_", Kinds: "private", MaxKeysPerOrg: "5",
			Scopes: "send=Send email;send:template=Send templated email;reports:read=Read reports",
		}); err != nil {
			t.Fatal(err)
		}

		// Step one: the product.
		for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
			r = c.get("/orgs/acme/keys/new", hdr...)
			wantStatus(t, r, http.StatusOK)
			if r.testid("product-chooser").Length() != 1 || r.testid("key-form").Length() != 0 {
				t.Fatalf("with two products the form does not ask for the product first (%v)", hdr)
			}
			if !strings.Contains(r.testid("product-chooser").Text(), "migo_live_…") {
				t.Errorf("the chooser does not show what MigoSMTP keys look like: %s", r.testid("product-chooser").Text())
			}
		}
		if r = c.get("/orgs/acme/keys/new?product=nothing"); r.testid("product-chooser").Length() != 1 || !strings.Contains(r.body, "Choose one of these products") {
			t.Error("an unknown product does not ask again")
		}
		// Step two: MigoSMTP's scopes, no kind choice.
		r = c.get("/orgs/acme/keys/new?product=migo")
		form := r.testid("key-form")
		if form.Length() != 1 || form.Find(`input[name="product"][value="migo"]`).Length() != 1 {
			t.Fatalf("the form for MigoSMTP: %.300s", r.body)
		}
		if form.Find(`input[name="scopes"][value="send:template"]`).Length() != 1 || form.Find(`input[name="scopes"][value="read"]`).Length() != 0 {
			t.Error("the form does not offer MigoSMTP's scopes alone")
		}
		if form.Find(`input[type="radio"][name="kind"]`).Length() != 0 || form.Find(`input[type="hidden"][name="kind"][value="private"]`).Length() != 1 {
			t.Error("a private-only product's form offers the kind")
		}
		if !strings.Contains(r.testid("form-product").Text(), "MigoSMTP") {
			t.Error("the form does not name the product")
		}

		// Create: the key has MigoSMTP's format; another product's scope is refused.
		bad := keyForm("Mailer")
		bad.Set("product", "migo")
		bad["scopes"] = []string{"read"}
		r = c.post("/orgs/acme/keys", bad)
		if r.StatusCode != http.StatusUnprocessableEntity || r.testid("key-form").Find(`input[name="product"][value="migo"]`).Length() != 1 {
			t.Errorf("a scope of another product: %d, the form kept its product: %v", r.StatusCode, r.testid("key-form").Length())
		}
		good := keyForm("Mailer")
		good.Set("product", "migo")
		good["scopes"] = []string{"send"}
		r = c.post("/orgs/acme/keys", good)
		secret := r.testid("revealed-key").AttrOr("value", "")
		if !strings.HasPrefix(secret, "migo_live_") || len(secret) != len("migo_live_")+36 {
			t.Fatalf("a MigoSMTP key: %d %q", r.StatusCode, secret)
		}

		// The list: a product column, each product's count, a filter.
		r = c.get("/orgs/acme/keys")
		if got := r.testid("key-product").Text(); !strings.Contains(got, "MigoSMTP") || !strings.Contains(got, "Default") {
			t.Errorf("product column %q", got)
		}
		if got := r.testid("keys-usage").Text(); !strings.Contains(got, "MigoSMTP: 1 of 5 active keys") || !strings.Contains(got, "Default: 1 of 100") {
			t.Errorf("counts %q", got)
		}
		r = c.get("/orgs/acme/keys?" + url.Values{"product": {"migo"}}.Encode())
		if r.testid("key-row").Length() != 1 || !strings.Contains(r.testid("key-row").Text(), "Mailer") {
			t.Errorf("the product filter: %d rows", r.testid("key-row").Length())
		}
		// The default key's page names its product.
		if r = c.get("/orgs/acme/keys/" + def.ID); !strings.Contains(r.testid("key-settings").Text(), "Default") {
			t.Error("the key page does not name the product")
		}
	})
}
