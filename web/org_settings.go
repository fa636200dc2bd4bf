package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apperr"
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
	return render(c, status, settings.Page(s.page(c, "Settings"), f))
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
