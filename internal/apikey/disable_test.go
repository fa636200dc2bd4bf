package apikey

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestDisableEnable: disabling pauses a key (status disabled, every server
// told, audited); enabling undoes it; neither applies twice, nor to a
// revoked or expired key, nor to another organization's key.
func TestDisableEnable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		c := f.create(t, privateInput())
		f.takeChanged()
		f.clock.Advance(time.Minute)

		got, err := f.svc.Disable(ctx, f.org, c.Key.ID, f.actor)
		if err != nil {
			t.Fatalf("Disable: %v", err)
		}
		k := f.get(t, c.Key.ID)
		if got.StatusAt(f.clock.Now()) != Disabled || k.StatusAt(f.clock.Now()) != Disabled {
			t.Errorf("status after Disable: returned %q, stored %q", got.StatusAt(f.clock.Now()), k.StatusAt(f.clock.Now()))
		}
		if k.DisabledAt == nil || !k.DisabledAt.Equal(f.clock.Now()) || !strPtrIs(k.DisabledByID, f.actor.UserID) {
			t.Errorf("DisabledAt, DisabledByID = %v, %v", k.DisabledAt, k.DisabledByID)
		}
		f.assertChanged(t, c.Key.KeyHash)
		if _, err := f.svc.Disable(ctx, f.org, c.Key.ID, f.actor); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("second Disable = %v, want Conflict", err)
		}
		f.assertChanged(t)
		// A disabled key still counts against the limit and can be edited.
		if n, err := f.svc.CountActive(ctx, f.org); err != nil || n != 1 {
			t.Errorf("CountActive = %d, %v; want 1", n, err)
		}
		if _, err := f.svc.Update(ctx, f.org, c.Key.ID, privateInput(func(in *Input) { in.Description = "Paused" }), f.actor); err != nil {
			t.Errorf("Update of a disabled key: %v", err)
		}
		f.takeChanged()

		if _, err := f.svc.Enable(ctx, f.other, c.Key.ID, f.actor); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("Enable from another organization = %v, want NotFound", err)
		}
		got, err = f.svc.Enable(ctx, f.org, c.Key.ID, f.actor)
		if err != nil {
			t.Fatalf("Enable: %v", err)
		}
		k = f.get(t, c.Key.ID)
		if got.StatusAt(f.clock.Now()) != Active || k.DisabledAt != nil || k.DisabledByID != nil {
			t.Errorf("after Enable: status %q, DisabledAt %v", k.StatusAt(f.clock.Now()), k.DisabledAt)
		}
		f.assertChanged(t, c.Key.KeyHash)
		if _, err := f.svc.Enable(ctx, f.org, c.Key.ID, f.actor); !apperr.Is(err, apperr.Conflict) || IsRevoked(err) {
			t.Errorf("second Enable = %v, want Conflict", err)
		}
		if n := len(f.events(t, f.org, audit.KeyDisabled)); n != 1 {
			t.Errorf("%d key.disabled events, want 1", n)
		}
		if n := len(f.events(t, f.org, audit.KeyEnabled)); n != 1 {
			t.Errorf("%d key.enabled events, want 1", n)
		}

		// Revoked while disabled: enabling is ErrRevoked, and disabling a
		// revoked key is a Conflict.
		if _, err := f.svc.Disable(ctx, f.org, c.Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Revoke(ctx, f.org, c.Key.ID, f.actor); err != nil {
			t.Fatalf("Revoke of a disabled key: %v", err)
		}
		if st := f.get(t, c.Key.ID).StatusAt(f.clock.Now()); st != Revoked {
			t.Errorf("a revoked disabled key is %q", st)
		}
		if _, err := f.svc.Enable(ctx, f.org, c.Key.ID, f.actor); !IsRevoked(err) {
			t.Errorf("Enable of a revoked key = %v, want ErrRevoked", err)
		}

		// An expired key: nothing to disable.
		e := f.create(t, privateInput(func(in *Input) { in.ExpiresIn = time.Hour }))
		f.clock.Advance(2 * time.Hour)
		if _, err := f.svc.Disable(ctx, f.org, e.Key.ID, f.actor); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("Disable of an expired key = %v, want Conflict", err)
		}
	})
}

// TestRotateDisabled: a disabled key can be rotated (the way out of a
// leak); its successor works.
func TestRotateDisabled(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), 100)
	ctx := context.Background()
	c := f.create(t, privateInput())
	if _, err := f.svc.Disable(ctx, f.org, c.Key.ID, f.actor); err != nil {
		t.Fatal(err)
	}
	created, old, err := f.svc.Rotate(ctx, f.org, c.Key.ID, "0", "", f.actor)
	if err != nil {
		t.Fatalf("Rotate of a disabled key: %v", err)
	}
	if st := created.Key.StatusAt(f.clock.Now()); st != Active {
		t.Errorf("the successor is %q, want active", st)
	}
	if st := old.StatusAt(f.clock.Now()); st != Expired {
		t.Errorf("the old key is %q, want expired", st)
	}
}

// TestSetOrgDisabled: disabling an organization tells every server with
// one notice, counts the keys that can still work in its audit event, and
// does not apply twice.
func TestSetOrgDisabled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		f.create(t, privateInput())
		f.create(t, privateInput())
		gone, paused := f.create(t, privateInput()), f.create(t, privateInput())
		if _, err := f.svc.Disable(ctx, f.org, paused.Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Revoke(ctx, f.org, gone.Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Create(ctx, f.other, "", privateInput(), f.otherActor); err != nil {
			t.Fatal(err)
		}
		f.takeChanged()

		if err := f.svc.SetOrgDisabled(ctx, f.other, true, f.otherActor); err != nil {
			t.Fatalf("SetOrgDisabled: %v", err)
		}
		f.assertChanged(t, AllChange)
		if err := f.svc.SetOrgDisabled(ctx, f.other, true, f.otherActor); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("twice = %v, want Conflict", err)
		}
		if err := f.svc.SetOrgDisabled(ctx, f.org, false, f.actor); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("enabling an org that is not disabled = %v, want Conflict", err)
		}
		f.takeChanged()
		if err := f.svc.SetOrgDisabled(ctx, f.org, true, f.actor); err != nil {
			t.Fatal(err)
		}
		// One notice for the whole organization, however many keys.
		f.assertChanged(t, AllChange)
		var changes int64
		db.Table("key_changes").Where("key_hash = ?", AllChange).Count(&changes)
		if changes != 2 {
			t.Errorf("%d change rows for two organization changes, want 2", changes)
		}
		if evs := f.events(t, f.org, audit.OrgDisabled); len(evs) != 1 || !strings.Contains(evs[0].Summary, "(3 keys)") {
			t.Errorf("org.disabled events: %+v", evs)
		}
		// While disabled, no key is added; a rotation still works.
		if _, err := f.svc.Create(ctx, f.org, "", privateInput(), f.actor); !errors.Is(err, ErrOrgDisabled) {
			t.Errorf("Create in a disabled org = %v, want ErrOrgDisabled", err)
		}
		if _, err := f.svc.Import(ctx, f.org, Import{Lines: []ImportLine{{SHA256: sha("x")}}}, f.actor); !errors.Is(err, ErrOrgDisabled) {
			t.Errorf("Import into a disabled org = %v, want ErrOrgDisabled", err)
		}
		if _, _, err := f.svc.Rotate(ctx, f.org, paused.Key.ID, "0", "", f.actor); err != nil {
			t.Errorf("Rotate in a disabled org: %v", err)
		}
		if err := f.svc.SetOrgDisabled(ctx, f.org, false, f.actor); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Create(ctx, f.org, "", privateInput(), f.actor); err != nil {
			t.Errorf("Create once enabled again: %v", err)
		}
		if n := len(f.events(t, f.org, audit.OrgDisabled)); n != 1 {
			t.Errorf("%d org.disabled events, want 1", n)
		}
		if n := len(f.events(t, f.org, audit.OrgEnabled)); n != 1 {
			t.Errorf("%d org.enabled events, want 1", n)
		}
		if err := f.svc.SetOrgDisabled(ctx, store.NewID(), true, f.actor); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("an unknown org = %v, want NotFound", err)
		}
	})
}
