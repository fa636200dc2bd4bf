package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/quota"
	"keyplane/views/components"
	"keyplane/views/keys"
)

// keyQuota is the key page's quota section: key k's own quota and its
// organization's, each read with what was spent in its current period.
func (s *Server) keyQuota(c echo.Context, k apikey.Key, now time.Time) (keys.QuotaSection, error) {
	ctx := c.Request().Context()
	m := currentMembership(c)
	q := keys.QuotaSection{OrgName: m.Name}
	if k.QuotaSpec() != nil {
		states, err := s.keys.QuotaStates(ctx, m.ID, []apikey.Key{k}, now)
		if err != nil {
			return q, err
		}
		if st, ok := states[k.ID]; ok {
			q.Key = quotaMeter("key-quota-text", st, k.ReportQuota, now)
			if st.Spec.Kind == quota.Credits && isOrgAdmin(c) && k.Editable(now) {
				q.CreditsURL = keys.CreditsURL(m.Slug, k.ID)
			}
		}
	}
	oq, err := s.keys.OrgQuota(ctx, m.ID, now)
	if err != nil {
		return q, err
	}
	if oq.State != nil {
		q.Org = quotaMeter("key-org-quota-text", *oq.State, oq.ReportOnly, now)
	}
	return q, nil
}

// keyCredits is the add-credits dialog of key k, whose quota stands at st.
func (s *Server) keyCredits(c echo.Context, k apikey.Key, st apikey.QuotaState) components.Credits {
	m := currentMembership(c)
	return components.Credits{
		Title: "Add credits to " + k.Description, Action: keys.CreditsURL(m.Slug, k.ID), Back: keys.KeyURL(m.Slug, k.ID),
		CSRFToken: csrfToken(c), Standing: quotaMeter("", st, false, s.now()).Text, Lasts: creditsLast(st),
	}
}

// keyCreditsState returns key id with the standing of its credits quota,
// or Conflict for a key without one or one that no longer works.
func (s *Server) keyCreditsState(c echo.Context, id string) (apikey.Key, apikey.QuotaState, error) {
	ctx := c.Request().Context()
	m := currentMembership(c)
	k, err := s.keys.Get(ctx, m.ID, id)
	if err != nil {
		return k, apikey.QuotaState{}, err
	}
	now := s.now()
	if spec := k.QuotaSpec(); spec == nil || spec.Kind != quota.Credits {
		return k, apikey.QuotaState{}, apperr.New(apperr.Conflict, "This key has no credits quota to add credits to.")
	}
	if !k.Editable(now) {
		return k, apikey.QuotaState{}, apperr.New(apperr.Conflict, "This key is %s and takes no more credits.", k.StatusAt(now))
	}
	states, err := s.keys.QuotaStates(ctx, m.ID, []apikey.Key{k}, now)
	if err != nil {
		return k, apikey.QuotaState{}, err
	}
	return k, states[k.ID], nil
}

// keyCreditsForm asks how many credits to add to a key's balance: a
// dialog for htmx, a page otherwise. Admins only.
func (s *Server) keyCreditsForm(c echo.Context) error {
	k, st, err := s.keyCreditsState(c, c.Param("id"))
	if err != nil {
		return err
	}
	vm := s.keyCredits(c, k, st)
	return dialog(s, c, http.StatusOK, vm.Title, components.CreditsModal, components.CreditsScreen, vm)
}

// keyCreditsAdd adds credits to a key's balance for its current period
// (audited). htmx gets the key page's quota section out of band and a
// toast; a bad amount is 422 with its message. Admins only.
func (s *Server) keyCreditsAdd(c echo.Context) error {
	m := currentMembership(c)
	amount := creditsAmount(c)
	k, err := s.keys.TopUp(c.Request().Context(), m.ID, c.Param("id"), amount, actor(c))
	if apperr.Is(err, apperr.Invalid) {
		old, st, serr := s.keyCreditsState(c, c.Param("id"))
		if serr != nil {
			return serr
		}
		return s.creditsRefused(c, s.keyCredits(c, old, st), err)
	}
	if err != nil {
		return err
	}
	message := fmt.Sprintf("Added %s to %s (%s).", apikey.Count(amount, "credit", "credits"), k.Hint, k.Description)
	if isHTMX(c) {
		q, err := s.keyQuota(c, k, s.now())
		if err != nil {
			return err
		}
		return closeDialog(c, message, keys.KeyQuota(q, true))
	}
	s.sessions.addFlash(c, message)
	return redirect(c, keys.KeyURL(m.Slug, k.ID))
}

// creditsRefused shows a credits dialog again with what was typed and why
// it was refused, with status 422.
func (s *Server) creditsRefused(c echo.Context, vm components.Credits, err error) error {
	vm.Amount, vm.Error = c.FormValue("amount"), apperr.FieldsOf(err)["amount"]
	if vm.Error == "" {
		vm.Error = apperr.MessageOf(err)
	}
	return dialog(s, c, statusOf(apperr.Invalid), vm.Title, components.CreditsModal, components.CreditsScreen, vm)
}
