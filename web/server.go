// Package web is Keyplane's HTTP server: the dashboard (sessions, CSRF, CSP,
// request logs), the data plane under /v1 (none of those, built for speed),
// the management API under /api (keys in headers, request logs) and the
// operations endpoints, each a route group with its own middleware.
package web

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"keyplane/internal/account"
	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/clientip"
	"keyplane/internal/config"
	"keyplane/internal/idempotency"
	"keyplane/internal/leak"
	"keyplane/internal/oidc"
	"keyplane/internal/optoken"
	"keyplane/internal/org"
	"keyplane/internal/product"
	"keyplane/internal/ratelimit"
	"keyplane/internal/setup"
	"keyplane/internal/twofactor"
	"keyplane/internal/usage"
	"keyplane/internal/verify"
	"keyplane/internal/webhook"
	"keyplane/web/api"
)

// Deps are what the server needs from the rest of Keyplane. The services,
// the throttle and the verifier are required.
type Deps struct {
	Config config.Config
	// DB is asked by /readyz whether the database answers.
	DB       Pinger
	Accounts *account.Service
	// Orgs also creates the accounts of invited people (org.WithAccounts).
	Orgs *org.Service
	Keys *apikey.Service
	// Products are the products keys belong to; the data plane tells a
	// key's product by its shape.
	Products *product.Service
	Audit    *audit.Service
	// UsageReader reads usage for the dashboard.
	UsageReader *usage.Reader
	// Setup runs the first-run setup, and holds its token.
	Setup    *setup.Service
	Throttle *account.Throttle
	// TwoFactor holds users' second factors (TOTP and recovery codes).
	TwoFactor *twofactor.Service
	// Verifier decides the data plane, and authenticates the management
	// API's keys.
	Verifier *verify.Verifier
	// Idempotency keeps the management API's Idempotency-Key records.
	Idempotency *idempotency.Service
	// Tokens are the operator tokens of the operator API.
	Tokens *optoken.Service
	// APILimits counts management API requests per credential; in process
	// when nil.
	APILimits ratelimit.Store
	// Usage counts data plane outcomes; nil counts nothing.
	Usage *usage.Recorder
	// Webhooks are the organizations' webhook endpoints and their outbox.
	Webhooks *webhook.Service
	// SSO runs sign-ins through the OpenID Connect provider, and SSOLinker
	// tells whom they sign in as; both nil when single sign-on is off
	// (Config.OIDC), both set when it is on.
	SSO       *oidc.Client
	SSOLinker *oidc.Linker
	// Metrics is served at /metrics; an empty registry when nil.
	Metrics       prometheus.Gatherer
	Logger        *slog.Logger
	SessionSecret []byte
	// Now is the clock; time.Now when nil.
	Now     func() time.Time
	Version string
}

// Server serves every route of Keyplane.
type Server struct {
	cfg         config.Config
	db          Pinger
	accounts    *account.Service
	orgs        *org.Service
	keys        *apikey.Service
	products    *product.Service
	audit       *audit.Service
	usageReader *usage.Reader
	tokens      *optoken.Service
	setup       *setup.Service
	throttle    *account.Throttle
	twoFactor   *twofactor.Service
	webhooks    *webhook.Service
	sso         *oidc.Client // nil when single sign-on is off
	ssoLinker   *oidc.Linker
	logger      *slog.Logger
	sessions    *SessionStore
	csrfKey     []byte // derives each session's CSRF token
	now         func() time.Time
	version     string

	dataPlane *api.DataPlane
	scanning  *api.Scanning
	manage    *api.Management
	hooksAPI  *api.Webhooks
	verifier  *verify.Verifier
	metrics   prometheus.Gatherer

	echo *echo.Echo
	// data serves /v1 alone: a router that holds only the data plane's
	// routes and no middleware, so a verification pays for nothing else.
	data *echo.Echo

	// hasUsers turns true once the first user exists and never back.
	hasUsers atomic.Bool
}

// APILimitKeys bounds the credentials the in-process management API limit
// remembers.
const APILimitKeys = 100_000

// NewServer builds the server and its routes.
func NewServer(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	s := &Server{
		cfg: d.Config, db: d.DB, accounts: d.Accounts, orgs: d.Orgs, keys: d.Keys, products: d.Products,
		audit: d.Audit, usageReader: d.UsageReader, tokens: d.Tokens, setup: d.Setup, throttle: d.Throttle, twoFactor: d.TwoFactor,
		sso: d.SSO, ssoLinker: d.SSOLinker, logger: d.Logger, now: d.Now, version: d.Version,
		webhooks: d.Webhooks,
	}
	s.hooksAPI = api.NewWebhooks(d.Webhooks, d.Logger)
	if d.Metrics == nil {
		d.Metrics = prometheus.NewRegistry()
	}
	resolver := clientip.New(d.Config.TrustedProxies)
	s.dataPlane = api.NewDataPlane(d.Verifier, d.Usage, d.Products, resolver, d.Now)
	s.scanning = api.NewScanning(d.Keys, leak.NewGitHubKeys(d.Config.GitHubKeysURL, nil, d.Now), d.Logger)
	if d.APILimits == nil {
		d.APILimits = ratelimit.NewMemory(APILimitKeys)
	}
	s.manage = api.NewManagement(api.ManagementDeps{
		Verifier: d.Verifier, Keys: d.Keys, Usage: d.UsageReader, Audit: d.Audit, Orgs: d.Orgs,
		Accounts: d.Accounts, Tokens: d.Tokens, Idempotency: d.Idempotency, Limits: d.APILimits, Products: d.Products, BaseURL: d.Config.BaseURL.String(), Resolver: resolver, Logger: d.Logger, Now: d.Now, Secret: d.SessionSecret,
		PortalOrigins: d.Config.PortalReturnOrigins,
	})
	s.verifier = d.Verifier
	s.metrics = d.Metrics
	ipOf := resolver.FromRequest
	limits := account.SessionLimits{Idle: d.Config.SessionIdle, Max: d.Config.SessionMax}
	s.sessions = NewSessionStore(d.Accounts, d.SessionSecret, limits, d.Config.SecureCookies(), ipOf)
	csrfKey := sha256.Sum256(append([]byte("keyplane csrf\x00"), d.SessionSecret...))
	s.csrfKey = csrfKey[:]

	newEcho := func() *echo.Echo {
		e := echo.New()
		e.HideBanner = true
		e.HidePort = true
		e.IPExtractor = ipOf
		e.HTTPErrorHandler = s.handleError
		return e
	}
	s.data = newEcho()
	e := newEcho()
	// A panic becomes a 500 through handleError, with its stack in the log.
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.logger.Error("panic", "err", err, "path", loggedPath(c), "stack", string(stack))
			return err
		},
	}))
	s.echo = e
	s.routes()
	return s
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; strings.HasPrefix(p, dataPrefix) && (len(p) == len(dataPrefix) || p[len(dataPrefix)] == '/') {
		s.data.ServeHTTP(w, r)
		return
	}
	s.echo.ServeHTTP(w, r)
}

// dataPrefix is where the data plane's routes are.
const dataPrefix = "/v1"

// Routes lists every registered route (method and path), for tests that walk
// the router.
func (s *Server) Routes() []*echo.Route { return append(s.echo.Routes(), s.data.Routes()...) }

// recovered turns a panic of h into a 500 through the error handler, with
// its stack in the log, as the Recover middleware does on the other routes
// but without its cost per request.
func (s *Server) recovered(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			perr, ok := p.(error)
			if !ok {
				perr = fmt.Errorf("%v", p)
			}
			s.logger.Error("panic", "err", perr, "path", loggedPath(c), "stack", string(debug.Stack()))
			err = perr
		}()
		return h(c)
	}
}

// instanceHasUsers reports whether setup is done, reading the database only
// until the answer is yes.
func (s *Server) instanceHasUsers(ctx context.Context) (bool, error) {
	if s.hasUsers.Load() {
		return true, nil
	}
	ok, err := s.accounts.HasUsers(ctx)
	if err != nil {
		return false, err
	}
	if ok {
		s.hasUsers.Store(true)
	}
	return ok, nil
}
