package usage

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// addSources stores usage_sources rows as the recorder writes them.
func addSources(t *testing.T, db *store.DB, rows ...Source) {
	t.Helper()
	if err := db.Create(&rows).Error; err != nil {
		t.Fatal(err)
	}
}

// TestWouldRefuse: what a key's report-only restrictions let through is
// counted exactly as recorded, per code and per restriction, with the
// distinct addresses that sent it; refusals, allowed requests, other keys,
// other organizations and older traffic are not.
func TestWouldRefuse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f, otherOrg, otherKey := seriesFixture(t, db)
		now := time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC)
		since := now.AddDate(0, 0, -7)
		h := now.Truncate(time.Hour)
		k0, k1 := f.keys[0], f.keys[1]
		err := Write(ctx, db, []Hourly{
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: "would_ip_not_allowed", Count: 5},
			{KeyID: k0, OrgID: f.orgID, Hour: h.Add(-50 * time.Hour), Outcome: "would_ip_not_allowed", Scope: "read", Count: 3},
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: "would_forbidden", Scope: "write", Count: 2},
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: "would_anonymous_request", Count: 1},
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: "would_domain_not_allowed", Count: 4},
			{KeyID: k0, OrgID: f.orgID, Hour: h.Add(-6 * 24 * time.Hour), Outcome: "would_rate_limited", Count: 6},
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: "would_quota_exceeded", Count: 7},
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: Allowed, Count: 100},
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: "ip_not_allowed", Count: 9},
			{KeyID: k0, OrgID: f.orgID, Hour: h.Add(-8 * 24 * time.Hour), Outcome: "would_ip_not_allowed", Count: 1000}, // before since
			{KeyID: k1, OrgID: f.orgID, Hour: h, Outcome: "would_ip_not_allowed", Count: 500},
			{KeyID: otherKey, OrgID: otherOrg, Hour: h, Outcome: "would_ip_not_allowed", Count: 700},
		})
		if err != nil {
			t.Fatal(err)
		}
		day := h.Truncate(24 * time.Hour)
		addSources(t, db,
			Source{KeyID: k0, OrgID: f.orgID, Day: day, Kind: SourceWouldIP, Value: "203.0.113.1", Count: 4, LastSeen: h},
			Source{KeyID: k0, OrgID: f.orgID, Day: day.AddDate(0, 0, -2), Kind: SourceWouldIP, Value: "203.0.113.1", Count: 3, LastSeen: h.AddDate(0, 0, -2)},
			Source{KeyID: k0, OrgID: f.orgID, Day: day, Kind: SourceWouldIP, Value: "2001:db8::7", Count: 20, LastSeen: h},
			Source{KeyID: k0, OrgID: f.orgID, Day: day, Kind: SourceIP, Value: "192.0.2.50", Count: 100, LastSeen: h},
			Source{KeyID: k0, OrgID: f.orgID, Day: day.AddDate(0, 0, -9), Kind: SourceWouldIP, Value: "198.51.100.1", Count: 1000, LastSeen: h.AddDate(0, 0, -9)},
			Source{KeyID: k1, OrgID: f.orgID, Day: day, Kind: SourceWouldIP, Value: "198.51.100.2", Count: 500, LastSeen: h},
		)
		r := NewReader(db)
		w, err := r.WouldRefuse(ctx, f.orgID, k0, since)
		if err != nil {
			t.Fatal(err)
		}
		wantCodes := map[string]int64{"ip_not_allowed": 8, "forbidden": 2, "anonymous_request": 1, "domain_not_allowed": 4, "rate_limited": 6, "quota_exceeded": 7}
		wantRestrictions := map[string]int64{"ips": 8, "scopes": 2, "domains": 5, "rate_limit": 6, "quota": 7}
		if w.Total != 28 || !maps.Equal(w.Codes, wantCodes) || !maps.Equal(w.Restrictions, wantRestrictions) || w.IPs != 2 || w.MoreIPs {
			t.Errorf("WouldRefuse = %+v, want total 28, codes %v, restrictions %v, 2 IPs", w, wantCodes, wantRestrictions)
		}

		// Addresses past the bounds make "more".
		addSources(t, db, Source{KeyID: k0, OrgID: f.orgID, Day: day, Kind: SourceWouldIP, Value: "", Count: 9, LastSeen: h})
		if w, err = r.WouldRefuse(ctx, f.orgID, k0, since); err != nil || w.IPs != 2 || !w.MoreIPs {
			t.Errorf("with an other bucket: %+v, %v", w, err)
		}
		// Another organization reads nothing of k0.
		if w, err = r.WouldRefuse(ctx, otherOrg, k0, since); err != nil || w.Total != 0 || w.IPs != 0 || w.MoreIPs || len(w.Codes) != 0 {
			t.Errorf("another organization: %+v, %v", w, err)
		}
		// A key without report-only traffic.
		if w, err = r.WouldRefuse(ctx, f.orgID, f.keys[2], since); err != nil || w.Total != 0 || len(w.Restrictions) != 0 {
			t.Errorf("a quiet key: %+v, %v", w, err)
		}
	})
}

// TestSuggest: the suggestion proposes exactly the addresses, origins and
// scopes the key's traffic used in the window, reports what it cannot
// name, and leaves refused requests' scopes and report-only addresses
// out.
func TestSuggest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f, otherOrg, _ := seriesFixture(t, db)
		now := time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC)
		since := now.AddDate(0, 0, -30)
		h := now.Truncate(time.Hour)
		day := h.Truncate(24 * time.Hour)
		k0 := f.keys[0]
		addSources(t, db,
			Source{KeyID: k0, OrgID: f.orgID, Day: day, Kind: SourceIP, Value: "203.0.113.1", Count: 3, LastSeen: h},
			Source{KeyID: k0, OrgID: f.orgID, Day: day.AddDate(0, 0, -3), Kind: SourceIP, Value: "203.0.113.1", Count: 2, LastSeen: h.AddDate(0, 0, -3)},
			Source{KeyID: k0, OrgID: f.orgID, Day: day, Kind: SourceIP, Value: "2001:db8::5", Count: 1, LastSeen: h},
			Source{KeyID: k0, OrgID: f.orgID, Day: day, Kind: SourceIP, Value: "", Count: 7, LastSeen: h},
			Source{KeyID: k0, OrgID: f.orgID, Day: day, Kind: SourceOrigin, Value: "https://app.example.com", Count: 4, LastSeen: h},
			Source{KeyID: k0, OrgID: f.orgID, Day: day, Kind: SourceOrigin, Value: "http://localhost:3000", Count: 1, LastSeen: h},
			Source{KeyID: k0, OrgID: f.orgID, Day: day, Kind: SourceOrigin, Value: "", Count: 2, LastSeen: h},
			Source{KeyID: k0, OrgID: f.orgID, Day: day, Kind: SourceWouldIP, Value: "192.0.2.9", Count: 1, LastSeen: h},
			Source{KeyID: k0, OrgID: f.orgID, Day: day.AddDate(0, 0, -31), Kind: SourceIP, Value: "198.51.100.200", Count: 50, LastSeen: h.AddDate(0, 0, -31)},
			Source{KeyID: f.keys[1], OrgID: f.orgID, Day: day, Kind: SourceIP, Value: "198.51.100.201", Count: 50, LastSeen: h},
		)
		err := Write(ctx, db, []Hourly{
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: Allowed, Scope: "read", Count: 5},
			{KeyID: k0, OrgID: f.orgID, Hour: h.Add(-time.Hour), Outcome: Allowed, Scope: "read write", Count: 2},
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: "would_forbidden", Scope: "billing:read", Count: 1},
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: "forbidden", Scope: "delete", Count: 3},
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: Allowed, Scope: TooLong, Count: 4},
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: Allowed, Count: 10},
			{KeyID: k0, OrgID: f.orgID, Hour: h.AddDate(0, 0, -31), Outcome: Allowed, Scope: "old", Count: 1},
			{KeyID: f.keys[1], OrgID: f.orgID, Hour: h, Outcome: Allowed, Scope: "other:key", Count: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		r := NewReader(db)
		sg, err := r.Suggest(ctx, f.orgID, k0, since)
		if err != nil {
			t.Fatal(err)
		}
		if got := Values(sg.IPs); !slices.Equal(got, []string{"203.0.113.1", "2001:db8::5"}) || sg.IPs[0].Requests != 5 || !sg.IPs[0].LastSeen.Equal(h) {
			t.Errorf("ips %+v", sg.IPs)
		}
		if got := Values(sg.Origins); !slices.Equal(got, []string{"https://app.example.com", "http://localhost:3000"}) {
			t.Errorf("origins %v", got)
		}
		if got := ScopeNames(sg.Scopes); !slices.Equal(got, []string{"billing:read", "read", "write"}) {
			t.Errorf("scopes %v", got)
		}
		if sg.Scopes[1].Requests != 7 || sg.Scopes[2].Requests != 2 || sg.Scopes[0].Requests != 1 {
			t.Errorf("scope requests %+v", sg.Scopes)
		}
		if sg.OtherRequests != 7 || sg.OtherOrigins != 2 || sg.TooLongRequests != 4 {
			t.Errorf("not covered: other %d, other origins %d, too long %d; want 7, 2, 4", sg.OtherRequests, sg.OtherOrigins, sg.TooLongRequests)
		}
		if sg.Empty() {
			t.Error("a suggestion with traffic is empty")
		}
		if sg, err := r.Suggest(ctx, otherOrg, k0, since); err != nil || !sg.Empty() {
			t.Errorf("another organization: %+v, %v", sg, err)
		}

		// Past the bound, the least used addresses count as other.
		var many []Source
		for i := range SuggestIPs + 5 {
			many = append(many, Source{KeyID: f.keys[2], OrgID: f.orgID, Day: day, Kind: SourceIP, Value: fmt.Sprintf("10.0.%d.%d", i/200, i%200), Count: int64(1000 - i), LastSeen: h})
		}
		addSources(t, db, many...)
		sg, err = r.Suggest(ctx, f.orgID, f.keys[2], since)
		if err != nil {
			t.Fatal(err)
		}
		want := int64(0)
		for i := SuggestIPs; i < SuggestIPs+5; i++ {
			want += int64(1000 - i)
		}
		if len(sg.IPs) != SuggestIPs || sg.IPs[0].Value != "10.0.0.0" || sg.OtherRequests != want {
			t.Errorf("%d ips, first %q, other %d; want %d, 10.0.0.0, %d", len(sg.IPs), sg.IPs[0].Value, sg.OtherRequests, SuggestIPs, want)
		}
	})
}

// TestWouldIsNotRejected: requests a report-only restriction let through
// are neither rejections nor what makes a key fail, and the key's sources
// list only the addresses and origins of all its requests.
func TestWouldIsNotRejected(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f, _, _ := seriesFixture(t, db)
		now := time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC)
		h := now.Truncate(time.Hour)
		k0, k1 := f.keys[0], f.keys[1]
		err := Write(ctx, db, []Hourly{
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: "would_ip_not_allowed", Count: 50},
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: Allowed, Count: 5},
			{KeyID: k1, OrgID: f.orgID, Hour: h, Outcome: "rate_limited", Count: 2},
		})
		if err != nil {
			t.Fatal(err)
		}
		r := NewReader(db)
		from, to := LastDays(now, 7)
		pts, err := r.OrgTotals(ctx, f.orgID, from, to, Day)
		if err != nil {
			t.Fatal(err)
		}
		if got := Rejections(pts); len(got) != 1 || got[0] != (CodeTotal{Code: "rate_limited", Total: 2}) {
			t.Errorf("rejections %+v", got)
		}
		failing, err := r.FailingKeys(ctx, f.orgID, from, to, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(failing) != 1 || failing[0].KeyID != k1 || failing[0].Rejected != 2 {
			t.Errorf("failing %+v", failing)
		}
		if got := Reported(pts); len(got) != 1 || got[0] != (CodeTotal{Code: "would_ip_not_allowed", Total: 50}) {
			t.Errorf("reported %+v", got)
		}
		if !Passed(Allowed) || !Passed("would_forbidden") || Passed("forbidden") || IsWould(Allowed) {
			t.Error("Passed or IsWould")
		}
		for code, want := range map[string]string{
			"ip_not_allowed": "ips", "would_ip_not_allowed": "ips", "domain_not_allowed": "domains", "would_anonymous_request": "domains",
			"rate_limited": "rate_limit", "would_forbidden": "scopes", "would_quota_exceeded": "quota", "key_revoked": "", "allowed": "",
		} {
			if got := RestrictionOf(code); got != want {
				t.Errorf("RestrictionOf(%q) = %q, want %q", code, got, want)
			}
		}

		day := h.Truncate(24 * time.Hour)
		addSources(t, db,
			Source{KeyID: k0, OrgID: f.orgID, Day: day, Kind: SourceIP, Value: "203.0.113.1", Count: 55, LastSeen: h},
			Source{KeyID: k0, OrgID: f.orgID, Day: day, Kind: SourceWouldIP, Value: "203.0.113.1", Count: 50, LastSeen: h},
		)
		src, err := r.Sources(ctx, f.orgID, k0, now.AddDate(0, 0, -30))
		if err != nil {
			t.Fatal(err)
		}
		if len(src.IPs) != 1 || src.IPs[0].Requests != 55 || len(src.Origins) != 0 {
			t.Errorf("sources %+v: would_ip rows are not sources of their own", src)
		}
	})
}
