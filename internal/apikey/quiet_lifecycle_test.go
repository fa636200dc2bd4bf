package apikey_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/clocktest"
	"keyplane/internal/lifecycle"
	"keyplane/internal/org"
	"keyplane/internal/secretbox"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/webhook"
)

// A grace the quiet-hour rule ended is announced once: the expiry
// reminders, which announce every grace that ends, do not send key.expired
// again.
func TestQuietHourExpiredOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := clocktest.New(time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC))
		users := account.NewService(db, clock.Now, account.WithHashParams(account.TestHashParams))
		u, err := users.CreateUser(ctx, account.NewUser{Email: "admin@example.com", Name: "Admin", Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		actor := audit.Actor{UserID: u.ID, Email: u.Email}
		o, err := org.NewService(db, clock.Now).Create(ctx, "Acme", "acme", u.ID, actor)
		if err != nil {
			t.Fatal(err)
		}
		box, err := secretbox.New(secretbox.Key{ID: 1, Secret: []byte(strings.Repeat("s", 32))})
		if err != nil {
			t.Fatal(err)
		}
		hooks := webhook.NewService(db, webhook.Options{Box: box, Now: clock.Now})
		if _, err := hooks.Create(ctx, o.ID, webhook.Input{URL: "https://93.184.216.34/hooks", Events: []string{webhook.AllEvents}}, actor); err != nil {
			t.Fatal(err)
		}
		keys := apikey.NewService(db, apikey.Options{Prefix: "kp", MaxKeys: 10, Policy: apikey.Policy{Scopes: []string{"read"}}, Now: clock.Now, Events: hooks})
		job := lifecycle.New(db, keys, lifecycle.Options{Events: hooks, Now: clock.Now})
		quiet, err := keys.Create(ctx, o.ID, "", apikey.Input{Description: "Quiet", Kind: "private", Environment: "live"}, actor)
		if err != nil {
			t.Fatal(err)
		}
		ended, err := keys.Create(ctx, o.ID, "", apikey.Input{Description: "Ended by hand", Kind: "private", Environment: "live"}, actor)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := keys.RotateWith(ctx, o.ID, quiet.Key.ID, apikey.Rotation{Grace: "24h", EndWhenQuiet: true}, actor); err != nil {
			t.Fatal(err)
		}
		next, _, err := keys.Rotate(ctx, o.ID, ended.Key.ID, "24h", "", actor)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
		if n, err := keys.EndQuietGraces(ctx); err != nil || n != 1 {
			t.Fatalf("EndQuietGraces: %d, %v", n, err)
		}
		if _, err := keys.EndGrace(ctx, o.ID, next.Key.ID, actor); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			clock.Advance(time.Minute)
			if _, err := job.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var list []webhook.Delivery
		if err := db.Where("event_type = ?", "key.expired").Find(&list).Error; err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, d := range list {
			switch {
			case strings.Contains(d.Payload, quiet.Key.ID) && strings.Contains(d.Payload, "the rotation's quiet-hour rule"):
				got["quiet"]++
			case strings.Contains(d.Payload, ended.Key.ID):
				got["by hand"]++
			default:
				got["other"]++
			}
		}
		// The grace ended by hand is announced by the reminders, once.
		if got["quiet"] != 1 || got["by hand"] != 1 || got["other"] != 0 {
			t.Errorf("key.expired deliveries %v, want one by the quiet-hour rule and one for the grace ended by hand", got)
		}
	})
}
