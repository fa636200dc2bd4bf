package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humaecho"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/verify"
)

// SchemeOperator is the operator API's security scheme in the OpenAPI
// document.
const SchemeOperator = "operatorToken"

// Echo context keys under which an operator API request keeps its token's
// id and name, for the request log.
const (
	ContextTokenID   = "kp.api_token_id"
	ContextTokenName = "kp.api_token_name"
)

// AdminGroup returns the group of the operator API (/v1/admin under /api):
// every operation in it needs an operator token as a bearer token, and is
// limited per token. No API key gets in, whatever its scopes.
func (m *Management) AdminGroup(api huma.API) *huma.Group {
	g := huma.NewGroup(api, "/v1/admin")
	g.UseMiddleware(m.authenticateOperator)
	return g
}

// authenticateOperator admits a request whose Authorization: Bearer is an
// active operator token used from an allowed address, within its rate
// limit. An API key, in either header, is refused before any lookup.
func (m *Management) authenticateOperator(ctx huma.Context, next func(huma.Context)) {
	ec := humaecho.Unwrap(ctx)
	r := ec.Request()
	fail := func(p *Problem) { writeProblem(ctx, p) }
	var token string
	for _, v := range r.Header.Values("Authorization") {
		if b := bearer(v); b != "" {
			if token != "" && token != b {
				fail(NewProblem(verify.CodeUnauthorized, "Two different tokens were presented."))
				return
			}
			token = b
		}
	}
	if r.Header.Get("X-Api-Key") != "" {
		fail(NewProblem(verify.CodeUnauthorized, "API keys cannot use the operator API; send an operator token as Authorization: Bearer."))
		return
	}
	if token == "" {
		fail(NewProblem(verify.CodeUnauthorized, "Send an operator token as Authorization: Bearer."))
		return
	}
	if _, _, ok := m.products.ProductOf(token); ok {
		fail(NewProblem(verify.CodeUnauthorized, "API keys cannot use the operator API; send an operator token as Authorization: Bearer."))
		return
	}
	ip := m.resolver.Resolve(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
	t, err := m.tokens.Authenticate(ctx.Context(), token, ip)
	if err != nil {
		if apperr.Is(err, apperr.Unauthorized) {
			fail(NewProblem(verify.CodeUnauthorized, apperr.MessageOf(err)))
			return
		}
		m.logger.Error("operator token check failed", "err", err)
		fail(NewProblem(verify.CodeUnavailable, "The token cannot be checked right now: the database cannot be reached."))
		return
	}
	ec.Set(ContextTokenID, t.ID)
	ec.Set(ContextTokenName, t.Name)
	if p := m.limit(ctx, "api:op:"+t.ID, "token"); p != nil {
		fail(p)
		return
	}
	actor := audit.Actor{TokenID: t.ID, TokenName: t.Name, IP: ip.String(), UserAgent: r.UserAgent()}
	next(huma.WithValue(ctx, credentialKey{}, credential{actor: actor}))
}

// adminErrorExamples replace errorExamples for the operator API.
var adminErrorExamples = map[int]map[string]any{
	http.StatusUnauthorized:    exampleError("unauthorized", "Send an operator token as Authorization: Bearer."),
	http.StatusNotFound:        exampleError(CodeNotFound, "Organization not found."),
	http.StatusConflict:        exampleError(CodeConflict, "grace@example.com is already a member of Acme."),
	http.StatusTooManyRequests: exampleError("rate_limited", "More than 600 requests in a minute with this token; retry after the time in Retry-After."),
	http.StatusUnprocessableEntity: exampleError(CodeInvalid, "Please correct the highlighted fields.",
		FieldError{Name: "slug", Message: "Use 2–40 lowercase letters, digits and dashes."}),
}

// adminDocumented returns an operation of the operator API: like
// documented, but its security is an operator token and no operation
// answers 403.
func adminDocumented(op huma.Operation, request, response any) huma.Operation {
	op = documented(op, request, response)
	op.Tags = []string{"Operator"}
	op.Security = []map[string][]string{{SchemeOperator: {}}}
	op.Errors = slices.DeleteFunc(op.Errors, func(s int) bool { return s == http.StatusForbidden })
	return op
}

func isAdminPath(path string) bool { return strings.HasPrefix(path, "/v1/admin/") }
