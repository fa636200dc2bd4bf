package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/views/keys"
)

// keyShow is a key's page: its settings, and for admins the edit form.
func (s *Server) keyShow(c echo.Context) error {
	k, err := s.keys.Get(c.Request().Context(), currentMembership(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	f := s.keyForm(c, k.Product, formValues(k))
	return s.renderKey(c, http.StatusOK, k, f)
}

func (s *Server) renderKey(c echo.Context, status int, k apikey.Key, f keys.Form) error {
	now := s.now()
	d := s.keyDetail(c, k, f, now)
	cutover, err := s.cutover(c, k, now)
	if err != nil {
		return err
	}
	d.Cutover = cutover
	if d.Quota, err = s.keyQuota(c, k, now); err != nil {
		return err
	}
	u, err := s.keyUsage(c, k)
	if err != nil {
		return err
	}
	d.Usage = u
	if d.Sources, err = s.keySources(c, k, now); err != nil {
		return err
	}
	if err := s.keyRestrictions(c, k, now, &d); err != nil {
		return err
	}
	if u.Custom.Error != "" && status == http.StatusOK {
		status = statusOf(apperr.Invalid)
	}
	return render(c, status, keys.DetailScreen(s.page(c, k.Description+" · API key"), d))
}

// keyDetail is key k's page without its cut-over and usage: what its
// header and edit form show, and what a mutation swaps out of band.
func (s *Server) keyDetail(c echo.Context, k apikey.Key, f keys.Form, now time.Time) keys.Detail {
	ctx := c.Request().Context()
	m := currentMembership(c)
	f.Edit = true
	f.Action = keys.KeyURL(m.Slug, k.ID)
	d := keys.Detail{
		Slug: m.Slug, Key: keyRow(k, m.Slug, now), IsAdmin: isOrgAdmin(c), Editable: k.Editable(now), Form: f,
	}
	if p, err := s.products.Get(k.Product); err == nil && len(s.products.List()) > 1 {
		d.Key.Product = p.Name
	}
	if p, err := s.orgs.KeyPolicy(ctx, m.ID); err == nil {
		d.Key.Idle = idleText(k, p.IdleDays, now)
	}
	if k.RevokedAt != nil {
		d.Key.RevokedBy = s.actorName(c, k.RevokedByID)
	}
	if k.DisabledAt != nil {
		d.Key.DisabledBy = s.actorName(c, k.DisabledByID)
	}
	if k.ReplacedByID != nil {
		if next, err := s.keys.Get(ctx, m.ID, *k.ReplacedByID); err == nil {
			d.SuccessorURL, d.SuccessorHint = keys.KeyURL(m.Slug, next.ID), next.Hint
		}
	}
	if k.ReplacesID != nil {
		d.PredecessorURL = keys.KeyURL(m.Slug, *k.ReplacesID)
	}
	return d
}

// actorName names the user id for "revoked by": their name and email, or
// a program (the management API, the operator API, the command line or a
// policy) when no user did it.
func (s *Server) actorName(c echo.Context, id *string) string {
	if id == nil || *id == "" {
		return "a program (the API, the command line or a policy)"
	}
	u, err := s.accounts.UserByID(c.Request().Context(), *id)
	if err != nil {
		return "a former user"
	}
	if u.Name == "" {
		return u.Email
	}
	return u.Name + " (" + u.Email + ")"
}

// keyChanged answers an htmx mutation of key k made from its page: the
// dialog closes, a toast says what happened, and the page's header, edit
// form and quota are swapped out of band with k's new state.
func (s *Server) keyChanged(c echo.Context, k apikey.Key, message string) error {
	oob, err := s.keyOOB(c, k)
	if err != nil {
		return err
	}
	return closeDialog(c, message, oob...)
}

// keyOOB are the parts of key k's page that change with its state, as
// out-of-band swaps: its header, its edit form, its quota (whose "Add
// credits" only a working key offers) and its restrictions (whose switches
// only a working key offers, and whose modes the quota shows too).
func (s *Server) keyOOB(c echo.Context, k apikey.Key) ([]templ.Component, error) {
	now := s.now()
	d := s.keyDetail(c, k, s.keyForm(c, k.Product, formValues(k)), now)
	d.Form.CSRFToken = csrfToken(c)
	q, err := s.keyQuota(c, k, now)
	if err != nil {
		return nil, err
	}
	panel, err := s.restrictionsPanel(c, k, now)
	if err != nil {
		return nil, err
	}
	return []templ.Component{keys.KeyHeader(d, true), keys.KeyEdit(d, true), keys.KeyQuota(q, true), keys.RestrictionsPanel(panel, true)}, nil
}

// keyUpdate saves a key's editable settings. Admins only. A form without
// report_only fields (an empty one marks a form that has them) leaves
// which restrictions only report as they are.
func (s *Server) keyUpdate(c echo.Context) error {
	m := currentMembership(c)
	in := keyInput(c)
	if _, ok := c.Request().PostForm["report_only"]; !ok {
		stored, err := s.keys.Get(c.Request().Context(), m.ID, c.Param("id"))
		if err != nil {
			return err
		}
		in.ReportOnly = stored.ReportOnly().List()
	}
	k, err := s.keys.Update(c.Request().Context(), m.ID, c.Param("id"), in, actor(c))
	if apperr.Is(err, apperr.Invalid) {
		old, gerr := s.keys.Get(c.Request().Context(), m.ID, c.Param("id"))
		if gerr != nil {
			return gerr
		}
		f := s.keyForm(c, old.Product, inputValues(in))
		f.Errors, f.Error = apperr.FieldsOf(err), apperr.MessageOf(err)
		return s.renderKey(c, statusOf(apperr.CodeOf(err)), old, f)
	}
	if err != nil {
		return err
	}
	s.sessions.addFlash(c, "Saved the changes to "+k.Description+".")
	return redirect(c, keys.KeyURL(m.Slug, k.ID))
}

func (s *Server) confirmVM(c echo.Context, k apikey.Key) keys.Confirm {
	grace := "24h"
	if k.LeakedAt != nil {
		grace = "0" // a key found in public should stop now
	}
	return keys.Confirm{
		Slug: currentMembership(c).Slug, CSRFToken: csrfToken(c), ID: k.ID, Hint: k.Hint,
		Description: k.Description, FormToken: randomToken(16), Grace: grace,
	}
}

// requests24h is how many requests key k had in the last 24 hours, every
// outcome: what a revoke or a disable would cut off.
func (s *Server) requests24h(c echo.Context, k apikey.Key) (int64, error) {
	activity, err := s.usageReader.Activity(c.Request().Context(), k.OrgID, s.now())
	if err != nil {
		return 0, err
	}
	return activity[k.ID].Last24h, nil
}

// keyRevokeConfirm asks before revoking: a dialog for htmx, a page otherwise.
func (s *Server) keyRevokeConfirm(c echo.Context) error {
	k, err := s.keys.Get(c.Request().Context(), currentMembership(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	if k.RevokedAt != nil {
		return apperr.New(apperr.Conflict, "This key is already revoked.")
	}
	vm := s.confirmVM(c, k)
	if vm.Requests24h, err = s.requests24h(c, k); err != nil {
		return err
	}
	return dialog(s, c, http.StatusOK, "Revoke "+k.Description, keys.RevokeModal, keys.RevokeScreen, vm)
}

// keyRevoke revokes a key for good. Admins only.
func (s *Server) keyRevoke(c echo.Context) error {
	m := currentMembership(c)
	k, err := s.keys.Revoke(c.Request().Context(), m.ID, c.Param("id"), actor(c))
	if err != nil {
		return err
	}
	message := fmt.Sprintf("Revoked %s (%s).", k.Hint, k.Description)
	if isHTMX(c) {
		// Read back: the stored key names who revoked it.
		if stored, err := s.keys.Get(c.Request().Context(), m.ID, k.ID); err == nil {
			k = stored
		}
		return s.keyChanged(c, k, message)
	}
	s.sessions.addFlash(c, message)
	return redirect(c, keys.KeyURL(m.Slug, k.ID))
}

// oldDeadline says when old, just rotated, stops working: "stops working
// now" or "keeps working until …".
func (s *Server) oldDeadline(old apikey.Key) string {
	now := s.now()
	if old.GraceUntil == nil || !old.GraceUntil.After(now) {
		return "stops working now"
	}
	d := "keeps working until " + old.GraceUntil.UTC().Format(exactLayout) + " (" + relative(*old.GraceUntil, now.Add(-time.Second)) + ")"
	if old.GraceQuietFrom != nil {
		d += ", or until it has had no request for an hour"
	}
	return d
}

// keyRotateForm asks when the old key should stop.
func (s *Server) keyRotateForm(c echo.Context) error {
	k, err := s.keys.Get(c.Request().Context(), currentMembership(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	if err := apikey.CanRotate(k, s.now()); err != nil {
		return err
	}
	vm := s.confirmVM(c, k)
	return dialog(s, c, http.StatusOK, "Rotate "+k.Description, keys.RotateModal, keys.RotateScreen, vm)
}

// keyRotate makes the successor key and reveals it once. Admins only.
func (s *Server) keyRotate(c echo.Context) error {
	m := currentMembership(c)
	quiet := c.FormValue("end_when_quiet") != ""
	r := apikey.Rotation{Grace: c.FormValue("grace"), FormToken: c.FormValue("form_token"), EndWhenQuiet: quiet}
	created, old, err := s.keys.RotateWith(c.Request().Context(), m.ID, c.Param("id"), r, actor(c))
	if apperr.Is(err, apperr.Invalid) || apikey.IsAlreadyCreated(err) {
		k, gerr := s.keys.Get(c.Request().Context(), m.ID, c.Param("id"))
		if gerr != nil {
			return gerr
		}
		vm := s.confirmVM(c, k)
		vm.Error = apperr.MessageOf(err)
		if _, ok := apikey.GracePeriods[r.Grace]; ok {
			vm.Grace = r.Grace
		}
		vm.EndWhenQuiet = quiet
		for _, field := range []string{"grace", "end_when_quiet"} {
			if msg := apperr.FieldsOf(err)[field]; msg != "" {
				vm.Error = msg
			}
		}
		return dialog(s, c, statusOf(apperr.CodeOf(err)), "Rotate "+k.Description, keys.RotateModal, keys.RotateScreen, vm)
	}
	if err != nil {
		return err
	}
	deadline := s.oldDeadline(old)
	var oob []templ.Component
	if isHTMX(c) {
		if oob, err = s.keyOOB(c, old); err != nil {
			return err
		}
	}
	return s.reveal(c, created.Key.Product, keys.Reveal{
		Slug: m.Slug, Secret: created.Secret, Hint: created.Key.Hint, Description: created.Key.Description,
		KeyURL: keys.KeyURL(m.Slug, created.Key.ID), OldHint: old.Hint, OldDeadline: deadline,
	}, oob...)
}
