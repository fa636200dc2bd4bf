package web

import (
	"net/http"
	"testing"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestAPIKeyQuota sets a key's quota through the API in both shapes, reads
// it back with its standing, keeps it across an update that does not name
// it, removes it with null, and refuses what makes no sense.
func TestAPIKeyQuota(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPIEnv(t, db)
		manage := a.creds[credManage]
		r := a.call("POST", "/v1/keys", "/api/v1/keys", manage, `{"description": "Metered", "quota": {"limit": 10000, "period": "day"}}`)
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		q, _ := r.body["quota"].(map[string]any)
		if q["limit"] != 10000.0 || q["period"] != "day" || q["spent"] != 0.0 || q["reset"] == nil || q["credits"] != nil {
			t.Fatalf("created quota %v", q)
		}
		id := r.body["id"].(string)
		path := "/api/v1/keys/" + id

		r = a.call("PATCH", "/v1/keys/{id}", path, manage, `{"description": "Metered (renamed)"}`)
		if q, _ := r.body["quota"].(map[string]any); r.status != 200 || q["limit"] != 10000.0 {
			t.Fatalf("an update without quota dropped it: %d %s", r.status, r.raw)
		}
		r = a.call("PATCH", "/v1/keys/{id}", path, manage, `{"quota": {"credits": 500, "refill": {"amount": 100, "interval": "1d"}}}`)
		q, _ = r.body["quota"].(map[string]any)
		refill, _ := q["refill"].(map[string]any)
		if r.status != 200 || q["credits"] != 500.0 || q["balance"] != 500.0 || refill["amount"] != 100.0 || refill["interval"] != "1d" {
			t.Fatalf("credits: %d %s", r.status, r.raw)
		}
		r = a.call("POST", "/v1/keys/{id}/credits", path+"/credits", manage, `{"amount": 250}`)
		if q, _ := r.body["quota"].(map[string]any); r.status != 200 || q["balance"] != 750.0 {
			t.Fatalf("add credits: %d %s", r.status, r.raw)
		}
		list := a.call("GET", "/v1/keys", "/api/v1/keys?limit=100", manage, "")
		found := false
		for _, k := range list.body["data"].([]any) {
			k := k.(map[string]any)
			if k["id"] == id {
				found = k["quota"].(map[string]any)["balance"] == 750.0
			} else if k["quota"] != nil {
				t.Errorf("key %v has a quota in the list", k["description"])
			}
		}
		if !found {
			t.Fatalf("the list does not show the balance: %s", list.raw)
		}

		for _, bad := range []string{
			`{"quota": {"limit": -5, "period": "day"}}`,
			`{"quota": {"limit": 0, "period": "month"}}`,
			`{"quota": {"limit": 1000000000001, "period": "month"}}`,
			`{"quota": {"limit": 5, "period": "week"}}`,
			`{"quota": {"limit": 5}}`,
			`{"quota": {"credits": 5, "limit": 5, "period": "day"}}`,
			`{"quota": {"limit": 5, "period": "day", "refill": {"amount": 1, "interval": "1d"}}}`,
			`{"quota": {"credits": 5, "refill": {"amount": 5, "interval": "30s"}}}`,
			`{"quota": {"credits": 5, "refill": {"amount": 0, "interval": "1d"}}}`,
			`{"quota": {"credits": 1.5}}`,
		} {
			r := a.call("PATCH", "/v1/keys/{id}", path, manage, bad)
			if r.status != http.StatusUnprocessableEntity {
				t.Errorf("%s: %d %s, want 422", bad, r.status, r.raw)
			}
		}
		for _, bad := range []string{`{"amount": 0}`, `{"amount": -1}`, `{"amount": 1000000000001}`} {
			if r := a.call("POST", "/v1/keys/{id}/credits", path+"/credits", manage, bad); r.status != http.StatusUnprocessableEntity {
				t.Errorf("credits %s: %d", bad, r.status)
			}
		}
		if r := a.call("POST", "/v1/keys/{id}/credits", "/api/v1/keys/"+a.ids[credRead]+"/credits", manage, `{"amount": 5}`); r.status != http.StatusUnprocessableEntity {
			t.Errorf("credits to a key without a credits quota: %d", r.status)
		}
		if r := a.call("POST", "/v1/keys/{id}/credits", path+"/credits", a.creds[credOtherOrg], `{"amount": 5}`); r.status != http.StatusNotFound {
			t.Errorf("another organization's key: %d", r.status)
		}
		if r := a.call("POST", "/v1/keys/{id}/credits", path+"/credits", a.creds[credRead], `{"amount": 5}`); r.status != http.StatusForbidden {
			t.Errorf("a key without keys:manage: %d", r.status)
		}
		r = a.call("PATCH", "/v1/keys/{id}", path, manage, `{"quota": null}`)
		if r.status != 200 || r.body["quota"] != nil {
			t.Fatalf("quota null: %d %s", r.status, r.raw)
		}
	})
}

// TestAPIOrgQuota sets, tops up and removes the organization's quota.
func TestAPIOrgQuota(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPIEnv(t, db)
		manage := a.creds[credManage]
		r := a.call("GET", "/v1/quota", "/api/v1/quota", manage, "")
		if r.status != 200 || r.body["quota"] != nil || r.body["report_only"] != false {
			t.Fatalf("get: %d %s", r.status, r.raw)
		}
		r = a.call("PUT", "/v1/quota", "/api/v1/quota", manage, `{"quota": {"credits": 1000}, "report_only": true}`)
		if q, _ := r.body["quota"].(map[string]any); r.status != 200 || q["balance"] != 1000.0 || r.body["report_only"] != true {
			t.Fatalf("put: %d %s", r.status, r.raw)
		}
		// Managing keys spends no quota, and a spent quota never locks the
		// organization out of lifting it.
		for range 5 {
			if r := a.call("GET", "/v1/quota", "/api/v1/quota", manage, ""); r.status != 200 || r.body["quota"].(map[string]any)["balance"] != 1000.0 {
				t.Fatalf("a management call spent the quota: %d %s", r.status, r.raw)
			}
		}
		r = a.call("POST", "/v1/quota/credits", "/api/v1/quota/credits", manage, `{"amount": 500}`)
		if q, _ := r.body["quota"].(map[string]any); r.status != 200 || q["balance"] != 1500.0 {
			t.Fatalf("credits: %d %s", r.status, r.raw)
		}
		if r := a.call("PUT", "/v1/quota", "/api/v1/quota", manage, `{"quota": {"limit": -1, "period": "day"}}`); r.status != http.StatusUnprocessableEntity {
			t.Errorf("bad quota: %d %s", r.status, r.raw)
		}
		if r := a.call("GET", "/v1/quota", "/api/v1/quota", a.creds[credOtherOrg], ""); r.body["quota"] != nil {
			t.Errorf("the other organization sees a quota: %s", r.raw)
		}
		if r := a.call("PUT", "/v1/quota", "/api/v1/quota", manage, `{"quota": {"credits": 1}}`); r.status != 200 {
			t.Fatalf("one credit: %d %s", r.status, r.raw)
		}
		for range 3 {
			if r := a.call("GET", "/v1/quota", "/api/v1/quota", manage, ""); r.status != 200 {
				t.Fatalf("with one credit: %d %s", r.status, r.raw)
			}
		}
		r = a.call("PUT", "/v1/quota", "/api/v1/quota", manage, `{"quota": null}`)
		if r.status != 200 || r.body["quota"] != nil {
			t.Fatalf("remove: %d %s", r.status, r.raw)
		}
		if r := a.call("POST", "/v1/quota/credits", "/api/v1/quota/credits", manage, `{"amount": 5}`); r.status != http.StatusUnprocessableEntity {
			t.Errorf("credits without a quota: %d", r.status)
		}
	})
}
