package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"keyplane/internal/apikey"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/views/keys"
)

// oob returns the out-of-band swap with id in r, failing unless there is
// exactly one.
func oob(t *testing.T, r *resp, id string) *goquery.Selection {
	t.Helper()
	s := r.doc.Find(`[id="` + id + `"][hx-swap-oob]`)
	if s.Length() != 1 {
		t.Fatalf("%s %s: %d out-of-band #%s, want 1: %.600s", r.Request.Method, r.Request.URL.Path, s.Length(), id, r.body)
	}
	return s
}

// TestKeyMutationsSwapWhatTheyChange: over htmx, a create swaps the list's
// count; a rotate swaps the old key's header (its new status, no Rotate)
// and edit form; a revoke and a disable swap the header with who did it
// and when, close the dialog and say so in a toast. Swap target ids are
// the views' constants.
func TestKeyMutationsSwapWhatTheyChange(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		c := k.admin
		hx := []string{"HX-Request", "true"}

		// Create: the list's header now counts the key.
		r := c.post("/orgs/acme/keys", keyForm("Billing backend"), hx...)
		wantStatus(t, r, http.StatusOK)
		secret := revealed(t, r)
		head := oob(t, r, keys.ListHeaderID)
		if got := strings.TrimSpace(head.Find(`[data-testid="keys-usage"]`).Text()); got != "1 of 100 active keys" {
			t.Errorf("count after create %q", got)
		}
		if list := c.get("/orgs/acme/keys"); list.doc.Find("#"+keys.ListHeaderID).Length() != 1 {
			t.Error("the list has no element for the header swap to land on")
		}
		r = c.post("/orgs/acme/keys", keyForm("Second"), hx...)
		if got := strings.TrimSpace(oob(t, r, keys.ListHeaderID).Find(`[data-testid="keys-usage"]`).Text()); got != "2 of 100 active keys" {
			t.Errorf("count after a second create %q", got)
		}
		old := k.keyBySecret(secret)
		page := "/orgs/acme/keys/" + old.ID
		p := c.get(page)
		if p.doc.Find("#"+keys.KeyHeaderID).Length() != 1 || p.doc.Find("#"+keys.KeyEditID).Length() != 1 {
			t.Fatal("the key page lacks the header or edit swap targets")
		}
		if p.testid("rotate-key").Length() != 1 {
			t.Fatal("an active key offers no rotate")
		}

		// Rotate with 24 h of grace: the old key is expiring, replaced, and
		// can be neither rotated nor edited.
		form := url.Values{"grace": {"24h"}, "form_token": {randomToken(16)}}
		r = c.post(page+"/rotate", form, hx...)
		wantStatus(t, r, http.StatusOK)
		next := revealed(t, r)
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Error("rotate reveal is cacheable")
		}
		h := oob(t, r, keys.KeyHeaderID)
		if got := h.Find(`[data-testid="key-status"]`).Text(); got != "expiring" {
			t.Errorf("old key's status after rotate %q, want expiring", got)
		}
		if h.Find(`[data-testid="rotate-key"]`).Length() != 0 {
			t.Error("the old key still offers Rotate after its rotation")
		}
		if succ := h.Find(`[data-testid="successor"] a`); succ.AttrOr("href", "") != "/orgs/acme/keys/"+k.keyBySecret(next).ID {
			t.Errorf("the old key's header does not link its successor: %q", succ.AttrOr("href", ""))
		}
		if oob(t, r, keys.KeyEditID).Find(`[data-testid="key-edit"]`).Length() != 0 {
			t.Error("a replaced key still offers its edit form")
		}

		// Revoke the successor from its page: the header says revoked, by
		// whom, without actions; the dialog closes and a toast says so.
		succ := k.keyBySecret(next)
		r = c.post("/orgs/acme/keys/"+succ.ID+"/revoke", nil, hx...)
		wantStatus(t, r, http.StatusOK)
		if r.Header.Get("HX-Reswap") != "none" || r.Header.Get("HX-Trigger") != keys.CloseModalEvt {
			t.Errorf("revoke answers HX-Reswap %q HX-Trigger %q", r.Header.Get("HX-Reswap"), r.Header.Get("HX-Trigger"))
		}
		h = oob(t, r, keys.KeyHeaderID)
		if got := h.Find(`[data-testid="key-status"]`).Text(); got != "revoked" {
			t.Errorf("status after revoke %q", got)
		}
		if got := h.Find(`[data-testid="key-revoked"]`).Text(); !strings.Contains(got, "by Alice (alice@example.com)") || !strings.Contains(got, "just now") {
			t.Errorf("revoked notice %q does not say when and by whom", got)
		}
		if h.Find(`[data-testid="revoke-key"],[data-testid="rotate-key"],[data-testid="disable-key"]`).Length() != 0 {
			t.Error("a revoked key's header still offers actions")
		}
		if toast := r.doc.Find(`[hx-swap-oob="beforeend:#toasts"] [role="status"]`); !strings.Contains(toast.Text(), "Revoked "+succ.Hint) {
			t.Errorf("no toast after revoke: %q", toast.Text())
		}
		if r.testid("reveal-modal").Length() != 0 || r.testid("revoke-modal").Length() != 0 {
			t.Error("revoke answered with a dialog")
		}
		// The page, read again, agrees.
		if got := c.get("/orgs/acme/keys/" + succ.ID).text("key-revoked"); !strings.Contains(got, "Alice (alice@example.com)") {
			t.Errorf("the revoked key's page says %q", got)
		}

		// Disable from the key page: the header says paused, by whom, and
		// offers Enable.
		second := k.newKey(k.acme.ID, apikey.Input{Description: "Worker"})
		r = c.post("/orgs/acme/keys/"+second.ID+"/disable", nil, hx...)
		wantStatus(t, r, http.StatusOK)
		h = oob(t, r, keys.KeyHeaderID)
		if h.Find(`[data-testid="key-status"]`).Text() != "disabled" || h.Find(`[data-testid="enable-key"]`).Length() != 1 {
			t.Errorf("header after disable: %s", h.Text())
		}
		if got := h.Find(`[data-testid="key-disabled"]`).Text(); !strings.Contains(got, "by Alice (alice@example.com)") {
			t.Errorf("disabled notice %q", got)
		}

		// Disable from the list: the rows reload, the header is swapped.
		third := k.newKey(k.acme.ID, apikey.Input{Description: "Cron"})
		r = c.post("/orgs/acme/keys/"+third.ID+"/disable", url.Values{"back": {keys.BackToList}}, hx...)
		wantStatus(t, r, http.StatusOK)
		if trig := r.Header.Get("HX-Trigger"); !strings.Contains(trig, keys.ChangedEvt) || !strings.Contains(trig, keys.CloseModalEvt) {
			t.Errorf("disable from the list triggers %q", trig)
		}
		if got := strings.TrimSpace(oob(t, r, keys.ListHeaderID).Find(`[data-testid="keys-usage"]`).Text()); got != "3 of 100 active keys" {
			t.Errorf("count after disable %q (disabled keys still count against the limit)", got)
		}

		// Without htmx, the same actions still redirect.
		fourth := k.newKey(k.acme.ID, apikey.Input{Description: "Plain"})
		wantRedirect(t, c.post("/orgs/acme/keys/"+fourth.ID+"/revoke", nil), "/orgs/acme/keys/"+fourth.ID)
	})
}
