package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/usage"
)

// TestKeyDisableEnable: an admin disables a key from its row (after a
// confirmation that names it) and the data plane refuses it with
// key_disabled; the list filters by it; enabling from the key's page lets it
// work again, and both are in the audit log.
func TestKeyDisableEnable(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		c := k.admin
		secret, key := k.createKey(c, keyForm("Batch worker"))
		page := "/orgs/acme/keys/" + key.ID

		// The row offers Disable, which asks first, in a dialog with htmx
		// and on a page without.
		list := c.get("/orgs/acme/keys")
		row := list.testid("key-row")
		if got := row.Find(`[data-testid="disable-key"]`).AttrOr("href", ""); got != page+"/disable?back=list" {
			t.Fatalf("the row's disable link is %q", got)
		}
		k.insertUsage(usage.Hourly{KeyID: key.ID, OrgID: k.acme.ID, Hour: k.clock.Now().UTC().Truncate(time.Hour), Outcome: "allowed", Count: 7})
		for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
			r := c.get(page+"/disable?back=list", hdr...)
			if got := r.text("confirm-requests"); got != "It had 7 requests in the last 24 hours." {
				t.Errorf("disable %v: the dialog says %q of the key's traffic", hdr, got)
			}
			wantStatus(t, r, http.StatusOK)
			if r.text("confirm-description") != "Batch worker" || r.text("confirm-hint") != key.Hint {
				t.Fatalf("disable %v: the dialog names %q %q", hdr, r.text("confirm-description"), r.text("confirm-hint"))
			}
			if hdr != nil && (!isFragment(r) || r.testid("disable-modal").Length() != 1) {
				t.Fatalf("htmx disable confirmation is not the dialog alone: %.300s", r.body)
			}
			if r.doc.Find(`form[action="`+page+`/disable"] input[name="back"][value="list"]`).Length() != 1 {
				t.Fatalf("disable %v: the form does not return to the list", hdr)
			}
		}
		if k.reload(key.ID).DisabledAt != nil {
			t.Fatal("GET disable disabled the key")
		}
		if code := k.verifyCode(secret); code != "" {
			t.Fatalf("before disabling: %q", code)
		}

		wantRedirect(t, c.post(page+"/disable", url.Values{"back": {"list"}}), "/orgs/acme/keys")
		if k.reload(key.ID).DisabledAt == nil {
			t.Fatal("the key is not disabled")
		}
		if code := k.verifyCode(secret); code != "key_disabled" {
			t.Fatalf("a disabled key verifies as %q, want key_disabled", code)
		}
		list = c.get("/orgs/acme/keys")
		if !strings.Contains(list.body, "Disabled "+key.Hint+" (Batch worker)") {
			t.Error("no flash on the list after disabling")
		}
		row = list.testid("key-row")
		if row.Find(`[data-testid="key-status"]`).Text() != "disabled" || row.Find(`[data-testid="enable-key"]`).Length() != 1 ||
			row.Find(`[data-testid="disable-key"]`).Length() != 0 {
			t.Fatalf("the row of a disabled key: %s", row.Text())
		}
		if c.get("/orgs/acme/keys?status=disabled").testid("key-row").Length() != 1 ||
			c.get("/orgs/acme/keys?status=active").testid("key-row").Length() != 0 {
			t.Error("the status filter does not know disabled keys")
		}
		wantStatus(t, c.post(page+"/disable", nil), http.StatusConflict)

		// The key's page says so and offers Enable, which needs no dialog.
		r := c.get(page)
		if r.testid("key-disabled").Length() != 1 || r.testid("enable-key").Length() != 1 || r.testid("key-form").Length() != 1 {
			t.Fatalf("a disabled key's page: no notice, no enable button, or no edit form")
		}
		wantRedirect(t, c.post(page+"/enable", nil), page)
		if k.reload(key.ID).DisabledAt != nil {
			t.Fatal("the key is still disabled")
		}
		if code := k.verifyCode(secret); code != "" {
			t.Fatalf("an enabled key verifies as %q", code)
		}
		wantStatus(t, c.post(page+"/enable", nil), http.StatusConflict)
		if got := c.get(page + "/revoke").text("confirm-requests"); got != "It had 7 requests in the last 24 hours." {
			t.Errorf("the revoke dialog says %q of the key's traffic", got)
		}

		// A revoked key can be neither.
		wantRedirect(t, c.post(page+"/revoke", nil), page)
		r = c.get(page)
		if r.testid("disable-key").Length() != 0 || r.testid("enable-key").Length() != 0 {
			t.Error("a revoked key's page offers disable or enable")
		}
		wantStatus(t, c.get(page+"/disable"), http.StatusConflict)
		wantStatus(t, c.post(page+"/enable", nil), http.StatusConflict)

		var actions []string
		if err := db.Model(&audit.Event{}).Where("org_id = ? AND target_id = ?", k.acme.ID, key.ID).
			Order("created_at, id").Pluck("action", &actions).Error; err != nil {
			t.Fatal(err)
		}
		if strings.Join(actions, " ") != "key.created key.disabled key.enabled key.revoked" {
			t.Errorf("audit %v", actions)
		}
	})
}

// TestKeyDisableMember: a member sees no disable or enable buttons and is
// refused both.
func TestKeyDisableMember(t *testing.T) {
	t.Parallel()
	k := newKeysEnv(t, storetest.SQLite(t), nil)
	_, key := k.createKey(k.admin, keyForm("Batch worker"))
	bob := k.user("bob@example.com", "Bob", false)
	k.addMember(k.acme.ID, bob.ID, "member")
	m := k.client()
	m.mustLogin("bob@example.com")
	page := "/orgs/acme/keys/" + key.ID
	if r := m.get("/orgs/acme/keys"); r.testid("disable-key").Length() != 0 {
		t.Error("a member's list offers disable")
	}
	if r := m.get(page); r.testid("disable-key").Length() != 0 {
		t.Error("a member's key page offers disable")
	}
	wantStatus(t, m.post(page+"/disable", nil), http.StatusForbidden)
	if k.reload(key.ID).DisabledAt != nil {
		t.Fatal("a member disabled a key")
	}
}
