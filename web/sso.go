package web

import (
	"math"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/oidc"
	"keyplane/views/auth"
)

// ssoBegin starts a sign-in at the identity provider: it sets the flow
// cookie and sends the browser there (303). ?next= is the same-site path to
// land on once signed in; anything else lands on "/". 404 when single
// sign-on is off; the 503 page when the provider does not answer within
// the discovery deadline. A signed-in visitor goes to the path at once.
func (s *Server) ssoBegin(c echo.Context) error {
	if s.sso == nil {
		return echo.ErrNotFound
	}
	next := safeNext(c.QueryParam("next"))
	if currentUser(c) != nil {
		return redirect(c, next)
	}
	start, err := s.sso.Begin(c.Request().Context(), next)
	if err != nil {
		return s.ssoFailed(c, account.User{}, err)
	}
	noStore(c)
	c.SetCookie(start.Cookie)
	return c.Redirect(http.StatusSeeOther, start.URL)
}

// ssoCallback finishes a sign-in where the provider sends the browser back.
// It is the one GET that starts a session: no CSRF token can come back
// from the provider, so the state, bound to this browser by the flow
// cookie and spent at the first use, stands in for it. The flow cookie is
// cleared whatever happens. An accepted sign-in gets a new session (the
// one the browser had, if any, ends) without Keyplane's second factor, and
// lands on the path given to ssoBegin, which the flow cookie carried
// (checked again by safeNext).
//
// Refusals answer 403 with the provider's or the linker's message, and
// count as failed sign-ins of the client's address: after
// account.AccountFailureLimit of them in a row (or IPFailureLimit failed
// sign-ins of any kind) within account.ThrottleWindow, the callback answers
// 429 with Retry-After before it reads the database or asks the provider.
// A provider out of reach answers 503 and counts nothing.
func (s *Server) ssoCallback(c echo.Context) error {
	if s.sso == nil {
		return echo.ErrNotFound
	}
	c.SetCookie(s.sso.ClearCookie())
	noStore(c)
	ctx := c.Request().Context()
	ip := c.RealIP()
	if wait := s.throttle.Check(ctx, ssoThrottleKey(ip), ip); wait > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		s.logger.Warn("single sign-on refused", "reason", "throttled", "ip", ip)
		return s.ssoErrorPage(c, http.StatusTooManyRequests, "Too many failed sign-in attempts. Try again in "+humanWait(wait)+".")
	}
	var flowCookie string
	if ck, err := c.Cookie(s.sso.CookieName()); err == nil && len(ck.Value) <= 4096 {
		flowCookie = ck.Value
	}
	cb, err := s.sso.Finish(ctx, flowCookie, c.QueryParams())
	if err != nil {
		return s.ssoFailed(c, account.User{}, err)
	}
	res, err := s.ssoLinker.SignIn(ctx, cb.Identity, audit.Actor{IP: ip, UserAgent: c.Request().UserAgent()})
	if err != nil {
		return s.ssoFailed(c, res.User, err)
	}
	s.throttle.Success(ctx, ssoThrottleKey(ip))
	return s.completeSignIn(c, res.User, firstFactor{
		method: signInSSO, summary: res.LoginSummary(s.sso.Name()), returnTo: cb.ReturnTo,
	})
}

// ssoThrottleKey is the sign-in throttle's account key for the refused
// callbacks of one client address: not an email, so no person's password
// budget is spent by them.
func ssoThrottleKey(ip string) string { return "sso-callback@" + ip }

// ssoFailed answers a sign-in the provider or the linker did not accept:
// the error page with its message (403, 503), a failed sign-in counted for
// a refusal, and a trace of it: login.failed in each organization of u
// when the refused person is a known user, else a log line with the
// reason. Neither ever holds the code, a token or the state. Errors that
// are not refusals (the database) go to the central handler.
func (s *Server) ssoFailed(c echo.Context, u account.User, err error) error {
	if !oidc.IsRefusal(err) {
		return err
	}
	ctx := c.Request().Context()
	ip := c.RealIP()
	status := statusOf(apperr.CodeOf(err))
	reason := oidc.ReasonOf(err)
	if status == http.StatusForbidden {
		s.throttle.Failure(ctx, ssoThrottleKey(ip), ip)
	}
	if u.ID != "" {
		summary := u.Email + " could not sign in with " + s.sso.Name() + " (single sign-on): " + string(reason)
		a := audit.Actor{UserID: u.ID, Email: u.Email, IP: ip, UserAgent: c.Request().UserAgent()}
		if err := s.audit.RecordInUserOrgs(ctx, u.ID, a, audit.LoginFailed, "user", u.ID, summary); err != nil {
			return err
		}
	} else {
		s.logger.Warn("single sign-on refused", "reason", string(reason), "status", status, "cause", err.Error(), "ip", ip)
	}
	return s.ssoErrorPage(c, status, apperr.MessageOf(err))
}

// ssoErrorPage renders why a single sign-on did not complete, with a link
// back to the sign-in screen.
func (s *Server) ssoErrorPage(c echo.Context, status int, msg string) error {
	heading := "Single sign-on did not work"
	switch status {
	case http.StatusServiceUnavailable:
		heading = s.sso.Name() + " is not answering"
	case http.StatusTooManyRequests:
		heading = "Too many attempts"
	}
	return render(c, status, auth.SSOErrorPage(s.page(c, "Sign in"), auth.SSOError{Status: status, Heading: heading, Message: msg}))
}
