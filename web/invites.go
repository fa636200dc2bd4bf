package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apperr"
	"keyplane/internal/org"
	authview "keyplane/views/auth"
	"keyplane/views/members"
)

// inviteRows lists the organization's pending invitations.
func (s *Server) inviteRows(c echo.Context, orgID string) ([]members.InviteRow, error) {
	list, err := s.orgs.PendingInvites(c.Request().Context(), orgID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	rows := make([]members.InviteRow, 0, len(list))
	for _, i := range list {
		by := i.InvitedBy
		if by == "" { // no person: the management API or the command line
			by = "an API key or the command line"
		}
		rows = append(rows, members.InviteRow{
			ID: i.ID, Email: i.Email, Role: string(i.Role), InvitedBy: by, Expires: relative(i.ExpiresAt, now),
		})
	}
	return rows, nil
}

// inviteCreate invites an email address and shows its link once. Admins
// only. A bad address or an existing member answers with the members page
// and a message; nothing is created.
func (s *Server) inviteCreate(c echo.Context) error {
	m := currentMembership(c)
	f := members.InviteForm{Email: strings.TrimSpace(c.FormValue("email")), Role: c.FormValue("role")}
	token, inv, err := s.orgs.CreateInvite(c.Request().Context(), m.ID, f.Email, org.Role(f.Role), actor(c))
	switch {
	case apperr.Is(err, apperr.Invalid):
		f.Errors, f.Error = apperr.FieldsOf(err), "Please correct the highlighted fields."
		return s.renderMembers(c, http.StatusUnprocessableEntity, f)
	case apperr.Is(err, apperr.Conflict):
		f.Errors, f.Error = apperr.FieldsOf(err), apperr.MessageOf(err)
		return s.renderMembers(c, http.StatusConflict, f)
	case err != nil:
		return err
	}
	noStore(c)
	return render(c, http.StatusOK, members.InviteRevealScreen(s.page(c, "Invitation created"), members.InviteReveal{
		Slug: m.Slug, Email: inv.Email, Role: string(inv.Role), Link: s.cfg.BaseURL.String() + "/invites/" + token,
	}))
}

// inviteRevoke stops a pending invitation. Admins only.
func (s *Server) inviteRevoke(c echo.Context) error {
	m := currentMembership(c)
	inv, err := s.orgs.RevokeInvite(c.Request().Context(), m.ID, c.Param("id"), actor(c))
	if err != nil {
		return err
	}
	s.sessions.addFlash(c, "Revoked the invitation of "+inv.Email+".")
	return redirect(c, members.ListURL(m.Slug))
}

// acceptVM decides what the invitation page offers the visitor: a sign-up
// form to an anonymous visitor without an account (with "Accept with
// {provider}" when single sign-on is on, and without the password form
// when password sign-in is not for members), "Sign in to accept" to an
// anonymous visitor whose email has an account (the sign-in screen then
// leads back here), one button to the invited user, a message to anyone
// else.
func (s *Server) acceptVM(c echo.Context, inv org.OpenInvite) (members.Accept, error) {
	a := members.Accept{
		Action: "/invites/" + c.Param("token"), CSRFToken: csrfToken(c), OrgName: inv.OrgName,
		Email: inv.Email, Role: string(inv.Role), Mode: "mismatch",
		NoPasswordSignup: !s.cfg.OIDC.PasswordLogin.Allows(false),
	}
	if s.sso != nil {
		// The linker accepts the pending invitations of the verified
		// email the provider vouches for, this one included.
		a.SSOName, a.SSOURL = s.sso.Name(), authview.SSOStartURL("/orgs/"+inv.OrgSlug+"/keys")
	}
	if u := currentUser(c); u != nil {
		if u.Email == inv.Email {
			a.Mode = "join"
		}
		return a, nil
	}
	_, err := s.accounts.UserByEmail(c.Request().Context(), inv.Email)
	switch {
	case apperr.Is(err, apperr.NotFound):
		a.Mode = "signup"
	case err != nil:
		return a, err
	default:
		a.Mode = members.AcceptSignIn
	}
	return a, nil
}

// inviteShow is the page behind an invitation link, for anyone holding it.
// A link that does not work is 404.
func (s *Server) inviteShow(c echo.Context) error {
	noStore(c)
	inv, err := s.orgs.InviteByToken(c.Request().Context(), c.Param("token"))
	if err != nil {
		return err
	}
	a, err := s.acceptVM(c, inv)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, members.AcceptScreen(s.page(c, "Join "+inv.OrgName), a))
}

// inviteAccept uses an invitation: an anonymous visitor without an account
// gets one with the name and password they chose (403 when password
// sign-in is not for members: they accept with single sign-on); the
// invited user joins.
// Either lands on the organization's keys, signed in.
func (s *Server) inviteAccept(c echo.Context) error {
	noStore(c)
	ctx := c.Request().Context()
	token := c.Param("token")
	inv, err := s.orgs.InviteByToken(ctx, token)
	if err != nil {
		return err
	}
	a, err := s.acceptVM(c, inv)
	if err != nil {
		return err
	}
	switch a.Mode {
	case "join":
		if _, err := s.orgs.AcceptInvite(ctx, token, currentUser(c).ID, actor(c)); err != nil {
			return err
		}
		s.sessions.addFlash(c, "Welcome to "+inv.OrgName+".")
		return redirect(c, "/orgs/"+inv.OrgSlug+"/keys")
	case "mismatch", members.AcceptSignIn:
		return apperr.New(apperr.Forbidden, "This invitation is for %s. Sign in as %s to accept it.", inv.Email, inv.Email)
	}
	if a.NoPasswordSignup {
		return apperr.New(apperr.Forbidden, "New accounts on this Keyplane sign in with %s. Accept this invitation with %s.", s.cfg.OIDC.Name, s.cfg.OIDC.Name)
	}
	a.Name = strings.TrimSpace(c.FormValue("name"))
	u, _, err := s.orgs.AcceptInviteAsNewUser(ctx, token, org.Signup{Name: a.Name, Password: c.FormValue("password")}, actor(c))
	if fields := apperr.FieldsOf(err); fields != nil && apperr.Is(err, apperr.Invalid) {
		a.Errors, a.Error = fields, "Please correct the highlighted fields."
		return render(c, http.StatusUnprocessableEntity, members.AcceptScreen(s.page(c, "Join "+inv.OrgName), a))
	}
	if err != nil {
		return err
	}
	if err := s.signIn(c, u.ID); err != nil {
		return err
	}
	s.sessions.addFlash(c, "Welcome to "+inv.OrgName+".")
	return redirect(c, "/orgs/"+inv.OrgSlug+"/keys")
}
