package webhook

import (
	"context"
	"testing"
	"time"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestPruneKeepsPendingAndRecent: pruning deletes finished deliveries older
// than the cut-off, with their attempts, and keeps pending ones however
// old and every recent one.
func TestPruneKeepsPendingAndRecent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db, Options{})
		f.endpoint(t, "https://93.184.216.34/hook")
		for range 5 {
			if err := f.svc.Enqueue(ctx, f.orgID, KeyCreated, nil); err != nil {
				t.Fatal(err)
			}
		}
		list := f.deliveries(t)
		if len(list) != 5 {
			t.Fatalf("%d deliveries", len(list))
		}
		old := time.Now().Add(-40 * 24 * time.Hour)
		set := func(id string, status Status, created time.Time) {
			if err := db.Model(&Delivery{}).Where("id = ?", id).Updates(map[string]any{"status": status, "created_at": created}).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Create(&Attempt{DeliveryID: id, At: created, Outcome: OutcomeFailed}).Error; err != nil {
				t.Fatal(err)
			}
		}
		set(list[0].ID, Succeeded, old)
		set(list[1].ID, Failed, old)
		set(list[2].ID, Refused, old)
		set(list[3].ID, Pending, old)          // old, still to send: kept
		set(list[4].ID, Succeeded, time.Now()) // recent: kept
		n, err := f.svc.Prune(ctx, time.Now().Add(-DeliveriesKeptFor))
		if err != nil || n != 3 {
			t.Fatalf("Prune = %d, %v; want 3", n, err)
		}
		left := f.deliveries(t)
		if len(left) != 2 {
			t.Fatalf("%d deliveries left, want 2", len(left))
		}
		var attempts int64
		db.Model(&Attempt{}).Count(&attempts)
		if attempts != 2 {
			t.Errorf("%d attempts left, want the 2 of the kept deliveries", attempts)
		}
	})
}
