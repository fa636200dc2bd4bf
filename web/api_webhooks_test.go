package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/webhook"
)

// acmeWebhook returns an endpoint of acme, made the first time it is
// asked for.
func acmeWebhook(a *apiEnv) webhook.Endpoint {
	a.t.Helper()
	list, err := a.srv.webhooks.List(context.Background(), a.acme.ID)
	if err != nil {
		a.t.Fatal(err)
	}
	if len(list) > 0 {
		return list[0]
	}
	c, err := a.srv.webhooks.Create(context.Background(), a.acme.ID, webhook.Input{URL: "https://93.184.216.34/acme", Events: []string{"*"}}, audit.Actor{})
	if err != nil {
		a.t.Fatal(err)
	}
	return c.Endpoint
}

func webhookPath(suffix string) func(*apiEnv, string) string {
	return func(a *apiEnv, _ string) string { return "/api/v1/webhooks/" + acmeWebhook(a).ID + suffix }
}

// deliveryPath names a delivery of acme's endpoint.
func deliveryPath(a *apiEnv, _ string) string {
	e := acmeWebhook(a)
	d, err := a.srv.webhooks.SendTest(context.Background(), a.acme.ID, e.ID, audit.Actor{})
	if err != nil {
		a.t.Fatal(err)
	}
	return "/api/v1/webhooks/" + e.ID + "/deliveries/" + d.ID + "/resend"
}

func TestAPIWebhooks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPIEnv(t, db)
		key := a.creds[credManage]

		// Refusals: the field named, nothing stored.
		for _, tc := range []struct{ body, field string }{
			{`{"url": "http://127.0.0.1/hook", "events": ["*"]}`, "url"},
			{`{"url": "http://10.1.2.3/hook", "events": ["*"]}`, "url"},
			{`{"url": "http://169.254.169.254/", "events": ["*"]}`, "url"},
			{`{"url": "http://100.64.0.1/", "events": ["*"]}`, "url"},
			{`{"url": "http://[::1]/", "events": ["*"]}`, "url"},
			{`{"url": "http://[fc00::1]/", "events": ["*"]}`, "url"},
			{`{"url": "http://[::ffff:127.0.0.1]/", "events": ["*"]}`, "url"},
			{`{"url": "http://localhost:8080/", "events": ["*"]}`, "url"},
			{`{"url": "gopher://93.184.216.34/", "events": ["*"]}`, "url"},
			{`{"url": "https://me:pw@93.184.216.34/", "events": ["*"]}`, "url"},
			{`{"url": "https://93.184.216.34/", "events": []}`, "events"},
			{`{"url": "https://93.184.216.34/", "events": ["key.exploded"]}`, "events"},
		} {
			r := a.call(http.MethodPost, "/v1/webhooks", "/api/v1/webhooks", key, tc.body)
			if r.status != http.StatusUnprocessableEntity || r.code() != "invalid" || strings.Join(r.fields(), ",") != tc.field {
				t.Errorf("%s: %d %q %v, want 422 invalid naming %s", tc.body, r.status, r.code(), r.fields(), tc.field)
			}
		}
		if r := a.call(http.MethodPost, "/v1/webhooks", "/api/v1/webhooks", key, `{"url": "https://93.184.216.34/", "events": ["*"], "secret": "mine"}`); r.status != http.StatusUnprocessableEntity {
			t.Errorf("an unknown field: %d", r.status)
		}

		r := a.call(http.MethodPost, "/v1/webhooks", "/api/v1/webhooks", key, `{"url": "https://93.184.216.34/hooks", "description": "Billing", "events": ["key.revoked", "member.added"]}`)
		if r.status != http.StatusCreated || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		secret, _ := r.body["secret"].(string)
		id, _ := r.body["id"].(string)
		if !strings.HasPrefix(secret, "whsec_") || r.body["status"] != "active" || r.body["url"] != "https://93.184.216.34/hooks" {
			t.Fatalf("created %s", r.raw)
		}
		for _, path := range []string{"/api/v1/webhooks", "/api/v1/webhooks/" + id} {
			route := "/v1/webhooks"
			if strings.HasSuffix(path, id) {
				route = "/v1/webhooks/{id}"
			}
			g := a.call(http.MethodGet, route, path, key, "")
			if g.status != 200 || strings.Contains(string(g.raw), "whsec_") || strings.Contains(string(g.raw), `"secret"`) {
				t.Errorf("GET %s: %d shows a secret: %s", path, g.status, g.raw)
			}
		}

		r = a.call(http.MethodPatch, "/v1/webhooks/{id}", "/api/v1/webhooks/"+id, key, `{"events": ["*"], "paused": true}`)
		if r.status != 200 || r.body["status"] != "paused" || r.body["events"].([]any)[0] != "*" || r.body["description"] != "Billing" {
			t.Errorf("patch: %d %s", r.status, r.raw)
		}
		r = a.call(http.MethodPatch, "/v1/webhooks/{id}", "/api/v1/webhooks/"+id, key, `{"url": "http://192.168.0.1/"}`)
		if r.status != 422 || strings.Join(r.fields(), ",") != "url" {
			t.Errorf("patch to a private address: %d %s", r.status, r.raw)
		}
		a.call(http.MethodPatch, "/v1/webhooks/{id}", "/api/v1/webhooks/"+id, key, `{"paused": false}`)

		r = a.call(http.MethodPost, "/v1/webhooks/{id}/rotate-secret", "/api/v1/webhooks/"+id+"/rotate-secret", key, "")
		if rotated, _ := r.body["secret"].(string); r.status != 200 || !strings.HasPrefix(rotated, "whsec_") || rotated == secret || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("rotate: %d %s", r.status, r.raw)
		}

		r = a.call(http.MethodPost, "/v1/webhooks/{id}/test", "/api/v1/webhooks/"+id+"/test", key, "")
		if r.status != http.StatusAccepted || r.body["type"] != "webhook.test" || r.body["status"] != "pending" {
			t.Fatalf("test: %d %s", r.status, r.raw)
		}
		did := r.body["id"].(string)
		r = a.call(http.MethodGet, "/v1/webhooks/{id}/deliveries", "/api/v1/webhooks/"+id+"/deliveries?limit=1", key, "")
		if r.status != 200 || len(r.body["data"].([]any)) != 1 || r.body["next_cursor"] != nil {
			t.Errorf("deliveries: %d %s", r.status, r.raw)
		}
		a.call(http.MethodPost, "/v1/webhooks/{id}/test", "/api/v1/webhooks/"+id+"/test", key, "")
		r = a.call(http.MethodGet, "/v1/webhooks/{id}/deliveries", "/api/v1/webhooks/"+id+"/deliveries?limit=1", key, "")
		cursor, _ := r.body["next_cursor"].(string)
		if cursor != "" {
			r = a.call(http.MethodGet, "/v1/webhooks/{id}/deliveries", "/api/v1/webhooks/"+id+"/deliveries?limit=1&cursor="+cursor, key, "")
		}
		if cursor == "" || r.body["data"].([]any)[0].(map[string]any)["id"] != did {
			t.Errorf("second page: %s", r.raw)
		}
		if r = a.call(http.MethodGet, "/v1/webhooks/{id}/deliveries", "/api/v1/webhooks/"+id+"/deliveries?cursor=forged", key, ""); r.status != 422 || strings.Join(r.fields(), ",") != "cursor" {
			t.Errorf("forged cursor: %d %s", r.status, r.raw)
		}
		r = a.call(http.MethodPost, "/v1/webhooks/{id}/deliveries/{delivery_id}/resend", "/api/v1/webhooks/"+id+"/deliveries/"+did+"/resend", key, "")
		if r.status != http.StatusAccepted || r.body["id"] != did {
			t.Errorf("resend: %d %s", r.status, r.raw)
		}

		r = a.call(http.MethodDelete, "/v1/webhooks/{id}", "/api/v1/webhooks/"+id, key, "")
		if r.status != 200 || r.body["id"] != id {
			t.Errorf("delete: %d %s", r.status, r.raw)
		}
		if r = a.call(http.MethodGet, "/v1/webhooks/{id}", "/api/v1/webhooks/"+id, key, ""); r.status != 404 {
			t.Errorf("deleted endpoint: %d", r.status)
		}
		// Every change is in the audit log under the key.
		var events []audit.Event
		db.Where("org_id = ? AND target_type = ?", a.acme.ID, "webhook").Find(&events)
		if len(events) < 4 {
			t.Errorf("%d audit events", len(events))
		}
		for _, e := range events {
			if !strings.Contains(e.ActorEmail, "CI deployer") {
				t.Errorf("audit actor %q", e.ActorEmail)
			}
		}
		// The OpenAPI document lists the operations.
		doc := a.call(http.MethodGet, "", "/api/openapi.json", "", "")
		paths, _ := doc.body["paths"].(map[string]any)
		for _, p := range []string{"/v1/webhooks", "/v1/webhooks/{id}", "/v1/webhooks/{id}/deliveries", "/v1/webhooks/{id}/test", "/v1/webhooks/{id}/rotate-secret", "/v1/webhooks/{id}/deliveries/{delivery_id}/resend"} {
			if paths[p] == nil {
				t.Errorf("OpenAPI document lacks %s", p)
			}
		}
	})
}
