package web

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/idempotency"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// apiOp is one operation of the org API as a scenario calls it.
type apiOp struct {
	name, method, route string
	path                func(a *apiEnv, target string) string
	body                string
	ok                  int // status for a key with keys:manage of another org
}

func keyPath(suffix string) func(*apiEnv, string) string {
	return func(_ *apiEnv, id string) string { return "/api/v1/keys/" + id + suffix }
}

var apiOps = []apiOp{
	{"list", http.MethodGet, "/v1/keys", fixedPath("/api/v1/keys"), "", http.StatusOK},
	{"create", http.MethodPost, "/v1/keys", fixedPath("/api/v1/keys"), `{"description": "From a scenario"}`, http.StatusCreated},
	{"get", http.MethodGet, "/v1/keys/{id}", keyPath(""), "", http.StatusNotFound},
	{"update", http.MethodPatch, "/v1/keys/{id}", keyPath(""), `{"description": "Renamed"}`, http.StatusNotFound},
	{"rotate", http.MethodPost, "/v1/keys/{id}/rotate", keyPath("/rotate"), `{"grace": "1h"}`, http.StatusNotFound},
	{"revoke", http.MethodPost, "/v1/keys/{id}/revoke", keyPath("/revoke"), "", http.StatusNotFound},
	{"disable", http.MethodPost, "/v1/keys/{id}/disable", keyPath("/disable"), "", http.StatusNotFound},
	{"enable", http.MethodPost, "/v1/keys/{id}/enable", keyPath("/enable"), "", http.StatusNotFound},
	{"end-grace", http.MethodPost, "/v1/keys/{id}/end-grace", keyPath("/end-grace"), "", http.StatusNotFound},
	{"key-usage", http.MethodGet, "/v1/keys/{id}/usage", keyPath("/usage"), "", http.StatusNotFound},
	{"key-sources", http.MethodGet, "/v1/keys/{id}/sources", keyPath("/sources"), "", http.StatusNotFound},
	{"key-restrictions", http.MethodGet, "/v1/keys/{id}/restrictions", keyPath("/restrictions"), "", http.StatusNotFound},
	{"key-restriction-set", http.MethodPut, "/v1/keys/{id}/restrictions/{name}", keyPath("/restrictions/ips"), `{"mode": "report"}`, http.StatusNotFound},
	{"key-suggestions", http.MethodGet, "/v1/keys/{id}/suggestions", keyPath("/suggestions"), "", http.StatusNotFound},
	{"key-suggestions-apply", http.MethodPost, "/v1/keys/{id}/suggestions/apply", keyPath("/suggestions/apply"), "", http.StatusNotFound},
	{"usage", http.MethodGet, "/v1/usage", fixedPath("/api/v1/usage?period=7d"), "", http.StatusOK},
	{"audit", http.MethodGet, "/v1/audit", fixedPath("/api/v1/audit"), "", http.StatusOK},
	{"members", http.MethodGet, "/v1/members", fixedPath("/api/v1/members"), "", http.StatusOK},
	{"invite", http.MethodPost, "/v1/members", fixedPath("/api/v1/members"), `{"email": "scenario@example.com", "role": "member"}`, http.StatusCreated},
	{"member-role", http.MethodPatch, "/v1/members/{id}", memberPath, `{"role": "admin"}`, http.StatusNotFound},
	{"member-remove", http.MethodDelete, "/v1/members/{id}", memberPath, "", http.StatusNotFound},
	{"webhooks", http.MethodGet, "/v1/webhooks", fixedPath("/api/v1/webhooks"), "", http.StatusOK},
	{"webhook-create", http.MethodPost, "/v1/webhooks", fixedPath("/api/v1/webhooks"), `{"url": "https://93.184.216.34/hook", "events": ["*"]}`, http.StatusCreated},
	{"webhook-get", http.MethodGet, "/v1/webhooks/{id}", webhookPath(""), "", http.StatusNotFound},
	{"webhook-update", http.MethodPatch, "/v1/webhooks/{id}", webhookPath(""), `{"paused": true}`, http.StatusNotFound},
	{"webhook-delete", http.MethodDelete, "/v1/webhooks/{id}", webhookPath(""), "", http.StatusNotFound},
	{"webhook-rotate-secret", http.MethodPost, "/v1/webhooks/{id}/rotate-secret", webhookPath("/rotate-secret"), "", http.StatusNotFound},
	{"webhook-deliveries", http.MethodGet, "/v1/webhooks/{id}/deliveries", webhookPath("/deliveries"), "", http.StatusNotFound},
	{"webhook-resend", http.MethodPost, "/v1/webhooks/{id}/deliveries/{delivery_id}/resend", deliveryPath, "", http.StatusNotFound},
	{"webhook-test", http.MethodPost, "/v1/webhooks/{id}/test", webhookPath("/test"), "", http.StatusNotFound},
	{"policies", http.MethodGet, "/v1/policies", fixedPath("/api/v1/policies"), "", http.StatusOK},
	{"policies-update", http.MethodPatch, "/v1/policies", fixedPath("/api/v1/policies"), `{"idle_days": 60}`, http.StatusOK},
	{"key-credits", http.MethodPost, "/v1/keys/{id}/credits", keyPath("/credits"), `{"amount": 10}`, http.StatusNotFound},
	{"quota", http.MethodGet, "/v1/quota", fixedPath("/api/v1/quota"), "", http.StatusOK},
	{"quota-set", http.MethodPut, "/v1/quota", fixedPath("/api/v1/quota"), `{"quota": {"credits": 100}}`, http.StatusOK},
	{"quota-credits", http.MethodPost, "/v1/quota/credits", fixedPath("/api/v1/quota/credits"), `{"amount": 10}`, http.StatusOK}, // after quota-set, in table order
}

func fixedPath(path string) func(*apiEnv, string) string {
	return func(*apiEnv, string) string { return path }
}

// memberPath names acme's member Bob, whom no other organization has.
func memberPath(a *apiEnv, _ string) string { return "/api/v1/members/" + a.bob.ID }

// TestAPICredentials is the scenario table: every operation with every
// kind of credential. Only a private key of the organization holding the
// literal keys:manage gets in; admin does not imply it; another
// organization's key sees only its own organization.
func TestAPICredentials(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPIEnv(t, db)
		// Every route of the org API is in the table.
		for _, r := range a.srv.Routes() {
			if r.Method == echo.RouteNotFound || !strings.HasPrefix(r.Path, "/api/v1/") || strings.HasPrefix(r.Path, "/api/v1/admin/") {
				continue // the operator API has its own table: adminOps
			}
			route := strings.TrimPrefix(strings.NewReplacer(":id", "{id}", ":delivery_id", "{delivery_id}", ":name", "{name}").Replace(r.Path), "/api")
			if !slices.ContainsFunc(apiOps, func(op apiOp) bool { return op.method == r.Method && op.route == route }) {
				t.Errorf("route %s %s has no row in apiOps", r.Method, r.Path)
			}
		}
		target := a.mustKey(a.acme.ID, apikey.Input{Description: "Target", Kind: "private", Environment: "live"}).Key.ID
		scenarios := []struct {
			cred   string
			status int
			code   string
		}{
			{credNone, 401, "unauthorized"},
			{credGarbage, 401, "unauthorized"},
			{credUnknown, 401, "unauthorized"},
			{credRevoked, 401, "unauthorized"},
			{credDisabled, 401, "unauthorized"},
			{credPublic, 401, "unauthorized"},
			{credRead, 403, "forbidden"},
			{credAdmin, 403, "forbidden"},
		}
		for _, op := range apiOps {
			for _, sc := range scenarios {
				t.Run(op.name+"/"+sc.cred, func(t *testing.T) {
					r := a.call(op.method, op.route, op.path(a, target), a.creds[sc.cred], op.body)
					if r.status != sc.status || r.code() != sc.code {
						t.Errorf("%d %q, want %d %q: %s", r.status, r.code(), sc.status, sc.code, r.raw)
					}
				})
			}
			t.Run(op.name+"/"+credOtherOrg, func(t *testing.T) {
				r := a.call(op.method, op.route, op.path(a, target), a.creds[credOtherOrg], op.body)
				if r.status != op.ok {
					t.Fatalf("%d, want %d: %s", r.status, op.ok, r.raw)
				}
				if op.ok == http.StatusNotFound && r.code() != "not_found" {
					t.Errorf("code %q, want not_found", r.code())
				}
				switch op.name {
				case "list":
					for _, k := range r.body["data"].([]any) {
						if id := k.(map[string]any)["id"]; id == target || id == a.ids[credManage] {
							t.Errorf("another organization's key lists acme's key %v", id)
						}
					}
				case "members":
					for _, m := range r.body["data"].([]any) {
						if id := m.(map[string]any)["id"]; id == a.bob.ID {
							t.Errorf("another organization's key lists acme's member %v", id)
						}
					}
				case "audit":
					for _, e := range r.body["data"].([]any) {
						if tg, _ := e.(map[string]any)["target"].(map[string]any); tg["id"] == target || tg["id"] == a.bob.ID {
							t.Errorf("another organization's key reads acme's audit log: %v", e)
						}
					}
				}
			})
		}
		// Nothing above changed the target.
		k, err := a.keys.Get(context.Background(), a.acme.ID, target)
		if err != nil || k.Description != "Target" || k.RevokedAt != nil || k.DisabledAt != nil || k.ReplacedByID != nil {
			t.Errorf("the target changed: %+v, %v", k, err)
		}
		if m, err := a.orgs.Member(context.Background(), a.acme.ID, a.bob.ID); err != nil || m.Role != org.Member {
			t.Errorf("acme's member changed: %+v, %v", m, err)
		}
		// keys:manage on a public key is refused at creation.
		r := a.call("POST", "/v1/keys", "/api/v1/keys", a.creds[credManage],
			`{"description": "Web admin", "kind": "public", "domains": ["shop.example.com"], "scopes": ["keys:manage"]}`)
		if r.status != 422 || r.code() != "invalid" || !slices.Equal(r.fields(), []string{"scopes"}) {
			t.Errorf("keys:manage on a public key: %d %s", r.status, r.raw)
		}
		// Both headers with different keys: 401.
		r = a.call("GET", "/v1/keys", "/api/v1/keys", a.creds[credManage], "", "Authorization", "Bearer "+a.creds[credRead])
		if r.status != 401 {
			t.Errorf("two different keys: %d", r.status)
		}
		// The key as a bearer token works alike.
		r = a.call("GET", "/v1/keys", "/api/v1/keys", "", "", "Authorization", "Bearer "+a.creds[credManage])
		if r.status != 200 {
			t.Errorf("bearer: %d %s", r.status, r.raw)
		}
	})
}

// wantKey asserts every field of a key's JSON.
func wantKey(t *testing.T, got map[string]any, want map[string]any) {
	t.Helper()
	fields := []string{"id", "description", "hint", "product", "kind", "environment", "scopes", "domains", "ips", "status", "source",
		"created_at", "expires_at", "last_used_at", "disabled_at", "revoked_at", "rate_limit_per_minute", "block_minutes", "requests_24h"}
	for _, f := range fields {
		if _, ok := got[f]; !ok {
			t.Errorf("the key has no %q: %v", f, got)
		}
	}
	for f, w := range want {
		if g := got[f]; !equalJSON(g, w) {
			t.Errorf("%s = %#v, want %#v", f, g, w)
		}
	}
}

func equalJSON(a, b any) bool {
	switch b := b.(type) {
	case []string:
		l, ok := a.([]any)
		if !ok || len(l) != len(b) {
			return false
		}
		for i := range b {
			if l[i] != b[i] {
				return false
			}
		}
		return true
	case int:
		f, ok := a.(float64)
		return ok && f == float64(b)
	}
	return a == b
}

// TestAPIKeysLifecycle walks create, get, update, rotate, end-grace and
// revoke, asserting every field and the audit log with the key as actor.
func TestAPIKeysLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPIEnv(t, db)
		key := a.creds[credManage]
		ua := "deploy-bot/1.0"
		day := a.clock.Now().UTC().AddDate(1, 0, 0)
		expiry := day.Format("2006-01-02")
		end := time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)

		r := a.call("POST", "/v1/keys", "/api/v1/keys", key,
			`{"description": "Billing service", "environment": "test", "scopes": ["read", "write"], "ips": ["10.0.0.0/8"], "expires_at": "`+expiry+`", "rate_limit_per_minute": 120}`,
			"User-Agent", ua)
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		secret, _ := r.body["secret"].(string)
		p, err := apikey.Parse(secret, a.cfg.KeyPrefix)
		if err != nil || p.Kind != apikey.Private || p.Environment != apikey.Test {
			t.Fatalf("secret %q: %v", secret, err)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		id := r.body["id"].(string)
		wantKey(t, r.body, map[string]any{
			"description": "Billing service", "hint": apikey.Hint(secret), "product": "default", "kind": "private", "environment": "test",
			"scopes": []string{"read", "write"}, "domains": []string{}, "ips": []string{"10.0.0.0/8"}, "status": "active",
			"source": "generated", "created_at": a.clock.Now().UTC().Format(time.RFC3339), "expires_at": end,
			"last_used_at": nil, "revoked_at": nil, "rate_limit_per_minute": 120, "block_minutes": nil, "requests_24h": 0,
		})

		r = a.call("GET", "/v1/keys/{id}", "/api/v1/keys/"+id, key, "")
		if r.status != 200 || r.body["secret"] != nil {
			t.Fatalf("get: %d %s", r.status, r.raw)
		}
		wantKey(t, r.body, map[string]any{"id": id, "description": "Billing service", "status": "active"})

		// PATCH: absent properties keep their value; null clears.
		r = a.call("PATCH", "/v1/keys/{id}", "/api/v1/keys/"+id, key, `{"description": "Billing (v2)", "scopes": ["read"], "expires_at": null}`)
		if r.status != 200 {
			t.Fatalf("update: %d %s", r.status, r.raw)
		}
		wantKey(t, r.body, map[string]any{"description": "Billing (v2)", "scopes": []string{"read"}, "ips": []string{"10.0.0.0/8"},
			"expires_at": nil, "rate_limit_per_minute": 120, "environment": "test"})
		r = a.call("PATCH", "/v1/keys/{id}", "/api/v1/keys/"+id, key, `{"kind": "public", "environment": "live"}`)
		if r.status != 422 || !slices.Equal(r.fields(), []string{"environment", "kind"}) {
			t.Errorf("changing kind and environment: %d %s", r.status, r.raw)
		}
		r = a.call("PATCH", "/v1/keys/{id}", "/api/v1/keys/"+id, key, `{"kind": "private"}`)
		if r.status != 200 {
			t.Errorf("the same kind: %d %s", r.status, r.raw)
		}
		r = a.call("PATCH", "/v1/keys/{id}", "/api/v1/keys/"+id, key, `{"ips": ["not an ip"]}`)
		if r.status != 422 || !slices.Equal(r.fields(), []string{"ips"}) {
			t.Errorf("bad ips: %d %s", r.status, r.raw)
		}

		// Rotate with 7 days of grace: a new key with the same settings.
		r = a.call("POST", "/v1/keys/{id}/rotate", "/api/v1/keys/"+id+"/rotate", key, `{"grace": "7d"}`)
		if r.status != 201 {
			t.Fatalf("rotate: %d %s", r.status, r.raw)
		}
		newID, newSecret := r.body["id"].(string), r.body["secret"].(string)
		wantKey(t, r.body, map[string]any{"description": "Billing (v2)", "hint": apikey.Hint(newSecret), "scopes": []string{"read"}, "status": "active"})
		r = a.call("GET", "/v1/keys/{id}", "/api/v1/keys/"+id, key, "")
		wantKey(t, r.body, map[string]any{"status": "expiring", "expires_at": a.clock.Now().Add(7 * 24 * time.Hour).UTC().Format(time.RFC3339)})
		r = a.call("POST", "/v1/keys/{id}/rotate", "/api/v1/keys/"+newID+"/rotate", key, `{"grace": "2h"}`)
		if r.status != 422 || !slices.Equal(r.fields(), []string{"grace"}) {
			t.Errorf("grace 2h: %d %s", r.status, r.raw)
		}

		// End the grace period through the new key: the old one is expired.
		r = a.call("POST", "/v1/keys/{id}/end-grace", "/api/v1/keys/"+newID+"/end-grace", key, "")
		if r.status != 200 {
			t.Fatalf("end-grace: %d %s", r.status, r.raw)
		}
		wantKey(t, r.body, map[string]any{"id": id, "status": "expired"})
		r = a.call("POST", "/v1/keys/{id}/end-grace", "/api/v1/keys/"+newID+"/end-grace", key, "")
		if r.status != 409 || r.code() != "conflict" {
			t.Errorf("end-grace twice: %d %s", r.status, r.raw)
		}

		// Disable: 200 with the key, refused by the data plane; again, 409.
		// Enable: it works again; again, 409.
		now := a.clock.Now().UTC().Format(time.RFC3339)
		r = a.call("POST", "/v1/keys/{id}/disable", "/api/v1/keys/"+newID+"/disable", key, "")
		if r.status != 200 {
			t.Fatalf("disable: %d %s", r.status, r.raw)
		}
		wantKey(t, r.body, map[string]any{"id": newID, "status": "disabled", "disabled_at": now, "revoked_at": nil})
		if code := a.verifyCode(newSecret); code != "key_disabled" {
			t.Errorf("a disabled key verifies as %q, want key_disabled", code)
		}
		r = a.call("POST", "/v1/keys/{id}/disable", "/api/v1/keys/"+newID+"/disable", key, "")
		if r.status != 409 || r.code() != "conflict" {
			t.Errorf("disable twice: %d %s", r.status, r.raw)
		}
		r = a.call("POST", "/v1/keys/{id}/enable", "/api/v1/keys/"+newID+"/enable", key, "")
		if r.status != 200 {
			t.Fatalf("enable: %d %s", r.status, r.raw)
		}
		wantKey(t, r.body, map[string]any{"id": newID, "status": "active", "disabled_at": nil})
		// The next check refuses it: verifyCode calls from outside 10.0.0.0/8.
		if code := a.verifyCode(newSecret); code != "ip_not_allowed" {
			t.Errorf("an enabled key verifies as %q, want ip_not_allowed", code)
		}
		r = a.call("POST", "/v1/keys/{id}/enable", "/api/v1/keys/"+newID+"/enable", key, "")
		if r.status != 409 || r.code() != "conflict" {
			t.Errorf("enable twice: %d %s", r.status, r.raw)
		}

		// Revoke: 200 with the key; again, 409; enabling it, 409 key_revoked.
		r = a.call("POST", "/v1/keys/{id}/revoke", "/api/v1/keys/"+newID+"/revoke", key, "")
		if r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.raw)
		}
		wantKey(t, r.body, map[string]any{"id": newID, "status": "revoked", "revoked_at": now})
		r = a.call("POST", "/v1/keys/{id}/revoke", "/api/v1/keys/"+newID+"/revoke", key, "")
		if r.status != 409 || r.code() != "conflict" {
			t.Errorf("revoke twice: %d %s", r.status, r.raw)
		}
		r = a.call("POST", "/v1/keys/{id}/enable", "/api/v1/keys/"+newID+"/enable", key, "")
		if r.status != 409 || r.code() != "key_revoked" || r.header.Get("X-Keyplane-Error") != "key_revoked" {
			t.Errorf("enable a revoked key: %d %s", r.status, r.raw)
		}
		r = a.call("POST", "/v1/keys/{id}/disable", "/api/v1/keys/"+newID+"/disable", key, "")
		if r.status != 409 || r.code() != "conflict" {
			t.Errorf("disable a revoked key: %d %s", r.status, r.raw)
		}

		// The audit log names the key, with IP and user agent.
		var events []audit.Event
		if err := db.Where("org_id = ? AND action LIKE 'key.%'", a.acme.ID).Order("created_at, id").Find(&events).Error; err != nil {
			t.Fatal(err)
		}
		actor := apikey.Hint(key) + ` "CI deployer"`
		var actions []string
		for _, e := range events {
			if e.ActorEmail != actor || !strings.HasPrefix(e.Summary, actor+" ") || e.IP != "127.0.0.1" {
				if e.TargetID == a.ids[credRevoked] || e.TargetID == a.ids[credDisabled] || e.ActorEmail == "" {
					continue // made by the test's setup
				}
				t.Errorf("event %s: actor %q, summary %q, ip %q", e.Action, e.ActorEmail, e.Summary, e.IP)
			}
			if e.ActorEmail == actor {
				actions = append(actions, e.Action)
			}
		}
		want := []string{audit.KeyCreated, audit.KeyUpdated, audit.KeyUpdated, audit.KeyRotated, audit.KeyGraceEnded,
			audit.KeyDisabled, audit.KeyEnabled, audit.KeyRevoked}
		if !slices.Equal(actions, want) {
			t.Errorf("audit actions %v, want %v", actions, want)
		}
		if events[len(events)-1].UserAgent != "Go-http-client/1.1" && events[1].UserAgent != ua {
			t.Errorf("user agent not recorded: %q", events[1].UserAgent)
		}
	})
}

// TestAPISelfProtection: a key cannot revoke or disable itself, remove its
// own keys:manage, or end its own grace period.
func TestAPISelfProtection(t *testing.T) {
	a := newAPIEnv(t, storetest.SQLite(t))
	key, self := a.creds[credManage], a.ids[credManage]
	r := a.call("POST", "/v1/keys/{id}/revoke", "/api/v1/keys/"+self+"/revoke", key, "")
	if r.status != 409 || r.code() != "conflict" {
		t.Errorf("revoke itself: %d %s", r.status, r.raw)
	}
	r = a.call("POST", "/v1/keys/{id}/disable", "/api/v1/keys/"+self+"/disable", key, "")
	if r.status != 409 || r.code() != "conflict" {
		t.Errorf("disable itself: %d %s", r.status, r.raw)
	}
	r = a.call("PATCH", "/v1/keys/{id}", "/api/v1/keys/"+self, key, `{"scopes": ["read"]}`)
	if r.status != 409 {
		t.Errorf("remove its own keys:manage: %d %s", r.status, r.raw)
	}
	r = a.call("PATCH", "/v1/keys/{id}", "/api/v1/keys/"+self, key, `{"scopes": ["keys:manage"], "description": "CI"}`)
	if r.status != 200 {
		t.Errorf("edit itself keeping keys:manage: %d %s", r.status, r.raw)
	}
	// Rotating itself is allowed (the answer carries the successor), but
	// then the successor may not end the caller's grace through the API.
	r = a.call("POST", "/v1/keys/{id}/rotate", "/api/v1/keys/"+self+"/rotate", key, `{"grace": "1h"}`)
	if r.status != 201 {
		t.Fatalf("rotate itself: %d %s", r.status, r.raw)
	}
	r = a.call("POST", "/v1/keys/{id}/end-grace", "/api/v1/keys/"+r.body["id"].(string)+"/end-grace", key, "")
	if r.status != 409 {
		t.Errorf("end its own grace: %d %s", r.status, r.raw)
	}
	if k, _ := a.keys.Get(context.Background(), a.acme.ID, self); k.RevokedAt != nil || !k.InGrace(a.clock.Now()) {
		t.Errorf("the key locked itself out: %+v", k)
	}
}

// TestAPIListKeys: filters as in the dashboard, cursor pages, and forged
// cursors refused.
func TestAPIListKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPIEnv(t, db)
		key := a.creds[credManage]
		for i := range 5 {
			a.clock.Advance(time.Second)
			env := "live"
			if i%2 == 1 {
				env = "test"
			}
			a.mustKey(a.acme.ID, apikey.Input{Description: "Batch job " + string(rune('A'+i)), Kind: "private", Environment: env})
		}
		var seen []string
		cursor := ""
		for page := 0; ; page++ {
			path := "/api/v1/keys?q=batch&limit=2"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			r := a.call("GET", "/v1/keys", path, key, "")
			if r.status != 200 {
				t.Fatalf("page %d: %d %s", page, r.status, r.raw)
			}
			for _, k := range r.body["data"].([]any) {
				seen = append(seen, k.(map[string]any)["description"].(string))
			}
			next, _ := r.body["next_cursor"].(string)
			if next == "" {
				if r.body["next_cursor"] != nil {
					t.Errorf("last page's next_cursor %v, want null", r.body["next_cursor"])
				}
				break
			}
			cursor = next
		}
		want := []string{"Batch job E", "Batch job D", "Batch job C", "Batch job B", "Batch job A"}
		if !slices.Equal(seen, want) {
			t.Errorf("pages %v, want %v", seen, want)
		}
		r := a.call("GET", "/v1/keys", "/api/v1/keys?q=batch&environment=test", key, "")
		if n := len(r.body["data"].([]any)); n != 2 {
			t.Errorf("environment=test: %d keys, want 2", n)
		}
		r = a.call("GET", "/v1/keys", "/api/v1/keys?status=revoked&kind=private", key, "")
		if d := r.body["data"].([]any); len(d) != 1 || d[0].(map[string]any)["id"] != a.ids[credRevoked] {
			t.Errorf("status=revoked: %s", r.raw)
		}
		r = a.call("GET", "/v1/keys", "/api/v1/keys?q="+a.ids[credRead], key, "")
		if d := r.body["data"].([]any); len(d) != 1 {
			t.Errorf("q=<id>: %s", r.raw)
		}
		// A cursor of another organization, or a tampered one, is refused.
		r = a.call("GET", "/v1/keys", "/api/v1/keys?limit=1", key, "")
		acmeCursor := r.body["next_cursor"].(string)
		for _, c := range []string{acmeCursor[:len(acmeCursor)-2] + "xx", "garbage", "a.b"} {
			r = a.call("GET", "/v1/keys", "/api/v1/keys?cursor="+c, key, "")
			if r.status != 422 || !slices.Equal(r.fields(), []string{"cursor"}) {
				t.Errorf("cursor %q: %d %s", c, r.status, r.raw)
			}
		}
		r = a.call("GET", "/v1/keys", "/api/v1/keys?cursor="+acmeCursor, a.creds[credOtherOrg], "")
		if r.status != 422 {
			t.Errorf("another organization's cursor: %d", r.status)
		}
		r = a.call("GET", "/v1/keys", "/api/v1/keys?limit=101", key, "")
		if r.status != 422 || !slices.Equal(r.fields(), []string{"limit"}) {
			t.Errorf("limit=101: %d %s", r.status, r.raw)
		}
	})
}

// TestAPIBadInput: unreadable or wrong input is a 4xx in the error shape,
// never a 500.
func TestAPIBadInput(t *testing.T) {
	a := newAPIEnv(t, storetest.SQLite(t))
	key := a.creds[credManage]
	big := `{"description": "` + strings.Repeat("x", 70<<10) + `"}`
	cases := []struct {
		name, method, route, path, body string
		status                          int
		code                            string
		fields                          []string
	}{
		{"unknown field", "POST", "/v1/keys", "/api/v1/keys", `{"description": "x", "colour": "red"}`, 422, "invalid", []string{"colour"}},
		{"missing description", "POST", "/v1/keys", "/api/v1/keys", `{"kind": "private"}`, 422, "invalid", []string{"description"}},
		{"wrong type", "POST", "/v1/keys", "/api/v1/keys", `{"description": 5}`, 422, "invalid", []string{"description"}},
		{"bad kind", "POST", "/v1/keys", "/api/v1/keys", `{"description": "x", "kind": "secret"}`, 422, "invalid", []string{"kind"}},
		{"unknown scope", "POST", "/v1/keys", "/api/v1/keys", `{"description": "x", "scopes": ["nope"]}`, 422, "invalid", []string{"scopes"}},
		{"bad expiry", "POST", "/v1/keys", "/api/v1/keys", `{"description": "x", "expires_at": "soon"}`, 422, "invalid", []string{"expires_at"}},
		{"malformed JSON", "POST", "/v1/keys", "/api/v1/keys", `{"description": `, 400, "bad_request", nil},
		{"not an object", "PATCH", "/v1/keys/{id}", "/api/v1/keys/" + a.ids[credRead], `[1, 2]`, 422, "invalid", nil},
		{"oversized", "POST", "/v1/keys", "/api/v1/keys", big, 413, "too_large", nil},
		{"id not a uuid", "GET", "/v1/keys/{id}", "/api/v1/keys/not-an-id", "", 404, "not_found", nil},
		{"id upper case", "GET", "/v1/keys/{id}", "/api/v1/keys/" + strings.ToUpper(a.ids[credRead]), "", 404, "not_found", nil},
		{"id escaped", "POST", "/v1/keys/{id}/revoke", "/api/v1/keys/%2e%2e%2fx/revoke", "", 404, "not_found", nil},
		{"unknown id", "PATCH", "/v1/keys/{id}", "/api/v1/keys/" + store.NewID(), `{"description": "x"}`, 404, "not_found", nil},
		{"no such endpoint", "GET", "", "/api/v1/nothing", "", 404, "not_found", nil},
		{"no such method", "DELETE", "", "/api/v1/keys", "", 404, "not_found", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := a.call(c.method, c.route, c.path, key, c.body)
			if r.status != c.status || r.code() != c.code {
				t.Errorf("%d %q, want %d %q: %.300s", r.status, r.code(), c.status, c.code, r.raw)
			}
			if c.fields != nil && !slices.Equal(r.fields(), c.fields) {
				t.Errorf("fields %v, want %v", r.fields(), c.fields)
			}
		})
	}
}

// TestAPIRateLimit: 600 requests in a minute pass, the 601st is 429 with
// Retry-After; a minute later the key gets in again.
func TestAPIRateLimit(t *testing.T) {
	a := newAPIEnv(t, storetest.SQLite(t))
	key := a.creds[credManage]
	for i := range 600 {
		r := a.call("GET", "", "/api/v1/keys/"+a.ids[credRead], key, "")
		if r.status != 200 {
			t.Fatalf("request %d: %d %s", i+1, r.status, r.raw)
		}
	}
	r := a.call("GET", "/v1/keys/{id}", "/api/v1/keys/"+a.ids[credRead], key, "")
	if r.status != 429 || r.code() != "rate_limited" || r.header.Get("Retry-After") != "60" {
		t.Fatalf("601st: %d %q Retry-After %q", r.status, r.code(), r.header.Get("Retry-After"))
	}
	// Another key has its own budget.
	other := a.mustKey(a.acme.ID, apikey.Input{Description: "Second CI", Kind: "private", Environment: "live", Scopes: []string{"keys:manage"}})
	if r := a.call("GET", "", "/api/v1/keys/"+a.ids[credRead], other.Secret, ""); r.status != 200 {
		t.Errorf("another key: %d", r.status)
	}
	a.clock.Advance(61 * time.Second)
	if r := a.call("GET", "", "/api/v1/keys/"+a.ids[credRead], key, ""); r.status != 200 {
		t.Errorf("a minute later: %d", r.status)
	}
}

// TestAPIIdempotency: the same create or rotate again is a replay naming
// the first key, never a second key or the secret again; another body is
// a mismatch; a claim still running is in progress.
func TestAPIIdempotency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPIEnv(t, db)
		key := a.creds[credManage]
		body := `{"description": "Nightly export"}`
		r := a.call("POST", "/v1/keys", "/api/v1/keys", key, body, "Idempotency-Key", "export-1")
		if r.status != 201 {
			t.Fatalf("first: %d %s", r.status, r.raw)
		}
		first := r.body["id"].(string)
		r = a.call("POST", "/v1/keys", "/api/v1/keys", key, body, "Idempotency-Key", "export-1")
		if r.status != 409 || r.code() != "idempotency_replay" || r.body["error"].(map[string]any)["key_id"] != first {
			t.Errorf("replay: %d %s", r.status, r.raw)
		}
		if r.body["secret"] != nil || strings.Contains(string(r.raw), "_sk_") {
			t.Errorf("a replay carries a secret: %s", r.raw)
		}
		r = a.call("POST", "/v1/keys", "/api/v1/keys", key, `{"description": "Something else"}`, "Idempotency-Key", "export-1")
		if r.status != 422 || r.code() != "idempotency_mismatch" {
			t.Errorf("mismatch: %d %s", r.status, r.raw)
		}
		// Another credential's idempotency keys are its own.
		r = a.call("POST", "/v1/keys", "/api/v1/keys", a.creds[credOtherOrg], body, "Idempotency-Key", "export-1")
		if r.status != 201 {
			t.Errorf("another credential, same idempotency key: %d %s", r.status, r.raw)
		}
		// A create that fails frees the idempotency key.
		r = a.call("POST", "/v1/keys", "/api/v1/keys", key, `{"description": "x", "scopes": ["nope"]}`, "Idempotency-Key", "export-2")
		if r.status != 422 {
			t.Fatalf("invalid create: %d", r.status)
		}
		r = a.call("POST", "/v1/keys", "/api/v1/keys", key, `{"description": "x", "scopes": ["nope"]}`, "Idempotency-Key", "export-2")
		if r.status != 422 || r.code() != "invalid" {
			t.Errorf("retry of a failed create: %d %s", r.status, r.raw)
		}
		// A claim without a result is a request still running.
		claim := idempotency.Record{CredentialID: a.ids[credManage], IdempotencyKey: "running", RequestHash: []byte("x"), CreatedAt: a.clock.Now()}
		if err := db.Create(&claim).Error; err != nil {
			t.Fatal(err)
		}
		r = a.call("POST", "/v1/keys/{id}/rotate", "/api/v1/keys/"+a.ids[credRead]+"/rotate", key, `{"grace": "0"}`, "Idempotency-Key", "running")
		if r.status != 422 || r.code() != "idempotency_mismatch" {
			t.Errorf("another request's claim: %d %s", r.status, r.raw)
		}
		rotate := `{"grace": "0"}`
		hash := idempotency.Hash([]byte("POST /v1/keys/"+a.ids[credRead]+"/rotate"), []byte(rotate))
		if err := db.Model(&idempotency.Record{}).Where("idempotency_key = ?", "running").Update("request_hash", hash).Error; err != nil {
			t.Fatal(err)
		}
		r = a.call("POST", "/v1/keys/{id}/rotate", "/api/v1/keys/"+a.ids[credRead]+"/rotate", key, rotate, "Idempotency-Key", "running")
		if r.status != 409 || r.code() != "idempotency_in_progress" {
			t.Errorf("in progress: %d %s", r.status, r.raw)
		}
		// A claim abandoned for longer than idempotency.Abandoned is taken
		// over; one older than a day is forgotten.
		a.clock.Advance(idempotency.Abandoned + time.Second)
		r = a.call("POST", "/v1/keys/{id}/rotate", "/api/v1/keys/"+a.ids[credRead]+"/rotate", key, rotate, "Idempotency-Key", "running")
		if r.status != 201 {
			t.Errorf("abandoned claim: %d %s", r.status, r.raw)
		}
		a.clock.Advance(idempotency.Retention)
		r = a.call("POST", "/v1/keys", "/api/v1/keys", key, body, "Idempotency-Key", "export-1")
		if r.status != 201 || r.body["id"] == first {
			t.Errorf("a day later: %d %s", r.status, r.raw)
		}
	})
}

// TestAPIIdempotencyConcurrent: parallel requests with one idempotency key
// create exactly one key.
func TestAPIIdempotencyConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPIEnv(t, db)
		const n = 8
		var wg sync.WaitGroup
		statuses := make([]int, n)
		codes := make([]string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := a.call("POST", "/v1/keys", "/api/v1/keys", a.creds[credManage], `{"description": "Exactly once"}`, "Idempotency-Key", "once")
				statuses[i], codes[i] = r.status, r.code()
			}()
		}
		wg.Wait()
		created := 0
		for i := range n {
			switch {
			case statuses[i] == 201:
				created++
			case statuses[i] == 409 && (codes[i] == "idempotency_replay" || codes[i] == "idempotency_in_progress"):
			default:
				t.Errorf("request %d: %d %q", i, statuses[i], codes[i])
			}
		}
		var keys int64
		db.Model(&apikey.Key{}).Where("org_id = ? AND description = ?", a.acme.ID, "Exactly once").Count(&keys)
		if created != 1 || keys != 1 {
			t.Errorf("%d answers 201 and %d keys exist, want 1 and 1 (statuses %v)", created, keys, statuses)
		}
	})
}

// TestAPIRequestLog: one line per request with the route pattern; never
// the key, the query string or the path's ids.
func TestAPIRequestLog(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	a := newAPIEnv(t, storetest.SQLite(t), func(d *Deps) {
		d.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	})
	key := a.creds[credManage]
	a.call("GET", "/v1/keys/{id}", "/api/v1/keys/"+a.ids[credRead], key, "")
	a.call("GET", "/v1/keys", "/api/v1/keys?q=secret-term", "", "", "Authorization", "Bearer "+key)
	a.call("GET", "/v1/keys", "/api/v1/keys?q=secret-term", a.creds[credUnknown], "")
	mu.Lock()
	logs := buf.String()
	mu.Unlock()
	for _, bad := range []string{key, a.creds[credUnknown], "secret-term", a.ids[credRead]} {
		if strings.Contains(logs, bad) {
			t.Errorf("the log shows %q:\n%s", bad, logs)
		}
	}
	for _, want := range []string{"route=/api/v1/keys/:id", "key_id=" + a.ids[credManage], "status=401"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
	// No cookie is ever set.
	r := a.call("GET", "/v1/keys", "/api/v1/keys", key, "")
	if c := r.header.Values("Set-Cookie"); len(c) > 0 {
		t.Errorf("cookies set: %v", c)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestAPIExpiry: expires_at takes a date (the end of that day, UTC) or an
// RFC 3339 time (to the second).
func TestAPIExpiry(t *testing.T) {
	a := newAPIEnv(t, storetest.SQLite(t))
	at := a.clock.Now().Add(36 * time.Hour).Truncate(time.Second)
	r := a.call("POST", "/v1/keys", "/api/v1/keys", a.creds[credManage],
		`{"description": "Short-lived", "expires_at": "`+at.In(time.FixedZone("", 2*3600)).Format(time.RFC3339)+`"}`)
	if r.status != 201 || r.body["expires_at"] != at.UTC().Format(time.RFC3339) || r.body["status"] != "expiring" {
		t.Fatalf("create with a time: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	// An edit that leaves expires_at alone keeps it to the second.
	r = a.call("PATCH", "/v1/keys/{id}", "/api/v1/keys/"+id, a.creds[credManage], `{"description": "Still short-lived"}`)
	if r.status != 200 || r.body["expires_at"] != at.UTC().Format(time.RFC3339) {
		t.Errorf("edit: %d %s", r.status, r.raw)
	}
}

// TestAPIOpenAPIDocument: the document is OpenAPI 3.1, and every operation
// documents its auth, its errors with examples, a response example and,
// with a body, a request example; lists document their pagination.
func TestAPIOpenAPIDocument(t *testing.T) {
	a := newAPIEnv(t, storetest.SQLite(t))
	doc := a.spec.doc
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi %v", doc["openapi"])
	}
	schemes := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
	if _, ok := schemes["apiKey"]; !ok {
		t.Errorf("no apiKey security scheme: %v", schemes)
	}
	paths := doc["paths"].(map[string]any)
	for _, op := range apiOps {
		o, ok := paths[op.route].(map[string]any)[strings.ToLower(op.method)].(map[string]any)
		if !ok {
			t.Errorf("%s %s is not in the document", op.method, op.route)
			continue
		}
		if sec, _ := o["security"].([]any); len(sec) == 0 {
			t.Errorf("%s: no security", op.name)
		}
		responses := o["responses"].(map[string]any)
		for _, status := range []string{"401", "403", "429", "503"} {
			r, ok := responses[status].(map[string]any)
			if !ok {
				t.Errorf("%s: %s not documented", op.name, status)
				continue
			}
			if r["content"].(map[string]any)["application/json"].(map[string]any)["example"] == nil {
				t.Errorf("%s: %s has no example", op.name, status)
			}
		}
		hasExample := false
		for status, r := range responses {
			if strings.HasPrefix(status, "2") {
				hasExample = r.(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["example"] != nil
			}
		}
		if !hasExample {
			t.Errorf("%s: no response example", op.name)
		}
		if op.body != "" {
			rb, _ := o["requestBody"].(map[string]any)
			if rb == nil || rb["content"].(map[string]any)["application/json"].(map[string]any)["example"] == nil {
				t.Errorf("%s: no request example", op.name)
			}
		}
	}
	var params []string
	for _, p := range paths["/v1/keys"].(map[string]any)["get"].(map[string]any)["parameters"].([]any) {
		params = append(params, p.(map[string]any)["name"].(string))
	}
	for _, want := range []string{"limit", "cursor", "status", "environment", "kind", "q"} {
		if !slices.Contains(params, want) {
			t.Errorf("list keys lacks the parameter %q", want)
		}
	}
	if desc, _ := doc["info"].(map[string]any)["description"].(string); !strings.Contains(desc, "next_cursor") || !strings.Contains(desc, "Idempotency-Key") {
		t.Errorf("the description does not explain pagination and idempotency")
	}
}

// TestAPIDocsPage: the reference loads Swagger UI from this server's own
// files under the dashboard's CSP, with no inline script.
func TestAPIDocsPage(t *testing.T) {
	a := newAPIEnv(t, storetest.SQLite(t))
	res, err := a.ts.Client().Get(a.ts.URL + "/api/docs")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self' 'nonce-") {
		t.Fatalf("%d, CSP %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
	doc, err := goquery.NewDocumentFromReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Find(`[data-testid="api-docs"][data-spec="/api/openapi.json"]`).Length() != 1 {
		t.Error("no element for the reference")
	}
	doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		src, _ := s.Attr("src")
		if !strings.HasPrefix(src, "/static/") || strings.TrimSpace(s.Text()) != "" {
			t.Errorf("script %q with inline text %q", src, s.Text())
		}
	})
	for _, name := range []string{"swagger-ui-bundle.js", "swagger-ui.css", "api-docs.js"} {
		r, err := a.ts.Client().Get(a.ts.URL + "/static/" + name)
		if err != nil || r.StatusCode != 200 {
			t.Errorf("/static/%s: %v %v", name, r.StatusCode, err)
		}
		r.Body.Close()
	}
}
