package web

import (
	"math"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/twofactor"
	"keyplane/views/auth"
)

const twoFactorLoginPath = auth.TwoFactorLoginPath

// twoFactorLoginForm is the second step of a sign-in, after a correct
// password; without a pending sign-in it leads back to /login.
func (s *Server) twoFactorLoginForm(c echo.Context) error {
	if currentUser(c) != nil {
		return redirect(c, "/")
	}
	if _, ok := s.sessions.pending(c); !ok {
		return redirect(c, "/login")
	}
	noStore(c)
	return render(c, http.StatusOK, auth.TwoFactorPage(s.page(c, "Two-factor sign-in"), auth.TwoFactorForm{}))
}

// twoFactorLoginSubmit checks the second factor of a pending sign-in: a
// TOTP code, each step's once, or a recovery code, each once. Only then
// does a session begin. Wrong codes answer 401; after AccountFailureLimit
// of them, every code (even a right one) answers 429 with Retry-After until
// the throttle window has passed. A pending sign-in that expired, or was
// never made, leads back to /login. A right code lands on the path the
// first step was given (?next= of the sign-in screen), or "/"; a recovery
// code first shows how many are left, with a link there.
func (s *Server) twoFactorLoginSubmit(c echo.Context) error {
	ctx := c.Request().Context()
	p, ok := s.sessions.pending(c)
	if !ok {
		return redirect(c, "/login")
	}
	form := func(status int, msg string) error {
		noStore(c)
		return render(c, status, auth.TwoFactorPage(s.page(c, "Two-factor sign-in"), auth.TwoFactorForm{Error: msg}))
	}
	code := c.FormValue("code")
	if code == "" || len(code) > twofactor.MaxCodeLen {
		return form(statusOf(apperr.Invalid), "Enter the 6-digit code from your authenticator app, or a recovery code.")
	}
	u, err := s.accounts.UserByID(ctx, p.UserID)
	if apperr.Is(err, apperr.NotFound) {
		s.sessions.clearPending(c)
		return redirect(c, "/login")
	}
	if err != nil {
		return err
	}
	if u.Disabled() {
		s.sessions.clearPending(c)
		return form(statusOf(apperr.Forbidden), "This account has been disabled. Ask your Keyplane operator.")
	}

	ip := c.RealIP()
	at, wait := s.throttle.AttemptSecondFactor(ctx, u.ID, ip)
	if wait > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return form(statusOf(apperr.TooMany), "Too many wrong codes. Try again in "+humanWait(wait)+".")
	}
	a := audit.Actor{UserID: u.ID, Email: u.Email, IP: ip, UserAgent: c.Request().UserAgent()}
	left := -1
	if twofactor.LooksLikeRecoveryCode(code) {
		left, err = s.twoFactor.UseRecoveryCode(ctx, u.ID, code, a)
	} else {
		err = s.twoFactor.Verify(ctx, u.ID, code)
	}
	switch apperr.CodeOf(err) {
	case "":
	case apperr.Unauthorized:
		if err := s.audit.RecordInUserOrgs(ctx, u.ID, a, audit.LoginFailed, "user", u.ID, u.Email+" gave a wrong two-factor code"); err != nil {
			return err
		}
		return form(statusOf(apperr.Unauthorized), apperr.MessageOf(err))
	default:
		return err
	}
	s.throttle.SecondFactorSucceeded(ctx, u.ID, ip, at)
	if err := s.startSignedIn(c, u, ""); err != nil {
		return err
	}
	next := safeNext(p.Next)
	if left >= 0 {
		noStore(c)
		return render(c, http.StatusOK, auth.RecoveryUsedPage(s.page(c, "Signed in"), left, next))
	}
	return redirect(c, next)
}
