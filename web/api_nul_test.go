package web

import (
	"testing"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestAPIRefusesNUL: a NUL character in any management API body is a 400
// before anything reaches the database (PostgreSQL cannot store it), for
// the org API, the operator API and imports alike; a literal "\u0000" text
// passes.
func TestAPIRefusesNUL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAdminEnv(t, db)
		key := a.creds[credManage]
		if r := a.call("POST", "/v1/keys", "/api/v1/keys", key, `{"description": "bad\u0000name"}`); r.status != 400 || r.code() != "bad_request" {
			t.Errorf("a key description: %d %s", r.status, r.raw)
		}
		if r := a.op("POST", "/v1/admin/products", "/api/v1/admin/products", opValid, `{"slug": "nul", "name": "N\u0000", "key_format": "nul_{env}_"}`); r.status != 400 {
			t.Errorf("a product name: %d %s", r.status, r.raw)
		}
		r := a.op("POST", "/v1/admin/orgs/{slug}/keys/import", "/api/v1/admin/orgs/acme/keys/import", opValid,
			`{"sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "external_id": "x\u0000"}`, "Content-Type", "application/x-ndjson")
		if r.status != 400 {
			t.Errorf("an import line: %d %s", r.status, r.raw)
		}
		if r := a.call("POST", "/v1/keys", "/api/v1/keys", key, `{"description": "a literal \\u0000"}`); r.status != 201 || r.body["description"] != `a literal \u0000` {
			t.Errorf("a literal backslash-u0000: %d %s", r.status, r.raw)
		}
	})
}
