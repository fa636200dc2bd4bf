package config

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string {
	return func(name string) string { return kv[name] }
}

const secret32 = "0123456789abcdef0123456789abcdef"

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{
		Addr:            ":8080",
		DataDir:         "./data",
		KeyPrefix:       "kp",
		Scopes:          []Scope{{"read", "Read access", false}, {"write", "Write access", false}, builtInScopes[0], builtInScopes[1]},
		MaxKeysPerOrg:   100,
		PublicRateLimit: 5,
		PublicBlock:     5 * time.Minute,
		SessionIdle:     12 * time.Hour,
		SessionMax:      168 * time.Hour,
		UsageRetention:  90 * 24 * time.Hour,
		LogFormat:       "text",
		StaleIfError:    10 * time.Minute,
		SpillDir:        "./data",
		OIDC:            OIDC{Name: "SSO", PasswordLogin: PasswordLoginOn},
		GitHubKeysURL:   DefaultGitHubKeysURL,
	}
	if got := c.BaseURL.String(); got != "http://localhost:8080" {
		t.Errorf("BaseURL = %q, want http://localhost:8080", got)
	}
	c.BaseURL = nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load() =\n%+v\nwant\n%+v", c, want)
	}
	if c.Postgres() || c.SecureCookies() {
		t.Errorf("Postgres() = %v, SecureCookies() = %v, want false, false", c.Postgres(), c.SecureCookies())
	}
	if builtInScopes[0] != (Scope{"admin", "Every scope", true}) ||
		builtInScopes[1] != (Scope{"keys:manage", "Manage this organization's keys through the management API", true}) {
		t.Errorf("built-in scopes = %+v", builtInScopes)
	}
}

func TestLoadWhitespaceIsUnset(t *testing.T) {
	c, err := Load(env(map[string]string{"KEYPLANE_ADDR": "  ", "KEYPLANE_KEY_PREFIX": " sk1 ", "KEYPLANE_LOG_FORMAT": "\tjson\n"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Addr != ":8080" || c.KeyPrefix != "sk1" || c.LogFormat != "json" {
		t.Errorf("Addr, KeyPrefix, LogFormat = %q, %q, %q", c.Addr, c.KeyPrefix, c.LogFormat)
	}
}

func TestLoadValues(t *testing.T) {
	c, err := Load(env(map[string]string{
		"KEYPLANE_ADDR":                  "0.0.0.0:9000",
		"KEYPLANE_DATA_DIR":              "/var/lib/keyplane",
		"KEYPLANE_BASE_URL":              "https://keys.example.com/kp/",
		"DATABASE_URL":                   "postgres://kp:pw@db:5432/kp?sslmode=disable",
		"REDIS_URL":                      "rediss://:pw@cache:6380/0",
		"KEYPLANE_SESSION_SECRET":        secret32,
		"KEYPLANE_ENCRYPTION_KEY":        secret32 + "e",
		"KEYPLANE_OPERATOR_2FA":          "required",
		"KEYPLANE_WEBHOOK_ALLOW_PRIVATE": "true",
		"KEYPLANE_KEY_PREFIX":            "acme2",
		"KEYPLANE_MAX_KEYS_PER_ORG":      "100000",
		"KEYPLANE_PUBLIC_RATE_LIMIT":     "60",
		"KEYPLANE_PUBLIC_BLOCK":          "0",
		"KEYPLANE_SETUP_TOKEN":           "0123456789abcdef",
		"KEYPLANE_SESSION_IDLE":          "30m",
		"KEYPLANE_SESSION_MAX":           "30m",
		"KEYPLANE_USAGE_RETENTION":       "3650d",
		"KEYPLANE_LOG_FORMAT":            "json",
		"KEYPLANE_STALE_IF_ERROR":        "0",
		"KEYPLANE_SPILL_DIR":             "/var/spool/keyplane",
		"KEYPLANE_OIDC_ISSUER":           "https://id.example.com",
		"KEYPLANE_OIDC_CLIENT_ID":        "keyplane",
		"KEYPLANE_OIDC_CLIENT_SECRET":    "client-secret",
		"KEYPLANE_OIDC_NAME":             "Acme ID",
		"KEYPLANE_PASSWORD_LOGIN":        "operators",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"Addr", c.Addr, "0.0.0.0:9000"},
		{"DataDir", c.DataDir, "/var/lib/keyplane"},
		{"BaseURL", c.BaseURL.String(), "https://keys.example.com/kp"},
		{"DatabaseURL", c.DatabaseURL, "postgres://kp:pw@db:5432/kp?sslmode=disable"},
		{"RedisURL", c.RedisURL, "rediss://:pw@cache:6380/0"},
		{"SessionSecret", string(c.SessionSecret), secret32},
		{"EncryptionKey", string(c.EncryptionKey), secret32 + "e"},
		{"OperatorTwoFactor", c.OperatorTwoFactor, true},
		{"WebhookAllowPrivate", c.WebhookAllowPrivate, true},
		{"KeyPrefix", c.KeyPrefix, "acme2"},
		{"MaxKeysPerOrg", c.MaxKeysPerOrg, 100000},
		{"PublicRateLimit", c.PublicRateLimit, 60},
		{"PublicBlock", c.PublicBlock, time.Duration(0)},
		{"SetupToken", c.SetupToken, "0123456789abcdef"},
		{"SessionIdle", c.SessionIdle, 30 * time.Minute},
		{"SessionMax", c.SessionMax, 30 * time.Minute},
		{"UsageRetention", c.UsageRetention, 3650 * 24 * time.Hour},
		{"LogFormat", c.LogFormat, "json"},
		{"StaleIfError", c.StaleIfError, time.Duration(0)},
		{"SpillDir", c.SpillDir, "/var/spool/keyplane"},
		{"OIDC.Enabled()", c.OIDC.Enabled(), true},
		{"OIDC.Issuer", c.OIDC.Issuer, "https://id.example.com"},
		{"OIDC.ClientID", c.OIDC.ClientID, "keyplane"},
		{"OIDC.ClientSecret", c.OIDC.ClientSecret, "client-secret"},
		{"OIDC.Name", c.OIDC.Name, "Acme ID"},
		{"OIDC.PasswordLogin", c.OIDC.PasswordLogin, PasswordLoginOperators},
		{"Postgres()", c.Postgres(), true},
		{"SecureCookies()", c.SecureCookies(), true},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.field, ch.got, ch.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
	}{
		{"database mysql", map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL"},
		{"database not a URL", map[string]string{"DATABASE_URL": "postgres://h/%zz"}, "DATABASE_URL"},
		{"addr no port", map[string]string{"KEYPLANE_ADDR": "abc"}, "KEYPLANE_ADDR"},
		{"addr port too big", map[string]string{"KEYPLANE_ADDR": ":99999"}, "KEYPLANE_ADDR"},
		{"addr port not numeric", map[string]string{"KEYPLANE_ADDR": ":http"}, "KEYPLANE_ADDR"},
		{"base url ftp", map[string]string{"KEYPLANE_BASE_URL": "ftp://x"}, "KEYPLANE_BASE_URL"},
		{"base url not a url", map[string]string{"KEYPLANE_BASE_URL": "not a url"}, "KEYPLANE_BASE_URL"},
		{"base url relative", map[string]string{"KEYPLANE_BASE_URL": "/kp"}, "KEYPLANE_BASE_URL"},
		{"base url no host", map[string]string{"KEYPLANE_BASE_URL": "https://"}, "KEYPLANE_BASE_URL"},
		{"base url query", map[string]string{"KEYPLANE_BASE_URL": "https://x/?a=b"}, "KEYPLANE_BASE_URL"},
		{"base url fragment", map[string]string{"KEYPLANE_BASE_URL": "https://x/#top"}, "KEYPLANE_BASE_URL"},
		{"max keys zero", map[string]string{"KEYPLANE_MAX_KEYS_PER_ORG": "0"}, "KEYPLANE_MAX_KEYS_PER_ORG"},
		{"max keys abc", map[string]string{"KEYPLANE_MAX_KEYS_PER_ORG": "abc"}, "KEYPLANE_MAX_KEYS_PER_ORG"},
		{"max keys negative", map[string]string{"KEYPLANE_MAX_KEYS_PER_ORG": "-1"}, "KEYPLANE_MAX_KEYS_PER_ORG"},
		{"max keys too many", map[string]string{"KEYPLANE_MAX_KEYS_PER_ORG": "100001"}, "KEYPLANE_MAX_KEYS_PER_ORG"},
		{"rate limit x", map[string]string{"KEYPLANE_PUBLIC_RATE_LIMIT": "x"}, "KEYPLANE_PUBLIC_RATE_LIMIT"},
		{"block no unit", map[string]string{"KEYPLANE_PUBLIC_BLOCK": "5"}, "KEYPLANE_PUBLIC_BLOCK"},
		{"block negative", map[string]string{"KEYPLANE_PUBLIC_BLOCK": "-1m"}, "KEYPLANE_PUBLIC_BLOCK"},
		{"block too long", map[string]string{"KEYPLANE_PUBLIC_BLOCK": "31d"}, "KEYPLANE_PUBLIC_BLOCK"},
		{"stale if error negative", map[string]string{"KEYPLANE_STALE_IF_ERROR": "-1s"}, "KEYPLANE_STALE_IF_ERROR"},
		{"stale if error no unit", map[string]string{"KEYPLANE_STALE_IF_ERROR": "10"}, "KEYPLANE_STALE_IF_ERROR"},
		{"stale if error too long", map[string]string{"KEYPLANE_STALE_IF_ERROR": "8d"}, "KEYPLANE_STALE_IF_ERROR"},
		{"idle banana", map[string]string{"KEYPLANE_SESSION_IDLE": "banana"}, "KEYPLANE_SESSION_IDLE"},
		{"idle too short", map[string]string{"KEYPLANE_SESSION_IDLE": "59s"}, "KEYPLANE_SESSION_IDLE"},
		{"max shorter than idle", map[string]string{"KEYPLANE_SESSION_IDLE": "2h", "KEYPLANE_SESSION_MAX": "1h"}, "KEYPLANE_SESSION_MAX"},
		{"default max shorter than idle", map[string]string{"KEYPLANE_SESSION_IDLE": "8d"}, "KEYPLANE_SESSION_MAX"},
		{"max too long", map[string]string{"KEYPLANE_SESSION_MAX": "366d"}, "KEYPLANE_SESSION_MAX"},
		{"retention too short", map[string]string{"KEYPLANE_USAGE_RETENTION": "23h"}, "KEYPLANE_USAGE_RETENTION"},
		{"prefix upper case", map[string]string{"KEYPLANE_KEY_PREFIX": "KP"}, "KEYPLANE_KEY_PREFIX"},
		{"prefix underscore", map[string]string{"KEYPLANE_KEY_PREFIX": "k_p"}, "KEYPLANE_KEY_PREFIX"},
		{"prefix too long", map[string]string{"KEYPLANE_KEY_PREFIX": "abcdefghijklmnopq"}, "KEYPLANE_KEY_PREFIX"},
		{"prefix starts with digit", map[string]string{"KEYPLANE_KEY_PREFIX": "1kp"}, "KEYPLANE_KEY_PREFIX"},
		{"proxies bad bits", map[string]string{"KEYPLANE_TRUSTED_PROXIES": "10.0.0.0/99"}, "KEYPLANE_TRUSTED_PROXIES"},
		{"proxies nonsense", map[string]string{"KEYPLANE_TRUSTED_PROXIES": "10.0.0.1, nonsense"}, "KEYPLANE_TRUSTED_PROXIES"},
		{"scopes bad name", map[string]string{"KEYPLANE_SCOPES": "Send SMS=x"}, "KEYPLANE_SCOPES"},
		{"scopes empty name", map[string]string{"KEYPLANE_SCOPES": "=x"}, "KEYPLANE_SCOPES"},
		{"scopes duplicate", map[string]string{"KEYPLANE_SCOPES": "a=1;b=2;a=3"}, "KEYPLANE_SCOPES"},
		{"scopes redefine admin", map[string]string{"KEYPLANE_SCOPES": "admin=Mine"}, "KEYPLANE_SCOPES"},
		{"scopes redefine keys:manage", map[string]string{"KEYPLANE_SCOPES": "keys:manage"}, "KEYPLANE_SCOPES"},
		{"scopes long description", map[string]string{"KEYPLANE_SCOPES": "a=" + strings.Repeat("x", 201)}, "KEYPLANE_SCOPES"},
		{"route unknown scope", map[string]string{"KEYPLANE_ROUTE_SCOPES": "POST /v1/sms*=sms:send"}, "KEYPLANE_ROUTE_SCOPES"},
		{"route no equals", map[string]string{"KEYPLANE_ROUTE_SCOPES": "GET /v1/reports"}, "KEYPLANE_ROUTE_SCOPES"},
		{"route no slash", map[string]string{"KEYPLANE_ROUTE_SCOPES": "GET v1/reports=read"}, "KEYPLANE_ROUTE_SCOPES"},
		{"route no method", map[string]string{"KEYPLANE_ROUTE_SCOPES": "/v1/reports=read"}, "KEYPLANE_ROUTE_SCOPES"},
		{"route bad method", map[string]string{"KEYPLANE_ROUTE_SCOPES": "G(T /v1=read"}, "KEYPLANE_ROUTE_SCOPES"},
		{"route inner star", map[string]string{"KEYPLANE_ROUTE_SCOPES": "GET /v1/*/x=read"}, "KEYPLANE_ROUTE_SCOPES"},
		{"route empty scope", map[string]string{"KEYPLANE_ROUTE_SCOPES": "GET /v1="}, "KEYPLANE_ROUTE_SCOPES"},
		{"log format xml", map[string]string{"KEYPLANE_LOG_FORMAT": "xml"}, "KEYPLANE_LOG_FORMAT"},
		{"session secret short", map[string]string{"KEYPLANE_SESSION_SECRET": "short"}, "KEYPLANE_SESSION_SECRET"},
		{"postgres without secret", map[string]string{"DATABASE_URL": "postgres://db/kp"}, "KEYPLANE_SESSION_SECRET"},
		{"encryption key short", map[string]string{"KEYPLANE_ENCRYPTION_KEY": strings.Repeat("k", 31)}, "KEYPLANE_ENCRYPTION_KEY"},
		{"postgres without encryption key", map[string]string{"DATABASE_URL": "postgres://db/kp", "KEYPLANE_SESSION_SECRET": secret32}, "KEYPLANE_ENCRYPTION_KEY"},
		{"operator 2fa yes", map[string]string{"KEYPLANE_OPERATOR_2FA": "yes"}, "KEYPLANE_OPERATOR_2FA"},
		{"webhook allow private yes", map[string]string{"KEYPLANE_WEBHOOK_ALLOW_PRIVATE": "yes"}, "KEYPLANE_WEBHOOK_ALLOW_PRIVATE"},
		{"webhook allow private 1", map[string]string{"KEYPLANE_WEBHOOK_ALLOW_PRIVATE": "1"}, "KEYPLANE_WEBHOOK_ALLOW_PRIVATE"},
		{"redis http", map[string]string{"REDIS_URL": "http://x"}, "REDIS_URL"},
		{"redis no host", map[string]string{"REDIS_URL": "redis:///0"}, "REDIS_URL"},
		{"setup token short", map[string]string{"KEYPLANE_SETUP_TOKEN": "abc"}, "KEYPLANE_SETUP_TOKEN"},
		{"origin http elsewhere", map[string]string{"KEYPLANE_PORTAL_RETURN_ORIGINS": "http://app.example.com"}, "KEYPLANE_PORTAL_RETURN_ORIGINS"},
		{"origin with path", map[string]string{"KEYPLANE_PORTAL_RETURN_ORIGINS": "https://app.example.com/settings"}, "KEYPLANE_PORTAL_RETURN_ORIGINS"},
		{"origin with query", map[string]string{"KEYPLANE_PORTAL_RETURN_ORIGINS": "https://app.example.com?a=b"}, "KEYPLANE_PORTAL_RETURN_ORIGINS"},
		{"origin with fragment", map[string]string{"KEYPLANE_PORTAL_RETURN_ORIGINS": "https://app.example.com#x"}, "KEYPLANE_PORTAL_RETURN_ORIGINS"},
		{"origin without scheme", map[string]string{"KEYPLANE_PORTAL_RETURN_ORIGINS": "app.example.com"}, "KEYPLANE_PORTAL_RETURN_ORIGINS"},
		{"origin ftp", map[string]string{"KEYPLANE_PORTAL_RETURN_ORIGINS": "ftp://app.example.com"}, "KEYPLANE_PORTAL_RETURN_ORIGINS"},
		{"origin with user", map[string]string{"KEYPLANE_PORTAL_RETURN_ORIGINS": "https://u:p@app.example.com"}, "KEYPLANE_PORTAL_RETURN_ORIGINS"},
		{"origin second bad", map[string]string{"KEYPLANE_PORTAL_RETURN_ORIGINS": "https://a.example.com, javascript:alert(1)"}, "KEYPLANE_PORTAL_RETURN_ORIGINS"},
		{"oidc issuer without client", map[string]string{"KEYPLANE_OIDC_ISSUER": "https://id.example.com"}, "KEYPLANE_OIDC_CLIENT_ID"},
		{"password login off without sso", map[string]string{"KEYPLANE_PASSWORD_LOGIN": "off"}, "KEYPLANE_PASSWORD_LOGIN"},
		{"oidc after the others", map[string]string{"KEYPLANE_PASSWORD_LOGIN": "off", "KEYPLANE_OPERATOR_2FA": "yes"}, "KEYPLANE_OPERATOR_2FA"},
		{"first in order wins", map[string]string{"KEYPLANE_LOG_FORMAT": "xml", "KEYPLANE_ADDR": "abc"}, "KEYPLANE_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Load() error = %v (%T), want *Error", err, err)
			}
			if cerr.Var != tt.wantVar {
				t.Errorf("Var = %q, want %q (%v)", cerr.Var, tt.wantVar, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.wantVar+": ") || strings.ContainsAny(msg, "\r\n") {
				t.Errorf("Error() = %q, want one line starting with %q", msg, tt.wantVar+": ")
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Errorf("Load() config = %+v, want zero on error", c)
			}
		})
	}
}

func TestLoadErrorsHideSecrets(t *testing.T) {
	const pw = "s3cr3tPa55"
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"session secret", map[string]string{"KEYPLANE_SESSION_SECRET": pw}},
		{"encryption key", map[string]string{"KEYPLANE_ENCRYPTION_KEY": pw}},
		{"setup token", map[string]string{"KEYPLANE_SETUP_TOKEN": pw}},
		{"database scheme", map[string]string{"DATABASE_URL": "mysql://u:" + pw + "@db/kp"}},
		{"database parse", map[string]string{"DATABASE_URL": "postgres://u:" + pw + "@db/%zz"}},
		{"database without secret", map[string]string{"DATABASE_URL": "postgres://u:" + pw + "@db/kp"}},
		{"redis scheme", map[string]string{"REDIS_URL": "http://:" + pw + "@cache"}},
		{"redis parse", map[string]string{"REDIS_URL": "redis://:" + pw + "@cache/%zz"}},
		{"redis no host", map[string]string{"REDIS_URL": "redis://:" + pw + "@"}},
		{"base url user info", map[string]string{"KEYPLANE_BASE_URL": "https://u:" + pw + "@x"}},
		{"oidc secret without issuer", map[string]string{"KEYPLANE_OIDC_CLIENT_SECRET": pw}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env))
			if err == nil {
				t.Fatal("Load() error = nil, want an error")
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("Error() = %q repeats the secret", err)
			}
		})
	}
}

func TestLoadBaseURLDefault(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"", "http://localhost:8080"},
		{":9090", "http://localhost:9090"},
		{"127.0.0.1:8081", "http://localhost:8081"},
		{"[::1]:7000", "http://localhost:7000"},
	}
	for _, tt := range tests {
		c, err := Load(env(map[string]string{"KEYPLANE_ADDR": tt.addr}))
		if err != nil {
			t.Fatalf("Load(KEYPLANE_ADDR=%q): %v", tt.addr, err)
		}
		if got := c.BaseURL.String(); got != tt.want {
			t.Errorf("KEYPLANE_ADDR=%q: BaseURL = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestLoadBaseURLTrimsSlash(t *testing.T) {
	tests := []struct{ in, want, path string }{
		{"https://x.example/", "https://x.example", ""},
		{"http://x.example:8080/keys//", "http://x.example:8080/keys", "/keys"},
	}
	for _, tt := range tests {
		c, err := Load(env(map[string]string{"KEYPLANE_BASE_URL": tt.in}))
		if err != nil {
			t.Fatalf("Load(KEYPLANE_BASE_URL=%q): %v", tt.in, err)
		}
		if c.BaseURL.String() != tt.want || c.BaseURL.Path != tt.path {
			t.Errorf("KEYPLANE_BASE_URL=%q: BaseURL = %q (Path %q), want %q (Path %q)", tt.in, c.BaseURL, c.BaseURL.Path, tt.want, tt.path)
		}
	}
}

func TestLoadTrustedProxies(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"10.0.0.0/8", []string{"10.0.0.0/8"}},
		{"10.1.2.3/8", []string{"10.0.0.0/8"}},
		{"192.168.1.7", []string{"192.168.1.7/32"}},
		{"2001:db8::/32", []string{"2001:db8::/32"}},
		{"2001:db8::1", []string{"2001:db8::1/128"}},
		{" 10.0.0.1 , fd00::/8 ,", []string{"10.0.0.1/32", "fd00::/8"}},
	}
	for _, tt := range tests {
		c, err := Load(env(map[string]string{"KEYPLANE_TRUSTED_PROXIES": tt.in}))
		if err != nil {
			t.Fatalf("Load(KEYPLANE_TRUSTED_PROXIES=%q): %v", tt.in, err)
		}
		var want []netip.Prefix
		for _, s := range tt.want {
			want = append(want, netip.MustParsePrefix(s))
		}
		if !reflect.DeepEqual(c.TrustedProxies, want) {
			t.Errorf("KEYPLANE_TRUSTED_PROXIES=%q: got %v, want %v", tt.in, c.TrustedProxies, want)
		}
	}
}

func TestLoadPortalReturnOrigins(t *testing.T) {
	c, err := Load(env(map[string]string{
		"KEYPLANE_PORTAL_RETURN_ORIGINS": " https://App.Example.com:443/ , http://localhost:3000,http://127.0.0.1, http://[::1]:8081,https://app.example.com",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := []string{"https://app.example.com", "http://localhost:3000", "http://127.0.0.1", "http://[::1]:8081"}
	if !reflect.DeepEqual(c.PortalReturnOrigins, want) {
		t.Errorf("PortalReturnOrigins = %q, want %q", c.PortalReturnOrigins, want)
	}
}

func TestCheckReturnURL(t *testing.T) {
	c, err := Load(env(map[string]string{"KEYPLANE_PORTAL_RETURN_ORIGINS": "https://app.example.com,http://localhost:3000"}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		raw string
		ok  bool
	}{
		{"https://app.example.com/settings/api?tab=keys", true},
		{"https://APP.example.com:443/", true},
		{"http://localhost:3000/back", true},
		{"http://app.example.com/settings", false},                      // http off localhost
		{"https://app.example.com.evil.test/", false},                   // another origin
		{"https://app.example.com:8443/", false},                        // another port
		{"http://localhost:4000/", false},                               // not in the list
		{"https://u:p@app.example.com/", false},                         // user info
		{"javascript:alert(1)", false},                                  // not http
		{"//app.example.com/settings", false},                           // not absolute
		{"/settings", false},                                            // relative
		{"", false},                                                     // missing
		{"https://app.example.com/" + strings.Repeat("a", 2048), false}, // too long
	}
	for _, tt := range tests {
		if msg := CheckReturnURL(tt.raw, c.PortalReturnOrigins); (msg == "") != tt.ok {
			t.Errorf("CheckReturnURL(%.60q) = %q, want ok %v", tt.raw, msg, tt.ok)
		}
	}
	none, _ := Load(env(nil))
	if msg := CheckReturnURL("https://app.example.com/", none.PortalReturnOrigins); !strings.Contains(msg, "KEYPLANE_PORTAL_RETURN_ORIGINS") {
		t.Errorf("without origins: %q", msg)
	}
}
