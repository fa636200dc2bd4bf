package usage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestWriteRollsUpDays writes random hours twice and checks that
// usage_daily holds exactly the sums of usage_hourly per key, UTC day and
// outcome, computed in SQL with the expression the migration backfilled
// existing rows with, usage_key_hours the sums per key and hour, and
// usage_key_days the sums per key and day.
func TestWriteRollsUpDays(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		rng := rand.New(rand.NewPCG(1, 2))
		base := time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC)
		outcomes := []string{Allowed, "rate_limited", "forbidden"}
		scopes := []string{"", "read", "write"}
		var rows []Hourly
		for range 300 {
			rows = append(rows, Hourly{
				KeyID: f.keys[rng.IntN(len(f.keys))], OrgID: f.orgID,
				// Hours across four days, in another zone: Write stores UTC.
				Hour:    base.Add(time.Duration(rng.IntN(96))*time.Hour + 17*time.Minute).In(time.FixedZone("X", -5*3600)),
				Outcome: outcomes[rng.IntN(len(outcomes))], Scope: scopes[rng.IntN(len(scopes))],
				Count: int64(1 + rng.IntN(50)),
			})
		}
		// Twice, in two halves: counts add up, duplicates within a batch too.
		for _, part := range [][]Hourly{rows[:150], rows[150:], rows} {
			if err := Write(ctx, db, part); err != nil {
				t.Fatal(err)
			}
		}

		want := map[string]int64{}
		for _, r := range rows {
			want[fmt.Sprintf("%s|%s|%s", r.KeyID, r.Hour.UTC().Format(time.DateOnly), r.Outcome)] += 2 * r.Count
		}
		var daily []Daily
		if err := db.Find(&daily).Error; err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, d := range daily {
			if !d.Day.Equal(Day.start(d.Day)) {
				t.Errorf("day %v is not the start of a UTC day", d.Day)
			}
			got[fmt.Sprintf("%s|%s|%s", d.KeyID, d.Day.UTC().Format(time.DateOnly), d.Outcome)] = d.Count
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("daily roll-up\n got %v\nwant %v", got, want)
		}

		dayExpr := "substr(hour, 1, 10) || ' 00:00:00+00:00'"
		if db.Dialect == store.Postgres {
			dayExpr = "date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
		}
		var mismatches int64
		err := db.Raw(`SELECT COUNT(*) FROM (
			SELECT key_id, ` + dayExpr + ` AS day, outcome, SUM(count) AS total
			FROM usage_hourly GROUP BY 1, 2, 3) h
			FULL OUTER JOIN usage_daily d ON d.key_id = h.key_id AND d.day = h.day AND d.outcome = h.outcome
			WHERE h.total IS NULL OR d.count IS NULL OR h.total <> d.count`).Scan(&mismatches).Error
		if err != nil {
			t.Fatal(err)
		}
		if mismatches != 0 {
			t.Fatalf("%d daily rows differ from the migration's roll-up of usage_hourly", mismatches)
		}

		// Key hours: the sums of usage_hourly per key and hour.
		err = db.Raw(`SELECT COUNT(*) FROM (
			SELECT key_id, hour, SUM(count) AS total FROM usage_hourly GROUP BY 1, 2) h
			FULL OUTER JOIN usage_key_hours k ON k.key_id = h.key_id AND k.hour = h.hour
			WHERE h.total IS NULL OR k.count IS NULL OR h.total <> k.count`).Scan(&mismatches).Error
		if err != nil {
			t.Fatal(err)
		}
		var keyHours int64
		if err := db.Model(&KeyHour{}).Count(&keyHours).Error; err != nil {
			t.Fatal(err)
		}
		if mismatches != 0 || keyHours == 0 {
			t.Fatalf("%d of %d key-hour rows differ from usage_hourly's sums", mismatches, keyHours)
		}

		// Key days: the sums of usage_daily per key and day.
		err = db.Raw(`SELECT COUNT(*) FROM (
			SELECT key_id, day, SUM(count) AS total FROM usage_daily GROUP BY 1, 2) d
			FULL OUTER JOIN usage_key_days k ON k.key_id = d.key_id AND k.day = d.day
			WHERE d.total IS NULL OR k.count IS NULL OR d.total <> k.count`).Scan(&mismatches).Error
		if err != nil {
			t.Fatal(err)
		}
		var keyDays int64
		if err := db.Model(&KeyDay{}).Count(&keyDays).Error; err != nil {
			t.Fatal(err)
		}
		if mismatches != 0 || keyDays == 0 {
			t.Fatalf("%d of %d key-day rows differ from usage_daily's sums", mismatches, keyDays)
		}
	})
}
