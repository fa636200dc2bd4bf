package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"keyplane/views/layout"
)

// themeCookie holds the viewer's choice of colours, light or dark; without
// it pages follow the device. It is a preference, not a secret, and only
// the server reads it.
const themeCookie = "kp_theme"

// themeOf is the request's choice of colours, from its cookie.
func themeOf(c echo.Context) string {
	if ck, err := c.Cookie(themeCookie); err == nil {
		switch ck.Value {
		case layout.ThemeLight, layout.ThemeDark:
			return ck.Value
		}
	}
	return layout.ThemeSystem
}

// themeSet stores the choice of colours posted in "theme" (system, light
// or dark; anything else is 400) for a year, or forgets it for system.
// htmx gets the theme form back; a plain form is sent back to "next", a
// path of this site, or home.
func (s *Server) themeSet(c echo.Context) error {
	choice := c.FormValue("theme")
	ck := &http.Cookie{
		Name: themeCookie, Value: choice, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: s.cfg.SecureCookies(), SameSite: http.SameSiteLaxMode,
	}
	switch choice {
	case layout.ThemeLight, layout.ThemeDark:
	case layout.ThemeSystem:
		ck.Value, ck.MaxAge = "", -1
	default:
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	c.SetCookie(ck)
	next := localPath(c.FormValue("next"))
	if isHTMX(c) {
		p := s.page(c, "")
		p.Theme, p.ReturnTo = choice, next
		return render(c, http.StatusOK, layout.ThemeForm(p))
	}
	if next == "" {
		next = "/"
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// localPath is raw when it is a path of this site ("/orgs/acme/keys?q=x"),
// else "": never another host, scheme or a protocol-relative "//host".
func localPath(raw string) string {
	if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") || strings.ContainsAny(raw, "\\\r\n\t") {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return u.RequestURI()
}
