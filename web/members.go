package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keyplane/internal/apperr"
	"keyplane/internal/org"
	"keyplane/views/components"
	"keyplane/views/keys"
	"keyplane/views/members"
)

// membersList shows the organization's members to every member; admins also
// get the role and remove forms, the invite form and pending invitations.
func (s *Server) membersList(c echo.Context) error {
	return s.renderMembers(c, http.StatusOK, members.InviteForm{Role: string(org.Member)})
}

// renderMembers writes the members page with the invite form f.
func (s *Server) renderMembers(c echo.Context, status int, f members.InviteForm) error {
	vm, err := s.membersVM(c)
	if err != nil {
		return err
	}
	vm.Invite = f
	return s.renderMembersPage(c, status, vm)
}

func (s *Server) renderMembersPage(c echo.Context, status int, vm members.ListPage) error {
	if vm.IsAdmin {
		var err error
		if vm.Invites, err = s.inviteRows(c, currentMembership(c).ID); err != nil {
			return err
		}
	}
	return render(c, status, members.ListScreen(s.page(c, "Members · "+vm.OrgName), vm))
}

// membersVM reads the current organization's members into the list.
func (s *Server) membersVM(c echo.Context) (members.ListPage, error) {
	m := currentMembership(c)
	list, err := s.orgs.Members(c.Request().Context(), m.ID)
	if err != nil {
		return members.ListPage{}, err
	}
	now := s.now()
	vm := members.ListPage{Slug: m.Slug, OrgName: m.Name, CSRFToken: csrfToken(c), IsAdmin: isOrgAdmin(c)}
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
	return vm, nil
}

// membersChanged answers an htmx change to the members: the list and its
// counts are swapped out of band, a toast says what happened, and an open
// dialog closes.
func (s *Server) membersChanged(c echo.Context, message string) error {
	vm, err := s.membersVM(c)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("HX-Reswap", "none")
	h.Set("HX-Trigger", keys.CloseModalEvt)
	return render(c, http.StatusOK, templ.Join(members.List(vm, true), components.ToastOOB(message)))
}

// memberRefused shows why a change to the members was refused (the last
// admin stays one): an error toast for htmx, else the members page with
// the message as an error, with status 409.
func (s *Server) memberRefused(c echo.Context, err error) error {
	if isHTMX(c) {
		return err
	}
	vm, verr := s.membersVM(c)
	if verr != nil {
		return verr
	}
	vm.Error = apperr.MessageOf(err)
	vm.Invite = members.InviteForm{Role: string(org.Member)}
	return s.renderMembersPage(c, statusOf(apperr.CodeOf(err)), vm)
}

// memberRole changes a member's role. Admins only. Demoting the last admin
// changes nothing and says why, as an error.
func (s *Server) memberRole(c echo.Context) error {
	m := currentMembership(c)
	role, ok := org.ParseRole(c.FormValue("role"))
	if !ok {
		return apperr.InvalidFields(map[string]string{"role": "Choose admin or member."})
	}
	row, err := s.orgs.ChangeRole(c.Request().Context(), m.ID, c.Param("id"), role, actor(c))
	if apperr.Is(err, apperr.Conflict) {
		return s.memberRefused(c, err)
	}
	if err != nil {
		return err
	}
	message := fmt.Sprintf("%s is now %s.", row.Email, articled(row.Role))
	// An admin who made themselves a member loses this page's controls:
	// the whole page reloads.
	if isHTMX(c) && row.UserID != currentUser(c).ID {
		return s.membersChanged(c, message)
	}
	s.sessions.addFlash(c, message)
	return redirect(c, members.ListURL(m.Slug))
}

func articled(r org.Role) string {
	if r == org.Admin {
		return "an admin"
	}
	return "a member"
}

// memberRemoveConfirm asks before removing a member: a dialog for htmx, a
// page otherwise. Admins only.
func (s *Server) memberRemoveConfirm(c echo.Context) error {
	m := currentMembership(c)
	row, err := s.orgs.Member(c.Request().Context(), m.ID, c.Param("id"))
	if err != nil {
		return err
	}
	vm := s.removeVM(c, row)
	return dialog(s, c, http.StatusOK, "Remove "+row.Email, members.RemoveModal, members.RemoveScreen, vm)
}

func (s *Server) removeVM(c echo.Context, row org.MemberRow) members.Confirm {
	m := currentMembership(c)
	return members.Confirm{
		Slug: m.Slug, OrgName: m.Name, CSRFToken: csrfToken(c), UserID: row.UserID, Name: row.Name, Email: row.Email, Role: string(row.Role),
	}
}

// memberRemove takes a member out of the organization; their access ends
// with their next request. Admins only. The last admin stays, and the
// refusal is shown as an error: in the dialog for htmx, on the members page
// otherwise.
func (s *Server) memberRemove(c echo.Context) error {
	m := currentMembership(c)
	ctx := c.Request().Context()
	row, err := s.orgs.RemoveMember(ctx, m.ID, c.Param("id"), actor(c))
	if apperr.Is(err, apperr.Conflict) {
		if !isHTMX(c) {
			return s.memberRefused(c, err)
		}
		stay, gerr := s.orgs.Member(ctx, m.ID, c.Param("id"))
		if gerr != nil {
			return gerr
		}
		vm := s.removeVM(c, stay)
		vm.Error = apperr.MessageOf(err)
		return dialog(s, c, statusOf(apperr.CodeOf(err)), "Remove "+stay.Email, members.RemoveModal, members.RemoveScreen, vm)
	}
	if err != nil {
		return err
	}
	if row.UserID == currentUser(c).ID {
		s.sessions.addFlash(c, "You have left "+m.Name+".")
		return redirect(c, "/")
	}
	message := fmt.Sprintf("Removed %s from %s.", row.Email, m.Name)
	if isHTMX(c) {
		return s.membersChanged(c, message)
	}
	s.sessions.addFlash(c, message)
	return redirect(c, members.ListURL(m.Slug))
}
