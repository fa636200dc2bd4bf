package api

import (
	"net/http"
	"strings"
)

// keyOf returns the key presented in X-Api-Key or as an Authorization
// bearer token; query strings are never read. conflict is true when the
// request carries two different keys (in two headers, or one header twice).
func keyOf(h http.Header) (key string, conflict bool) {
	add := func(k string) bool {
		if k != "" && key != "" && k != key {
			return false
		}
		if k != "" {
			key = k
		}
		return true
	}
	for _, v := range h[hAPIKey] {
		if !add(strings.TrimSpace(v)) {
			return "", true
		}
	}
	for _, v := range h[hAuthorization] {
		if !add(bearer(v)) {
			return "", true
		}
	}
	return key, false
}

// bearer returns the token of an Authorization header value with the
// Bearer scheme (in any case), trimmed, and "" for any other value.
func bearer(authorization string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
