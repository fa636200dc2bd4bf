package web

import (
	"context"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/usage"
)

// TestAPIUsageMatchesDashboard drives real traffic through the data plane
// and reads it back from the API and from the dashboard's charts: every
// bucket and every outcome are the same numbers.
func TestAPIUsageMatchesDashboard(t *testing.T) {
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
		d.add("ci", apikey.Input{Scopes: []string{"keys:manage"}})
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
		call(6, 200, sms("sms:send")...)
		call(2, 403, sms("reports:read")...)
		call(4, 200, "X-Api-Key", d.secrets["web"], "Origin", "https://example.com")
		call(5, 403, "X-Api-Key", d.secrets["web"], "Origin", "https://evil.example.net")
		d.advance(3 * time.Hour) // 01:xx UTC on the 21st: another hour and day
		call(7, 200, sms("sms:send")...)
		call(1, 403, "X-Api-Key", d.secrets["web"], "Origin", "https://evil.example.net")
		if err := rec.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}

		a := &apiEnv{env: d.env, spec: newSpecValidator(t, d.env)}
		ci := d.secrets["ci"]
		get := func(route, path string) apiResponse {
			t.Helper()
			r := a.call("GET", route, path, ci, "")
			if r.status != 200 {
				t.Fatalf("%s: %d %s", path, r.status, r.raw)
			}
			return r
		}
		// compare checks every point of the API's series against the
		// dashboard's table, and the totals against the points.
		compare := func(r apiResponse, page *resp, table, period string, points int, bucket usage.Bucket) {
			t.Helper()
			if r.body["period"] != period {
				t.Errorf("period %v, want %s", r.body["period"], period)
			}
			series := r.body["series"].([]any)
			if len(series) != points {
				t.Fatalf("%d points, want %d", len(series), points)
			}
			if n := page.testid(table).Find("tbody tr").Length(); n != points {
				t.Fatalf("the dashboard shows %d rows, want %d", n, points)
			}
			sums := map[string]float64{}
			var prev time.Time
			for _, p := range series {
				p := p.(map[string]any)
				at, err := time.Parse(time.RFC3339, p["time"].(string))
				if err != nil || at.Location() != time.UTC {
					t.Fatalf("time %v: %v", p["time"], err)
				}
				if !prev.IsZero() && at.Sub(prev) != map[usage.Bucket]time.Duration{usage.Hour: time.Hour, usage.Day: 24 * time.Hour}[bucket] {
					t.Errorf("%s follows %s", at, prev)
				}
				prev = at
				label := at.Format("2006-01-02 15:04 UTC")
				if bucket == usage.Day {
					label = at.Format(time.DateOnly)
				}
				var total float64
				for outcome, n := range p["outcomes"].(map[string]any) {
					total += n.(float64)
					sums[outcome] += n.(float64)
					if got := cell(t, page, table, label, outcome); got != strconv.FormatFloat(n.(float64), 'f', -1, 64) {
						t.Errorf("%s %s: the API says %v, the dashboard %s", label, outcome, n, got)
					}
				}
				if got := cell(t, page, table, label, "total"); got != strconv.FormatFloat(total, 'f', -1, 64) {
					t.Errorf("%s total: the API says %v, the dashboard %s", label, total, got)
				}
			}
			totals := r.body["totals"].(map[string]any)
			if len(totals) != len(sums) {
				t.Errorf("totals %v, points sum to %v", totals, sums)
			}
			for outcome, n := range sums {
				if totals[outcome] != n {
					t.Errorf("totals[%s] = %v, points sum to %v", outcome, totals[outcome], n)
				}
			}
		}
		wantTotals := func(r apiResponse, want map[string]float64) {
			t.Helper()
			got := r.body["totals"].(map[string]any)
			for outcome, n := range want {
				if got[outcome] != n {
					t.Errorf("totals[%s] = %v, want %v", outcome, got[outcome], n)
				}
			}
		}

		keyURL := "/api/v1/keys/" + d.ids["sms"] + "/usage"
		r := get("/v1/keys/{id}/usage", keyURL)
		compare(r, member.get("/orgs/acme/keys/"+d.ids["sms"]), "usage-hourly-table", "24h", 24, usage.Hour)
		wantTotals(r, map[string]float64{"allowed": 13, "forbidden": 2})
		if last := r.body["series"].([]any)[23].(map[string]any); last["time"] != "2026-11-21T01:00:00Z" {
			t.Errorf("the last hour is %v, want the current one", last["time"])
		}
		r = get("/v1/keys/{id}/usage", keyURL+"?period=7d")
		compare(r, member.get("/orgs/acme/keys/"+d.ids["sms"]+"?period=7d"), "usage-daily-table", "7d", 7, usage.Day)
		r = get("/v1/keys/{id}/usage", keyURL+"?period=30d")
		compare(r, member.get("/orgs/acme/keys/"+d.ids["sms"]+"?period=30d"), "usage-daily-table", "30d", 30, usage.Day)
		if last := r.body["series"].([]any)[29].(map[string]any); last["time"] != "2026-11-21T00:00:00Z" {
			t.Errorf("the last day is %v, want today", last["time"])
		}

		orgPage := member.get("/orgs/acme/usage")
		r = get("/v1/usage", "/api/v1/usage")
		compare(r, orgPage, "usage-hourly-table", "24h", 24, usage.Hour)
		r = get("/v1/usage", "/api/v1/usage?period=30d")
		compare(r, orgPage, "usage-daily-table", "30d", 30, usage.Day)
		wantTotals(r, map[string]float64{"allowed": 17, "forbidden": 2, "domain_not_allowed": 6})
		// 7d is the last 7 of the same 30 days.
		week := get("/v1/usage", "/api/v1/usage?period=7d")
		if !reflect.DeepEqual(week.body["series"].([]any), r.body["series"].([]any)[23:]) {
			t.Errorf("7d %v is not the end of 30d", week.body["series"])
		}

		// A bad period names the parameter; another organization's key is 404.
		for route, path := range map[string]string{"/v1/keys/{id}/usage": keyURL + "?period=1y", "/v1/usage": "/api/v1/usage?period=24"} {
			r := a.call("GET", route, path, ci, "")
			if r.status != 422 || r.code() != "invalid" || !slices.Equal(r.fields(), []string{"period"}) {
				t.Errorf("%s: %d %s", path, r.status, r.raw)
			}
		}
		other := d.org("Other", "other", bob.ID)
		otherKey := a.mustKey(other.ID, apikey.Input{Description: "Theirs", Kind: "private", Environment: "live"})
		r = a.call("GET", "/v1/keys/{id}/usage", "/api/v1/keys/"+otherKey.Key.ID+"/usage", ci, "")
		if r.status != 404 || r.code() != "not_found" {
			t.Errorf("another organization's key: %d %s", r.status, r.raw)
		}
	})
}
