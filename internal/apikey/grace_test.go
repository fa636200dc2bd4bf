package apikey

import (
	"context"
	"strings"
	"testing"
	"time"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// rotate rotates key id of f.org with grace and returns the new key.
func (f *fixture) rotate(t *testing.T, id, grace string) Key {
	t.Helper()
	c, _, err := f.svc.Rotate(context.Background(), f.org, id, grace, "", f.actor)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	return c.Key
}

func TestEndGrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		old := f.create(t, privateInput())
		nk := f.rotate(t, old.Key.ID, "24h")
		f.takeChanged()
		f.clock.Advance(10 * time.Minute)
		now := f.clock.Now()

		if p, err := f.svc.Predecessor(ctx, f.org, nk.ID); err != nil || p.ID != old.Key.ID {
			t.Fatalf("Predecessor in grace = %s, %v; want the old key", p.ID, err)
		}
		got, err := f.svc.EndGrace(ctx, f.org, nk.ID, f.actor)
		if err != nil {
			t.Fatalf("EndGrace: %v", err)
		}
		if got.ID != old.Key.ID || got.GraceUntil == nil || !got.GraceUntil.Equal(now) {
			t.Errorf("returned key %s, GraceUntil %v; want the old key, %v", got.ID, got.GraceUntil, now)
		}
		o := f.get(t, old.Key.ID)
		if o.GraceUntil == nil || !o.GraceUntil.Equal(now) || !o.UpdatedAt.Equal(now) {
			t.Errorf("stored GraceUntil %v, UpdatedAt %v; want %v", o.GraceUntil, o.UpdatedAt, now)
		}
		if s := o.StatusAt(now); s != Expired {
			t.Errorf("old key status right after EndGrace = %q, want expired", s)
		}
		if o.InGrace(now) || o.RevokedAt != nil || !strPtrIs(o.ReplacedByID, nk.ID) {
			t.Errorf("old key after EndGrace: %+v", o)
		}
		if s := f.get(t, nk.ID).StatusAt(now); s != Active {
			t.Errorf("new key status = %q, want active", s)
		}
		f.assertChanged(t, old.Key.KeyHash)
		var changes int64
		if err := db.Model(&KeyChange{}).Where("key_hash = ? AND created_at = ?", old.Key.KeyHash, now).Count(&changes).Error; err != nil || changes != 1 {
			t.Errorf("%d key_changes rows for the old key at %v (%v), want 1", changes, now, err)
		}
		evs := f.events(t, f.org, audit.KeyGraceEnded)
		if len(evs) != 1 {
			t.Fatalf("%d key.grace_ended events, want 1", len(evs))
		}
		e := evs[0]
		if e.TargetID != old.Key.ID || e.TargetType != "api_key" || e.ActorEmail != f.actor.Email ||
			e.IP != f.actor.IP || !e.CreatedAt.Equal(now) ||
			!strings.Contains(e.Summary, old.Key.Hint) || !strings.Contains(e.Summary, old.Key.Description) {
			t.Errorf("key.grace_ended event = %+v", e)
		}

		// A second call: Conflict, nothing changes.
		f.clock.Advance(time.Minute)
		if _, err := f.svc.EndGrace(ctx, f.org, nk.ID, f.actor); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("second EndGrace = %v, want Conflict", err)
		}
		if _, err := f.svc.Predecessor(ctx, f.org, nk.ID); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("Predecessor after EndGrace = %v, want Conflict", err)
		}
		if o2 := f.get(t, old.Key.ID); !o2.GraceUntil.Equal(now) {
			t.Errorf("second EndGrace moved GraceUntil to %v", o2.GraceUntil)
		}
		f.assertChanged(t)
		if n := len(f.events(t, f.org, audit.KeyGraceEnded)); n != 1 {
			t.Errorf("%d key.grace_ended events after a refused call, want 1", n)
		}
	})
}

func TestEndGraceRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		old := f.create(t, privateInput())
		nk := f.rotate(t, old.Key.ID, "1h")
		f.takeChanged()

		// Another organization: NotFound, whether it names the new key or
		// the old one, and the grace stays.
		for _, id := range []string{nk.ID, old.Key.ID} {
			if _, err := f.svc.EndGrace(ctx, f.other, id, f.otherActor); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("EndGrace from another org = %v, want NotFound", err)
			}
			if _, err := f.svc.Predecessor(ctx, f.other, id); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("Predecessor from another org = %v, want NotFound", err)
			}
		}
		for _, id := range []string{"not-a-uuid", "0195d3f0-0000-7000-8000-000000000000"} {
			if _, err := f.svc.EndGrace(ctx, f.org, id, f.actor); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("EndGrace(%q) = %v, want NotFound", id, err)
			}
		}

		// The old key itself replaced nothing; neither did a plain key.
		plain := f.create(t, privateInput())
		f.takeChanged()
		for _, id := range []string{old.Key.ID, plain.Key.ID} {
			if _, err := f.svc.EndGrace(ctx, f.org, id, f.actor); !apperr.Is(err, apperr.Conflict) {
				t.Errorf("EndGrace on a key that replaced nothing = %v, want Conflict", err)
			}
		}
		if o := f.get(t, old.Key.ID); !o.InGrace(f.clock.Now()) {
			t.Fatal("a refused EndGrace ended the grace")
		}
		f.assertChanged(t)

		// Past its deadline, the grace cannot end again.
		f.clock.Advance(time.Hour)
		if _, err := f.svc.EndGrace(ctx, f.org, nk.ID, f.actor); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("EndGrace past the deadline = %v, want Conflict", err)
		}

		// Rotated with grace 0: no grace to end.
		now0 := f.create(t, privateInput())
		next0 := f.rotate(t, now0.Key.ID, "0")
		if _, err := f.svc.EndGrace(ctx, f.org, next0.ID, f.actor); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("EndGrace after a rotation with grace 0 = %v, want Conflict", err)
		}

		// The old key revoked during its grace: no grace to end.
		rev := f.create(t, privateInput())
		nextRev := f.rotate(t, rev.Key.ID, "168h")
		if _, err := f.svc.Revoke(ctx, f.org, rev.Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		f.takeChanged()
		_, err := f.svc.EndGrace(ctx, f.org, nextRev.ID, f.actor)
		if !apperr.Is(err, apperr.Conflict) || !strings.Contains(apperr.MessageOf(err), "revoked") {
			t.Errorf("EndGrace with a revoked old key = %v, want Conflict saying revoked", err)
		}

		// The new key revoked while the old one is in grace: ending the
		// grace would leave nothing working, so it is refused.
		lone := f.create(t, privateInput())
		nextLone := f.rotate(t, lone.Key.ID, "168h")
		if _, err := f.svc.Revoke(ctx, f.org, nextLone.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		f.takeChanged()
		_, err = f.svc.EndGrace(ctx, f.org, nextLone.ID, f.actor)
		if !apperr.Is(err, apperr.Conflict) || !strings.Contains(apperr.MessageOf(err), "no working key") {
			t.Errorf("EndGrace with a revoked new key = %v, want Conflict saying no working key", err)
		}
		if o := f.get(t, lone.Key.ID); !o.InGrace(f.clock.Now()) {
			t.Error("the old key lost its grace although its successor is revoked")
		}

		// An old key whose own expiry came before its grace deadline is
		// expired: no grace to end either.
		exp := f.create(t, privateInput(func(in *Input) { in.ExpiresAt = f.clock.Now().Add(48 * time.Hour).Format("2006-01-02") }))
		nextExp := f.rotate(t, exp.Key.ID, "168h")
		f.takeChanged()
		f.clock.Advance(72 * time.Hour)
		if _, err := f.svc.EndGrace(ctx, f.org, nextExp.ID, f.actor); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("EndGrace with an expired old key = %v, want Conflict", err)
		}

		f.assertChanged(t)
		if n := len(f.events(t, f.org, audit.KeyGraceEnded)) + len(f.events(t, f.other, audit.KeyGraceEnded)); n != 0 {
			t.Errorf("%d key.grace_ended events after refusals only, want 0", n)
		}
	})
}
