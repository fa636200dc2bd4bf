package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

var oidcBase = map[string]string{
	"KEYPLANE_OIDC_ISSUER":        "https://id.example.com/realms/main",
	"KEYPLANE_OIDC_CLIENT_ID":     "keyplane",
	"KEYPLANE_OIDC_CLIENT_SECRET": "s3cret-value-never-shown",
}

// with returns oidcBase (when base is true) plus kv; an empty value in kv
// removes the variable.
func with(base bool, kv map[string]string) func(string) string {
	m := map[string]string{}
	if base {
		for k, v := range oidcBase {
			m[k] = v
		}
	}
	for k, v := range kv {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return env(m)
}

func TestLoadOIDCUnset(t *testing.T) {
	o, err := LoadOIDC(env(nil))
	if err != nil {
		t.Fatalf("LoadOIDC: %v", err)
	}
	want := OIDC{Name: "SSO", PasswordLogin: PasswordLoginOn}
	if !reflect.DeepEqual(o, want) || o.Enabled() {
		t.Errorf("LoadOIDC() = %+v (enabled %v), want %+v", o, o.Enabled(), want)
	}
}

func TestLoadOIDCFull(t *testing.T) {
	o, err := LoadOIDC(with(true, map[string]string{
		"KEYPLANE_OIDC_NAME":            "  Okta  ",
		"KEYPLANE_OIDC_AUTO_JOIN":       "acme:member",
		"KEYPLANE_OIDC_ALLOWED_DOMAINS": "Example.com, corp.example.org ,,example.com",
		"KEYPLANE_PASSWORD_LOGIN":       "operators",
	}))
	if err != nil {
		t.Fatalf("LoadOIDC: %v", err)
	}
	want := OIDC{
		Issuer: "https://id.example.com/realms/main", ClientID: "keyplane", ClientSecret: "s3cret-value-never-shown",
		Name: "Okta", AutoJoin: &AutoJoin{Slug: "acme", Role: "member"},
		AllowedDomains: []string{"example.com", "corp.example.org"}, PasswordLogin: PasswordLoginOperators,
	}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("LoadOIDC() =\n%+v\nwant\n%+v", o, want)
	}
	if !o.Enabled() {
		t.Error("Enabled() = false")
	}
	for email, ok := range map[string]bool{
		"a@example.com": true, "a@EXAMPLE.COM": true, "b@corp.example.org": true,
		"c@sub.example.com": false, "d@example.com.evil.net": false, "no-at-sign": false, "e@evil.net": false,
	} {
		if got := o.DomainAllowed(email); got != ok {
			t.Errorf("DomainAllowed(%q) = %v, want %v", email, got, ok)
		}
	}
}

func TestLoadOIDCDefaults(t *testing.T) {
	o, err := LoadOIDC(with(true, nil))
	if err != nil {
		t.Fatalf("LoadOIDC: %v", err)
	}
	if o.Name != "SSO" || o.PasswordLogin != PasswordLoginOn || o.AutoJoin != nil || o.AllowedDomains != nil {
		t.Errorf("defaults: %+v", o)
	}
}

func TestLoadOIDCLoopbackHTTP(t *testing.T) {
	for _, issuer := range []string{"http://127.0.0.1:5556/oidc", "http://localhost:8080", "http://[::1]:9000/x"} {
		if _, err := LoadOIDC(with(true, map[string]string{"KEYPLANE_OIDC_ISSUER": issuer})); err != nil {
			t.Errorf("issuer %s: %v", issuer, err)
		}
	}
}

func TestLoadOIDCErrors(t *testing.T) {
	tests := []struct {
		name    string
		base    bool
		kv      map[string]string
		wantVar string
		want    string // part of the message
	}{
		{"issuer alone", false, map[string]string{"KEYPLANE_OIDC_ISSUER": "https://id.example.com"},
			"KEYPLANE_OIDC_CLIENT_ID", "also set KEYPLANE_OIDC_CLIENT_ID and KEYPLANE_OIDC_CLIENT_SECRET"},
		{"no secret", true, map[string]string{"KEYPLANE_OIDC_CLIENT_SECRET": ""},
			"KEYPLANE_OIDC_CLIENT_SECRET", "also set KEYPLANE_OIDC_CLIENT_SECRET,"},
		{"secret alone", false, map[string]string{"KEYPLANE_OIDC_CLIENT_SECRET": "x"},
			"KEYPLANE_OIDC_ISSUER", "also set KEYPLANE_OIDC_ISSUER and KEYPLANE_OIDC_CLIENT_ID"},
		{"plain http", true, map[string]string{"KEYPLANE_OIDC_ISSUER": "http://id.example.com"},
			"KEYPLANE_OIDC_ISSUER", "use https"},
		{"not a URL", true, map[string]string{"KEYPLANE_OIDC_ISSUER": "id.example.com"},
			"KEYPLANE_OIDC_ISSUER", "absolute https URL"},
		{"other scheme", true, map[string]string{"KEYPLANE_OIDC_ISSUER": "ftp://id.example.com"},
			"KEYPLANE_OIDC_ISSUER", "absolute https URL"},
		{"user info", true, map[string]string{"KEYPLANE_OIDC_ISSUER": "https://u:p@id.example.com"},
			"KEYPLANE_OIDC_ISSUER", "user name and password"},
		{"query", true, map[string]string{"KEYPLANE_OIDC_ISSUER": "https://id.example.com/?tenant=1"},
			"KEYPLANE_OIDC_ISSUER", "no query or fragment"},
		{"fragment", true, map[string]string{"KEYPLANE_OIDC_ISSUER": "https://id.example.com/#x"},
			"KEYPLANE_OIDC_ISSUER", "no query or fragment"},
		{"client id control", true, map[string]string{"KEYPLANE_OIDC_CLIENT_ID": "kp\x00x"},
			"KEYPLANE_OIDC_CLIENT_ID", "printable"},
		{"secret too long", true, map[string]string{"KEYPLANE_OIDC_CLIENT_SECRET": strings.Repeat("s", 5000)},
			"KEYPLANE_OIDC_CLIENT_SECRET", "at most 4096"},
		{"name too long", true, map[string]string{"KEYPLANE_OIDC_NAME": strings.Repeat("n", 41)},
			"KEYPLANE_OIDC_NAME", "at most 40"},
		{"name control", true, map[string]string{"KEYPLANE_OIDC_NAME": "Ok\u0007ta"},
			"KEYPLANE_OIDC_NAME", "no control"},
		{"name newline", true, map[string]string{"KEYPLANE_OIDC_NAME": "Ok\nta"},
			"KEYPLANE_OIDC_NAME", "no control"},
		{"name without sso", false, map[string]string{"KEYPLANE_OIDC_NAME": "Okta"},
			"KEYPLANE_OIDC_NAME", "needs single sign-on"},
		{"auto join without domains", true, map[string]string{"KEYPLANE_OIDC_AUTO_JOIN": "acme:member"},
			"KEYPLANE_OIDC_ALLOWED_DOMAINS", "required with KEYPLANE_OIDC_AUTO_JOIN"},
		{"auto join with empty domains", true, map[string]string{"KEYPLANE_OIDC_AUTO_JOIN": "acme:member", "KEYPLANE_OIDC_ALLOWED_DOMAINS": " , "},
			"KEYPLANE_OIDC_ALLOWED_DOMAINS", "required with KEYPLANE_OIDC_AUTO_JOIN"},
		{"auto join without sso", false, map[string]string{"KEYPLANE_OIDC_AUTO_JOIN": "acme:member", "KEYPLANE_OIDC_ALLOWED_DOMAINS": "example.com"},
			"KEYPLANE_OIDC_AUTO_JOIN", "needs single sign-on"},
		{"auto join no role", true, map[string]string{"KEYPLANE_OIDC_AUTO_JOIN": "acme", "KEYPLANE_OIDC_ALLOWED_DOMAINS": "example.com"},
			"KEYPLANE_OIDC_AUTO_JOIN", "want slug:role"},
		{"auto join bad slug", true, map[string]string{"KEYPLANE_OIDC_AUTO_JOIN": "Acme Inc:member", "KEYPLANE_OIDC_ALLOWED_DOMAINS": "example.com"},
			"KEYPLANE_OIDC_AUTO_JOIN", "want slug:role"},
		{"auto join bad role", true, map[string]string{"KEYPLANE_OIDC_AUTO_JOIN": "acme:owner", "KEYPLANE_OIDC_ALLOWED_DOMAINS": "example.com"},
			"KEYPLANE_OIDC_AUTO_JOIN", "want admin or member"},
		{"domains alone", true, map[string]string{"KEYPLANE_OIDC_ALLOWED_DOMAINS": "example.com"},
			"KEYPLANE_OIDC_ALLOWED_DOMAINS", "only used with KEYPLANE_OIDC_AUTO_JOIN"},
		{"domain with at", true, map[string]string{"KEYPLANE_OIDC_AUTO_JOIN": "acme:member", "KEYPLANE_OIDC_ALLOWED_DOMAINS": "@example.com"},
			"KEYPLANE_OIDC_ALLOWED_DOMAINS", "invalid domain"},
		{"single label domain", true, map[string]string{"KEYPLANE_OIDC_AUTO_JOIN": "acme:member", "KEYPLANE_OIDC_ALLOWED_DOMAINS": "localhost"},
			"KEYPLANE_OIDC_ALLOWED_DOMAINS", "invalid domain"},
		{"password login bad", true, map[string]string{"KEYPLANE_PASSWORD_LOGIN": "maybe"},
			"KEYPLANE_PASSWORD_LOGIN", "want on, operators or off"},
		{"password off without sso", false, map[string]string{"KEYPLANE_PASSWORD_LOGIN": "off"},
			"KEYPLANE_PASSWORD_LOGIN", "needs single sign-on"},
		{"password operators without sso", false, map[string]string{"KEYPLANE_PASSWORD_LOGIN": "operators"},
			"KEYPLANE_PASSWORD_LOGIN", "needs single sign-on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadOIDC(with(tt.base, tt.kv))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("LoadOIDC: %v, want a *config.Error", err)
			}
			if ce.Var != tt.wantVar || !strings.Contains(ce.Error(), tt.want) {
				t.Errorf("error %q (var %s), want var %s and %q", ce.Error(), ce.Var, tt.wantVar, tt.want)
			}
			if strings.Contains(ce.Error(), "s3cret") || strings.Contains(ce.Error(), "sssss") {
				t.Errorf("the message repeats the client secret: %q", ce.Error())
			}
		})
	}
}

func TestPasswordLoginAllows(t *testing.T) {
	for _, tt := range []struct {
		p                   PasswordLogin
		user, operatorAllow bool
	}{
		{PasswordLoginOn, true, true},
		{PasswordLoginOperators, false, true},
		{PasswordLoginOff, false, false},
	} {
		if got := tt.p.Allows(false); got != tt.user {
			t.Errorf("%s.Allows(user) = %v, want %v", tt.p, got, tt.user)
		}
		if got := tt.p.Allows(true); got != tt.operatorAllow {
			t.Errorf("%s.Allows(operator) = %v, want %v", tt.p, got, tt.operatorAllow)
		}
	}
}
