package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"gorm.io/gorm/logger"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/usage"
)

const sparkTitle = "Requests per UTC day, last 7 days"

// keyRowOf returns the list's row of key id, failing unless there is one.
func keyRowOf(t *testing.T, r *resp, id string) *goquery.Selection {
	t.Helper()
	row := r.doc.Find(`[data-testid="key-row"][data-key-id="` + id + `"]`)
	if row.Length() != 1 {
		t.Fatalf("%d rows for key %s: %.400s", row.Length(), id, r.body)
	}
	return row
}

// activityOf returns what a key's row shows of its usage: the 24-hour count
// and the sparkline's accessible name.
func activityOf(t *testing.T, r *resp, id string) (count, label string) {
	t.Helper()
	row := keyRowOf(t, r, id)
	spark := row.Find(`svg[data-testid="sparkline"][role="img"]`)
	if spark.Length() != 1 {
		t.Fatalf("key %s: %d sparklines", id, spark.Length())
	}
	return strings.TrimSpace(row.Find(`[data-testid="key-requests-24h"]`).Text()), spark.Find("title").Text()
}

func TestKeysListActivity(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		u := newUsageEnv(t, db)
		busy := u.newKey(u.acme.ID, apikey.Input{Description: "busy"})
		quiet := u.newKey(u.acme.ID, apikey.Input{Description: "quiet"})
		h := u.clock.Now().UTC().Truncate(time.Hour)
		u.insert(
			usage.Hourly{KeyID: busy.ID, OrgID: u.acme.ID, Hour: h, Outcome: "allowed", Scope: "read", Count: 120},
			usage.Hourly{KeyID: busy.ID, OrgID: u.acme.ID, Hour: h, Outcome: "rate_limited", Count: 7},
			usage.Hourly{KeyID: busy.ID, OrgID: u.acme.ID, Hour: h.Add(-23 * time.Hour), Outcome: "allowed", Count: 3},
			usage.Hourly{KeyID: busy.ID, OrgID: u.acme.ID, Hour: h.Add(-24 * time.Hour), Outcome: "allowed", Count: 1000},
			usage.Hourly{KeyID: busy.ID, OrgID: u.acme.ID, Hour: h.Add(-5 * 24 * time.Hour), Outcome: "allowed", Count: 33},
			usage.Hourly{KeyID: busy.ID, OrgID: u.acme.ID, Hour: h.Add(-7 * 24 * time.Hour), Outcome: "allowed", Count: 5000},
			usage.Hourly{KeyID: u.otherKey.ID, OrgID: u.otherOrg.ID, Hour: h, Outcome: "allowed", Count: 99999},
		)
		// h-23h falls on today or yesterday depending on the hour.
		today, yesterday := int64(127), int64(1000)
		if h.Add(-23*time.Hour).Day() == h.Day() {
			today += 3
		} else {
			yesterday += 3
		}
		wantBusy := fmt.Sprintf("%s: 0, 33, 0, 0, 0, %d, %d", sparkTitle, yesterday, today)
		wantQuiet := sparkTitle + ": 0, 0, 0, 0, 0, 0, 0"

		for _, c := range []*client{u.admin, u.member} {
			for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
				r := c.get("/orgs/acme/keys", hdr...)
				wantStatus(t, r, http.StatusOK)
				if count, label := activityOf(t, r, busy.ID); count != "130" || label != wantBusy {
					t.Errorf("busy key: 24h %q, sparkline %q; want 130 and %q", count, label, wantBusy)
				}
				if count, label := activityOf(t, r, quiet.ID); count != "0" || label != wantQuiet {
					t.Errorf("quiet key: 24h %q, sparkline %q; want 0 and %q", count, label, wantQuiet)
				}
				var heads []string
				r.testid("keys-table").Find(`thead th[scope="col"]`).Each(func(_ int, s *goquery.Selection) {
					heads = append(heads, s.Text())
				})
				if got := strings.Join(heads, "|"); !strings.Contains(got, "Last used|Requests, 24 h|Last 7 days|Status") {
					t.Errorf("column heads %q", got)
				}
			}
		}

		// Filters do not change a key's numbers.
		r := u.member.get("/orgs/acme/keys?q=busy")
		if count, label := activityOf(t, r, busy.ID); count != "130" || label != wantBusy {
			t.Errorf("filtered: 24h %q, sparkline %q", count, label)
		}

		// The other organization sees its own traffic, none of acme's.
		r = u.outsider.get("/orgs/other/keys")
		wantStatus(t, r, http.StatusOK)
		if count, label := activityOf(t, r, u.otherKey.ID); count != "99999" || label != sparkTitle+": 0, 0, 0, 0, 0, 0, 99999" {
			t.Errorf("other org: 24h %q, sparkline %q", count, label)
		}
	})
}

// statementCounter is a GORM logger that counts the statements naming a
// table, whatever the log level.
type statementCounter struct {
	logger.Interface
	table string
	mu    sync.Mutex
	sqls  []string
}

func (c *statementCounter) LogMode(logger.LogLevel) logger.Interface { return c }

func (c *statementCounter) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	sql, _ := fc()
	if strings.Contains(sql, c.table) {
		c.mu.Lock()
		c.sqls = append(c.sqls, sql)
		c.mu.Unlock()
	}
	c.Interface.Trace(ctx, begin, fc, err)
}

// take returns the statements counted since the last take and forgets them.
func (c *statementCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sqls
	c.sqls = nil
	return s
}

func TestKeysListOneUsageQuery(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		counter := &statementCounter{Interface: db.Logger, table: "usage_"}
		db.Logger = counter
		k := newKeysEnv(t, db, nil)
		h := k.clock.Now().UTC().Truncate(time.Hour)
		var ids []string
		for _, n := range []int{1, 30} {
			for len(ids) < n {
				key := k.newKey(k.acme.ID, apikey.Input{Description: fmt.Sprintf("key %d", len(ids))})
				ids = append(ids, key.ID)
				rows := []usage.Hourly{
					{KeyID: key.ID, OrgID: k.acme.ID, Hour: h, Outcome: "allowed", Count: int64(len(ids))},
					{KeyID: key.ID, OrgID: k.acme.ID, Hour: h.Add(-3 * 24 * time.Hour), Outcome: "allowed", Count: 1},
				}
				if err := usage.Write(t.Context(), db, rows); err != nil {
					t.Fatal(err)
				}
			}
			counter.take()
			r := k.admin.get("/orgs/acme/keys")
			wantStatus(t, r, http.StatusOK)
			if sqls := counter.take(); len(sqls) != 1 {
				t.Errorf("%d keys: %d statements on usage tables, want 1:\n%s", n, len(sqls), strings.Join(sqls, "\n"))
			}
			if got := len(r.testid("key-row").Nodes); got != n {
				t.Fatalf("%d rows, want %d", got, n)
			}
			last := ids[len(ids)-1]
			if count, _ := activityOf(t, r, last); count != fmt.Sprint(len(ids)) {
				t.Errorf("%d keys: the newest shows %q requests in 24 h, want %d", n, count, len(ids))
			}
		}
	})
}

// TestKeysListShowsRotations marks the old key of a rotation in its grace
// period with a link to the new key's cut-over, and only then.
func TestKeysListShowsRotations(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		_, old, _, next := k.rotated("Billing backend", "24h")
		_, quick, _, _ := k.rotated("Quick swap", "0")
		plain := k.newKey(k.acme.ID, apikey.Input{Description: "plain"})

		r := k.admin.get("/orgs/acme/keys")
		wantStatus(t, r, http.StatusOK)
		link := keyRowOf(t, r, old.ID).Find(`[data-testid="key-rotation"]`)
		if link.Length() != 1 || link.AttrOr("href", "") != "/orgs/acme/keys/"+next.ID {
			t.Errorf("old key in grace: rotation link %d, href %q", link.Length(), link.AttrOr("href", ""))
		}
		for _, id := range []string{next.ID, quick.ID, plain.ID} {
			if n := keyRowOf(t, r, id).Find(`[data-testid="key-rotation"]`).Length(); n != 0 {
				t.Errorf("key %s: a rotation link without a rotation in progress", id)
			}
		}

		// Filtered to the expiring old key alone, the link stays.
		r = k.admin.get("/orgs/acme/keys?status=expiring")
		if l := keyRowOf(t, r, old.ID).Find(`[data-testid="key-rotation"]`); l.AttrOr("href", "") != "/orgs/acme/keys/"+next.ID {
			t.Errorf("filtered list: rotation link %q", l.AttrOr("href", ""))
		}

		// The new key revoked: nothing to cut over to, so no link.
		_, old2, _, next2 := k.rotated("Second rotation", "24h")
		if _, err := k.keys.Revoke(t.Context(), k.acme.ID, next2.ID, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		r = k.admin.get("/orgs/acme/keys")
		if n := keyRowOf(t, r, old2.ID).Find(`[data-testid="key-rotation"]`).Length(); n != 0 {
			t.Error("a rotation link to a revoked successor")
		}

		k.clock.Advance(25 * time.Hour)
		r = k.admin.get("/orgs/acme/keys")
		if r.testid("key-rotation").Length() != 0 {
			t.Error("a rotation link after the grace period ended")
		}
	})
}
