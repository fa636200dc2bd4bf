package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/quota"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/views/keys"
	"keyplane/views/layout"
	"keyplane/views/settings"
)

// withQuota is form with a quota's fields set.
func withQuota(form url.Values, kind, limit, refill, amount string) url.Values {
	form.Set("quota_kind", kind)
	form.Set("quota_limit", limit)
	form.Set("quota_refill", refill)
	form.Set("quota_refill_amount", amount)
	return form
}

// quotaFields returns the quota fields of the form with data-testid
// formID as the page shows them: the kind checked, the amount, the refill
// selected and the refill amount.
func quotaFields(r *resp, formID string) [4]string {
	f := r.testid(formID)
	var kinds []string
	f.Find(`input[name="quota_kind"][checked]`).Each(func(_ int, s *goquery.Selection) { kinds = append(kinds, s.AttrOr("value", "")) })
	return [4]string{
		strings.Join(kinds, ","),
		f.Find(`input[name="quota_limit"]`).AttrOr("value", "?"),
		f.Find(`select[name="quota_refill"] option[selected]`).AttrOr("value", "?"),
		f.Find(`input[name="quota_refill_amount"]`).AttrOr("value", "?"),
	}
}

// spend records what subject (a key's quota id or an organization's id)
// spent in the period starting at start, as the data plane's flush does.
func (k *keysEnv) spend(subject string, start time.Time, n int64) {
	k.t.Helper()
	err := k.db.Exec("INSERT INTO quota_spent (subject_id, org_id, period_start, spent, updated_at) VALUES (?, ?, ?, ?, ?)",
		subject, k.acme.ID, start, n, k.clock.Now()).Error
	if err != nil {
		k.t.Fatal(err)
	}
}

// meter returns the quota meter of sel: its text, and its bar's value, max
// and label (the text of the element that labels it).
func meter(t *testing.T, sel *goquery.Selection) (text, value, maxValue, label string) {
	t.Helper()
	bar := sel.Find(`progress[data-testid="quota-bar"]`)
	if bar.Length() != 1 {
		t.Fatalf("%d quota bars, want 1: %s", bar.Length(), sel.Text())
	}
	by := bar.AttrOr("aria-labelledby", "")
	lab := sel.Find(`[id="` + by + `"]`)
	if by == "" || lab.Length() != 1 {
		t.Fatalf("the quota bar is labelled by %q, which is not in the meter", by)
	}
	return strings.Join(strings.Fields(sel.Find(`[data-testid="quota-text"]`).Text()), " "),
		bar.AttrOr("value", ""), bar.AttrOr("max", ""), strings.Join(strings.Fields(lab.Text()), " ")
}

// TestKeyQuotaForm: the create and edit forms set a key's quota, show it
// again for editing, and refuse bad amounts and refills with a message
// beside the field, keeping what was typed.
func TestKeyQuotaForm(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		c := k.admin

		// The create form offers no quota by default.
		r := c.get("/orgs/acme/keys/new")
		if got := quotaFields(r, "key-form"); got != [4]string{"none", "", "", ""} {
			t.Errorf("a new key's quota fields %q", got)
		}

		_, key := k.createKey(c, withQuota(keyForm("Metered"), "credits", "5000", "1d", "2000"))
		spec := k.reload(key.ID).QuotaSpec()
		if spec == nil || spec.Kind != quota.Credits || spec.Limit != 5000 || spec.Refill != 24*time.Hour || spec.RefillAmount != 2000 {
			t.Fatalf("stored quota %+v", spec)
		}
		page := "/orgs/acme/keys/" + key.ID
		r = c.get(page)
		if got := quotaFields(r, "key-form"); got != [4]string{"credits", "5000", "1d", "2000"} {
			t.Errorf("the edit form shows the quota as %q", got)
		}

		edit := func(kind, limit, refill, amount string) *resp {
			form := withQuota(url.Values{"description": {"Metered"}}, kind, limit, refill, amount)
			return c.post(page, form)
		}
		wantRedirect(t, edit("day", "100", "", ""), page)
		if spec := k.reload(key.ID).QuotaSpec(); spec == nil || spec.Kind != quota.Day || spec.Limit != 100 || spec.Refill != 0 {
			t.Fatalf("edited quota %+v", spec)
		}
		if got := quotaFields(c.get(page), "key-form"); got != [4]string{"day", "100", "", ""} {
			t.Errorf("after an edit the form shows %q", got)
		}
		// None removes it, whatever the amount field still holds.
		wantRedirect(t, edit("none", "100", "", ""), page)
		if spec := k.reload(key.ID).QuotaSpec(); spec != nil {
			t.Fatalf("a quota of none is stored as %+v", spec)
		}
		if c.get(page).testid("key-quota").Length() != 0 {
			t.Error("a key without a quota shows a quota section")
		}

		whole := "Enter a whole number from 1 to 1,000,000,000,000."
		for _, tc := range []struct {
			name                        string
			kind, limit, refill, amount string
			field, says                 string
		}{
			{"no amount", "day", "", "", "", "quota_limit", whole},
			{"zero", "month", "0", "", "", "quota_limit", whole},
			{"negative", "credits", "-5", "", "", "quota_limit", whole},
			{"words", "credits", "lots", "", "", "quota_limit", whole},
			{"too large", "day", "1000000000001", "", "", "quota_limit", whole},
			{"refilled requests", "day", "10", "1h", "", "quota_refill", "Only credits are refilled"},
			{"refill too often", "credits", "10", "30s", "", "quota_refill", "at most once a minute"},
			{"refill too rare", "credits", "10", "400d", "", "quota_refill", "once every 366 days"},
			{"refill in words", "credits", "10", "soon", "", "quota_refill", "Enter an interval"},
			{"refill amount without refill", "credits", "10", "", "5", "quota_refill_amount", "Set a refill interval"},
			{"refill amount zero", "credits", "10", "1d", "0", "quota_refill_amount", whole},
			{"unknown kind", "weekly", "10", "", "", "quota_kind", "Choose requests per day"},
		} {
			for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
				r := c.post("/orgs/acme/keys", withQuota(keyForm("Typed"), tc.kind, tc.limit, tc.refill, tc.amount), hdr...)
				wantStatus(t, r, http.StatusUnprocessableEntity)
				if got := r.text("error-" + tc.field); !strings.Contains(got, tc.says) {
					t.Errorf("create, %s %v: error-%s %q, want one saying %q", tc.name, hdr, tc.field, got, tc.says)
				}
				if n := r.doc.Find(`[data-testid^="error-"]`).Length(); n != 1 {
					t.Errorf("create, %s: %d field messages, want 1", tc.name, n)
				}
				if got, ok := r.doc.Find("#field-" + tc.field).Attr("aria-invalid"); tc.field != "quota_kind" && (!ok || got != "true") {
					t.Errorf("create, %s: the field is not marked invalid", tc.name)
				}
				got := quotaFields(r, "key-form")
				if got[1] != tc.limit || got[3] != tc.amount || (tc.field != "quota_kind" && got[0] != tc.kind) {
					t.Errorf("create, %s: the form lost what was typed: %q", tc.name, got)
				}
				if hdr != nil && (!isFragment(r) || r.testid("new-key-modal").Length() != 1) {
					t.Fatalf("create, %s: htmx 422 is not the form dialog alone", tc.name)
				}
			}
			r := edit(tc.kind, tc.limit, tc.refill, tc.amount)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if got := r.text("error-" + tc.field); !strings.Contains(got, tc.says) {
				t.Errorf("edit, %s: error-%s %q, want one saying %q", tc.name, tc.field, got, tc.says)
			}
			if r.testid("key-edit").AttrOr("open", "no") == "no" {
				t.Errorf("edit, %s: the edit form is closed over its error", tc.name)
			}
		}
		if spec := k.reload(key.ID).QuotaSpec(); spec != nil {
			t.Fatalf("a refused edit stored %+v", spec)
		}

		// Which restrictions only report is kept by an edit that does not
		// show them, and set by one that does.
		reporting := k.newKey(k.acme.ID, apikey.Input{
			Description: "Reporting", IPs: "192.0.2.0/24", Quota: apikey.QuotaInput{Kind: "day", Limit: "10"}, ReportOnly: []string{"ips", "quota"},
		})
		rpage := "/orgs/acme/keys/" + reporting.ID
		if c.get(rpage).testid("quota-report-only").Length() != 1 {
			t.Error("a report-only quota is not flagged on the key's page")
		}
		form := withQuota(url.Values{"description": {"Reporting"}, "ips": {"192.0.2.0/24"}}, "day", "20", "", "")
		wantRedirect(t, c.post(rpage, form), rpage)
		if got := k.reload(reporting.ID); !got.ReportQuota || !got.ReportIPs || got.QuotaSpec().Limit != 20 {
			t.Errorf("an edit of the quota: report-only quota %v, IPs %v, limit %d", got.ReportQuota, got.ReportIPs, got.QuotaSpec().Limit)
		}
		form.Set("report_only", "")
		form.Add("report_only", "ips")
		wantRedirect(t, c.post(rpage, form), rpage)
		if got := k.reload(reporting.ID); got.ReportQuota || !got.ReportIPs {
			t.Errorf("a form with report_only fields: quota %v, IPs %v", got.ReportQuota, got.ReportIPs)
		}

		// A refill set through the API that the menu does not list is kept.
		kept := k.newKey(k.acme.ID, apikey.Input{Description: "Half-daily", Quota: apikey.QuotaInput{Kind: "credits", Limit: "50", Refill: "12h"}})
		if got := quotaFields(c.get("/orgs/acme/keys/"+kept.ID), "key-form"); got != [4]string{"credits", "50", "12h", ""} {
			t.Errorf("a 12h refill shows as %q", got)
		}
	})
}

// TestKeyQuotaSection: the key page shows the key's quota (what was spent,
// a labelled bar, when it resets) and, smaller, its organization's; only
// admins get "Add credits", and only for a working key with credits.
func TestKeyQuotaSection(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		now := k.clock.Now()
		daily := k.newKey(k.acme.ID, apikey.Input{Description: "Daily", Quota: apikey.QuotaInput{Kind: "day", Limit: "10000"}})
		today, _ := daily.QuotaSpec().Period(now)
		k.spend(daily.ID, today, 1234)
		k.spend(daily.ID, today.AddDate(0, 0, -1), 9999) // yesterday's: not counted

		r := k.admin.get("/orgs/acme/keys/" + daily.ID)
		wantStatus(t, r, http.StatusOK)
		sec := r.testid("key-quota")
		if sec.Length() != 1 || r.doc.Find("#"+keys.QuotaID).Length() != 1 {
			t.Fatalf("no quota section on the page of a key with a quota")
		}
		text, value, maxValue, label := meter(t, sec.Find(`[data-testid="quota-meter"]`).First())
		if text != "1,234 of 10,000 requests today" || value != "1234" || maxValue != "10000" || label != text {
			t.Errorf("day quota: %q, bar %s of %s labelled %q", text, value, maxValue, label)
		}
		if got := strings.TrimSpace(sec.Find(`[data-testid="quota-reset"]`).Text()); !strings.HasPrefix(got, "resets at midnight UTC, in ") {
			t.Errorf("day quota resets %q", got)
		}
		if got := strings.TrimSpace(sec.Find(`[data-testid="quota-describe"]`).Text()); got != "10,000 requests a day" {
			t.Errorf("day quota described as %q", got)
		}
		if !strings.Contains(sec.Text(), "Updated every few seconds.") || sec.Find(`[data-testid="add-credits"]`).Length() != 0 {
			t.Error("a day quota: no note of how fresh it is, or an Add credits button")
		}
		if sec.Find(`[data-testid="key-org-quota"]`).Length() != 0 {
			t.Error("an organization quota shows where there is none")
		}

		monthly := k.newKey(k.acme.ID, apikey.Input{Description: "Monthly", Quota: apikey.QuotaInput{Kind: "month", Limit: "50"}})
		month, end := monthly.QuotaSpec().Period(now)
		k.spend(monthly.ID, month, 50)
		sec = k.admin.get("/orgs/acme/keys/" + monthly.ID).testid("key-quota")
		text, value, maxValue, _ = meter(t, sec)
		if text != "50 of 50 requests this month exhausted" || value != "50" || maxValue != "50" {
			t.Errorf("month quota: %q, bar %s of %s", text, value, maxValue)
		}
		if got := strings.TrimSpace(sec.Find(`[data-testid="quota-reset"]`).Text()); !strings.HasPrefix(got, "resets on "+end.Format("2 Jan")+" at 00:00 UTC, in ") {
			t.Errorf("month quota resets %q", got)
		}
		if sec.Find(`progress.quota-bar-exhausted`).Length() != 1 {
			t.Error("an exhausted quota's bar is not marked so")
		}

		credits := k.newKey(k.acme.ID, apikey.Input{Description: "Credits", Quota: apikey.QuotaInput{Kind: "credits", Limit: "5000", Refill: "1d"}})
		spec := credits.QuotaSpec()
		k.spend(credits.ID, spec.Anchor, 1790)
		page := "/orgs/acme/keys/" + credits.ID
		sec = k.admin.get(page).testid("key-quota")
		text, value, maxValue, _ = meter(t, sec)
		if text != "3,210 credits left of 5,000" || value != "3210" || maxValue != "5000" {
			t.Errorf("credits quota: %q, bar %s of %s", text, value, maxValue)
		}
		wantReset := "refills to 5,000 on " + spec.Anchor.Add(24*time.Hour).Format("2 Jan at 15:04") + " UTC, in 24 hours"
		if got := strings.TrimSpace(sec.Find(`[data-testid="quota-reset"]`).Text()); got != wantReset {
			t.Errorf("credits quota resets %q, want %q", got, wantReset)
		}
		if got := sec.Find(`[data-testid="add-credits"]`).AttrOr("href", ""); got != page+"/credits" {
			t.Errorf("the admin's Add credits leads to %q", got)
		}

		forever := k.newKey(k.acme.ID, apikey.Input{Description: "Prepaid", Quota: apikey.QuotaInput{Kind: "credits", Limit: "100"}})
		sec = k.admin.get("/orgs/acme/keys/" + forever.ID).testid("key-quota")
		if got := strings.TrimSpace(sec.Find(`[data-testid="quota-reset"]`).Text()); got != "never refills" {
			t.Errorf("credits never refilled: %q", got)
		}

		// The organization's quota, on every key's page, with or without a
		// quota of its own.
		if _, err := k.keys.SetOrgQuota(k.t.Context(), k.acme.ID, apikey.QuotaInput{Kind: "month", Limit: "1000000"}, true, audit.Actor{UserID: k.alice.ID}); err != nil {
			t.Fatal(err)
		}
		k.spend(k.acme.ID, month, 250000)
		plain := k.newKey(k.acme.ID, apikey.Input{Description: "Plain"})
		for _, id := range []string{plain.ID, credits.ID} {
			org := k.admin.get("/orgs/acme/keys/" + id).testid("key-org-quota")
			if org.Length() != 1 {
				t.Fatalf("key %s: no organization quota", id)
			}
			text, value, maxValue, _ := meter(t, org)
			if text != "250,000 of 1,000,000 requests this month" || value != "250000" || maxValue != "1000000" ||
				!strings.Contains(org.Text(), "report only") {
				t.Errorf("key %s: organization quota %q, bar %s of %s: %s", id, text, value, maxValue, org.Text())
			}
		}

		// Members see the quota, not the button, and are refused the action.
		bob := k.user("bob@example.com", "Bob", false)
		k.addMember(k.acme.ID, bob.ID, "member")
		m := k.client()
		m.mustLogin("bob@example.com")
		r = m.get(page)
		if r.testid("key-quota").Length() != 1 || r.testid("add-credits").Length() != 0 {
			t.Fatal("a member sees no quota, or an Add credits button")
		}
		wantStatus(t, m.get(page+"/credits"), http.StatusForbidden)
		wantStatus(t, m.post(page+"/credits", url.Values{"amount": {"100"}}), http.StatusForbidden)
		if k.reload(credits.ID).QuotaTopup != 0 {
			t.Fatal("a member added credits")
		}

		// A revoked key keeps its standing and takes no credits.
		wantRedirect(t, k.admin.post(page+"/revoke", nil), page)
		if r := k.admin.get(page); r.testid("key-quota").Length() != 1 || r.testid("add-credits").Length() != 0 {
			t.Error("a revoked key's page: no quota, or Add credits")
		}
		wantStatus(t, k.admin.post(page+"/credits", url.Values{"amount": {"100"}}), http.StatusConflict)
	})
}

// TestKeyCredits: an admin adds credits in a dialog (a page without
// JavaScript); the balance grows for the period, the audit log says so,
// htmx gets the section back out of band; bad amounts are 422 with a
// message; a form without the CSRF token, another organization's key and
// a key without credits are refused.
func TestKeyCredits(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		c := k.admin
		hx := []string{"HX-Request", "true"}
		key := k.newKey(k.acme.ID, apikey.Input{Description: "Prepaid", Quota: apikey.QuotaInput{Kind: "credits", Limit: "5000", Refill: "30d"}})
		page := "/orgs/acme/keys/" + key.ID

		r := c.get(page + "/credits")
		wantStatus(t, r, http.StatusOK)
		if isFragment(r) || r.doc.Find(`form[action="`+page+`/credits"] input[name="amount"]`).Length() != 1 {
			t.Fatal("without htmx the add-credits form is not a page with its form")
		}
		if got := r.text("credits-standing"); got != "5,000 credits left of 5,000" {
			t.Errorf("the dialog says the balance is %q", got)
		}
		r = c.get(page+"/credits", hx...)
		if !isFragment(r) || r.testid("credits-modal").Length() != 1 {
			t.Fatal("with htmx the add-credits form is not the dialog alone")
		}

		wantRedirect(t, c.post(page+"/credits", url.Values{"amount": {"1000"}}), page)
		p := c.get(page)
		if !strings.Contains(p.body, "Added 1,000 credits to "+key.Hint+" (Prepaid).") {
			t.Error("no flash after adding credits")
		}
		text, _, maxValue, _ := meter(t, p.testid("key-quota"))
		if text != "6,000 credits left of 6,000" || maxValue != "6000" || !strings.Contains(p.testid("quota-reset").Text(), "includes 1,000 credits added") {
			t.Errorf("after adding 1,000: %q of %s, %q", text, maxValue, p.text("quota-reset"))
		}

		r = c.post(page+"/credits", url.Values{"amount": {"500"}}, hx...)
		wantStatus(t, r, http.StatusOK)
		if r.Header.Get("HX-Reswap") != "none" || r.Header.Get("HX-Trigger") != keys.CloseModalEvt {
			t.Errorf("htmx top-up: HX-Reswap %q, HX-Trigger %q", r.Header.Get("HX-Reswap"), r.Header.Get("HX-Trigger"))
		}
		if text, _, _, _ := meter(t, oob(t, r, keys.QuotaID)); text != "6,500 credits left of 6,500" {
			t.Errorf("the swapped section says %q", text)
		}
		if got := r.text("toast"); got != "Added 500 credits to "+key.Hint+" (Prepaid)." {
			t.Errorf("toast %q", got)
		}

		msg := "Enter a whole number of credits from 1 to 1,000,000,000,000."
		for _, amount := range []string{"", "0", "-5", "lots", "2.5", "1000000000001", "99999999999999999999"} {
			for _, hdr := range [][]string{nil, hx} {
				r := c.post(page+"/credits", url.Values{"amount": {amount}}, hdr...)
				wantStatus(t, r, http.StatusUnprocessableEntity)
				if got := r.text("error-amount"); got != msg {
					t.Errorf("amount %q %v: %q", amount, hdr, got)
				}
				if got := r.doc.Find("#field-amount").AttrOr("value", "?"); got != amount {
					t.Errorf("amount %q: the form shows %q", amount, got)
				}
				if hdr != nil && (!isFragment(r) || r.testid("credits-modal").Length() != 1) {
					t.Errorf("amount %q: htmx 422 is not the dialog alone", amount)
				}
			}
		}

		// The CSRF token is required.
		before := k.reload(key.ID).QuotaTopup
		wantStatus(t, c.postRaw(page+"/credits", url.Values{"amount": {"100"}}), http.StatusForbidden)
		wrong := url.Values{"amount": {"100"}, layout.CSRFField: {wrongToken(c.token())}}
		wantStatus(t, c.postRaw(page+"/credits", wrong), http.StatusForbidden)
		if got := k.reload(key.ID).QuotaTopup; got != before || got != 1500 {
			t.Fatalf("top-up %d after refused posts, want 1500", got)
		}

		// Another organization's key is not found; a key without credits
		// takes none.
		bo := k.user("bo@example.com", "Bo", false)
		globex := k.org("Globex", "globex", bo.ID)
		theirs := k.newKey(globex.ID, apikey.Input{Description: "Theirs", Quota: apikey.QuotaInput{Kind: "credits", Limit: "10"}})
		want404(t, c.get("/orgs/acme/keys/"+theirs.ID+"/credits"))
		want404(t, c.post("/orgs/acme/keys/"+theirs.ID+"/credits", url.Values{"amount": {"100"}}))
		if k.reload(theirs.ID).QuotaTopup != 0 {
			t.Fatal("credits reached another organization's key")
		}
		daily := k.newKey(k.acme.ID, apikey.Input{Description: "Daily", Quota: apikey.QuotaInput{Kind: "day", Limit: "10"}})
		wantStatus(t, c.get("/orgs/acme/keys/"+daily.ID+"/credits"), http.StatusConflict)
		wantStatus(t, c.post("/orgs/acme/keys/"+daily.ID+"/credits", url.Values{"amount": {"100"}}), http.StatusConflict)

		var details []string
		if err := db.Model(&audit.Event{}).Where("org_id = ? AND action = ?", k.acme.ID, audit.KeyCreditsAdded).
			Order("created_at, id").Pluck("summary", &details).Error; err != nil {
			t.Fatal(err)
		}
		if len(details) != 2 || !strings.Contains(details[0], "added 1000 credits") || !strings.Contains(details[1], "added 500 credits") {
			t.Errorf("audit %q", details)
		}
	})
}

// TestKeysListQuotaBar: a row shows a compact quota bar for a key with a
// quota of its own, and none for a key without.
func TestKeysListQuotaBar(t *testing.T) {
	t.Parallel()
	k := newKeysEnv(t, storetest.SQLite(t), nil)
	now := k.clock.Now()
	daily := k.newKey(k.acme.ID, apikey.Input{Description: "Daily", Quota: apikey.QuotaInput{Kind: "day", Limit: "200"}})
	today, _ := daily.QuotaSpec().Period(now)
	k.spend(daily.ID, today, 50)
	credits := k.newKey(k.acme.ID, apikey.Input{Description: "Credits", Quota: apikey.QuotaInput{Kind: "credits", Limit: "40"}})
	free := k.newKey(k.acme.ID, apikey.Input{Description: "Free"})

	for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
		r := k.admin.get("/orgs/acme/keys", hdr...)
		wantStatus(t, r, http.StatusOK)
		row := func(id string) *goquery.Selection {
			return r.doc.Find(`[data-testid="key-row"][data-key-id="` + id + `"]`)
		}
		for id, want := range map[string][3]string{
			daily.ID:   {"Quota: 50 of 200 today", "50", "200"},
			credits.ID: {"Quota: 40 of 40 credits left", "40", "40"},
		} {
			text, value, maxValue, _ := meter(t, row(id))
			if [3]string{text, value, maxValue} != want {
				t.Errorf("%v: row %s: %q, bar %s of %s; want %q", hdr, id, text, value, maxValue, want)
			}
		}
		if n := row(free.ID).Find(`[data-testid="quota-meter"]`).Length(); n != 0 {
			t.Errorf("%v: a key without a quota has %d bars in its row", hdr, n)
		}
		if !strings.Contains(row(free.ID).Text(), "No restriction") || strings.Contains(row(daily.ID).Text(), "No restriction") {
			t.Errorf("%v: the rows' restrictions are misread", hdr)
		}
	}
}

// TestOrgQuotaSettings: an admin sets the organization's quota on the
// settings page (report only or not), sees its standing, adds credits to
// it, and is refused bad values with messages; members can do none of it.
func TestOrgQuotaSettings(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		c := k.admin
		hx := []string{"HX-Request", "true"}
		const path = "/orgs/acme/settings"

		r := c.get(path)
		wantStatus(t, r, http.StatusOK)
		if got := quotaFields(r, "org-quota-form"); got != [4]string{"none", "", "", ""} {
			t.Errorf("no quota shows as %q", got)
		}
		if r.testid("org-quota-standing").Length() != 0 || r.doc.Find("#"+settings.QuotaStandingID).Length() != 1 {
			t.Error("a standing without a quota, or no swap target for one")
		}

		save := func(kind, limit, refill, amount, reportOnly string, hdr ...string) *resp {
			form := withQuota(url.Values{}, kind, limit, refill, amount)
			if reportOnly != "" {
				form.Set("quota_report_only", reportOnly)
			}
			return c.post(path+"/quota", form, hdr...)
		}
		wantRedirect(t, save("credits", "10000", "7d", "", "true"), path+"#"+settings.QuotaID)
		oq, err := k.keys.OrgQuota(t.Context(), k.acme.ID, k.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if oq.State == nil || oq.State.Spec.Kind != quota.Credits || oq.State.Spec.Limit != 10000 || oq.State.Spec.Refill != 7*24*time.Hour || !oq.ReportOnly {
			t.Fatalf("stored organization quota %+v", oq)
		}
		r = c.get(path)
		if !strings.Contains(r.body, "The quota of Acme is now 10,000 credits, set to 10,000 every 7 days (report only).") {
			t.Error("no flash after saving the quota")
		}
		if got := quotaFields(r, "org-quota-form"); got != [4]string{"credits", "10000", "7d", ""} {
			t.Errorf("the saved quota shows as %q", got)
		}
		if _, ok := r.doc.Find("#field-quota_report_only").Attr("checked"); !ok {
			t.Error("report only is not ticked")
		}
		st := r.testid("org-quota-standing")
		if text, value, maxValue, _ := meter(t, st); text != "10,000 credits left of 10,000" || value != "10000" || maxValue != "10000" {
			t.Errorf("standing %q, bar %s of %s", text, value, maxValue)
		}
		if st.Find(`[data-testid="quota-report-only"]`).Length() != 1 || st.Find(`[data-testid="add-org-credits"]`).AttrOr("href", "") != path+"/credits" {
			t.Error("the standing lacks its report-only flag or Add credits")
		}

		whole := "Enter a whole number from 1 to 1,000,000,000,000."
		for _, tc := range []struct {
			kind, limit, refill, amount, reportOnly string
			field, says                             string
		}{
			{"day", "0", "", "", "", "quota_limit", whole},
			{"credits", "ten", "", "", "", "quota_limit", whole},
			{"month", "10", "1d", "", "", "quota_refill", "Only credits are refilled"},
			{"credits", "10", "10s", "", "", "quota_refill", "at most once a minute"},
			{"credits", "10", "", "3", "", "quota_refill_amount", "Set a refill interval"},
			{"hourly", "10", "", "", "", "quota_kind", "Choose requests per day"},
			{"day", "10", "", "", "maybe", "quota_report_only", "Tick the box or leave it empty."},
		} {
			r := save(tc.kind, tc.limit, tc.refill, tc.amount, tc.reportOnly)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if got := r.text("error-" + tc.field); !strings.Contains(got, tc.says) {
				t.Errorf("%+v: error-%s %q", tc, tc.field, got)
			}
			got := quotaFields(r, "org-quota-form")
			if got[1] != tc.limit || got[3] != tc.amount {
				t.Errorf("%+v: the form lost what was typed: %q", tc, got)
			}
			if text, _, _, _ := meter(t, r.testid("org-quota-standing")); text != "10,000 credits left of 10,000" {
				t.Errorf("%+v: the standing beside the errors says %q", tc, text)
			}
		}

		// Adding credits: a dialog (a page without JavaScript), the standing
		// swapped out of band, 422 for bad amounts.
		if r := c.get(path+"/credits", hx...); !isFragment(r) || r.testid("credits-modal").Length() != 1 {
			t.Fatal("with htmx the add-credits form is not the dialog alone")
		}
		if r := c.get(path + "/credits"); isFragment(r) || r.text("credits-standing") != "10,000 credits left of 10,000" {
			t.Fatal("without htmx the add-credits form is not a page with the balance")
		}
		wantRedirect(t, c.post(path+"/credits", url.Values{"amount": {"2500"}}), path+"#"+settings.QuotaID)
		if text, _, _, _ := meter(t, c.get(path).testid("org-quota-standing")); text != "12,500 credits left of 12,500" {
			t.Errorf("after adding 2,500: %q", text)
		}
		r = c.post(path+"/credits", url.Values{"amount": {"500"}}, hx...)
		wantStatus(t, r, http.StatusOK)
		if text, _, _, _ := meter(t, oob(t, r, settings.QuotaStandingID)); text != "13,000 credits left of 13,000" {
			t.Errorf("the swapped standing says %q", text)
		}
		if r.Header.Get("HX-Trigger") != keys.CloseModalEvt || r.text("toast") != "Added 500 credits to Acme." {
			t.Errorf("htmx top-up: trigger %q, toast %q", r.Header.Get("HX-Trigger"), r.text("toast"))
		}
		for _, hdr := range [][]string{nil, hx} {
			r := c.post(path+"/credits", url.Values{"amount": {"0"}}, hdr...)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if got := r.text("error-amount"); got != "Enter a whole number of credits from 1 to 1,000,000,000,000." {
				t.Errorf("%v: amount 0 says %q", hdr, got)
			}
		}
		wantStatus(t, c.postRaw(path+"/credits", url.Values{"amount": {"100"}}), http.StatusForbidden)
		wantStatus(t, c.postRaw(path+"/quota", withQuota(url.Values{}, "none", "", "", "")), http.StatusForbidden)

		// Members are refused every part of it.
		bob := k.user("bob@example.com", "Bob", false)
		k.addMember(k.acme.ID, bob.ID, "member")
		m := k.client()
		m.mustLogin("bob@example.com")
		wantStatus(t, m.get(path), http.StatusForbidden)
		wantStatus(t, m.post(path+"/quota", withQuota(url.Values{}, "none", "", "", "")), http.StatusForbidden)
		wantStatus(t, m.get(path+"/credits"), http.StatusForbidden)
		wantStatus(t, m.post(path+"/credits", url.Values{"amount": {"100"}}), http.StatusForbidden)

		// A quota of requests takes no credits; none removes it.
		wantRedirect(t, save("day", "500", "", "", ""), path+"#"+settings.QuotaID)
		r = c.get(path)
		if r.testid("add-org-credits").Length() != 0 || r.testid("quota-report-only").Length() != 0 {
			t.Error("a day quota offers credits, or is still report only")
		}
		wantStatus(t, c.get(path+"/credits"), http.StatusConflict)
		wantStatus(t, c.post(path+"/credits", url.Values{"amount": {"100"}}), http.StatusConflict)
		wantRedirect(t, save("none", "", "", "", ""), path+"#"+settings.QuotaID)
		if r := c.get(path); r.testid("org-quota-standing").Length() != 0 || quotaFields(r, "org-quota-form")[0] != "none" {
			t.Error("a removed quota still shows")
		}

		var actions []string
		if err := db.Model(&audit.Event{}).Where("org_id = ? AND action LIKE ?", k.acme.ID, "org.%").
			Order("created_at, id").Pluck("action", &actions).Error; err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(actions, " "); !strings.Contains(got, "org.quota_changed org.credits_added org.credits_added org.quota_changed org.quota_changed") {
			t.Errorf("audit %q", got)
		}
	})
}
