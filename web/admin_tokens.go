package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apperr"
	"keyplane/internal/config"
	"keyplane/internal/optoken"
	"keyplane/views/admin"
)

// adminTokens lists the operator tokens.
func (s *Server) adminTokens(c echo.Context) error {
	return s.renderTokens(c, http.StatusOK, admin.TokensPage{})
}

func (s *Server) renderTokens(c echo.Context, status int, vm admin.TokensPage) error {
	list, err := s.tokens.List(c.Request().Context())
	if err != nil {
		return err
	}
	now := s.now()
	vm.Tokens = make([]admin.TokenRow, 0, len(list))
	for _, t := range list {
		vm.Tokens = append(vm.Tokens, admin.TokenRow{
			ID: t.ID, Name: t.Name, Hint: t.Hint, Status: t.Status(now),
			Created: t.CreatedAt.UTC().Format(timeLayout), LastUsed: lastUsed(t), Expires: orNever(t.ExpiresAt),
		})
	}
	return render(c, status, admin.Tokens(s.page(c, "Operator tokens"), vm))
}

func lastUsed(t optoken.Token) string {
	if t.LastUsedAt == nil {
		return "Never"
	}
	return t.LastUsedAt.UTC().Format(timeLayout) + " from " + t.LastUsedIP
}

func orNever(at *time.Time) string {
	if at == nil {
		return "Never"
	}
	return at.UTC().Format(timeLayout)
}

// adminCreateToken creates an operator token and shows it, once, on a page
// that is never stored.
func (s *Server) adminCreateToken(c echo.Context) error {
	f := admin.TokenForm{
		Name: strings.TrimSpace(c.FormValue("name")), ExpiresIn: strings.TrimSpace(c.FormValue("expires_in")),
		IPs: c.FormValue("ips"),
	}
	in := optoken.Input{Name: f.Name, CreatedBy: currentUser(c).Email}
	for _, l := range strings.FieldsFunc(f.IPs, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		in.IPs = append(in.IPs, l)
	}
	badExpiry := false
	if f.ExpiresIn != "" {
		d, err := config.ParseDuration(f.ExpiresIn)
		badExpiry = err != nil || d <= 0
		in.ExpiresIn = d
	}
	if badExpiry {
		f.Errors = in.Check()
		if f.Errors == nil {
			f.Errors = map[string]string{}
		}
		f.Errors["expires_in"] = "Enter a duration like 90d or 12h, or leave it empty."
		return s.renderTokens(c, statusOf(apperr.Invalid), admin.TokensPage{Form: f})
	}
	secret, t, err := s.tokens.Create(c.Request().Context(), in)
	if fields := apperr.FieldsOf(err); fields != nil {
		f.Errors = fields
		return s.renderTokens(c, statusOf(apperr.CodeOf(err)), admin.TokensPage{Form: f})
	}
	if err != nil {
		return err
	}
	s.logger.Info("operator token created", "token_id", t.ID, "token_name", t.Name, "by", in.CreatedBy)
	noStore(c)
	return s.renderTokens(c, http.StatusCreated, admin.TokensPage{Created: secret, Name: t.Name})
}

// adminTokenRevokeConfirm asks before revoking: a dialog for htmx, a page
// otherwise.
func (s *Server) adminTokenRevokeConfirm(c echo.Context) error {
	t, err := s.tokens.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	if t.RevokedAt != nil {
		return apperr.New(apperr.Conflict, "This token is already revoked.")
	}
	vm := admin.TokenConfirm{ID: t.ID, Name: t.Name, Hint: t.Hint, LastUsed: lastUsed(t), CSRFToken: csrfToken(c)}
	return dialog(s, c, http.StatusOK, "Revoke "+t.Name, admin.RevokeTokenModal, admin.RevokeTokenScreen, vm)
}

// adminTokenRevoke ends an operator token for good.
func (s *Server) adminTokenRevoke(c echo.Context) error {
	t, err := s.tokens.Revoke(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	s.logger.Info("operator token revoked", "token_id", t.ID, "token_name", t.Name, "by", currentUser(c).Email)
	s.sessions.addFlash(c, fmt.Sprintf("Revoked the token %s (%s).", t.Name, t.Hint))
	return redirect(c, "/admin/tokens")
}
