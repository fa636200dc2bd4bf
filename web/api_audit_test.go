package web

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestAPIAudit reads the audit log through the API: every event with its
// fields, the dashboard's filters, cursor pages that add up to the whole
// log, and refused cursors and filters.
func TestAPIAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPIEnv(t, db)
		key := a.creds[credManage]
		actor := apikey.Hint(key) + ` "CI deployer"`
		yesterday := a.clock.Now().UTC()
		r := a.call("POST", "/v1/keys", "/api/v1/keys", key, `{"description": "Nightly"}`, "User-Agent", "deploy-bot/1.0")
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		nightly := r.body["id"].(string)
		a.clock.Advance(24 * time.Hour)
		today := a.clock.Now().UTC()
		r = a.call("POST", "/v1/keys/{id}/revoke", "/api/v1/keys/"+nightly+"/revoke", key, "", "User-Agent", "deploy-bot/1.0")
		if r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.raw)
		}

		// The whole log, as the audit service orders it.
		var want []audit.Event
		if err := db.Where("org_id = ?", a.acme.ID).Order("created_at DESC, id DESC").Find(&want).Error; err != nil {
			t.Fatal(err)
		}
		if len(want) < 8 {
			t.Fatalf("only %d events", len(want))
		}
		pages := func(query string) (ids []string, events []map[string]any) {
			t.Helper()
			cursor := ""
			for range 100 {
				path := "/api/v1/audit?" + query
				if cursor != "" {
					path += "&cursor=" + url.QueryEscape(cursor)
				}
				r := a.call("GET", "/v1/audit", path, key, "")
				if r.status != 200 {
					t.Fatalf("%s: %d %s", path, r.status, r.raw)
				}
				if cc := r.header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control %q", cc)
				}
				for _, e := range r.body["data"].([]any) {
					events = append(events, e.(map[string]any))
					ids = append(ids, e.(map[string]any)["id"].(string))
				}
				next, _ := r.body["next_cursor"].(string)
				if next == "" {
					if r.body["next_cursor"] != nil {
						t.Errorf("last page's next_cursor %v, want null", r.body["next_cursor"])
					}
					return ids, events
				}
				cursor = next
			}
			t.Fatal("no last page")
			return nil, nil
		}
		ids, events := pages("limit=3")
		var wantIDs []string
		for _, e := range want {
			wantIDs = append(wantIDs, e.ID)
		}
		if !slices.Equal(ids, wantIDs) {
			t.Fatalf("pages of 3 give %v, want %v", ids, wantIDs)
		}
		for i, e := range want {
			got := events[i]
			fields := map[string]any{
				"id": e.ID, "at": e.CreatedAt.UTC().Format(time.RFC3339Nano), "actor": audit.Actor{Email: e.ActorEmail}.Name(),
				"action": e.Action, "ip": e.IP, "user_agent": e.UserAgent,
			}
			if len(got) != 7 {
				t.Errorf("event fields %v", got)
			}
			for f, w := range fields {
				if f == "at" {
					at, err := time.Parse(time.RFC3339Nano, got["at"].(string))
					if err != nil || !at.Equal(e.CreatedAt) {
						t.Errorf("at %v, want %v", got["at"], e.CreatedAt)
					}
					continue
				}
				if got[f] != w {
					t.Errorf("event %d %s = %v, want %v", i, f, got[f], w)
				}
			}
			if tg := got["target"].(map[string]any); tg["type"] != e.TargetType || tg["id"] != e.TargetID {
				t.Errorf("target %v, want %s %s", tg, e.TargetType, e.TargetID)
			}
		}
		if events[0]["action"] != audit.KeyRevoked || events[0]["actor"] != actor || events[0]["user_agent"] != "deploy-bot/1.0" ||
			events[0]["ip"] != "127.0.0.1" || events[0]["target"].(map[string]any)["id"] != nightly {
			t.Errorf("the newest event %v", events[0])
		}

		// The dashboard's filters.
		ids, _ = pages("action=key.revoked&limit=1")
		if len(ids) != 2 { // the setup's revoked credential, and nightly
			t.Errorf("action=key.revoked: %v", ids)
		}
		_, events = pages("actor=" + url.QueryEscape(`ci DEPLOYER`))
		if len(events) != 2 || events[0]["action"] != audit.KeyRevoked || events[1]["action"] != audit.KeyCreated {
			t.Errorf("actor filter: %v", events)
		}
		_, events = pages("from=" + today.Format(time.DateOnly))
		if len(events) != 1 || events[0]["action"] != audit.KeyRevoked {
			t.Errorf("from today: %v", events)
		}
		ids, _ = pages("to=" + yesterday.Format(time.DateOnly))
		if len(ids) != len(want)-1 {
			t.Errorf("to yesterday: %d events, want %d", len(ids), len(want)-1)
		}
		ids, _ = pages("from=" + yesterday.AddDate(0, 0, -1).Format(time.DateOnly) + "&to=" + yesterday.AddDate(0, 0, -1).Format(time.DateOnly))
		if len(ids) != 0 {
			t.Errorf("the day before: %v", ids)
		}

		// Refused: cursors not issued for this log, unknown filters.
		r = a.call("GET", "/v1/keys", "/api/v1/keys?limit=1", key, "")
		keysCursor := r.body["next_cursor"].(string)
		r = a.call("GET", "/v1/audit", "/api/v1/audit?limit=1", key, "")
		auditCursor := r.body["next_cursor"].(string)
		for name, c := range map[string]string{
			"tampered": auditCursor[:len(auditCursor)-2] + "xx", "garbage": "garbage", "a key list's": keysCursor,
			"the dashboard's": audit.CursorOf(want[0]).String(),
		} {
			r = a.call("GET", "/v1/audit", "/api/v1/audit?cursor="+url.QueryEscape(c), key, "")
			if r.status != 422 || !slices.Equal(r.fields(), []string{"cursor"}) {
				t.Errorf("%s cursor: %d %s", name, r.status, r.raw)
			}
		}
		r = a.call("GET", "/v1/audit", "/api/v1/audit?cursor="+url.QueryEscape(auditCursor), a.creds[credOtherOrg], "")
		if r.status != 422 {
			t.Errorf("another organization's cursor: %d", r.status)
		}
		for query, field := range map[string]string{
			"action=key.deleted": "action", "from=yesterday": "from", "to=2026-13-01": "to", "limit=0": "limit", "limit=101": "limit",
		} {
			r = a.call("GET", "/v1/audit", "/api/v1/audit?"+query, key, "")
			if r.status != 422 || r.code() != "invalid" || !slices.Equal(r.fields(), []string{field}) {
				t.Errorf("%s: %d %s", query, r.status, r.raw)
			}
		}

		// Another organization reads only its own log.
		r = a.call("GET", "/v1/audit", "/api/v1/audit?limit=100", a.creds[credOtherOrg], "")
		for _, e := range r.body["data"].([]any) {
			if id := e.(map[string]any)["id"].(string); slices.Contains(wantIDs, id) {
				t.Errorf("another organization reads acme's event %s", id)
			}
		}
		if strings.Contains(string(r.raw), nightly) {
			t.Errorf("another organization's log names acme's key")
		}
	})
}
