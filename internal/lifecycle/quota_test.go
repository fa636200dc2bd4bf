package lifecycle_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/webhook"
)

// spend sets what subject spent in the period starting at start, as the
// usage flush writes it, at the clock's now.
func (e *env) spend(t *testing.T, subject string, start time.Time, spent int64) {
	t.Helper()
	err := e.db.Exec(`INSERT INTO quota_spent (subject_id, org_id, period_start, spent, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (subject_id, period_start) DO UPDATE SET spent = excluded.spent, updated_at = excluded.updated_at`,
		subject, e.org, start.UTC(), spent, e.clock.Now().UTC()).Error
	if err != nil {
		t.Fatal(err)
	}
}

// quotaEvents returns the quota events queued since the last call.
func (e *env) quotaEvents(t *testing.T, seen *int) []sent {
	t.Helper()
	var list []webhook.Delivery
	types := []string{"key.quota_low", "key.quota_exhausted", "org.quota_low", "org.quota_exhausted"}
	if err := e.db.Where("event_type IN ?", types).Order("created_at, id").Find(&list).Error; err != nil {
		t.Fatal(err)
	}
	var out []sent
	for _, d := range list[*seen:] {
		var p sent
		if err := json.Unmarshal([]byte(d.Payload), &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	*seen = len(list)
	return out
}

// TestQuotaEvents: key.quota_low at 80% and key.quota_exhausted at 100%,
// once per period however often the job runs; straight past 80% sends
// only exhausted; the next period sends them again; the organization's
// quota has its own.
func TestQuotaEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		c, err := e.keys.Create(ctx, e.org, "", apikey.Input{Description: "Metered", Kind: "private", Environment: "live",
			Quota: apikey.QuotaInput{Kind: "day", Limit: "100"}}, e.admin)
		if err != nil {
			t.Fatal(err)
		}
		today, _ := c.Key.QuotaSpec().Period(e.clock.Now())
		seen := 0
		e.spend(t, c.Key.ID, today, 79)
		if res := e.run(t); res.Quota != 0 {
			t.Fatalf("79%% spent: %d quota events", res.Quota)
		}
		e.spend(t, c.Key.ID, today, 80)
		e.run(t)
		e.run(t)
		got := e.quotaEvents(t, &seen)
		if len(got) != 1 || got[0].Type != "key.quota_low" || got[0].Data["id"] != c.Key.ID {
			t.Fatalf("at 80%%: %+v", got)
		}
		q := got[0].Data["quota"].(map[string]any)
		if q["limit"] != 100.0 || q["spent"] != 80.0 || q["remaining"] != 20.0 || q["reset"] == nil {
			t.Fatalf("quota in the event: %v", q)
		}
		e.spend(t, c.Key.ID, today, 100)
		e.run(t)
		e.run(t)
		if got := e.quotaEvents(t, &seen); len(got) != 1 || got[0].Type != "key.quota_exhausted" {
			t.Fatalf("at 100%%: %+v", got)
		}
		// The next day: straight to exhausted sends only that.
		e.clock.Advance(24 * time.Hour)
		e.spend(t, c.Key.ID, today.AddDate(0, 0, 1), 150)
		e.run(t)
		if got := e.quotaEvents(t, &seen); len(got) != 1 || got[0].Type != "key.quota_exhausted" {
			t.Fatalf("next day past the quota: %+v", got)
		}
		// An old period's amount sends nothing.
		e.spend(t, c.Key.ID, today, 100)
		if res := e.run(t); res.Quota != 0 {
			t.Fatalf("an old period: %d events", res.Quota)
		}

		o, err := e.keys.SetOrgQuota(ctx, e.org, apikey.QuotaInput{Kind: "credits", Limit: "1000"}, false, e.admin)
		if err != nil {
			t.Fatal(err)
		}
		e.spend(t, e.org, o.State.PeriodStart, 850)
		e.run(t)
		got = e.quotaEvents(t, &seen)
		if len(got) != 1 || got[0].Type != "org.quota_low" || got[0].Data["org_id"] != e.org {
			t.Fatalf("org at 85%%: %+v", got)
		}
		if q := got[0].Data["quota"].(map[string]any); q["reset"] != nil || q["remaining"] != 150.0 {
			t.Fatalf("org quota in the event: %v", q)
		}
	})
}

// TestQuotaEventsTwoReplicas: two jobs at once send each event once.
func TestQuotaEventsTwoReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		other := e.addReplica(db)
		var keys []apikey.Key
		for _, d := range []string{"A", "B", "C", "D"} {
			c, err := e.keys.Create(context.Background(), e.org, "", apikey.Input{Description: d, Kind: "private", Environment: "live",
				Quota: apikey.QuotaInput{Kind: "month", Limit: "10"}}, e.admin)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, c.Key)
			start, _ := c.Key.QuotaSpec().Period(e.clock.Now())
			e.spend(t, c.Key.ID, start, 10)
		}
		var wg sync.WaitGroup
		for _, job := range []func(){func() { e.run(t) }, func() {
			if _, err := other.job.RunOnce(context.Background()); err != nil {
				t.Error(err)
			}
		}} {
			wg.Go(job)
		}
		wg.Wait()
		seen := 0
		if got := e.quotaEvents(t, &seen); len(got) != len(keys) {
			t.Fatalf("%d events from two jobs, want one per key (%d)", len(got), len(keys))
		}
	})
}

// TestPruneSpent deletes the amounts of ended periods two days after their
// last spend, and keeps the current periods' and a never-refilled balance.
func TestPruneSpent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		day, err := e.keys.Create(ctx, e.org, "", apikey.Input{Description: "Daily", Kind: "private", Environment: "live",
			Quota: apikey.QuotaInput{Kind: "day", Limit: "100"}}, e.admin)
		if err != nil {
			t.Fatal(err)
		}
		prepaid, err := e.keys.Create(ctx, e.org, "", apikey.Input{Description: "Prepaid", Kind: "private", Environment: "live",
			Quota: apikey.QuotaInput{Kind: "credits", Limit: "100"}}, e.admin)
		if err != nil {
			t.Fatal(err)
		}
		today, _ := day.Key.QuotaSpec().Period(e.clock.Now())
		anchor, _ := prepaid.Key.QuotaSpec().Period(e.clock.Now())
		e.spend(t, day.Key.ID, today, 5)
		e.spend(t, prepaid.Key.ID, anchor, 7)
		e.spend(t, "0190a3b4-0000-7000-8000-000000000001", today, 3) // a quota no key has any more
		e.clock.Advance(72 * time.Hour)
		now, _ := day.Key.QuotaSpec().Period(e.clock.Now())
		e.spend(t, day.Key.ID, now, 1)
		if res := e.run(t); res.Pruned != 2 {
			t.Fatalf("pruned %d, want the ended day and the gone quota", res.Pruned)
		}
		var left []struct {
			SubjectID   string
			PeriodStart time.Time
		}
		if err := db.Table("quota_spent").Order("spent").Find(&left).Error; err != nil {
			t.Fatal(err)
		}
		if len(left) != 2 || left[0].SubjectID != day.Key.ID || !left[0].PeriodStart.Equal(now) || left[1].SubjectID != prepaid.Key.ID {
			t.Fatalf("left %+v", left)
		}
	})
}
