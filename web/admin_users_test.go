package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestAdminDisableUserConfirms: Disable on the users page asks first, in a
// dialog for htmx and on a page without JavaScript, naming the user and
// what follows; only the POST, with its CSRF token, disables.
func TestAdminDisableUserConfirms(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		op := e.user("op@example.com", "Olivia", true)
		bob := e.user("bob@example.com", "Bob", false)
		acme := e.org("Acme", "acme", op.ID)
		e.addMember(acme.ID, bob.ID, org.Member)
		opc, bobc := e.client(), e.client()
		opc.mustLogin("op@example.com")
		bobc.mustLogin("bob@example.com")
		disabled := func() bool {
			t.Helper()
			u, err := e.accounts.UserByID(t.Context(), bob.ID)
			if err != nil {
				t.Fatal(err)
			}
			return u.Disabled()
		}

		// The list links to the confirmation; nothing posts from it.
		r := opc.get("/admin/users")
		wantStatus(t, r, http.StatusOK)
		link := r.doc.Find(`[data-testid="user-row"][data-user-id="` + bob.ID + `"] [data-testid="user-disable"]`)
		path := "/admin/users/" + bob.ID + "/disable"
		if link.Is("button") || link.AttrOr("href", "") != path || link.AttrOr("hx-get", "") != path || link.AttrOr("hx-target", "") != "#modal" {
			t.Fatalf("Disable is not a link to its confirmation: %s href %q hx-get %q", goquery.NodeName(link), link.AttrOr("href", ""), link.AttrOr("hx-get", ""))
		}
		if r.doc.Find(`form[action="`+path+`"]`).Length() != 0 {
			t.Fatal("the users page posts a disable without asking")
		}
		if r.doc.Find(`[data-testid="user-row"][data-user-id="`+op.ID+`"] [data-testid="user-disable"]`).Length() != 0 {
			t.Fatal("the operator's own row offers Disable")
		}

		// Without JavaScript: a whole page that names bob and what follows.
		page := opc.get(path)
		wantStatus(t, page, http.StatusOK)
		if page.testid("disable-user").Length() != 1 || page.doc.Find("nav").Length() == 0 {
			t.Fatalf("no confirmation page: %.300s", page.body)
		}
		text := page.testid("disable-user").Text()
		for _, want := range []string{"Disable Bob?", "bob@example.com", "sessions end at once", "cannot sign in"} {
			if !strings.Contains(text, want) {
				t.Errorf("the confirmation does not say %q: %q", want, text)
			}
		}
		form := page.doc.Find(`form[action="` + path + `"]`)
		if form.AttrOr("method", "") != "post" || form.Find(`[data-testid="confirm-disable-user"]`).Length() != 1 {
			t.Fatal("the confirmation page has no form posting the disable")
		}
		if disabled() {
			t.Fatal("asking disabled bob")
		}

		// With htmx: the dialog alone.
		d := opc.get(path, "HX-Request", "true")
		wantStatus(t, d, http.StatusOK)
		modal := d.testid("disable-user-modal")
		if modal.Length() != 1 || d.doc.Find("nav").Length() != 0 || modal.Find("form").AttrOr("hx-post", "") != path ||
			!strings.Contains(modal.Text(), "bob@example.com") || modal.Find("[data-close-modal]").Length() != 1 {
			t.Fatalf("no dialog: %.300s", d.body)
		}

		// Not for oneself, nor for an unknown user.
		wantStatus(t, opc.get("/admin/users/"+op.ID+"/disable"), http.StatusConflict)
		want404(t, opc.get("/admin/users/"+store.NewID()+"/disable"))

		// The POST needs its CSRF token.
		wantStatus(t, opc.postRaw(path, url.Values{}, "HX-Request", "true"), http.StatusForbidden)
		if disabled() {
			t.Fatal("a POST without CSRF token disabled bob")
		}
		r = opc.post(path, nil, "HX-Request", "true")
		wantStatus(t, r, http.StatusOK)
		if r.Header.Get("HX-Trigger") != "close-modal" || r.Header.Get("HX-Reswap") != "none" {
			t.Fatalf("HX-Trigger %q HX-Reswap %q", r.Header.Get("HX-Trigger"), r.Header.Get("HX-Reswap"))
		}
		table := r.doc.Find("#users-list")
		row := table.Find(`[data-testid="user-row"][data-user-id="` + bob.ID + `"]`)
		if table.AttrOr("hx-swap-oob", "") != "true" || strings.TrimSpace(row.Find(`[data-testid="user-status"]`).Text()) != "disabled" ||
			row.Find(`[data-testid="user-enable"]`).Length() != 1 {
			t.Fatalf("the users table is not swapped with bob disabled: %.500s", r.body)
		}
		if !strings.Contains(r.text("toast"), "Disabled bob@example.com.") {
			t.Fatalf("toast %q", r.text("toast"))
		}
		if !disabled() {
			t.Fatal("bob is not disabled")
		}
		wantRedirect(t, bobc.get("/account"), "/login?next=%2Faccount")
		// Already disabled: nothing to confirm.
		wantStatus(t, opc.get(path), http.StatusConflict)
	})
}
