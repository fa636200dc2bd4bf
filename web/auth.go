package web

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/setup"
	"keyplane/views/auth"
)

// loginForm is the sign-in screen. ?next= is the same-site path to land
// on once signed in (see safeNext); a signed-in visitor goes there now.
func (s *Server) loginForm(c echo.Context) error {
	next := safeNext(c.QueryParam("next"))
	if currentUser(c) != nil {
		return redirect(c, next)
	}
	return s.renderLogin(c, http.StatusOK, auth.LoginForm{Next: next})
}

// renderLogin writes the sign-in screen with f, which gets the single
// sign-on button when SSO is on, and the password form as
// KEYPLANE_PASSWORD_LOGIN allows.
func (s *Server) renderLogin(c echo.Context, status int, f auth.LoginForm) error {
	o := s.cfg.OIDC
	if s.sso != nil {
		f.SSOName = s.sso.Name()
	}
	switch {
	case !o.PasswordLogin.Allows(true):
		f.Password = auth.PasswordNobody
	case !o.PasswordLogin.Allows(false):
		f.Password = auth.PasswordOperators
	}
	return render(c, status, auth.LoginPage(s.page(c, "Sign in"), f))
}

// loginSubmit signs a user in with a password. Failures answer 401 with
// the form and a message that never says which of email or password was
// wrong; a throttled account or IP answers 429 with Retry-After, whatever
// the password. With KEYPLANE_PASSWORD_LOGIN=off it answers 403 and reads
// nothing; with operators, anyone but an operator gets the answer of a
// wrong password, right password or not, so it tells nothing about the
// account.
func (s *Server) loginSubmit(c echo.Context) error {
	ctx := c.Request().Context()
	email := strings.TrimSpace(c.FormValue("email"))
	password := c.FormValue("password")
	ip := c.RealIP()
	form := auth.LoginForm{Email: email, Next: safeNext(c.FormValue("next"))}
	policy := s.cfg.OIDC.PasswordLogin
	if !policy.Allows(true) {
		form.Email, form.Error = "", "Password sign-in is turned off on this Keyplane. Sign in with "+s.cfg.OIDC.Name+"."
		return s.renderLogin(c, statusOf(apperr.Forbidden), form)
	}
	bad := apperr.New(apperr.Unauthorized, "Invalid email or password.")
	if len(email) > 254 {
		form.Email, form.Error = "", apperr.MessageOf(bad)
		return s.renderLogin(c, statusOf(apperr.CodeOf(bad)), form)
	}

	at, wait := s.throttle.Attempt(ctx, email, ip)
	if wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
		form.Error = fmt.Sprintf("Too many failed sign-in attempts. Try again in %s.", humanWait(wait))
		return s.renderLogin(c, statusOf(apperr.TooMany), form)
	}

	u, err := s.accounts.Authenticate(ctx, email, password)
	why := " failed to sign in"
	if u.ID != "" && !policy.Allows(u.IsOperator) && (err == nil || apperr.Is(err, apperr.Forbidden)) {
		// Right password (or a disabled account) of someone who may not
		// use one: the same answer as a wrong password.
		err, why = bad, " was refused password sign-in: it is for operators only"
	}
	switch apperr.CodeOf(err) {
	case "":
	case apperr.Unauthorized:
		if u.ID != "" {
			a := audit.Actor{UserID: u.ID, Email: u.Email, IP: ip, UserAgent: c.Request().UserAgent()}
			if err := s.audit.RecordInUserOrgs(ctx, u.ID, a, audit.LoginFailed, "user", u.ID, u.Email+why); err != nil {
				return err
			}
		} else {
			s.logger.Warn("failed login for unknown email", "ip", ip)
		}
		form.Error = apperr.MessageOf(err)
		return s.renderLogin(c, statusOf(apperr.CodeOf(err)), form)
	case apperr.Forbidden:
		form.Error = apperr.MessageOf(err)
		return s.renderLogin(c, statusOf(apperr.CodeOf(err)), form)
	default:
		return err
	}

	s.throttle.Succeeded(ctx, email, ip, at)
	return s.completeSignIn(c, u, firstFactor{method: signInPassword, returnTo: form.Next})
}

// Ways a user proves who they are first.
const (
	// signInPassword: Keyplane checked the password, and asks the second
	// factor of a user who has one.
	signInPassword = "password"
	// signInSSO: the identity provider signed the person in, by its own
	// rules and second factors; Keyplane asks none of its own.
	signInSSO = "sso"
)

// needsSecondFactor reports whether a sign-in by method asks Keyplane's
// own second factor: only a password sign-in does. A single sign-on does
// not, since the identity provider owns how people prove who they are
// (and portal sessions, started by the platform, never come here).
func needsSecondFactor(method string) bool {
	switch method {
	case signInPassword:
		return true
	case signInSSO:
		return false
	}
	return true
}

// firstFactor is a sign-in whose first factor was right.
type firstFactor struct {
	method string // signInPassword or signInSSO
	// summary is login.succeeded's; "{email} signed in" when empty.
	summary string
	// returnTo is the same-site path to land on; "/" when empty or not
	// same-site (safeNext).
	returnTo string
}

// completeSignIn finishes a sign-in of u whose first factor, given by
// f.method, was right: a user with two-factor on goes to the second step
// (/login/two-factor), with no session yet, when the method asks for it;
// anyone else gets a new session now (whatever session the browser had
// ends) and lands on f.returnTo. The second step keeps f.returnTo for
// when it succeeds.
func (s *Server) completeSignIn(c echo.Context, u account.User, f firstFactor) error {
	if needsSecondFactor(f.method) {
		on, err := s.twoFactor.Enabled(c.Request().Context(), u.ID)
		if err != nil {
			return err
		}
		if on {
			if err := s.sessions.setPending(c, pendingSignIn{UserID: u.ID, Method: f.method, Next: safeNext(f.returnTo)}); err != nil {
				return err
			}
			return redirect(c, twoFactorLoginPath)
		}
	}
	if err := s.startSignedIn(c, u, f.summary); err != nil {
		return err
	}
	if !needsSecondFactor(f.method) {
		// The identity provider owns this session's second factor: an
		// organization's two-factor requirement does not apply to it.
		if err := s.sessions.markSignedInWith(c, f.method); err != nil {
			return err
		}
	}
	return redirect(c, safeNext(f.returnTo))
}

// startSignedIn records a sign-in of u (login.succeeded with summary, or
// "{email} signed in") and starts their session.
func (s *Server) startSignedIn(c echo.Context, u account.User, summary string) error {
	if summary == "" {
		summary = u.Email + " signed in"
	}
	a := audit.Actor{UserID: u.ID, Email: u.Email, IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
	if err := s.audit.RecordInUserOrgs(c.Request().Context(), u.ID, a, audit.LoginSucceeded, "user", u.ID, summary); err != nil {
		return err
	}
	s.sessions.clearPending(c)
	return s.signIn(c, u.ID)
}

func humanWait(d time.Duration) string {
	if m := int(math.Ceil(d.Minutes())); m > 1 {
		return fmt.Sprintf("%d minutes", m)
	}
	return "a minute"
}

// logout ends the session, renews the CSRF token, and asks the browser to
// forget what it kept of the organization's pages (its cache and the
// storage where htmx could keep history snapshots).
func (s *Server) logout(c echo.Context) error {
	s.sessions.clearPending(c)
	if err := s.sessions.logout(c); err != nil {
		return err
	}
	s.renewCSRF(c)
	c.Response().Header().Set("Clear-Site-Data", `"cache", "storage"`)
	return redirect(c, "/login")
}

func (s *Server) setupForm(c echo.Context) error {
	return render(c, http.StatusOK, auth.SetupPage(s.page(c, "Set up Keyplane"), auth.SetupForm{}))
}

// setupSubmit creates the operator and the first organization on an empty
// instance, given the setup token, and signs the operator in.
func (s *Server) setupSubmit(c echo.Context) error {
	f := auth.SetupForm{
		Name: strings.TrimSpace(c.FormValue("name")), Email: strings.TrimSpace(c.FormValue("email")),
		OrgName: strings.TrimSpace(c.FormValue("org_name")), OrgSlug: strings.TrimSpace(strings.ToLower(c.FormValue("org_slug"))),
	}
	done, err := s.setup.Run(c.Request().Context(), setup.Input{
		Token: c.FormValue("token"), Name: f.Name, Email: f.Email, Password: c.FormValue("password"),
		OrgName: f.OrgName, OrgSlug: f.OrgSlug,
	}, actor(c))
	if fields := apperr.FieldsOf(err); fields != nil && apperr.Is(err, apperr.Invalid) {
		f.Errors, f.Error = fields, apperr.MessageOf(err)
		return render(c, statusOf(apperr.Invalid), auth.SetupPage(s.page(c, "Set up Keyplane"), f))
	}
	if err != nil {
		return err
	}
	s.hasUsers.Store(true)
	if err := s.signIn(c, done.Operator.ID); err != nil {
		return err
	}
	return redirect(c, "/orgs/"+done.Org.Slug+"/keys")
}

// signIn starts a new session for userID, replacing any the browser had, and
// a new CSRF token with it.
func (s *Server) signIn(c echo.Context, userID string) error {
	return s.startSession(c, userID, nil)
}

// startSession is signIn; with portal, the session is confined to one
// organization (see portalScope).
func (s *Server) startSession(c echo.Context, userID string, portal *account.Portal) error {
	if err := s.sessions.login(c, userID, portal); err != nil {
		return err
	}
	s.renewCSRF(c)
	return nil
}

// maxNextLen bounds the return path a sign-in carries.
const maxNextLen = 2048

// safeNext returns p when it is a path of this site to land on after
// signing in, and "/" for anything else. p must start with a single "/"
// and hold no "//", no backslash (which browsers read as "/"), no control
// character, no space and nothing outside printable ASCII (browsers send
// paths percent-encoded); it must parse as a path with neither scheme nor
// host, whose decoded form holds no "//", backslash or control character
// either. So a sign-in never leads to another origin, whatever ?next= says.
func safeNext(p string) string {
	if p == "" || len(p) > maxNextLen || p[0] != '/' || strings.Contains(p, "//") || strings.ContainsRune(p, '\\') {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] >= 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.Contains(u.Path, "//") || strings.ContainsRune(u.Path, '\\') ||
		strings.ContainsFunc(u.Path, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return "/"
	}
	return p
}

// loginURL is the sign-in screen with next, a same-site path, to land on
// once signed in; "/" (where a sign-in lands anyway) is left out.
func loginURL(next string) string {
	if next = safeNext(next); next == "/" {
		return "/login"
	}
	return "/login?" + url.Values{"next": {next}}.Encode()
}
