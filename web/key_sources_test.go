package web

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keyplane/internal/apikey"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/usage"
)

// TestKeyPageSources: "Where it is used" lists a key's client addresses and
// origins of the last 30 days, the most used first, to members too; an
// unused key says so; nothing of another organization's key shows.
func TestKeyPageSources(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		u := newUsageEnv(t, db)
		now := time.Now().UTC().Truncate(time.Second)
		u.clock.Set(now)
		key := u.newKey(u.acme.ID, apikey.Input{Description: "web"})
		idle := u.newKey(u.acme.ID, apikey.Input{Description: "idle"})

		rec := usage.NewRecorder(db, nil, nil)
		office, cloud := netip.MustParseAddr("198.51.100.20"), netip.MustParseAddr("2001:db8::7")
		for range 3 {
			rec.Record(key.ID, u.acme.ID, now.Add(-time.Hour), "allowed", "", office, "https://shop.example.com/checkout")
		}
		rec.Record(key.ID, u.acme.ID, now.Add(-2*time.Hour), "ip_not_allowed", "", cloud, "")
		// Long ago: outside the 30 days.
		rec.Record(key.ID, u.acme.ID, now.AddDate(0, 0, -40), "allowed", "", netip.MustParseAddr("192.0.2.99"), "")
		rec.Record(u.otherKey.ID, u.otherOrg.ID, now, "allowed", "", netip.MustParseAddr("203.0.113.66"), "https://theirs.example")
		if err := rec.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}

		r := u.member.get("/orgs/acme/keys/" + key.ID)
		wantStatus(t, r, http.StatusOK)
		rows := func(id string) [][]string {
			var out [][]string
			r.testid(id).Find(`[data-testid="source-row"]`).Each(func(_ int, tr *goquery.Selection) {
				var cells []string
				tr.Find("td").Each(func(_ int, td *goquery.Selection) { cells = append(cells, strings.TrimSpace(td.Text())) })
				out = append(out, cells)
			})
			return out
		}
		ips := rows("sources-ips")
		if len(ips) != 2 || ips[0][0] != "198.51.100.20" || ips[0][1] != "3" || ips[1][0] != "2001:db8::7" || ips[1][1] != "1" {
			t.Errorf("addresses: %v", ips)
		}
		if ips[0][2] != "1 hour ago" {
			t.Errorf("last seen %q, want 1 hour ago", ips[0][2])
		}
		origins := rows("sources-origins")
		if len(origins) != 1 || origins[0][0] != "https://shop.example.com" || origins[0][1] != "3" {
			t.Errorf("origins: %v (paths must not be kept)", origins)
		}
		if strings.Contains(r.body, "192.0.2.99") || strings.Contains(r.body, "203.0.113.66") || strings.Contains(r.body, "theirs.example") {
			t.Error("the page shows a source older than 30 days or of another organization")
		}

		r = u.member.get("/orgs/acme/keys/" + idle.ID)
		wantStatus(t, r, http.StatusOK)
		if got := r.text("sources-empty"); got != "No requests in the last 30 days." {
			t.Errorf("an unused key's sources: %q", got)
		}
	})
}
