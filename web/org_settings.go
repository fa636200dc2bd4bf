package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/org"
	"keyplane/views/keys"
	"keyplane/views/settings"
)

// orgSettings shows an organization's settings to its admins.
func (s *Server) orgSettings(c echo.Context) error {
	m := currentMembership(c)
	return s.renderSettings(c, http.StatusOK, settings.Form{RequireTwoFactor: m.RequireTwoFactor})
}

// orgLeakPolicySave sets what happens to the organization's keys found in
// public. Admins only; another value is 422.
func (s *Server) orgLeakPolicySave(c echo.Context) error {
	m := currentMembership(c)
	policy := c.FormValue("leak_policy")
	if err := s.orgs.SetLeakPolicy(c.Request().Context(), m.ID, policy, actor(c)); err != nil {
		if apperr.Is(err, apperr.Invalid) {
			return s.renderSettings(c, statusOf(apperr.Invalid), settings.Form{RequireTwoFactor: m.RequireTwoFactor, LeakError: apperr.FieldsOf(err)["leak_policy"]})
		}
		return err
	}
	if policy == settings.LeakDisable {
		s.sessions.addFlash(c, "Private keys of "+m.Name+" found in public will be disabled at once.")
	} else {
		s.sessions.addFlash(c, "Keys of "+m.Name+" found in public will be flagged and keep working.")
	}
	return redirect(c, settings.URL(m.Slug))
}

func (s *Server) renderSettings(c echo.Context, status int, f settings.Form) error {
	ctx := c.Request().Context()
	m := currentMembership(c)
	members, err := s.orgs.Members(ctx, m.ID)
	if err != nil {
		return err
	}
	ids := make([]string, len(members))
	for i, mr := range members {
		ids[i] = mr.UserID
	}
	on, err := s.twoFactor.EnabledAmong(ctx, ids)
	if err != nil {
		return err
	}
	f.Slug, f.Members, f.Missing = m.Slug, len(members), len(members)-len(on)
	if f.LeakPolicy == "" {
		f.LeakPolicy = m.LeakPolicy
	}
	f.AdminHasTwoFactor = on[currentUser(c).ID]
	if f.Policy, err = s.policyForm(c, f.Policy); err != nil {
		return err
	}
	if f.Quota, err = s.orgQuotaForm(c, f.Quota); err != nil {
		return err
	}
	return render(c, status, settings.Page(s.page(c, "Settings"), f))
}

// policyForm is the key policies form: v as posted when it has errors,
// else the stored policy; with the keys the stored policy flags now.
func (s *Server) policyForm(c echo.Context, v settings.Policy) (settings.Policy, error) {
	ctx := c.Request().Context()
	m := currentMembership(c)
	p, err := s.orgs.KeyPolicy(ctx, m.ID)
	if err != nil {
		return v, err
	}
	if len(v.Errors) == 0 {
		v = settings.Policy{MaxLifetimeDays: daysText(p.MaxLifetimeDays), IdleDays: daysText(p.IdleDays), IdleDisable: p.IdleDisable}
	}
	now := s.now()
	beyond, err := s.keys.BeyondLifetime(ctx, m.ID, p.MaxLifetimeDays)
	if err != nil {
		return v, err
	}
	v.LifetimeDays = p.MaxLifetimeDays
	if p.MaxLifetimeDays > 0 {
		v.LifetimeDate = apikey.LifetimeDate(now, p.MaxLifetimeDays)
	}
	for _, k := range beyond {
		l := settings.KeyLink{URL: keys.KeyURL(m.Slug, k.ID), Description: k.Description, Hint: k.Hint, Expiry: "never expires"}
		if k.ExpiresAt != nil {
			l.Expiry = "expires on " + apikey.ExpiryDate(*k.ExpiresAt)
		}
		v.Beyond = append(v.Beyond, l)
	}
	if p.IdleDays > 0 {
		all, err := s.keys.List(ctx, m.ID, apikey.Filter{})
		if err != nil {
			return v, err
		}
		for _, k := range all {
			if apikey.IsIdle(k, p.IdleDays, now) {
				v.Idle++
			}
		}
		v.IdleURL = keys.FilteredURL(m.Slug, keys.Filter{Status: keys.StatusIdle})
	}
	return v, nil
}

func daysText(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// orgKeyPolicySave sets the organization's key policies: maximum key
// lifetime and idle period in days ("" for off; 1 to 3650 otherwise) and
// whether idle keys are disabled. Admins only; bad values are 422 with a
// message per field. Keys are never changed here: the page then lists
// those beyond a new maximum lifetime.
func (s *Server) orgKeyPolicySave(c echo.Context) error {
	m := currentMembership(c)
	v := settings.Policy{
		MaxLifetimeDays: strings.TrimSpace(c.FormValue("max_key_lifetime_days")),
		IdleDays:        strings.TrimSpace(c.FormValue("idle_days")),
		IdleDisable:     c.FormValue("idle_disable") == "true",
		Errors:          map[string]string{},
	}
	var p org.KeyPolicy
	var msg string
	if p.MaxLifetimeDays, msg = org.ParsePolicyDays(v.MaxLifetimeDays); msg != "" {
		v.Errors["max_key_lifetime_days"] = msg
	}
	if p.IdleDays, msg = org.ParsePolicyDays(v.IdleDays); msg != "" {
		v.Errors["idle_days"] = msg
	}
	if d := c.FormValue("idle_disable"); d != "" && d != "true" {
		v.Errors["idle_disable"] = "Tick the box or leave it empty."
	}
	p.IdleDisable = v.IdleDisable
	if len(v.Errors) == 0 {
		_, err := s.orgs.SetKeyPolicy(c.Request().Context(), m.ID, p, actor(c))
		if !apperr.Is(err, apperr.Invalid) && err != nil {
			return err
		}
		v.Errors = apperr.FieldsOf(err)
	}
	if len(v.Errors) > 0 {
		return s.renderSettings(c, statusOf(apperr.Invalid), settings.Form{RequireTwoFactor: m.RequireTwoFactor, Policy: v})
	}
	msgs := []string{"Saved the key policies of " + m.Name + "."}
	if p.MaxLifetimeDays > 0 {
		beyond, err := s.keys.BeyondLifetime(c.Request().Context(), m.ID, p.MaxLifetimeDays)
		if err != nil {
			return err
		}
		switch n := len(beyond); {
		case n == 1:
			msgs = append(msgs, "1 active key outlives the new maximum lifetime: it keeps working and is listed below.")
		case n > 1:
			msgs = append(msgs, strconv.Itoa(n)+" active keys outlive the new maximum lifetime: they keep working and are listed below.")
		}
	}
	s.sessions.addFlash(c, strings.Join(msgs, " "))
	return redirect(c, settings.URL(m.Slug)+"#"+settings.PolicyID)
}

// orgSettingsSave changes an organization's settings: requiring two-factor
// sign-in of its members, which an admin may turn on only with two-factor
// on themselves (422 otherwise). Admins only.
func (s *Server) orgSettingsSave(c echo.Context) error {
	ctx := c.Request().Context()
	m := currentMembership(c)
	var require bool
	switch c.FormValue("require_two_factor") {
	case "true":
		require = true
	case "":
	default:
		return s.renderSettings(c, statusOf(apperr.Invalid), settings.Form{RequireTwoFactor: m.RequireTwoFactor, Error: "Tick the box or leave it empty."})
	}
	if require && !m.RequireTwoFactor {
		on, err := s.twoFactor.Enabled(ctx, currentUser(c).ID)
		if err != nil {
			return err
		}
		if !on {
			return s.renderSettings(c, statusOf(apperr.Invalid), settings.Form{
				Error: "Turn on two-factor sign-in for your own account before you require it of the members of " + m.Name + ".",
			})
		}
	}
	if err := s.orgs.SetRequireTwoFactor(ctx, m.ID, require, actor(c)); err != nil {
		return err
	}
	if require {
		s.sessions.addFlash(c, m.Name+" now requires two-factor sign-in of every member.")
	} else {
		s.sessions.addFlash(c, m.Name+" no longer requires two-factor sign-in.")
	}
	return redirect(c, settings.URL(m.Slug))
}
