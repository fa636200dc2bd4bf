package web

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/offboard"
	"keyplane/internal/org"
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
	return closeDialog(c, message, members.List(vm, true))
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
// page otherwise. It lists the keys the member was shown, each offered to
// rotate in the same step. Admins only.
func (s *Server) memberRemoveConfirm(c echo.Context) error {
	m := currentMembership(c)
	row, err := s.orgs.Member(c.Request().Context(), m.ID, c.Param("id"))
	if err != nil {
		return err
	}
	vm, err := s.removeVM(c, row, nil, members.DefaultGrace)
	if err != nil {
		return err
	}
	return dialog(s, c, http.StatusOK, "Remove "+row.Email, members.RemoveModal, members.RemoveScreen, vm)
}

// removeVM is the remove dialog of member row; the keys they were shown
// are ticked when checked is nil, else when checked holds them.
func (s *Server) removeVM(c echo.Context, row org.MemberRow, checked []string, grace string) (members.Confirm, error) {
	m := currentMembership(c)
	vm := members.Confirm{
		Slug: m.Slug, OrgName: m.Name, CSRFToken: csrfToken(c), UserID: row.UserID, Name: row.Name, Email: row.Email, Role: string(row.Role),
		Self: row.UserID == currentUser(c).ID, Grace: grace, FormToken: randomToken(16),
	}
	if vm.Self {
		return vm, nil
	}
	seen, err := s.keys.SeenBy(c.Request().Context(), m.ID, row.UserID)
	if err != nil {
		return members.Confirm{}, err
	}
	now := s.now()
	for _, k := range seen {
		kc := members.KeyChoice{ID: k.ID, Hint: k.Hint, Description: k.Description, LastUsed: "never", Checked: checked == nil || slices.Contains(checked, k.ID)}
		if k.LastUsedAt != nil {
			kc.LastUsed = relative(*k.LastUsedAt, now)
		}
		vm.Keys = append(vm.Keys, kc)
	}
	return vm, nil
}

// memberRemove takes a member out of the organization; their access ends
// with their next request. In the same step it rotates the keys ticked
// among those the member was shown, and then shows the new keys once (and
// which could not be rotated, and why). Admins only. The last admin
// stays, and the refusal is shown as an error: in the dialog for htmx, on
// the members page otherwise.
func (s *Server) memberRemove(c echo.Context) error {
	m := currentMembership(c)
	ctx := c.Request().Context()
	var req offboard.Request
	if c.Param("id") != currentUser(c).ID {
		form, err := c.FormParams()
		if err != nil {
			return apperr.New(apperr.Invalid, "The form could not be read.")
		}
		req = offboard.Request{Rotate: form["rotate"], Grace: form.Get("grace"), FormToken: form.Get("form_token")}
	}
	res, err := offboard.New(s.orgs, s.keys).Remove(ctx, m.ID, c.Param("id"), req, actor(c))
	if apperr.Is(err, apperr.Conflict) || apperr.Is(err, apperr.Invalid) {
		if !isHTMX(c) && apperr.Is(err, apperr.Conflict) {
			return s.memberRefused(c, err)
		}
		stay, gerr := s.orgs.Member(ctx, m.ID, c.Param("id"))
		if gerr != nil {
			return gerr
		}
		grace := members.DefaultGrace
		if _, ok := apikey.GracePeriods[req.Grace]; ok {
			grace = req.Grace
		}
		vm, verr := s.removeVM(c, stay, append([]string{}, req.Rotate...), grace)
		if verr != nil {
			return verr
		}
		vm.Error = apperr.MessageOf(err)
		for _, field := range []string{"grace", "rotate"} {
			if msg := apperr.FieldsOf(err)[field]; msg != "" {
				vm.Error = msg
			}
		}
		return dialog(s, c, statusOf(apperr.CodeOf(err)), "Remove "+stay.Email, members.RemoveModal, members.RemoveScreen, vm)
	}
	if err != nil {
		return err
	}
	row := res.Member
	if len(req.Rotate) > 0 {
		return s.offboarded(c, res)
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

// offboarded answers a removal that rotated keys: the new keys, shown
// once and never stored (Cache-Control: no-store, out of htmx's history),
// and the keys not rotated with why. htmx gets the dialog, with the
// members list swapped out of band; without it, a page.
func (s *Server) offboarded(c echo.Context, res offboard.Result) error {
	m := currentMembership(c)
	noStore(c)
	o := members.Offboarded{Slug: m.Slug, OrgName: m.Name, Email: res.Member.Email}
	names := map[string]int{}
	for i, r := range res.Rotated {
		name := envName(r.New.Key.Description)
		if names[name]++; names[name] > 1 {
			name += "_" + strconv.Itoa(names[name])
		}
		o.Rotated = append(o.Rotated, members.RotatedKey{
			InputID: "offboard-key-" + strconv.Itoa(i+1), Description: r.New.Key.Description, Hint: r.New.Key.Hint,
			Secret: r.New.Secret, EnvName: name, KeyURL: keys.KeyURL(m.Slug, r.New.Key.ID),
			OldHint: r.Old.Hint, OldDeadline: s.oldDeadline(r.Old),
		})
	}
	for _, f := range res.Failed {
		if f.Err != nil && !apperr.Is(f.Err, apperr.Conflict) && !apperr.Is(f.Err, apperr.NotFound) && !apperr.Is(f.Err, apperr.Invalid) {
			s.logger.Error("offboarding: rotation failed", "err", f.Err, "key_id", f.ID, "request_id", c.Get(ctxRequestID))
		}
		o.Failed = append(o.Failed, members.FailedKey{Hint: f.Hint, Description: f.Desc, Reason: f.Reason})
	}
	if isHTMX(c) {
		vm, err := s.membersVM(c)
		if err != nil {
			return err
		}
		return render(c, http.StatusOK, templ.Join(members.OffboardModal(o), members.List(vm, true)))
	}
	return render(c, http.StatusOK, members.OffboardScreen(s.page(c, "Removed "+res.Member.Email), o))
}

// envName is the .env variable of a new key described desc:
// KEYPLANE_API_KEY_ and its letters and digits in capitals
// ("Billing backend" → KEYPLANE_API_KEY_BILLING_BACKEND).
func envName(desc string) string {
	var b strings.Builder
	b.WriteString(keys.EnvVar)
	under := true
	for _, r := range strings.ToUpper(desc) {
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			if under {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			under = false
		default:
			under = true
		}
	}
	name := b.String()
	if len(name) > 64 {
		name = strings.TrimRight(name[:64], "_")
	}
	return name
}
