package config

import (
	"fmt"
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

// ParseScopes reads a scope catalogue, "name=description;name=description"
// (KEYPLANE_SCOPES, or a product's), and appends the built-in scopes. An
// empty catalogue is read and write. The error says which entry is wrong.
func ParseScopes(s string) ([]Scope, error) {
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
			return nil, fmt.Errorf("invalid scope name %q: want a lowercase letter, then up to 63 of a-z 0-9 _ . : -", name)
		case findScope(builtInScopes, name):
			return nil, fmt.Errorf("scope %q is built in and cannot be redefined", name)
		case findScope(scopes, name):
			return nil, fmt.Errorf("duplicate scope %q", name)
		case utf8.RuneCountInString(desc) > maxScopeDescription:
			return nil, fmt.Errorf("description of scope %q is longer than %d characters", name, maxScopeDescription)
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

// String writes rs as KEYPLANE_ROUTE_SCOPES does: "METHOD PATH=SCOPE".
func (rs RouteScope) String() string { return rs.Method + " " + rs.Path + "=" + rs.Scope }

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

// ParseRouteScopes reads route scope rules, "METHOD PATH=SCOPE;..."
// (KEYPLANE_ROUTE_SCOPES, or a product's), where every SCOPE must be in
// catalogue. The error says which rule is wrong.
func ParseRouteScopes(s string, catalogue []Scope) ([]RouteScope, error) {
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
		return RouteScope{}, fmt.Errorf("invalid rule %q: want METHOD PATH=SCOPE", entry)
	}
	fields := strings.Fields(entry[:i])
	scope := strings.TrimSpace(entry[i+1:])
	if len(fields) != 2 || scope == "" {
		return RouteScope{}, fmt.Errorf("invalid rule %q: want METHOD PATH=SCOPE", entry)
	}
	method, path := strings.ToUpper(fields[0]), fields[1]
	switch {
	case method != "*" && !isToken(method):
		return RouteScope{}, fmt.Errorf("invalid method %q in rule %q", fields[0], entry)
	case !strings.HasPrefix(path, "/"):
		return RouteScope{}, fmt.Errorf("path %q in rule %q must start with /", path, entry)
	case strings.ContainsAny(strings.TrimSuffix(path, "*"), "*?#"):
		return RouteScope{}, fmt.Errorf("path %q in rule %q may hold * only at the end, and no ? or #", path, entry)
	case !findScope(catalogue, scope):
		return RouteScope{}, fmt.Errorf("unknown scope %q in rule %q", scope, entry)
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
