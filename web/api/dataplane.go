package api

import (
	"net/http"
	"net/netip"
	"net/url"
	pathpkg "path"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/clientip"
	"keyplane/internal/config"
	"keyplane/internal/quota"
	"keyplane/internal/usage"
	"keyplane/internal/verify"
)

// DataPlane serves /v1: forward-auth, verify and me. No session, no CSRF,
// no per-request log line: metrics and usage counts instead.
type DataPlane struct {
	verifier *verify.Verifier
	recorder *usage.Recorder
	products Products
	resolver *clientip.Resolver
	now      func() time.Time
}

// Products is what the JSON endpoints know of products: a key's product
// from its shape, and a product's route scopes.
type Products interface {
	verify.Products
	// RouteScopes returns product slug's rules; ok is false for no such
	// product.
	RouteScopes(slug string) (rules []config.RouteScope, ok bool)
}

// NewDataPlane returns the data plane's handlers over the products v
// knows too.
func NewDataPlane(v *verify.Verifier, r *usage.Recorder, products Products, resolver *clientip.Resolver, now func() time.Time) *DataPlane {
	if now == nil {
		now = time.Now
	}
	return &DataPlane{verifier: v, recorder: r, products: products, resolver: resolver, now: now}
}

// Identity headers of an allowed forward-auth request. They are always
// computed, never copied from the request.
const (
	HeaderKeyID       = "X-Keyplane-Key-Id"
	HeaderOrgID       = "X-Keyplane-Org-Id"
	HeaderOrg         = "X-Keyplane-Org"
	HeaderEnvironment = "X-Keyplane-Environment"
	HeaderScopes      = "X-Keyplane-Scopes"
	HeaderProduct     = "X-Keyplane-Product"
)

// Request headers the data plane reads, in canonical form: the hot path
// indexes the header map with them instead of canonicalizing a name on
// every request.
const (
	hAPIKey          = "X-Api-Key"
	hAuthorization   = "Authorization"
	hOrigin          = "Origin"
	hReferer         = "Referer"
	hXForwardedFor   = "X-Forwarded-For"
	hPreflightMethod = "Access-Control-Request-Method"
	hRequiredScope   = "X-Required-Scope"
	hForwardedMethod = "X-Forwarded-Method"
	hOriginalMethod  = "X-Original-Method"
	hForwardedURI    = "X-Forwarded-Uri"
	hOriginalURI     = "X-Original-Uri"
	hCost            = "X-Keyplane-Cost"
)

// HeaderCost is the request header in which a gateway states what a
// request costs of the key's quota; it counts only from a trusted proxy.
const HeaderCost = hCost

// costMessage answers a cost out of range.
const costMessage = "X-Keyplane-Cost must be one whole number from 0 to 1000"

// parseCost reads a cost: one whole number from 0 to quota.MaxCost.
func parseCost(values []string) (int, bool) {
	if len(values) != 1 || len(values[0]) > 4 {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(values[0]))
	if err != nil || n < 0 || n > quota.MaxCost {
		return 0, false
	}
	return n, true
}

// first is h's first value of the canonical name, or "".
func first(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (d *DataPlane) clientIP(r *http.Request) netip.Addr {
	return d.resolver.Resolve(r.RemoteAddr, r.Header[hXForwardedFor])
}

func originOf(h http.Header) string {
	if o := first(h, hOrigin); o != "" {
		return o
	}
	return first(h, hReferer)
}

// originalRequest returns the method and path of the request a proxy asks
// about: X-Forwarded-Method/-Uri (Traefik, Caddy), X-Original-Method/-URI
// (nginx), or the path after /v1/auth as Envoy sends it. A proxy sets one
// family; a client may send the other, so two families that disagree, or a
// header given twice, make ok false. The path is decoded and cleaned as the
// upstream will see it, so %-escapes cannot dodge a route rule.
func originalRequest(r *http.Request, rest string) (method, path string, ok bool) {
	method, ok = agreed(r.Header, hForwardedMethod, hOriginalMethod)
	if !ok {
		return "", "", false
	}
	if method == "" {
		method = r.Method
	}
	path, ok = agreed(r.Header, hForwardedURI, hOriginalURI)
	if !ok {
		return "", "", false
	}
	if path == "" {
		path = "/" + strings.TrimPrefix(rest, "/")
	}
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if strings.HasPrefix(path, "/") && !strings.Contains(path, "%") && !strings.Contains(path, "//") && !strings.Contains(path, "/.") {
		// Nothing to decode or clean: the path is as the upstream sees it.
		return strings.ToUpper(method), path, true
	}
	decoded, err := url.PathUnescape(path)
	if err != nil || !strings.HasPrefix(decoded, "/") {
		return "", "", false
	}
	cleaned := pathpkg.Clean(decoded)
	if strings.HasSuffix(decoded, "/") && cleaned != "/" {
		cleaned += "/"
	}
	return strings.ToUpper(method), cleaned, true
}

// agreed returns the value the named headers (canonical names) carry, ""
// when none does, and false when they carry different values (or one is
// given twice).
func agreed(h http.Header, names ...string) (string, bool) {
	value := ""
	for _, name := range names {
		for _, v := range h[name] {
			switch {
			case value == "":
				value = v
			case v != value:
				return "", false
			}
		}
	}
	return value, true
}

// ForwardAuth answers a proxy's question about one request for the
// product in the path (/v1/products/{slug}/auth; the default product at
// /v1/auth): 200 with the identity headers, or the error status and shape.
// A CORS preflight without a key passes with no identity, so the upstream
// answers it.
func (d *DataPlane) ForwardAuth(c echo.Context) error {
	r := c.Request()
	product := c.Param("slug")
	if product == "" {
		product = apikey.DefaultProduct
	}
	routeScopes, known := d.products.RouteScopes(product)
	if !known {
		return WriteError(c, CodeNotFound, "No such product")
	}
	method, path, ok := originalRequest(r, c.Param("*"))
	if !ok {
		return WriteError(c, verify.CodeForbidden, "The original request's method or path is ambiguous")
	}
	key, conflict := keyOf(r.Header)
	if key == "" && !conflict && method == http.MethodOptions &&
		first(r.Header, hOrigin) != "" && first(r.Header, hPreflightMethod) != "" {
		return c.NoContent(http.StatusOK)
	}
	if conflict {
		return WriteError(c, verify.CodeUnauthorized, "Two different API keys were presented")
	}
	scopes := verify.RequiredScopes(first(r.Header, hRequiredScope), method, path, routeScopes)
	req := verify.Request{Key: key, Origin: originOf(r.Header), ClientIP: d.clientIP(r), Scopes: scopes, Product: product}
	// A client's own cost header is ignored: only a gateway (a trusted
	// proxy) says what a request costs, and it replaces the client's.
	if v, ok := r.Header[hCost]; ok && d.resolver.TrustsPeer(r.RemoteAddr) {
		if req.Cost, ok = parseCost(v); !ok {
			return WriteError(c, CodeBadRequest, costMessage)
		}
		req.HasCost = true
	}
	res := d.verifier.Verify(r.Context(), req)
	d.record(res, req)
	h := c.Response().Header()
	setRateLimitHeaders(h, res)
	if !res.Allowed {
		return WriteError(c, res.Code, res.Message)
	}
	// The names are canonical already, so the map is written directly.
	id := verify.IdentityOf(res.Key)
	h[HeaderKeyID], h[HeaderOrgID], h[HeaderOrg] = id[0], id[1], id[2]
	h[HeaderEnvironment], h[HeaderScopes], h[HeaderProduct] = id[3], id[4], id[5]
	return c.NoContent(http.StatusOK)
}

// maxScopeLabel bounds the required-scope label usage is counted under; a
// longer one (which no catalogue needs) is counted as usage.TooLong.
const maxScopeLabel = 200

// record counts the outcome against the key, when there is one.
func (d *DataPlane) record(res verify.Result, req verify.Request) {
	if res.Key == nil || d.recorder == nil {
		return
	}
	scope := ""
	switch len(req.Scopes) {
	case 0:
	case 1:
		scope = req.Scopes[0]
	default:
		scope = strings.Join(req.Scopes, " ")
	}
	if len(scope) > maxScopeLabel {
		scope = usage.TooLong
	}
	d.recorder.Record(res.Key.ID, res.Key.OrgID, res.At, res.Outcome(), scope, res.ClientIP, req.Origin)
	if q := res.Quota; q != nil && q.Spent > 0 {
		if q.KeySubject != "" {
			d.recorder.Spend(q.KeySubject, res.Key.OrgID, q.Key.PeriodStart, q.Spent)
		}
		if q.OrgSubject != "" {
			d.recorder.Spend(q.OrgSubject, res.Key.OrgID, q.Org.PeriodStart, q.Spent)
		}
	}
}

// setRateLimitHeaders writes the IETF RateLimit-Policy and RateLimit
// headers for keys with a rate limit ("default") or a quota ("quota"), and
// Retry-After when either refused.
func setRateLimitHeaders(h http.Header, res verify.Result) {
	rl, q := res.RateLimit, res.Quota
	if q == nil {
		if rl == nil {
			return
		}
		// Canonical names, written directly: no canonicalization per request.
		h["Ratelimit-Policy"] = []string{rateLimitPolicy(rl)}
		h["Ratelimit"] = []string{rateLimitState(rl)}
		if res.Code == verify.CodeRateLimited {
			h["Retry-After"] = []string{strconv.Itoa(rl.RetryAfterSeconds())}
		}
		return
	}
	b := q.Shown()
	reset := quotaReset(b, res.At)
	// Each value is built in one buffer: a key with a quota pays two
	// strings for them, not one per piece.
	var buf [128]byte
	policy := buf[:0]
	if rl != nil {
		policy = append(append(policy, rateLimitPolicy(rl)...), ", "...)
	}
	policy = strconv.AppendInt(append(policy, `"quota";q=`...), b.Limit, 10)
	if w := quotaWindow(b); w > 0 {
		policy = strconv.AppendInt(append(policy, ";w="...), int64(w), 10)
	}
	h["Ratelimit-Policy"] = []string{string(policy)}
	state := buf[:0]
	if rl != nil {
		state = append(append(state, rateLimitState(rl)...), ", "...)
	}
	state = strconv.AppendInt(append(state, `"quota";r=`...), b.Remaining, 10)
	if reset >= 0 {
		state = strconv.AppendInt(append(state, ";t="...), int64(reset), 10)
	}
	h["Ratelimit"] = []string{string(state)}
	switch {
	case res.Code == verify.CodeRateLimited:
		h["Retry-After"] = []string{strconv.Itoa(rl.RetryAfterSeconds())}
	case res.Code == verify.CodeQuotaExceeded && reset >= 0:
		h["Retry-After"] = []string{strconv.Itoa(max(reset, 1))}
	}
}

func rateLimitPolicy(rl *verify.RateLimit) string {
	return `"default";q=` + strconv.Itoa(rl.Limit) + `;w=` + strconv.Itoa(int(verify.Window/time.Second))
}

func rateLimitState(rl *verify.RateLimit) string {
	return `"default";r=` + strconv.Itoa(rl.Remaining) + `;t=` + strconv.Itoa(rl.RetryAfterSeconds())
}

// quotaWindow is the length of b's period in seconds when every period
// has the same (days and refill intervals), else 0.
func quotaWindow(b quota.Balance) int {
	if b.Reset.IsZero() {
		return 0
	}
	d := b.Reset.Sub(b.PeriodStart)
	if b.PeriodStart.Day() == 1 && b.Reset.Day() == 1 && d > 27*24*time.Hour {
		return 0 // a calendar month
	}
	return int(d / time.Second)
}

// quotaReset is the whole seconds from at until b's period ends, rounded
// up; -1 when it never does.
func quotaReset(b quota.Balance, at time.Time) int {
	if b.Reset.IsZero() {
		return -1
	}
	d := b.Reset.Sub(at)
	return int(max(0, (d+time.Second-1)/time.Second))
}
