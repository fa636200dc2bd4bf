package web

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestAPIMembers lists, invites, promotes, demotes and removes members
// through the API, keeps the last admin, and records every change with
// the key as actor.
func TestAPIMembers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var buf bytes.Buffer
		var mu sync.Mutex
		a := newAPIEnv(t, db, func(d *Deps) {
			d.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
		})
		key := a.creds[credManage]
		ctx := context.Background()
		loggedIn := a.clock.Now().UTC()
		if err := db.Table("users").Where("id = ?", a.bob.ID).Update("last_login_at", loggedIn).Error; err != nil {
			t.Fatal(err)
		}

		// The list: people, admins first, then by email; no key among them.
		r := a.call("GET", "/v1/members", "/api/v1/members", key, "")
		if r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.raw)
		}
		list := r.body["data"].([]any)
		if len(list) != 2 {
			t.Fatalf("members %s", r.raw)
		}
		admin, bob := list[0].(map[string]any), list[1].(map[string]any)
		for _, m := range []map[string]any{admin, bob} {
			if len(m) != 6 {
				t.Errorf("member fields %v", m)
			}
		}
		if admin["id"] != a.admin.ID || admin["email"] != "admin@example.com" || admin["name"] != "Admin" || admin["role"] != "admin" ||
			admin["last_login_at"] != nil {
			t.Errorf("admin %v", admin)
		}
		if bob["id"] != a.bob.ID || bob["email"] != "bob@example.com" || bob["name"] != "Bob" || bob["role"] != "member" ||
			bob["last_login_at"] != loggedIn.Format(time.RFC3339) || bob["joined_at"] != loggedIn.Format(time.RFC3339) {
			t.Errorf("bob %v", bob)
		}

		// Invite: the link once, never stored, never logged.
		r = a.call("POST", "/v1/members", "/api/v1/members", key, `{"email": "Grace@Example.com", "role": "admin"}`)
		if r.status != 201 {
			t.Fatalf("invite: %d %s", r.status, r.raw)
		}
		link, _ := r.body["url"].(string)
		prefix := a.cfg.BaseURL.String() + "/invites/"
		if !strings.HasPrefix(link, prefix) || len(link) < len(prefix)+40 || len(r.body) != 2 {
			t.Fatalf("invite answer %s", r.raw)
		}
		if r.body["expires_at"] != a.clock.Now().Add(org.InviteTTL).UTC().Format(time.RFC3339) {
			t.Errorf("expires_at %v", r.body["expires_at"])
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		token := strings.TrimPrefix(link, prefix)
		inv, err := a.orgs.InviteByToken(ctx, token)
		if err != nil || inv.Email != "grace@example.com" || inv.Role != org.Admin || inv.OrgID != a.acme.ID {
			t.Errorf("the link leads to %+v, %v", inv, err)
		}
		// The members page lists the invitation without a person behind it.
		dash := a.client()
		dash.mustLogin("admin@example.com")
		page := dash.get("/orgs/acme/members")
		if !strings.Contains(page.body, "grace@example.com") || !strings.Contains(page.body, "invited by an API key or the command line") {
			t.Errorf("the members page does not list the invitation:\n%s", page.body)
		}
		// An existing member.
		r = a.call("POST", "/v1/members", "/api/v1/members", key, `{"email": "bob@example.com", "role": "member"}`)
		if r.status != 409 || r.code() != "conflict" {
			t.Errorf("an existing member: %d %s", r.status, r.raw)
		}
		for body, field := range map[string]string{
			`{"email": "not an email", "role": "member"}`: "email",
			`{"email": "x@example.com", "role": "owner"}`: "role",
			`{"email": "x@example.com"}`:                  "role",
		} {
			r = a.call("POST", "/v1/members", "/api/v1/members", key, body)
			if r.status != 422 || !slices.Equal(r.fields(), []string{field}) {
				t.Errorf("%s: %d %s", body, r.status, r.raw)
			}
		}

		// Roles: the last admin can be neither demoted nor removed.
		r = a.call("PATCH", "/v1/members/{id}", "/api/v1/members/"+a.admin.ID, key, `{"role": "member"}`)
		if r.status != 409 || r.code() != "conflict" {
			t.Errorf("demote the last admin: %d %s", r.status, r.raw)
		}
		r = a.call("DELETE", "/v1/members/{id}", "/api/v1/members/"+a.admin.ID, key, "")
		if r.status != 409 || r.code() != "conflict" {
			t.Errorf("remove the last admin: %d %s", r.status, r.raw)
		}
		r = a.call("PATCH", "/v1/members/{id}", "/api/v1/members/"+a.bob.ID, key, `{"role": "admin"}`)
		if r.status != 200 || r.body["role"] != "admin" || r.body["id"] != a.bob.ID || r.body["email"] != "bob@example.com" {
			t.Fatalf("promote: %d %s", r.status, r.raw)
		}
		r = a.call("PATCH", "/v1/members/{id}", "/api/v1/members/"+a.admin.ID, key, `{"role": "member"}`)
		if r.status != 200 || r.body["role"] != "member" {
			t.Errorf("demote with another admin: %d %s", r.status, r.raw)
		}
		r = a.call("PATCH", "/v1/members/{id}", "/api/v1/members/"+a.bob.ID, key, `{"role": "boss"}`)
		if r.status != 422 || !slices.Equal(r.fields(), []string{"role"}) {
			t.Errorf("unknown role: %d %s", r.status, r.raw)
		}
		r = a.call("DELETE", "/v1/members/{id}", "/api/v1/members/"+a.bob.ID, key, "")
		if r.status != 409 {
			t.Errorf("remove the last admin (bob now): %d %s", r.status, r.raw)
		}
		r = a.call("DELETE", "/v1/members/{id}", "/api/v1/members/"+a.admin.ID, key, "")
		if r.status != 200 || r.body["id"] != a.admin.ID || r.body["role"] != "member" {
			t.Fatalf("remove: %d %s", r.status, r.raw)
		}
		if _, err := a.orgs.Member(ctx, a.acme.ID, a.admin.ID); err == nil {
			t.Error("still a member")
		}
		// Removed, unknown, or another organization's: 404.
		for _, id := range []string{a.admin.ID, store.NewID(), "not-an-id"} {
			r = a.call("DELETE", "/v1/members/{id}", "/api/v1/members/"+id, key, "")
			if r.status != 404 || r.code() != "not_found" {
				t.Errorf("DELETE %s: %d %s", id, r.status, r.raw)
			}
			r = a.call("PATCH", "/v1/members/{id}", "/api/v1/members/"+id, key, `{"role": "admin"}`)
			if r.status != 404 {
				t.Errorf("PATCH %s: %d %s", id, r.status, r.raw)
			}
		}
		// The other organization's admin is untouched.
		if m, err := a.orgs.Member(ctx, a.other.ID, a.admin.ID); err != nil || m.Role != org.Admin {
			t.Errorf("the other organization's admin: %+v, %v", m, err)
		}

		// The audit log names the key for every change.
		var events []audit.Event
		if err := db.Where("org_id = ? AND action LIKE 'member.%'", a.acme.ID).Order("created_at, id").Find(&events).Error; err != nil {
			t.Fatal(err)
		}
		actor := apikey.Hint(key) + ` "CI deployer"`
		var actions []string
		for _, e := range events {
			if e.ActorEmail == "" {
				continue // the setup's
			}
			if e.ActorEmail != actor || !strings.HasPrefix(e.Summary, actor+" ") || e.ActorID != nil || e.IP != "127.0.0.1" {
				t.Errorf("event %s: actor %q, summary %q", e.Action, e.ActorEmail, e.Summary)
			}
			if strings.Contains(e.Summary, token) {
				t.Errorf("the audit log holds the invite token: %s", e.Summary)
			}
			actions = append(actions, e.Action)
		}
		want := []string{audit.MemberInvited, audit.MemberRoleChanged, audit.MemberRoleChanged, audit.MemberRemoved}
		if !slices.Equal(actions, want) {
			t.Errorf("audit actions %v, want %v", actions, want)
		}

		mu.Lock()
		logs := buf.String()
		mu.Unlock()
		if strings.Contains(logs, token) {
			t.Errorf("the log shows the invite token:\n%s", logs)
		}
		if !strings.Contains(logs, "route=/api/v1/members") {
			t.Errorf("no request line for invites:\n%s", logs)
		}
	})
}
