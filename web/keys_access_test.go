package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keyplane/internal/apikey"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func TestKeysMemberIsReadOnly(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		bob := k.user("bob@example.com", "Bob", false)
		k.addMember(k.acme.ID, bob.ID, org.Member)
		key := k.newKey(k.acme.ID, apikey.Input{Description: "Billing backend", Scopes: []string{"read"}})

		member := k.client()
		member.mustLogin("bob@example.com")
		r := member.get("/orgs/acme/keys")
		wantStatus(t, r, http.StatusOK)
		if got := rowIDs(r); len(got) != 1 || got[0] != key.ID {
			t.Fatalf("member sees rows %v, want the key", got)
		}
		if r.testid("create-key").Length() != 0 || strings.Contains(r.body, "/orgs/acme/keys/new") {
			t.Fatal("member: the list offers to create a key")
		}
		if r.testid("api-hint").Length() != 0 {
			t.Fatal("member: the list explains how to manage keys from code")
		}
		// Admins learn how a program manages keys, and where the reference is.
		hint := k.admin.get("/orgs/acme/keys").testid("api-hint")
		if !strings.Contains(hint.Text(), "keys:manage") || hint.Find(`a[href="/api/docs"]`).Length() != 1 {
			t.Fatalf("admin: the API hint is missing or incomplete: %q", hint.Text())
		}
		r = member.get("/orgs/acme/keys/" + key.ID)
		wantStatus(t, r, http.StatusOK)
		if r.text("key-description") != "Billing backend" || !strings.Contains(r.text("key-settings"), "read") {
			t.Fatalf("member: the key page lacks the key's settings: %.400s", r.body)
		}
		if r.testid("key-form").Length() != 0 || r.testid("rotate-key").Length() != 0 || r.testid("revoke-key").Length() != 0 ||
			strings.Contains(r.body, "/revoke") || strings.Contains(r.body, "/rotate") {
			t.Fatal("member: the key page offers edit, rotate or revoke")
		}
		// The admin sees them, so the check above can fail.
		r = k.admin.get("/orgs/acme/keys/" + key.ID)
		if r.testid("key-form").Length() != 1 || r.testid("rotate-key").Length() != 1 || r.testid("revoke-key").Length() != 1 {
			t.Fatal("admin: the key page lacks edit, rotate or revoke")
		}

		edit := url.Values{"description": {"Hijacked"}}
		rotate := url.Values{"grace": {"0"}, "form_token": {randomToken(16)}}
		for _, a := range adminActions(key.ID, edit, rotate) {
			r := member.do(a.request(member))
			wantStatus(t, r, http.StatusForbidden)
			if r.testid("error-page").Length() != 1 {
				t.Fatalf("member %s %s: 403 is not the error page", a.method, a.path)
			}
		}
		// And with htmx: a toast, still 403.
		r = member.post("/orgs/acme/keys/"+key.ID+"/revoke", nil, "HX-Request", "true")
		wantStatus(t, r, http.StatusForbidden)
		if got := k.reload(key.ID); got.RevokedAt != nil || got.ReplacedByID != nil || got.Description != "Billing backend" {
			t.Fatalf("a member's requests changed the key: %+v", got)
		}
		if n := k.count("api_keys"); n != 1 {
			t.Fatalf("%d keys after a member's requests, want 1", n)
		}
	})
}

// action is a request to one of the admin-only key routes.
type action struct {
	method, path string
	form         url.Values
}

func (a action) request(c *client) *http.Request {
	c.t.Helper()
	if a.method == http.MethodGet {
		return c.request(http.MethodGet, a.path, nil)
	}
	f := url.Values{"_csrf": {c.token()}}
	for k, v := range a.form {
		f[k] = v
	}
	req := c.request(http.MethodPost, a.path, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// adminActions lists every admin-only request on acme's keys; id names the
// key of those that take one. The forms are valid, so only access decides.
func adminActions(id string, edit, rotate url.Values) []action {
	base := "/orgs/acme/keys/" + id
	return []action{
		{http.MethodGet, "/orgs/acme/keys/new", nil},
		{http.MethodPost, "/orgs/acme/keys", keyForm("Intruder")},
		{http.MethodPost, base, edit},
		{http.MethodGet, base + "/revoke", nil},
		{http.MethodPost, base + "/revoke", nil},
		{http.MethodGet, base + "/rotate", nil},
		{http.MethodPost, base + "/rotate", rotate},
		{http.MethodGet, base + "/end-grace", nil},
		{http.MethodPost, base + "/end-grace", nil},
	}
}

func TestKeysOtherOrgIsNotFound(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		carol := k.user("carol@example.com", "Carol", false)
		globex := k.org("Globex", "globex", carol.ID)
		acmeKey := k.newKey(k.acme.ID, apikey.Input{Description: "Acme backend"})
		globexKey := k.newKey(globex.ID, apikey.Input{Description: "Globex backend"})
		edit := url.Values{"description": {"Hijacked"}, "kind": {"private"}, "environment": {"live"}}
		rotate := url.Values{"grace": {"0"}, "form_token": {randomToken(16)}}

		// A user of another org: 404 for everything under acme.
		other := k.client()
		other.mustLogin("carol@example.com")
		wantStatus(t, other.get("/orgs/globex/keys/"+globexKey.ID), http.StatusOK)
		want404(t, other.get("/orgs/acme/keys"))
		want404(t, other.get("/orgs/acme/keys/"+acmeKey.ID))
		for _, a := range adminActions(acmeKey.ID, edit, rotate) {
			r := other.do(a.request(other))
			if r.StatusCode != http.StatusNotFound || r.testid("error-page").Length() != 1 {
				t.Fatalf("other org %s %s: status %d, want the 404 page", a.method, a.path, r.StatusCode)
			}
		}

		// An acme admin with globex's key id under acme: 404, and the key
		// untouched.
		want404(t, k.admin.get("/orgs/acme/keys/"+globexKey.ID))
		for _, a := range adminActions(globexKey.ID, edit, rotate)[2:] {
			r := k.admin.do(a.request(k.admin))
			if r.StatusCode != http.StatusNotFound || r.testid("error-page").Length() != 1 {
				t.Fatalf("admin, other org's key, %s %s: status %d, want the 404 page", a.method, a.path, r.StatusCode)
			}
		}
		// A bad grace must not reveal whether the id exists either.
		want404(t, k.admin.post("/orgs/acme/keys/"+globexKey.ID+"/rotate", url.Values{"grace": {"2h"}}))

		// Malformed ids.
		for _, id := range []string{"not-a-uuid", "0", "../globex", "%27%20OR%201=1", strings.Repeat("f", 300)} {
			want404(t, k.admin.get("/orgs/acme/keys/"+id))
			for _, a := range adminActions(id, edit, rotate)[2:] {
				r := k.admin.do(a.request(k.admin))
				if r.StatusCode != http.StatusNotFound {
					t.Fatalf("malformed id %s %s: status %d, want 404", a.method, a.path, r.StatusCode)
				}
			}
		}

		for _, id := range []string{acmeKey.ID, globexKey.ID} {
			if got := k.reload(id); got.RevokedAt != nil || got.ReplacedByID != nil || got.Description == "Hijacked" {
				t.Fatalf("key %s changed: %+v", id, got)
			}
		}
		if n := k.count("api_keys"); n != 2 {
			t.Fatalf("%d keys, want 2", n)
		}
	})
}
