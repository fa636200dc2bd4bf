package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/usage"
	"keyplane/views/keys"
)

// insertSources stores usage_sources rows as the recorder writes them.
func (e *env) insertSources(rows ...usage.Source) {
	e.t.Helper()
	if err := e.db.Create(&rows).Error; err != nil {
		e.t.Fatalf("insert sources: %v", err)
	}
}

// restrictionRows reads the Restrictions panel: name → mode and what it
// let through.
func restrictionRows(s *goquery.Selection) map[string][2]string {
	out := map[string][2]string{}
	s.Find(`[data-testid="restriction-row"]`).Each(func(_ int, row *goquery.Selection) {
		out[row.AttrOr("data-restriction", "")] = [2]string{
			strings.TrimSpace(row.Find(`[data-testid="restriction-mode"]`).Text()),
			strings.TrimSpace(row.Find(`[data-testid="restriction-would"]`).Text()),
		}
	})
	return out
}

// TestKeyRestrictionsPanel: the key page lists each restriction with its
// mode and what the report-only ones let through in the last 7 days; an
// admin switches one to enforce after a confirmation (a dialog with htmx,
// a page without) stating that count, and one to report only at once;
// each switch swaps the panel and the edit form and is audited.
func TestKeyRestrictionsPanel(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		c := k.admin
		key := k.newKey(k.acme.ID, apikey.Input{
			Description: "Partner feed", Scopes: []string{"read"}, IPs: "203.0.113.0/24", RateLimit: "60", ReportOnly: []string{"ips"},
		})
		page := "/orgs/acme/keys/" + key.ID
		now := k.clock.Now().UTC()
		h := now.Truncate(time.Hour)
		k.insertUsage(
			usage.Hourly{KeyID: key.ID, OrgID: k.acme.ID, Hour: h, Outcome: "would_ip_not_allowed", Count: 200},
			usage.Hourly{KeyID: key.ID, OrgID: k.acme.ID, Hour: h.Add(-5 * 24 * time.Hour), Outcome: "would_ip_not_allowed", Count: 14},
			usage.Hourly{KeyID: key.ID, OrgID: k.acme.ID, Hour: h.Add(-8 * 24 * time.Hour), Outcome: "would_ip_not_allowed", Count: 1000},
			usage.Hourly{KeyID: key.ID, OrgID: k.acme.ID, Hour: h, Outcome: "would_forbidden", Scope: "write", Count: 5},
			usage.Hourly{KeyID: key.ID, OrgID: k.acme.ID, Hour: h, Outcome: "allowed", Scope: "read", Count: 50},
		)
		day := h.Truncate(24 * time.Hour)
		for _, ip := range []string{"198.51.100.1", "198.51.100.2", "2001:db8::9"} {
			k.insertSources(usage.Source{KeyID: key.ID, OrgID: k.acme.ID, Day: day, Kind: usage.SourceWouldIP, Value: ip, Count: 1, LastSeen: h})
		}

		r := c.get(page)
		wantStatus(t, r, http.StatusOK)
		panel := r.testid("key-restrictions")
		want := map[string][2]string{
			"ips":        {"Report only", "Would have refused 214 requests in the last 7 days."},
			"rate_limit": {"Enforced", ""},
			"scopes":     {"Enforced", ""},
		}
		if got := restrictionRows(panel); !equalRows(got, want) {
			t.Errorf("panel %v, want %v", got, want)
		}
		if got := r.text("would-refuse-summary"); got != "Would have refused 214 requests in the last 7 days." {
			t.Errorf("summary %q", got)
		}
		enforce := panel.Find(`[data-testid="enforce-ips"]`)
		if enforce.AttrOr("href", "") != page+"/restrictions/ips/enforce" || enforce.AttrOr("hx-get", "") != page+"/restrictions/ips/enforce" {
			t.Errorf("enforce link %q", enforce.AttrOr("href", ""))
		}
		if panel.Find(`form[action="`+page+`/restrictions/scopes/report-only"] [data-testid="report-only-scopes"]`).Length() != 1 {
			t.Error("no report-only switch for the scopes")
		}
		// The edit form has a box beside each restriction, ticked as stored.
		form := r.testid("key-form")
		for _, name := range []string{"ips", "domains", "scopes", "rate_limit", "quota"} {
			box := form.Find(`input[type="checkbox"][name="report_only"][value="` + name + `"]`)
			if box.Length() != 1 {
				t.Errorf("the edit form has no report-only box for %s", name)
			}
			if _, checked := box.Attr("checked"); checked != (name == "ips") {
				t.Errorf("the %s box checked=%v", name, checked)
			}
		}

		// The confirmation states the count, as a dialog or a page.
		for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
			r := c.get(page+"/restrictions/ips/enforce", hdr...)
			wantStatus(t, r, http.StatusOK)
			if got := r.text("confirm-would"); got != "Enforcing would have refused 214 requests in the last 7 days." {
				t.Errorf("confirmation %v says %q", hdr, got)
			}
			if hdr != nil && (!isFragment(r) || r.testid("enforce-modal").Length() != 1) {
				t.Errorf("htmx confirmation is not the dialog alone: %.300s", r.body)
			}
			if r.doc.Find(`form[action="`+page+`/restrictions/ips/enforce"] [data-testid="confirm-enforce"]`).Length() != 1 {
				t.Error("the confirmation does not post to enforce")
			}
		}
		if !k.reload(key.ID).ReportIPs {
			t.Fatal("GET enforce enforced")
		}
		wantStatus(t, c.get(page+"/restrictions/scopes/enforce"), http.StatusConflict)
		wantStatus(t, c.get(page+"/restrictions/ip/enforce"), http.StatusNotFound)
		wantStatus(t, c.post(page+"/restrictions/IPS/enforce", nil), http.StatusNotFound)

		// Every switch needs the CSRF token.
		wantStatus(t, c.postRaw(page+"/restrictions/ips/enforce", nil), http.StatusForbidden)
		wantStatus(t, c.postRaw(page+"/restrictions/scopes/report-only", nil), http.StatusForbidden)
		if got := k.reload(key.ID).ReportOnly(); got != (apikey.ReportOnly{IPs: true}) {
			t.Fatalf("a switch without the token changed %+v", got)
		}

		// Enforce over htmx: the panel and the edit form are swapped, the
		// dialog closes, a toast says so.
		r = c.post(page+"/restrictions/ips/enforce", nil, "HX-Request", "true")
		wantStatus(t, r, http.StatusOK)
		if r.Header.Get("HX-Trigger") != keys.CloseModalEvt || r.Header.Get("HX-Reswap") != "none" {
			t.Errorf("headers %v", r.Header)
		}
		if got := restrictionRows(oob(t, r, keys.RestrictionsID))["ips"]; got != [2]string{"Enforced", ""} {
			t.Errorf("swapped panel: ips %v", got)
		}
		if oob(t, r, keys.RestrictionsID).Find(`[data-testid="would-refuse-summary"]`).Length() != 0 {
			t.Error("a summary with nothing report-only")
		}
		if _, checked := oob(t, r, keys.KeyEditID).Find(`input[name="report_only"][value="ips"]`).Attr("checked"); checked {
			t.Error("the swapped edit form still ticks ips")
		}
		if !strings.Contains(r.text("toast"), "The IP allowlist of "+key.Hint+" (Partner feed) is enforced") {
			t.Errorf("toast %q", r.text("toast"))
		}
		if k.reload(key.ID).ReportIPs {
			t.Fatal("not enforced")
		}
		// Report only without JavaScript: a redirect and a flash.
		wantRedirect(t, c.post(page+"/restrictions/scopes/report-only", nil), page)
		r = c.get(page)
		if !strings.Contains(r.body, "The scopes of "+key.Hint+" (Partner feed) is report only") {
			t.Error("no flash after switching to report only")
		}
		if got := restrictionRows(r.testid("key-restrictions"))["scopes"]; got != [2]string{"Report only", "Would have refused 5 requests in the last 7 days."} {
			t.Errorf("scopes row %v", got)
		}
		if got := k.reload(key.ID).ReportOnly(); got != (apikey.ReportOnly{Scopes: true}) {
			t.Errorf("stored %+v", got)
		}
		var actions []string
		if err := db.Model(&audit.Event{}).Where("org_id = ? AND target_id = ?", k.acme.ID, key.ID).
			Order("created_at, id").Pluck("action", &actions).Error; err != nil {
			t.Fatal(err)
		}
		if strings.Join(actions, " ") != "key.created key.restriction_enforced key.restriction_report_only" {
			t.Errorf("audit %v", actions)
		}

		// The edit form saves the boxes; an unknown one is refused.
		edit := url.Values{"description": {"Partner feed"}, "scopes": {"read"}, "ips": {"203.0.113.0/24"}, "rate_limit_per_minute": {"60"},
			"report_only": {"rate_limit", "ips"}}
		wantRedirect(t, c.post(page, edit), page)
		if got := k.reload(key.ID).ReportOnly(); got != (apikey.ReportOnly{IPs: true, RateLimit: true}) {
			t.Errorf("after the edit %+v", got)
		}
		edit["report_only"] = []string{"ip"}
		r = c.post(page, edit)
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if !strings.Contains(r.text("error-report_only"), "Unknown restriction") {
			t.Errorf("an unknown box: %q", r.text("error-report_only"))
		}

		// The create form takes them too.
		form2 := keyForm("Born reporting")
		form2.Set("ips", "192.0.2.0/24")
		form2["report_only"] = []string{"ips"}
		_, created := k.createKey(c, form2)
		if got := created.ReportOnly(); got != (apikey.ReportOnly{IPs: true}) {
			t.Errorf("created %+v", got)
		}
		if c.get("/orgs/acme/keys/new?product=default").doc.Find(`input[name="report_only"][value="ips"]`).Length() != 1 {
			t.Error("the create form has no report-only box")
		}

		// A revoked key shows its modes but offers no switch.
		wantRedirect(t, c.post(page+"/revoke", nil), page)
		r = c.get(page)
		if r.testid("key-restrictions").Length() != 1 || r.doc.Find(`[data-testid^="enforce-"], [data-testid^="report-only-"]`).Length() != 0 ||
			r.testid("key-suggestions").Length() != 0 {
			t.Error("a revoked key offers switches or suggestions")
		}
		wantStatus(t, c.post(page+"/restrictions/ips/enforce", nil), http.StatusConflict)
	})
}

func equalRows(a, b map[string][2]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestKeyRestrictionsMember: a member sees the modes, the counts and the
// summary, but no switch and no suggestions, and the server refuses every
// switch and the apply.
func TestKeyRestrictionsMember(t *testing.T) {
	t.Parallel()
	k := newKeysEnv(t, storetest.SQLite(t), nil)
	key := k.newKey(k.acme.ID, apikey.Input{Description: "Partner feed", IPs: "203.0.113.0/24", ReportOnly: []string{"ips"}})
	k.insertUsage(usage.Hourly{KeyID: key.ID, OrgID: k.acme.ID, Hour: k.clock.Now().UTC().Truncate(time.Hour), Outcome: "would_ip_not_allowed", Count: 3})
	bob := k.user("bob@example.com", "Bob", false)
	k.addMember(k.acme.ID, bob.ID, "member")
	m := k.client()
	m.mustLogin("bob@example.com")
	page := "/orgs/acme/keys/" + key.ID
	r := m.get(page)
	if got := restrictionRows(r.testid("key-restrictions"))["ips"]; got != [2]string{"Report only", "Would have refused 3 requests in the last 7 days."} {
		t.Errorf("a member's panel: ips %v", got)
	}
	if r.text("would-refuse-summary") != "Would have refused 3 requests in the last 7 days." {
		t.Errorf("a member's summary %q", r.text("would-refuse-summary"))
	}
	if r.doc.Find(`[data-testid^="enforce-"], [data-testid^="report-only-"], [data-testid="key-suggestions"]`).Length() != 0 {
		t.Error("a member is offered switches or suggestions")
	}
	wantStatus(t, m.get(page+"/restrictions/ips/enforce"), http.StatusForbidden)
	wantStatus(t, m.post(page+"/restrictions/ips/enforce", nil), http.StatusForbidden)
	wantStatus(t, m.post(page+"/restrictions/scopes/report-only", nil), http.StatusForbidden)
	wantStatus(t, m.post(page+"/suggestions/apply", nil), http.StatusForbidden)
	if got := k.reload(key.ID); got.ReportOnly() != (apikey.ReportOnly{IPs: true}) || len(got.Scopes) != 0 {
		t.Errorf("a member changed the key: %+v", got.ReportOnly())
	}
	// Another organization's admin gets nothing of it.
	other := k.user("olga@example.com", "Olga", false)
	k.org("Other", "other", other.ID)
	o := k.client()
	o.mustLogin("olga@example.com")
	want404(t, o.post("/orgs/other/keys/"+key.ID+"/restrictions/ips/enforce", nil))
	want404(t, o.post("/orgs/other/keys/"+key.ID+"/suggestions/apply", nil))
}

// TestKeySuggestions: "Restrict to what it uses" proposes exactly the
// addresses, origins and scopes of the last 30 days, says what came from
// sources not listed, and applies them as report-only restrictions the
// panel then shows, ready to enforce.
func TestKeySuggestions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		c := k.admin
		// Its domains and scopes only report: restricting never touches an
		// enforced restriction (TestRestrict in apikey holds that rule).
		key := k.newKey(k.acme.ID, apikey.Input{Description: "Storefront", Kind: "public", Domains: "example.com", Scopes: []string{"read", "write"},
			ReportOnly: []string{"domains", "scopes"}})
		page := "/orgs/acme/keys/" + key.ID
		r := c.get(page)
		if r.testid("suggestions-empty").Length() != 1 || r.testid("apply-suggestions").Length() != 0 {
			t.Error("a key without traffic is offered suggestions")
		}
		wantStatus(t, c.post(page+"/suggestions/apply", nil), http.StatusUnprocessableEntity)

		h := k.clock.Now().UTC().Truncate(time.Hour)
		day := h.Truncate(24 * time.Hour)
		src := func(kind, value string, n int64, d time.Time) usage.Source {
			return usage.Source{KeyID: key.ID, OrgID: k.acme.ID, Day: d, Kind: kind, Value: value, Count: n, LastSeen: d.Add(time.Hour)}
		}
		k.insertSources(
			src(usage.SourceIP, "203.0.113.7", 40, day),
			src(usage.SourceIP, "2001:db8::7", 2, day.AddDate(0, 0, -10)),
			src(usage.SourceIP, "", 6, day),
			src(usage.SourceIP, "198.51.100.99", 9, day.AddDate(0, 0, -40)),
			src(usage.SourceOrigin, "https://shop.example.com", 30, day),
			src(usage.SourceOrigin, "http://localhost:3000", 12, day),
			src(usage.SourceWouldIP, "192.0.2.200", 1, day),
		)
		k.insertUsage(
			usage.Hourly{KeyID: key.ID, OrgID: k.acme.ID, Hour: h, Outcome: "allowed", Scope: "read", Count: 40},
			usage.Hourly{KeyID: key.ID, OrgID: k.acme.ID, Hour: h, Outcome: "forbidden", Scope: "write", Count: 2},
		)
		r = c.get(page)
		wantStatus(t, r, http.StatusOK)
		values := func(id string) []string {
			var out []string
			r.testid(id).Find(`[data-testid="suggested-value"] span[title]`).Each(func(_ int, s *goquery.Selection) { out = append(out, s.Text()) })
			return out
		}
		if got := values("suggested-ips"); !slices.Equal(got, []string{"203.0.113.7", "2001:db8::7"}) {
			t.Errorf("ips %v", got)
		}
		if got := values("suggested-origins"); !slices.Equal(got, []string{"https://shop.example.com", "http://localhost:3000"}) {
			t.Errorf("origins %v", got)
		}
		if got := values("suggested-scopes"); !slices.Equal(got, []string{"read"}) {
			t.Errorf("scopes %v: only those of requests let through", got)
		}
		if got := r.text("suggestions-not-listed"); !strings.Contains(got, "6 requests came from addresses not listed") {
			t.Errorf("not listed %q", got)
		}
		if got := r.text("suggestions-applies"); got != "Applying sets the IP allowlist, the allowed domains and the scopes to these, in report-only mode." {
			t.Errorf("applies %q", got)
		}
		if r.doc.Find(`form[action="`+page+`/suggestions/apply"] input[name="_csrf"], form[action="`+page+`/suggestions/apply"] input[type="hidden"]`).Length() == 0 {
			t.Error("the apply form carries no CSRF token")
		}
		wantStatus(t, c.postRaw(page+"/suggestions/apply", nil), http.StatusForbidden)

		wantRedirect(t, c.post(page+"/suggestions/apply", nil), page)
		got := k.reload(key.ID)
		if strings.Join(got.IPs, ",") != "203.0.113.7/32,2001:db8::7/128" || strings.Join(got.Domains, ",") != "https://shop.example.com,http://localhost:3000" ||
			strings.Join(got.Scopes, ",") != "read" {
			t.Errorf("applied: ips %v, domains %v, scopes %v", got.IPs, got.Domains, got.Scopes)
		}
		if got.ReportOnly() != (apikey.ReportOnly{IPs: true, Domains: true, Scopes: true}) {
			t.Errorf("modes %+v", got.ReportOnly())
		}
		r = c.get(page)
		rows := restrictionRows(r.testid("key-restrictions"))
		for _, name := range []string{"ips", "domains", "scopes"} {
			if rows[name][0] != "Report only" || r.testid("enforce-"+name).Length() != 1 {
				t.Errorf("%s after applying: %v, or no enforce button", name, rows[name])
			}
		}
		if !strings.Contains(r.body, "Restricted "+key.Hint+" (Storefront) to what it used") {
			t.Error("no flash after applying")
		}
		var n int64
		db.Model(&audit.Event{}).Where("target_id = ? AND action = ?", key.ID, audit.KeyRestricted).Count(&n)
		if n != 1 {
			t.Errorf("%d key.restricted events", n)
		}

		// A private key is not restricted by origin.
		priv := k.newKey(k.acme.ID, apikey.Input{Description: "Server"})
		k.insertSources(usage.Source{KeyID: priv.ID, OrgID: k.acme.ID, Day: day, Kind: usage.SourceOrigin, Value: "https://x.example.com", Count: 1, LastSeen: h})
		k.insertSources(usage.Source{KeyID: priv.ID, OrgID: k.acme.ID, Day: day, Kind: usage.SourceIP, Value: "192.0.2.1", Count: 1, LastSeen: h})
		r = c.get("/orgs/acme/keys/" + priv.ID)
		if r.testid("suggested-origins").Length() != 0 || r.text("suggestions-applies") != "Applying sets the IP allowlist to these, in report-only mode." {
			t.Errorf("private key: origins shown, or applies %q", r.text("suggestions-applies"))
		}
	})
}

// TestWouldSummary: the summary counts what the restrictions in
// report-only mode now let through, with its addresses when they are
// theirs alone.
func TestWouldSummary(t *testing.T) {
	w := usage.WouldRefuse{Total: 219, Restrictions: map[string]int64{"ips": 214, "scopes": 5}, IPs: 3}
	for _, tc := range []struct {
		w     usage.WouldRefuse
		modes apikey.ReportOnly
		want  string
	}{
		{w, apikey.ReportOnly{IPs: true, Scopes: true}, "Would have refused 219 requests in the last 7 days, from 3 IPs."},
		{w, apikey.ReportOnly{IPs: true}, "Would have refused 214 requests in the last 7 days."},
		{w, apikey.ReportOnly{Quota: true}, "Would have refused no requests in the last 7 days."},
		{usage.WouldRefuse{Total: 1, Restrictions: map[string]int64{"ips": 1}, IPs: 1}, apikey.ReportOnly{IPs: true}, "Would have refused 1 request in the last 7 days, from 1 IP."},
		{usage.WouldRefuse{Total: 1204, Restrictions: map[string]int64{"ips": 1204}, IPs: 100, MoreIPs: true}, apikey.ReportOnly{IPs: true},
			"Would have refused 1,204 requests in the last 7 days, from more than 100 IPs."},
		{usage.WouldRefuse{Total: 9, Restrictions: map[string]int64{"rate_limit": 9}}, apikey.ReportOnly{RateLimit: true}, "Would have refused 9 requests in the last 7 days."},
	} {
		if got := wouldSummary(tc.w, tc.modes); got != tc.want {
			t.Errorf("%+v %+v: %q, want %q", tc.w, tc.modes, got, tc.want)
		}
	}
}
