package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"keyplane/internal/optoken"
	"keyplane/internal/store/storetest"
)

// TestAdminTokens: an operator creates a token (shown once, never stored
// by the browser), sees it listed with its last use and expiry, and revokes
// it after a confirmation; the form needs the CSRF token like every other.
func TestAdminTokens(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t), nil)
	e.user("op@example.com", "Op", true)
	c := e.client()
	c.mustLogin("op@example.com")

	r := c.get("/admin/tokens")
	if r.StatusCode != 200 || r.testid("tokens-empty").Length() != 1 {
		t.Fatalf("empty list: %d", r.StatusCode)
	}
	// Without the CSRF token: 403, nothing created.
	if r := c.postRaw("/admin/tokens", url.Values{"name": {"Sneaky"}}); r.StatusCode != http.StatusForbidden || e.count("operator_tokens") != 0 {
		t.Fatalf("no CSRF: %d", r.StatusCode)
	}
	r = c.post("/admin/tokens", url.Values{"name": {""}, "expires_in": {"soon"}, "ips": {"nope"}})
	if r.StatusCode != 422 || r.doc.Find(`#field-name-error`).Length() != 1 || r.doc.Find(`#field-expires_in-error`).Length() != 1 || r.doc.Find(`#field-ips-error`).Length() != 1 {
		t.Fatalf("invalid form: %d %s", r.StatusCode, r.body)
	}

	r = c.post("/admin/tokens", url.Values{"name": {"Billing backend"}, "expires_in": {"30d"}, "ips": {"127.0.0.1\n10.0.0.0/8"}})
	secret, _ := r.testid("token-secret").Attr("value")
	if r.StatusCode != http.StatusCreated || optoken.Parse(secret, e.cfg.KeyPrefix) != nil {
		t.Fatalf("create: %d %q", r.StatusCode, secret)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	if r.text("token-hint") != optoken.Hint(secret) || r.text("token-status") != "active" ||
		r.text("token-expires") != e.clock.Now().Add(30*24*time.Hour).UTC().Format(timeLayout) || r.text("token-last-used") != "Never" {
		t.Errorf("row: %q %q %q %q", r.text("token-hint"), r.text("token-status"), r.text("token-expires"), r.text("token-last-used"))
	}
	// Shown once: the list never carries it again.
	r = c.get("/admin/tokens")
	if strings.Contains(r.body, secret) || r.testid("token-row").Length() != 1 {
		t.Fatalf("the list shows the token again, or not the row")
	}
	var tok optoken.Token
	if err := e.db.Where("hint = ?", optoken.Hint(secret)).Take(&tok).Error; err != nil || tok.CreatedBy != "op@example.com" {
		t.Fatalf("stored: %+v %v", tok, err)
	}

	// Revoke: a confirmation naming the token, then the row says so.
	r = c.get("/admin/tokens/" + tok.ID + "/revoke")
	if r.StatusCode != 200 || r.text("confirm-name") != "Billing backend" || !strings.Contains(r.body, "cannot be undone") {
		t.Fatalf("confirm: %d", r.StatusCode)
	}
	r = c.get("/admin/tokens/"+tok.ID+"/revoke", "HX-Request", "true")
	if r.testid("revoke-token-modal").Length() != 1 {
		t.Errorf("htmx confirm is no dialog")
	}
	r = c.post("/admin/tokens/"+tok.ID+"/revoke", nil)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.StatusCode)
	}
	r = c.get("/admin/tokens")
	if r.text("token-status") != "revoked" || r.testid("token-revoke").Length() != 0 {
		t.Errorf("after revoke: %q", r.text("token-status"))
	}
	if r := c.post("/admin/tokens/"+tok.ID+"/revoke", nil); r.StatusCode != http.StatusConflict {
		t.Errorf("revoke twice: %d", r.StatusCode)
	}
}
