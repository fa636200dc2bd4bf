package web

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/usage"
)

// csvOf checks that r is a CSV attachment and returns its rows.
func csvOf(t *testing.T, r *resp) [][]string {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="keyplane-usage-`) || !strings.HasSuffix(cd, `.csv"`) {
		t.Fatalf("Content-Disposition %q", cd)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	rows, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, r.body)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], []string{"time_bucket_utc", "key_id", "key_description", "outcome", "count"}) {
		t.Fatalf("header row %q", rows)
	}
	return rows[1:]
}

func wantRows(t *testing.T, what string, got [][]string, want ...[]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows %q, want %d %q", what, len(got), got, len(want), want)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("%s: row %d = %q, want %q", what, i, got[i], want[i])
		}
	}
}

func TestUsageCSV(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		u := newUsageEnv(t, db)
		// Descriptions a spreadsheet would run as formulas.
		evil := u.newKey(u.acme.ID, apikey.Input{Description: "=HYPERLINK(\"http://evil.example\",\"x\")"})
		plain := u.newKey(u.acme.ID, apikey.Input{Description: "web, \"main\""})
		plus := u.newKey(u.acme.ID, apikey.Input{Description: "+1 sms"})
		now := u.clock.Now().UTC()
		h := now.Truncate(time.Hour)
		today := now.Truncate(24 * time.Hour)
		u.insert(
			usage.Hourly{KeyID: plain.ID, OrgID: u.acme.ID, Hour: h, Outcome: "allowed", Scope: "read", Count: 120},
			usage.Hourly{KeyID: plain.ID, OrgID: u.acme.ID, Hour: h, Outcome: "allowed", Scope: "write", Count: 4},
			usage.Hourly{KeyID: plain.ID, OrgID: u.acme.ID, Hour: h, Outcome: "rate_limited", Count: 7},
			usage.Hourly{KeyID: evil.ID, OrgID: u.acme.ID, Hour: today.AddDate(0, 0, -10).Add(3 * time.Hour), Outcome: "allowed", Count: 5},
			usage.Hourly{KeyID: plus.ID, OrgID: u.acme.ID, Hour: today.AddDate(0, 0, -40), Outcome: "allowed", Count: 9},
			usage.Hourly{KeyID: u.otherKey.ID, OrgID: u.otherOrg.ID, Hour: h, Outcome: "allowed", Count: 77777},
		)
		day := func(d time.Time) string { return d.Format(time.RFC3339) }
		todayRows := [][]string{
			{day(today), plain.ID, `web, "main"`, "allowed", "124"},
			{day(today), plain.ID, `web, "main"`, "rate_limited", "7"},
		}

		// The page links to the CSV of the range it shows; a member may
		// download it.
		r := u.member.get("/orgs/acme/usage")
		wantStatus(t, r, http.StatusOK)
		href := r.testid("usage-csv").AttrOr("href", "")
		if href != "/orgs/acme/usage.csv?range=30d" {
			t.Fatalf("Download CSV links to %q", href)
		}
		rows := csvOf(t, u.member.get(href))
		wantRows(t, "30 days", rows, append([][]string{{day(today.AddDate(0, 0, -10)), evil.ID, "'" + evil.Description, "allowed", "5"}}, todayRows...)...)
		wantRows(t, "7 days", csvOf(t, u.member.get("/orgs/acme/usage.csv?range=7d")), todayRows...)

		from, to := today.AddDate(0, 0, -45).Format(time.DateOnly), today.AddDate(0, 0, -10).Format(time.DateOnly)
		custom := "range=custom&from=" + from + "&to=" + to
		r = u.member.get("/orgs/acme/usage?" + custom)
		wantStatus(t, r, http.StatusOK)
		if got := r.testid("usage-csv").AttrOr("href", ""); got != "/orgs/acme/usage.csv?from="+from+"&range=custom&to="+to {
			t.Fatalf("Download CSV of a custom range links to %q", got)
		}
		r = u.member.get(r.testid("usage-csv").AttrOr("href", ""))
		if cd, want := r.Header.Get("Content-Disposition"), `attachment; filename="keyplane-usage-acme-`+strings.ReplaceAll(from, "-", "")+"-"+strings.ReplaceAll(to, "-", "")+`.csv"`; cd != want {
			t.Errorf("Content-Disposition %q, want %q", cd, want)
		}
		wantRows(t, "custom", csvOf(t, r),
			[]string{day(today.AddDate(0, 0, -40)), plus.ID, "'+1 sms", "allowed", "9"},
			[]string{day(today.AddDate(0, 0, -10)), evil.ID, "'" + evil.Description, "allowed", "5"},
		)

		// The key's section: hours for 24h, UTC days otherwise; only this key.
		kr := u.member.get("/orgs/acme/keys/" + plain.ID)
		keyCSV := kr.testid("key-usage-csv").AttrOr("href", "")
		if keyCSV != "/orgs/acme/keys/"+plain.ID+"/usage.csv?period=24h" {
			t.Fatalf("key Download CSV links to %q", keyCSV)
		}
		wantRows(t, "key, 24 hours", csvOf(t, u.member.get(keyCSV)),
			[]string{day(h), plain.ID, `web, "main"`, "allowed", "124"},
			[]string{day(h), plain.ID, `web, "main"`, "rate_limited", "7"},
		)
		kr = u.member.get("/orgs/acme/keys/" + evil.ID + "?period=custom&from=" + from + "&to=" + to)
		wantStatus(t, kr, http.StatusOK)
		keyCSV = kr.testid("key-usage-csv").AttrOr("href", "")
		if keyCSV != "/orgs/acme/keys/"+evil.ID+"/usage.csv?from="+from+"&period=custom&to="+to {
			t.Fatalf("key Download CSV of a custom range links to %q", keyCSV)
		}
		wantRows(t, "key, custom", csvOf(t, u.member.get(keyCSV)), []string{day(today.AddDate(0, 0, -10)), evil.ID, "'" + evil.Description, "allowed", "5"})
		wantRows(t, "key, 7 days", csvOf(t, u.member.get("/orgs/acme/keys/"+evil.ID+"/usage.csv?period=7d")))

		// Another organization's key, or organization, is not found; a
		// signed-out visitor is sent to sign in.
		want404(t, u.member.get("/orgs/acme/keys/"+u.otherKey.ID+"/usage.csv?period=30d"))
		want404(t, u.member.get("/orgs/other/usage.csv"))
		want404(t, u.outsider.get("/orgs/acme/usage.csv"))
		want404(t, u.outsider.get("/orgs/acme/keys/"+plain.ID+"/usage.csv"))
		want404(t, u.member.get("/orgs/acme/keys/not-a-key/usage.csv"))
		anon := u.client()
		wantRedirect(t, anon.get("/orgs/acme/usage.csv?range=7d"), signInURL("/orgs/acme/usage.csv?range=7d"))
		rows = csvOf(t, u.outsider.get("/orgs/other/usage.csv"))
		wantRows(t, "the other organization's own", rows, []string{day(today), u.otherKey.ID, "theirs", "allowed", "77777"})
	})
}

func TestCSVCellsNeutralised(t *testing.T) {
	for in, want := range map[string]string{
		"=1+2": "'=1+2", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "\rx": "'\rx",
		"plain": "plain", "": "", "a=b": "a=b", "'quoted": "'quoted",
	} {
		if got := csvRow(in)[0]; got != want {
			t.Errorf("csvRow(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUsageCustomRange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		u := newUsageEnv(t, db)
		key := u.newKey(u.acme.ID, apikey.Input{Description: "web"})
		now := u.clock.Now().UTC()
		today := now.Truncate(24 * time.Hour)
		u.insert(usage.Hourly{KeyID: key.ID, OrgID: u.acme.ID, Hour: today.AddDate(0, 0, -3), Outcome: "allowed", Count: 6})
		d := func(days int) string { return today.AddDate(0, 0, days).Format(time.DateOnly) }
		oldest := now.Add(-u.cfg.UsageRetention).Truncate(24 * time.Hour).Format(time.DateOnly)

		// A good range shows its days, labelled, with the form filled in.
		q := "range=custom&from=" + d(-5) + "&to=" + d(-2)
		r := u.member.get("/orgs/acme/usage?" + q)
		wantStatus(t, r, http.StatusOK)
		if n := r.testid("usage-daily-table").Find("tbody tr").Length(); n != 4 {
			t.Errorf("%d days in the chart's table, want 4", n)
		}
		if got := cell(t, r, "usage-daily-table", d(-3), "allowed"); got != "6" {
			t.Errorf("day -3 allowed = %q", got)
		}
		if !strings.Contains(r.doc.Find("#totals-heading").Text(), d(-5)+" to "+d(-2)) {
			t.Errorf("heading %q does not name the days", r.doc.Find("#totals-heading").Text())
		}
		form := r.testid("usage-custom-range")
		for name, want := range map[string]string{"from": d(-5), "to": d(-2)} {
			in := form.Find(`input[name="` + name + `"]`)
			id := in.AttrOr("id", "")
			if in.AttrOr("type", "") != "date" || in.AttrOr("value", "") != want || id == "" || r.doc.Find(`label[for="`+id+`"]`).Length() != 1 {
				t.Errorf("%s input: type %q value %q, labelled %d", name, in.AttrOr("type", ""), in.AttrOr("value", ""), r.doc.Find(`label[for="`+id+`"]`).Length())
			}
			if in.AttrOr("min", "") != oldest || in.AttrOr("max", "") != d(0) {
				t.Errorf("%s input: min %q max %q, want %s and %s", name, in.AttrOr("min", ""), in.AttrOr("max", ""), oldest, d(0))
			}
		}
		wantStatus(t, u.member.get("/orgs/acme/usage?range=custom&from="+d(0)+"&to="+d(0)), http.StatusOK)
		wantStatus(t, u.member.get("/orgs/acme/usage?range=custom&from="+oldest+"&to="+d(0)), http.StatusOK)
		// A preset fills the form with its own days.
		r = u.member.get("/orgs/acme/usage?range=7d")
		if got := r.testid("usage-custom-range").Find(`input[name="from"]`).AttrOr("value", ""); got != d(-6) {
			t.Errorf("7 days: from %q, want %s", got, d(-6))
		}

		day := 24 * time.Hour
		beforeOldest := now.Add(-u.cfg.UsageRetention - day).Format(time.DateOnly)
		bad := []struct{ name, from, to, message string }{
			{"no dates", "", "", "Choose both a start date and an end date."},
			{"no end", d(-3), "", "Choose both"},
			{"not a date", "yesterday", d(0), "Write dates as year-month-day"},
			{"a day that does not exist", today.Format("2006") + "-02-30", d(0), "Write dates as year-month-day"},
			{"another format", today.Format("02/01/2006"), d(0), "Write dates as year-month-day"},
			{"a time", d(-2) + "T00:00:00Z", d(0), "Write dates as year-month-day"},
			{"very long", strings.Repeat("9", 5000), d(0), "Write dates as year-month-day"},
			{"end before start", d(-2), d(-5), "The end date, " + d(-5) + ", is before the start date, " + d(-2) + "."},
			{"in the future", d(-2), d(1), "The end date cannot be after today, " + d(0) + " (UTC)."},
			{"far future", d(1), d(400), "The end date cannot be after today"},
			{"before retention", beforeOldest, d(0), "Usage is kept from " + oldest + ": the start date cannot be earlier."},
			{"year one", "0001-01-01", d(0), "Usage is kept from"},
		}
		for _, tc := range bad {
			v := url.Values{"from": {tc.from}, "to": {tc.to}}
			for _, page := range []struct{ path, param, csv string }{
				{"/orgs/acme/usage", "range", "/orgs/acme/usage.csv"},
				{"/orgs/acme/keys/" + key.ID, "period", "/orgs/acme/keys/" + key.ID + "/usage.csv"},
			} {
				v.Set(page.param, "custom")
				r := u.member.get(page.path + "?" + v.Encode())
				if r.StatusCode != http.StatusUnprocessableEntity {
					t.Errorf("%s on %s: status %d, want 422", tc.name, page.path, r.StatusCode)
					continue
				}
				msg := r.testid("usage-range-error")
				if msg.AttrOr("role", "") != "alert" || !strings.Contains(msg.Text(), tc.message) {
					t.Errorf("%s on %s: message %q, want %q", tc.name, page.path, msg.Text(), tc.message)
				}
				if in := r.doc.Find(`input[name="from"][type="date"]`); in.AttrOr("aria-invalid", "") != "true" || in.AttrOr("aria-describedby", "") != msg.AttrOr("id", "-") {
					t.Errorf("%s on %s: the from input is not marked invalid", tc.name, page.path)
				}
				// htmx swaps the key's usage section with the message.
				if strings.Contains(page.path, "/keys/") {
					hx := u.member.get(page.path+"?"+v.Encode(), "HX-Request", "true")
					if hx.StatusCode != http.StatusUnprocessableEntity || hx.testid("key-usage").Find(`[data-testid="usage-range-error"]`).Length() != 1 {
						t.Errorf("%s: htmx answer %d without the message in the section", tc.name, hx.StatusCode)
					}
				}
				// The CSV refuses it the same way, as a page.
				r = u.member.get(page.csv + "?" + v.Encode())
				if r.StatusCode != http.StatusUnprocessableEntity || r.Header.Get("Content-Disposition") != "" || !strings.Contains(r.text("error-page"), tc.message) {
					t.Errorf("%s on %s: status %d, Content-Disposition %q, page %q", tc.name, page.csv, r.StatusCode, r.Header.Get("Content-Disposition"), r.text("error-page"))
				}
			}
		}
		// An unknown preset is the default, not an error.
		wantStatus(t, u.member.get("/orgs/acme/usage?range=bogus"), http.StatusOK)
		wantStatus(t, u.member.get("/orgs/acme/usage.csv?range=bogus"), http.StatusOK)
	})
}
