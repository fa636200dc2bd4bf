package web

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keyplane/internal/account"
	"keyplane/internal/org"
	"keyplane/views/layout"
)

// render writes component with status, with the request's CSP nonce in its
// context so templ can stamp it on scripts. The component is rendered whole
// before anything is sent: one that fails midway becomes the error page,
// never a truncated 200.
func render(c echo.Context, status int, component templ.Component) error {
	buf := renderBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 1<<20 {
			buf.Reset()
			renderBuffers.Put(buf)
		}
	}()
	if err := component.Render(c.Request().Context(), buf); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

var renderBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// page returns the frame's view model for the current request, from what
// the middleware loaded (the user's organizations, for the switcher). A
// page outside an organization (the account, the operator's pages) keeps
// the navigation of the organization the user used last, else their first.
func (s *Server) page(c echo.Context, title string) layout.Page {
	r := c.Request()
	p := layout.Page{Title: title, CSRFToken: csrfToken(c), Theme: themeOf(c), Path: r.URL.Path}
	if r.Method == http.MethodGet {
		p.ReturnTo = r.URL.RequestURI()
	}
	u := currentUser(c)
	if u == nil {
		return p
	}
	p.User = &layout.User{Name: u.Name, Email: u.Email, IsOperator: u.IsOperator}
	if sess := currentSession(c); sess != nil && sess.PortalOrgID != nil {
		if back, err := url.Parse(sess.PortalReturnURL); err == nil {
			p.Back = &layout.Back{URL: back.String(), Host: back.Host}
		}
	}
	if m := currentMembership(c); m != nil {
		p.Org = &layout.Org{Name: m.Name, Slug: m.Slug, Role: string(m.Role), Disabled: m.DisabledAt != nil}
	} else if m := navOrg(u, joinedOrgs(c)); m != nil {
		p.Org = &layout.Org{Name: m.Name, Slug: m.Slug, Role: string(m.Role)}
	}
	for _, j := range joinedOrgs(c) {
		p.Orgs = append(p.Orgs, layout.Org{Name: j.Name, Slug: j.Slug, Role: string(j.Role)})
	}
	if flashes := s.sessions.flashes(c); len(flashes) > 0 {
		p.Flash = flashes[0]
	}
	return p
}

// navOrg is the organization whose navigation a page outside any
// organization shows: the one u used last, else their first, else none.
func navOrg(u *account.User, joined []org.Joined) *org.Joined {
	if len(joined) == 0 {
		return nil
	}
	if u.LastOrgID != nil {
		for i := range joined {
			if joined[i].ID == *u.LastOrgID {
				return &joined[i]
			}
		}
	}
	return &joined[0]
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
