package web

import (
	"github.com/labstack/echo/v4"

	"keyplane/internal/account"
	"keyplane/internal/audit"
	"keyplane/internal/org"
)

// Keys of the values middleware leaves on the echo.Context.
const (
	ctxUser    = "kp.user"
	ctxSession = "kp.session"
	ctxMember  = "kp.member"
	ctxJoined  = "kp.joined"
	ctxCSRF    = "kp.csrf"
	// ctxSessionCSRF is the signed-in session's own CSRF token.
	ctxSessionCSRF = "kp.session_csrf"
	ctxRequestID   = "kp.request_id"
)

func currentUser(c echo.Context) *account.User {
	u, _ := c.Get(ctxUser).(*account.User)
	return u
}

func currentSession(c echo.Context) *account.Session {
	s, _ := c.Get(ctxSession).(*account.Session)
	return s
}

func currentMembership(c echo.Context) *org.Joined {
	m, _ := c.Get(ctxMember).(*org.Joined)
	return m
}

// joinedOrgs returns the signed-in user's organizations, by name, as
// loadOrgs read them.
func joinedOrgs(c echo.Context) []org.Joined {
	j, _ := c.Get(ctxJoined).([]org.Joined)
	return j
}

func csrfToken(c echo.Context) string {
	t, _ := c.Get(ctxCSRF).(string)
	return t
}

// actor describes who makes the request, for the audit log.
func actor(c echo.Context) audit.Actor {
	a := audit.Actor{IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
	if u := currentUser(c); u != nil {
		a.UserID, a.Email = u.ID, u.Email
	}
	return a
}
