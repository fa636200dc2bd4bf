package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keyplane/internal/apikey"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/usage"
)

// usageEnv is keysEnv plus bob, a member of acme, and an outsider admin of
// another organization with a key of its own.
type usageEnv struct {
	*keysEnv
	member, outsider *client
	otherOrg         org.Organization
	otherKey         apikey.Key
}

func newUsageEnv(t *testing.T, db *store.DB) *usageEnv {
	t.Helper()
	k := newKeysEnv(t, db, nil)
	u := &usageEnv{keysEnv: k}
	bob := k.user("bob@example.com", "Bob", false)
	k.addMember(k.acme.ID, bob.ID, org.Member)
	u.member = k.client()
	u.member.mustLogin("bob@example.com")
	carol := k.user("carol@example.com", "Carol", false)
	u.otherOrg = k.org("Other", "other", carol.ID)
	u.otherKey = k.newKey(u.otherOrg.ID, apikey.Input{Description: "theirs"})
	u.outsider = k.client()
	u.outsider.mustLogin("carol@example.com")
	return u
}

func (u *usageEnv) insert(rows ...usage.Hourly) {
	u.t.Helper()
	if err := usage.Write(context.Background(), u.db, rows); err != nil {
		u.t.Fatalf("insert usage: %v", err)
	}
}

// cell returns the number a chart table shows for label and outcome.
func cell(t *testing.T, r *resp, table, label, outcome string) string {
	t.Helper()
	var got string
	found := false
	r.testid(table).Find("tbody tr").Each(func(_ int, tr *goquery.Selection) {
		if strings.TrimSpace(tr.Find(`th[scope="row"]`).Text()) == label {
			found = true
			got = strings.TrimSpace(tr.Find(`[data-outcome="` + outcome + `"]`).Text())
		}
	})
	if !found {
		t.Fatalf("%s: no row %q", table, label)
	}
	return got
}

func TestKeyPageUsage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		u := newUsageEnv(t, db)
		key := u.newKey(u.acme.ID, apikey.Input{Description: "web"})
		now := u.clock.Now().UTC()
		h := now.Truncate(time.Hour)
		u.insert(
			usage.Hourly{KeyID: key.ID, OrgID: u.acme.ID, Hour: h, Outcome: "allowed", Scope: "read", Count: 120},
			usage.Hourly{KeyID: key.ID, OrgID: u.acme.ID, Hour: h, Outcome: "allowed", Scope: "write", Count: 4},
			usage.Hourly{KeyID: key.ID, OrgID: u.acme.ID, Hour: h, Outcome: "rate_limited", Count: 7},
			usage.Hourly{KeyID: key.ID, OrgID: u.acme.ID, Hour: h.Add(-5 * 24 * time.Hour), Outcome: "allowed", Count: 33},
		)
		hourLabel := h.Format("2006-01-02 15:04 UTC")
		today := h.Format("2006-01-02")
		fiveDaysAgo := h.Add(-5 * 24 * time.Hour).Format("2006-01-02")
		for _, c := range []*client{u.admin, u.member} {
			r := c.get("/orgs/acme/keys/" + key.ID)
			wantStatus(t, r, http.StatusOK)
			if n := r.testid("usage-hourly-table").Find("tbody tr").Length(); n != 24 {
				t.Errorf("%d hourly rows, want 24", n)
			}
			if r.testid("usage-daily").Length() != 0 {
				t.Error("the daily chart shows before its period is chosen")
			}
			if got := cell(t, r, "usage-hourly-table", hourLabel, "allowed"); got != "124" {
				t.Errorf("hourly allowed %q, want 124", got)
			}
			if got := cell(t, r, "usage-hourly-table", hourLabel, "rate_limited"); got != "7" {
				t.Errorf("hourly rate_limited %q, want 7", got)
			}
			// The bucket's tooltip says what its table row says.
			var tip string
			r.testid("usage-hourly").Find("rect.chart-hit").Each(func(_ int, s *goquery.Selection) {
				if v := s.AttrOr("data-tip", ""); strings.HasPrefix(v, hourLabel+": ") {
					tip = v
				}
			})
			if !strings.Contains(tip, "Allowed 124") || !strings.Contains(tip, "Rate limited 7") {
				t.Errorf("tooltip %q", tip)
			}
			for period, days := range map[string]int{"7d": 7, "30d": 30} {
				r := c.get("/orgs/acme/keys/" + key.ID + "?period=" + period)
				wantStatus(t, r, http.StatusOK)
				if n := r.testid("usage-daily-table").Find("tbody tr").Length(); n != days {
					t.Errorf("%s: %d daily rows, want %d", period, n, days)
				}
				if cur := r.doc.Find(`[data-testid="usage-periods"] [aria-current="page"]`).AttrOr("href", ""); !strings.HasSuffix(cur, "?period="+period) {
					t.Errorf("%s: current period link %q", period, cur)
				}
				if got := cell(t, r, "usage-daily-table", today, "total"); got != "131" {
					t.Errorf("%s: today total %q, want 131", period, got)
				}
				if got := cell(t, r, "usage-daily-table", fiveDaysAgo, "allowed"); got != "33" {
					t.Errorf("%s: five days ago %q, want 33", period, got)
				}
				if r.testid("usage-hourly").Length() != 0 {
					t.Errorf("%s: the hourly chart shows too", period)
				}
			}
		}
		// An unknown period is the default one.
		r := u.member.get("/orgs/acme/keys/" + key.ID + "?period=5y")
		wantStatus(t, r, http.StatusOK)
		if r.testid("usage-hourly-table").Length() != 1 {
			t.Error("an unknown period did not fall back to 24 hours")
		}

		// A key without requests says so.
		quiet := u.newKey(u.acme.ID, apikey.Input{Description: "quiet"})
		r = u.member.get("/orgs/acme/keys/" + quiet.ID)
		wantStatus(t, r, http.StatusOK)
		if r.testid("usage-hourly-empty").Length() != 1 || r.testid("key-scopes-empty").Length() != 1 {
			t.Errorf("no empty state for a quiet key")
		}
		if r = u.member.get("/orgs/acme/keys/" + quiet.ID + "?period=30d"); r.testid("usage-daily-empty").Length() != 1 {
			t.Errorf("no empty state for a quiet key's 30 days")
		}
	})
}

func TestOrgUsagePage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		u := newUsageEnv(t, db)
		busy := u.newKey(u.acme.ID, apikey.Input{Description: "busy"})
		calm := u.newKey(u.acme.ID, apikey.Input{Description: "calm"})
		h := u.clock.Now().UTC().Truncate(time.Hour)
		yesterday := h.Add(-24 * time.Hour)
		u.insert(
			usage.Hourly{KeyID: busy.ID, OrgID: u.acme.ID, Hour: h, Outcome: "allowed", Count: 500},
			usage.Hourly{KeyID: busy.ID, OrgID: u.acme.ID, Hour: h, Outcome: "rate_limited", Count: 9},
			usage.Hourly{KeyID: calm.ID, OrgID: u.acme.ID, Hour: h, Outcome: "allowed", Count: 20},
			usage.Hourly{KeyID: calm.ID, OrgID: u.acme.ID, Hour: yesterday, Outcome: "domain_not_allowed", Count: 3},
			usage.Hourly{KeyID: u.otherKey.ID, OrgID: u.otherOrg.ID, Hour: h, Outcome: "allowed", Count: 77777},
			usage.Hourly{KeyID: u.otherKey.ID, OrgID: u.otherOrg.ID, Hour: h, Outcome: "forbidden", Count: 55555},
		)
		for _, c := range []*client{u.member, u.admin} {
			r := c.get("/orgs/acme/usage")
			wantStatus(t, r, http.StatusOK)
			if r.testid("nav-usage").Length() != 1 {
				t.Error("no usage link in the nav")
			}
			today := h.Format("2006-01-02")
			if got := cell(t, r, "usage-daily-table", today, "allowed"); got != "520" {
				t.Errorf("today allowed %q, want 520", got)
			}
			if got := cell(t, r, "usage-daily-table", today, "total"); got != "529" {
				t.Errorf("today total %q, want 529", got)
			}
			if got := cell(t, r, "usage-daily-table", yesterday.Format("2006-01-02"), "domain_not_allowed"); got != "3" {
				t.Errorf("yesterday rejections %q, want 3", got)
			}
			if strings.Contains(r.body, "77777") || strings.Contains(r.body, "55555") || strings.Contains(r.body, "theirs") {
				t.Error("another organization's usage leaked")
			}
			rows := r.testid("top-keys").Find("tbody tr")
			if rows.Length() != 2 {
				t.Fatalf("%d top keys, want 2", rows.Length())
			}
			first := rows.Eq(0)
			if href := first.Find("a").AttrOr("href", ""); href != "/orgs/acme/keys/"+busy.ID {
				t.Errorf("top key link %q", href)
			}
			if got := strings.TrimSpace(first.Find(`[data-testid="top-key-total"]`).Text()); got != "509" {
				t.Errorf("top key total %q, want 509", got)
			}
			if got := strings.TrimSpace(rows.Eq(1).Find(`[data-testid="top-key-total"]`).Text()); got != "23" {
				t.Errorf("second key total %q, want 23", got)
			}
			rej := r.testid("rejections")
			if got := strings.TrimSpace(rej.Find(`[data-code="rate_limited"]`).Text()); got != "9" {
				t.Errorf("rate_limited %q, want 9", got)
			}
			if got := strings.TrimSpace(rej.Find(`[data-code="domain_not_allowed"]`).Text()); got != "3" {
				t.Errorf("domain_not_allowed %q, want 3", got)
			}
			if rej.Find("tbody tr").Length() != 2 {
				t.Errorf("rejections: %q", rej.Text())
			}
			failing := r.testid("failing-keys").Find(`[data-testid="failing-key"]`)
			if failing.Length() != 2 {
				t.Fatalf("%d failing keys, want 2", failing.Length())
			}
			for i, want := range []struct{ url, rejected, code, n string }{
				{"/orgs/acme/keys/" + busy.ID, "9", "rate_limited", "9"},
				{"/orgs/acme/keys/" + calm.ID, "3", "domain_not_allowed", "3"},
			} {
				row := failing.Eq(i)
				if href := row.Find("a").AttrOr("href", ""); href != want.url {
					t.Errorf("failing key %d links to %q", i, href)
				}
				if got := strings.TrimSpace(row.Find(`[data-testid="failing-key-rejected"]`).Text()); got != want.rejected {
					t.Errorf("failing key %d rejected %q, want %s", i, got, want.rejected)
				}
				if got := strings.TrimSpace(row.Find(`[data-code="` + want.code + `"]`).Text()); got != want.n {
					t.Errorf("failing key %d %s %q, want %s", i, want.code, got, want.n)
				}
			}
			if got := cell(t, r, "usage-hourly-table", h.Format("2006-01-02 15:04 UTC"), "total"); got != "529" {
				t.Errorf("this hour's total %q, want 529", got)
			}
		}

		want404(t, u.outsider.get("/orgs/acme/usage"))
	})
}

func TestOrgUsageEmpty(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		u := newUsageEnv(t, db)
		u.newKey(u.acme.ID, apikey.Input{Description: "idle"})
		r := u.member.get("/orgs/acme/usage")
		wantStatus(t, r, http.StatusOK)
		for _, id := range []string{"usage-hourly-empty", "usage-daily-empty", "top-keys-empty", "rejections-empty", "failing-keys-empty"} {
			if r.testid(id).Length() != 1 {
				t.Errorf("no %s", id)
			}
		}
		if r.doc.Find("svg[data-chart-svg]").Length() != 0 {
			t.Error("a chart without data")
		}
	})
}
