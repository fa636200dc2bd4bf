package web

import (
	"context"
	"net/http"
	"net/netip"
	"testing"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/usage"
)

// TestAPIKeySources: the API answers the same addresses and origins as the
// key's page, and another organization's key is 404.
func TestAPIKeySources(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPIEnv(t, db)
		now := a.clock.Now()
		rec := usage.NewRecorder(db, nil, nil)
		for range 2 {
			rec.Record(a.ids[credRead], a.acme.ID, now, "allowed", "", netip.MustParseAddr("198.51.100.9"), "https://app.example.com/page")
		}
		rec.Record(a.ids[credRead], a.acme.ID, now, "allowed", "", netip.MustParseAddr("2001:db8::2"), "")
		if err := rec.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		r := a.call("GET", "/v1/keys/{id}/sources", "/api/v1/keys/"+a.ids[credRead]+"/sources", a.creds[credManage], "")
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		ips, _ := r.body["ips"].([]any)
		origins, _ := r.body["origins"].([]any)
		if len(ips) != 2 || ips[0].(map[string]any)["value"] != "198.51.100.9" || ips[0].(map[string]any)["requests"] != float64(2) {
			t.Errorf("ips: %s", r.raw)
		}
		if len(origins) != 1 || origins[0].(map[string]any)["value"] != "https://app.example.com" {
			t.Errorf("origins: %s", r.raw)
		}
		if r := a.call("GET", "/v1/keys/{id}/sources", "/api/v1/keys/"+a.ids[credRead]+"/sources", a.creds[credOtherOrg], ""); r.status != http.StatusNotFound {
			t.Errorf("another organization's key: %d", r.status)
		}
	})
}
