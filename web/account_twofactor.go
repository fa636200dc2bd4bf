package web

import (
	"math"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apperr"
	"keyplane/internal/twofactor"
	accountview "keyplane/views/account"
)

// twoFactorView is the two-factor card of the signed-in user, with errors
// for its forms.
func (s *Server) twoFactorView(c echo.Context, errs map[string]string) (accountview.TwoFactorView, error) {
	u := currentUser(c)
	st, err := s.twoFactor.Status(c.Request().Context(), u.ID)
	if err != nil {
		return accountview.TwoFactorView{}, err
	}
	v := accountview.TwoFactorView{Enabled: st.Enabled, RecoveryLeft: st.RecoveryLeft, Errors: errs}
	if st.Enabled {
		v.EnabledAt = st.EnabledAt.UTC().Format(exactLayout)
	}
	for _, j := range joinedOrgs(c) {
		if j.RequireTwoFactor {
			v.RequiredBy = append(v.RequiredBy, j.Name)
		}
	}
	if u.IsOperator && s.cfg.OperatorTwoFactor {
		v.RequiredBy = append(v.RequiredBy, "Keyplane's operators")
	}
	if u.PasswordHash == "" && s.cfg.OIDC.Enabled() {
		v.SSOName = s.cfg.OIDC.Name
	}
	return v, nil
}

// twoFactorStart makes a new seed for the signed-in user, pending until
// confirmed, and leads to the set-up page. With two-factor already on, or
// for a user without a password, it answers 409.
func (s *Server) twoFactorStart(c echo.Context) error {
	u := currentUser(c)
	if u.PasswordHash == "" {
		return apperr.New(apperr.Conflict, "You sign in without a password, so there is no password sign-in for two-factor to protect.")
	}
	if _, err := s.twoFactor.Begin(c.Request().Context(), u.ID, u.Email); err != nil {
		return err
	}
	return redirect(c, accountview.TwoFactorSetupPath)
}

// twoFactorSetup shows the pending seed as a QR code and as text, made on
// this server, with the form that confirms it. Without a pending seed it
// leads back to /account.
func (s *Server) twoFactorSetup(c echo.Context) error {
	return s.renderSetup(c, http.StatusOK, "")
}

func (s *Server) renderSetup(c echo.Context, status int, msg string) error {
	u := currentUser(c)
	e, err := s.twoFactor.Pending(c.Request().Context(), u.ID, u.Email)
	if apperr.Is(err, apperr.NotFound) {
		return redirect(c, "/account")
	}
	if err != nil {
		return err
	}
	noStore(c)
	return render(c, status, accountview.SetupPage(s.page(c, "Set up two-factor"), accountview.SetupView{
		QR: e.QR, GroupedSecret: e.GroupedSecret(), Error: msg,
	}))
}

// twoFactorConfirm turns two-factor on when the code is right for the
// pending seed, and shows the recovery codes once. A wrong code answers 422
// with the set-up page again.
func (s *Server) twoFactorConfirm(c echo.Context) error {
	code := c.FormValue("code")
	if len(code) > twofactor.MaxCodeLen {
		return s.renderSetup(c, statusOf(apperr.Invalid), "Enter the 6-digit code the app shows.")
	}
	codes, err := s.twoFactor.Confirm(c.Request().Context(), currentUser(c).ID, code, actor(c))
	if apperr.Is(err, apperr.Invalid) {
		return s.renderSetup(c, statusOf(apperr.Invalid), apperr.FieldsOf(err)["code"])
	}
	if err != nil {
		return err
	}
	noStore(c)
	return render(c, http.StatusOK, accountview.RecoveryCodesPage(s.page(c, "Recovery codes"), codes, true))
}

// twoFactorDisableConfirm asks before turning two-factor off: a dialog
// for htmx, a page otherwise. 409 when it is not on.
func (s *Server) twoFactorDisableConfirm(c echo.Context) error {
	st, err := s.twoFactor.Status(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	if !st.Enabled {
		return apperr.New(apperr.Conflict, "Two-factor sign-in is not on.")
	}
	p := s.page(c, "Turn off two-factor sign-in")
	if isHTMX(c) {
		return render(c, http.StatusOK, accountview.DisableModal(p, st.RecoveryLeft))
	}
	return render(c, http.StatusOK, accountview.DisableScreen(p, st.RecoveryLeft))
}

// twoFactorDisable turns the signed-in user's two-factor off, given their
// current password (checked under the sign-in throttle).
func (s *Server) twoFactorDisable(c echo.Context) error {
	u := currentUser(c)
	ok, err := s.confirmPassword(c, "disable_password", "turn off two-factor sign-in")
	if !ok || err != nil {
		return err
	}
	if err := s.twoFactor.Disable(c.Request().Context(), u.ID, actor(c)); err != nil {
		return err
	}
	s.sessions.addFlash(c, "Two-factor sign-in is off.")
	return redirect(c, "/account")
}

// recoveryCodesRegenerate replaces the signed-in user's recovery codes,
// given their current password, and shows the new ones once.
func (s *Server) recoveryCodesRegenerate(c echo.Context) error {
	u := currentUser(c)
	ok, err := s.confirmPassword(c, "regenerate_password", "make new recovery codes")
	if !ok || err != nil {
		return err
	}
	codes, err := s.twoFactor.RegenerateRecoveryCodes(c.Request().Context(), u.ID, actor(c))
	if err != nil {
		return err
	}
	noStore(c)
	return render(c, http.StatusOK, accountview.RecoveryCodesPage(s.page(c, "Recovery codes"), codes, false))
}

// confirmPassword checks the password in the form field named field before
// a sensitive change (what, for the audit log), under the sign-in throttle.
// When it returns false with no error, it has answered: 422 with the
// account page for a missing or wrong password, 429 with Retry-After when
// throttled.
func (s *Server) confirmPassword(c echo.Context, field, what string) (bool, error) {
	u := currentUser(c)
	password := c.FormValue(field)
	var err error
	wait, rerr := s.reauthenticate(c, what, func() bool {
		err = s.accounts.ConfirmPassword(c.Request().Context(), u.ID, password)
		return apperr.Is(err, apperr.Invalid) && password != ""
	})
	if rerr != nil {
		return false, rerr
	}
	name := accountview.NameForm{Name: u.Name}
	if wait > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		msg := "Too many wrong passwords. Try again in " + humanWait(wait) + "."
		return false, s.renderAccountWith(c, statusOf(apperr.TooMany), name, accountview.PasswordForm{}, map[string]string{field: msg})
	}
	if fields := apperr.FieldsOf(err); fields != nil {
		return false, s.renderAccountWith(c, statusOf(apperr.CodeOf(err)), name, accountview.PasswordForm{}, map[string]string{field: fields["current_password"]})
	}
	return err == nil, err
}
