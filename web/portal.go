package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/views/portal"
)

// portalShow is the page of a portal link: a "Continue" button whose POST
// signs the member in. Fetching it uses nothing up, so a link previewer
// cannot spend the link. A link that is unknown, used or expired answers
// 410.
func (s *Server) portalShow(c echo.Context) error {
	l, err := s.orgs.PortalLinkByToken(c.Request().Context(), c.Param("token"))
	if org.IsPortalGone(err) {
		return s.portalGone(c, err)
	}
	if err != nil {
		return err
	}
	noStore(c)
	e := portal.Enter{Action: "/portal/" + c.Param("token"), CSRFToken: csrfToken(c), OrgName: l.OrgName, Email: l.Email}
	if u := currentUser(c); u != nil && u.ID != l.UserID {
		e.SignedInAs = u.Email
	}
	return render(c, http.StatusOK, portal.EnterPage(s.page(c, "Open "+l.OrgName), e))
}

// portalEnter uses the portal link up, once, and signs its member in with a
// session confined to the link's organization, replacing any session the
// browser had; it lands on the organization's keys page.
func (s *Server) portalEnter(c echo.Context) error {
	client := audit.Actor{IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
	l, err := s.orgs.SpendPortalLink(c.Request().Context(), c.Param("token"), client)
	if org.IsPortalGone(err) {
		return s.portalGone(c, err)
	}
	if err != nil {
		return err
	}
	if err := s.startSession(c, l.UserID, &account.Portal{OrgID: l.OrgID, ReturnURL: l.ReturnURL}); err != nil {
		return err
	}
	return redirect(c, "/orgs/"+l.OrgSlug+"/keys")
}

func (s *Server) portalGone(c echo.Context, err error) error {
	noStore(c)
	return render(c, http.StatusGone, portal.GonePage(s.page(c, "Link expired"), apperr.MessageOf(err)))
}
