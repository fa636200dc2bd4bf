package web

import (
	"github.com/danielgtaylor/huma/v2"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"keyplane/internal/org"
	accountview "keyplane/views/account"
	authview "keyplane/views/auth"
	"keyplane/views/layout"
	"keyplane/web/api"
)

// routes registers every route of Keyplane, grouped by the middleware that
// guards it.
func (s *Server) routes() {
	e := s.echo

	// Operations: no session, no CSRF, no request log.
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	gzip := middleware.GzipWithConfig(middleware.GzipConfig{Level: 5, MinLength: 1024})
	gzipFast := middleware.GzipWithConfig(middleware.GzipConfig{Level: 1, MinLength: 1024})
	e.GET("/static/*", s.staticFile, gzip)

	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{})))

	// Data plane: keys, not cookies; no session, no CSRF, no per-request
	// log; a router of its own (s.data) with no middleware.
	v1 := s.data.Group(dataPrefix)
	forwardAuth := s.recovered(s.dataPlane.ForwardAuth)
	v1.Any("/auth", forwardAuth)
	v1.Any("/auth/*", forwardAuth)
	v1.Any("/products/:slug/auth", forwardAuth)
	v1.Any("/products/:slug/auth/*", forwardAuth)
	v1.POST("/verify", s.recovered(s.dataPlane.Verify))
	v1.GET("/me", s.recovered(s.dataPlane.Me))
	// GitHub's secret scanning: signed by GitHub, not by a key.
	v1.POST("/secret-scanning/github", s.recovered(s.scanning.GitHub))
	v1.RouteNotFound("", s.apiNotFound)
	v1.RouteNotFound("/*", s.apiNotFound)

	// Management API: keys in headers, never cookies; no session, no CSRF;
	// request logs show route patterns only. The OpenAPI document is
	// generated from the operations below; its reference page is under the
	// dashboard's CSP.
	mgmt := e.Group("/api", s.apiLog, gzip, api.RefuseNUL)
	doc := api.NewAPI(e, mgmt, s.version)
	mgmt.GET("/openapi.json", api.OpenAPIHandler(doc))
	mgmt.GET("/docs", s.apiDocs, s.securityHeaders)
	mgmt.RouteNotFound("/*", s.apiNotFound)

	// Org API: a private key of the organization with keys:manage: keys,
	// usage, the audit log, members, webhooks and the key policies.
	orgAPI := s.manage.OrgGroup(doc)
	huma.Register(orgAPI, api.ListKeysOp(), s.manage.ListKeys)
	huma.Register(orgAPI, api.CreateKeyOp(), s.manage.CreateKey)
	huma.Register(orgAPI, api.GetKeyOp(), s.manage.GetKey)
	huma.Register(orgAPI, api.UpdateKeyOp(), s.manage.UpdateKey)
	huma.Register(orgAPI, api.RotateKeyOp(), s.manage.RotateKey)
	huma.Register(orgAPI, api.RevokeKeyOp(), s.manage.RevokeKey)
	huma.Register(orgAPI, api.DisableKeyOp(), s.manage.DisableKey)
	huma.Register(orgAPI, api.EnableKeyOp(), s.manage.EnableKey)
	huma.Register(orgAPI, api.EndGraceKeyOp(), s.manage.EndGraceKey)
	huma.Register(orgAPI, api.KeyUsageOp(), s.manage.KeyUsage)
	huma.Register(orgAPI, api.KeySourcesOp(), s.manage.KeySourcesOf)
	huma.Register(orgAPI, api.GetKeyRestrictionsOp(), s.manage.GetKeyRestrictions)
	huma.Register(orgAPI, api.SetKeyRestrictionOp(), s.manage.SetKeyRestriction)
	huma.Register(orgAPI, api.GetKeySuggestionsOp(), s.manage.GetKeySuggestions)
	huma.Register(orgAPI, api.ApplyKeySuggestionsOp(), s.manage.ApplyKeySuggestions)
	huma.Register(orgAPI, api.OrgUsageOp(), s.manage.OrgUsage)
	huma.Register(orgAPI, api.ListAuditOp(), s.manage.ListAudit)
	huma.Register(orgAPI, api.ListMembersOp(), s.manage.ListMembers)
	huma.Register(orgAPI, api.InviteMemberOp(), s.manage.InviteMember)
	huma.Register(orgAPI, api.ChangeMemberRoleOp(), s.manage.ChangeMemberRole)
	huma.Register(orgAPI, api.OrgRemoveMemberOp(), s.manage.RemoveMember)
	huma.Register(orgAPI, api.ListWebhooksOp(), s.hooksAPI.ListWebhooks)
	huma.Register(orgAPI, api.CreateWebhookOp(), s.hooksAPI.CreateWebhook)
	huma.Register(orgAPI, api.GetWebhookOp(), s.hooksAPI.GetWebhook)
	huma.Register(orgAPI, api.UpdateWebhookOp(), s.hooksAPI.UpdateWebhook)
	huma.Register(orgAPI, api.DeleteWebhookOp(), s.hooksAPI.DeleteWebhook)
	huma.Register(orgAPI, api.RotateWebhookSecretOp(), s.hooksAPI.RotateWebhookSecret)
	huma.Register(orgAPI, api.ListWebhookDeliveriesOp(), s.hooksAPI.ListWebhookDeliveries)
	huma.Register(orgAPI, api.ResendWebhookDeliveryOp(), s.hooksAPI.ResendWebhookDelivery)
	huma.Register(orgAPI, api.TestWebhookOp(), s.hooksAPI.TestWebhook)
	huma.Register(orgAPI, api.GetPoliciesOp(), s.manage.GetPolicies)
	huma.Register(orgAPI, api.UpdatePoliciesOp(), s.manage.UpdatePolicies)
	huma.Register(orgAPI, api.AddKeyCreditsOp(), s.manage.AddKeyCredits)
	huma.Register(orgAPI, api.GetOrgQuotaOp(), s.manage.GetOrgQuota)
	huma.Register(orgAPI, api.SetOrgQuotaOp(), s.manage.SetOrgQuota)
	huma.Register(orgAPI, api.AddOrgCreditsOp(), s.manage.AddOrgCredits)

	// Operator API: an operator token, never an API key: organizations
	// (disabling one pauses its keys), their members and invitations,
	// users, products, portal sessions, and leak reports of its own scanners.
	adminAPI := s.manage.AdminGroup(doc)
	huma.Register(adminAPI, api.ListOrgsOp(), s.manage.ListOrgs)
	huma.Register(adminAPI, api.CreateOrgOp(), s.manage.CreateOrg)
	huma.Register(adminAPI, api.GetOrgOp(), s.manage.GetOrg)
	huma.Register(adminAPI, api.DisableOrgOp(), s.manage.DisableOrg)
	huma.Register(adminAPI, api.EnableOrgOp(), s.manage.EnableOrg)
	huma.Register(adminAPI, api.AddOrgMemberOp(), s.manage.AddOrgMember)
	huma.Register(adminAPI, api.ChangeOrgMemberRoleOp(), s.manage.ChangeOrgMemberRole)
	huma.Register(adminAPI, api.RemoveOrgMemberOp(), s.manage.RemoveOrgMember)
	huma.Register(adminAPI, api.InviteOrgMemberOp(), s.manage.InviteOrgMember)
	huma.Register(adminAPI, api.ImportKeysOp(), s.manage.ImportKeys)
	huma.Register(adminAPI, api.CreateUserOp(), s.manage.CreateUser)
	huma.Register(adminAPI, api.DisableUserOp(), s.manage.DisableUser)
	huma.Register(adminAPI, api.EnableUserOp(), s.manage.EnableUser)
	huma.Register(adminAPI, api.ListProductsOp(), s.manage.ListProducts)
	huma.Register(adminAPI, api.CreateProductOp(), s.manage.CreateProduct)
	huma.Register(adminAPI, api.UpdateProductOp(), s.manage.UpdateProduct)
	huma.Register(adminAPI, api.DeleteProductOp(), s.manage.DeleteProduct)
	huma.Register(adminAPI, api.CreatePortalSessionOp(), s.manage.CreatePortalSession)
	huma.Register(adminAPI, api.ReportLeaksOp(), s.manage.ReportLeaks)
	api.ErrorExamples(doc)

	// Dashboard: request log, security headers, session, CSRF (bound to the
	// session), storable text, first-run gate.
	dash := e.Group("", s.requestLog, gzipFast, s.securityHeaders, s.loadSession, s.csrf, s.validText, s.setupGate)
	dash.GET("/setup", s.setupForm)
	dash.POST("/setup", s.setupSubmit)
	dash.GET("/login", s.loginForm)
	dash.POST("/login", s.loginSubmit)
	// Single sign-on (404 when off): a link starts it; the provider sends
	// the browser back to the callback, the one GET that starts a session.
	// The CSRF check lets it through as it does every GET: its state, bound
	// to this browser by the flow cookie and single use, stands in for the
	// token. Before setup, the gate sends both to /setup like any page.
	dash.GET(authview.SSOPath, s.ssoBegin)
	dash.GET(authview.SSOCallbackPath, s.ssoCallback)
	// The second step of a password sign-in: a pending sign-in, not yet a
	// session, reaches only these two.
	dash.GET(twoFactorLoginPath, s.twoFactorLoginForm)
	dash.POST(twoFactorLoginPath, s.twoFactorLoginSubmit)
	dash.POST("/logout", s.logout)
	// The choice of colours, signed in or not: a cookie, no account data.
	dash.POST(layout.ThemePath, s.themeSet)
	dash.GET("/invites/:token", s.inviteShow)
	dash.POST("/invites/:token", s.inviteAccept)

	dash.GET("/portal/:token", s.portalShow)
	dash.POST("/portal/:token", s.portalEnter)

	// Signed in; a session started from a portal link reaches only its
	// organization's pages.
	user := dash.Group("", s.requireUser, s.loadOrgs, s.portalScope)
	user.GET("/", s.home)
	user.GET("/account", s.accountPage)
	user.POST("/account/name", s.accountRename)
	user.POST("/account/password", s.accountPassword)
	user.POST("/account/sessions/revoke-others", s.accountRevokeOthers)
	user.POST("/account/sessions/:id/revoke", s.accountRevokeSession)
	user.POST(accountview.TwoFactorStartPath, s.twoFactorStart)
	user.GET(accountview.TwoFactorSetupPath, s.twoFactorSetup)
	user.POST(accountview.TwoFactorConfirmPath, s.twoFactorConfirm)
	user.GET(accountview.TwoFactorDisablePath, s.twoFactorDisableConfirm)
	user.POST(accountview.TwoFactorDisablePath, s.twoFactorDisable)
	user.POST(accountview.RecoveryCodesPath, s.recoveryCodesRegenerate)

	// Operators; with KEYPLANE_OPERATOR_2FA=required, only once they have
	// two-factor sign-in.
	operator := user.Group("/admin", s.requireOperator, s.requireOperatorTwoFactor)
	operator.GET("", s.adminHome)
	operator.GET("/users", s.adminUsers)
	operator.POST("/users", s.adminCreateUser)
	operator.GET("/users/:id/disable", s.adminDisableUserConfirm)
	operator.POST("/users/:id/disable", s.adminDisableUser)
	operator.POST("/users/:id/enable", s.adminEnableUser)
	operator.GET("/users/:id/two-factor/reset", s.adminResetTwoFactorConfirm)
	operator.POST("/users/:id/two-factor/reset", s.adminResetTwoFactor)
	operator.GET("/orgs", s.adminOrgs)
	operator.POST("/orgs", s.adminCreateOrg)
	operator.POST("/orgs/members", s.adminAddMember)
	operator.GET("/tokens", s.adminTokens)
	operator.POST("/tokens", s.adminCreateToken)
	operator.GET("/tokens/:id/revoke", s.adminTokenRevokeConfirm)
	operator.POST("/tokens/:id/revoke", s.adminTokenRevoke)
	operator.GET("/products", s.adminProducts)
	operator.POST("/products", s.adminCreateProduct)
	operator.GET("/products/:slug", s.adminProduct)
	operator.POST("/products/:slug", s.adminUpdateProduct)
	operator.GET("/products/:slug/delete", s.adminDeleteProductConfirm)
	operator.POST("/products/:slug/delete", s.adminDeleteProduct)

	// An organization's pages; where the organization requires two-factor
	// sign-in, only for members who have it.
	orgs := user.Group("/orgs/:slug", s.requireMember, s.requireOrgTwoFactor)
	orgs.GET("", s.orgHome)
	orgs.GET("/keys", s.keysList)
	orgs.GET("/keys/:id", s.keyShow)
	orgs.GET("/members", s.membersList)
	orgs.GET("/usage", s.usagePage)
	orgs.GET("/usage.csv", s.usageCSV)
	orgs.GET("/keys/:id/usage.csv", s.keyUsageCSV)

	// Admin-only actions of an organization: members get 403.
	admin := s.requireRole(org.Admin)
	orgs.GET("/keys/new", s.keyNew, admin)
	orgs.POST("/keys", s.keyCreate, admin)
	orgs.POST("/keys/:id", s.keyUpdate, admin)
	orgs.GET("/keys/:id/revoke", s.keyRevokeConfirm, admin)
	orgs.POST("/keys/:id/revoke", s.keyRevoke, admin)
	orgs.GET("/keys/:id/disable", s.keyDisableConfirm, admin)
	orgs.POST("/keys/:id/disable", s.keyDisable, admin)
	orgs.POST("/keys/:id/enable", s.keyEnable, admin)
	orgs.GET("/keys/:id/rotate", s.keyRotateForm, admin)
	orgs.POST("/keys/:id/rotate", s.keyRotate, admin)
	orgs.GET("/keys/:id/end-grace", s.keyEndGraceConfirm, admin)
	orgs.POST("/keys/:id/end-grace", s.keyEndGrace, admin)
	orgs.GET("/keys/:id/restrictions/:name/enforce", s.keyEnforceConfirm, admin)
	orgs.POST("/keys/:id/restrictions/:name/enforce", s.keyEnforce, admin)
	orgs.POST("/keys/:id/restrictions/:name/report-only", s.keyReportOnly, admin)
	orgs.POST("/keys/:id/suggestions/apply", s.keyApplySuggestions, admin)
	orgs.GET("/keys/:id/credits", s.keyCreditsForm, admin)
	orgs.POST("/keys/:id/credits", s.keyCreditsAdd, admin)
	orgs.POST("/members/:id/role", s.memberRole, admin)
	orgs.GET("/members/:id/remove", s.memberRemoveConfirm, admin)
	orgs.POST("/members/:id/remove", s.memberRemove, admin)
	orgs.POST("/invites", s.inviteCreate, admin)
	orgs.POST("/invites/:id/revoke", s.inviteRevoke, admin)
	orgs.GET("/audit", s.auditLog, admin)
	orgs.GET("/audit.csv", s.auditCSV, admin)
	orgs.GET("/settings", s.orgSettings, admin)
	orgs.POST("/settings", s.orgSettingsSave, admin)
	orgs.POST("/settings/leaks", s.orgLeakPolicySave, admin)
	orgs.POST("/settings/keys", s.orgKeyPolicySave, admin)
	orgs.POST("/settings/quota", s.orgQuotaSave, admin)
	orgs.GET("/settings/credits", s.orgCreditsForm, admin)
	orgs.POST("/settings/credits", s.orgCreditsAdd, admin)
	orgs.GET("/webhooks", s.webhooksList, admin)
	orgs.GET("/webhooks/new", s.webhookNew, admin)
	orgs.POST("/webhooks", s.webhookCreate, admin)
	orgs.GET("/webhooks/:id", s.webhookShow, admin)
	orgs.POST("/webhooks/:id", s.webhookUpdate, admin)
	orgs.GET("/webhooks/:id/deliveries", s.webhookDeliveries, admin)
	orgs.POST("/webhooks/:id/deliveries/:did/resend", s.webhookResend, admin)
	orgs.POST("/webhooks/:id/test", s.webhookTest, admin)
	orgs.POST("/webhooks/:id/pause", s.webhookPause, admin)
	orgs.POST("/webhooks/:id/resume", s.webhookResume, admin)
	orgs.GET("/webhooks/:id/rotate-secret", s.webhookRotateConfirm, admin)
	orgs.POST("/webhooks/:id/rotate-secret", s.webhookRotate, admin)
	orgs.GET("/webhooks/:id/delete", s.webhookDeleteConfirm, admin)
	orgs.POST("/webhooks/:id/delete", s.webhookDelete, admin)
}
