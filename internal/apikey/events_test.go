package apikey

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"keyplane/internal/audit"
	"keyplane/internal/secretbox"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/webhook"
)

// Every key change queues its webhook event in its own transaction: with
// the change when it commits, not at all when it rolls back; and no event
// carries the key.
func TestKeyChangesQueueWebhookEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		box, err := secretbox.New(secretbox.Key{ID: 1, Secret: []byte(strings.Repeat("s", 32))})
		if err != nil {
			t.Fatal(err)
		}
		hooks := webhook.NewService(db, webhook.Options{Box: box, Now: f.clock.Now})
		if _, err := hooks.Create(ctx, f.org, webhook.Input{URL: "https://93.184.216.34/hooks", Events: []string{webhook.AllEvents}}, f.actor); err != nil {
			t.Fatal(err)
		}
		f.svc.events = hooks

		types := func() []string {
			var list []webhook.Delivery
			db.Order("id").Find(&list)
			out := make([]string, len(list))
			for i, d := range list {
				out[i] = d.EventType
			}
			return out
		}
		c := f.create(t, privateInput())
		if _, err := f.svc.Update(ctx, f.org, c.Key.ID, privateInput(func(in *Input) { in.Description = "Renamed" }), f.actor); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Disable(ctx, f.org, c.Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Enable(ctx, f.org, c.Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		rotated, _, err := f.svc.Rotate(ctx, f.org, c.Key.ID, "0", "", f.actor)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Revoke(ctx, f.org, rotated.Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		want := "key.created key.updated key.disabled key.enabled key.rotated key.revoked"
		if got := strings.Join(types(), " "); got != want {
			t.Fatalf("events %q, want %q", got, want)
		}

		var list []webhook.Delivery
		db.Order("id").Find(&list)
		for _, d := range list {
			for _, secret := range []string{c.Secret, rotated.Secret} {
				if strings.Contains(d.Payload, secret) {
					t.Errorf("%s carries a key", d.EventType)
				}
			}
		}
		var created struct {
			Type string    `json:"type"`
			Data EventData `json:"data"`
		}
		if err := json.Unmarshal([]byte(list[0].Payload), &created); err != nil {
			t.Fatal(err)
		}
		if d := created.Data; d.ID != c.Key.ID || d.OrgID != f.org || d.Hint != c.Key.Hint || d.Kind != "private" ||
			d.Environment != "live" || d.Product != "default" || d.Description != "Billing server" || d.Actor != f.actor.Email {
			t.Errorf("key.created data %+v", d)
		}
		var rot struct {
			Data EventData `json:"data"`
		}
		json.Unmarshal([]byte(list[4].Payload), &rot)
		if rot.Data.ID != c.Key.ID || rot.Data.ReplacedBy == nil || *rot.Data.ReplacedBy != rotated.Key.ID {
			t.Errorf("key.rotated data %+v", rot.Data)
		}

		boom := errors.New("boom")
		err = db.WithTx(ctx, func(ctx context.Context) error {
			if _, err := f.svc.Create(ctx, f.org, "", privateInput(), f.actor); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if n := len(types()); n != 6 {
			t.Errorf("a rolled-back create left %d events, want 6", n)
		}
		// Another organization's changes reach none of this one's endpoints.
		if _, err := f.svc.Create(ctx, f.other, "", privateInput(), f.otherActor); err != nil {
			t.Fatal(err)
		}
		if n := len(types()); n != 6 {
			t.Errorf("another org's create queued here: %d events", n)
		}
	})
}

// A key found in public queues key.leaked, with where it was found, and
// under the disable policy key.disabled too.
func TestLeakQueuesWebhookEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		box, err := secretbox.New(secretbox.Key{ID: 1, Secret: []byte(strings.Repeat("s", 32))})
		if err != nil {
			t.Fatal(err)
		}
		hooks := webhook.NewService(db, webhook.Options{Box: box, Now: f.clock.Now})
		if _, err := hooks.Create(ctx, f.org, webhook.Input{URL: "https://93.184.216.34/hooks", Events: []string{"key.leaked", "key.disabled"}}, f.actor); err != nil {
			t.Fatal(err)
		}
		f.svc.events = hooks
		if err := db.Exec("UPDATE organizations SET leak_policy = 'disable' WHERE id = ?", f.org).Error; err != nil {
			t.Fatal(err)
		}
		c := f.create(t, privateInput())
		sum := sha256.Sum256([]byte(c.Secret))
		if _, ok, err := f.svc.ReportLeak(ctx, sum[:], Leak{URL: "https://github.com/a/b", Source: "GitHub secret scanning"}, audit.Actor{Program: "GitHub secret scanning"}); err != nil || !ok {
			t.Fatalf("ReportLeak: %v, %v", ok, err)
		}
		var list []webhook.Delivery
		db.Order("id").Find(&list)
		if len(list) != 2 || list[0].EventType != "key.leaked" || list[1].EventType != "key.disabled" {
			t.Fatalf("deliveries: %+v", list)
		}
		var leaked struct {
			Data EventData `json:"data"`
		}
		if err := json.Unmarshal([]byte(list[0].Payload), &leaked); err != nil {
			t.Fatal(err)
		}
		if l := leaked.Data.Leak; l == nil || l.URL != "https://github.com/a/b" || l.Source != "GitHub secret scanning" || leaked.Data.Actor != "GitHub secret scanning" {
			t.Errorf("key.leaked data: %+v", leaked.Data)
		}
		if strings.Contains(list[0].Payload, c.Secret) {
			t.Error("key.leaked carries the key")
		}
	})
}
