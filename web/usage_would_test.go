package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/usage"
)

// TestUsageWouldOutcomes: requests a report-only restriction let through
// are series of their own in words on the organization's and the key's
// charts, counted with the allowed ones (never as rejections, nor as what
// makes a key fail), listed apart by reason, and exported as their
// outcome.
func TestUsageWouldOutcomes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		u := newUsageEnv(t, db)
		key := u.newKey(u.acme.ID, apikey.Input{Description: "Partner feed", IPs: "203.0.113.0/24", ReportOnly: []string{"ips"}})
		now := u.clock.Now().UTC()
		h := now.Truncate(time.Hour)
		today := now.Truncate(24 * time.Hour)
		u.insert(
			usage.Hourly{KeyID: key.ID, OrgID: u.acme.ID, Hour: h, Outcome: "allowed", Count: 30},
			usage.Hourly{KeyID: key.ID, OrgID: u.acme.ID, Hour: h, Outcome: "would_ip_not_allowed", Count: 12},
			usage.Hourly{KeyID: key.ID, OrgID: u.acme.ID, Hour: h, Outcome: "key_disabled", Count: 2},
		)

		r := u.member.get("/orgs/acme/usage")
		wantStatus(t, r, http.StatusOK)
		for _, chart := range []string{"usage-hourly", "usage-daily"} {
			legend := r.text(chart + "-legend")
			if !strings.Contains(legend, "Would be refused: IP address not allowed") || !strings.Contains(legend, "Allowed") {
				t.Errorf("%s legend %q", chart, legend)
			}
		}
		if got := cell(t, r, "usage-daily-table", today.Format(time.DateOnly), "would_ip_not_allowed"); got != "12" {
			t.Errorf("daily table would_ip_not_allowed = %q", got)
		}
		if got := r.testid("rejections").Find(`[data-code]`); got.Length() != 1 || got.AttrOr("data-code", "") != "key_disabled" {
			t.Errorf("rejections list %q", got.Text())
		}
		if got := r.testid("reported").Find(`[data-code="would_ip_not_allowed"]`).Text(); got != "12" {
			t.Errorf("reported %q", got)
		}
		if got := r.text("failing-key-rejected"); got != "2" {
			t.Errorf("the failing key's rejections %q, want 2", got)
		}

		// The key's own chart too.
		r = u.member.get("/orgs/acme/keys/" + key.ID)
		if legend := r.text("usage-hourly-legend"); !strings.Contains(legend, "Would be refused: IP address not allowed") {
			t.Errorf("key chart legend %q", legend)
		}

		// The exports keep the outcome's code.
		rows := csvOf(t, u.member.get("/orgs/acme/usage.csv?range=7d"))
		day := today.Format(time.RFC3339)
		wantRows(t, "org CSV", rows,
			[]string{day, key.ID, "Partner feed", "allowed", "30"},
			[]string{day, key.ID, "Partner feed", "key_disabled", "2"},
			[]string{day, key.ID, "Partner feed", "would_ip_not_allowed", "12"},
		)
		rows = csvOf(t, u.member.get("/orgs/acme/keys/"+key.ID+"/usage.csv?period=24h"))
		if len(rows) != 3 || rows[2][3] != "would_ip_not_allowed" || rows[2][4] != "12" {
			t.Errorf("key CSV %q", rows)
		}
	})
}
