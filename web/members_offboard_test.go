package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// offboardEnv is Acme with Ann and Bob as admins, Dave as a member and Eve,
// a member who made no key; Carol is the admin of another organization.
// Bob created Billing and Reports and rotated Ann's Shared key; Ann made
// her own key.
type offboardEnv struct {
	*env
	acme                    org.Organization
	bobID, eveID            string
	ann, dave, carol, bob   *client
	billing, reports, share apikey.Key // share is the successor Bob made
	annKey                  apikey.Key
}

func newOffboardEnv(t *testing.T, db *store.DB) *offboardEnv {
	t.Helper()
	e := newEnv(t, db, nil)
	ctx := context.Background()
	ann := e.user("ann@example.com", "Ann", false)
	bob := e.user("bob@example.com", "Bob", false)
	dave := e.user("dave@example.com", "Dave", false)
	eve := e.user("eve@example.com", "Eve", false)
	carol := e.user("carol@example.com", "Carol", false)
	o := &offboardEnv{env: e, bobID: bob.ID, eveID: eve.ID}
	o.acme = e.org("Acme", "acme", ann.ID)
	e.addMember(o.acme.ID, bob.ID, org.Admin)
	e.addMember(o.acme.ID, dave.ID, org.Member)
	e.addMember(o.acme.ID, eve.ID, org.Member)
	e.org("Other", "other", carol.ID)
	asBob := audit.Actor{UserID: bob.ID, Email: bob.Email}
	asAnn := audit.Actor{UserID: ann.ID, Email: ann.Email}
	mk := func(desc string, a audit.Actor) apikey.Key {
		c, err := e.keys.Create(ctx, o.acme.ID, "", apikey.Input{Description: desc, Kind: "private", Environment: "live"}, a)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
		return c.Key
	}
	o.billing, o.reports = mk("Billing", asBob), mk("Reports", asBob)
	shared := mk("Shared", asAnn)
	n, _, err := e.keys.Rotate(ctx, o.acme.ID, shared.ID, "0", "", asBob)
	if err != nil {
		t.Fatal(err)
	}
	o.share = n.Key
	o.annKey = mk("Ann's own", asAnn)
	for _, who := range []struct {
		c     **client
		email string
	}{{&o.ann, ann.Email}, {&o.dave, dave.Email}, {&o.carol, carol.Email}, {&o.bob, bob.Email}} {
		*who.c = e.client()
		(*who.c).mustLogin(who.email)
	}
	return o
}

func (o *offboardEnv) removeURL(userID string) string {
	return "/orgs/acme/members/" + userID + "/remove"
}

// offboardKeyIDs are the keys the dialog offers, and whether each is ticked.
func offboardKeyIDs(r *resp) map[string]bool {
	out := map[string]bool{}
	r.doc.Find(`[data-testid="offboard-key"] input[type="checkbox"][name="rotate"]`).Each(func(_ int, s *goquery.Selection) {
		_, on := s.Attr("checked")
		out[s.AttrOr("value", "")] = on
	})
	return out
}

// The remove dialog lists the keys the member created or rotated, each
// ticked, with 24 hours of grace; confirming removes them and rotates the
// ticked keys in one request, shows the new keys once and says which could
// not be rotated and why.
func TestMemberRemoveRotatesKeys(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		o := newOffboardEnv(t, db)
		ctx := context.Background()
		bobURL := o.removeURL(o.bobID)

		for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
			r := o.ann.get(bobURL, hdr...)
			wantStatus(t, r, http.StatusOK)
			got := offboardKeyIDs(r)
			if len(got) != 3 || !got[o.billing.ID] || !got[o.reports.ID] || !got[o.share.ID] {
				t.Fatalf("dialog %v offers %v, want Billing, Reports and Bob's Shared, all ticked", hdr, got)
			}
			if _, on := r.doc.Find(`input[name="grace"][value="24h"]`).Attr("checked"); !on {
				t.Errorf("dialog %v: 24 hours is not the grace proposed", hdr)
			}
			if r.doc.Find(`input[name="form_token"]`).AttrOr("value", "") == "" {
				t.Errorf("dialog %v: no single-use form token", hdr)
			}
			if !strings.Contains(r.text("confirm-remove"), "Remove and rotate") {
				t.Errorf("dialog %v: button %q", hdr, r.text("confirm-remove"))
			}
			r.doc.Find(`[data-testid="offboard-key"] input`).Each(func(_ int, s *goquery.Selection) {
				if r.doc.Find(`label[for="`+s.AttrOr("id", "")+`"]`).Length() != 1 {
					t.Errorf("dialog %v: a key's checkbox has no label", hdr)
				}
			})
		}

		form := url.Values{"rotate": {o.billing.ID, o.reports.ID, o.share.ID}, "grace": {"24h"}, "form_token": {randomToken(16)}}
		// Members: 403; another org's admin: 404; no CSRF token: 403.
		wantStatus(t, o.dave.get(bobURL), http.StatusForbidden)
		wantStatus(t, o.dave.post(bobURL, form), http.StatusForbidden)
		want404(t, o.carol.get(bobURL))
		want404(t, o.carol.post(bobURL, form))
		wantStatus(t, o.ann.postRaw(bobURL, form), http.StatusForbidden)
		// A bad grace: 422 with the dialog, nothing happens.
		bad := url.Values{"rotate": {o.billing.ID}, "grace": {"2h"}, "form_token": {randomToken(16)}}
		r := o.ann.post(bobURL, bad)
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if !strings.Contains(r.text("form-error"), "Choose when the old keys stop working") {
			t.Errorf("bad grace: error %q", r.text("form-error"))
		}
		if got := offboardKeyIDs(r); !got[o.billing.ID] || got[o.reports.ID] {
			t.Errorf("the refused dialog lost the choices: %v", got)
		}
		if n := o.count("memberships"); n != 5 {
			t.Fatalf("%d memberships after refused removals, want 5", n)
		}
		if n := o.count("api_keys"); n != 5 {
			t.Fatalf("%d keys after refused removals, want 5", n)
		}
		wantStatus(t, o.bob.get("/orgs/acme/keys"), http.StatusOK)

		// Reports is revoked meanwhile.
		if _, err := o.keys.Revoke(ctx, o.acme.ID, o.reports.ID, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		now := o.clock.Now()
		r = o.ann.post(bobURL, form)
		wantStatus(t, r, http.StatusOK)
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		if r.doc.Find(`[hx-history="false"]`).Length() == 0 || isFragment(r) {
			t.Error("the result without htmx is not a page kept out of htmx's history")
		}
		if !strings.Contains(r.text("offboard-removed"), "bob@example.com no longer has access to Acme") {
			t.Errorf("removed %q", r.text("offboard-removed"))
		}
		var secrets []string
		r.testid("revealed-key").Each(func(_ int, s *goquery.Selection) { secrets = append(secrets, s.AttrOr("value", "")) })
		if len(secrets) != 2 {
			t.Fatalf("%d keys revealed, want 2 (Billing and Shared): %.600s", len(secrets), r.body)
		}
		replaced := map[string]bool{}
		for _, sec := range secrets {
			k := o.keyBySecret(sec)
			if k.ReplacesID == nil || k.CreatedByID == nil || *k.CreatedByID == o.bobID {
				t.Fatalf("revealed key %s: replaces %v, created by %v", k.Hint, k.ReplacesID, k.CreatedByID)
			}
			replaced[*k.ReplacesID] = true
			if !strings.Contains(r.text("offboard-env"), "="+sec) {
				t.Errorf("the .env lines lack %s", k.Hint)
			}
		}
		if !replaced[o.billing.ID] || !replaced[o.share.ID] {
			t.Errorf("the new keys replace %v, want Billing and Shared", replaced)
		}
		if !strings.Contains(r.text("offboard-env"), "KEYPLANE_API_KEY_BILLING=") {
			t.Errorf(".env lines %q", r.text("offboard-env"))
		}
		failed := r.testid("offboard-failed")
		if failed.AttrOr("role", "") != "alert" || failed.Find(`[data-testid="offboard-failed-key"]`).Length() != 1 ||
			!strings.Contains(failed.Text(), o.reports.Hint) || !strings.Contains(failed.Text(), "revoked") {
			t.Errorf("failed keys %q", failed.Text())
		}
		for _, id := range []string{o.billing.ID, o.share.ID} {
			if k := o.reload(id); !k.InGrace(now) || !k.GraceUntil.Equal(now.Add(24*time.Hour)) {
				t.Errorf("old key %s: grace until %v, want in 24 hours", k.Hint, k.GraceUntil)
			}
		}
		if k := o.reload(o.annKey.ID); k.ReplacedByID != nil {
			t.Error("Ann's own key was rotated")
		}
		var removed, rotated int64
		o.db.Model(&audit.Event{}).Where("action = ? AND target_id = ? AND actor_email = ?", audit.MemberRemoved, o.bobID, "ann@example.com").Count(&removed)
		o.db.Model(&audit.Event{}).Where("action = ? AND actor_email = ?", audit.KeyRotated, "ann@example.com").Count(&rotated)
		if removed != 1 || rotated != 2 {
			t.Errorf("audit: %d member.removed and %d key.rotated by Ann, want 1 and 2", removed, rotated)
		}

		// Bob's very next request is refused.
		want404(t, o.bob.get("/orgs/acme/keys"))
		// A reload re-posts the form: 404, nothing rotated again, no key shown.
		keysBefore := o.count("api_keys")
		r = o.ann.post(bobURL, form)
		want404(t, r)
		if o.count("api_keys") != keysBefore {
			t.Error("a re-posted form made keys")
		}
		for _, page := range []string{"/orgs/acme/members", "/orgs/acme/keys", "/orgs/acme/audit"} {
			body := o.ann.get(page).body
			for _, sec := range secrets {
				if strings.Contains(body, sec) {
					t.Errorf("%s shows a new key again", page)
				}
			}
		}
	})
}

// With htmx the result is a guarded dialog with the list swapped out of
// band; an unticked key stays as it is; someone with no key is told
// there is nothing to rotate; an admin leaving rotates nothing.
func TestMemberRemoveRotatesHTMX(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		o := newOffboardEnv(t, db)
		r := o.ann.get(o.removeURL(o.eveID), "HX-Request", "true")
		wantStatus(t, r, http.StatusOK)
		if !strings.Contains(r.text("offboard-none"), "created or rotated no active key") || len(offboardKeyIDs(r)) != 0 ||
			!strings.Contains(r.text("confirm-remove"), "Remove member") {
			t.Errorf("dialog for someone with no key: %q", r.testid("offboard-keys").Text())
		}
		r = o.ann.get(o.removeURL(currentUserID(t, o.env, "ann@example.com")))
		if r.testid("offboard-self").Length() != 1 || len(offboardKeyIDs(r)) != 0 {
			t.Error("leaving oneself offers rotations")
		}

		o.ann.get("/orgs/acme/members")
		r = o.ann.post(o.removeURL(o.bobID), url.Values{"rotate": {o.billing.ID}, "grace": {"0"}, "form_token": {randomToken(16)}}, "HX-Request", "true")
		wantStatus(t, r, http.StatusOK)
		modal := r.testid("offboard-modal")
		if modal.Length() != 1 || !modal.Is("dialog[data-reveal-guard]") || modal.AttrOr("hx-history", "") != "false" || r.testid("reveal-confirm").Length() != 1 {
			t.Fatalf("no guarded dialog: %.500s", r.body)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
		list := r.doc.Find("#members-list")
		if list.AttrOr("hx-swap-oob", "") != "true" || list.Find(`[data-user-id="`+o.bobID+`"]`).Length() != 0 {
			t.Errorf("no out-of-band list without Bob")
		}
		if n := r.testid("revealed-key").Length(); n != 1 {
			t.Fatalf("%d keys revealed, want 1", n)
		}
		if r.testid("offboard-failed").Length() != 0 {
			t.Error("a failure listed")
		}
		if !strings.Contains(r.text("rotation-note"), "stops working now") {
			t.Errorf("note %q", r.text("rotation-note"))
		}
		if k := o.reload(o.reports.ID); k.ReplacedByID != nil {
			t.Error("an unticked key was rotated")
		}
		if code := o.verifyCode(secretOf(t, r)); code != "" {
			t.Errorf("the new key is refused: %s", code)
		}
	})
}

func secretOf(t *testing.T, r *resp) string {
	t.Helper()
	v := r.testid("revealed-key").First().AttrOr("value", "")
	if v == "" {
		t.Fatal("no key revealed")
	}
	return v
}

func currentUserID(t *testing.T, e *env, email string) string {
	t.Helper()
	var id string
	if err := e.db.Table("users").Where("email = ?", email).Select("id").Row().Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
