package main

import (
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
)

// TestServeSignsInWithSSO: serve with KEYPLANE_OIDC_* set offers single
// sign-on, registers KEYPLANE_BASE_URL/login/sso/callback as the redirect
// URI, and signs a user in through a real provider.
func TestServeSignsInWithSSO(t *testing.T) {
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Server.Close() })

	getenv := env(t, map[string]string{
		"KEYPLANE_ADDR": "127.0.0.1:0", "KEYPLANE_BASE_URL": "http://keyplane.test",
		"KEYPLANE_OIDC_ISSUER": m.Issuer(), "KEYPLANE_OIDC_CLIENT_ID": m.ClientID,
		"KEYPLANE_OIDC_CLIENT_SECRET": m.ClientSecret, "KEYPLANE_OIDC_NAME": "Acme ID",
	})
	createOrgWithKeys(t, getenv)
	srv := startServer(t, getenv)

	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	status, body, err := srv.get(hc, "/login")
	if err != nil || status != http.StatusOK || !strings.Contains(string(body), "Sign in with Acme ID") {
		t.Fatalf("/login: %d %v; want the SSO button", status, err)
	}
	res, err := hc.Get("http://" + srv.addr + "/login/sso")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	to, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(to.String(), m.Issuer()) {
		t.Fatalf("/login/sso: %d to %q, want 303 to the provider", res.StatusCode, to)
	}
	if got := to.Query().Get("redirect_uri"); got != "http://keyplane.test/login/sso/callback" {
		t.Errorf("redirect_uri %q, want KEYPLANE_BASE_URL/login/sso/callback", got)
	}

	m.QueueUser(&mockoidc.MockUser{Subject: "ada-sub", Email: "ada@example.com", EmailVerified: true})
	res, err = hc.Get(to.String())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	back, _ := url.Parse(res.Header.Get("Location"))
	res, err = hc.Get("http://" + srv.addr + back.Path + "?" + back.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("callback: %d to %q, want 303 to /; logs:\n%s", res.StatusCode, res.Header.Get("Location"), srv.logs)
	}
	if status, body, _ := srv.get(hc, "/account"); status != http.StatusOK || !strings.Contains(string(body), "ada@example.com") {
		t.Fatalf("/account after SSO: %d", status)
	}
	if strings.Contains(srv.logs.String(), m.ClientSecret) {
		t.Error("the client secret is in the log")
	}
}
