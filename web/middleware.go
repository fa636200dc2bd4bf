package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/org"
	"keyplane/views/layout"
)

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// requestLog gives every dashboard request an id (kept from X-Request-Id when
// well-formed) and writes one structured line when it ends, naming the
// signed-in user. Query strings are not logged.
func (s *Server) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return s.logRequests("request", "path", loggedPath, func(c echo.Context) []any {
		if u := currentUser(c); u != nil {
			return []any{"user_id", u.ID}
		}
		return nil
	})(next)
}

// logRequests returns middleware that gives every request an id (kept from
// X-Request-Id when well-formed) and, when it ends, writes one line msg with
// the path as a log may show it (under pathKey), the outcome, and who made
// the request.
func (s *Server) logRequests(msg, pathKey string, path func(echo.Context) string, who func(echo.Context) []any) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			id := c.Request().Header.Get(echo.HeaderXRequestID)
			if !requestIDRE.MatchString(id) {
				id = randomToken(12)
			}
			c.Set(ctxRequestID, id)
			c.Response().Header().Set(echo.HeaderXRequestID, id)
			if err := next(c); err != nil {
				c.Error(err)
			}
			attrs := []any{
				"request_id", id, "method", c.Request().Method, pathKey, path(c),
				"status", c.Response().Status, "duration_ms", time.Since(start).Milliseconds(), "ip", c.RealIP(),
			}
			attrs = append(attrs, who(c)...)
			level := slog.LevelInfo
			if c.Response().Status >= 500 {
				level = slog.LevelError
			}
			s.logger.Log(c.Request().Context(), level, msg, attrs...)
			return nil
		}
	}
}

// secretParams name the route parameters that carry a secret (an invite's
// token): no log line may show their values.
var secretParams = []string{"token"}

// loggedPath is the request's path as a log line may show it: the route
// pattern (/invites/:token) when a parameter of the route carries a secret,
// else the path itself.
func loggedPath(c echo.Context) string {
	for _, name := range c.ParamNames() {
		if slices.Contains(secretParams, name) {
			return c.Path()
		}
	}
	return c.Request().URL.Path
}

// securityHeaders sets the CSP (scripts only from this origin or with the
// request's nonce) and the other protective headers on every dashboard
// response.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	secure := s.cfg.SecureCookies()
	return func(c echo.Context) error {
		nonce := randomToken(16)
		r := c.Request()
		c.SetRequest(r.WithContext(templ.WithNonce(r.Context(), nonce)))
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'nonce-"+nonce+"'; style-src 'self'; "+
			"img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; "+
			"frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		h.Set("Cache-Control", "no-cache, private")
		h.Add("Vary", "Cookie")
		if secure {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		return next(c)
	}
}

var errCSRF = apperr.New(apperr.Forbidden, "Your form has expired or was sent from another site. Reload the page and try again.")

// csrfCookieName is the CSRF cookie's name; over https the __Host- prefix
// stops a sibling subdomain from planting one.
func (s *Server) csrfCookieName() string {
	if s.cfg.SecureCookies() {
		return "__Host-kp_csrf"
	}
	return "kp_csrf"
}

// csrf refuses state-changing dashboard requests that do not carry the
// request's CSRF token, in the form field or the header htmx sends, or that
// a browser marks as cross-site or sends from another origin (403). A
// signed-in request's token is bound to its session (see sessionCSRF), so a
// token planted in a cookie, or taken from another session, is worthless;
// before signing in, the token is the one in the CSRF cookie. It also reads
// the form of every such request, bounded to maxFormBytes (413 beyond, 400
// when malformed), so handlers never see a partial form. Safe methods pass
// and get a token. It runs after loadSession.
func (s *Server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		token, bound := c.Get(ctxSessionCSRF).(string)
		if !bound {
			if ck, err := r.Cookie(s.csrfCookieName()); err == nil && len(ck.Value) == 43 {
				token = ck.Value
			}
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			if token == "" || r.Header.Get("Sec-Fetch-Site") == "cross-site" || !s.sameOrigin(r) {
				return errCSRF
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
				}
				return echo.NewHTTPError(http.StatusBadRequest)
			}
			sent := r.Header.Get(layout.CSRFHeader)
			if sent == "" {
				sent = r.PostFormValue(layout.CSRFField)
			}
			if subtle.ConstantTimeCompare([]byte(sent), []byte(token)) != 1 {
				return errCSRF
			}
		}
		if token == "" {
			s.renewCSRF(c)
			return next(c)
		}
		c.Set(ctxCSRF, token)
		return next(c)
	}
}

// sessionCSRF is the CSRF token of the session whose cookie token is
// sessionToken: an HMAC of it under a key of the server's own, so it is
// known only to that session's pages and changes with the session.
func (s *Server) sessionCSRF(sessionToken string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(sessionToken))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// renewCSRF issues a new CSRF token, as at login, so a token known before
// signing in is worthless after.
func (s *Server) renewCSRF(c echo.Context) {
	token := randomToken(32)
	c.SetCookie(&http.Cookie{
		Name: s.csrfCookieName(), Value: token, Path: "/", HttpOnly: true, Secure: s.cfg.SecureCookies(),
		SameSite: http.SameSiteLaxMode,
	})
	c.Set(ctxCSRF, token)
}

// validText answers 400 to a dashboard request whose path, query or form
// holds text PostgreSQL cannot store (invalid UTF-8, or a NUL byte), which
// it would refuse deep inside a handler with a 500.
func (s *Server) validText(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if !storable(r.URL.Path) {
			return echo.NewHTTPError(http.StatusBadRequest)
		}
		for _, values := range []url.Values{r.URL.Query(), r.PostForm} {
			for k, vs := range values {
				if !storable(k) {
					return echo.NewHTTPError(http.StatusBadRequest)
				}
				for _, v := range vs {
					if !storable(v) {
						return echo.NewHTTPError(http.StatusBadRequest)
					}
				}
			}
		}
		return next(c)
	}
}

// storable reports whether s can be stored in a PostgreSQL text column.
func storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// sameOrigin checks the Origin header, when a browser sends one, against the
// request's own host.
func (s *Server) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host) || strings.EqualFold(u.Host, s.cfg.BaseURL.Host)
}

// maxFormBytes bounds every dashboard form body.
const maxFormBytes = 64 << 10

// loadSession puts the signed-in user and their session on the context.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, err := s.sessions.current(c)
		if err != nil {
			return apperr.Wrap(apperr.Unavailable, err, "Keyplane cannot reach its database right now. Try again shortly.")
		}
		if !sess.IsNew {
			if u, ok := sess.Values[sessUserKey{}].(*account.User); ok {
				c.Set(ctxUser, u)
			}
			if rec, ok := sess.Values[sessRecordKey{}].(*account.Session); ok {
				c.Set(ctxSession, rec)
			}
			if tok, ok := sess.Values[sessTokenKey{}].(string); ok {
				c.Set(ctxSessionCSRF, s.sessionCSRF(tok))
			}
		} else if _, err := c.Cookie(s.sessions.CookieName()); err == nil {
			// A cookie for a session that has ended: clear it.
			c.SetCookie(&http.Cookie{Name: s.sessions.CookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.SecureCookies(), SameSite: http.SameSiteLaxMode})
		}
		return next(c)
	}
}

// setupGate sends every dashboard request to /setup while the instance has
// no user, and hides /setup once it has one.
func (s *Server) setupGate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ok, err := s.instanceHasUsers(c.Request().Context())
		if err != nil {
			return apperr.Wrap(apperr.Unavailable, err, "Keyplane cannot reach its database right now. Try again shortly.")
		}
		isSetup := c.Path() == "/setup"
		switch {
		case !ok && !isSetup:
			return redirect(c, "/setup")
		case ok && isSetup:
			return echo.ErrNotFound
		}
		return next(c)
	}
}

// requireUser lets only signed-in users through. Anyone else is sent to
// /login with ?next= naming the page to return to once signed in (see
// returnPath): pages get a 303, htmx requests 401 with HX-Redirect.
func (s *Server) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if currentUser(c) == nil {
			to := loginURL(s.returnPath(c))
			if isHTMX(c) {
				c.Response().Header().Set("HX-Redirect", to)
				return c.NoContent(http.StatusUnauthorized)
			}
			return c.Redirect(http.StatusSeeOther, to)
		}
		return next(c)
	}
}

// returnPath is where a signed-out request wanted to be: for htmx, the
// page it was made from (HX-Current-URL), when that page is of this
// origin; for a page load (GET or HEAD), its own path and query; else
// nothing. It is a candidate for safeNext, not yet checked.
func (s *Server) returnPath(c echo.Context) string {
	r := c.Request()
	if isHTMX(c) {
		u, err := url.Parse(r.Header.Get("HX-Current-URL"))
		if err != nil || u.User != nil || !s.isOwnOrigin(c, u) {
			return ""
		}
		return u.RequestURI()
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return ""
	}
	return r.URL.RequestURI()
}

// isOwnOrigin reports whether u is of the origin the request was sent to
// (its scheme as Echo sees it, behind a proxy too, and its Host) or of
// KEYPLANE_BASE_URL.
func (s *Server) isOwnOrigin(c echo.Context, u *url.URL) bool {
	if u.Host == "" {
		return false
	}
	base := s.cfg.BaseURL
	return (strings.EqualFold(u.Scheme, c.Scheme()) && strings.EqualFold(u.Host, c.Request().Host)) ||
		(base != nil && strings.EqualFold(u.Scheme, base.Scheme) && strings.EqualFold(u.Host, base.Host))
}

// requireOperator answers 404 to everyone but operators, so the admin pages
// do not reveal themselves.
func (s *Server) requireOperator(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if u := currentUser(c); u == nil || !u.IsOperator {
			return echo.ErrNotFound
		}
		return next(c)
	}
}

// loadOrgs reads the signed-in user's organizations once per request: for
// the switcher on every page and for requireMember. It runs after
// requireUser.
func (s *Server) loadOrgs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		joined, err := s.orgs.ForUser(c.Request().Context(), currentUser(c).ID)
		if err != nil {
			return apperr.Wrap(apperr.Unavailable, err, "Keyplane cannot reach its database right now. Try again shortly.")
		}
		if sess := currentSession(c); sess != nil && sess.PortalOrgID != nil {
			joined = slices.DeleteFunc(joined, func(j org.Joined) bool { return j.ID != *sess.PortalOrgID })
		}
		c.Set(ctxJoined, joined)
		return next(c)
	}
}

// portalScope confines a session started from a portal link to its
// organization's pages: loadOrgs shows it no other organization (so
// requireMember answers 404 for them), and every page outside
// /orgs/{slug} but "/" (which leads to the organization) answers 404,
// /admin and /account included. It runs after loadOrgs.
func (s *Server) portalScope(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if sess := currentSession(c); sess != nil && sess.PortalOrgID != nil {
			if p := c.Path(); p != "/" && p != "/orgs/:slug" && !strings.HasPrefix(p, "/orgs/:slug/") {
				return apperr.New(apperr.NotFound, "Page not found.")
			}
		}
		return next(c)
	}
}

// requireMember loads the organization named by :slug as seen by the user:
// 404 for an unknown slug and for non-members alike, operators included.
func (s *Server) requireMember(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		slug := c.Param("slug")
		if org.ValidateSlug(slug) != "" {
			return echo.ErrNotFound
		}
		// Unknown slugs and others' organizations look the same: 404.
		i := slices.IndexFunc(joinedOrgs(c), func(j org.Joined) bool { return j.Slug == slug })
		if i < 0 {
			return apperr.New(apperr.NotFound, "Page not found.")
		}
		m := joinedOrgs(c)[i]
		c.Set(ctxMember, &m)
		if r := c.Request(); r.Method == http.MethodGet && (u.LastOrgID == nil || *u.LastOrgID != m.ID) {
			if err := s.accounts.SetLastOrg(r.Context(), u.ID, m.ID); err != nil {
				s.logger.Warn("remember last org", "err", err)
			}
		}
		return next(c)
	}
}

// requireRole answers 403 to members whose role is not role.
func (s *Server) requireRole(role org.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if m := currentMembership(c); m == nil || m.Role != role {
				return apperr.New(apperr.Forbidden, "Only admins of this organization can do that.")
			}
			return next(c)
		}
	}
}

// requireOrgTwoFactor sends a member of an organization that requires
// two-factor sign-in, and has not set it up, to /account to set it up: a
// 303 for pages, HX-Redirect for htmx. It applies to sessions begun before
// the organization required it too, and never to sessions started from a
// portal link or by single sign-on (the platform and its identity provider
// own those sign-ins). It runs after requireMember.
func (s *Server) requireOrgTwoFactor(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		m := currentMembership(c)
		if m == nil || !m.RequireTwoFactor {
			return next(c)
		}
		if sess := currentSession(c); sess != nil && sess.PortalOrgID != nil {
			return next(c)
		}
		if s.sessions.signedInWith(c) == signInSSO {
			return next(c)
		}
		return s.unlessTwoFactor(c, next, m.Name+" requires two-factor sign-in. Set it up to continue.")
	}
}

// requireOperatorTwoFactor sends an operator without two-factor sign-in to
// /account to set it up when KEYPLANE_OPERATOR_2FA=required. It runs after
// requireOperator.
func (s *Server) requireOperatorTwoFactor(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.cfg.OperatorTwoFactor {
			return next(c)
		}
		return s.unlessTwoFactor(c, next, "Operators of this Keyplane must use two-factor sign-in. Set it up to continue.")
	}
}

// unlessTwoFactor runs next for a user with two-factor sign-in on, and
// otherwise sends them to /account to set it up, with why.
func (s *Server) unlessTwoFactor(c echo.Context, next echo.HandlerFunc, why string) error {
	on, err := s.twoFactor.Enabled(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return apperr.Wrap(apperr.Unavailable, err, "Keyplane cannot reach its database right now. Try again shortly.")
	}
	if on {
		return next(c)
	}
	s.sessions.addFlash(c, why)
	return redirect(c, "/account")
}
