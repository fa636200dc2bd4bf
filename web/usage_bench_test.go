package web

import (
	"context"
	"fmt"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/store"
	"keyplane/internal/usage"
)

// BenchmarkUsagePage renders the usage page of an organization with 100
// keys and 30 days of hourly usage (allowed requests under two scopes and
// some rejections every few hours) and reports the server time per page.
// Target on PostgreSQL: under 20 ms.
func BenchmarkUsagePage(b *testing.B) {
	for _, dialect := range []string{store.SQLite, store.Postgres} {
		b.Run(dialect, func(b *testing.B) {
			db := benchDB(b, dialect)
			srv, cookie := benchServer(b, db, 100)
			rows := benchUsage(b, db, srv.now())
			b.ResetTimer()
			for b.Loop() {
				benchGet(b, srv, cookie, "/orgs/acme/usage")
			}
			ms := float64(b.Elapsed().Microseconds()) / 1000 / float64(b.N)
			b.ReportMetric(ms, "ms/page")
			b.Logf("organization usage page, 100 keys, %d hourly rows, %s: %.2f ms per render%s", rows, dialect, ms, verdict(dialect, ms, 20))
		})
	}
}

// benchUsage writes 30 days of hourly usage for every key of the bench
// organization and returns how many hourly rows it wrote.
func benchUsage(b *testing.B, db *store.DB, now time.Time) int {
	b.Helper()
	ctx := context.Background()
	var keys []apikey.Key
	if err := db.Find(&keys).Error; err != nil {
		b.Fatal(err)
	}
	end := now.UTC().Truncate(time.Hour)
	total := 0
	for i, k := range keys {
		var rows []usage.Hourly
		for h := end.Add(-30 * 24 * time.Hour); !h.After(end); h = h.Add(time.Hour) {
			n := int64(50 + (i*7+h.Hour()*13)%400)
			rows = append(rows,
				usage.Hourly{KeyID: k.ID, OrgID: k.OrgID, Hour: h, Outcome: usage.Allowed, Scope: "read", Count: n},
				usage.Hourly{KeyID: k.ID, OrgID: k.OrgID, Hour: h, Outcome: usage.Allowed, Scope: "write", Count: n / 3},
			)
			if (h.Hour()+i)%5 == 0 {
				rows = append(rows, usage.Hourly{KeyID: k.ID, OrgID: k.OrgID, Hour: h, Outcome: "rate_limited", Count: 3})
			}
			if (h.Hour()+i)%11 == 0 {
				rows = append(rows, usage.Hourly{KeyID: k.ID, OrgID: k.OrgID, Hour: h, Outcome: "forbidden", Scope: "write", Count: 1})
			}
		}
		if err := usage.Write(ctx, db, rows); err != nil {
			b.Fatal(err)
		}
		total += len(rows)
		// What a key with a quota spent, this period and the 30 before.
		if spec := k.QuotaSpec(); spec != nil {
			start, _ := spec.Period(now)
			for d := range 31 {
				err := db.Create(&usage.Spent{SubjectID: k.QuotaSubject(), OrgID: k.OrgID, PeriodStart: start.AddDate(0, 0, -d), Spent: int64(100 + i + d), UpdatedAt: now}).Error
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	if db.Dialect == store.Postgres {
		if err := db.Exec("VACUUM ANALYZE").Error; err != nil { // as autovacuum would have by now
			b.Fatal(err)
		}
	}
	return total
}

// verdict says how ms compares with target. The contract names no
// database; PostgreSQL is the production one, SQLite the embedded default.
func verdict(_ string, ms, target float64) string {
	if ms < target {
		return fmt.Sprintf(" [target < %g ms: met]", target)
	}
	return fmt.Sprintf(" [target < %g ms: MISSED]", target)
}
