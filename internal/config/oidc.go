package config

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The environment variables LoadOIDC reads.
const (
	envOIDCIssuer         = "KEYPLANE_OIDC_ISSUER"
	envOIDCClientID       = "KEYPLANE_OIDC_CLIENT_ID"
	envOIDCClientSecret   = "KEYPLANE_OIDC_CLIENT_SECRET"
	envOIDCName           = "KEYPLANE_OIDC_NAME"
	envOIDCAutoJoin       = "KEYPLANE_OIDC_AUTO_JOIN"
	envOIDCAllowedDomains = "KEYPLANE_OIDC_ALLOWED_DOMAINS"
	envPasswordLogin      = "KEYPLANE_PASSWORD_LOGIN"
)

// Limits of the OIDC settings.
const (
	maxOIDCName     = 40
	maxOIDCIssuer   = 2048
	maxOIDCClientID = 512
	maxOIDCSecret   = 4096
)

// PasswordLogin says who may sign in with a password.
type PasswordLogin string

// The values of KEYPLANE_PASSWORD_LOGIN.
const (
	PasswordLoginOn        PasswordLogin = "on"        // everyone (the default)
	PasswordLoginOperators PasswordLogin = "operators" // operators only: a break-glass way in beside SSO
	PasswordLoginOff       PasswordLogin = "off"       // nobody: SSO is the only way in
)

// Allows reports whether a user, an operator or not, may sign in with a
// password under p.
func (p PasswordLogin) Allows(operator bool) bool {
	switch p {
	case PasswordLoginOff:
		return false
	case PasswordLoginOperators:
		return operator
	}
	return true
}

// AutoJoin is where a new user whose email is in an allowed domain is
// placed at their first SSO sign-in: KEYPLANE_OIDC_AUTO_JOIN=slug:role.
type AutoJoin struct {
	Slug string // the organization's slug
	Role string // "admin" or "member"
}

// OIDC is the single sign-on configuration. It is enabled when Issuer is
// set; the zero value has SSO off and password login on.
type OIDC struct {
	// Issuer is the OpenID Connect issuer URL, exactly as the provider
	// writes it in its tokens: KEYPLANE_OIDC_ISSUER. https, or http only on
	// localhost, 127.0.0.1 or ::1.
	Issuer string
	// ClientID and ClientSecret are the credentials Keyplane was given at
	// the provider: KEYPLANE_OIDC_CLIENT_ID, KEYPLANE_OIDC_CLIENT_SECRET.
	ClientID     string
	ClientSecret string
	// Name is what the login page's button says: "Sign in with {Name}".
	// KEYPLANE_OIDC_NAME, default "SSO", at most 40 characters.
	Name string
	// AutoJoin, when set, places new users of AllowedDomains in an
	// organization: KEYPLANE_OIDC_AUTO_JOIN=slug:role.
	AutoJoin *AutoJoin
	// AllowedDomains are the email domains (lower case) AutoJoin admits:
	// KEYPLANE_OIDC_ALLOWED_DOMAINS, comma-separated.
	AllowedDomains []string
	// PasswordLogin is KEYPLANE_PASSWORD_LOGIN, default on; off and
	// operators need SSO configured.
	PasswordLogin PasswordLogin
}

// Enabled reports whether SSO is configured.
func (o OIDC) Enabled() bool { return o.Issuer != "" }

// DomainAllowed reports whether email's domain is one of AllowedDomains
// (compared case-insensitively).
func (o OIDC) DomainAllowed(email string) bool {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	return slices.Contains(o.AllowedDomains, strings.ToLower(email[at+1:]))
}

var (
	autoJoinSlugRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$`)
	domainLabelRE  = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
)

// LoadOIDC reads the single sign-on settings through getenv; surrounding
// whitespace is trimmed and an empty value means unset. The first problem
// comes back as an *Error naming its variable; the client secret is never
// repeated in a message.
//
// KEYPLANE_OIDC_ISSUER, KEYPLANE_OIDC_CLIENT_ID and
// KEYPLANE_OIDC_CLIENT_SECRET go together: all three or none. Without them,
// the other KEYPLANE_OIDC_* variables are refused, and so is
// KEYPLANE_PASSWORD_LOGIN=off or operators (nobody could sign in).
func LoadOIDC(getenv func(string) string) (OIDC, error) {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	o := OIDC{
		Issuer: get(envOIDCIssuer), ClientID: get(envOIDCClientID), ClientSecret: get(envOIDCClientSecret),
		PasswordLogin: PasswordLoginOn,
	}
	if err := o.checkCredentials(); err != nil {
		return OIDC{}, err
	}
	if err := o.loadName(get(envOIDCName)); err != nil {
		return OIDC{}, err
	}
	if err := o.loadAutoJoin(get(envOIDCAutoJoin), get(envOIDCAllowedDomains)); err != nil {
		return OIDC{}, err
	}
	if err := o.loadPasswordLogin(get(envPasswordLogin)); err != nil {
		return OIDC{}, err
	}
	return o, nil
}

func (o *OIDC) checkCredentials() error {
	set := map[string]bool{envOIDCIssuer: o.Issuer != "", envOIDCClientID: o.ClientID != "", envOIDCClientSecret: o.ClientSecret != ""}
	var missing []string
	for _, name := range []string{envOIDCIssuer, envOIDCClientID, envOIDCClientSecret} {
		if !set[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) == 3 {
		return nil
	}
	if len(missing) > 0 {
		return invalid(missing[0], "missing: single sign-on needs %s, %s and %s together; also set %s, or unset all three",
			envOIDCIssuer, envOIDCClientID, envOIDCClientSecret, strings.Join(missing, " and "))
	}
	if msg := checkIssuer(o.Issuer); msg != "" {
		return invalid(envOIDCIssuer, "invalid issuer %q: %s", o.Issuer, msg)
	}
	if len(o.ClientID) > maxOIDCClientID || hasControl(o.ClientID) || !utf8.ValidString(o.ClientID) {
		return invalid(envOIDCClientID, "invalid client id: want at most %d bytes of printable text", maxOIDCClientID)
	}
	if len(o.ClientSecret) > maxOIDCSecret || hasControl(o.ClientSecret) || !utf8.ValidString(o.ClientSecret) {
		return invalid(envOIDCClientSecret, "invalid client secret: want at most %d bytes of printable text", maxOIDCSecret)
	}
	return nil
}

// checkIssuer says why s cannot be an issuer URL, or "".
func checkIssuer(s string) string {
	if len(s) > maxOIDCIssuer {
		return "too long"
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || hasControl(s):
		return "want an absolute https URL"
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "", u.Opaque != "":
		return "want an absolute https URL"
	case u.User != nil:
		return "leave out the user name and password"
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		return "use https; plain http is allowed only on localhost, 127.0.0.1 or ::1"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return "want no query or fragment"
	}
	return ""
}

func (o *OIDC) loadName(s string) error {
	if s != "" && !o.Enabled() {
		return needsOIDC(envOIDCName)
	}
	if s == "" {
		s = "SSO"
	}
	if !utf8.ValidString(s) || hasControl(s) || utf8.RuneCountInString(s) > maxOIDCName {
		return invalid(envOIDCName, "invalid name %q: want at most %d characters, no control characters", s, maxOIDCName)
	}
	o.Name = s
	return nil
}

func (o *OIDC) loadAutoJoin(join, domains string) error {
	switch {
	case (join != "" || domains != "") && !o.Enabled():
		if join != "" {
			return needsOIDC(envOIDCAutoJoin)
		}
		return needsOIDC(envOIDCAllowedDomains)
	case join == "" && domains != "":
		return invalid(envOIDCAllowedDomains, "only used with %s: set it too, or unset this", envOIDCAutoJoin)
	case join == "":
		return nil
	}
	slug, role, ok := strings.Cut(join, ":")
	if !ok || !autoJoinSlugRE.MatchString(slug) {
		return invalid(envOIDCAutoJoin, "invalid value %q: want slug:role, e.g. acme:member", join)
	}
	if role != "admin" && role != "member" {
		return invalid(envOIDCAutoJoin, "invalid role %q: want admin or member", role)
	}
	if domains == "" {
		return invalid(envOIDCAllowedDomains, "required with %s: the email domains whose new users join %s", envOIDCAutoJoin, slug)
	}
	for _, d := range strings.Split(domains, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" {
			continue
		}
		if !isDomain(d) {
			return invalid(envOIDCAllowedDomains, "invalid domain %q: want a domain name like example.com, without @", d)
		}
		if !slices.Contains(o.AllowedDomains, d) {
			o.AllowedDomains = append(o.AllowedDomains, d)
		}
	}
	if len(o.AllowedDomains) == 0 {
		return invalid(envOIDCAllowedDomains, "required with %s: the email domains whose new users join %s", envOIDCAutoJoin, slug)
	}
	o.AutoJoin = &AutoJoin{Slug: slug, Role: role}
	return nil
}

// isDomain reports whether d is a lower-case DNS name of at least two
// labels.
func isDomain(d string) bool {
	if len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !domainLabelRE.MatchString(l) {
			return false
		}
	}
	return true
}

func (o *OIDC) loadPasswordLogin(s string) error {
	switch PasswordLogin(s) {
	case "":
		return nil
	case PasswordLoginOn:
	case PasswordLoginOperators, PasswordLoginOff:
		if !o.Enabled() {
			return invalid(envPasswordLogin, "%q needs single sign-on: set %s, %s and %s, or nobody could sign in",
				s, envOIDCIssuer, envOIDCClientID, envOIDCClientSecret)
		}
	default:
		return invalid(envPasswordLogin, "invalid value %q: want on, operators or off", s)
	}
	o.PasswordLogin = PasswordLogin(s)
	return nil
}

func needsOIDC(name string) error {
	return invalid(name, "needs single sign-on: set %s, %s and %s too, or unset this", envOIDCIssuer, envOIDCClientID, envOIDCClientSecret)
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}
