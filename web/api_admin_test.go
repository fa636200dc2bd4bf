package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/audit"
	"keyplane/internal/optoken"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// Operator credentials of adminEnv, besides apiEnv's keys.
const (
	opValid     = "operator"         // an active token, any address
	opMalformed = "malformed_bearer" // not a token
	opUnknown   = "unknown_token"    // well-formed, never stored
	opRevoked   = "revoked_token"    // revoked
	opExpired   = "expired_token"    // past its expiry (fake clock)
	opWrongIP   = "disallowed_ip"    // allowlist without 127.0.0.1
	opOrgManage = "org_key_manage"   // an org key with keys:manage
	opOrgAdmin  = "org_key_admin"    // an org key with admin
	opNone      = "no_authorization" // nothing at all
)

// adminEnv is apiEnv with operator tokens of every kind.
type adminEnv struct {
	*apiEnv
	tokens  *optoken.Service
	bearers map[string]string // credential name → the bearer token ("" for none)
	tokenID string            // opValid's id
}

func newAdminEnv(t *testing.T, db *store.DB, tweaks ...func(*Deps)) *adminEnv {
	t.Helper()
	a := &adminEnv{apiEnv: newAPIEnv(t, db, tweaks...), bearers: map[string]string{}}
	a.tokens = optoken.NewService(db, a.cfg.KeyPrefix, a.clock.Now)
	ctx := context.Background()
	mk := func(name string, in optoken.Input) optoken.Token {
		secret, tok, err := a.tokens.Create(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		a.bearers[name] = secret
		return tok
	}
	a.tokenID = mk(opValid, optoken.Input{Name: "Provisioner"}).ID
	revoked := mk(opRevoked, optoken.Input{Name: "Old provisioner"})
	if _, err := a.tokens.Revoke(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	mk(opExpired, optoken.Input{Name: "Short-lived", ExpiresIn: time.Minute})
	mk(opWrongIP, optoken.Input{Name: "Office only", IPs: []string{"203.0.113.0/24"}})
	a.clock.Advance(2 * time.Minute)
	unknown, err := optoken.Generate(nil, a.cfg.KeyPrefix)
	if err != nil {
		t.Fatal(err)
	}
	a.bearers[opUnknown] = unknown
	a.bearers[opMalformed] = a.cfg.KeyPrefix + "_op_not-a-token"
	a.bearers[opOrgManage] = a.creds[credManage]
	a.bearers[opOrgAdmin] = a.creds[credAdmin]
	a.bearers[opNone] = ""
	return a
}

// op sends method path with credential name as a bearer token, checked
// against the document like apiEnv.call.
func (a *adminEnv) op(method, route, path, name, body string, headers ...string) apiResponse {
	a.t.Helper()
	if b := a.bearers[name]; b != "" {
		headers = append(headers, "Authorization", "Bearer "+b)
	}
	return a.call(method, route, path, "", body, headers...)
}

// adminOp is one operation of the operator API as a scenario calls it.
type adminOp struct {
	name, method, route string
	path                func(a *adminEnv) string
	body                string
	ok                  int
}

// headers are what op sends besides its credential: an import's body is
// JSON lines.
func (op adminOp) headers() []string {
	if strings.HasSuffix(op.route, "/keys/import") {
		return []string{"Content-Type", "application/x-ndjson"}
	}
	return nil
}

func adminPath(p string) func(*adminEnv) string {
	return func(*adminEnv) string { return "/api" + p }
}

func bobPath(suffix string) func(*adminEnv) string {
	return func(a *adminEnv) string { return "/api/v1/admin/users/" + a.bob.ID + suffix }
}

// bobIn names Bob as a member of organization slug.
func bobIn(slug string) func(*adminEnv) string {
	return func(a *adminEnv) string { return "/api/v1/admin/orgs/" + slug + "/members/" + a.bob.ID }
}

var adminOps = []adminOp{
	{"list-orgs", "GET", "/v1/admin/orgs", adminPath("/v1/admin/orgs"), "", 200},
	{"create-org", "POST", "/v1/admin/orgs", adminPath("/v1/admin/orgs"), `{"name": "Scenario", "slug": "scenario"}`, 201},
	{"get-org", "GET", "/v1/admin/orgs/{slug}", adminPath("/v1/admin/orgs/acme"), "", 200},
	{"add-member", "POST", "/v1/admin/orgs/{slug}/members", adminPath("/v1/admin/orgs/other/members"), `{"email": "bob@example.com", "role": "member"}`, 201},
	{"member-role", "PATCH", "/v1/admin/orgs/{slug}/members/{id}", bobIn("other"), `{"role": "admin"}`, 200},
	{"member-remove", "DELETE", "/v1/admin/orgs/{slug}/members/{id}", bobIn("other"), "", 200},
	{"disable-org", "POST", "/v1/admin/orgs/{slug}/disable", adminPath("/v1/admin/orgs/other/disable"), "", 200},
	{"enable-org", "POST", "/v1/admin/orgs/{slug}/enable", adminPath("/v1/admin/orgs/other/enable"), "", 200},
	{"import-keys", "POST", "/v1/admin/orgs/{slug}/keys/import", adminPath("/v1/admin/orgs/acme/keys/import"),
		`{"sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "description": "Imported"}`, 200},
	{"invite", "POST", "/v1/admin/orgs/{slug}/invites", adminPath("/v1/admin/orgs/acme/invites"), `{"email": "new@example.com", "role": "member"}`, 201},
	{"create-user", "POST", "/v1/admin/users", adminPath("/v1/admin/users"), `{"email": "sso@example.com", "name": "SSO user"}`, 201},
	{"disable-user", "POST", "/v1/admin/users/{id}/disable", bobPath("/disable"), "", 200},
	{"enable-user", "POST", "/v1/admin/users/{id}/enable", bobPath("/enable"), "", 200},
	{"list-products", "GET", "/v1/admin/products", adminPath("/v1/admin/products"), "", 200},
	{"create-product", "POST", "/v1/admin/products", adminPath("/v1/admin/products"), `{"slug": "scenario", "name": "Scenario", "key_format": "scn_{env}_"}`, 201},
	{"update-product", "PATCH", "/v1/admin/products/{slug}", adminPath("/v1/admin/products/scenario"), `{"name": "Scenario 2"}`, 200},
	{"delete-product", "DELETE", "/v1/admin/products/{slug}", adminPath("/v1/admin/products/scenario"), "", 200},
	{"portal-session", "POST", "/v1/admin/portal-sessions", adminPath("/v1/admin/portal-sessions"),
		`{"org": "acme", "email": "bob@example.com", "return_url": "https://app.example.com/settings"}`, 201},
	{"report-leaks", "POST", "/v1/admin/leaks", adminPath("/v1/admin/leaks"), `[{"token": "kp_sk_live_nothing", "type": "scanner"}]`, 200},
}

// TestAdminAPICredentials is the operator API's scenario table: every
// operation with every credential that must be refused (401, nothing
// changed), then with a valid token. API keys never get in, whatever their
// scopes.
func TestAdminAPICredentials(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAdminEnv(t, db)
		for _, r := range a.srv.Routes() {
			if r.Method == echo.RouteNotFound || !strings.HasPrefix(r.Path, "/api/v1/admin/") {
				continue
			}
			route := strings.TrimPrefix(strings.NewReplacer(":id", "{id}", ":slug", "{slug}").Replace(r.Path), "/api")
			if !slices.ContainsFunc(adminOps, func(op adminOp) bool { return op.method == r.Method && op.route == route }) {
				t.Errorf("route %s %s has no row in adminOps", r.Method, r.Path)
			}
		}
		refused := []string{opNone, opMalformed, opUnknown, opRevoked, opExpired, opWrongIP, opOrgManage, opOrgAdmin}
		users, orgs, events, products := a.count("users"), a.count("organizations"), a.count("audit_events"), a.count("products")
		for _, op := range adminOps {
			for _, cred := range refused {
				t.Run(op.name+"/"+cred, func(t *testing.T) {
					r := a.op(op.method, op.route, op.path(a), cred, op.body, op.headers()...)
					if r.status != 401 || r.code() != "unauthorized" {
						t.Errorf("%d %q, want 401 unauthorized: %s", r.status, r.code(), r.raw)
					}
				})
			}
			// An org key in X-Api-Key, alone or beside a valid token.
			for _, key := range []string{a.creds[credManage], a.creds[credAdmin]} {
				if r := a.call(op.method, op.route, op.path(a), key, op.body); r.status != 401 {
					t.Errorf("%s with an org key in X-Api-Key: %d", op.name, r.status)
				}
				if r := a.op(op.method, op.route, op.path(a), opValid, op.body, append(op.headers(), "X-Api-Key", key)...); r.status != 401 {
					t.Errorf("%s with a token and an org key: %d", op.name, r.status)
				}
			}
		}
		if a.count("users") != users || a.count("organizations") != orgs || a.count("audit_events") != events || a.count("products") != products || a.count("invites") != 0 || a.count("portal_links") != 0 {
			t.Fatalf("a refused request changed something")
		}
		if u, _ := a.accounts.UserByID(context.Background(), a.bob.ID); u.Disabled() {
			t.Fatalf("a refused request disabled Bob")
		}
		for _, op := range adminOps {
			r := a.op(op.method, op.route, op.path(a), opValid, op.body, op.headers()...)
			if r.status != op.ok {
				t.Errorf("%s with a valid token: %d, want %d: %s", op.name, r.status, op.ok, r.raw)
			}
		}
	})
}

// TestOperatorTokenElsewhere: an operator token is refused by every
// operation of the org API and by the data plane, where /v1/verify
// answers valid:false unauthorized.
func TestOperatorTokenElsewhere(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAdminEnv(t, db)
		token := a.bearers[opValid]
		target := a.ids[credRead]
		for _, op := range apiOps {
			path := op.path(a.apiEnv, target)
			for _, hdr := range [][]string{{"Authorization", "Bearer " + token}, {"X-Api-Key", token}} {
				r := a.call(op.method, op.route, path, "", op.body, hdr...)
				if r.status != 401 || r.code() != "unauthorized" {
					t.Errorf("%s with an operator token in %s: %d %s", op.name, hdr[0], r.status, r.raw)
				}
			}
		}
		send := func(method, path, body string, hdr ...string) (int, map[string]any) {
			req, _ := http.NewRequest(method, a.ts.URL+path, strings.NewReader(body))
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			res, err := a.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			var out map[string]any
			json.Unmarshal(raw, &out)
			return res.StatusCode, out
		}
		for _, path := range []string{"/v1/auth", "/v1/auth/messages", "/v1/me"} {
			for _, hdr := range []string{"Authorization", "X-Api-Key"} {
				v := token
				if hdr == "Authorization" {
					v = "Bearer " + token
				}
				if status, _ := send("GET", path, "", hdr, v); status != 401 {
					t.Errorf("%s with an operator token in %s: %d", path, hdr, status)
				}
			}
		}
		status, body := send("POST", "/v1/verify", `{"key": "`+token+`"}`, "Content-Type", "application/json")
		if status != 200 || body["valid"] != false || body["code"] != "unauthorized" {
			t.Errorf("/v1/verify: %d %v", status, body)
		}
		// Nothing counted as a use of the token.
		tok, _ := a.tokens.Get(context.Background(), a.tokenID)
		if tok.LastUsedAt != nil {
			t.Errorf("refused elsewhere, yet used at %v", tok.LastUsedAt)
		}
	})
}

// TestAdminAPIProvisioning walks an organization's provisioning: a user
// without a password, an organization with them as admin, a member added,
// an invitation, disable and enable; every field asserted and every change
// in the organization's audit log under the token's name.
func TestAdminAPIProvisioning(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var buf bytes.Buffer
		var mu sync.Mutex
		a := newAdminEnv(t, db, func(d *Deps) {
			d.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
		})
		now := a.clock.Now().UTC().Format(time.RFC3339)

		r := a.op("POST", "/v1/admin/users", "/api/v1/admin/users", opValid, `{"email": "Grace@Example.com", "name": "Grace Hopper"}`)
		if r.status != 201 {
			t.Fatalf("create user: %d %s", r.status, r.raw)
		}
		grace := r.body["id"].(string)
		for f, want := range map[string]any{"email": "grace@example.com", "name": "Grace Hopper", "operator": false, "has_password": false,
			"disabled_at": nil, "last_login_at": nil, "created_at": now} {
			if r.body[f] != want {
				t.Errorf("user %s = %v, want %v", f, r.body[f], want)
			}
		}
		if _, err := a.accounts.Authenticate(context.Background(), "grace@example.com", ""); err == nil {
			t.Error("a user without a password signs in")
		}
		r = a.op("POST", "/v1/admin/users", "/api/v1/admin/users", opValid, `{"email": "grace@example.com", "name": "Again"}`)
		if r.status != 409 {
			t.Errorf("the same email again: %d %s", r.status, r.raw)
		}
		r = a.op("POST", "/v1/admin/users", "/api/v1/admin/users", opValid, `{"email": "nope", "name": ""}`)
		if r.status != 422 || !slices.Equal(r.fields(), []string{"email", "name"}) {
			t.Errorf("bad user: %d %s", r.status, r.raw)
		}

		r = a.op("POST", "/v1/admin/orgs", "/api/v1/admin/orgs", opValid, `{"name": "Globex", "slug": "globex", "admin": "grace@example.com"}`)
		if r.status != 201 {
			t.Fatalf("create org: %d %s", r.status, r.raw)
		}
		globex := r.body["id"].(string)
		for f, want := range map[string]any{"name": "Globex", "slug": "globex", "members": float64(1), "created_at": now} {
			if r.body[f] != want {
				t.Errorf("org %s = %v, want %v", f, r.body[f], want)
			}
		}
		if m, err := a.orgs.Member(context.Background(), globex, grace); err != nil || m.Role != org.Admin {
			t.Errorf("grace is not globex's admin: %+v %v", m, err)
		}
		for body, field := range map[string]string{
			`{"name": "X", "slug": "admin"}`:                              "slug",
			`{"name": "X", "slug": "x-y", "admin": "nobody@example.com"}`: "admin",
			`{"name": "", "slug": "x-y"}`:                                 "name",
		} {
			r = a.op("POST", "/v1/admin/orgs", "/api/v1/admin/orgs", opValid, body)
			if r.status/100 != 4 || !slices.Equal(r.fields(), []string{field}) {
				t.Errorf("%s: %d %s", body, r.status, r.raw)
			}
		}
		r = a.op("POST", "/v1/admin/orgs", "/api/v1/admin/orgs", opValid, `{"name": "X", "slug": "globex"}`)
		if r.status != 409 || r.code() != "conflict" {
			t.Errorf("a taken slug: %d %s", r.status, r.raw)
		}
		r = a.op("POST", "/v1/admin/orgs", "/api/v1/admin/orgs", opValid, `{"name": "Initech", "slug": "initech"}`)
		if r.status != 201 || r.body["members"] != float64(0) {
			t.Errorf("an org without an admin: %d %s", r.status, r.raw)
		}

		r = a.op("GET", "/v1/admin/orgs/{slug}", "/api/v1/admin/orgs/globex", opValid, "")
		if r.status != 200 || r.body["id"] != globex {
			t.Errorf("get: %d %s", r.status, r.raw)
		}
		if r = a.op("GET", "/v1/admin/orgs/{slug}", "/api/v1/admin/orgs/nothing", opValid, ""); r.status != 404 || r.code() != "not_found" {
			t.Errorf("unknown slug: %d %s", r.status, r.raw)
		}
		r = a.op("GET", "/v1/admin/orgs", "/api/v1/admin/orgs", opValid, "")
		var slugs []string
		for _, o := range r.body["data"].([]any) {
			slugs = append(slugs, o.(map[string]any)["slug"].(string))
		}
		if !slices.Equal(slugs, []string{"acme", "globex", "initech", "other"}) {
			t.Errorf("list: %v", slugs)
		}

		r = a.op("POST", "/v1/admin/orgs/{slug}/members", "/api/v1/admin/orgs/globex/members", opValid, `{"email": "BOB@example.com", "role": "member"}`)
		if r.status != 201 || r.body["id"] != a.bob.ID || r.body["role"] != "member" || r.body["email"] != "bob@example.com" {
			t.Errorf("add member: %d %s", r.status, r.raw)
		}
		r = a.op("POST", "/v1/admin/orgs/{slug}/members", "/api/v1/admin/orgs/globex/members", opValid, `{"email": "bob@example.com", "role": "admin"}`)
		if r.status != 409 || r.code() != "conflict" {
			t.Errorf("twice: %d %s", r.status, r.raw)
		}
		r = a.op("POST", "/v1/admin/orgs/{slug}/members", "/api/v1/admin/orgs/globex/members", opValid, `{"email": "nobody@example.com", "role": "member"}`)
		if r.status != 422 || !slices.Equal(r.fields(), []string{"email"}) {
			t.Errorf("no such user: %d %s", r.status, r.raw)
		}
		r = a.op("POST", "/v1/admin/orgs/{slug}/members", "/api/v1/admin/orgs/globex/members", opValid, `{"email": "bob@example.com", "role": "owner"}`)
		if r.status != 422 || !slices.Equal(r.fields(), []string{"role"}) {
			t.Errorf("bad role: %d %s", r.status, r.raw)
		}

		r = a.op("POST", "/v1/admin/orgs/{slug}/invites", "/api/v1/admin/orgs/globex/invites", opValid, `{"email": "hedy@example.com", "role": "admin"}`)
		url, _ := r.body["url"].(string)
		if r.status != 201 || !strings.HasPrefix(url, a.cfg.BaseURL.String()+"/invites/") || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("invite: %d %s %q", r.status, r.raw, r.header.Get("Cache-Control"))
		}
		inv, err := a.orgs.InviteByToken(context.Background(), strings.TrimPrefix(url, a.cfg.BaseURL.String()+"/invites/"))
		if err != nil || inv.OrgID != globex {
			t.Errorf("the invite link: %+v %v", inv, err)
		}

		r = a.op("POST", "/v1/admin/users/{id}/disable", "/api/v1/admin/users/"+a.bob.ID+"/disable", opValid, "")
		if r.status != 200 || r.body["disabled_at"] != now {
			t.Errorf("disable: %d %s", r.status, r.raw)
		}
		r = a.op("POST", "/v1/admin/users/{id}/enable", "/api/v1/admin/users/"+a.bob.ID+"/enable", opValid, "")
		if r.status != 200 || r.body["disabled_at"] != nil {
			t.Errorf("enable: %d %s", r.status, r.raw)
		}
		if r = a.op("POST", "/v1/admin/users/{id}/disable", "/api/v1/admin/users/"+store.NewID()+"/disable", opValid, ""); r.status != 404 {
			t.Errorf("unknown user: %d", r.status)
		}

		// Members: change a role, remove; the last admin stays.
		bobInGlobex := "/api/v1/admin/orgs/globex/members/" + a.bob.ID
		r = a.op("PATCH", "/v1/admin/orgs/{slug}/members/{id}", bobInGlobex, opValid, `{"role": "admin"}`)
		if r.status != 200 || r.body["role"] != "admin" || r.body["id"] != a.bob.ID {
			t.Errorf("change role: %d %s", r.status, r.raw)
		}
		r = a.op("DELETE", "/v1/admin/orgs/{slug}/members/{id}", bobInGlobex, opValid, "")
		if r.status != 200 || r.body["email"] != "bob@example.com" {
			t.Errorf("remove: %d %s", r.status, r.raw)
		}
		if _, err := a.orgs.Member(context.Background(), globex, a.bob.ID); err == nil {
			t.Error("bob is still a member of globex")
		}
		if r = a.op("DELETE", "/v1/admin/orgs/{slug}/members/{id}", bobInGlobex, opValid, ""); r.status != 404 {
			t.Errorf("remove twice: %d %s", r.status, r.raw)
		}
		r = a.op("DELETE", "/v1/admin/orgs/{slug}/members/{id}", "/api/v1/admin/orgs/globex/members/"+grace, opValid, "")
		if r.status != 409 {
			t.Errorf("remove the last admin: %d %s", r.status, r.raw)
		}
		r = a.op("PATCH", "/v1/admin/orgs/{slug}/members/{id}", "/api/v1/admin/orgs/globex/members/"+grace, opValid, `{"role": "owner"}`)
		if r.status != 422 || !slices.Equal(r.fields(), []string{"role"}) {
			t.Errorf("bad role: %d %s", r.status, r.raw)
		}
		if r = a.op("PATCH", "/v1/admin/orgs/{slug}/members/{id}", "/api/v1/admin/orgs/globex/members/not-an-id", opValid, `{"role": "admin"}`); r.status != 404 {
			t.Errorf("a malformed member id: %d %s", r.status, r.raw)
		}

		// Disable and enable the organization.
		r = a.op("POST", "/v1/admin/orgs/{slug}/disable", "/api/v1/admin/orgs/globex/disable", opValid, "")
		if r.status != 200 || r.body["disabled_at"] != now {
			t.Errorf("disable org: %d %s", r.status, r.raw)
		}
		if r = a.op("POST", "/v1/admin/orgs/{slug}/disable", "/api/v1/admin/orgs/globex/disable", opValid, ""); r.status != 409 {
			t.Errorf("disable org twice: %d %s", r.status, r.raw)
		}
		r = a.op("POST", "/v1/admin/orgs/{slug}/enable", "/api/v1/admin/orgs/globex/enable", opValid, "")
		if r.status != 200 || r.body["disabled_at"] != nil {
			t.Errorf("enable org: %d %s", r.status, r.raw)
		}
		if r = a.op("POST", "/v1/admin/orgs/{slug}/enable", "/api/v1/admin/orgs/nothing/enable", opValid, ""); r.status != 404 {
			t.Errorf("enable an unknown org: %d %s", r.status, r.raw)
		}

		// The audit log of globex names the token.
		var list []audit.Event
		db.Where("org_id = ?", globex).Order("created_at, id").Find(&list)
		actor := `operator token "Provisioner"`
		var actions []string
		for _, e := range list {
			if e.ActorEmail != actor || !strings.HasPrefix(e.Summary, actor+" ") || e.IP != "127.0.0.1" {
				t.Errorf("event %s: actor %q summary %q ip %q", e.Action, e.ActorEmail, e.Summary, e.IP)
			}
			actions = append(actions, e.Action)
		}
		want := []string{audit.OrgCreated, audit.MemberAdded, audit.MemberAdded, audit.MemberInvited, audit.MemberDisabled, audit.MemberEnabled,
			audit.MemberRoleChanged, audit.MemberRemoved, audit.OrgDisabled, audit.OrgEnabled}
		if !slices.Equal(actions, want) {
			t.Errorf("globex's audit actions %v, want %v", actions, want)
		}

		// The token's row records the use; the log names the token, never
		// shows it, nor the invitation's link.
		tok, _ := a.tokens.Get(context.Background(), a.tokenID)
		if tok.LastUsedAt == nil || tok.LastUsedIP != "127.0.0.1" {
			t.Errorf("last use %v %q", tok.LastUsedAt, tok.LastUsedIP)
		}
		mu.Lock()
		logs := buf.String()
		mu.Unlock()
		for _, bad := range []string{a.bearers[opValid], url} {
			if strings.Contains(logs, bad) {
				t.Errorf("the log shows %q", bad)
			}
		}
		for _, want := range []string{"route=/api/v1/admin/orgs/:slug/invites", "token_id=" + a.tokenID, "token_name=Provisioner"} {
			if !strings.Contains(logs, want) {
				t.Errorf("the log lacks %q", want)
			}
		}
	})
}

// TestAdminAPIRateLimit: 600 requests a minute per token, then 429.
func TestAdminAPIRateLimit(t *testing.T) {
	a := newAdminEnv(t, storetest.SQLite(t))
	for i := range 600 {
		if r := a.op("GET", "", "/api/v1/admin/orgs/acme", opValid, ""); r.status != 200 {
			t.Fatalf("request %d: %d", i+1, r.status)
		}
	}
	r := a.op("GET", "/v1/admin/orgs/{slug}", "/api/v1/admin/orgs/acme", opValid, "")
	if r.status != 429 || r.code() != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("601st: %d %s", r.status, r.raw)
	}
	// Another token has its own budget.
	secret, _, _ := a.tokens.Create(context.Background(), optoken.Input{Name: "Second"})
	if r := a.call("GET", "", "/api/v1/admin/orgs/acme", "", "", "Authorization", "Bearer "+secret); r.status != 200 {
		t.Errorf("another token: %d", r.status)
	}
}

// TestAdminAPIDocument: every operator operation is in the document with
// the operator scheme only, its errors with examples (no 403), a response
// example and, with a body, a request example.
func TestAdminAPIDocument(t *testing.T) {
	a := newAdminEnv(t, storetest.SQLite(t))
	paths := a.spec.doc["paths"].(map[string]any)
	for _, op := range adminOps {
		o, ok := paths[op.route].(map[string]any)[strings.ToLower(op.method)].(map[string]any)
		if !ok {
			t.Errorf("%s %s is not in the document", op.method, op.route)
			continue
		}
		sec, _ := o["security"].([]any)
		if len(sec) != 1 || sec[0].(map[string]any)["operatorToken"] == nil {
			t.Errorf("%s: security %v", op.name, sec)
		}
		responses := o["responses"].(map[string]any)
		if _, ok := responses["403"]; ok {
			t.Errorf("%s documents 403", op.name)
		}
		for _, status := range []string{"401", "429", "503"} {
			r, ok := responses[status].(map[string]any)
			if !ok || r["content"].(map[string]any)["application/json"].(map[string]any)["example"] == nil {
				t.Errorf("%s: %s not documented with an example", op.name, status)
			}
		}
		ok200, _ := responses[strconv.Itoa(op.ok)].(map[string]any)
		if ok200 == nil {
			t.Errorf("%s: %d not documented", op.name, op.ok)
			continue
		}
		if ok200["content"].(map[string]any)["application/json"].(map[string]any)["example"] == nil {
			t.Errorf("%s: no response example", op.name)
		}
		if op.body != "" {
			mediaType := "application/json"
			if h := op.headers(); len(h) == 2 {
				mediaType = h[1]
			}
			rb, _ := o["requestBody"].(map[string]any)
			content, _ := rb["content"].(map[string]any)
			mt, _ := content[mediaType].(map[string]any)
			if mt["example"] == nil {
				t.Errorf("%s: no %s request example", op.name, mediaType)
			}
		}
	}
	if _, ok := a.spec.doc["components"].(map[string]any)["securitySchemes"].(map[string]any)["operatorToken"]; !ok {
		t.Error("no operatorToken security scheme")
	}
}
