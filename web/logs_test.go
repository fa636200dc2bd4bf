package web

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keyplane/internal/org"
	"keyplane/internal/store/storetest"
)

// TestLogsNeverShowSecrets walks the flows that carry secrets (an invite's
// token in its path, passwords in forms, a key's reveal) with the server's
// log captured, and looks for every secret in it.
func TestLogsNeverShowSecrets(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	e := newEnv(t, storetest.SQLite(t), nil, func(d *Deps) {
		d.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ann := e.user("ann@example.com", "Ann", false)
	e.org("Acme", "acme", ann.ID)
	admin := e.client()
	admin.mustLogin("ann@example.com")

	path := inviteAs(t, admin, "cara@example.com", string(org.Member))
	token := strings.TrimPrefix(path, "/invites/")
	cara := e.client()
	wantStatus(t, cara.get(path), http.StatusOK)
	wantStatus(t, cara.post(path, url.Values{"name": {"Cara"}, "password": {"short"}}), http.StatusUnprocessableEntity)
	const caraPassword = "cara's own long passphrase"
	wantRedirect(t, cara.post(path, url.Values{"name": {"Cara"}, "password": {caraPassword}}), "/orgs/acme/keys")
	wantStatus(t, cara.get(path), http.StatusNotFound) // used
	unknown := strings.Repeat("Z", len(token))
	wantStatus(t, e.client().get("/invites/"+unknown), http.StatusNotFound)

	r := admin.post("/orgs/acme/keys", keyForm("Billing"))
	wantStatus(t, r, http.StatusOK)
	secret := revealed(t, r)

	wrong := e.client()
	wrong.get("/login")
	wrong.post("/login", url.Values{"email": {"ann@example.com"}, "password": {"a wrong guess of a password"}})

	out := logs.String()
	for name, s := range map[string]string{
		"invite token": token, "unknown invite token": unknown, "password": caraPassword,
		"wrong password": "a wrong guess of a password", "test password": testPassword, "API key": secret,
	} {
		if strings.Contains(out, s) {
			t.Errorf("the log shows the %s", name)
		}
	}
	if n := strings.Count(out, "path=/invites/:token"); n < 5 {
		t.Errorf("%d request lines name the route /invites/:token, want at least 5:\n%s", n, out)
	}
	if !strings.Contains(out, "path=/orgs/acme/keys") {
		t.Errorf("paths without secrets are no longer logged:\n%s", out)
	}
}
