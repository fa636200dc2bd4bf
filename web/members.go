package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apperr"
	"keyplane/internal/org"
	"keyplane/views/members"
)

// membersList shows the organization's members to every member; admins also
// get the role and remove forms, the invite form and pending invitations.
func (s *Server) membersList(c echo.Context) error {
	return s.renderMembers(c, http.StatusOK, members.InviteForm{Role: string(org.Member)})
}

// renderMembers writes the members page with the invite form f.
func (s *Server) renderMembers(c echo.Context, status int, f members.InviteForm) error {
	ctx := c.Request().Context()
	m := currentMembership(c)
	list, err := s.orgs.Members(ctx, m.ID)
	if err != nil {
		return err
	}
	now := s.now()
	vm := members.ListPage{Slug: m.Slug, OrgName: m.Name, CSRFToken: csrfToken(c), IsAdmin: isOrgAdmin(c), Invite: f}
	me := currentUser(c).ID
	for _, r := range list {
		row := members.Row{
			UserID: r.UserID, Name: r.Name, Email: r.Email, Role: string(r.Role), IsYou: r.UserID == me,
			Joined: r.JoinedAt.UTC().Format(exactLayout), JoinedISO: r.JoinedAt.UTC().Format(time.RFC3339),
			LastLogin: "Never",
		}
		if r.LastLoginAt != nil {
			row.LastLogin = relative(*r.LastLoginAt, now)
			row.LastLoginISO = r.LastLoginAt.UTC().Format(time.RFC3339)
		}
		vm.Rows = append(vm.Rows, row)
	}
	if vm.IsAdmin {
		if vm.Invites, err = s.inviteRows(c, m.ID); err != nil {
			return err
		}
	}
	return render(c, status, members.ListScreen(s.page(c, "Members · "+m.Name), vm))
}

// memberRole changes a member's role. Admins only. Demoting the last admin
// changes nothing and says why.
func (s *Server) memberRole(c echo.Context) error {
	m := currentMembership(c)
	role, ok := org.ParseRole(c.FormValue("role"))
	if !ok {
		return apperr.InvalidFields(map[string]string{"role": "Choose admin or member."})
	}
	row, err := s.orgs.ChangeRole(c.Request().Context(), m.ID, c.Param("id"), role, actor(c))
	if apperr.Is(err, apperr.Conflict) {
		s.sessions.addFlash(c, apperr.MessageOf(err))
		return redirect(c, members.ListURL(m.Slug))
	}
	if err != nil {
		return err
	}
	s.sessions.addFlash(c, fmt.Sprintf("%s is now %s.", row.Email, articled(row.Role)))
	return redirect(c, members.ListURL(m.Slug))
}

func articled(r org.Role) string {
	if r == org.Admin {
		return "an admin"
	}
	return "a member"
}

// memberRemoveConfirm asks before removing a member. Admins only.
func (s *Server) memberRemoveConfirm(c echo.Context) error {
	m := currentMembership(c)
	row, err := s.orgs.Member(c.Request().Context(), m.ID, c.Param("id"))
	if err != nil {
		return err
	}
	vm := members.Confirm{
		Slug: m.Slug, CSRFToken: csrfToken(c), UserID: row.UserID, Name: row.Name, Email: row.Email, Role: string(row.Role),
	}
	return render(c, http.StatusOK, members.RemoveScreen(s.page(c, "Remove "+row.Email), vm))
}

// memberRemove takes a member out of the organization; their access ends
// with their next request. Admins only. The last admin stays, with a
// message.
func (s *Server) memberRemove(c echo.Context) error {
	m := currentMembership(c)
	row, err := s.orgs.RemoveMember(c.Request().Context(), m.ID, c.Param("id"), actor(c))
	if apperr.Is(err, apperr.Conflict) {
		s.sessions.addFlash(c, apperr.MessageOf(err))
		return redirect(c, members.ListURL(m.Slug))
	}
	if err != nil {
		return err
	}
	if row.UserID == currentUser(c).ID {
		s.sessions.addFlash(c, "You have left "+m.Name+".")
		return redirect(c, "/")
	}
	s.sessions.addFlash(c, fmt.Sprintf("Removed %s from %s.", row.Email, m.Name))
	return redirect(c, members.ListURL(m.Slug))
}
