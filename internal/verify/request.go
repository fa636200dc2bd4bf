package verify

import (
	"slices"
	"strings"

	"keyplane/internal/config"
)

// KeyFromHeaders returns the key presented in X-Api-Key or as an
// Authorization bearer token. conflict is true when both carry different
// values; such a request is refused. Query strings are never read.
func KeyFromHeaders(xAPIKey, authorization string) (key string, conflict bool) {
	key = strings.TrimSpace(xAPIKey)
	if scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " "); ok && strings.EqualFold(scheme, "Bearer") {
		bearer := strings.TrimSpace(token)
		switch {
		case key == "":
			key = bearer
		case bearer != "" && bearer != key:
			return "", true
		}
	}
	return key, false
}

// RequiredScopes returns the union of the scopes named in the
// X-Required-Scope header (separated by spaces or commas) and those of the
// route rules matching method and path (the query string is ignored).
func RequiredScopes(header, method, path string, rules []config.RouteScope) []string {
	var scopes []string
	for _, s := range strings.FieldsFunc(header, func(r rune) bool { return r == ' ' || r == ',' }) {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	for _, r := range rules {
		if r.Matches(method, path) && !slices.Contains(scopes, r.Scope) {
			scopes = append(scopes, r.Scope)
		}
	}
	return scopes
}
