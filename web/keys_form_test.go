package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keyplane/internal/apikey"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// formValue returns the value of the form field name as the page shows it.
func formValue(r *resp, name string) string {
	f := r.testid("key-form")
	if ta := f.Find(`textarea[name="` + name + `"]`); ta.Length() > 0 {
		return ta.Text()
	}
	return f.Find(`input[name="`+name+`"]:not([type=radio]):not([type=checkbox])`).AttrOr("value", "")
}

// checked returns the checked values of the radio buttons or checkboxes name.
func checked(r *resp, name string) []string {
	var out []string
	r.testid("key-form").Find(`input[name="` + name + `"][checked]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, s.AttrOr("value", ""))
	})
	return out
}

func TestKeyCreateValidation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		for _, tc := range []struct {
			name   string
			change url.Values
			field  string
			says   string
		}{
			{"no description", url.Values{"description": {"   "}}, "description", "Describe"},
			{"long description", url.Values{"description": {strings.Repeat("é", 201)}}, "description", "200"},
			{"public without domains", url.Values{"kind": {"public"}, "domains": {""}}, "domains", "public key"},
			{"bad domain", url.Values{"kind": {"public"}, "domains": {"exa mple.com"}}, "domains", "exa mple.com"},
			{"bad CIDR", url.Values{"ips": {"10.0.0.0/8\n10.0.0.0/33"}}, "ips", "10.0.0.0/33"},
			{"unknown scope", url.Values{"scopes": {"read", "sms:send"}}, "scopes", "sms:send"},
			{"bad kind", url.Values{"kind": {"secret"}}, "kind", "private or public"},
			{"bad environment", url.Values{"environment": {"prod"}}, "environment", "live or test"},
			{"past expiry", url.Values{"expires_at": {"2001-01-01"}}, "expires_at", "future"},
			{"bad rate limit", url.Values{"rate_limit_per_minute": {"lots"}}, "rate_limit_per_minute", ""},
		} {
			form := keyForm("Typed description")
			form.Set("domains", "typed.example.com")
			form.Set("ips", "192.0.2.1")
			form["scopes"] = []string{"read"}
			for f, v := range tc.change {
				form[f] = v
			}
			for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
				r := k.admin.post("/orgs/acme/keys", form, hdr...)
				wantStatus(t, r, http.StatusUnprocessableEntity)
				msg := r.text("error-" + tc.field)
				if msg == "" || !strings.Contains(msg, tc.says) {
					t.Fatalf("%s %v: error-%s %q, want one mentioning %q", tc.name, hdr, tc.field, msg, tc.says)
				}
				if n := r.doc.Find(`[data-testid^="error-"]`).Length(); n != 1 {
					t.Errorf("%s: %d field messages, want 1", tc.name, n)
				}
				if r.testid("form-error").Length() != 1 || r.testid("revealed-key").Length() != 0 {
					t.Fatalf("%s: want the form's message and no reveal", tc.name)
				}
				if hdr != nil && (!isFragment(r) || r.testid("new-key-modal").Length() != 1) {
					t.Fatalf("%s: htmx 422 is not the form dialog alone: %.300s", tc.name, r.body)
				}
				if hdr == nil && isFragment(r) {
					t.Fatalf("%s: a plain 422 is not a page", tc.name)
				}
				// What was typed is kept.
				want := form.Get("description")
				if got := formValue(r, "description"); got != want {
					t.Errorf("%s: description %q, want %q", tc.name, got, want)
				}
				if got := formValue(r, "domains"); got != form.Get("domains") {
					t.Errorf("%s: domains %q, want %q", tc.name, got, form.Get("domains"))
				}
				if got := formValue(r, "ips"); got != form.Get("ips") {
					t.Errorf("%s: ips %q, want %q", tc.name, got, form.Get("ips"))
				}
				if got := checked(r, "scopes"); len(got) == 0 || got[0] != "read" {
					t.Errorf("%s: checked scopes %v, want read", tc.name, got)
				}
				if got := checked(r, "kind"); tc.field != "kind" && (len(got) != 1 || got[0] != form.Get("kind")) {
					t.Errorf("%s: checked kind %v, want %s", tc.name, got, form.Get("kind"))
				}
			}
		}
		// Several at once.
		form := url.Values{"kind": {"public"}, "environment": {"live"}, "ips": {"nope"}, "scopes": {"root"}}
		r := k.admin.post("/orgs/acme/keys", form)
		wantStatus(t, r, http.StatusUnprocessableEntity)
		for _, f := range []string{"description", "domains", "ips", "scopes"} {
			if r.text("error-"+f) == "" {
				t.Errorf("several errors: no error-%s", f)
			}
		}
		if n := k.count("api_keys"); n != 0 {
			t.Fatalf("%d keys after refused creates, want 0", n)
		}
		// The form token of a refused post still works once the input is fixed.
		form = keyForm("")
		wantStatus(t, k.admin.post("/orgs/acme/keys", form), http.StatusUnprocessableEntity)
		form.Set("description", "Fixed")
		k.createKey(k.admin, form)
	})
}

func TestKeyLimit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, map[string]string{"KEYPLANE_MAX_KEYS_PER_ORG": "2"})
		c := k.admin
		r := c.get("/orgs/acme/keys")
		if r.testid("create-key").Is("[disabled]") || r.testid("create-key").AttrOr("href", "") != "/orgs/acme/keys/new" {
			t.Fatal("below the limit the create button is not a link")
		}
		_, one := k.createKey(c, keyForm("One"))
		_, two := k.createKey(c, keyForm("Two"))

		r = c.get("/orgs/acme/keys")
		wantStatus(t, r, http.StatusOK)
		btn := r.testid("create-key")
		if btn.Length() != 1 || !btn.Is("button[disabled]") {
			t.Fatalf("at the limit the create button is not disabled: %.300s", r.body)
		}
		reason := r.doc.Find("#" + btn.AttrOr("aria-describedby", "-"))
		if !strings.Contains(reason.Text(), "limit") || !strings.Contains(reason.Text(), "2") {
			t.Fatalf("the disabled button's reason %q does not name the limit", reason.Text())
		}
		if got := r.text("keys-usage"); got != "2 of 2 active keys" {
			t.Errorf("usage %q, want 2 of 2 active keys", got)
		}
		r = c.get("/orgs/acme/keys/new")
		wantStatus(t, r, http.StatusOK)
		if !strings.Contains(r.text("form-error"), "limit") || r.testid("key-form").Find(`button[type=submit][disabled]`).Length() != 1 {
			t.Fatal("the create form at the limit neither says so nor disables its button")
		}

		for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
			form := keyForm("Three")
			form.Set("ips", "192.0.2.0/24")
			r = c.post("/orgs/acme/keys", form, hdr...)
			if r.StatusCode < 400 || r.StatusCode >= 500 || r.testid("error-page").Length() != 0 {
				t.Fatalf("over the limit %v: status %d or an error page", hdr, r.StatusCode)
			}
			if r.testid("key-form").Length() != 1 || !strings.Contains(r.text("form-error"), "limit") || r.testid("revealed-key").Length() != 0 {
				t.Fatalf("over the limit %v: want the form with a message naming the limit: %.400s", hdr, r.body)
			}
			if formValue(r, "ips") != "192.0.2.0/24" {
				t.Error("over the limit: the form lost what was typed")
			}
		}
		if n := k.count("api_keys"); n != 2 {
			t.Fatalf("%d keys over the limit, want 2", n)
		}

		// A rotation always works; the key in its grace period does not count.
		r = c.post("/orgs/acme/keys/"+one.ID+"/rotate", url.Values{"grace": {"24h"}, "form_token": {randomToken(16)}})
		wantStatus(t, r, http.StatusOK)
		revealed(t, r)
		if n := k.count("api_keys"); n != 3 {
			t.Fatalf("%d keys after a rotation at the limit, want 3", n)
		}
		if r = c.get("/orgs/acme/keys"); !r.testid("create-key").Is("button[disabled]") {
			t.Fatal("after a rotation at the limit the create button is enabled")
		}
		// Revoking one frees a place.
		wantRedirect(t, c.post("/orgs/acme/keys/"+two.ID+"/revoke", nil), "/orgs/acme/keys/"+two.ID)
		if r = c.get("/orgs/acme/keys"); r.testid("create-key").Is("[disabled]") {
			t.Fatal("after a revoke the create button is still disabled")
		}
		k.createKey(c, keyForm("Three"))
	})
}

func TestKeyEdit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		c := k.admin
		form := keyForm("Old name")
		form["scopes"] = []string{"read"}
		_, key := k.createKey(c, form)
		page := "/orgs/acme/keys/" + key.ID

		r := c.get(page)
		wantStatus(t, r, http.StatusOK)
		if formValue(r, "description") != "Old name" || strings.Join(checked(r, "scopes"), ",") != "read" {
			t.Fatal("the edit form does not hold the key's settings")
		}
		if r.testid("key-form").Find(`input[name="kind"], input[name="environment"]`).Length() != 0 {
			t.Fatal("the edit form offers to change kind or environment")
		}

		expiry := k.clock.Now().AddDate(0, 0, 30).Format("2006-01-02")
		edit := url.Values{
			"description": {"New name"}, "scopes": {"write"}, "domains": {"api.example.com"},
			"ips": {"192.0.2.0/24\n2001:db8::1"}, "expires_at": {expiry}, "rate_limit_per_minute": {"60"},
			"kind": {"public"}, "environment": {"test"},
		}
		wantRedirect(t, c.post(page, edit), page)
		r = c.get(page)
		wantStatus(t, r, http.StatusOK)
		if got := r.text("key-description"); got != "New name" {
			t.Errorf("description %q, want New name", got)
		}
		settings := r.text("key-settings")
		for _, want := range []string{"Kindprivate", "Environmentlive", "Scopeswrite", "api.example.com", "192.0.2.0/24, 2001:db8::1/128", "60 per minute across all client IPs"} {
			if !strings.Contains(strings.Join(strings.Fields(settings), ""), strings.ReplaceAll(want, " ", "")) {
				t.Errorf("settings %q lack %q", settings, want)
			}
		}
		if !strings.Contains(r.text("key-expiry"), "expires in 30 days") && !strings.Contains(r.text("key-expiry"), "expires in 31 days") {
			t.Errorf("expiry %q, want expires in 30 days", r.text("key-expiry"))
		}
		if formValue(r, "expires_at") != expiry || formValue(r, "rate_limit_per_minute") != "60" {
			t.Errorf("the form shows expiry %q and rate %q", formValue(r, "expires_at"), formValue(r, "rate_limit_per_minute"))
		}
		if !strings.Contains(r.body, "Saved the changes to New name.") {
			t.Error("no flash after saving")
		}
		got := k.reload(key.ID)
		if got.Kind != apikey.Private || got.Environment != apikey.Live || got.KeyHash == nil || string(got.KeyHash) != string(key.KeyHash) {
			t.Fatalf("edit changed kind, environment or the key itself: %+v", got)
		}
		if got.ExpiresAt == nil || got.ExpiresAt.Add(-time.Nanosecond).Format("2006-01-02") != expiry || got.ExpiresAt.Format("15:04:05") != "00:00:00" {
			t.Fatalf("expires_at %v, want the end of %s UTC", got.ExpiresAt, expiry)
		}

		// Bad input: 422 on the key page, messages, typed values, nothing saved.
		bad := url.Values{"description": {""}, "ips": {"300.1.1.1"}, "scopes": {"write", "bogus"}, "domains": {"*.*"}, "rate_limit_per_minute": {"0"}}
		r = c.post(page, bad)
		wantStatus(t, r, http.StatusUnprocessableEntity)
		for _, f := range []string{"description", "ips", "scopes", "domains", "rate_limit_per_minute"} {
			if r.text("error-"+f) == "" {
				t.Errorf("bad edit: no error-%s", f)
			}
		}
		if r.text("key-description") != "New name" || r.testid("key-settings").Length() != 1 {
			t.Error("bad edit: not the key page of the stored key")
		}
		if formValue(r, "ips") != "300.1.1.1" || formValue(r, "domains") != "*.*" {
			t.Error("bad edit: the form lost what was typed")
		}
		if r.testid("key-form").AttrOr("action", "") != page {
			t.Errorf("bad edit: the form posts to %q", r.testid("key-form").AttrOr("action", ""))
		}
		if after := k.reload(key.ID); after.Description != "New name" || strings.Join(after.IPs, ",") != "192.0.2.0/24,2001:db8::1/128" {
			t.Fatalf("a refused edit changed the key: %+v", after)
		}

		// A public key keeps needing a domain.
		pub := keyForm("Widget")
		pub.Set("kind", "public")
		pub.Set("domains", "shop.example.com")
		_, widget := k.createKey(c, pub)
		r = c.post("/orgs/acme/keys/"+widget.ID, url.Values{"description": {"Widget"}, "domains": {""}, "kind": {"private"}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if r.text("error-domains") == "" {
			t.Fatal("removing a public key's last domain: no error-domains")
		}
	})
}

func TestKeyRevoke(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		c := k.admin
		_, key := k.createKey(c, keyForm("Doomed backend"))
		page := "/orgs/acme/keys/" + key.ID

		for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
			r := c.get(page+"/revoke", hdr...)
			wantStatus(t, r, http.StatusOK)
			if r.text("confirm-description") != "Doomed backend" || r.text("confirm-hint") != key.Hint {
				t.Fatalf("revoke %v: the dialog names %q %q, want the key's description and hint", hdr, r.text("confirm-description"), r.text("confirm-hint"))
			}
			if !strings.Contains(r.body, "cannot be undone") {
				t.Fatalf("revoke %v: the dialog does not say it cannot be undone", hdr)
			}
			if r.doc.Find(`form[method="post"][action="`+page+`/revoke"]`).Length() != 1 {
				t.Fatalf("revoke %v: no form posting to the revoke URL", hdr)
			}
			if hdr != nil && (!isFragment(r) || r.testid("revoke-modal").Length() != 1) {
				t.Fatalf("htmx revoke confirmation is not the dialog alone: %.300s", r.body)
			}
			if hdr == nil && isFragment(r) {
				t.Fatal("the revoke confirmation without htmx is not a page")
			}
		}
		if k.reload(key.ID).RevokedAt != nil {
			t.Fatal("GET revoke revoked the key")
		}

		wantRedirect(t, c.post(page+"/revoke", nil), page)
		if k.reload(key.ID).RevokedAt == nil {
			t.Fatal("the key is not revoked")
		}
		r := c.get(page)
		wantStatus(t, r, http.StatusOK)
		if r.text("key-status") != "revoked" {
			t.Fatalf("key page status %q, want revoked", r.text("key-status"))
		}
		if !strings.Contains(r.body, "Revoked "+key.Hint+" (Doomed backend).") {
			t.Error("no flash after revoking")
		}
		r = c.get("/orgs/acme/keys")
		if got := r.testid("key-row").Find(`[data-testid="key-status"]`).Text(); got != "revoked" {
			t.Fatalf("list status %q, want revoked", got)
		}
		if r.testid("key-form").Length() != 0 || r.testid("rotate-key").Length() != 0 || r.testid("revoke-key").Length() != 0 {
			t.Fatal("a revoked key's page still offers edit, rotate or revoke")
		}

		wantConflict := func(r *resp) {
			t.Helper()
			wantStatus(t, r, http.StatusConflict)
			if r.testid("error-page").Length() != 1 && r.testid("form-error").Length() != 1 {
				t.Fatalf("%s %s: 409 without a message", r.Request.Method, r.Request.URL.Path)
			}
		}
		wantConflict(c.post(page, url.Values{"description": {"Revived"}}))
		wantConflict(c.post(page, url.Values{"description": {""}}))
		wantConflict(c.post(page+"/revoke", nil))
		wantConflict(c.get(page + "/revoke"))
		wantConflict(c.get(page + "/rotate"))
		wantConflict(c.post(page+"/rotate", url.Values{"grace": {"0"}, "form_token": {randomToken(16)}}))
		r = c.post(page+"/revoke", nil, "HX-Request", "true")
		wantStatus(t, r, http.StatusConflict)
		if r.Header.Get("HX-Retarget") == "" || !strings.Contains(r.body, "already revoked") {
			t.Fatalf("htmx second revoke: not a toast saying so: %.300s", r.body)
		}
		if got := k.reload(key.ID); got.Description != "Doomed backend" || got.ReplacedByID != nil {
			t.Fatalf("requests on a revoked key changed it: %+v", got)
		}
		if n := k.count("api_keys"); n != 1 {
			t.Fatalf("%d keys, want 1", n)
		}
	})
}

func TestKeyRotate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		c := k.admin
		form := keyForm("Rotating backend")
		form["scopes"] = []string{"read"}
		form.Set("ips", "192.0.2.0/24")
		oldSecret, old := k.createKey(c, form)
		page := "/orgs/acme/keys/" + old.ID

		for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
			r := c.get(page+"/rotate", hdr...)
			wantStatus(t, r, http.StatusOK)
			if r.doc.Find(`input[name="grace"]`).Length() != 4 || r.doc.Find(`input[name="grace"][value="0"]`).Length() != 1 {
				t.Fatalf("rotate %v: no grace choices", hdr)
			}
			if hdr != nil && (!isFragment(r) || r.testid("rotate-modal").Length() != 1) {
				t.Fatalf("htmx rotate form is not the dialog alone: %.300s", r.body)
			}
		}

		// Bad grace: 422 with the form, nothing created.
		r := c.post(page+"/rotate", url.Values{"grace": {"2h"}, "form_token": {randomToken(16)}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if !strings.Contains(r.text("form-error"), "Choose when the old key stops working") || r.testid("confirm-rotate").Length() != 1 {
			t.Fatalf("bad grace: form error %q, want the grace's message with the form", r.text("form-error"))
		}
		if n := k.count("api_keys"); n != 1 {
			t.Fatalf("%d keys after a bad grace, want 1", n)
		}

		token := randomToken(16)
		r = c.post(page+"/rotate", url.Values{"grace": {"1h"}, "form_token": {token}})
		wantStatus(t, r, http.StatusOK)
		newSecret := revealed(t, r)
		if newSecret == oldSecret {
			t.Fatal("rotation revealed the old key")
		}
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Fatalf("rotate reveal Cache-Control %q", got)
		}
		if !strings.Contains(r.body, "will not be shown again") || !strings.Contains(r.text("rotation-note"), old.Hint) {
			t.Fatal("the rotate reveal lacks the warning or the old key's note")
		}
		next := k.keyBySecret(newSecret)
		if next.ReplacesID == nil || *next.ReplacesID != old.ID || next.Description != old.Description ||
			strings.Join(next.Scopes, ",") != "read" || strings.Join(next.IPs, ",") != "192.0.2.0/24" {
			t.Fatalf("the successor does not carry the old key's settings: %+v", next)
		}

		r = c.get(page)
		wantStatus(t, r, http.StatusOK)
		if got := r.text("key-expiry"); !strings.Contains(got, "expires in") {
			t.Fatalf("old key expiry %q, want expires in …", got)
		}
		if r.text("key-status") != "expiring" {
			t.Errorf("old key status %q, want expiring", r.text("key-status"))
		}
		succ := r.testid("successor").Find("a")
		if succ.AttrOr("href", "") != "/orgs/acme/keys/"+next.ID || strings.TrimSpace(succ.Text()) != next.Hint {
			t.Fatalf("successor link %q %q, want the new key", succ.AttrOr("href", ""), succ.Text())
		}
		if r.testid("rotate-key").Length() != 0 || r.testid("key-form").Length() != 0 {
			t.Error("a replaced key still offers rotate or edit")
		}
		r = c.get("/orgs/acme/keys/" + next.ID)
		if r.doc.Find(`a[href="`+page+`"]`).Length() != 1 || r.text("key-status") != "active" {
			t.Error("the new key's page does not link to the key it replaces, or is not active")
		}

		// A re-post of the same form creates nothing.
		r = c.post(page+"/rotate", url.Values{"grace": {"1h"}, "form_token": {token}})
		if r.StatusCode < 400 || r.testid("revealed-key").Length() != 0 || strings.Contains(r.body, newSecret) {
			t.Fatalf("rotate re-post: status %d, want a refusal without the key", r.StatusCode)
		}
		if !strings.Contains(r.text("form-error"), "already created") {
			t.Errorf("rotate re-post: message %q", r.text("form-error"))
		}
		// Rotating the replaced key again: 409.
		r = c.post(page+"/rotate", url.Values{"grace": {"1h"}, "form_token": {randomToken(16)}})
		wantStatus(t, r, http.StatusConflict)
		wantStatus(t, c.get(page+"/rotate"), http.StatusConflict)
		if n := k.count("api_keys"); n != 2 {
			t.Fatalf("%d keys after re-posts, want 2", n)
		}

		// Past the grace period the old key is expired.
		k.clock.Advance(2 * time.Hour)
		r = c.get(page)
		if r.text("key-status") != "expired" || !strings.Contains(r.text("key-expiry"), "expired") {
			t.Fatalf("two hours on, the old key is %q (%q), want expired", r.text("key-status"), r.text("key-expiry"))
		}
		r = c.get("/orgs/acme/keys?status=expired")
		if got := rowIDs(r); len(got) != 1 || got[0] != old.ID {
			t.Fatalf("expired filter: rows %v, want the old key", got)
		}

		// grace=0: the old key stops at once; htmx gets the dialog.
		_, now := k.createKey(c, keyForm("Immediate"))
		r = c.post("/orgs/acme/keys/"+now.ID+"/rotate", url.Values{"grace": {"0"}, "form_token": {randomToken(16)}}, "HX-Request", "true")
		wantStatus(t, r, http.StatusOK)
		revealed(t, r)
		if !isFragment(r) || r.testid("reveal-modal").Length() != 1 || r.Header.Get("HX-Trigger") != "keys-changed" {
			t.Fatal("htmx rotate is not the reveal dialog with keys-changed")
		}
		if !strings.Contains(r.text("rotation-note"), "stops working now") {
			t.Errorf("grace=0 note %q", r.text("rotation-note"))
		}
		if r = c.get("/orgs/acme/keys/" + now.ID); r.text("key-status") != "expired" {
			t.Fatalf("grace=0: old key status %q, want expired", r.text("key-status"))
		}
	})
}
