package web

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/secretbox"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/webhook"
	"keyplane/views/layout"
)

// webhooksEnv is Acme with Ann as admin and Bob as member, and Other with
// Olga as admin; the server logs into logs.
func webhooksEnv(t *testing.T, db *store.DB, logs *bytes.Buffer) (e *env, acme org.Organization) {
	e = newEnv(t, db, nil, func(d *Deps) {
		if logs != nil {
			d.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			box, _ := secretbox.New(secretbox.Key{ID: 1, Secret: []byte(testEncryptionKey)})
			d.Webhooks = webhook.NewService(db, webhook.Options{Box: box, Now: d.Now, Logger: d.Logger})
		}
	})
	ann := e.user("ann@example.com", "Ann", false)
	bob := e.user("bob@example.com", "Bob", false)
	olga := e.user("olga@example.com", "Olga", false)
	acme = e.org("Acme", "acme", ann.ID)
	e.addMember(acme.ID, bob.ID, org.Member)
	e.org("Other", "other", olga.ID)
	return e, acme
}

var hookForm = url.Values{"url": {"https://93.184.216.34/hooks"}, "description": {"Billing"}, "events": {"key.revoked", "key.leaked"}}

func TestWebhookPagesAreForAdmins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, acme := webhooksEnv(t, db, nil)
		c, err := e.srv.webhooks.Create(context.Background(), acme.ID, webhook.Input{URL: "https://93.184.216.34/x", Events: []string{"*"}}, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		ep := "/orgs/acme/webhooks/" + c.Endpoint.ID
		d, _ := e.srv.webhooks.SendTest(context.Background(), acme.ID, c.Endpoint.ID, audit.Actor{})
		gets := []string{"/orgs/acme/webhooks", "/orgs/acme/webhooks/new", ep, ep + "/delete", ep + "/rotate-secret"}
		posts := []string{"/orgs/acme/webhooks", ep, ep + "/test", ep + "/pause", ep + "/resume", ep + "/rotate-secret", ep + "/delete", ep + "/deliveries/" + d.ID + "/resend"}

		member := e.client()
		member.mustLogin("bob@example.com")
		if member.get("/orgs/acme/keys").testid("nav-webhooks").Length() != 0 {
			t.Error("a member's navigation links to webhooks")
		}
		for _, p := range gets {
			wantStatus(t, member.get(p), http.StatusForbidden)
		}
		for _, p := range posts {
			wantStatus(t, member.post(p, hookForm), http.StatusForbidden)
		}
		outsider := e.client()
		outsider.mustLogin("olga@example.com")
		outsider.get("/orgs/other/keys")
		for _, p := range gets {
			want404(t, outsider.get(p))
		}
		for _, p := range posts {
			want404(t, outsider.post(p, hookForm))
		}
		admin := e.client()
		admin.mustLogin("ann@example.com")
		if got := admin.get("/orgs/acme/keys").testid("nav-webhooks").AttrOr("href", ""); got != "/orgs/acme/webhooks" {
			t.Errorf("an admin's navigation links to webhooks at %q", got)
		}
		// Another organization's endpoint, seen from an admin of Acme.
		oc, _ := e.srv.webhooks.Create(context.Background(), otherOrgID(t, e), webhook.Input{URL: "https://93.184.216.34/o", Events: []string{"*"}}, audit.Actor{})
		want404(t, admin.get("/orgs/acme/webhooks/"+oc.Endpoint.ID))
		want404(t, admin.post("/orgs/acme/webhooks/"+oc.Endpoint.ID+"/delete", nil))
		want404(t, admin.get("/orgs/acme/webhooks/not-an-id"))
		// CSRF: without the token, every POST is refused and changes nothing.
		for _, p := range posts {
			wantStatus(t, admin.postRaw(p, hookForm), http.StatusForbidden)
		}
		if n := e.count("webhook_endpoints"); n != 2 {
			t.Errorf("%d endpoints after refused posts, want 2", n)
		}
		// The settings page leads here.
		r := admin.get("/orgs/acme/settings")
		if href, _ := r.testid("settings-webhooks").Attr("href"); href != "/orgs/acme/webhooks" {
			t.Errorf("settings link %q", href)
		}
	})
}

func otherOrgID(t *testing.T, e *env) string {
	t.Helper()
	o, err := e.orgs.BySlug(context.Background(), "other")
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

func TestWebhookCreateRevealsTheSecretOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var logs bytes.Buffer
		e, acme := webhooksEnv(t, db, &logs)
		admin := e.client()
		admin.mustLogin("ann@example.com")
		r := admin.get("/orgs/acme/webhooks")
		wantStatus(t, r, http.StatusOK)
		if r.testid("no-webhooks").Length() != 1 {
			t.Error("empty list not said")
		}
		r = admin.get("/orgs/acme/webhooks/new")
		wantStatus(t, r, http.StatusOK)
		if r.doc.Find(`input[name="events"]`).Length() != len(webhook.EventTypes)+1 {
			t.Errorf("form offers %d event boxes", r.doc.Find(`input[name="events"]`).Length())
		}

		// Refused: a private address, no event; the form says why.
		bad := url.Values{"url": {"http://10.0.0.5/hook"}, "description": {"x"}}
		r = admin.post("/orgs/acme/webhooks", bad)
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if msg := r.text("error-url"); !strings.Contains(msg, "10.0.0.5 is a private address") {
			t.Errorf("url message %q", msg)
		}
		if msg := r.text("error-events"); msg == "" {
			t.Error("no events message")
		}
		if v, _ := r.doc.Find(`#field-url`).Attr("value"); v != "http://10.0.0.5/hook" {
			t.Errorf("the form lost the URL: %q", v)
		}
		for _, u := range []string{"http://127.0.0.1/", "http://[::1]/", "http://localhost/", "ftp://93.184.216.34/", "https://u:p@93.184.216.34/"} {
			r = admin.post("/orgs/acme/webhooks", url.Values{"url": {u}, "events": {"*"}})
			wantStatus(t, r, http.StatusUnprocessableEntity)
		}
		if n := e.count("webhook_endpoints"); n != 0 {
			t.Fatalf("%d endpoints after refusals", n)
		}

		r = admin.post("/orgs/acme/webhooks", hookForm)
		wantStatus(t, r, http.StatusOK)
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("reveal Cache-Control %q", cc)
		}
		secret, _ := r.testid("webhook-secret").Attr("value")
		if !strings.HasPrefix(secret, "whsec_") {
			t.Fatalf("revealed secret %q", secret)
		}
		if r.doc.Find(`[hx-history="false"]`).Length() == 0 {
			t.Error("the reveal is not kept out of htmx's history")
		}
		list, _ := e.srv.webhooks.List(context.Background(), acme.ID)
		if len(list) != 1 || list[0].URL != "https://93.184.216.34/hooks" || strings.Join(list[0].Events, ",") != "key.revoked,key.leaked" {
			t.Fatalf("stored %+v", list)
		}
		ep := "/orgs/acme/webhooks/" + list[0].ID
		// Never again: not in the list, not on its page.
		for _, p := range []string{"/orgs/acme/webhooks", ep} {
			r = admin.get(p)
			wantStatus(t, r, http.StatusOK)
			if strings.Contains(r.body, secret) || strings.Contains(r.body, "whsec_") {
				t.Errorf("%s shows the secret", p)
			}
		}
		r = admin.get("/orgs/acme/webhooks")
		if r.testid("webhook-row").Length() != 1 || r.text("webhook-events") != "key.revoked, key.leaked" {
			t.Errorf("list: %s", r.testid("webhooks-table").Text())
		}

		// Rotate: a confirm naming the endpoint, then a new secret, once.
		r = admin.get(ep + "/rotate-secret")
		if r.text("confirm-url") != "https://93.184.216.34/hooks" {
			t.Errorf("rotate confirm names %q", r.text("confirm-url"))
		}
		r = admin.post(ep+"/rotate-secret", nil)
		wantStatus(t, r, http.StatusOK)
		rotated, _ := r.testid("webhook-secret").Attr("value")
		if !strings.HasPrefix(rotated, "whsec_") || rotated == secret || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("rotated secret %q", rotated)
		}
		for _, s := range []string{secret, rotated, strings.TrimPrefix(secret, "whsec_"), strings.TrimPrefix(rotated, "whsec_")} {
			if strings.Contains(logs.String(), s) {
				t.Error("a secret reached the log")
			}
		}
	})
}

func TestWebhookEndpointPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, acme := webhooksEnv(t, db, nil)
		admin := e.client()
		admin.mustLogin("ann@example.com")
		admin.get("/orgs/acme/webhooks")
		admin.post("/orgs/acme/webhooks", hookForm)
		list, _ := e.srv.webhooks.List(context.Background(), acme.ID)
		ep := "/orgs/acme/webhooks/" + list[0].ID

		r := admin.get(ep)
		wantStatus(t, r, http.StatusOK)
		if r.testid("no-deliveries").Length() != 1 {
			t.Error("empty log not said")
		}
		wantRedirect(t, admin.post(ep+"/test", nil), ep)
		r = admin.get(ep)
		if r.testid("delivery-row").Length() != 1 || !strings.Contains(r.text("delivery-status"), "Pending") {
			t.Fatalf("log after a test event: %s", r.testid("deliveries-table").Text())
		}
		if poll, _ := r.doc.Find("#webhook-deliveries").Attr("hx-get"); poll != ep+"/deliveries" {
			t.Errorf("a pending log polls %q", poll)
		}
		r = admin.get(ep+"/deliveries", "HX-Request", "true")
		wantStatus(t, r, http.StatusOK)
		if r.doc.Find("main").Length() != 0 || r.testid("delivery-row").Length() != 1 {
			t.Error("the poll answers more or less than the log")
		}

		// Edit: bad input keeps the form; good input saves.
		r = admin.post(ep, url.Values{"url": {"http://169.254.169.254/"}, "events": {"key.nope"}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if !strings.Contains(r.text("error-url"), "link-local") || !strings.Contains(r.text("error-events"), "key.nope") {
			t.Errorf("edit messages %q / %q", r.text("error-url"), r.text("error-events"))
		}
		wantRedirect(t, admin.post(ep, url.Values{"url": {"https://93.184.216.34/v2"}, "events": {"*"}}), ep)
		r = admin.get(ep)
		if r.text("webhook-title") != "https://93.184.216.34/v2" || !strings.Contains(r.text("webhook-events"), "All events") {
			t.Errorf("after edit: %q %q", r.text("webhook-title"), r.text("webhook-events"))
		}

		wantRedirect(t, admin.post(ep+"/pause", nil), ep)
		r = admin.get(ep)
		if r.testid("paused-note").Length() != 1 || r.testid("resume").Length() != 1 {
			t.Error("paused endpoint not shown as such")
		}
		if _, ok := r.doc.Find("#webhook-deliveries").Attr("hx-get"); ok {
			t.Error("a paused endpoint's log polls")
		}
		wantRedirect(t, admin.post(ep+"/resume", nil), ep)

		// Resend a delivery; a forged delivery id is 404.
		var d webhook.Delivery
		db.Take(&d)
		wantRedirect(t, admin.post(ep+"/deliveries/"+d.ID+"/resend", nil), ep)
		want404(t, admin.post(ep+"/deliveries/msg_00000000000000000000000000000000/resend", nil))

		// Delete: the dialog names the endpoint and counts what waits.
		r = admin.get(ep+"/delete", "HX-Request", "true")
		if r.testid("delete-webhook-modal").Length() != 1 || r.text("confirm-url") != "https://93.184.216.34/v2" ||
			!strings.Contains(r.text("confirm-consequence"), "1 delivery still waiting") {
			t.Errorf("delete dialog: %s", r.body)
		}
		wantRedirect(t, admin.post(ep+"/delete", nil), "/orgs/acme/webhooks")
		want404(t, admin.get(ep))
		if n := e.count("webhook_deliveries"); n != 0 {
			t.Errorf("%d deliveries left after delete", n)
		}
		var actions []string
		db.Model(&audit.Event{}).Where("org_id = ? AND target_type = ?", acme.ID, "webhook").Order("created_at, id").Pluck("action", &actions)
		want := "webhook.created webhook.updated webhook.paused webhook.resumed webhook.deleted"
		if got := strings.Join(actions, " "); got != want {
			t.Errorf("audit %q, want %q", got, want)
		}
	})
}

// The htmx header carries the CSRF token as well as the form field does.
func TestWebhookHTMXPostCarriesCSRF(t *testing.T) {
	e, _ := webhooksEnv(t, storetest.SQLite(t), nil)
	admin := e.client()
	admin.mustLogin("ann@example.com")
	admin.get("/orgs/acme/webhooks")
	r := admin.postRaw("/orgs/acme/webhooks", hookForm, layout.CSRFHeader, admin.token(), "HX-Request", "true", "HX-Boosted", "true")
	wantStatus(t, r, http.StatusOK)
	if v, _ := r.testid("webhook-secret").Attr("value"); !strings.HasPrefix(v, "whsec_") {
		t.Error("boosted create did not reveal the secret")
	}
}
