package verify

import (
	"context"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/quota"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestDBStoreLoadsQuotas: a key loaded from the database carries its own
// quota, its organization's (refill amount and report-only mode
// included), its report-only restrictions, and what each quota's current
// period has spent, as the counters' seeds.
func TestDBStoreLoadsQuotas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		keys, orgID, _, _ := seedKey(t, db)
		c, err := keys.Create(ctx, orgID, "", apikey.Input{Description: "metered", Kind: "private", Environment: "live",
			IPs: "203.0.113.0/24", ReportOnly: []string{"ips", "quota"}, Quota: apikey.QuotaInput{Kind: "day", Limit: "500"}}, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.SetOrgQuota(ctx, orgID, apikey.QuotaInput{Kind: "credits", Limit: "1000", Refill: "1h", RefillAmount: "10"}, true, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		today, _ := c.Key.QuotaSpec().Period(now)
		err = db.Exec("INSERT INTO quota_spent (subject_id, org_id, period_start, spent, updated_at) VALUES (?, ?, ?, 42, ?), (?, ?, ?, 7, ?)",
			c.Key.ID, orgID, today.AddDate(0, 0, -1), now, c.Key.ID, orgID, today, now).Error
		if err != nil {
			t.Fatal(err)
		}
		k, err := DBStore{DB: db}.KeyByHash(ctx, c.Key.KeyHash)
		if err != nil {
			t.Fatal(err)
		}
		if k.Quota == nil || k.Quota.ID != c.Key.ID || k.Quota.Spec.Kind != quota.Day || k.Quota.Spec.Limit != 500 ||
			k.Quota.Spent != 7 || !k.Quota.SpentPeriod.Equal(today) {
			t.Fatalf("key quota %+v", k.Quota)
		}
		o := k.OrgQuota
		if o == nil || o.ID != orgID || o.Spec.Kind != quota.Credits || o.Spec.Limit != 1000 || o.Spec.Refill != time.Hour ||
			o.Spec.RefillAmount != 10 || o.Spent != 0 {
			t.Fatalf("org quota %+v", o)
		}
		if k.Report != ReportIPs|ReportQuota|ReportOrgQuota {
			t.Fatalf("report bits %b", k.Report)
		}
		plain, err := keys.Create(ctx, orgID, "", apikey.Input{Description: "plain", Kind: "private", Environment: "live"}, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.SetOrgQuota(ctx, orgID, apikey.QuotaInput{}, false, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		if k, err := (DBStore{DB: db}).KeyByHash(ctx, plain.Key.KeyHash); err != nil || k.Quota != nil || k.OrgQuota != nil || k.Report != 0 {
			t.Fatalf("a key with neither: %+v %v", k, err)
		}
	})
}
