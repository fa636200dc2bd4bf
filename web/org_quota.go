package web

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/quota"
	"keyplane/views/components"
	"keyplane/views/settings"
)

// orgQuotaForm is the organization quota form: v as posted when it has
// errors, else the stored quota; with the stored quota's standing.
func (s *Server) orgQuotaForm(c echo.Context, v settings.Quota) (settings.Quota, error) {
	now := s.now()
	oq, err := s.keys.OrgQuota(c.Request().Context(), currentMembership(c).ID, now)
	if err != nil {
		return v, err
	}
	if len(v.Errors) == 0 {
		v = settings.Quota{Values: quotaValues(nil), ReportOnly: oq.ReportOnly}
		if oq.State != nil {
			v.Values = quotaValues(&oq.State.Spec)
		}
	}
	v.Standing, v.Credits = nil, false
	if oq.State != nil {
		v.Standing = quotaMeter("org-quota-text", *oq.State, oq.ReportOnly, now)
		v.Credits = oq.State.Spec.Kind == quota.Credits
	}
	return v, nil
}

// orgQuotaSave sets the organization's quota, shared by all its keys, and
// whether it only reports (audited). Admins only; bad values are 422 with
// a message per field.
func (s *Server) orgQuotaSave(c echo.Context) error {
	m := currentMembership(c)
	in := quotaInput(c)
	v := settings.Quota{Values: quotaFormValues(in), ReportOnly: c.FormValue("quota_report_only") == "true", Errors: map[string]string{}}
	if r := c.FormValue("quota_report_only"); r != "" && r != "true" {
		v.Errors["quota_report_only"] = "Tick the box or leave it empty."
	}
	var saved apikey.OrgQuota
	if len(v.Errors) == 0 {
		var err error
		saved, err = s.keys.SetOrgQuota(c.Request().Context(), m.ID, in, v.ReportOnly, actor(c))
		if !apperr.Is(err, apperr.Invalid) && err != nil {
			return err
		}
		v.Errors = apperr.FieldsOf(err)
	}
	if len(v.Errors) > 0 {
		return s.renderSettings(c, statusOf(apperr.Invalid), settings.Form{RequireTwoFactor: m.RequireTwoFactor, Quota: v})
	}
	var spec *quota.Spec
	if saved.State != nil {
		spec = &saved.State.Spec
	}
	s.sessions.addFlash(c, "The quota of "+m.Name+" is now "+apikey.DescribeQuota(spec, saved.ReportOnly)+".")
	return redirect(c, settings.URL(m.Slug)+"#"+settings.QuotaID)
}

// orgCreditsState returns the standing of the organization's credits
// quota, or Conflict without one.
func (s *Server) orgCreditsState(c echo.Context) (apikey.QuotaState, error) {
	oq, err := s.keys.OrgQuota(c.Request().Context(), currentMembership(c).ID, s.now())
	if err != nil {
		return apikey.QuotaState{}, err
	}
	if oq.State == nil || oq.State.Spec.Kind != quota.Credits {
		return apikey.QuotaState{}, apperr.New(apperr.Conflict, "This organization has no credits quota to add credits to.")
	}
	return *oq.State, nil
}

// orgCredits is the add-credits dialog of the organization, whose quota
// stands at st.
func (s *Server) orgCredits(c echo.Context, st apikey.QuotaState) components.Credits {
	m := currentMembership(c)
	return components.Credits{
		Title: "Add credits to " + m.Name, Action: settings.CreditsURL(m.Slug), Back: settings.URL(m.Slug) + "#" + settings.QuotaID,
		CSRFToken: csrfToken(c), Standing: quotaMeter("", st, false, s.now()).Text, Lasts: creditsLast(st),
	}
}

// orgCreditsForm asks how many credits to add to the organization's
// balance: a dialog for htmx, a page otherwise. Admins only.
func (s *Server) orgCreditsForm(c echo.Context) error {
	st, err := s.orgCreditsState(c)
	if err != nil {
		return err
	}
	vm := s.orgCredits(c, st)
	return dialog(s, c, http.StatusOK, vm.Title, components.CreditsModal, components.CreditsScreen, vm)
}

// orgCreditsAdd adds credits to the organization's balance for its
// current period (audited). htmx gets the quota's standing out of band
// and a toast; a bad amount is 422 with its message. Admins only.
func (s *Server) orgCreditsAdd(c echo.Context) error {
	m := currentMembership(c)
	amount := creditsAmount(c)
	oq, err := s.keys.TopUpOrg(c.Request().Context(), m.ID, amount, actor(c))
	if apperr.Is(err, apperr.Invalid) {
		st, serr := s.orgCreditsState(c)
		if serr != nil {
			return serr
		}
		return s.creditsRefused(c, s.orgCredits(c, st), err)
	}
	if err != nil {
		return err
	}
	message := fmt.Sprintf("Added %s to %s.", apikey.Count(amount, "credit", "credits"), m.Name)
	if isHTMX(c) {
		v := settings.Quota{}
		if oq.State != nil {
			v.Standing = quotaMeter("org-quota-text", *oq.State, oq.ReportOnly, s.now())
			v.Credits = oq.State.Spec.Kind == quota.Credits
		}
		return closeDialog(c, message, settings.QuotaStanding(m.Slug, v, true))
	}
	s.sessions.addFlash(c, message)
	return redirect(c, settings.URL(m.Slug)+"#"+settings.QuotaID)
}
