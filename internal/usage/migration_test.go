package usage

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/migrations"
)

// TestRollUpMigrationBackfills takes a database back to before the usage
// roll-ups, fills usage_hourly as an older release did, migrates up again
// and finds the roll-ups holding exactly the sums of the hours.
func TestRollUpMigrationBackfills(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		fsys, err := migrations.FS(db.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		dialect := goose.DialectSQLite3
		if db.Dialect == store.Postgres {
			dialect = goose.DialectPostgres
		}
		p, err := goose.NewProvider(dialect, db.SQL(), fsys)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.DownTo(ctx, 4); err != nil {
			t.Fatalf("down to 4: %v", err)
		}

		base := time.Date(2026, 6, 1, 21, 0, 0, 0, time.UTC)
		var rows []Hourly
		wantDays, wantHours := map[string]int64{}, map[string]int64{}
		for i, key := range f.keys {
			for h := range 6 { // 21:00 to 02:00: two UTC days
				for j, outcome := range []string{Allowed, Allowed, "forbidden"} {
					at := base.Add(time.Duration(h) * time.Hour)
					n := int64(100*i + 10*h + j + 1)
					rows = append(rows, Hourly{KeyID: key, OrgID: f.orgID, Hour: at, Outcome: outcome, Scope: fmt.Sprint("s", j), Count: n})
					wantDays[fmt.Sprintf("%s|%s|%s", key, at.Format(time.DateOnly), outcome)] += n
					wantHours[fmt.Sprintf("%s|%s", key, at.Format(time.RFC3339))] += n
				}
			}
		}
		if err := db.Create(&rows).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatalf("up: %v", err)
		}

		var daily []Daily
		if err := db.Find(&daily).Error; err != nil {
			t.Fatal(err)
		}
		gotDays := map[string]int64{}
		for _, d := range daily {
			gotDays[fmt.Sprintf("%s|%s|%s", d.KeyID, d.Day.UTC().Format(time.DateOnly), d.Outcome)] = d.Count
			if !d.Day.Equal(Day.start(d.Day)) {
				t.Errorf("backfilled day %v is not the start of a UTC day", d.Day)
			}
		}
		if fmt.Sprint(gotDays) != fmt.Sprint(wantDays) {
			t.Errorf("backfilled days\n got %v\nwant %v", gotDays, wantDays)
		}
		var hours []KeyHour
		if err := db.Find(&hours).Error; err != nil {
			t.Fatal(err)
		}
		gotHours := map[string]int64{}
		for _, h := range hours {
			gotHours[fmt.Sprintf("%s|%s", h.KeyID, h.Hour.UTC().Format(time.RFC3339))] = h.Count
		}
		if fmt.Sprint(gotHours) != fmt.Sprint(wantHours) {
			t.Errorf("backfilled key hours\n got %v\nwant %v", gotHours, wantHours)
		}

		var keyDays []KeyDay
		if err := db.Find(&keyDays).Error; err != nil {
			t.Fatal(err)
		}
		gotKeyDays, wantKeyDays := map[string]int64{}, map[string]int64{}
		for k, n := range wantDays {
			parts := strings.SplitN(k, "|", 3)
			wantKeyDays[parts[0]+"|"+parts[1]] += n
		}
		for _, d := range keyDays {
			gotKeyDays[d.KeyID+"|"+d.Day.UTC().Format(time.DateOnly)] = d.Count
		}
		if fmt.Sprint(gotKeyDays) != fmt.Sprint(wantKeyDays) {
			t.Errorf("backfilled key days\n got %v\nwant %v", gotKeyDays, wantKeyDays)
		}

		// Later writes add to the backfilled rows.
		more := []Hourly{{KeyID: f.keys[0], OrgID: f.orgID, Hour: base, Outcome: Allowed, Scope: "s0", Count: 1000}}
		if err := Write(ctx, db, more); err != nil {
			t.Fatal(err)
		}
		var d Daily
		if err := db.Where("key_id = ? AND outcome = ? AND day = ?", f.keys[0], Allowed, Day.start(base)).Take(&d).Error; err != nil {
			t.Fatal(err)
		}
		if want := wantDays[fmt.Sprintf("%s|%s|%s", f.keys[0], base.Format(time.DateOnly), Allowed)] + 1000; d.Count != want {
			t.Errorf("a write after the backfill: day count %d, want %d", d.Count, want)
		}
	})
}
