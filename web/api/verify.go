package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/quota"
	"keyplane/internal/verify"
)

// MaxVerifyBody bounds the body of POST /v1/verify.
const MaxVerifyBody = 64 << 10

type verifyRequest struct {
	Key     string `json:"key"`
	Scope   string `json:"scope"`
	Origin  string `json:"origin"`
	IP      string `json:"ip"`
	Product string `json:"product"`
	Cost    *int   `json:"cost"`
}

type quotaBody struct {
	Limit     int64 `json:"limit"`
	Remaining int64 `json:"remaining"`
	// Reset is the seconds until the period ends; null for credits that
	// are never refilled.
	Reset *int `json:"reset"`
}

type rateLimitBody struct {
	Limit     int `json:"limit"`
	Remaining int `json:"remaining"`
	Reset     int `json:"reset"`
}

type verifyResponse struct {
	Valid       bool           `json:"valid"`
	KeyID       string         `json:"key_id,omitempty"`
	OrgID       string         `json:"org_id,omitempty"`
	Org         string         `json:"org,omitempty"`
	Environment string         `json:"environment,omitempty"`
	Kind        string         `json:"kind,omitempty"`
	Product     string         `json:"product,omitempty"`
	Scopes      []string       `json:"scopes,omitzero"`
	RateLimit   *rateLimitBody `json:"ratelimit,omitempty"`
	Quota       *quotaBody     `json:"quota,omitempty"`
	Code        string         `json:"code,omitempty"`
	Message     string         `json:"message,omitempty"`
	RetryAfter  int            `json:"retry_after,omitempty"`
}

// Verify is POST /v1/verify, for services that check a key themselves. Any
// verification outcome is 200 with "valid"; a malformed body is 400, an
// oversized one 413, a database outage 503, in the error shape.
func (d *DataPlane) Verify(c echo.Context) error {
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, MaxVerifyBody)
	var in verifyRequest
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&in); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return WriteError(c, CodeTooLarge, "The request body is larger than 64 KiB")
		}
		return WriteError(c, CodeBadRequest, "The body must be a JSON object: {\"key\": \"...\", \"scope\": \"...\", \"origin\": \"...\", \"ip\": \"...\", \"product\": \"...\", \"cost\": 1}")
	}
	if dec.More() {
		return WriteError(c, CodeBadRequest, "The body must hold exactly one JSON object")
	}
	product := strings.TrimSpace(in.Product)
	if product == "" {
		product = apikey.DefaultProduct
	}
	if _, known := d.products.RouteScopes(product); !known {
		return WriteError(c, CodeBadRequest, "\"product\" names no product")
	}
	key := strings.TrimSpace(in.Key)
	req := verify.Request{Key: key, Origin: in.Origin, ClientIP: d.clientIP(r), Scopes: verify.RequiredScopes(in.Scope, "", "", nil), Product: product}
	if in.Cost != nil {
		if *in.Cost < 0 || *in.Cost > quota.MaxCost {
			return WriteError(c, CodeBadRequest, "\"cost\" must be a whole number from 0 to 1000")
		}
		// A public key is used from web pages: what a request costs is
		// the gateway's to say, never the page's.
		if _, kind, ok := d.products.ProductOf(key); ok && kind == apikey.Public {
			return WriteError(c, CodeBadRequest, "\"cost\" is not accepted with a public key")
		}
		req.Cost, req.HasCost = *in.Cost, true
	}
	if s := strings.TrimSpace(in.IP); s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return WriteError(c, CodeBadRequest, "\"ip\" is not an IP address")
		}
		// The verifier takes it for a private key, and for any key from a
		// trusted proxy, once it knows the key's kind.
		req.BodyIP, req.TrustBodyIP = a.Unmap(), d.resolver.TrustsPeer(r.RemoteAddr)
	}
	res := d.verifier.Verify(r.Context(), req)
	d.record(res, req)
	if res.Code == verify.CodeUnavailable {
		return WriteError(c, res.Code, res.Message)
	}
	out := verifyResponse{Valid: res.Allowed}
	if rl := res.RateLimit; rl != nil {
		out.RateLimit = &rateLimitBody{Limit: rl.Limit, Remaining: rl.Remaining, Reset: rl.RetryAfterSeconds()}
	}
	if q := res.Quota; q != nil {
		b := q.Shown()
		out.Quota = &quotaBody{Limit: b.Limit, Remaining: b.Remaining}
		if reset := quotaReset(b, res.At); reset >= 0 {
			out.Quota.Reset = &reset
		}
	}
	if !res.Allowed {
		out.Code, out.Message = res.Code, res.Message
		if res.Code == verify.CodeRateLimited {
			out.RetryAfter = res.RateLimit.RetryAfterSeconds()
		}
		return c.JSON(http.StatusOK, out)
	}
	k := res.Key
	out.KeyID, out.OrgID, out.Org = k.ID, k.OrgID, k.OrgSlug
	out.Environment, out.Kind, out.Scopes = string(k.Environment), string(k.Kind), k.Scopes
	out.Product = k.ProductSlug()
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	return c.JSON(http.StatusOK, out)
}

type meResponse struct {
	Org struct {
		ID   string `json:"id"`
		Slug string `json:"slug"`
		Name string `json:"name"`
	} `json:"org"`
	Key struct {
		ID          string    `json:"id"`
		Description string    `json:"description"`
		Hint        string    `json:"hint"`
		Product     string    `json:"product"`
		Kind        string    `json:"kind"`
		Environment string    `json:"environment"`
		Scopes      []string  `json:"scopes"`
		CreatedAt   time.Time `json:"created_at"`
	} `json:"key"`
}

// Me is GET /v1/me: the key and organization of the presented key, of any
// product, so a developer can test a key with curl.
func (d *DataPlane) Me(c echo.Context) error {
	r := c.Request()
	key, conflict := keyOf(r.Header)
	if conflict {
		return WriteError(c, verify.CodeUnauthorized, "Two different API keys were presented")
	}
	// Asking who a key is checks its quota without spending it.
	req := verify.Request{Key: key, Origin: originOf(r.Header), ClientIP: d.clientIP(r), AnyProduct: true, HasCost: true}
	res := d.verifier.Verify(r.Context(), req)
	d.record(res, req)
	setRateLimitHeaders(c.Response().Header(), res)
	if !res.Allowed {
		return WriteError(c, res.Code, res.Message)
	}
	k := res.Key
	var out meResponse
	out.Org.ID, out.Org.Slug, out.Org.Name = k.OrgID, k.OrgSlug, k.OrgName
	out.Key.ID, out.Key.Description, out.Key.Hint, out.Key.Product = k.ID, k.Description, k.Hint, k.ProductSlug()
	out.Key.Kind, out.Key.Environment, out.Key.Scopes = string(k.Kind), string(k.Environment), k.Scopes
	out.Key.CreatedAt = k.CreatedAt.UTC()
	if out.Key.Scopes == nil {
		out.Key.Scopes = []string{}
	}
	return c.JSON(http.StatusOK, out)
}
