package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestLoadScopes(t *testing.T) {
	tests := []struct {
		in   string
		want []Scope
	}{
		{
			"sms:send=Send SMS;reports:read=Read delivery reports",
			[]Scope{{"sms:send", "Send SMS", false}, {"reports:read", "Read delivery reports", false}},
		},
		{
			" a.b_c-d = x=y=z ; plain ;;empty=; ",
			[]Scope{{"a.b_c-d", "x=y=z", false}, {"plain", "", false}, {"empty", "", false}},
		},
		{";", nil},
	}
	for _, tt := range tests {
		c, err := Load(env(map[string]string{"KEYPLANE_SCOPES": tt.in}))
		if err != nil {
			t.Fatalf("Load(KEYPLANE_SCOPES=%q): %v", tt.in, err)
		}
		want := append(tt.want, builtInScopes...)
		if !reflect.DeepEqual(c.Scopes, want) {
			t.Errorf("KEYPLANE_SCOPES=%q: Scopes = %+v, want %+v", tt.in, c.Scopes, want)
		}
	}
}

func TestConfigScope(t *testing.T) {
	c, err := Load(env(map[string]string{"KEYPLANE_SCOPES": "sms:send=Send SMS"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tests := []struct {
		name   string
		want   Scope
		wantOK bool
	}{
		{"sms:send", Scope{"sms:send", "Send SMS", false}, true},
		{"admin", builtInScopes[0], true},
		{"keys:manage", builtInScopes[1], true},
		{"read", Scope{}, false},
		{"", Scope{}, false},
	}
	for _, tt := range tests {
		got, ok := c.Scope(tt.name)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Scope(%q) = %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestLoadRouteScopes(t *testing.T) {
	c, err := Load(env(map[string]string{
		"KEYPLANE_SCOPES":       "sms:send=Send SMS;reports:read=Reports",
		"KEYPLANE_ROUTE_SCOPES": "post /v1/sms*=sms:send; GET /v1/reports* = reports:read;;* /admin=admin;DELETE /v1/a=b=keys:manage;",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := []RouteScope{
		{"POST", "/v1/sms*", "sms:send"},
		{"GET", "/v1/reports*", "reports:read"},
		{"*", "/admin", "admin"},
		{"DELETE", "/v1/a=b", "keys:manage"},
	}
	if !reflect.DeepEqual(c.RouteScopes, want) {
		t.Errorf("RouteScopes = %+v, want %+v", c.RouteScopes, want)
	}
}

func TestRouteScopeMatches(t *testing.T) {
	tests := []struct {
		rule         RouteScope
		method, path string
		want         bool
	}{
		{RouteScope{"GET", "/v1/me", "read"}, "GET", "/v1/me", true},
		{RouteScope{"GET", "/v1/me", "read"}, "GET", "/v1/me/", false},
		{RouteScope{"GET", "/v1/me", "read"}, "GET", "/v1/m", false},
		{RouteScope{"GET", "/v1/me", "read"}, "POST", "/v1/me", false},
		{RouteScope{"GET", "/v1/me", "read"}, "get", "/v1/me", true},
		{RouteScope{"GET", "/v1/me", "read"}, "GET", "/v1/me?x=1", true},
		{RouteScope{"POST", "/v1/sms*", "sms:send"}, "POST", "/v1/sms", true},
		{RouteScope{"POST", "/v1/sms*", "sms:send"}, "POST", "/v1/sms/batch", true},
		{RouteScope{"POST", "/v1/sms*", "sms:send"}, "POST", "/v1/smsx", true},
		{RouteScope{"POST", "/v1/sms*", "sms:send"}, "POST", "/v1/sm", false},
		{RouteScope{"POST", "/v1/sms*", "sms:send"}, "POST", "/v1/x?next=/v1/sms", false},
		{RouteScope{"POST", "/v1/sms/*", "sms:send"}, "POST", "/v1/sms", false},
		{RouteScope{"*", "/admin", "admin"}, "DELETE", "/admin", true},
		{RouteScope{"*", "/admin", "admin"}, "PATCH", "/admin?a=b", true},
		{RouteScope{"*", "/*", "admin"}, "GET", "/anything", true},
	}
	for _, tt := range tests {
		if got := tt.rule.Matches(tt.method, tt.path); got != tt.want {
			t.Errorf("%+v.Matches(%q, %q) = %v, want %v", tt.rule, tt.method, tt.path, got, tt.want)
		}
	}
}

// TestRouteScopeString: a rule writes back in the syntax it was read from.
func TestRouteScopeString(t *testing.T) {
	catalogue, err := ParseScopes("sms:send=Send SMS")
	if err != nil {
		t.Fatal(err)
	}
	in := "POST /v1/sms*=sms:send;* /v1/admin=admin"
	rules, err := ParseRouteScopes(in, catalogue)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rules {
		out = append(out, r.String())
	}
	if got := strings.Join(out, ";"); got != in {
		t.Errorf("written back as %q, want %q", got, in)
	}
}
