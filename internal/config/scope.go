package config

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Scope is one entry of the scope catalogue. BuiltIn marks admin and
// keys:manage, which every deployment has and no operator may redefine.
type Scope struct {
	Name        string
	Description string
	BuiltIn     bool
}

// Built-in scopes: admin allows every scope; keys:manage is for the
// management API.
const (
	ScopeAdmin      = "admin"
	ScopeKeysManage = "keys:manage"
)

// builtInScopes are appended to every catalogue, in this order.
var builtInScopes = []Scope{
	{Name: ScopeAdmin, Description: "Every scope", BuiltIn: true},
	{Name: ScopeKeysManage, Description: "Manage this organization's keys through the management API", BuiltIn: true},
}

var defaultScopes = []Scope{
	{Name: "read", Description: "Read access"},
	{Name: "write", Description: "Write access"},
}

var scopeName = regexp.MustCompile(`^[a-z][a-z0-9_.:-]{0,63}$`)

const maxScopeDescription = 200

// parseScopes reads KEYPLANE_SCOPES: "name=description;name=description".
func parseScopes(s string) ([]Scope, error) {
	if s == "" {
		return slices.Concat(defaultScopes, builtInScopes), nil
	}
	var scopes []Scope
	for entry := range strings.SplitSeq(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, desc, _ := strings.Cut(entry, "=")
		name, desc = strings.TrimSpace(name), strings.TrimSpace(desc)
		switch {
		case !scopeName.MatchString(name):
			return nil, invalid(envScopes, "invalid scope name %q: want a lowercase letter, then up to 63 of a-z 0-9 _ . : -", name)
		case findScope(builtInScopes, name):
			return nil, invalid(envScopes, "scope %q is built in and cannot be redefined", name)
		case findScope(scopes, name):
			return nil, invalid(envScopes, "duplicate scope %q", name)
		case utf8.RuneCountInString(desc) > maxScopeDescription:
			return nil, invalid(envScopes, "description of scope %q is longer than %d characters", name, maxScopeDescription)
		}
		scopes = append(scopes, Scope{Name: name, Description: desc})
	}
	return append(scopes, builtInScopes...), nil
}

func findScope(scopes []Scope, name string) bool {
	return slices.ContainsFunc(scopes, func(s Scope) bool { return s.Name == name })
}

// RouteScope requires Scope for requests whose method equals Method (upper
// case; "*" = any method) and whose path matches Path (exact, or a prefix
// match when Path ends in "*").
type RouteScope struct {
	Method string
	Path   string
	Scope  string
}

// Matches reports whether a request with method and path falls under rs.
// Methods compare case-insensitively. Anything from the first "?" of path on
// is ignored. Paths compare byte for byte: the caller passes the path as the
// upstream will route it (decoded and cleaned the same way).
func (rs RouteScope) Matches(method, path string) bool {
	if rs.Method != "*" && !strings.EqualFold(rs.Method, method) {
		return false
	}
	path, _, _ = strings.Cut(path, "?")
	if prefix, ok := strings.CutSuffix(rs.Path, "*"); ok {
		return strings.HasPrefix(path, prefix)
	}
	return path == rs.Path
}

// parseRouteScopes reads KEYPLANE_ROUTE_SCOPES: "METHOD PATH=SCOPE;...",
// where every SCOPE must be in catalogue.
func parseRouteScopes(s string, catalogue []Scope) ([]RouteScope, error) {
	var rules []RouteScope
	for entry := range strings.SplitSeq(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		rule, err := parseRouteScope(entry, catalogue)
		if err != nil {
			return nil, err
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

func parseRouteScope(entry string, catalogue []Scope) (RouteScope, error) {
	i := strings.LastIndex(entry, "=")
	if i < 0 {
		return RouteScope{}, invalid(envRouteScopes, "invalid rule %q: want METHOD PATH=SCOPE", entry)
	}
	fields := strings.Fields(entry[:i])
	scope := strings.TrimSpace(entry[i+1:])
	if len(fields) != 2 || scope == "" {
		return RouteScope{}, invalid(envRouteScopes, "invalid rule %q: want METHOD PATH=SCOPE", entry)
	}
	method, path := strings.ToUpper(fields[0]), fields[1]
	switch {
	case method != "*" && !isToken(method):
		return RouteScope{}, invalid(envRouteScopes, "invalid method %q in rule %q", fields[0], entry)
	case !strings.HasPrefix(path, "/"):
		return RouteScope{}, invalid(envRouteScopes, "path %q in rule %q must start with /", path, entry)
	case strings.ContainsAny(strings.TrimSuffix(path, "*"), "*?#"):
		return RouteScope{}, invalid(envRouteScopes, "path %q in rule %q may hold * only at the end, and no ? or #", path, entry)
	case !findScope(catalogue, scope):
		return RouteScope{}, invalid(envRouteScopes, "unknown scope %q in rule %q", scope, entry)
	}
	return RouteScope{Method: method, Path: path, Scope: scope}, nil
}

// isToken reports whether s is an HTTP token (RFC 9110, section 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}
