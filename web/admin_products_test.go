package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// scopesOf is the scope names a product's row lists, by spaces.
func scopesOf(list *goquery.Selection) string {
	return strings.Join(list.Find("code").Map(func(_ int, s *goquery.Selection) string { return s.Text() }), " ")
}

// productValues is a complete create form for GoSendAPI.
func productValues() url.Values {
	return url.Values{
		"slug": {"gosend"}, "name": {"GoSendAPI"}, "key_format": {"gsk_{env}_"},
		"scopes":       {"sms:send=Send SMS\r\nreports:read=Read reports"},
		"route_scopes": {"POST /v1/sms*=sms:send"}, "kinds": {"private"},
		"max_keys_per_org": {"20"}, "public_rate_limit": {"30"}, "public_block": {"1h"}, "api_url": {"https://api.gosend.example"},
	}
}

// TestAdminProducts: an operator sees the default product, read-only and
// marked, creates a product through the form (CSRF like every form),
// fixes what the form says is wrong without retyping the rest, and edits
// it; the operator navigation leads there.
func TestAdminProducts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		e.user("op@example.com", "Op", true)
		c := e.client()
		c.mustLogin("op@example.com")

		r := c.get("/admin/products")
		if r.StatusCode != 200 || r.testid("products-empty").Length() != 1 || r.testid("product-row").Length() != 1 {
			t.Fatalf("a fresh list: %d, empty state %d, rows %d", r.StatusCode, r.testid("products-empty").Length(), r.testid("product-row").Length())
		}
		if r.doc.Find(`nav a[href="/admin/products"], header a[href="/admin/products"]`).Length() == 0 {
			t.Error("the operator navigation has no link to /admin/products")
		}
		if r.text("product-slug") != "default" || r.testid("product-default").Length() != 1 || r.text("product-example") != "kp_sk_live_…" ||
			r.text("product-kinds") != "private, public" || scopesOf(r.testid("product-scopes")) != "read write" || r.text("product-max-keys") != "100" ||
			r.testid("product-edit").Length() != 0 {
			t.Errorf("the default product's row: %q %q %q %q %q", r.text("product-slug"), r.text("product-example"), r.text("product-kinds"), r.text("product-scopes"), r.text("product-max-keys"))
		}
		for field, want := range map[string]string{"max_keys_per_org": "100", "public_rate_limit": "5", "public_block": "5m"} {
			if v, _ := r.doc.Find(`#field-` + field).Attr("value"); v != want {
				t.Errorf("the create form's %s: %q, want the default product's %q", field, v, want)
			}
		}

		r = c.get("/admin/products/default")
		if r.StatusCode != 200 || r.testid("product-default-note").Length() != 1 || !strings.Contains(r.text("product-default-note"), "KEYPLANE_") ||
			r.testid("edit-product-form").Length() != 0 || r.doc.Find(`[data-testid="product-readonly"] fieldset[disabled]`).Length() != 1 {
			t.Errorf("the default product's page: %d", r.StatusCode)
		}
		if r := c.post("/admin/products/default", url.Values{"name": {"Mine"}, "kinds": {"private"}}); r.StatusCode != http.StatusConflict {
			t.Errorf("post to the default product: %d", r.StatusCode)
		}
		if r := c.get("/admin/products/nothing"); r.StatusCode != http.StatusNotFound {
			t.Errorf("an unknown product: %d", r.StatusCode)
		}
		if r := c.postRaw("/admin/products", productValues()); r.StatusCode != http.StatusForbidden || e.count("products") != 0 {
			t.Fatalf("no CSRF: %d", r.StatusCode)
		}

		// Wrong settings: each named beside its field, what was typed kept.
		bad := productValues()
		bad.Set("key_format", "gsk_")
		bad.Set("route_scopes", "POST /v1/sms=nope")
		r = c.post("/admin/products", bad)
		if r.StatusCode != 422 || r.testid("error-key_format").Length() != 1 || r.testid("error-route_scopes").Length() != 1 || e.count("products") != 0 {
			t.Fatalf("invalid form: %d %s", r.StatusCode, r.body)
		}
		if v, _ := r.doc.Find("#field-slug").Attr("value"); v != "gosend" {
			t.Errorf("the slug typed is lost: %q", v)
		}
		if v := r.doc.Find("#field-scopes").Text(); v != "sms:send=Send SMS\nreports:read=Read reports" {
			t.Errorf("the scopes typed are lost: %q", v)
		}
		if _, ok := r.doc.Find("#field-kinds-private").Attr("checked"); !ok {
			t.Error("the kind chosen is lost")
		}
		if v, _ := r.doc.Find("#field-key_format").Attr("aria-invalid"); v != "true" {
			t.Error("the wrong field is not marked invalid")
		}
		for field, value := range map[string]string{"public_block": "90s", "kinds": "", "slug": "Go Send", "max_keys_per_org": "many", "api_url": "nope", "key_format": "kp_gs_{env}_"} {
			f := productValues()
			f.Set(field, value)
			if r := c.post("/admin/products", f); r.StatusCode != 422 || r.testid("error-"+field).Length() != 1 {
				t.Errorf("%s %q: %d, error shown %d", field, value, r.StatusCode, r.testid("error-"+field).Length())
			}
		}

		r = c.post("/admin/products", productValues())
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/admin/products" {
			t.Fatalf("create: %d %s", r.StatusCode, r.body)
		}
		r = c.get("/admin/products")
		if !strings.Contains(r.body, "keys look like gsk_live_…") || r.testid("products-empty").Length() != 0 || r.testid("product-row").Length() != 2 {
			t.Fatalf("after create: no flash, or the rows are wrong")
		}
		row := r.testid("product-row").Eq(1)
		cell := func(id string) string { return strings.TrimSpace(row.Find(`[data-testid="` + id + `"]`).Text()) }
		if cell("product-slug") != "gosend" || cell("product-format") != "gsk_{env}_" || cell("product-example") != "gsk_live_…" ||
			cell("product-kinds") != "private" || scopesOf(row.Find(`[data-testid="product-scopes"]`)) != "sms:send reports:read" || cell("product-max-keys") != "20" ||
			row.Find(`[data-testid="product-default"]`).Length() != 0 || row.Find(`a[href="/admin/products/gosend"]`).Length() != 1 {
			t.Errorf("gosend's row: %q", row.Text())
		}
		if r := c.post("/admin/products", productValues()); r.StatusCode != http.StatusConflict || r.testid("error-slug").Length() != 1 {
			t.Errorf("a taken slug: %d", r.StatusCode)
		}

		// Edit: the form shows the settings; a wrong one keeps the others.
		r = c.get("/admin/products/gosend")
		for field, want := range map[string]string{"name": "GoSendAPI", "key_format": "gsk_{env}_", "max_keys_per_org": "20", "public_rate_limit": "30", "public_block": "1h", "api_url": "https://api.gosend.example"} {
			if v, _ := r.doc.Find(`[data-testid="edit-product-form"] #field-` + field).Attr("value"); v != want {
				t.Errorf("edit form %s: %q, want %q", field, v, want)
			}
		}
		if v := r.doc.Find("#field-route_scopes").Text(); v != "POST /v1/sms*=sms:send" {
			t.Errorf("edit form route scopes: %q", v)
		}
		if _, err := e.keys.Create(context.Background(), e.org("Acme", "acme", e.user("a@example.com", "A", false).ID).ID, "",
			apikey.Input{Product: "gosend", Description: "Sender", Kind: "private", Environment: "live", Scopes: []string{"sms:send"}}, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		edit := productValues()
		edit.Del("slug")
		edit.Set("name", "GoSend")
		edit.Set("key_format", "gs_{env}_")
		r = c.post("/admin/products/gosend", edit)
		if r.StatusCode != 422 || !strings.Contains(r.text("error-key_format"), "keys") {
			t.Fatalf("change the format of a product with keys: %d %q", r.StatusCode, r.text("error-key_format"))
		}
		if v, _ := r.doc.Find("#field-name").Attr("value"); v != "GoSend" {
			t.Errorf("the name typed is lost: %q", v)
		}
		edit.Set("key_format", "gsk_{env}_")
		edit.Set("kinds", "private,public")
		edit.Set("public_block", "0")
		if r := c.post("/admin/products/gosend", edit); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("save: %d %s", r.StatusCode, r.body)
		}
		p, _ := e.products.Get("gosend")
		if p.Name != "GoSend" || !p.PublicKeys || p.PublicBlock != 0 || p.MaxKeysPerOrg != 20 || len(p.RouteScopes) != 1 {
			t.Errorf("saved %+v", p)
		}
		if r := c.post("/admin/products/nothing", edit); r.StatusCode != http.StatusNotFound {
			t.Errorf("save an unknown product: %d", r.StatusCode)
		}
	})
}

// TestAdminDeleteProduct: an operator deletes a product without keys after
// a confirmation naming it; a product with keys and the default product
// stay.
func TestAdminDeleteProduct(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t), nil)
	e.user("op@example.com", "Op", true)
	c := e.client()
	c.mustLogin("op@example.com")
	wantRedirect(t, c.post("/admin/products", productValues()), "/admin/products")
	if _, err := e.products.Get("gosend"); err != nil {
		t.Fatalf("the product was not created: %v", err)
	}

	r := c.get("/admin/products/gosend")
	if href, _ := r.testid("delete-product").Attr("href"); href != "/admin/products/gosend/delete" {
		t.Fatalf("the edit page's delete link: %q", href)
	}
	r = c.get("/admin/products/gosend/delete")
	if r.StatusCode != 200 || r.text("confirm-product") != "GoSendAPI" || r.testid("delete-product-form").Length() != 1 {
		t.Fatalf("the confirmation: %d %q", r.StatusCode, r.text("confirm-product"))
	}
	if _, err := e.products.Get("gosend"); err != nil {
		t.Fatal("GET deleted the product")
	}
	wantRedirect(t, c.post("/admin/products/gosend/delete", nil), "/admin/products")
	if _, err := e.products.Get("gosend"); err == nil {
		t.Fatal("the product is still there")
	}
	if !strings.Contains(c.get("/admin/products").body, "Deleted the product GoSendAPI.") {
		t.Error("no flash after deleting")
	}

	// With a key, it stays; so does the default product.
	wantRedirect(t, c.post("/admin/products", productValues()), "/admin/products")
	u := e.user("a@example.com", "A", false)
	o := e.org("Acme", "acme", u.ID)
	if _, err := e.keys.Create(context.Background(), o.ID, "", apikey.Input{Product: "gosend", Description: "k", Kind: "private", Environment: "live", Scopes: []string{"sms:send"}}, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.post("/admin/products/gosend/delete", nil), http.StatusConflict)
	wantStatus(t, c.get("/admin/products/default/delete"), http.StatusConflict)
	wantStatus(t, c.post("/admin/products/default/delete", nil), http.StatusConflict)
	if _, err := e.products.Get("gosend"); err != nil {
		t.Error("a product with keys was deleted")
	}
}
