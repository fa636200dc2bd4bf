package usage

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func TestRetentionDeletesOnlyOldUsage(t *testing.T) {
	defer func(n int) { pruneBatch = n }(pruneBatch)
	pruneBatch = 2 // six old rows: several batches
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		now := time.Date(2026, 5, 20, 10, 30, 0, 0, time.UTC)
		retention := 90 * 24 * time.Hour
		cutoff := now.Add(-retention)

		var rows []Hourly
		kept := map[string]int64{} // key_id|hour -> count
		for i, key := range f.keys {
			for _, h := range []time.Time{
				cutoff.Truncate(time.Hour).Add(-200 * time.Hour),
				cutoff.Truncate(time.Hour).Add(-time.Hour),
				cutoff.Truncate(time.Hour).Add(time.Hour),
				now.Truncate(time.Hour).Add(-48 * time.Hour),
				now.Truncate(time.Hour),
			} {
				n := int64(10*i + h.Hour() + 1)
				rows = append(rows, Hourly{KeyID: key, OrgID: f.orgID, Hour: h, Outcome: "allowed", Count: n})
				if !h.Before(cutoff) {
					kept[key+"|"+h.Format(time.RFC3339)] = n
				}
			}
		}
		if err := Write(ctx, db, rows); err != nil {
			t.Fatal(err)
		}

		loopCtx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			RunRetention(loopCtx, db, retention, func() time.Time { return now }, time.Hour, quietLogger)
		}()
		// The loop prunes once at start, table after table; wait for the
		// last one, usage_key_days, so cancelling cannot cut the prune short.
		deadline := time.Now().Add(5 * time.Second)
		for {
			var n, oldKeyHours, oldDays, oldKeyDays int64
			if err := db.Model(&Hourly{}).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Model(&KeyHour{}).Where("hour < ?", cutoff).Count(&oldKeyHours).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Model(&Daily{}).Where("day < ?", Day.start(cutoff)).Count(&oldDays).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Model(&KeyDay{}).Where("day < ?", Day.start(cutoff)).Count(&oldKeyDays).Error; err != nil {
				t.Fatal(err)
			}
			if (n == int64(len(kept)) && oldKeyHours == 0 && oldDays == 0 && oldKeyDays == 0) || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		wg.Wait()

		var got []Hourly
		if err := db.Find(&got).Error; err != nil {
			t.Fatal(err)
		}
		if len(got) != len(kept) {
			t.Fatalf("%d rows left, want %d", len(got), len(kept))
		}
		for _, r := range got {
			k := r.KeyID + "|" + r.Hour.UTC().Format(time.RFC3339)
			want, ok := kept[k]
			if !ok {
				t.Errorf("row %s should have been pruned", k)
			} else if r.Count != want {
				t.Errorf("row %s count %d, want %d", k, r.Count, want)
			}
		}

		// Daily roll-ups go with the UTC days that ended before the cutoff;
		// the cutoff's own day stays.
		var days []Daily
		if err := db.Order("day").Find(&days).Error; err != nil {
			t.Fatal(err)
		}
		firstDay := Day.start(cutoff)
		wantDays := map[string]bool{firstDay.Format(time.DateOnly): true, Day.start(now.Add(-48 * time.Hour)).Format(time.DateOnly): true, Day.start(now).Format(time.DateOnly): true}
		gotDays := map[string]bool{}
		for _, d := range days {
			gotDays[d.Day.UTC().Format(time.DateOnly)] = true
		}
		if fmt.Sprint(gotDays) != fmt.Sprint(wantDays) {
			t.Errorf("daily rows on %v, want %v", gotDays, wantDays)
		}

		var oldKeyHours int64
		if err := db.Model(&KeyHour{}).Where("hour < ?", cutoff).Count(&oldKeyHours).Error; err != nil {
			t.Fatal(err)
		}
		if oldKeyHours != 0 {
			t.Errorf("%d key-hour rows older than the cutoff", oldKeyHours)
		}
		var oldKeyDays int64
		if err := db.Model(&KeyDay{}).Where("day < ?", Day.start(cutoff)).Count(&oldKeyDays).Error; err != nil {
			t.Fatal(err)
		}
		if oldKeyDays != 0 {
			t.Errorf("%d key-day rows of days that ended before the cutoff", oldKeyDays)
		}

		// Nothing older is left: a second prune deletes nothing.
		if n, err := Prune(ctx, db, cutoff); err != nil || n != 0 {
			t.Fatalf("second prune: %d, %v", n, err)
		}
	})
}

// TestRetentionKeepsSourcesAMonth: key sources are kept for the days the
// key page shows, or the usage retention when that is shorter.
func TestRetentionKeepsSourcesAMonth(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		now := time.Date(2026, 5, 20, 10, 30, 0, 0, time.UTC)
		today := Day.start(now)
		var rows []Source
		for _, ago := range []int{0, 10, 30, 31, 32, 60} {
			day := today.AddDate(0, 0, -ago)
			rows = append(rows, Source{KeyID: f.keys[0], OrgID: f.orgID, Day: day, Kind: SourceIP, Value: fmt.Sprintf("192.0.2.%d", ago), Count: 1, LastSeen: day})
		}
		if err := db.Create(&rows).Error; err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			retention time.Duration
			left      int64
		}{
			{90 * 24 * time.Hour, 4}, // days 0, 10, 30, 31 ago
			{15 * 24 * time.Hour, 2}, // days 0, 10 ago
		} {
			loopCtx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				RunRetention(loopCtx, db, tc.retention, func() time.Time { return now }, time.Hour, quietLogger)
				close(done)
			}()
			deadline := time.Now().Add(5 * time.Second)
			var n int64
			for time.Now().Before(deadline) {
				if err := db.Model(&Source{}).Count(&n).Error; err != nil {
					t.Fatal(err)
				}
				if n == tc.left {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			<-done
			if n != tc.left {
				t.Errorf("retention %v: %d source rows left, want %d", tc.retention, n, tc.left)
			}
		}
	})
}
