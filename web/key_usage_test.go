package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/usage"
)

// TestKeyUsageTimeZone shows the same UTC hours under the labels of the
// viewer's zone, half-hour zones and daylight saving included, and falls
// back to UTC for a missing or unknown zone.
func TestKeyUsageTimeZone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		u := newUsageEnv(t, db)
		// 2026-03-29 01:00 UTC is when Europe/Paris moves from CET to CEST.
		u.clock.Set(time.Date(2026, 3, 29, 5, 20, 0, 0, time.UTC))
		key := u.newKey(u.acme.ID, apikey.Input{Description: "web"})
		at := func(h int) time.Time { return time.Date(2026, 3, 29, h, 0, 0, 0, time.UTC) }
		u.insert(
			usage.Hourly{KeyID: key.ID, OrgID: u.acme.ID, Hour: at(5), Outcome: "allowed", Count: 11},
			usage.Hourly{KeyID: key.ID, OrgID: u.acme.ID, Hour: at(0), Outcome: "allowed", Count: 22},
			usage.Hourly{KeyID: key.ID, OrgID: u.acme.ID, Hour: at(1), Outcome: "forbidden", Count: 33},
		)
		for _, tt := range []struct {
			zone, want string   // the cookie, and the zone the page names
			labels     []string // the labels of 05:00, 00:00 and 01:00 UTC
		}{
			{"", "UTC", []string{"2026-03-29 05:00 UTC", "2026-03-29 00:00 UTC", "2026-03-29 01:00 UTC"}},
			{"Mars/Olympus_Mons", "UTC", []string{"2026-03-29 05:00 UTC", "2026-03-29 00:00 UTC", "2026-03-29 01:00 UTC"}},
			{"Local", "UTC", []string{"2026-03-29 05:00 UTC", "2026-03-29 00:00 UTC", "2026-03-29 01:00 UTC"}},
			{"Europe/./Paris", "UTC", []string{"2026-03-29 05:00 UTC", "2026-03-29 00:00 UTC", "2026-03-29 01:00 UTC"}},
			{"../../etc/localtime", "UTC", []string{"2026-03-29 05:00 UTC", "2026-03-29 00:00 UTC", "2026-03-29 01:00 UTC"}},
			{"Asia/Kolkata", "Asia/Kolkata", []string{"2026-03-29 10:30 IST", "2026-03-29 05:30 IST", "2026-03-29 06:30 IST"}},
			{"America/New_York", "America/New_York", []string{"2026-03-29 01:00 EDT", "2026-03-28 20:00 EDT", "2026-03-28 21:00 EDT"}},
			{"Europe/Paris", "Europe/Paris", []string{"2026-03-29 07:00 CEST", "2026-03-29 01:00 CET", "2026-03-29 03:00 CEST"}},
		} {
			t.Run(tt.want+"/"+tt.zone, func(t *testing.T) {
				c := u.member
				c.setCookie(zoneCookie, tt.zone)
				r := c.get("/orgs/acme/keys/" + key.ID)
				wantStatus(t, r, http.StatusOK)
				if got := r.testid("key-usage").AttrOr("data-viewer-tz", ""); got != tt.want {
					t.Errorf("section zone %q, want %q", got, tt.want)
				}
				if caption := r.testid("usage-hourly-table").Find("caption").Text(); !strings.Contains(caption, "("+tt.want+")") {
					t.Errorf("caption %q does not name %s", caption, tt.want)
				}
				if n := r.testid("usage-hourly-table").Find("tbody tr").Length(); n != 24 {
					t.Errorf("%d hours, want 24", n)
				}
				for i, want := range []string{"11", "22", "33"} {
					outcome := "allowed"
					if i == 2 {
						outcome = "forbidden"
					}
					if got := cell(t, r, "usage-hourly-table", tt.labels[i], outcome); got != want {
						t.Errorf("%s %s: %q, want %s", tt.labels[i], outcome, got, want)
					}
				}
				// The last bar is the current hour.
				last := strings.TrimSpace(r.testid("usage-hourly-table").Find(`tbody tr:last-child th`).Text())
				if last != tt.labels[0] {
					t.Errorf("last hour %q, want %q", last, tt.labels[0])
				}
			})
		}
	})
}

// TestKeyScopeUse sets the scopes a key holds beside those its requests
// needed in the last 30 days, with the hints.
func TestKeyScopeUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		u := newUsageEnv(t, db)
		key := u.newKey(u.acme.ID, apikey.Input{Description: "web", Scopes: []string{"read", "write"}})
		broad := u.newKey(u.acme.ID, apikey.Input{Description: "broad", Scopes: []string{"admin"}})
		h := u.clock.Now().UTC().Truncate(time.Hour)
		old := h.Add(-31 * 24 * time.Hour)
		u.insert(
			usage.Hourly{KeyID: key.ID, OrgID: u.acme.ID, Hour: h, Outcome: "allowed", Scope: "read", Count: 40},
			usage.Hourly{KeyID: key.ID, OrgID: u.acme.ID, Hour: h.Add(-48 * time.Hour), Outcome: "rate_limited", Scope: "read", Count: 2},
			usage.Hourly{KeyID: key.ID, OrgID: u.acme.ID, Hour: h, Outcome: "forbidden", Scope: "read reports:read", Count: 5},
			usage.Hourly{KeyID: key.ID, OrgID: u.acme.ID, Hour: h, Outcome: "allowed", Count: 1000},
			usage.Hourly{KeyID: key.ID, OrgID: u.acme.ID, Hour: old, Outcome: "allowed", Scope: "write", Count: 9}, // too old
			usage.Hourly{KeyID: broad.ID, OrgID: u.acme.ID, Hour: h, Outcome: "allowed", Scope: "read", Count: 7},
			usage.Hourly{KeyID: broad.ID, OrgID: u.acme.ID, Hour: h, Outcome: "allowed", Scope: "read sms:send", Count: 3},
		)
		row := func(r *resp, scope string) []string {
			tr := r.testid("key-scopes-table").Find(`tr[data-scope="` + scope + `"]`)
			if tr.Length() != 1 {
				t.Fatalf("no row for %s in %q", scope, r.testid("key-scopes-table").Text())
			}
			var cells []string
			for _, col := range []string{"granted", "requests", "forbidden"} {
				cells = append(cells, strings.TrimSpace(tr.Find(`[data-col="`+col+`"]`).Text()))
			}
			return cells
		}

		r := u.member.get("/orgs/acme/keys/" + key.ID)
		wantStatus(t, r, http.StatusOK)
		for scope, want := range map[string]string{
			"read":         "[granted 47 —]",
			"write":        "[granted 0 —]",
			"reports:read": "[not granted 5 5]",
		} {
			if got := fmt.Sprint(row(r, scope)); got != want {
				t.Errorf("%s: %s, want %s", scope, got, want)
			}
		}
		if n := r.testid("key-scopes-table").Find("tbody tr").Length(); n != 3 {
			t.Errorf("%d scope rows, want 3", n)
		}
		if hint := r.testid("scope-hint").Text(); !strings.Contains(hint, "No request needed write in the last 30 days") {
			t.Errorf("hint %q", hint)
		}
		if r.testid("scope-hint-admin").Length() != 0 {
			t.Error("an admin hint for a key without admin")
		}

		r = u.member.get("/orgs/acme/keys/" + broad.ID)
		wantStatus(t, r, http.StatusOK)
		for scope, want := range map[string]string{
			"admin":    "[granted 10 —]",
			"read":     "[through admin 10 —]",
			"sms:send": "[through admin 3 —]",
		} {
			if got := fmt.Sprint(row(r, scope)); got != want {
				t.Errorf("%s: %s, want %s", scope, got, want)
			}
		}
		if hint := r.testid("scope-hint-admin").Text(); !strings.Contains(hint, "needed only read, sms:send in the last 30 days") {
			t.Errorf("admin hint %q", hint)
		}
		if r.testid("scope-hint").Length() != 0 {
			t.Error("admin reported as unused")
		}
	})
}

// TestUsageExactThroughDataPlane drives requests through the data plane,
// flushes the counters, and finds exactly those numbers on the key page,
// the keys list and the organization's usage page.
func TestUsageExactThroughDataPlane(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var rec *usage.Recorder
		d := newDPEnv(t, db, func(deps *Deps) {
			rec = usage.NewRecorder(db, slog.New(slog.DiscardHandler), nil)
			deps.Usage = rec
		})
		start := time.Date(2026, 11, 20, 22, 10, 0, 0, time.UTC)
		d.clock.Set(start)
		d.proxied.clock.Set(start)
		d.add("sms", apikey.Input{Scopes: []string{"sms:send"}, RateLimit: "1000"})
		d.add("web", apikey.Input{Kind: "public", Domains: "example.com"})
		bob := d.user("bob@example.com", "Bob", false)
		d.addMember(d.acme.ID, bob.ID, org.Member)
		member := d.client()
		member.mustLogin("bob@example.com")

		call := func(n int, status int, hdr ...string) {
			t.Helper()
			for range n {
				r := serve(d.srv, http.MethodGet, "/v1/auth", "203.0.113.5:4000", nil, hdr)
				if r.Code != status {
					t.Fatalf("%v: %d %s, want %d", hdr, r.Code, r.Body, status)
				}
			}
		}
		sms := func(scope string) []string {
			return []string{"X-Api-Key", d.secrets["sms"], "X-Required-Scope", scope}
		}
		// 22:xx UTC on the 20th.
		call(6, 200, sms("sms:send")...)
		call(2, 403, sms("reports:read")...)
		call(3, 200, "X-Api-Key", d.secrets["sms"])
		call(4, 200, "X-Api-Key", d.secrets["web"], "Origin", "https://example.com")
		call(5, 403, "X-Api-Key", d.secrets["web"], "Origin", "https://evil.example.net")
		// 01:xx UTC on the 21st: another hour and another UTC day.
		d.advance(3 * time.Hour)
		call(7, 200, sms("sms:send")...)
		call(1, 403, "X-Api-Key", d.secrets["web"], "Origin", "https://evil.example.net")
		if err := rec.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}

		// Key page: the hours, then the UTC days.
		keyPage := member.get("/orgs/acme/keys/" + d.ids["sms"])
		wantStatus(t, keyPage, http.StatusOK)
		for _, c := range []struct{ label, outcome, want string }{
			{"2026-11-20 22:00 UTC", "allowed", "9"},
			{"2026-11-20 22:00 UTC", "forbidden", "2"},
			{"2026-11-20 22:00 UTC", "total", "11"},
			{"2026-11-21 01:00 UTC", "allowed", "7"},
			{"2026-11-21 00:00 UTC", "total", "0"},
		} {
			if got := cell(t, keyPage, "usage-hourly-table", c.label, c.outcome); got != c.want {
				t.Errorf("key page %s %s: %q, want %s", c.label, c.outcome, got, c.want)
			}
		}
		scopes := keyPage.testid("key-scopes-table")
		if got := strings.TrimSpace(scopes.Find(`tr[data-scope="sms:send"] [data-col="requests"]`).Text()); got != "13" {
			t.Errorf("sms:send needed by %q requests, want 13", got)
		}
		if got := strings.TrimSpace(scopes.Find(`tr[data-scope="reports:read"] [data-col="forbidden"]`).Text()); got != "2" {
			t.Errorf("reports:read refused %q times, want 2", got)
		}
		week := member.get("/orgs/acme/keys/" + d.ids["sms"] + "?period=7d")
		for _, c := range []struct{ label, outcome, want string }{
			{"2026-11-20", "total", "11"},
			{"2026-11-21", "total", "7"},
			{"2026-11-19", "total", "0"},
		} {
			if got := cell(t, week, "usage-daily-table", c.label, c.outcome); got != c.want {
				t.Errorf("key page 7d %s: %q, want %s", c.label, got, c.want)
			}
		}

		// Organization page: 30 UTC days, top keys, rejections.
		orgPage := member.get("/orgs/acme/usage")
		wantStatus(t, orgPage, http.StatusOK)
		for _, c := range []struct{ label, outcome, want string }{
			{"2026-11-20", "allowed", "13"},
			{"2026-11-20", "forbidden", "2"},
			{"2026-11-20", "domain_not_allowed", "5"},
			{"2026-11-21", "total", "8"},
		} {
			if got := cell(t, orgPage, "usage-daily-table", c.label, c.outcome); got != c.want {
				t.Errorf("org page %s %s: %q, want %s", c.label, c.outcome, got, c.want)
			}
		}
		totals := orgPage.testid("top-keys").Find(`[data-testid="top-key-total"]`)
		if got := fmt.Sprint(strings.TrimSpace(totals.Eq(0).Text()), " ", strings.TrimSpace(totals.Eq(1).Text())); got != "18 10" {
			t.Errorf("top key totals %s, want 18 10", got)
		}
		rej := orgPage.testid("rejections")
		for code, want := range map[string]string{"domain_not_allowed": "6", "forbidden": "2"} {
			if got := strings.TrimSpace(rej.Find(`[data-code="` + code + `"]`).Text()); got != want {
				t.Errorf("rejections %s: %q, want %s", code, got, want)
			}
		}
	})
}

// TestZoneCacheHoldsOnlyZoneNames loads other spellings of a zone and
// checks that none of them is cached or used.
func TestZoneCacheHoldsOnlyZoneNames(t *testing.T) {
	if got := zoneByName("Europe/Paris").String(); got != "Europe/Paris" {
		t.Fatalf("Europe/Paris loads as %q", got)
	}
	for _, name := range []string{"Europe/./Paris", "Europe//Paris", "./Europe/Paris", "Europe/Paris/", "Europe/Paris\x00", "/usr/share/zoneinfo/UTC", strings.Repeat("A", 65)} {
		if got := zoneByName(name); got != time.UTC {
			t.Errorf("%q loads as %v, want UTC", name, got)
		}
		if _, cached := zones.Load(name); cached {
			t.Errorf("%q was cached", name)
		}
	}
}
