package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/usage"
)

// TestKeysSearchByHint: the list's search finds a key by the ending its
// hint shows, by the hint's prefix, by id, and never another
// organization's key; htmx gets the table alone.
func TestKeysSearchByHint(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		c := k.admin
		billing := k.newKey(k.acme.ID, apikey.Input{Description: "Billing backend"})
		staging := k.newKey(k.acme.ID, apikey.Input{Description: "Staging CI", Environment: "test"})
		bob := k.user("bob@example.com", "Bob", false)
		globex := k.org("Globex", "globex", bob.ID)
		foreign := k.newKey(globex.ID, apikey.Input{Description: "Billing backend"})

		for term, want := range map[string]string{
			billing.Hint[len(billing.Hint)-4:]: billing.ID,
			billing.Hint:                       billing.ID,
			billing.ID:                         billing.ID,
			"kp_sk_test_":                      staging.ID,
		} {
			for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
				r := c.get("/orgs/acme/keys?q="+url.QueryEscape(term), hdr...)
				wantStatus(t, r, http.StatusOK)
				if got := rowIDs(r); len(got) != 1 || got[0] != want {
					t.Errorf("search %q %v found %v, want %s", term, hdr, got, want)
				}
				if hdr != nil && !isFragment(r) {
					t.Errorf("htmx search %q got a whole page", term)
				}
			}
		}
		for _, term := range []string{foreign.ID, foreign.Hint[len(foreign.Hint)-4:]} {
			for _, id := range rowIDs(c.get("/orgs/acme/keys?q=" + url.QueryEscape(term))) {
				if id == foreign.ID {
					t.Errorf("search %q shows Globex's key", term)
				}
			}
		}
	})
}

// TestKeysSortAndPages: past 50 keys the list has pages; sort links and
// page links keep the filters, and each order is complete and stable.
func TestKeysSortAndPages(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		c := k.admin
		var ids []string
		for i := range 55 {
			env := "live"
			if i%5 == 0 {
				env = "test"
			}
			key := k.newKey(k.acme.ID, apikey.Input{Description: fmt.Sprintf("Service %02d", i), Environment: env})
			ids = append(ids, key.ID)
			k.clock.Advance(time.Second)
		}
		// Requests: key 7 most, key 3 next.
		hour := k.clock.Now().UTC().Truncate(time.Hour)
		k.insertUsage(usage.Hourly{KeyID: ids[7], OrgID: k.acme.ID, Hour: hour, Outcome: "allowed", Count: 90})
		k.insertUsage(usage.Hourly{KeyID: ids[3], OrgID: k.acme.ID, Hour: hour, Outcome: "allowed", Count: 40})

		first := c.get("/orgs/acme/keys")
		got := rowIDs(first)
		if len(got) != 50 || got[0] != ids[54] {
			t.Fatalf("first page: %d rows starting %v, want 50 newest first", len(got), got[:1])
		}
		if first.text("keys-pager-range") != "Keys 1–50 of 55" {
			t.Errorf("range %q", first.text("keys-pager-range"))
		}
		next := first.testid("keys-next").AttrOr("href", "")
		second := c.get(next)
		if got := rowIDs(second); len(got) != 5 || got[4] != ids[0] {
			t.Errorf("second page %v", got)
		}
		if second.testid("keys-next").Length() != 0 || second.testid("keys-prev").Length() != 1 {
			t.Error("the last page's links")
		}

		// Sorting keeps the filter; description sorts A to Z, then Z to A.
		r := c.get("/orgs/acme/keys?environment=live")
		link := r.testid("sort-description").AttrOr("href", "")
		if !strings.Contains(link, "environment=live") || !strings.Contains(link, "sort=description") {
			t.Fatalf("sort link %q loses the filter", link)
		}
		r = c.get(link)
		got = rowIDs(r)
		if len(got) != 44 || got[0] != ids[1] || got[43] != ids[54] {
			t.Errorf("live keys A to Z: %d rows, first %s last %s", len(got), got[0], got[len(got)-1])
		}
		if r.doc.Find(`th[aria-sort="ascending"] [data-testid="sort-description"]`).Length() != 1 {
			t.Error("the sorted column does not say so")
		}
		r = c.get(r.testid("sort-description").AttrOr("href", ""))
		if got = rowIDs(r); got[0] != ids[54] {
			t.Errorf("Z to A starts with %s", got[0])
		}
		r = c.get("/orgs/acme/keys?sort=requests&q=Service")
		if got = rowIDs(r); got[0] != ids[7] || got[1] != ids[3] {
			t.Errorf("by requests: %v", got[:2])
		}
		// A page past the end is the last page; nonsense is ignored.
		if r := c.get("/orgs/acme/keys?page=99&sort=nope&dir=up"); r.StatusCode != http.StatusOK || len(rowIDs(r)) != 5 {
			t.Errorf("page 99: status %d, %d rows", r.StatusCode, len(rowIDs(r)))
		}
		// Page links keep the filter and the order.
		r = c.get("/orgs/acme/keys?sort=description&dir=desc")
		if href := r.testid("keys-next").AttrOr("href", ""); !strings.Contains(href, "sort=description") || !strings.Contains(href, "dir=desc") || !strings.Contains(href, "page=2") {
			t.Errorf("next link %q", href)
		}
	})
}
