package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humaecho"
	"github.com/labstack/echo/v4"

	"keyplane/internal/account"
	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/clientip"
	"keyplane/internal/config"
	"keyplane/internal/idempotency"
	"keyplane/internal/optoken"
	"keyplane/internal/org"
	"keyplane/internal/product"
	"keyplane/internal/ratelimit"
	"keyplane/internal/usage"
	"keyplane/internal/verify"
)

// MaxManageBody bounds the body of every management API request.
const MaxManageBody = 64 << 10

// ManageLimit is the management API's rate limit per credential: 600
// requests in any 60 seconds pass, the 601st is refused.
var ManageLimit = ratelimit.Limit{Max: 600, Window: time.Minute}

// Management serves the management API's org side (/api/v1/...): an
// organization's keys, usage, audit log and members, for a private key of
// that organization holding keys:manage. It shares the data plane's
// verifier, so a key is checked the same way (and as fast) wherever it is
// presented.
type Management struct {
	verifier  *verify.Verifier
	keys      *apikey.Service
	usage     *usage.Reader
	audit     *audit.Service
	orgs      *org.Service
	accounts  *account.Service
	tokens    *optoken.Service
	idem      *idempotency.Service
	limits    ratelimit.Store
	products  *product.Service
	baseURL   string
	resolver  *clientip.Resolver
	logger    *slog.Logger
	now       func() time.Time
	cursorKey []byte
	// portalOrigins are where portal sessions may return to.
	portalOrigins []string
}

// ManagementDeps are what Management needs.
type ManagementDeps struct {
	Verifier *verify.Verifier
	Keys     *apikey.Service
	Usage    *usage.Reader
	Audit    *audit.Service
	Orgs     *org.Service
	Accounts *account.Service
	// Tokens authenticate the operator API.
	Tokens      *optoken.Service
	Idempotency *idempotency.Service
	// Limits counts requests per credential: in process, or in Redis.
	Limits ratelimit.Store
	// Products are the products: a key's product and kind from its shape,
	// and the operator API's catalogue.
	Products *product.Service
	// BaseURL is the dashboard's address without a trailing slash; invite
	// links start with it.
	BaseURL  string
	Resolver *clientip.Resolver
	Logger   *slog.Logger
	Now      func() time.Time
	// Secret signs list cursors, so a forged one is refused.
	Secret []byte
	// PortalOrigins are the origins a portal session's return_url may
	// have (KEYPLANE_PORTAL_RETURN_ORIGINS).
	PortalOrigins []string
}

// NewManagement returns the management API's handlers.
func NewManagement(d ManagementDeps) *Management {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	key := sha256.Sum256(append([]byte("keyplane api cursor\x00"), d.Secret...))
	return &Management{
		verifier: d.Verifier, keys: d.Keys, usage: d.Usage, audit: d.Audit, orgs: d.Orgs, accounts: d.Accounts, tokens: d.Tokens, idem: d.Idempotency, limits: d.Limits,
		products: d.Products, baseURL: d.BaseURL, resolver: d.Resolver, logger: d.Logger, now: d.Now, cursorKey: key[:],
		portalOrigins: d.PortalOrigins,
	}
}

// Security scheme names in the OpenAPI document.
const (
	SchemeAPIKey = "apiKey"
	SchemeBearer = "bearer"
)

const apiDescription = `Everything an admin does to an organization's keys and members in the dashboard, a program can do here, and it can read the same usage numbers and audit log.

**Authentication.** Send a private key of the organization that holds the scope ` + "`keys:manage`" + ` in ` + "`X-Api-Key`" + ` or as ` + "`Authorization: Bearer`" + `. The organization is the key's own. Missing, malformed, unknown, revoked, expired or disabled keys, and public keys, get 401 ` + "`unauthorized`" + `; a key without ` + "`keys:manage`" + ` (` + "`admin`" + ` does not imply it) gets 403 ` + "`forbidden`" + `. Another organization's ids are 404.

**Errors** share one shape, ` + "`{\"error\": {\"code\", \"message\", \"fields\": [{\"name\", \"message\"}]}}`" + `, and the code is repeated in the ` + "`X-Keyplane-Error`" + ` header. Validation errors are 422 ` + "`invalid`" + ` and name the request's own fields; unknown body fields are refused. A body that is not JSON is 400 ` + "`bad_request`" + `, one over 64 KiB is 413 ` + "`too_large`" + `.

**Pagination.** The lists of keys and of audit events take ` + "`limit`" + ` (1–100, default 50) and ` + "`cursor`" + ` and answer ` + "`{\"data\": [...], \"next_cursor\": \"...\"}`" + `; ` + "`next_cursor`" + ` is null on the last page. Pass it back unchanged: a cursor that was not issued is 422 (field ` + "`cursor`" + `).

**Rate limit.** 600 requests in any 60 seconds per key; the 601st is 429 ` + "`rate_limited`" + ` with ` + "`Retry-After`" + ` (seconds).

**Idempotency.** Create and rotate take an ` + "`Idempotency-Key`" + ` header (kept 24 hours): the same request again is 409 ` + "`idempotency_replay`" + ` with ` + "`error.key_id`" + ` (the secret is never sent twice); while the first is running, 409 ` + "`idempotency_in_progress`" + `; another body, 422 ` + "`idempotency_mismatch`" + `.

Every change is in the organization's audit log, the actor being the key.

**Operator API.** The operations under ` + "`/v1/admin/`" + ` provision organizations, members and users for the platform's own backend, and sign its users into Keyplane from its own dashboard (portal sessions). They take an operator token (` + "`{prefix}_op_...`" + `, from ` + "`keyplane admin create-token`" + ` or ` + "`/admin/tokens`" + `) as ` + "`Authorization: Bearer`" + ` and nothing else: every API key, whatever its scopes, is 401 there, and an operator token is 401 everywhere else. A token may expire and may be bound to IP ranges; its changes are in the affected organizations' audit logs under its name, and its requests are limited like a key's (600 a minute).`

// NewAPI returns the management API's huma API mounted on g (/api): one
// OpenAPI 3.1 document, generated from the handlers' Go types, errors in
// Keyplane's shape. The document is served by OpenAPIHandler.
func NewAPI(e *echo.Echo, g *echo.Group, version string) huma.API {
	useProblems()
	cfg := huma.DefaultConfig("Keyplane management API", version)
	cfg.OpenAPIPath, cfg.DocsPath, cfg.SchemasPath = "", "", ""
	cfg.CreateHooks = nil // no $schema links in bodies
	cfg.Info.Description = apiDescription
	cfg.Servers = []*huma.Server{{URL: "/api", Description: "This Keyplane"}}
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		SchemeAPIKey:   {Type: "apiKey", In: "header", Name: "X-Api-Key", Description: "A private key of the organization with the scope keys:manage."},
		SchemeBearer:   {Type: "http", Scheme: "bearer", Description: "The same key as a bearer token."},
		SchemeOperator: {Type: "http", Scheme: "bearer", Description: "An operator token ({prefix}_op_...), for the operator API only: from keyplane admin create-token or /admin/tokens."},
	}
	return humaecho.NewWithGroup(e, g, cfg)
}

// OpenAPIHandler serves api's OpenAPI document, built once at the first
// request (every operation is registered by then).
func OpenAPIHandler(api huma.API) echo.HandlerFunc {
	var once sync.Once
	var doc []byte
	var err error
	return func(c echo.Context) error {
		once.Do(func() { doc, err = json.Marshal(api.OpenAPI()) })
		if err != nil {
			return err
		}
		c.Response().Header().Set("Cache-Control", "no-cache")
		return c.Blob(http.StatusOK, "application/json", doc)
	}
}

// OrgGroup returns the group of the org API (/v1 under /api): every
// operation in it needs a private key of the organization with
// keys:manage, and is limited per key.
func (m *Management) OrgGroup(api huma.API) *huma.Group {
	g := huma.NewGroup(api, "/v1")
	g.UseMiddleware(m.authenticate(api))
	return g
}

// credential is the key a management request authenticated with.
type credential struct {
	key   *verify.Key
	actor audit.Actor
}

type credentialKey struct{}

func credentialOf(ctx context.Context) credential {
	c, _ := ctx.Value(credentialKey{}).(credential)
	return c
}

// ContextCredentialID is the echo context key under which an
// authenticated request keeps its credential's id, for the request log.
const ContextCredentialID = "kp.api_credential_id"

// authenticate admits a request whose key is a private key with
// keys:manage, within its rate limit. Public keys never authenticate, and
// admin does not stand in for keys:manage.
func (m *Management) authenticate(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		ec := humaecho.Unwrap(ctx)
		r := ec.Request()
		fail := func(p *Problem) { writeProblem(ctx, p) }
		key, conflict := keyOf(r.Header)
		switch {
		case conflict:
			fail(NewProblem(verify.CodeUnauthorized, "Two different API keys were presented."))
			return
		case key == "":
			fail(NewProblem(verify.CodeUnauthorized, "Send a key with keys:manage in X-Api-Key or Authorization: Bearer."))
			return
		}
		if _, kind, ok := m.products.ProductOf(key); ok && kind == apikey.Public {
			fail(NewProblem(verify.CodeUnauthorized, "Public keys cannot use the management API; use a private key with keys:manage."))
			return
		}
		ip := m.resolver.Resolve(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
		// Managing keys is no request of the API the quotas meter: it
		// neither spends nor waits for a quota.
		res := m.verifier.Verify(ctx.Context(), verify.Request{Key: key, ClientIP: ip, AnyProduct: true, NoQuota: true})
		if !res.Allowed {
			switch Status(res.Code) {
			case http.StatusUnauthorized:
				fail(NewProblem(verify.CodeUnauthorized, res.Message))
			case http.StatusTooManyRequests:
				if res.RateLimit == nil {
					fail(NewProblem(res.Code, res.Message))
					break
				}
				fail(NewProblem(res.Code, res.Message).WithHeader("Retry-After", strconv.Itoa(res.RateLimit.RetryAfterSeconds())))
			default:
				fail(NewProblem(res.Code, res.Message))
			}
			return
		}
		k := res.Key
		if k.Kind == apikey.Public {
			fail(NewProblem(verify.CodeUnauthorized, "Public keys cannot use the management API; use a private key with keys:manage."))
			return
		}
		ec.Set(ContextCredentialID, k.ID)
		if p := m.limit(ctx, "api:key:"+k.ID, "key"); p != nil {
			fail(p)
			return
		}
		// The literal scope: admin grants every catalogue scope, but not this.
		if !slices.Contains(k.Scopes, config.ScopeKeysManage) {
			fail(NewProblem(verify.CodeForbidden, "This key lacks the scope keys:manage."))
			return
		}
		actor := audit.Actor{
			KeyID: k.ID, KeyHint: k.Hint, KeyDescription: k.Description,
			IP: ip.String(), UserAgent: r.UserAgent(),
		}
		next(huma.WithValue(ctx, credentialKey{}, credential{key: k, actor: actor}))
	}
}

// limit counts one request of the credential whose bucket is named, sets
// the RateLimit headers, and returns the refusal past ManageLimit (what
// names the credential in its message: "key" or "token").
func (m *Management) limit(ctx huma.Context, bucket, what string) *Problem {
	d := m.limits.Take(ctx.Context(), bucket, ManageLimit, m.now())
	ctx.SetHeader("RateLimit-Policy", `"api";q=`+strconv.Itoa(ManageLimit.Max)+`;w=`+strconv.Itoa(int(ManageLimit.Window/time.Second)))
	ctx.SetHeader("RateLimit", `"api";r=`+strconv.Itoa(d.Remaining)+`;t=`+strconv.Itoa(seconds(d.Reset)))
	if d.Allowed {
		return nil
	}
	return NewProblem(verify.CodeRateLimited, "More than 600 requests in a minute with this "+what+"; retry after the time in Retry-After.").
		WithHeader("Retry-After", strconv.Itoa(max(1, seconds(d.Reset))))
}

// writeProblem answers p from a middleware, before any handler ran.
func writeProblem(ctx huma.Context, p *Problem) {
	for k, v := range p.GetHeaders() {
		ctx.SetHeader(k, v[0])
	}
	ctx.SetHeader("Content-Type", "application/json")
	ctx.SetStatus(p.GetStatus())
	json.NewEncoder(ctx.BodyWriter()).Encode(p)
}

// seconds rounds d up to whole seconds.
func seconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}
