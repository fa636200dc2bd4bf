package web

import (
	"fmt"
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/views/components"
	"keyplane/views/keys"
)

// keyDisableConfirm asks before disabling: a dialog for htmx, a page
// otherwise. ?back=list returns to the keys list afterwards.
func (s *Server) keyDisableConfirm(c echo.Context) error {
	k, err := s.keys.Get(c.Request().Context(), currentMembership(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	if st := k.StatusAt(s.now()); st != apikey.Active && st != apikey.Expiring {
		return apperr.New(apperr.Conflict, "This key is %s and cannot be disabled.", st)
	}
	vm := s.confirmVM(c, k)
	vm.Back = backOf(c.QueryParam("back"))
	if vm.Requests24h, err = s.requests24h(c, k); err != nil {
		return err
	}
	return dialog(s, c, http.StatusOK, "Disable "+k.Description, keys.DisableModal, keys.DisableScreen, vm)
}

// keyDisable pauses a key until it is enabled again. Admins only.
func (s *Server) keyDisable(c echo.Context) error {
	m := currentMembership(c)
	k, err := s.keys.Disable(c.Request().Context(), m.ID, c.Param("id"), actor(c))
	if err != nil {
		return err
	}
	message := fmt.Sprintf("Disabled %s (%s): it is refused as disabled (key_disabled) until you enable it.", k.Hint, k.Description)
	if isHTMX(c) {
		if backOf(c.FormValue("back")) != keys.BackToList {
			return s.keyChanged(c, k, message)
		}
		// From the list: its rows reload, its count is swapped.
		h, err := s.listHeader(c)
		if err != nil {
			return err
		}
		c.Response().Header().Set("HX-Reswap", "none")
		c.Response().Header().Set("HX-Trigger", keys.ChangedEvt+", "+keys.CloseModalEvt)
		return render(c, http.StatusOK, templ.Join(keys.ListHeaderView(h, true), components.ToastOOB(message)))
	}
	s.sessions.addFlash(c, message)
	return redirect(c, afterKeyAction(c, m.Slug, k.ID))
}

// keyEnable lets a disabled key work again. It needs no confirmation:
// it only restores what an admin paused. Admins only.
func (s *Server) keyEnable(c echo.Context) error {
	m := currentMembership(c)
	k, err := s.keys.Enable(c.Request().Context(), m.ID, c.Param("id"), actor(c))
	if err != nil {
		return err
	}
	s.sessions.addFlash(c, fmt.Sprintf("Enabled %s (%s): it works again.", k.Hint, k.Description))
	return redirect(c, afterKeyAction(c, m.Slug, k.ID))
}

// backOf keeps a "back" value only if it is one the pages know.
func backOf(v string) string {
	if v == keys.BackToList {
		return v
	}
	return ""
}

// afterKeyAction is where a key action from a row or from the key's page
// goes back to.
func afterKeyAction(c echo.Context, slug, id string) string {
	if backOf(c.FormValue("back")) == keys.BackToList {
		return keys.ListURL(slug)
	}
	return keys.KeyURL(slug, id)
}
