package web

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	accountview "keyplane/views/account"
)

// accountPage shows the signed-in user's name, password (or, without one,
// how they sign in), linked single sign-on identities (read-only),
// two-factor sign-in and sessions.
func (s *Server) accountPage(c echo.Context) error {
	u := currentUser(c)
	return s.renderAccount(c, http.StatusOK, accountview.NameForm{Name: u.Name}, accountview.PasswordForm{})
}

// renderAccount writes the account page, or for htmx only the form section
// that was posted.
func (s *Server) renderAccount(c echo.Context, status int, name accountview.NameForm, pw accountview.PasswordForm) error {
	return s.renderAccountWith(c, status, name, pw, nil)
}

// renderAccountWith is renderAccount with messages for the two-factor
// card's forms.
func (s *Server) renderAccountWith(c echo.Context, status int, name accountview.NameForm, pw accountview.PasswordForm, twoFactorErrors map[string]string) error {
	p := s.page(c, "Account")
	u := currentUser(c)
	identities, err := s.accounts.UserIdentities(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	pw.NoPassword = u.PasswordHash == ""
	if pw.NoPassword && len(identities) > 0 {
		pw.SSOName = s.cfg.OIDC.Name
	}
	if isHTMX(c) {
		switch c.Path() {
		case "/account/name":
			return render(c, status, accountview.NameSection(p, name))
		case "/account/password":
			return render(c, status, accountview.PasswordSection(p, pw))
		}
	}
	list, err := s.accounts.ListSessions(c.Request().Context(), u.ID, s.sessions.limits)
	if err != nil {
		return err
	}
	now := s.now()
	current := currentSession(c)
	rows := make([]accountview.SessionRow, 0, len(list))
	for _, sess := range list {
		rows = append(rows, accountview.SessionRow{
			ID: sess.ID, Created: sess.CreatedAt.UTC().Format(exactLayout), CreatedISO: sess.CreatedAt.UTC().Format(time.RFC3339),
			LastSeen: relative(sess.LastSeenAt, now), LastSeenExact: sess.LastSeenAt.UTC().Format(exactLayout),
			IP: sess.IP, Agent: shortAgent(sess.UserAgent), AgentFull: sess.UserAgent,
			Current: current != nil && sess.ID == current.ID,
		})
	}
	tf, err := s.twoFactorView(c, twoFactorErrors)
	if err != nil {
		return err
	}
	v := accountview.View{Email: u.Email, Name: name, Password: pw, TwoFactor: tf, Sessions: rows}
	for _, i := range identities {
		v.Identities = append(v.Identities, accountview.IdentityRow{
			Issuer: i.Issuer, Email: i.Email, Linked: i.CreatedAt.UTC().Format(exactLayout),
			LastUsed: relative(i.LastUsedAt, now), LastUsedExact: i.LastUsedAt.UTC().Format(exactLayout),
		})
	}
	return render(c, status, accountview.Page(p, v))
}

// accountRename changes the signed-in user's display name.
func (s *Server) accountRename(c echo.Context) error {
	f := accountview.NameForm{Name: strings.TrimSpace(c.FormValue("name"))}
	u, err := s.accounts.Rename(c.Request().Context(), currentUser(c).ID, f.Name)
	if fields := apperr.FieldsOf(err); fields != nil {
		f.Errors = fields
		return s.renderAccount(c, statusOf(apperr.CodeOf(err)), f, accountview.PasswordForm{})
	}
	if err != nil {
		return err
	}
	s.sessions.addFlash(c, "Your name is now "+u.Name+".")
	return redirect(c, "/account")
}

// accountPassword changes the signed-in user's password, given the current
// one, and signs out every other session of theirs; this one stays. The
// current password is checked under the sign-in throttle.
func (s *Server) accountPassword(c echo.Context) error {
	u := currentUser(c)
	current := c.FormValue("current_password")
	var err error
	wait, rerr := s.reauthenticate(c, "change their password", func() bool {
		err = s.accounts.ChangePassword(c.Request().Context(), u.ID, currentSession(c).ID, current, c.FormValue("new_password"))
		_, wrong := apperr.FieldsOf(err)["current_password"]
		return wrong && current != ""
	})
	if rerr != nil {
		return rerr
	}
	if wait > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		fields := map[string]string{"current_password": "Too many wrong passwords. Try again in " + humanWait(wait) + "."}
		return s.renderAccount(c, statusOf(apperr.TooMany), accountview.NameForm{Name: u.Name}, accountview.PasswordForm{Errors: fields})
	}
	if fields := apperr.FieldsOf(err); fields != nil {
		return s.renderAccount(c, statusOf(apperr.CodeOf(err)), accountview.NameForm{Name: u.Name}, accountview.PasswordForm{Errors: fields})
	}
	if err != nil {
		return err
	}
	s.sessions.addFlash(c, "Your password has been changed. Every other session has been signed out.")
	return redirect(c, "/account")
}

// reauthenticate runs check, which verifies the signed-in user's password
// to confirm a sensitive change (to do what, in words for the audit log),
// under the sign-in throttle of their account and address: a wrong password
// counts as a failed sign-in and is audited in each of their
// organizations. check reports whether the password was wrong. wait > 0
// means check was not run: the caller answers 429 with Retry-After.
func (s *Server) reauthenticate(c echo.Context, what string, check func() (wrong bool)) (wait time.Duration, err error) {
	ctx := c.Request().Context()
	u := currentUser(c)
	ip := c.RealIP()
	at, wait := s.throttle.Attempt(ctx, u.Email, ip)
	if wait > 0 {
		return wait, nil
	}
	if !check() {
		s.throttle.Succeeded(ctx, u.Email, ip, at)
		return 0, nil
	}
	summary := u.Email + " gave a wrong password to " + what
	return 0, s.audit.RecordInUserOrgs(ctx, u.ID, actor(c), audit.ReauthFailed, "user", u.ID, summary)
}

// accountRevokeSession signs out one of the user's own sessions; another
// user's session id is 404. Signing out the current session is a logout.
func (s *Server) accountRevokeSession(c echo.Context) error {
	id := c.Param("id")
	if cur := currentSession(c); cur != nil && cur.ID == id {
		return s.logout(c)
	}
	if err := s.accounts.RevokeSession(c.Request().Context(), currentUser(c).ID, id); err != nil {
		return err
	}
	s.sessions.addFlash(c, "That session has been signed out.")
	return redirect(c, "/account")
}

// accountRevokeOthers signs out every session of the user but this one.
func (s *Server) accountRevokeOthers(c echo.Context) error {
	if err := s.accounts.DeleteUserSessions(c.Request().Context(), currentUser(c).ID, currentSession(c).ID); err != nil {
		return err
	}
	s.sessions.addFlash(c, "Every other session has been signed out.")
	return redirect(c, "/account")
}

// shortAgent names the browser and system of a user agent ("Firefox on
// Linux"), or cuts an unknown one to 40 characters.
func shortAgent(ua string) string {
	if ua == "" {
		return "Unknown browser"
	}
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"},
		{"Safari/", "Safari"}, {"curl/", "curl"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			system = o.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	}
	if utf8.RuneCountInString(ua) > 40 {
		return string([]rune(ua)[:39]) + "…"
	}
	return ua
}
