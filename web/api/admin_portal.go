package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"keyplane/internal/apperr"
	"keyplane/internal/config"
	"keyplane/internal/org"
)

// PortalBody asks for a portal link: who, into which organization, and
// where the session's "Back to ..." link leads.
type PortalBody struct {
	Org       string `json:"org" maxLength:"40" example:"acme" doc:"The organization's slug."`
	Email     string `json:"email" maxLength:"254" example:"grace@example.com" doc:"The email of a member of the organization: not an operator, not disabled."`
	ReturnURL string `json:"return_url" maxLength:"2048" example:"https://app.example.com/settings/api" doc:"Where the session's \"Back to ...\" link leads: https (http only on localhost), its origin one of KEYPLANE_PORTAL_RETURN_ORIGINS."`
}

// PortalLink is a single-use sign-in link.
type PortalLink struct {
	URL       string    `json:"url" example:"https://keys.example.com/portal/Zm9yIGV4YW1wbGUgb25seSwgbm90IGEgcmVhbCB0b2tlbg" doc:"The sign-in link: a secret, shown once. Send the member's browser to it; it works once, for 5 minutes."`
	ExpiresAt time.Time `json:"expires_at"`
}

// PortalInput asks for a portal link.
type PortalInput struct {
	Body PortalBody
}

type portalOutput struct {
	CacheControl string `header:"Cache-Control"`
	Body         PortalLink
}

// CreatePortalSession is POST /api/v1/admin/portal-sessions: 201 with a
// single-use link, valid for 5 minutes, that signs the member in with a
// session confined to the organization. Refusals are 422: "org" for an
// unknown organization (a body field, like every reference in a body),
// "email" for an unknown email, an operator, a disabled user or someone
// not a member, "return_url" for an address that is not https (or http on
// localhost) or whose origin is not allowed.
func (m *Management) CreatePortalSession(ctx context.Context, in *PortalInput) (*portalOutput, error) {
	if msg := config.CheckReturnURL(in.Body.ReturnURL, m.portalOrigins); msg != "" {
		return nil, m.fail(apperr.InvalidFields(map[string]string{"return_url": msg}))
	}
	token, l, err := m.orgs.CreatePortalLink(ctx, org.PortalRequest{
		Org: in.Body.Org, Email: in.Body.Email, ReturnURL: in.Body.ReturnURL, Actor: credentialOf(ctx).actor,
	})
	if err != nil {
		return nil, m.fail(err)
	}
	return &portalOutput{CacheControl: "no-store", Body: PortalLink{
		URL: m.baseURL + "/portal/" + token, ExpiresAt: l.ExpiresAt.UTC(),
	}}, nil
}

// CreatePortalSessionOp is POST /v1/admin/portal-sessions.
func CreatePortalSessionOp() huma.Operation {
	return adminDocumented(huma.Operation{
		OperationID: "admin-create-portal-session", Method: http.MethodPost, Path: "/portal-sessions", Summary: "Sign a member in from your dashboard",
		Description: "Answers a single-use link, once (Cache-Control: no-store), valid for 5 minutes, that signs the member into the organization: " +
			"the link opens a page whose Continue button starts a session confined to that organization's pages, landing on its keys page, " +
			"with a \"Back to ...\" link to return_url. The sign-in is in the organization's audit log under the token's name. " +
			"Refusals are 422 naming the field: org (no such organization), email (no such user, an operator, a disabled user, not a member), " +
			"return_url (not https, or http off localhost, or an origin not in KEYPLANE_PORTAL_RETURN_ORIGINS).",
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
	}, PortalBody{Org: "acme", Email: "grace@example.com", ReturnURL: "https://app.example.com/settings/api"}, PortalLink{
		URL:       "https://keys.example.com/portal/Zm9yIGV4YW1wbGUgb25seSwgbm90IGEgcmVhbCB0b2tlbg",
		ExpiresAt: exampleTime.Add(org.PortalLinkTTL),
	})
}
