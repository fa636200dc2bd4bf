package web

import (
	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keyplane/internal/org"
	"keyplane/views/layout"
)

// render writes component with status, with the request's CSP nonce in its
// context so templ can stamp it on scripts.
func render(c echo.Context, status int, component templ.Component) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return component.Render(c.Request().Context(), c.Response().Writer)
}

// page returns the frame's view model for the current request. It reads the
// user's organizations for the switcher.
func (s *Server) page(c echo.Context, title string) layout.Page {
	p := layout.Page{Title: title, CSRFToken: csrfToken(c)}
	u := currentUser(c)
	if u == nil {
		return p
	}
	p.User = &layout.User{Name: u.Name, Email: u.Email, IsOperator: u.IsOperator}
	if m := currentMembership(c); m != nil {
		p.Org = &layout.Org{Name: m.Name, Slug: m.Slug, Role: string(m.Role)}
	}
	if joined, err := s.orgs.ForUser(c.Request().Context(), u.ID); err == nil {
		for _, j := range joined {
			p.Orgs = append(p.Orgs, layout.Org{Name: j.Name, Slug: j.Slug, Role: string(j.Role)})
		}
	}
	if flashes := s.sessions.flashes(c); len(flashes) > 0 {
		p.Flash = flashes[0]
	}
	return p
}

// isOrgAdmin reports whether the current user is an admin of the current
// organization.
func isOrgAdmin(c echo.Context) bool {
	m := currentMembership(c)
	return m != nil && m.Role == org.Admin
}

func noStore(c echo.Context) {
	c.Response().Header().Set("Cache-Control", "no-store")
}
