package apikey

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// setPolicy sets the key policy of orgID, failing the test on error.
func (f *fixture) setPolicy(t *testing.T, orgID string, p org.KeyPolicy) {
	t.Helper()
	if _, err := org.NewService(f.db, f.clock.Now).SetKeyPolicy(context.Background(), orgID, p, f.actor); err != nil {
		t.Fatalf("SetKeyPolicy: %v", err)
	}
}

// wantLifetimeError fails unless err is Invalid on expires_at naming the
// limit of days and the last allowed date.
func wantLifetimeError(t *testing.T, what string, err error, days int, date string) {
	t.Helper()
	msg := apperr.FieldsOf(err)["expires_at"]
	if !apperr.Is(err, apperr.Invalid) || !strings.Contains(msg, "within "+strconv.Itoa(days)+" days") || !strings.Contains(msg, date) {
		t.Errorf("%s: %v (fields %v), want Invalid on expires_at naming %d days and %s", what, err, apperr.FieldsOf(err), days, date)
	}
}

func TestLifetimeLimit(t *testing.T) {
	now := time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)
	if got, want := LifetimeLimit(now, 30), time.Date(2030, 7, 16, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("LifetimeLimit = %v, want %v", got, want)
	}
	if got := LifetimeDate(now, 30); got != "2030-07-15" {
		t.Errorf("LifetimeDate = %q", got)
	}
	in := time.Date(2030, 7, 15, 23, 59, 0, 0, time.UTC)
	out := time.Date(2030, 7, 16, 0, 0, 1, 0, time.UTC)
	if checkLifetime(&in, 30, now) != nil || checkLifetime(&out, 30, now) == nil || checkLifetime(nil, 30, now) == nil || checkLifetime(nil, 0, now) != nil {
		t.Error("checkLifetime draws the line elsewhere than the end of the 30th day")
	}
}

// TestMaxLifetime: with a maximum lifetime, create, edit, import and the
// command line's --expires-in refuse a key that would live longer (or
// forever), naming the limit on expires_at; a rotation's new key is
// brought within it; another organization is unaffected; existing keys
// are listed, not changed.
func TestMaxLifetime(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		forever := f.create(t, privateInput(func(in *Input) { in.Description = "Forever" }))
		f.clock.Advance(time.Second)
		long := f.create(t, privateInput(func(in *Input) { in.Description = "Long"; in.ExpiresAt = "2031-01-01" }))
		short := f.create(t, privateInput(func(in *Input) { in.Description = "Short"; in.ExpiresAt = "2030-07-01" }))
		f.setPolicy(t, f.org, org.KeyPolicy{MaxLifetimeDays: 30, IdleDays: 90})
		const last = "2030-07-15"

		// Existing keys are untouched and listed.
		for _, c := range []Created{forever, long} {
			if k := f.get(t, c.Key.ID); !sameTime(k.ExpiresAt, c.Key.ExpiresAt) || k.StatusAt(f.clock.Now()) != Active {
				t.Errorf("%s changed: %+v", c.Key.Description, k)
			}
		}
		beyond, err := f.svc.BeyondLifetime(ctx, f.org, 30)
		if err != nil || strings.Join(keyIDs(beyond), ",") != long.Key.ID+","+forever.Key.ID {
			t.Errorf("BeyondLifetime = %v, %v; want Long, Forever", keyIDs(beyond), err)
		}
		if days, err := f.svc.MaxLifetime(ctx, f.org); err != nil || days != 30 {
			t.Errorf("MaxLifetime = %d, %v", days, err)
		}

		for _, tc := range []struct {
			name string
			edit func(*Input)
		}{
			{"no expiry", func(in *Input) {}},
			{"a date past the limit", func(in *Input) { in.ExpiresAt = "2030-07-16" }},
			{"--expires-in 31 days", func(in *Input) { in.ExpiresIn = 31 * 24 * time.Hour }},
			{"an RFC 3339 time past the limit", func(in *Input) { in.ExpiresAtTime = time.Date(2030, 7, 16, 0, 0, 1, 0, time.UTC) }},
		} {
			_, err := f.svc.Create(ctx, f.org, "", privateInput(tc.edit), f.actor)
			wantLifetimeError(t, "create with "+tc.name, err, 30, last)
		}
		f.create(t, privateInput(func(in *Input) { in.ExpiresAt = last }))
		f.create(t, privateInput(func(in *Input) { in.ExpiresIn = 30 * 24 * time.Hour }))

		// Edits: even one that leaves the expiry alone must bring it within.
		_, err = f.svc.Update(ctx, f.org, forever.Key.ID, privateInput(func(in *Input) { in.Description = "Renamed" }), f.actor)
		wantLifetimeError(t, "edit of a key without expiry", err, 30, last)
		if _, err := f.svc.Update(ctx, f.org, forever.Key.ID, privateInput(func(in *Input) { in.ExpiresAt = last }), f.actor); err != nil {
			t.Errorf("edit within the limit: %v", err)
		}
		if _, err := f.svc.Update(ctx, f.org, short.Key.ID, privateInput(func(in *Input) { in.Description = "Short"; in.ExpiresAt = "2030-07-01" }), f.actor); err != nil {
			t.Errorf("edit of a key within the limit: %v", err)
		}

		// A rotation's new key is brought within; an earlier expiry stays.
		f.takeChanged()
		rotated, _, err := f.svc.Rotate(ctx, f.org, long.Key.ID, "1h", "", f.actor)
		if err != nil {
			t.Fatal(err)
		}
		if want := f.clock.Now().Add(30 * 24 * time.Hour); rotated.Key.ExpiresAt == nil || !rotated.Key.ExpiresAt.Equal(want) {
			t.Errorf("rotated key expires %v, want %v", rotated.Key.ExpiresAt, want)
		}
		if ev := f.events(t, f.org, audit.KeyRotated); len(ev) != 1 || !strings.Contains(ev[0].Summary, "within the maximum key lifetime of 30 days") {
			t.Errorf("rotation audit: %+v", ev)
		}
		kept, _, err := f.svc.Rotate(ctx, f.org, short.Key.ID, "0", "", f.actor)
		if err != nil || !sameTime(kept.Key.ExpiresAt, short.Key.ExpiresAt) {
			t.Errorf("rotation of a key within the limit: expires %v, %v; want %v", kept.Key.ExpiresAt, err, short.Key.ExpiresAt)
		}

		// Imports obey it too, all or nothing.
		_, err = f.svc.Import(ctx, f.org, Import{Lines: []ImportLine{
			{SHA256: sha("within"), ExpiresAt: "2030-07-10"},
			{SHA256: sha("forever")},
		}}, f.actor)
		if !apperr.Is(err, apperr.Invalid) || !strings.Contains(apperr.MessageOf(err), "line 2: expires_at:") || !strings.Contains(apperr.MessageOf(err), "30 days") {
			t.Errorf("import past the limit: %v", err)
		}
		if n, err := f.svc.Import(ctx, f.org, Import{Lines: []ImportLine{{SHA256: sha("within"), ExpiresAt: "2030-07-10"}}}, f.actor); err != nil || n.Created != 1 {
			t.Errorf("import within the limit: %+v, %v", n, err)
		}

		// The other organization has no limit.
		if _, err := f.svc.Create(ctx, f.other, "", privateInput(), f.otherActor); err != nil {
			t.Errorf("another organization's key: %v", err)
		}
		// Turned off, keys may live forever again.
		f.setPolicy(t, f.org, org.KeyPolicy{IdleDays: 90})
		f.create(t, privateInput())
		if beyond, err := f.svc.BeyondLifetime(ctx, f.org, 0); err != nil || len(beyond) != 0 {
			t.Errorf("BeyondLifetime without a limit = %v, %v", keyIDs(beyond), err)
		}
	})
}

func TestIsIdle(t *testing.T) {
	now := time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)
	created := now.Add(-100 * 24 * time.Hour)
	used := now.Add(-10 * 24 * time.Hour)
	past := now.Add(-time.Hour)
	successor := "x"
	for _, tc := range []struct {
		name string
		k    Key
		days int
		want bool
	}{
		{"never used, old", Key{CreatedAt: created}, 90, true},
		{"never used, old, no idle period", Key{CreatedAt: created}, 0, false},
		{"never used, young", Key{CreatedAt: now.Add(-89 * 24 * time.Hour)}, 90, false},
		{"exactly the period", Key{CreatedAt: now.Add(-90 * 24 * time.Hour)}, 90, true},
		{"used lately", Key{CreatedAt: created, LastUsedAt: &used}, 90, false},
		{"used lately, short period", Key{CreatedAt: created, LastUsedAt: &used}, 7, true},
		{"disabled", Key{CreatedAt: created, DisabledAt: &past}, 90, false},
		{"revoked", Key{CreatedAt: created, RevokedAt: &past}, 90, false},
		{"expired", Key{CreatedAt: created, ExpiresAt: &past}, 90, false},
		{"rotated", Key{CreatedAt: created, ReplacedByID: &successor}, 90, false},
	} {
		if got := IsIdle(tc.k, tc.days, now); got != tc.want {
			t.Errorf("%s: IsIdle = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestDisableIdle: the idle policy disables an idle key as "the idle
// policy", tells every server's cache, and leaves a used key alone.
func TestDisableIdle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		idle := f.create(t, privateInput(func(in *Input) { in.Description = "Idle" }))
		used := f.create(t, privateInput(func(in *Input) { in.Description = "Used" }))
		f.clock.Advance(31 * 24 * time.Hour)
		if err := db.Model(&Key{}).Where("id = ?", used.Key.ID).Update("last_used_at", f.clock.Now().Add(-time.Hour)).Error; err != nil {
			t.Fatal(err)
		}
		f.takeChanged()

		if _, ok, err := f.svc.DisableIdle(ctx, f.org, used.Key.ID, 30); err != nil || ok {
			t.Errorf("DisableIdle of a used key = %v, %v", ok, err)
		}
		f.assertChanged(t)
		if _, ok, err := f.svc.DisableIdle(ctx, f.org, idle.Key.ID, 60); err != nil || ok {
			t.Errorf("DisableIdle before the idle period = %v, %v", ok, err)
		}
		if _, _, err := f.svc.DisableIdle(ctx, f.other, idle.Key.ID, 30); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("DisableIdle from another organization = %v, want NotFound", err)
		}
		k, ok, err := f.svc.DisableIdle(ctx, f.org, idle.Key.ID, 30)
		if err != nil || !ok || k.StatusAt(f.clock.Now()) != Disabled {
			t.Fatalf("DisableIdle = %+v, %v, %v", k, ok, err)
		}
		if stored := f.get(t, idle.Key.ID); stored.DisabledAt == nil || stored.DisabledByID != nil {
			t.Errorf("stored: disabled %v by %v", stored.DisabledAt, stored.DisabledByID)
		}
		f.assertChanged(t, idle.Key.KeyHash)
		ev := f.events(t, f.org, audit.KeyDisabled)
		if len(ev) != 1 || ev[0].Summary != "the idle policy disabled, as it was unused for 30 days, "+idle.Key.Hint+" (Idle)" {
			t.Errorf("audit: %+v", ev)
		}
		if _, ok, err := f.svc.DisableIdle(ctx, f.org, idle.Key.ID, 30); err != nil || ok {
			t.Errorf("second DisableIdle = %v, %v", ok, err)
		}
		f.assertChanged(t)
	})
}

// TestExpiringSoon: the banner's keys stop within 7 days and work now;
// rotated, disabled, revoked and expired keys are not among them.
func TestExpiringSoon(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		soon := f.create(t, privateInput(func(in *Input) { in.Description = "Soon"; in.ExpiresIn = 3 * 24 * time.Hour }))
		sooner := f.create(t, privateInput(func(in *Input) { in.Description = "Sooner"; in.ExpiresIn = 2 * time.Hour }))
		f.create(t, privateInput(func(in *Input) { in.Description = "Later"; in.ExpiresIn = 8 * 24 * time.Hour }))
		f.create(t, privateInput(func(in *Input) { in.Description = "Never" }))
		paused := f.create(t, privateInput(func(in *Input) { in.ExpiresIn = 24 * time.Hour }))
		if _, err := f.svc.Disable(ctx, f.org, paused.Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		gone := f.create(t, privateInput(func(in *Input) { in.ExpiresIn = 24 * time.Hour }))
		if _, err := f.svc.Revoke(ctx, f.org, gone.Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.Rotate(ctx, f.org, f.create(t, privateInput(func(in *Input) { in.ExpiresIn = 24 * time.Hour })).Key.ID, "1h", "", f.actor); err != nil {
			t.Fatal(err)
		}
		f.create(t, privateInput(func(in *Input) { in.ExpiresIn = time.Minute }))
		f.clock.Advance(2 * time.Minute)
		got, err := f.svc.ExpiringSoon(ctx, f.org)
		if err != nil {
			t.Fatal(err)
		}
		// The rotation's new key (expiring in a day) is there, after Sooner.
		if len(got) != 3 || got[0].ID != sooner.Key.ID || got[2].ID != soon.Key.ID {
			t.Errorf("ExpiringSoon = %v; want Sooner, the rotated key's successor, Soon", keyIDs(got))
		}
		if other, err := f.svc.ExpiringSoon(ctx, f.other); err != nil || len(other) != 0 {
			t.Errorf("another organization's = %v, %v", keyIDs(other), err)
		}
	})
}
