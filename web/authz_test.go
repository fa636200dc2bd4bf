package web

import (
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store/storetest"
)

// The people the authorization matrix asks on every route.
const (
	asAnonymous = iota
	asMember
	asAdmin
	asOtherAdmin // admin of another organization
	asOperator   // instance operator, not a member of the organization
	roleCount
)

var roleNames = [roleCount]string{"anonymous", "member", "admin", "admin of another org", "operator"}

// authzMatrix is the expected status of every dashboard route for each
// person, requested with a valid CSRF token and an empty form. Admin-only
// actions get 403 for members; another organization's people get 404; the
// operator pages are 404 for everyone else.
var authzMatrix = map[string][roleCount]int{
	"GET /healthz":                        {200, 200, 200, 200, 200},
	"GET /readyz":                         {200, 200, 200, 200, 200},
	"GET /static/*":                       {200, 200, 200, 200, 200},
	"GET /setup":                          {404, 404, 404, 404, 404},
	"POST /setup":                         {404, 404, 404, 404, 404},
	"GET /login":                          {200, 303, 303, 303, 303},
	"POST /login":                         {401, 401, 401, 401, 401},
	"POST /logout":                        {303, 303, 303, 303, 303},
	"POST /theme":                         {400, 400, 400, 400, 400}, // no theme chosen
	"GET /":                               {303, 303, 303, 303, 200},
	"GET /admin":                          {303, 404, 404, 404, 303},
	"GET /admin/users":                    {303, 404, 404, 404, 200},
	"POST /admin/users":                   {303, 404, 404, 404, 422},
	"GET /admin/users/:id/disable":        {303, 404, 404, 404, 404}, // :id is a key's id, no user's
	"POST /admin/users/:id/disable":       {303, 404, 404, 404, 404}, // :id is a key's id, no user's
	"POST /admin/users/:id/enable":        {303, 404, 404, 404, 404},
	"GET /admin/orgs":                     {303, 404, 404, 404, 200},
	"POST /admin/orgs":                    {303, 404, 404, 404, 422},
	"POST /admin/orgs/members":            {303, 404, 404, 404, 422},
	"GET /admin/tokens":                   {303, 404, 404, 404, 200},
	"POST /admin/tokens":                  {303, 404, 404, 404, 422}, // no name
	"GET /admin/tokens/:id/revoke":        {303, 404, 404, 404, 404}, // :id is a key's id, no token's
	"POST /admin/tokens/:id/revoke":       {303, 404, 404, 404, 404},
	"GET /admin/products":                 {303, 404, 404, 404, 200},
	"POST /admin/products":                {303, 404, 404, 404, 422}, // no slug, name or format
	"GET /admin/products/:slug":           {303, 404, 404, 404, 404}, // :slug is an org's, no product's
	"POST /admin/products/:slug":          {303, 404, 404, 404, 404},
	"GET /admin/products/:slug/delete":    {303, 404, 404, 404, 404},
	"POST /admin/products/:slug/delete":   {303, 404, 404, 404, 404},
	"GET /orgs/:slug":                     {303, 303, 303, 404, 404},
	"GET /orgs/:slug/keys":                {303, 200, 200, 404, 404},
	"GET /orgs/:slug/keys/:id":            {303, 200, 200, 404, 404},
	"GET /orgs/:slug/keys/new":            {303, 403, 200, 404, 404},
	"POST /orgs/:slug/keys":               {303, 403, 422, 404, 404},
	"POST /orgs/:slug/keys/:id":           {303, 403, 422, 404, 404},
	"GET /orgs/:slug/keys/:id/revoke":     {303, 403, 200, 404, 404},
	"POST /orgs/:slug/keys/:id/revoke":    {303, 403, 303, 404, 404},
	"GET /orgs/:slug/keys/:id/disable":    {303, 403, 200, 404, 404},
	"POST /orgs/:slug/keys/:id/disable":   {303, 403, 303, 404, 404},
	"POST /orgs/:slug/keys/:id/enable":    {303, 403, 409, 404, 404}, // the key is not disabled
	"GET /orgs/:slug/keys/:id/rotate":     {303, 403, 200, 404, 404},
	"POST /orgs/:slug/keys/:id/rotate":    {303, 403, 422, 404, 404},
	"GET /orgs/:slug/keys/:id/end-grace":  {303, 403, 409, 404, 404}, // :id replaced no key: nothing to end
	"POST /orgs/:slug/keys/:id/end-grace": {303, 403, 409, 404, 404},

	// Report-only restrictions: admins only. :name is ips, which the key
	// enforces; it has had no traffic to restrict it to.
	"GET /orgs/:slug/keys/:id/restrictions/:name/enforce":      {303, 403, 409, 404, 404},
	"POST /orgs/:slug/keys/:id/restrictions/:name/enforce":     {303, 403, 303, 404, 404}, // enforced already: nothing changes
	"POST /orgs/:slug/keys/:id/restrictions/:name/report-only": {303, 403, 303, 404, 404},
	"POST /orgs/:slug/keys/:id/suggestions/apply":              {303, 403, 422, 404, 404},

	"GET /orgs/:slug/keys/:id/credits":    {303, 403, 409, 404, 404}, // the key has no credits quota
	"POST /orgs/:slug/keys/:id/credits":   {303, 403, 409, 404, 404},
	"GET /orgs/:slug/members":             {303, 200, 200, 404, 404},
	"GET /orgs/:slug/usage":               {303, 200, 200, 404, 404},
	"GET /orgs/:slug/usage.csv":           {303, 200, 200, 404, 404},
	"GET /orgs/:slug/keys/:id/usage.csv":  {303, 200, 200, 404, 404},
	"POST /orgs/:slug/members/:id/role":   {303, 403, 422, 404, 404}, // :id is a key's id, no member's; empty role
	"GET /orgs/:slug/members/:id/remove":  {303, 403, 404, 404, 404},
	"POST /orgs/:slug/members/:id/remove": {303, 403, 404, 404, 404},
	"POST /orgs/:slug/invites":            {303, 403, 422, 404, 404},
	"POST /orgs/:slug/invites/:id/revoke": {303, 403, 404, 404, 404}, // :id is a key's id, no invite's
	"GET /invites/:token":                 {404, 404, 404, 404, 404}, // no such token
	"POST /invites/:token":                {404, 404, 404, 404, 404},
	"GET /portal/:token":                  {410, 410, 410, 410, 410}, // no such link
	"POST /portal/:token":                 {410, 410, 410, 410, 410},
	"GET /orgs/:slug/audit":               {303, 403, 200, 404, 404},
	"GET /orgs/:slug/audit.csv":           {303, 403, 200, 404, 404},

	// The user's own account: anyone signed in. :id is a key's id, no session's.
	"GET /account":                         {303, 200, 200, 200, 200},
	"POST /account/name":                   {303, 422, 422, 422, 422},
	"POST /account/password":               {303, 422, 422, 422, 422},
	"POST /account/sessions/revoke-others": {303, 303, 303, 303, 303},
	"POST /account/sessions/:id/revoke":    {303, 404, 404, 404, 404},

	// Single sign-on, off in this server: not found for everyone.
	"GET /login/sso":          {404, 404, 404, 404, 404},
	"GET /login/sso/callback": {404, 404, 404, 404, 404},

	// Two-factor sign-in. The second step of a sign-in without a pending
	// one leads back to /login (or home, when signed in). Set-up without a
	// pending seed leads back to /account; confirming one is 404; turning
	// it off and new codes need the current password.
	"GET /login/two-factor":                   {303, 303, 303, 303, 303},
	"POST /login/two-factor":                  {303, 303, 303, 303, 303},
	"POST /account/two-factor/start":          {303, 303, 303, 303, 303},
	"GET /account/two-factor/setup":           {303, 303, 303, 303, 303},
	"POST /account/two-factor/confirm":        {303, 404, 404, 404, 404},
	"GET /account/two-factor/disable":         {303, 409, 409, 409, 409}, // nobody has two-factor on
	"POST /account/two-factor/disable":        {303, 422, 422, 422, 422},
	"POST /account/two-factor/recovery-codes": {303, 422, 422, 422, 422},
	"GET /admin/users/:id/two-factor/reset":   {303, 404, 404, 404, 404}, // :id is a key's id, no user's
	"POST /admin/users/:id/two-factor/reset":  {303, 404, 404, 404, 404},
	"GET /orgs/:slug/settings":                {303, 403, 200, 404, 404},
	"POST /orgs/:slug/settings":               {303, 403, 303, 404, 404}, // an empty form: nothing required, nothing changes
	"POST /orgs/:slug/settings/leaks":         {303, 403, 422, 404, 404}, // an empty form: no policy chosen
	"POST /orgs/:slug/settings/keys":          {303, 403, 303, 404, 404}, // an empty form: every key policy off
	"POST /orgs/:slug/settings/quota":         {303, 403, 303, 404, 404}, // an empty form: no quota
	"GET /orgs/:slug/settings/credits":        {303, 403, 409, 404, 404}, // the organization has no credits quota
	"POST /orgs/:slug/settings/credits":       {303, 403, 409, 404, 404},

	// Webhooks: admins only. :id is a key's id, no endpoint's; an empty
	// form has no URL.
	"GET /orgs/:slug/webhooks":                             {303, 403, 200, 404, 404},
	"GET /orgs/:slug/webhooks/new":                         {303, 403, 200, 404, 404},
	"POST /orgs/:slug/webhooks":                            {303, 403, 422, 404, 404},
	"GET /orgs/:slug/webhooks/:id":                         {303, 403, 404, 404, 404},
	"POST /orgs/:slug/webhooks/:id":                        {303, 403, 404, 404, 404},
	"GET /orgs/:slug/webhooks/:id/deliveries":              {303, 403, 404, 404, 404},
	"POST /orgs/:slug/webhooks/:id/deliveries/:did/resend": {303, 403, 404, 404, 404},
	"POST /orgs/:slug/webhooks/:id/test":                   {303, 403, 404, 404, 404},
	"POST /orgs/:slug/webhooks/:id/pause":                  {303, 403, 404, 404, 404},
	"POST /orgs/:slug/webhooks/:id/resume":                 {303, 403, 404, 404, 404},
	"GET /orgs/:slug/webhooks/:id/rotate-secret":           {303, 403, 404, 404, 404},
	"POST /orgs/:slug/webhooks/:id/rotate-secret":          {303, 403, 404, 404, 404},
	"GET /orgs/:slug/webhooks/:id/delete":                  {303, 403, 404, 404, 404},
	"POST /orgs/:slug/webhooks/:id/delete":                 {303, 403, 404, 404, 404},
}

// TestAuthorizationMatrix walks the router's own route list: a route added
// without a row here fails, and every row is asked of every person, on a
// fresh instance per route (admin last, so its action changes nothing the
// others see).
func TestAuthorizationMatrix(t *testing.T) {
	db := storetest.SQLite(t)
	routes := newEnv(t, db, nil).srv.Routes()
	seen := map[string]bool{}
	var keys []string
	for _, r := range routes {
		// The data plane, the management API and metrics take no session:
		// their own tests cover them (TestAPICredentials for /api).
		if r.Method == echo.RouteNotFound || strings.HasPrefix(r.Path, "/v1/") || strings.HasPrefix(r.Path, "/api/") || r.Path == "/metrics" {
			continue
		}
		k := r.Method + " " + r.Path
		if seen[k] {
			continue
		}
		seen[k] = true
		keys = append(keys, k)
		if _, ok := authzMatrix[k]; !ok {
			t.Errorf("route %s has no row in the authorization matrix", k)
		}
	}
	for k := range authzMatrix {
		if !seen[k] {
			t.Errorf("matrix row %s matches no route", k)
		}
	}
	sort.Strings(keys)

	order := []int{asAnonymous, asOtherAdmin, asOperator, asMember, asAdmin}
	for _, route := range keys {
		want, ok := authzMatrix[route]
		if !ok {
			continue
		}
		t.Run(route, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, storetest.SQLite(t), nil)
			adm := e.user("admin@example.com", "Admin", false)
			mem := e.user("member@example.com", "Member", false)
			oth := e.user("other@example.com", "Other", false)
			e.user("operator@example.com", "Operator", true)
			acme := e.org("Acme", "acme", adm.ID)
			e.org("Beta", "beta", oth.ID)
			e.addMember(acme.ID, mem.ID, org.Member)
			opts := apikey.ConfigOptions(e.cfg)
			opts.Now = e.clock.Now
			created, err := apikey.NewService(e.db, opts).Create(t.Context(), acme.ID, "", apikey.Input{
				Description: "Backend", Kind: "private", Environment: "live",
			}, audit.Actor{UserID: adm.ID, Email: adm.Email})
			if err != nil {
				t.Fatal(err)
			}
			method, path, _ := strings.Cut(route, " ")
			path = strings.NewReplacer(":slug", "acme", ":id", created.Key.ID, ":name", "ips", "*", "app.css").Replace(path)

			emails := [roleCount]string{"", "member@example.com", "admin@example.com", "other@example.com", "operator@example.com"}
			for _, role := range order {
				c := e.client()
				if emails[role] != "" {
					c.mustLogin(emails[role])
				}
				var r *resp
				if method == http.MethodGet {
					r = c.get(path)
				} else {
					r = c.post(path, nil)
				}
				if r.StatusCode != want[role] {
					t.Errorf("%s as %s: status %d, want %d", route, roleNames[role], r.StatusCode, want[role])
				}
			}
		})
	}
}

// portalWant is what a session started from a portal link into acme gets
// on route, by the matrix: a member's answer inside acme; 404 for /admin
// and /account, whatever the user is elsewhere.
func portalWant(route string, want [roleCount]int) int {
	_, path, _ := strings.Cut(route, " ")
	if path == "/admin" || strings.HasPrefix(path, "/admin/") || strings.HasPrefix(path, "/account") {
		return http.StatusNotFound
	}
	return want[asMember]
}

// TestPortalSessionMatrix asks every row of the authorization matrix of a
// member signed in through a portal link into acme, who is also an admin
// of beta: acme's pages answer as to a member, beta's 404 (as to a
// stranger), /admin and /account 404.
func TestPortalSessionMatrix(t *testing.T) {
	keys := make([]string, 0, len(authzMatrix))
	for k := range authzMatrix {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, route := range keys {
		want := authzMatrix[route]
		t.Run(route, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, storetest.SQLite(t), nil)
			adm := e.user("admin@example.com", "Admin", false)
			mem := e.user("member@example.com", "Member", false)
			acme := e.org("Acme", "acme", adm.ID)
			e.org("Beta", "beta", mem.ID)
			e.addMember(acme.ID, mem.ID, org.Member)
			opts := apikey.ConfigOptions(e.cfg)
			opts.Now = e.clock.Now
			created, err := apikey.NewService(e.db, opts).Create(t.Context(), acme.ID, "", apikey.Input{
				Description: "Backend", Kind: "private", Environment: "live",
			}, audit.Actor{UserID: adm.ID, Email: adm.Email})
			if err != nil {
				t.Fatal(err)
			}
			method, pattern, _ := strings.Cut(route, " ")
			for _, slug := range []string{"acme", "beta"} {
				if slug == "beta" && !strings.Contains(pattern, ":slug") {
					continue
				}
				path := strings.NewReplacer(":slug", slug, ":id", created.Key.ID, "*", "app.css").Replace(pattern)
				token, _, err := e.orgs.CreatePortalLink(t.Context(), org.PortalRequest{
					Org: "acme", Email: mem.Email, ReturnURL: testReturnOrigin + "/", Actor: audit.Actor{TokenName: "Matrix"},
				})
				if err != nil {
					t.Fatal(err)
				}
				c := e.client()
				c.enter("/portal/" + token)
				var r *resp
				if method == http.MethodGet {
					r = c.get(path)
				} else {
					r = c.post(path, nil)
				}
				expect := portalWant(route, want)
				if slug == "beta" {
					expect = http.StatusNotFound
				}
				if r.StatusCode != expect {
					t.Errorf("%s %s in a portal session: status %d, want %d", method, path, r.StatusCode, expect)
				}
			}
		})
	}
}
