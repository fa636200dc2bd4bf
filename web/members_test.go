package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// membersEnv is Acme with Ann as admin and Bob as member.
func membersEnv(t *testing.T, db *store.DB) (e *env, acme org.Organization, annID, bobID string) {
	e = newEnv(t, db, nil)
	ann := e.user("ann@example.com", "Ann", false)
	bob := e.user("bob@example.com", "Bob", false)
	acme = e.org("Acme", "acme", ann.ID)
	e.addMember(acme.ID, bob.ID, org.Member)
	return e, acme, ann.ID, bob.ID
}

func roleIn(t *testing.T, e *env, orgID, userID string) org.Role {
	t.Helper()
	var m org.Membership
	if err := e.db.Where("org_id = ? AND user_id = ?", orgID, userID).Take(&m).Error; err != nil {
		t.Fatalf("membership: %v", err)
	}
	return m.Role
}

func TestMembersList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, _, annID, bobID := membersEnv(t, db)

		member := e.client()
		member.mustLogin("bob@example.com")
		r := member.get("/orgs/acme/members")
		wantStatus(t, r, http.StatusOK)
		if n := r.testid("member-row").Length(); n != 2 {
			t.Fatalf("%d member rows, want 2", n)
		}
		row := r.doc.Find(`[data-testid="member-row"][data-user-id="` + annID + `"]`)
		if got := strings.TrimSpace(row.Find(`[data-testid="member-email"]`).Text()); got != "ann@example.com" {
			t.Fatalf("ann's email %q", got)
		}
		if got := strings.TrimSpace(row.Find(`[data-testid="member-role"]`).Text()); got != "admin" {
			t.Fatalf("ann's role %q", got)
		}
		// Bob has signed in; Ann never has.
		if got := strings.TrimSpace(row.Find(`[data-testid="member-last-login"]`).Text()); got != "Never" {
			t.Fatalf("ann's last login %q, want Never", got)
		}
		bobRow := r.doc.Find(`[data-testid="member-row"][data-user-id="` + bobID + `"]`)
		if got := strings.TrimSpace(bobRow.Find(`[data-testid="member-last-login"]`).Text()); got == "Never" || got == "" {
			t.Fatalf("bob's last login %q, want a time", got)
		}
		if r.testid("role-form").Length() != 0 || r.testid("remove-member").Length() != 0 || r.testid("invite-form").Length() != 0 {
			t.Fatal("a member sees admin controls")
		}
		if r.testid("nav-members").Length() != 1 {
			t.Fatal("no Members link in the navigation")
		}

		admin := e.client()
		admin.mustLogin("ann@example.com")
		r = admin.get("/orgs/acme/members")
		wantStatus(t, r, http.StatusOK)
		if r.testid("invite-form").Length() != 1 {
			t.Fatal("no invite form for the admin")
		}
		if got := r.text("members-count"); got != "2 members, 1 admin" {
			t.Fatalf("counts %q", got)
		}
		// Ann's own row: "You", and neither a role control nor Remove.
		own := r.doc.Find(`[data-testid="member-row"][data-user-id="` + annID + `"]`)
		if own.Find(`[data-testid="member-you"]`).Length() != 1 {
			t.Fatal("the admin's own row does not say You")
		}
		if own.Find(`form, select, button, [data-testid="remove-member"]`).Length() != 0 {
			t.Fatalf("the admin's own row has controls: %s", own.Text())
		}
		// Bob's row: one compact role button and a Remove that asks first.
		other := r.doc.Find(`[data-testid="member-row"][data-user-id="` + bobID + `"]`)
		if other.Find(`[data-testid="member-you"]`).Length() != 0 {
			t.Fatal("another member's row says You")
		}
		form := other.Find(`[data-testid="role-form"]`)
		if form.Length() != 1 || form.AttrOr("hx-post", "") != "/orgs/acme/members/"+bobID+"/role" ||
			form.Find(`input[name="role"]`).AttrOr("value", "") != "admin" || form.Find(`[data-testid="make-admin"]`).Length() != 1 {
			t.Fatalf("bob's role form: %d forms, hx-post %q", form.Length(), form.AttrOr("hx-post", ""))
		}
		if n := r.testid("role-form").Length(); n != 1 {
			t.Fatalf("%d role forms for the admin, want 1 (not on their own row)", n)
		}
		remove := other.Find(`[data-testid="remove-member"]`)
		if remove.AttrOr("href", "") != "/orgs/acme/members/"+bobID+"/remove" || remove.AttrOr("hx-get", "") != remove.AttrOr("href", "") ||
			remove.AttrOr("hx-target", "") != "#modal" {
			t.Fatalf("Remove link href %q hx-get %q hx-target %q", remove.AttrOr("href", ""), remove.AttrOr("hx-get", ""), remove.AttrOr("hx-target", ""))
		}
	})
}

func TestMemberRoleChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, acme, annID, bobID := membersEnv(t, db)
		admin := e.client()
		admin.mustLogin("ann@example.com")
		admin.get("/orgs/acme/members")

		r := admin.post("/orgs/acme/members/"+bobID+"/role", url.Values{"role": {"admin"}})
		wantRedirect(t, r, "/orgs/acme/members")
		if got := roleIn(t, e, acme.ID, bobID); got != org.Admin {
			t.Fatalf("bob is %s, want admin", got)
		}
		page := admin.get("/orgs/acme/members")
		if !strings.Contains(page.body, "bob@example.com is now an admin.") {
			t.Fatal("no flash after the role change")
		}
		var n int64
		e.db.Table("audit_events").Where("action = ? AND target_id = ?", audit.MemberRoleChanged, bobID).Count(&n)
		if n != 1 {
			t.Fatalf("%d role_changed events, want 1", n)
		}

		// Bob, now an admin, may demote Ann; then Bob is the last admin.
		bob := e.client()
		bob.mustLogin("bob@example.com")
		bob.get("/orgs/acme/members")
		wantRedirect(t, bob.post("/orgs/acme/members/"+annID+"/role", url.Values{"role": {"member"}}), "/orgs/acme/members")
		if got := roleIn(t, e, acme.ID, annID); got != org.Member {
			t.Fatalf("ann is %s, want member", got)
		}
		// Ann, now a member, gets 403.
		wantStatus(t, admin.post("/orgs/acme/members/"+bobID+"/role", url.Values{"role": {"member"}}), http.StatusForbidden)
		wantStatus(t, bob.post("/orgs/acme/members/"+annID+"/role", url.Values{"role": {"owner"}}), http.StatusUnprocessableEntity)
	})
}

func TestLastAdminProtected(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, acme, annID, _ := membersEnv(t, db)
		admin := e.client()
		admin.mustLogin("ann@example.com")
		admin.get("/orgs/acme/members")

		// Refusals are errors: role="alert", never the success banner.
		refused := func(t *testing.T, r *resp) {
			t.Helper()
			wantStatus(t, r, http.StatusConflict)
			alert := r.testid("members-error")
			if alert.AttrOr("role", "") != "alert" || !strings.Contains(alert.Text(), "last admin") {
				t.Fatalf("no last-admin error with role=alert: %q", alert.Text())
			}
			if st := r.doc.Find(`[role="status"]`); strings.Contains(st.Text(), "last admin") {
				t.Fatalf("the refusal is shown as a success: %q", st.Text())
			}
			if r.testid("members-table").Length() != 1 {
				t.Fatal("the refusal page has no members list")
			}
		}
		refused(t, admin.post("/orgs/acme/members/"+annID+"/role", url.Values{"role": {"member"}}))
		if got := roleIn(t, e, acme.ID, annID); got != org.Admin {
			t.Fatalf("the last admin was demoted to %s", got)
		}
		refused(t, admin.post("/orgs/acme/members/"+annID+"/remove", nil))
		if got := roleIn(t, e, acme.ID, annID); got != org.Admin {
			t.Fatalf("the last admin is %s after removal attempt", got)
		}
		// The next page carries no leftover message.
		if page := admin.get("/orgs/acme/members"); strings.Contains(page.body, "last admin") {
			t.Fatal("the refusal reappears on the next page")
		}

		// htmx: an error toast for the role button, the dialog with an
		// error for a removal.
		r := admin.post("/orgs/acme/members/"+annID+"/role", url.Values{"role": {"member"}}, "HX-Request", "true")
		wantStatus(t, r, http.StatusConflict)
		if toast := r.doc.Find(`.toast-error[role="alert"]`); !strings.Contains(toast.Text(), "last admin") {
			t.Fatalf("htmx refusal: %.300s", r.body)
		}
		r = admin.post("/orgs/acme/members/"+annID+"/remove", nil, "HX-Request", "true")
		wantStatus(t, r, http.StatusConflict)
		if r.testid("remove-modal").Length() != 1 || !strings.Contains(r.doc.Find(`[role="alert"]`).Text(), "last admin") {
			t.Fatalf("htmx removal refusal: %.300s", r.body)
		}

		var n int64
		e.db.Table("audit_events").Where("action IN ?", []string{audit.MemberRoleChanged, audit.MemberRemoved}).Count(&n)
		if n != 0 {
			t.Fatalf("%d events recorded for refused changes", n)
		}
	})
}

// TestMemberHTMX: a role change and a removal made with htmx answer with
// the list and its counts, out of band, and a toast; the removal asks in a
// dialog first.
func TestMemberHTMX(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, acme, _, bobID := membersEnv(t, db)
		admin := e.client()
		admin.mustLogin("ann@example.com")
		admin.get("/orgs/acme/members")

		r := admin.post("/orgs/acme/members/"+bobID+"/role", url.Values{"role": {"admin"}}, "HX-Request", "true")
		wantStatus(t, r, http.StatusOK)
		if r.Header.Get("HX-Reswap") != "none" {
			t.Fatalf("HX-Reswap %q", r.Header.Get("HX-Reswap"))
		}
		list := r.doc.Find("#members-list")
		if list.AttrOr("hx-swap-oob", "") != "true" || strings.TrimSpace(list.Find(`[data-testid="members-count"]`).Text()) != "2 members, 2 admins" {
			t.Fatalf("no out-of-band list with the new counts: %.500s", r.body)
		}
		bobRow := list.Find(`[data-testid="member-row"][data-user-id="` + bobID + `"]`)
		if strings.TrimSpace(bobRow.Find(`[data-testid="member-role"]`).Text()) != "admin" || bobRow.Find(`[data-testid="make-member"]`).Length() != 1 {
			t.Fatal("bob's row is not swapped as an admin")
		}
		if toast := r.testid("toast"); toast.AttrOr("role", "") != "status" || !strings.Contains(toast.Text(), "bob@example.com is now an admin.") {
			t.Fatalf("toast %q", toast.Text())
		}
		if got := roleIn(t, e, acme.ID, bobID); got != org.Admin {
			t.Fatalf("bob is %s", got)
		}

		// The dialog names the person and what follows.
		d := admin.get("/orgs/acme/members/"+bobID+"/remove", "HX-Request", "true")
		wantStatus(t, d, http.StatusOK)
		modal := d.testid("remove-modal")
		if modal.Length() != 1 || d.doc.Find("nav").Length() != 0 {
			t.Fatalf("no dialog alone: %.300s", d.body)
		}
		if got := strings.TrimSpace(modal.Find("h2").Text()); got != "Remove Bob from Acme?" {
			t.Fatalf("dialog title %q", got)
		}
		if !strings.Contains(modal.Text(), "lose access to Acme at once") || d.text("confirm-email") != "bob@example.com" {
			t.Fatalf("dialog text %q", modal.Text())
		}
		form := modal.Find("form")
		if form.AttrOr("hx-post", "") != "/orgs/acme/members/"+bobID+"/remove" || form.AttrOr("action", "") != form.AttrOr("hx-post", "") ||
			form.Find(`[data-close-modal]`).Length() != 1 {
			t.Fatalf("dialog form hx-post %q action %q", form.AttrOr("hx-post", ""), form.AttrOr("action", ""))
		}

		// Without a CSRF token nothing happens.
		wantStatus(t, admin.postRaw("/orgs/acme/members/"+bobID+"/remove", nil, "HX-Request", "true"), http.StatusForbidden)
		if e.count("memberships") != 2 {
			t.Fatal("a removal without CSRF token went through")
		}
		r = admin.post("/orgs/acme/members/"+bobID+"/remove", nil, "HX-Request", "true")
		wantStatus(t, r, http.StatusOK)
		if r.Header.Get("HX-Trigger") != "close-modal" || r.Header.Get("HX-Reswap") != "none" {
			t.Fatalf("HX-Trigger %q HX-Reswap %q", r.Header.Get("HX-Trigger"), r.Header.Get("HX-Reswap"))
		}
		list = r.doc.Find("#members-list")
		if list.Find(`[data-testid="member-row"]`).Length() != 1 || strings.TrimSpace(list.Find(`[data-testid="members-count"]`).Text()) != "1 member, 1 admin" {
			t.Fatalf("the swapped list still holds bob: %.500s", r.body)
		}
		if !strings.Contains(r.text("toast"), "Removed bob@example.com from Acme.") {
			t.Fatalf("toast %q", r.text("toast"))
		}
		if e.count("memberships") != 1 {
			t.Fatalf("%d memberships, want 1", e.count("memberships"))
		}
	})
}

func TestMemberRemovalEndsAccess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, _, _, bobID := membersEnv(t, db)
		bob := e.client()
		bob.mustLogin("bob@example.com")
		wantStatus(t, bob.get("/orgs/acme/keys"), http.StatusOK)

		admin := e.client()
		admin.mustLogin("ann@example.com")
		r := admin.get("/orgs/acme/members/" + bobID + "/remove")
		wantStatus(t, r, http.StatusOK)
		if got := r.text("confirm-email"); got != "bob@example.com" {
			t.Fatalf("confirmation names %q", got)
		}
		wantRedirect(t, admin.post("/orgs/acme/members/"+bobID+"/remove", nil), "/orgs/acme/members")
		if e.count("memberships") != 1 {
			t.Fatalf("%d memberships, want 1", e.count("memberships"))
		}
		var n int64
		e.db.Table("audit_events").Where("action = ? AND target_id = ?", audit.MemberRemoved, bobID).Count(&n)
		if n != 1 {
			t.Fatalf("%d removed events, want 1", n)
		}
		// Bob's very next request, with the same session, is refused.
		want404(t, bob.get("/orgs/acme/keys"))
		want404(t, bob.get("/orgs/acme/members"))
		// Removing again is 404.
		want404(t, admin.post("/orgs/acme/members/"+bobID+"/remove", nil))
	})
}

// invite posts the invite form as Ann and returns the link's path.
func inviteAs(t *testing.T, c *client, email, role string) string {
	t.Helper()
	c.get("/orgs/acme/members")
	r := c.post("/orgs/acme/invites", url.Values{"email": {email}, "role": {role}})
	wantStatus(t, r, http.StatusOK)
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q, want no-store", cc)
	}
	link, _ := r.testid("invite-link").Attr("value")
	if r.doc.Find(`[data-copy-target="invite-link"]`).Length() != 1 {
		t.Fatal("no copy button")
	}
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(u.Path, "/invites/") {
		t.Fatalf("invite link %q", link)
	}
	return u.Path
}

func TestInviteAcceptNewUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, acme, _, _ := membersEnv(t, db)
		admin := e.client()
		admin.mustLogin("ann@example.com")
		path := inviteAs(t, admin, "  Cara@Example.com ", "member")
		token := strings.TrimPrefix(path, "/invites/")

		// Only the hash is stored.
		var inv struct {
			Email     string
			TokenHash []byte
		}
		if err := e.db.Table("invites").Select("email, token_hash").Take(&inv).Error; err != nil {
			t.Fatal(err)
		}
		if inv.Email != "cara@example.com" || len(inv.TokenHash) != 32 || strings.Contains(string(inv.TokenHash), token) {
			t.Fatalf("stored invite %+v", inv)
		}
		var n int64
		e.db.Table("invites").Where("token_hash = ?", []byte(token)).Count(&n)
		if n != 0 {
			t.Fatal("the token is stored in plain")
		}
		if page := admin.get("/orgs/acme/members"); page.testid("invite-row").Length() != 1 {
			t.Fatal("pending invite not listed")
		}

		cara := e.client()
		r := cara.get(path)
		wantStatus(t, r, http.StatusOK)
		if r.testid("signup-form").Length() != 1 {
			t.Fatalf("no sign-up form: %.500s", r.body)
		}
		wantStatus(t, cara.post(path, url.Values{"name": {"Cara"}, "password": {"short"}}), http.StatusUnprocessableEntity)
		r = cara.post(path, url.Values{"name": {"Cara"}, "password": {testPassword}})
		wantRedirect(t, r, "/orgs/acme/keys")
		wantStatus(t, cara.get("/orgs/acme/keys"), http.StatusOK)
		u, err := e.accounts.UserByEmail(t.Context(), "cara@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if got := roleIn(t, e, acme.ID, u.ID); got != org.Member {
			t.Fatalf("cara is %s", got)
		}
		for _, a := range []string{audit.MemberInvited, audit.MemberJoined} {
			e.db.Table("audit_events").Where("action = ?", a).Count(&n)
			if n != 1 {
				t.Fatalf("%d %s events, want 1", n, a)
			}
		}
		// Used: 404 for everyone, and a second sign-up makes nothing.
		want404(t, e.client().get(path))
		want404(t, cara.get(path))
		users := e.count("users")
		want404(t, e.client().post(path, url.Values{"name": {"Cara Again"}, "password": {testPassword}}))
		if e.count("users") != users {
			t.Fatal("a second sign-up with a used link made an account")
		}
		if page := admin.get("/orgs/acme/members"); page.testid("invite-row").Length() != 0 {
			t.Fatal("used invite still listed")
		}
	})
}

func TestInviteExpiresAndRevokes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, _, _, _ := membersEnv(t, db)
		admin := e.client()
		admin.mustLogin("ann@example.com")

		revoked := inviteAs(t, admin, "dan@example.com", "member")
		var id string
		e.db.Table("invites").Select("id").Where("email = ?", "dan@example.com").Take(&id)
		admin.get("/orgs/acme/members")
		wantRedirect(t, admin.post("/orgs/acme/invites/"+id+"/revoke", nil), "/orgs/acme/members")
		want404(t, e.client().get(revoked))
		want404(t, e.client().post(revoked, url.Values{"name": {"Dan"}, "password": {testPassword}}))

		expiring := inviteAs(t, admin, "eve@example.com", "admin")
		wantStatus(t, e.client().get(expiring), http.StatusOK)
		e.clock.Advance(7*24*time.Hour + time.Second)
		want404(t, e.client().get(expiring))
		if n := e.count("users"); n != 2 {
			t.Fatalf("%d users, want 2", n)
		}
	})
}

func TestInviteExistingMemberAndSignedIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, acme, _, _ := membersEnv(t, db)
		admin := e.client()
		admin.mustLogin("ann@example.com")
		admin.get("/orgs/acme/members")
		r := admin.post("/orgs/acme/invites", url.Values{"email": {"BOB@example.com"}, "role": {"member"}})
		wantStatus(t, r, http.StatusConflict)
		if !strings.Contains(r.text("error-email"), "already a member") {
			t.Fatalf("no already-a-member message: %q", r.text("form-error"))
		}
		if n := e.count("invites"); n != 0 {
			t.Fatalf("%d invites for an existing member", n)
		}

		// An existing user elsewhere joins with one button; another user is told.
		fay := e.user("fay@example.com", "Fay", false)
		path := inviteAs(t, admin, "fay@example.com", "member")
		anon := e.client().get(path)
		if anon.testid("invite-sign-in").Length() != 1 {
			t.Fatal("anonymous visitor with an account not told to sign in")
		}
		wrong := e.client()
		wrong.mustLogin("bob@example.com")
		if wrong.get(path).testid("invite-mismatch").Length() != 1 {
			t.Fatal("another signed-in user not told")
		}
		wantStatus(t, wrong.post(path, nil), http.StatusForbidden)
		c := e.client()
		c.mustLogin("fay@example.com")
		if c.get(path).testid("accept-invite").Length() != 1 {
			t.Fatal("no join button")
		}
		wantRedirect(t, c.post(path, nil), "/orgs/acme/keys")
		if got := roleIn(t, e, acme.ID, fay.ID); got != org.Member {
			t.Fatalf("fay is %s", got)
		}
	})
}
