package api

import (
	"net/http/httptest"
	"testing"
)

// TestOriginalRequestPath: the path a route rule sees is the one the
// upstream will route, decoded and cleaned, whether or not it needed it.
func TestOriginalRequestPath(t *testing.T) {
	for uri, want := range map[string]string{
		"/v1/sms":          "/v1/sms",
		"/v1/sms/":         "/v1/sms/",
		"/v1/sms?to=1":     "/v1/sms",
		"/v1/sms#x":        "/v1/sms",
		"/v1/%73ms":        "/v1/sms",
		"/v1//sms":         "/v1/sms",
		"/v1/./sms":        "/v1/sms",
		"/v1/x/../sms":     "/v1/sms",
		"/v1/x/%2e%2e/sms": "/v1/sms",
		"/v1/.well-known":  "/v1/.well-known",
		"/":                "/",
		"relative":         "",
		"/%zz":             "",
		"%2Fv1":            "/v1",
	} {
		r := httptest.NewRequest("GET", "/v1/auth", nil)
		r.Header.Set("X-Forwarded-Uri", uri)
		method, path, ok := originalRequest(r, "")
		if want == "" {
			if ok {
				t.Errorf("%q: accepted as %q", uri, path)
			}
			continue
		}
		if !ok || path != want || method != "GET" {
			t.Errorf("%q: %s %q %v, want %q", uri, method, path, ok, want)
		}
	}
}
