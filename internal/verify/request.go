package verify

import (
	"slices"
	"strings"

	"keyplane/internal/config"
)

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
