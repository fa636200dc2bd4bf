package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keyplane/views/pages"
)

// home sends the user to the organization they used last, else their first;
// a user in no organization gets a page that says so.
func (s *Server) home(c echo.Context) error {
	u := currentUser(c)
	joined := joinedOrgs(c)
	if len(joined) == 0 {
		return render(c, http.StatusOK, pages.NoOrgPage(s.page(c, "No organization")))
	}
	target := joined[0].Slug
	if u.LastOrgID != nil {
		for _, j := range joined {
			if j.ID == *u.LastOrgID {
				target = j.Slug
			}
		}
	}
	return redirect(c, "/orgs/"+target+"/keys")
}

func (s *Server) orgHome(c echo.Context) error {
	return redirect(c, "/orgs/"+currentMembership(c).Slug+"/keys")
}
