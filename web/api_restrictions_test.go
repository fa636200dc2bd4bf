package web

import (
	"context"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/usage"
)

// restrictionModes reads the restrictions of a GET or PUT answer: name →
// [mode, would_refuse].
func restrictionModes(t *testing.T, r apiResponse) map[string][2]any {
	t.Helper()
	out := map[string][2]any{}
	list, _ := r.body["restrictions"].([]any)
	for _, x := range list {
		m := x.(map[string]any)
		out[m["name"].(string)] = [2]any{m["mode"], m["would_refuse"]}
	}
	if len(out) != 5 {
		t.Errorf("%d restrictions, want all 5: %s", len(out), r.raw)
	}
	return out
}

// TestAPIRestrictions is the restrictions' scenario table: one PUT
// switches one restriction (report and report_only alike; the same mode
// again is harmless); bad names and modes are 422 naming the field; ended
// keys 409; the key's JSON carries report_only and modes, and create and
// PATCH take report_only (PATCH without it keeps the modes).
func TestAPIRestrictions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPIEnv(t, db)
		manage := a.creds[credManage]
		target := a.mustKey(a.acme.ID, apikey.Input{Description: "Partner feed", Kind: "private", Environment: "live", IPs: "203.0.113.0/24", Scopes: []string{"read"}}).Key
		path := "/api/v1/keys/" + target.ID + "/restrictions"
		const route = "/v1/keys/{id}/restrictions/{name}"

		scenarios := []struct {
			name, body  string
			status      int
			code, field string
			want        apikey.ReportOnly // stored afterwards
		}{
			{"ips", `{"mode": "report"}`, 200, "", "", apikey.ReportOnly{IPs: true}},
			{"ips", `{"mode": "report_only"}`, 200, "", "", apikey.ReportOnly{IPs: true}},
			{"scopes", `{"mode": "report_only"}`, 200, "", "", apikey.ReportOnly{IPs: true, Scopes: true}},
			{"ips", `{"mode": "enforce"}`, 200, "", "", apikey.ReportOnly{Scopes: true}},
			{"ip", `{"mode": "enforce"}`, 422, "invalid", "name", apikey.ReportOnly{Scopes: true}},
			{"scopes", `{"mode": "off"}`, 422, "invalid", "mode", apikey.ReportOnly{Scopes: true}},
			{"scopes", `{}`, 422, "invalid", "mode", apikey.ReportOnly{Scopes: true}},
			{"scopes", `{"mode": `, 400, "bad_request", "", apikey.ReportOnly{Scopes: true}},
		}
		for i, sc := range scenarios {
			r := a.call("PUT", route, path+"/"+sc.name, manage, sc.body)
			if r.status != sc.status || (sc.code != "" && r.code() != sc.code) {
				t.Fatalf("scenario %d (%s %s): %d %s", i, sc.name, sc.body, r.status, r.raw)
			}
			if sc.field != "" && (len(r.fields()) != 1 || r.fields()[0] != sc.field) {
				t.Errorf("scenario %d: fields %v, want [%s]", i, r.fields(), sc.field)
			}
			if got := a.reload(target.ID).ReportOnly(); got != sc.want {
				t.Errorf("scenario %d: stored %+v, want %+v", i, got, sc.want)
			}
			if sc.status == 200 {
				modes := restrictionModes(t, r)
				for _, name := range apikey.Restrictions {
					want := "enforce"
					if sc.want.Has(name) {
						want = "report_only"
					}
					if modes[string(name)][0] != want {
						t.Errorf("scenario %d: %s answered %v, want %s", i, name, modes[string(name)][0], want)
					}
				}
			}
		}
		// Three switches were made, and audited as the key that made them.
		var events []audit.Event
		if err := db.Where("target_id = ? AND action IN ?", target.ID, []string{audit.KeyRestrictionEnforced, audit.KeyRestrictionReportOnly}).
			Order("created_at, id").Find(&events).Error; err != nil {
			t.Fatal(err)
		}
		if len(events) != 3 || events[0].ActorEmail != `kp_sk_live_…`+a.creds[credManage][len(a.creds[credManage])-4:]+` "CI deployer"` {
			t.Errorf("audit %d events, first by %q", len(events), firstActor(events))
		}

		// GET: the modes and what the report-only ones let through.
		h := a.clock.Now().UTC().Truncate(time.Hour)
		if err := usage.Write(context.Background(), db, []usage.Hourly{
			{KeyID: target.ID, OrgID: a.acme.ID, Hour: h, Outcome: "would_forbidden", Scope: "write", Count: 7},
			{KeyID: target.ID, OrgID: a.acme.ID, Hour: h.Add(-24 * time.Hour), Outcome: "would_ip_not_allowed", Count: 5},
			{KeyID: target.ID, OrgID: a.acme.ID, Hour: h.Add(-10 * 24 * time.Hour), Outcome: "would_ip_not_allowed", Count: 500},
		}); err != nil {
			t.Fatal(err)
		}
		a.insertSources(usage.Source{KeyID: target.ID, OrgID: a.acme.ID, Day: h.Truncate(24 * time.Hour), Kind: usage.SourceWouldIP, Value: "198.51.100.4", Count: 12, LastSeen: h})
		r := a.call("GET", "/v1/keys/{id}/restrictions", path, manage, "")
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		modes := restrictionModes(t, r)
		if modes["scopes"] != [2]any{"report_only", float64(7)} || modes["ips"] != [2]any{"enforce", float64(5)} || modes["quota"] != [2]any{"enforce", float64(0)} {
			t.Errorf("restrictions %v", modes)
		}
		w := r.body["would_refuse"].(map[string]any)
		if w["total"] != float64(12) || w["ips"] != float64(1) || w["codes"].(map[string]any)["forbidden"] != float64(7) || r.body["period"] != "7d" {
			t.Errorf("would_refuse %v", w)
		}

		// The key's JSON.
		r = a.call("GET", "/v1/keys/{id}", "/api/v1/keys/"+target.ID, manage, "")
		wantKey(t, r.body, map[string]any{"report_only": []string{"scopes"}})
		if m := r.body["modes"].(map[string]any); len(m) != 5 || m["scopes"] != "report_only" || m["ips"] != "enforce" {
			t.Errorf("modes %v", m)
		}
		// PATCH without report_only keeps the modes; with it, replaces them.
		r = a.call("PATCH", "/v1/keys/{id}", "/api/v1/keys/"+target.ID, manage, `{"description": "Partner feed v2"}`)
		if r.status != 200 || a.reload(target.ID).ReportOnly() != (apikey.ReportOnly{Scopes: true}) {
			t.Errorf("PATCH without report_only: %d, stored %+v", r.status, a.reload(target.ID).ReportOnly())
		}
		r = a.call("PATCH", "/v1/keys/{id}", "/api/v1/keys/"+target.ID, manage, `{"report_only": ["ips", "rate_limit"]}`)
		if r.status != 200 || a.reload(target.ID).ReportOnly() != (apikey.ReportOnly{IPs: true, RateLimit: true}) {
			t.Errorf("PATCH with report_only: %d %s", r.status, r.raw)
		}
		r = a.call("PATCH", "/v1/keys/{id}", "/api/v1/keys/"+target.ID, manage, `{"report_only": ["everything"]}`)
		if r.status != 422 || len(r.fields()) != 1 || r.fields()[0] != "report_only" {
			t.Errorf("PATCH with an unknown restriction: %d %s", r.status, r.raw)
		}
		// Create takes them.
		r = a.call("POST", "/v1/keys", "/api/v1/keys", manage, `{"description": "Born reporting", "ips": ["192.0.2.0/24"], "report_only": ["ips"]}`)
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		wantKey(t, r.body, map[string]any{"report_only": []string{"ips"}})
		if r.body["modes"].(map[string]any)["ips"] != "report_only" {
			t.Errorf("created modes %v", r.body["modes"])
		}

		// Ended keys cannot switch.
		if _, err := a.keys.Revoke(context.Background(), a.acme.ID, target.ID, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		if r := a.call("PUT", route, path+"/ips", manage, `{"mode": "enforce"}`); r.status != 409 || r.code() != "conflict" {
			t.Errorf("a revoked key: %d %s", r.status, r.raw)
		}
		// Another organization's key is not found, whatever the name.
		if r := a.call("PUT", route, path+"/ips", a.creds[credOtherOrg], `{"mode": "report"}`); r.status != 404 {
			t.Errorf("another organization: %d", r.status)
		}
	})
}

func firstActor(events []audit.Event) string {
	if len(events) == 0 {
		return ""
	}
	return events[0].ActorEmail
}

// TestAPISuggestions: the suggestion proposes exactly what the traffic
// of the last 30 days used and says what it cannot cover; apply sets them
// as report-only restrictions, and refuses when there is nothing to apply.
func TestAPISuggestions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPIEnv(t, db)
		manage := a.creds[credManage]
		// Its domains and scopes only report: restricting never touches an
		// enforced restriction.
		target := a.mustKey(a.acme.ID, apikey.Input{Description: "Storefront", Kind: "public", Environment: "live", Domains: "example.com", Scopes: []string{"read", "write"},
			ReportOnly: []string{"domains", "scopes"}}).Key
		path := "/api/v1/keys/" + target.ID + "/suggestions"

		r := a.call("GET", "/v1/keys/{id}/suggestions", path, manage, "")
		if r.status != 200 || len(r.body["ips"].([]any)) != 0 || len(r.body["applies"].([]any)) != 0 {
			t.Fatalf("no traffic: %d %s", r.status, r.raw)
		}
		if r := a.call("POST", "/v1/keys/{id}/suggestions/apply", path+"/apply", manage, ""); r.status != 422 || r.code() != "invalid" {
			t.Errorf("apply with nothing to apply: %d %s", r.status, r.raw)
		}

		h := a.clock.Now().UTC().Truncate(time.Hour)
		day := h.Truncate(24 * time.Hour)
		a.insertSources(
			usage.Source{KeyID: target.ID, OrgID: a.acme.ID, Day: day, Kind: usage.SourceIP, Value: "203.0.113.7", Count: 9, LastSeen: h},
			usage.Source{KeyID: target.ID, OrgID: a.acme.ID, Day: day, Kind: usage.SourceIP, Value: "", Count: 4, LastSeen: h},
			usage.Source{KeyID: target.ID, OrgID: a.acme.ID, Day: day, Kind: usage.SourceOrigin, Value: "https://shop.example.com", Count: 9, LastSeen: h},
		)
		if err := usage.Write(context.Background(), db, []usage.Hourly{
			{KeyID: target.ID, OrgID: a.acme.ID, Hour: h, Outcome: "allowed", Scope: "read", Count: 9},
			{KeyID: target.ID, OrgID: a.acme.ID, Hour: h, Outcome: "allowed", Scope: "reports:export", Count: 1},
		}); err != nil {
			t.Fatal(err)
		}
		r = a.call("GET", "/v1/keys/{id}/suggestions", path, manage, "")
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		values := func(field, key string) []string {
			var out []string
			for _, x := range r.body[field].([]any) {
				out = append(out, x.(map[string]any)[key].(string))
			}
			return out
		}
		if !equalJSON(toAny(values("ips", "value")), []string{"203.0.113.7"}) || !equalJSON(toAny(values("origins", "value")), []string{"https://shop.example.com"}) ||
			!equalJSON(toAny(values("scopes", "name")), []string{"read"}) {
			t.Errorf("suggestions %s", r.raw)
		}
		if r.body["other_requests"] != float64(4) || !equalJSON(r.body["left_out"], []string{"reports:export"}) ||
			!equalJSON(r.body["applies"], []string{"ips", "domains", "scopes"}) || r.body["days"] != float64(30) {
			t.Errorf("suggestions %s", r.raw)
		}

		r = a.call("POST", "/v1/keys/{id}/suggestions/apply", path+"/apply", manage, "")
		if r.status != 200 {
			t.Fatalf("apply: %d %s", r.status, r.raw)
		}
		wantKey(t, r.body, map[string]any{
			"ips": []string{"203.0.113.7/32"}, "domains": []string{"https://shop.example.com"}, "scopes": []string{"read"},
			"report_only": []string{"ips", "domains", "scopes"},
		})
		if got := a.reload(target.ID).ReportOnly(); got != (apikey.ReportOnly{IPs: true, Domains: true, Scopes: true}) {
			t.Errorf("stored %+v", got)
		}
	})
}

// toAny is list as JSON decodes it.
func toAny(list []string) []any {
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}
