// Package config reads Keyplane's configuration from the environment once, at
// start, and validates it. The resulting Config is a value passed down, never
// a global.
package config

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The environment variables Load reads.
const (
	envAddr            = "KEYPLANE_ADDR"
	envDataDir         = "KEYPLANE_DATA_DIR"
	envBaseURL         = "KEYPLANE_BASE_URL"
	envDatabaseURL     = "DATABASE_URL"
	envRedisURL        = "REDIS_URL"
	envSessionSecret   = "KEYPLANE_SESSION_SECRET"
	envKeyPrefix       = "KEYPLANE_KEY_PREFIX"
	envScopes          = "KEYPLANE_SCOPES"
	envMaxKeysPerOrg   = "KEYPLANE_MAX_KEYS_PER_ORG"
	envTrustedProxies  = "KEYPLANE_TRUSTED_PROXIES"
	envRouteScopes     = "KEYPLANE_ROUTE_SCOPES"
	envPublicRateLimit = "KEYPLANE_PUBLIC_RATE_LIMIT"
	envPublicBlock     = "KEYPLANE_PUBLIC_BLOCK"
	envSetupToken      = "KEYPLANE_SETUP_TOKEN"
	envSessionIdle     = "KEYPLANE_SESSION_IDLE"
	envSessionMax      = "KEYPLANE_SESSION_MAX"
	envUsageRetention  = "KEYPLANE_USAGE_RETENTION"
	envLogFormat       = "KEYPLANE_LOG_FORMAT"
	envStaleIfError    = "KEYPLANE_STALE_IF_ERROR"
	envSpillDir        = "KEYPLANE_SPILL_DIR"
	envEncryptionKey   = "KEYPLANE_ENCRYPTION_KEY"
	envOperator2FA     = "KEYPLANE_OPERATOR_2FA"
	envWebhookPrivate  = "KEYPLANE_WEBHOOK_ALLOW_PRIVATE"

	envPortalReturnOrigins = "KEYPLANE_PORTAL_RETURN_ORIGINS"
)

const (
	minSessionSecret = 32
	minEncryptionKey = 32
	minSetupToken    = 16
)

// Config is Keyplane's configuration, read once from the environment and
// passed down. Each field names its variable and default.
type Config struct {
	Addr          string   // KEYPLANE_ADDR, default ":8080"
	DataDir       string   // KEYPLANE_DATA_DIR, default "./data"
	BaseURL       *url.URL // KEYPLANE_BASE_URL, default "http://localhost:" + the port of Addr; Path has no trailing slash
	DatabaseURL   string   // DATABASE_URL; "" means embedded SQLite in DataDir
	RedisURL      string   // REDIS_URL; "" means no Redis
	SessionSecret []byte   // KEYPLANE_SESSION_SECRET; nil when unset (the caller then generates one into DataDir)
	// EncryptionKey seals the secrets Keyplane must read back (TOTP seeds):
	// KEYPLANE_ENCRYPTION_KEY, at least 32 bytes; nil when unset (on SQLite
	// the caller then generates one into DataDir; PostgreSQL requires it).
	EncryptionKey   []byte
	KeyPrefix       string         // KEYPLANE_KEY_PREFIX, default "kp"
	Scopes          []Scope        // KEYPLANE_SCOPES, default read and write; the built-ins always last
	MaxKeysPerOrg   int            // KEYPLANE_MAX_KEYS_PER_ORG, default 100
	TrustedProxies  []netip.Prefix // KEYPLANE_TRUSTED_PROXIES, masked; default empty (trust nobody)
	RouteScopes     []RouteScope   // KEYPLANE_ROUTE_SCOPES, default empty
	PublicRateLimit int            // KEYPLANE_PUBLIC_RATE_LIMIT, requests per minute, default 5
	PublicBlock     time.Duration  // KEYPLANE_PUBLIC_BLOCK, default 5m; 0 means no block
	SetupToken      string         // KEYPLANE_SETUP_TOKEN; "" means the server makes one up
	SessionIdle     time.Duration  // KEYPLANE_SESSION_IDLE, default 12h
	SessionMax      time.Duration  // KEYPLANE_SESSION_MAX, default 7d; never shorter than SessionIdle
	UsageRetention  time.Duration  // KEYPLANE_USAGE_RETENTION, default 90d
	LogFormat       string         // KEYPLANE_LOG_FORMAT, "text" (default) or "json"
	// StaleIfError is how long past the cache TTL a cached key still
	// answers while the database cannot be reached: KEYPLANE_STALE_IF_ERROR,
	// default 10m; 0 fails closed at the TTL.
	StaleIfError time.Duration
	// SpillDir holds usage counts a shutdown could not write to the
	// database: KEYPLANE_SPILL_DIR, default DataDir.
	SpillDir string
	// PortalReturnOrigins are the origins (scheme://host[:port], lower
	// case, no default port) a portal session's "Back to ..." link may lead
	// to: KEYPLANE_PORTAL_RETURN_ORIGINS, comma-separated, default none.
	PortalReturnOrigins []string
	// OperatorTwoFactor makes operators set up two-factor sign-in before
	// they reach /admin: KEYPLANE_OPERATOR_2FA, "optional" (default) or
	// "required".
	OperatorTwoFactor bool
	// WebhookAllowPrivate lets webhook endpoints be on loopback, private,
	// link-local and other internal addresses, which are otherwise refused
	// at registration and at every delivery:
	// KEYPLANE_WEBHOOK_ALLOW_PRIVATE, "false" (default) or "true".
	WebhookAllowPrivate bool
	// OIDC is single sign-on through an OpenID Connect provider and who may
	// still sign in with a password: KEYPLANE_OIDC_* and
	// KEYPLANE_PASSWORD_LOGIN (see LoadOIDC); SSO is off when unset.
	OIDC OIDC
	// APIURL is the platform's API base URL, shown in the dashboard's curl
	// examples only (a product may set its own): KEYPLANE_API_URL; ""
	// shows a placeholder.
	APIURL string
	// GitHubKeysURL is where the keys that sign GitHub's secret scanning
	// requests are fetched: KEYPLANE_GITHUB_KEYS_URL, GitHub's by default.
	GitHubKeysURL string
}

// Load reads the configuration through getenv (os.Getenv, or a map lookup in
// tests). Surrounding whitespace is trimmed, and an empty value means unset.
//
// Load checks the variables in this order and returns the first problem as
// an *Error: KEYPLANE_ADDR, KEYPLANE_BASE_URL, DATABASE_URL, REDIS_URL,
// KEYPLANE_SESSION_SECRET, KEYPLANE_ENCRYPTION_KEY, KEYPLANE_KEY_PREFIX,
// KEYPLANE_SCOPES,
// KEYPLANE_MAX_KEYS_PER_ORG, KEYPLANE_TRUSTED_PROXIES, KEYPLANE_ROUTE_SCOPES,
// KEYPLANE_PUBLIC_RATE_LIMIT, KEYPLANE_PUBLIC_BLOCK, KEYPLANE_SETUP_TOKEN,
// KEYPLANE_SESSION_IDLE, KEYPLANE_SESSION_MAX, KEYPLANE_USAGE_RETENTION,
// KEYPLANE_LOG_FORMAT, KEYPLANE_STALE_IF_ERROR,
// KEYPLANE_PORTAL_RETURN_ORIGINS, KEYPLANE_OPERATOR_2FA,
// KEYPLANE_WEBHOOK_ALLOW_PRIVATE, the single
// sign-on settings in LoadOIDC's order, KEYPLANE_API_URL. KEYPLANE_DATA_DIR and
// KEYPLANE_SPILL_DIR take any value.
func Load(getenv func(string) string) (Config, error) {
	l := &loader{getenv: getenv}
	steps := []func(*loader) error{
		(*loader).addr,
		(*loader).dataDir,
		(*loader).baseURL,
		(*loader).databaseURL,
		(*loader).redisURL,
		(*loader).sessionSecret,
		(*loader).encryptionKey,
		(*loader).keyPrefix,
		(*loader).scopes,
		(*loader).maxKeysPerOrg,
		(*loader).trustedProxies,
		(*loader).routeScopes,
		(*loader).publicRateLimit,
		(*loader).publicBlock,
		(*loader).setupToken,
		(*loader).sessionIdle,
		(*loader).sessionMax,
		(*loader).usageRetention,
		(*loader).logFormat,
		(*loader).staleIfError,
		(*loader).spillDir,
		(*loader).portalReturnOrigins,
		(*loader).operatorTwoFactor,
		(*loader).webhookAllowPrivate,
		(*loader).oidc,
		(*loader).apiURL,
		(*loader).githubKeysURL,
	}
	for _, step := range steps {
		if err := step(l); err != nil {
			return Config{}, err
		}
	}
	return l.c, nil
}

// Postgres reports whether the store is PostgreSQL (DATABASE_URL is set)
// rather than the embedded SQLite file.
func (c Config) Postgres() bool { return c.DatabaseURL != "" }

// SecureCookies reports whether cookies must be Secure: BaseURL is https.
func (c Config) SecureCookies() bool { return c.BaseURL != nil && c.BaseURL.Scheme == "https" }

// Scope returns the catalogue entry named name, built-ins included, and
// false when there is none.
func (c Config) Scope(name string) (Scope, bool) {
	for _, s := range c.Scopes {
		if s.Name == name {
			return s, true
		}
	}
	return Scope{}, false
}

type loader struct {
	getenv func(string) string
	c      Config
	port   string
}

func (l *loader) get(name string) string { return strings.TrimSpace(l.getenv(name)) }

func (l *loader) intIn(name string, def, lo, hi int) (int, error) {
	s := l.get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, invalid(name, "invalid value %q: want an integer from %d to %d", s, lo, hi)
	}
	return n, nil
}

func (l *loader) durationIn(name string, def, lo, hi time.Duration) (time.Duration, error) {
	s := l.get(name)
	if s == "" {
		return def, nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return 0, invalid(name, "invalid duration %q: want Go syntax (90s, 1h30m) or whole days (90d)", s)
	}
	if d < lo || d > hi {
		return 0, invalid(name, "duration %q out of range: want %s to %s", s, formatDuration(lo), formatDuration(hi))
	}
	return d, nil
}

func (l *loader) dataDir() error {
	l.c.DataDir = l.get(envDataDir)
	if l.c.DataDir == "" {
		l.c.DataDir = "./data"
	}
	return nil
}

func (l *loader) sessionSecret() error {
	s := l.get(envSessionSecret)
	switch {
	case s == "" && l.c.Postgres():
		return invalid(envSessionSecret, "required with PostgreSQL (DATABASE_URL is set): at least %d bytes", minSessionSecret)
	case s != "" && len(s) < minSessionSecret:
		return invalid(envSessionSecret, "too short: want at least %d bytes", minSessionSecret)
	case s != "":
		l.c.SessionSecret = []byte(s)
	}
	return nil
}

func (l *loader) encryptionKey() error {
	s := l.get(envEncryptionKey)
	switch {
	case s == "" && l.c.Postgres():
		return invalid(envEncryptionKey, "required with PostgreSQL (DATABASE_URL is set): at least %d bytes, kept as safe as the database's backups are not", minEncryptionKey)
	case s != "" && len(s) < minEncryptionKey:
		return invalid(envEncryptionKey, "too short: want at least %d bytes", minEncryptionKey)
	case s != "":
		l.c.EncryptionKey = []byte(s)
	}
	return nil
}

func (l *loader) oidc() error {
	o, err := LoadOIDC(l.getenv)
	if err != nil {
		return err
	}
	l.c.OIDC = o
	return nil
}

func (l *loader) apiURL() error { return loadAPIURL(l.getenv, &l.c.APIURL) }

func (l *loader) operatorTwoFactor() error {
	switch s := l.get(envOperator2FA); s {
	case "", "optional":
	case "required":
		l.c.OperatorTwoFactor = true
	default:
		return invalid(envOperator2FA, "invalid value %q: want optional or required", s)
	}
	return nil
}

func (l *loader) webhookAllowPrivate() error {
	switch s := l.get(envWebhookPrivate); s {
	case "", "false":
	case "true":
		l.c.WebhookAllowPrivate = true
	default:
		return invalid(envWebhookPrivate, "invalid value %q: want true or false", s)
	}
	return nil
}

func (l *loader) keyPrefix() error {
	l.c.KeyPrefix = l.get(envKeyPrefix)
	if l.c.KeyPrefix == "" {
		l.c.KeyPrefix = "kp"
	}
	if !isKeyPrefix(l.c.KeyPrefix) {
		return invalid(envKeyPrefix, "invalid prefix %q: want 1 to 16 of a-z and 0-9, starting with a letter", l.c.KeyPrefix)
	}
	return nil
}

func isKeyPrefix(s string) bool {
	if len(s) < 1 || len(s) > 16 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789") == ""
}

func (l *loader) scopes() (err error) {
	if l.c.Scopes, err = ParseScopes(l.get(envScopes)); err != nil {
		return invalid(envScopes, "%v", err)
	}
	return nil
}

func (l *loader) maxKeysPerOrg() (err error) {
	l.c.MaxKeysPerOrg, err = l.intIn(envMaxKeysPerOrg, 100, 1, 100000)
	return err
}

func (l *loader) routeScopes() (err error) {
	if l.c.RouteScopes, err = ParseRouteScopes(l.get(envRouteScopes), l.c.Scopes); err != nil {
		return invalid(envRouteScopes, "%v", err)
	}
	return nil
}

func (l *loader) publicRateLimit() (err error) {
	l.c.PublicRateLimit, err = l.intIn(envPublicRateLimit, 5, 1, 100000)
	return err
}

func (l *loader) publicBlock() (err error) {
	l.c.PublicBlock, err = l.durationIn(envPublicBlock, 5*time.Minute, 0, 30*day)
	return err
}

func (l *loader) setupToken() error {
	l.c.SetupToken = l.get(envSetupToken)
	if l.c.SetupToken != "" && utf8.RuneCountInString(l.c.SetupToken) < minSetupToken {
		return invalid(envSetupToken, "too short: want at least %d characters", minSetupToken)
	}
	return nil
}

func (l *loader) sessionIdle() (err error) {
	l.c.SessionIdle, err = l.durationIn(envSessionIdle, 12*time.Hour, time.Minute, 30*day)
	return err
}

func (l *loader) sessionMax() (err error) {
	l.c.SessionMax, err = l.durationIn(envSessionMax, 7*day, time.Minute, 365*day)
	if err == nil && l.c.SessionMax < l.c.SessionIdle {
		err = invalid(envSessionMax, "%q is shorter than %s %q", formatDuration(l.c.SessionMax), envSessionIdle, formatDuration(l.c.SessionIdle))
	}
	return err
}

func (l *loader) usageRetention() (err error) {
	l.c.UsageRetention, err = l.durationIn(envUsageRetention, 90*day, day, 3650*day)
	return err
}

func (l *loader) logFormat() error {
	l.c.LogFormat = l.get(envLogFormat)
	switch l.c.LogFormat {
	case "":
		l.c.LogFormat = "text"
	case "text", "json":
	default:
		return invalid(envLogFormat, "invalid format %q: want text or json", l.c.LogFormat)
	}
	return nil
}

func (l *loader) staleIfError() (err error) {
	l.c.StaleIfError, err = l.durationIn(envStaleIfError, 10*time.Minute, 0, 7*day)
	return err
}

func (l *loader) spillDir() error {
	l.c.SpillDir = l.get(envSpillDir)
	if l.c.SpillDir == "" {
		l.c.SpillDir = l.c.DataDir
	}
	return nil
}
