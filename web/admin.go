package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/org"
	"keyplane/views/admin"
)

const timeLayout = "2006-01-02 15:04 UTC"

func (s *Server) adminHome(c echo.Context) error {
	return redirect(c, "/admin/users")
}

func (s *Server) adminUsers(c echo.Context) error {
	return s.renderUsers(c, http.StatusOK, admin.UserForm{})
}

func (s *Server) renderUsers(c echo.Context, status int, f admin.UserForm) error {
	rows, err := s.userRows(c)
	if err != nil {
		return err
	}
	if isHTMX(c) {
		return render(c, status, admin.UsersSection(s.page(c, "Users"), rows, f))
	}
	return render(c, status, admin.UsersPage(s.page(c, "Users"), rows, f))
}

// userRows is every user as the operator's list shows them.
func (s *Server) userRows(c echo.Context) ([]admin.UserRow, error) {
	users, err := s.accounts.ListUsers(c.Request().Context())
	if err != nil {
		return nil, err
	}
	me := currentUser(c)
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	twoFactor, err := s.twoFactor.EnabledAmong(c.Request().Context(), ids)
	if err != nil {
		return nil, err
	}
	rows := make([]admin.UserRow, 0, len(users))
	for _, u := range users {
		row := admin.UserRow{ID: u.ID, Name: u.Name, Email: u.Email, IsOperator: u.IsOperator, Disabled: u.Disabled(), Self: u.ID == me.ID, TwoFactor: twoFactor[u.ID],
			Created: u.CreatedAt.UTC().Format(timeLayout), LastLogin: "Never"}
		if u.LastLoginAt != nil {
			row.LastLogin = u.LastLoginAt.UTC().Format(timeLayout)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// usersChanged answers a change made from the users page: for htmx the
// dialog closes, the users table is swapped out of band and a toast says
// message; otherwise message is flashed on the users page.
func (s *Server) usersChanged(c echo.Context, message string) error {
	if !isHTMX(c) {
		s.sessions.addFlash(c, message)
		return redirect(c, "/admin/users")
	}
	rows, err := s.userRows(c)
	if err != nil {
		return err
	}
	return closeDialog(c, message, admin.UsersTable(s.page(c, "Users"), rows, true))
}

// adminCreateUser creates a user with a password the operator chose.
func (s *Server) adminCreateUser(c echo.Context) error {
	f := admin.UserForm{
		Name: strings.TrimSpace(c.FormValue("name")), Email: strings.TrimSpace(c.FormValue("email")),
		Operator: c.FormValue("operator") == "true",
	}
	u, err := s.accounts.CreateUser(c.Request().Context(), account.NewUser{
		Email: f.Email, Name: f.Name, Password: c.FormValue("password"), Operator: f.Operator,
	})
	if fields := apperr.FieldsOf(err); fields != nil {
		f.Errors = fields
		return s.renderUsers(c, statusOf(apperr.CodeOf(err)), f)
	}
	if err != nil {
		return err
	}
	s.sessions.addFlash(c, "Created the user "+u.Email+".")
	return redirect(c, "/admin/users")
}

// adminDisableUserConfirm asks before disabling a user: a dialog for htmx,
// a page otherwise. Returns 404 for an unknown user and 409 for the
// operator themselves or a user already disabled.
func (s *Server) adminDisableUserConfirm(c echo.Context) error {
	u, err := s.accounts.UserByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	if u.ID == currentUser(c).ID {
		return errDisableSelf
	}
	if u.Disabled() {
		return apperr.New(apperr.Conflict, "%s is already disabled.", u.Email)
	}
	vm := admin.UserConfirm{ID: u.ID, Name: u.Name, Email: u.Email, CSRFToken: csrfToken(c)}
	return dialog(s, c, http.StatusOK, "Disable "+u.Email, admin.DisableUserModal, admin.DisableUserScreen, vm)
}

var errDisableSelf = apperr.New(apperr.Conflict, "You cannot disable your own account. Ask another operator.")

// adminDisableUser disables a user and ends all their sessions at once; an
// operator cannot disable themselves.
func (s *Server) adminDisableUser(c echo.Context) error {
	return s.setUserDisabled(c, true)
}

// adminEnableUser lets a disabled user sign in again.
func (s *Server) adminEnableUser(c echo.Context) error {
	return s.setUserDisabled(c, false)
}

func (s *Server) setUserDisabled(c echo.Context, disabled bool) error {
	ctx := c.Request().Context()
	u, err := s.accounts.UserByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if disabled && u.ID == currentUser(c).ID {
		return errDisableSelf
	}
	if err := s.accounts.SetDisabled(ctx, u.ID, disabled, actor(c)); err != nil {
		return err
	}
	if disabled {
		return s.usersChanged(c, "Disabled "+u.Email+". Their sessions have ended.")
	}
	return s.usersChanged(c, "Enabled "+u.Email+". They can sign in again.")
}

// adminResetTwoFactorConfirm asks the operator to confirm resetting a
// user's two-factor sign-in: a dialog for htmx, a page otherwise. Returns
// 404 for an unknown user and 409 when two-factor is off.
func (s *Server) adminResetTwoFactorConfirm(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.accounts.UserByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	on, err := s.twoFactor.Enabled(ctx, u.ID)
	if err != nil {
		return err
	}
	if !on {
		return apperr.New(apperr.Conflict, "Two-factor sign-in is off for %s.", u.Email)
	}
	vm := admin.UserConfirm{ID: u.ID, Name: u.Name, Email: u.Email, CSRFToken: csrfToken(c)}
	return dialog(s, c, http.StatusOK, "Reset two-factor", admin.ResetTwoFactorModal, admin.ResetTwoFactorScreen, vm)
}

// adminResetTwoFactor turns off a user's two-factor sign-in (they lost
// their device and their recovery codes); recorded in each of the user's
// organizations. Returns 404 for an unknown user or when two-factor is
// off.
func (s *Server) adminResetTwoFactor(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.accounts.UserByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if u.ID == currentUser(c).ID {
		return apperr.New(apperr.Conflict, "Turn off your own two-factor sign-in on your account page, with your password.")
	}
	if err := s.twoFactor.Disable(ctx, u.ID, actor(c)); err != nil {
		return err
	}
	s.logger.Info("two-factor reset", "user_id", u.ID, "by", currentUser(c).Email)
	return s.usersChanged(c, "Reset the two-factor sign-in of "+u.Email+". They sign in with their password alone until they set it up again.")
}

func (s *Server) adminOrgs(c echo.Context) error {
	return s.renderOrgs(c, http.StatusOK, admin.OrgForm{}, admin.MemberForm{Role: string(org.Member)})
}

func (s *Server) renderOrgs(c echo.Context, status int, f admin.OrgForm, m admin.MemberForm) error {
	ctx := c.Request().Context()
	list, err := s.orgs.List(ctx)
	if err != nil {
		return err
	}
	users, err := s.accounts.ListUsers(ctx)
	if err != nil {
		return err
	}
	rows := make([]admin.OrgRow, 0, len(list))
	for _, o := range list {
		rows = append(rows, admin.OrgRow{
			ID: o.ID, Name: o.Name, Slug: o.Slug, Members: o.Members, Created: o.CreatedAt.UTC().Format(timeLayout), Disabled: o.DisabledAt != nil,
		})
	}
	opts := make([]admin.Option, 0, len(users))
	for _, u := range users {
		if !u.Disabled() {
			opts = append(opts, admin.Option{Value: u.ID, Label: u.Name + " <" + u.Email + ">"})
		}
	}
	return render(c, status, admin.OrgsPage(s.page(c, "Organizations"), rows, opts, f, m))
}

// adminCreateOrg creates an organization with its first admin.
func (s *Server) adminCreateOrg(c echo.Context) error {
	f := admin.OrgForm{
		Name: strings.TrimSpace(c.FormValue("name")), Slug: strings.TrimSpace(c.FormValue("slug")),
		AdminID: c.FormValue("admin_id"),
	}
	o, err := s.orgs.Create(c.Request().Context(), f.Name, f.Slug, f.AdminID, actor(c))
	if fields := apperr.FieldsOf(err); fields != nil {
		if msg, ok := fields["user_id"]; ok {
			fields = map[string]string{"admin_id": msg}
		}
		f.Errors = fields
		return s.renderOrgs(c, statusOf(apperr.CodeOf(err)), f, admin.MemberForm{Role: string(org.Member)})
	}
	if err != nil {
		return err
	}
	s.sessions.addFlash(c, "Created the organization "+o.Name+".")
	return redirect(c, "/admin/orgs")
}

// adminAddMember adds any user to any organization.
func (s *Server) adminAddMember(c echo.Context) error {
	m := admin.MemberForm{OrgID: c.FormValue("org_id"), UserID: c.FormValue("user_id"), Role: c.FormValue("role")}
	role, ok := org.ParseRole(m.Role)
	if !ok {
		m.Errors = map[string]string{"role": "Choose admin or member."}
		return s.renderOrgs(c, statusOf(apperr.Invalid), admin.OrgForm{}, m)
	}
	err := s.orgs.AddMember(c.Request().Context(), m.OrgID, m.UserID, role, actor(c))
	if fields := apperr.FieldsOf(err); fields != nil {
		m.Errors = fields
		return s.renderOrgs(c, statusOf(apperr.CodeOf(err)), admin.OrgForm{}, m)
	}
	if err != nil {
		return err
	}
	s.sessions.addFlash(c, "Added the member.")
	return redirect(c, "/admin/orgs")
}
