package web

import (
	"net/http"
	"strings"
	"testing"

	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestAdminAPIDisableOrg: disabling an organization refuses every one of
// its keys with key_disabled, on the data plane and the org API, shows its
// members why, and leaves other organizations alone; enabling restores the
// keys as they were.
func TestAdminAPIDisableOrg(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) { testDisableOrg(t, newAdminEnv(t, db)) })
}

func testDisableOrg(t *testing.T, a *adminEnv) {
	acmeKey, otherKey := a.creds[credManage], a.creds[credOtherOrg]
	if code := a.verifyCode(acmeKey); code != "" {
		t.Fatalf("before: %q", code)
	}
	if r := a.op("POST", "/v1/admin/orgs/{slug}/disable", "/api/v1/admin/orgs/acme/disable", opValid, ""); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.raw)
	}
	if code := a.verifyCode(acmeKey); code != "key_disabled" {
		t.Errorf("a key of a disabled org verifies as %q, want key_disabled", code)
	}
	if code := a.verifyCode(otherKey); code != "" {
		t.Errorf("another org's key verifies as %q", code)
	}
	if r := a.call("GET", "/v1/keys", "/api/v1/keys", acmeKey, ""); r.status != 401 {
		t.Errorf("the org API with a key of a disabled org: %d %s", r.status, r.raw)
	}
	// Its admin still signs in, and is told.
	c := a.client()
	c.mustLogin("admin@example.com")
	r := c.get("/orgs/acme/keys")
	if r.StatusCode != http.StatusOK || r.testid("org-disabled").Length() != 1 {
		t.Errorf("the keys page of a disabled org: %d, banner %d", r.StatusCode, r.testid("org-disabled").Length())
	}
	if c.get("/orgs/other/keys").testid("org-disabled").Length() != 0 {
		t.Error("another org's pages show the banner")
	}
	// No key can be added meanwhile; the form says why.
	f := keyForm("While disabled")
	if r := c.post("/orgs/acme/keys", f); r.StatusCode != http.StatusConflict || !strings.Contains(r.body, "organization is disabled") {
		t.Errorf("creating a key in a disabled org: %d", r.StatusCode)
	}
	// A key disabled on its own stays disabled after the org is enabled.
	if _, err := a.keys.Disable(t.Context(), a.acme.ID, a.ids[credRead], audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	if r := a.op("POST", "/v1/admin/orgs/{slug}/enable", "/api/v1/admin/orgs/acme/enable", opValid, ""); r.status != 200 {
		t.Fatalf("enable: %d %s", r.status, r.raw)
	}
	if code := a.verifyCode(acmeKey); code != "" {
		t.Errorf("after enabling the org: %q", code)
	}
	if code := a.verifyCode(a.creds[credRead]); code != "key_disabled" {
		t.Errorf("a key disabled on its own, after enabling the org: %q", code)
	}
	if c.get("/orgs/acme/keys").testid("org-disabled").Length() != 0 {
		t.Error("the banner stays after enabling")
	}
}
