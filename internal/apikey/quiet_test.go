package apikey

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/secretbox"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/webhook"
)

// rotateQuiet rotates key id of f.org with grace and the quiet-hour rule
// and returns the new key.
func (f *fixture) rotateQuiet(t *testing.T, id, grace string) Key {
	t.Helper()
	c, old, err := f.svc.RotateWith(context.Background(), f.org, id, Rotation{Grace: grace, EndWhenQuiet: true}, f.actor)
	if err != nil {
		t.Fatalf("RotateWith: %v", err)
	}
	if old.GraceQuietFrom == nil || !old.GraceQuietFrom.Equal(f.clock.Now()) {
		t.Fatalf("returned old key's GraceQuietFrom %v, want the rotation's time", old.GraceQuietFrom)
	}
	return c.Key
}

// used records a request with key id at the clock's time, as the usage
// recorder writes it.
func (f *fixture) used(t *testing.T, id string) {
	t.Helper()
	if err := f.db.Model(&Key{}).Where("id = ?", id).Update("last_used_at", f.clock.Now().UTC()).Error; err != nil {
		t.Fatal(err)
	}
}

// hooked makes f's service queue webhook events to an endpoint of f.org
// that wants them all, and returns a func listing the queued event types.
func (f *fixture) hooked(t *testing.T) func() []webhook.Delivery {
	t.Helper()
	box, err := secretbox.New(secretbox.Key{ID: 1, Secret: []byte(strings.Repeat("s", 32))})
	if err != nil {
		t.Fatal(err)
	}
	hooks := webhook.NewService(f.db, webhook.Options{Box: box, Now: f.clock.Now})
	if _, err := hooks.Create(context.Background(), f.org, webhook.Input{URL: "https://93.184.216.34/hooks", Events: []string{webhook.AllEvents}}, f.actor); err != nil {
		t.Fatal(err)
	}
	f.svc.events = hooks
	return func() []webhook.Delivery {
		var list []webhook.Delivery
		if err := f.db.Order("id").Find(&list).Error; err != nil {
			t.Fatal(err)
		}
		return list
	}
}

func (f *fixture) endQuiet(t *testing.T, want int) {
	t.Helper()
	n, err := f.svc.EndQuietGraces(context.Background())
	if err != nil {
		t.Fatalf("EndQuietGraces: %v", err)
	}
	if n != want {
		t.Fatalf("EndQuietGraces ended %d grace periods, want %d", n, want)
	}
}

// A request within the hour keeps the grace; an hour without one ends it,
// as "end grace now" would: caches are told, the audit log names the rule,
// and key.expired is queued.
func TestQuietHourEndsGrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		deliveries := f.hooked(t)
		old := f.create(t, privateInput())
		plain := f.create(t, privateInput(func(in *Input) { in.Description = "No rule" }))
		rotatedAt := f.clock.Now()
		nk := f.rotateQuiet(t, old.Key.ID, "24h")
		f.rotate(t, plain.Key.ID, "24h")
		if evs := f.events(t, f.org, audit.KeyRotated); len(evs) != 2 || !strings.Contains(evs[0].Summary+evs[1].Summary, "or once it has had no request for an hour") {
			t.Errorf("key.rotated events %+v: none names the quiet-hour rule", evs)
		}
		f.takeChanged()

		// Unused since the rotation, 59 minutes on: not yet.
		f.clock.Advance(59 * time.Minute)
		f.endQuiet(t, 0)
		// A request at minute 30 of the hour moves the quiet hour on.
		f.clock.Set(rotatedAt.Add(30 * time.Minute))
		f.used(t, old.Key.ID)
		f.clock.Set(rotatedAt.Add(80 * time.Minute))
		f.endQuiet(t, 0)
		if o := f.get(t, old.Key.ID); !o.InGrace(f.clock.Now()) {
			t.Fatalf("old key used 50 minutes ago lost its grace: %v", o.GraceUntil)
		}
		if since, ok := f.get(t, old.Key.ID).QuietSince(); !ok || !since.Equal(rotatedAt.Add(30*time.Minute)) {
			t.Errorf("QuietSince = %v, %v; want the last request", since, ok)
		}
		if len(f.takeChanged()) != 0 || len(f.events(t, f.org, audit.KeyGraceEnded)) != 0 {
			t.Fatal("a pass that ended nothing told caches or wrote the audit log")
		}

		// An hour after that request: the grace ends now.
		f.clock.Set(rotatedAt.Add(90 * time.Minute))
		now := f.clock.Now()
		f.endQuiet(t, 1)
		o := f.get(t, old.Key.ID)
		if o.GraceUntil == nil || !o.GraceUntil.Equal(now) || o.StatusAt(now) != Expired {
			t.Fatalf("old key after a quiet hour: grace until %v, status %s; want expired now", o.GraceUntil, o.StatusAt(now))
		}
		if s := f.get(t, nk.ID).StatusAt(now); s != Active {
			t.Errorf("new key %s, want active", s)
		}
		f.assertChanged(t, old.Key.KeyHash)
		var changes int64
		db.Model(&KeyChange{}).Where("key_hash = ? AND created_at = ?", old.Key.KeyHash, now).Count(&changes)
		if changes != 1 {
			t.Errorf("%d key_changes rows for the old key, want 1 (other servers poll them)", changes)
		}
		evs := f.events(t, f.org, audit.KeyGraceEnded)
		if len(evs) != 1 || evs[0].TargetID != old.Key.ID || evs[0].ActorEmail != "the rotation's quiet-hour rule" ||
			evs[0].ActorID != nil || !evs[0].CreatedAt.Equal(now) || !strings.Contains(evs[0].Summary, "no request for an hour") ||
			!strings.Contains(evs[0].Summary, old.Key.Hint) {
			t.Errorf("key.grace_ended events %+v", evs)
		}
		var expired []webhook.Delivery
		for _, d := range deliveries() {
			if d.EventType == "key.expired" {
				expired = append(expired, d)
			}
		}
		if len(expired) != 1 {
			t.Fatalf("%d key.expired deliveries, want 1", len(expired))
		}
		var body struct {
			Data EventData `json:"data"`
		}
		if err := json.Unmarshal([]byte(expired[0].Payload), &body); err != nil {
			t.Fatal(err)
		}
		if d := body.Data; d.ID != old.Key.ID || d.Status != "expired" || d.Actor != "the rotation's quiet-hour rule" ||
			d.ReplacedBy == nil || *d.ReplacedBy != nk.ID {
			t.Errorf("key.expired data %+v", d)
		}

		// The key rotated without the rule keeps its grace, however quiet;
		// a later pass finds nothing more to do.
		f.clock.Advance(5 * time.Hour)
		f.endQuiet(t, 0)
		if p := f.get(t, plain.Key.ID); !p.InGrace(f.clock.Now()) {
			t.Error("a key rotated without the rule lost its grace")
		}
	})
}

// The rule needs a grace period longer than the quiet hour: with grace 0
// or 1h it is refused, and nothing is rotated.
func TestQuietRuleNeedsLongGrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		k := f.create(t, privateInput())
		for _, grace := range []string{"0", "1h"} {
			_, _, err := f.svc.RotateWith(context.Background(), f.org, k.Key.ID, Rotation{Grace: grace, EndWhenQuiet: true}, f.actor)
			if !apperr.Is(err, apperr.Invalid) || apperr.FieldsOf(err)["end_when_quiet"] == "" {
				t.Errorf("grace %s with the rule: %v (fields %v), want Invalid naming end_when_quiet", grace, err, apperr.FieldsOf(err))
			}
		}
		if got := f.get(t, k.Key.ID); got.ReplacedByID != nil || got.GraceQuietFrom != nil {
			t.Errorf("a refused rotation changed the key: %+v", got)
		}
		if n := f.countRows(t, "api_keys"); n != 1 {
			t.Errorf("%d keys after refused rotations, want 1", n)
		}
		if _, old, err := f.svc.RotateWith(context.Background(), f.org, k.Key.ID, Rotation{Grace: "168h"}, f.actor); err != nil || old.GraceQuietFrom != nil {
			t.Errorf("rotation without the rule: %v, GraceQuietFrom %v", err, old.GraceQuietFrom)
		}
	})
}

// Two servers running the rule at once end the grace once: one audit
// event, one change, one webhook event.
func TestQuietHourConcurrentPasses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		deliveries := f.hooked(t)
		var keys []Created
		for range 3 {
			k := f.create(t, privateInput())
			f.rotateQuiet(t, k.Key.ID, "168h")
			keys = append(keys, k)
		}
		f.clock.Advance(QuietPeriod)
		before := len(deliveries())
		other := NewService(db, Options{Prefix: "kp", MaxKeys: 100, Policy: testPolicy, Now: f.clock.Now, Events: f.svc.events})
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for _, svc := range []*Service{f.svc, other, f.svc, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := svc.EndQuietGraces(context.Background())
				if err != nil {
					t.Errorf("EndQuietGraces: %v", err)
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}()
		}
		wg.Wait()
		if total != len(keys) {
			t.Errorf("passes ended %d grace periods in all, want %d", total, len(keys))
		}
		for _, k := range keys {
			var n int64
			db.Model(&audit.Event{}).Where("action = ? AND target_id = ?", audit.KeyGraceEnded, k.Key.ID).Count(&n)
			if n != 1 {
				t.Errorf("%d key.grace_ended events for %s, want 1", n, k.Key.Hint)
			}
			db.Model(&KeyChange{}).Where("key_hash = ? AND created_at = ?", k.Key.KeyHash, f.clock.Now()).Count(&n)
			if n != 1 {
				t.Errorf("%d key_changes rows for %s, want 1", n, k.Key.Hint)
			}
		}
		if got := len(deliveries()) - before; got != len(keys) {
			t.Errorf("%d events queued, want %d key.expired", got, len(keys))
		}
	})
}

// A grace is left alone when the new key no longer works (ending it would
// leave none), when the old key was revoked, or when the key belongs to
// no rule; RunQuietGraces runs the passes on its own.
func TestQuietHourLeavesOthersAndRuns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		a := f.create(t, privateInput())
		na := f.rotateQuiet(t, a.Key.ID, "24h")
		if _, err := f.svc.Revoke(ctx, f.org, na.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		b := f.create(t, privateInput())
		f.rotateQuiet(t, b.Key.ID, "24h")
		if _, err := f.svc.Revoke(ctx, f.org, b.Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		c := f.create(t, privateInput())
		f.rotateQuiet(t, c.Key.ID, "24h")
		f.clock.Advance(2 * time.Hour)
		f.takeChanged()

		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			f.svc.RunQuietGraces(runCtx, 5*time.Millisecond, time.Second, slog.New(slog.DiscardHandler))
			close(done)
		}()
		deadline := time.Now().Add(10 * time.Second)
		for f.get(t, c.Key.ID).InGrace(f.clock.Now()) {
			if time.Now().After(deadline) {
				t.Fatal("RunQuietGraces did not end the quiet key's grace")
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		<-done
		if !f.get(t, a.Key.ID).InGrace(f.clock.Now()) {
			t.Error("the grace of a key whose successor is revoked was ended")
		}
		if got := f.get(t, b.Key.ID); got.RevokedAt == nil || got.GraceUntil.Equal(f.clock.Now()) {
			t.Errorf("revoked old key touched: %+v", got)
		}
		for _, h := range f.takeChanged() {
			if !bytes.Equal(h, c.Key.KeyHash) {
				t.Errorf("caches told of another key than the quiet one")
			}
		}
		if evs := f.events(t, f.org, audit.KeyGraceEnded); len(evs) != 1 || evs[0].TargetID != c.Key.ID {
			t.Errorf("key.grace_ended events %+v, want one for the quiet key", evs)
		}
	})
}
