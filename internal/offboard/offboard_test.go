package offboard

import (
	"context"
	"strings"
	"testing"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/clocktest"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

type fixture struct {
	db        *store.DB
	clock     *clocktest.Clock
	orgs      *org.Service
	keys      *apikey.Service
	svc       *Service
	org       string
	admin     audit.Actor
	leaver    audit.Actor
	leaverRow string
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{db: db, clock: clocktest.New(time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC))}
	users := account.NewService(db, f.clock.Now, account.WithHashParams(account.TestHashParams))
	f.orgs = org.NewService(db, f.clock.Now)
	mk := func(email string) audit.Actor {
		u, err := users.CreateUser(ctx, account.NewUser{Email: email, Name: email, Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		return audit.Actor{UserID: u.ID, Email: u.Email, IP: "192.0.2.1"}
	}
	f.admin, f.leaver = mk("alice@example.com"), mk("mallory@example.com")
	o, err := f.orgs.Create(ctx, "Acme", "acme", f.admin.UserID, f.admin)
	if err != nil {
		t.Fatal(err)
	}
	f.org = o.ID
	if err := f.orgs.AddMember(ctx, f.org, f.leaver.UserID, org.Admin, f.admin); err != nil {
		t.Fatal(err)
	}
	f.keys = apikey.NewService(db, apikey.Options{Prefix: "kp", MaxKeys: 100, Policy: apikey.Policy{Scopes: []string{"read"}}, Now: f.clock.Now})
	f.svc = New(f.orgs, f.keys)
	return f
}

func (f *fixture) create(t *testing.T, desc string, by audit.Actor) apikey.Created {
	t.Helper()
	c, err := f.keys.Create(context.Background(), f.org, "", apikey.Input{Description: desc, Kind: "private", Environment: "live"}, by)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	return c
}

func ids(list []apikey.Key) string {
	var out []string
	for _, k := range list {
		out = append(out, k.Description)
	}
	return strings.Join(out, ",")
}

// The keys a member was shown: those they created and the successors of
// those they rotated, while they can still be rotated.
func TestSeenBy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		f.create(t, "mine", f.leaver)
		f.create(t, "admin's", f.admin)
		theirs := f.create(t, "rotated by me", f.admin)
		if _, _, err := f.keys.Rotate(ctx, f.org, theirs.Key.ID, "24h", "", f.leaver); err != nil {
			t.Fatal(err)
		}
		gone := f.create(t, "revoked", f.leaver)
		if _, err := f.keys.Revoke(ctx, f.org, gone.Key.ID, f.admin); err != nil {
			t.Fatal(err)
		}
		moved := f.create(t, "rotated by the admin", f.leaver)
		if _, _, err := f.keys.Rotate(ctx, f.org, moved.Key.ID, "24h", "", f.admin); err != nil {
			t.Fatal(err)
		}
		seen, err := f.keys.SeenBy(ctx, f.org, f.leaver.UserID)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(seen); got != "rotated by me,mine" {
			t.Errorf("SeenBy = %q, want the successor they made and their own key", got)
		}
		if seen, _ := f.keys.SeenBy(ctx, f.org, f.admin.UserID); ids(seen) != "rotated by the admin,admin's" {
			t.Errorf("SeenBy(admin) = %q", ids(seen))
		}
	})
}

// Removing a member rotates the keys asked, each on its own: a key
// revoked meanwhile, or another's, is reported and the rest goes on; the
// member is removed whatever happens to the keys.
func TestRemoveRotates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		a := f.create(t, "Billing", f.leaver)
		b := f.create(t, "Reports", f.leaver)
		c := f.create(t, "Revoked meanwhile", f.leaver)
		other := f.create(t, "Admin's own", f.admin)
		if _, err := f.keys.Revoke(ctx, f.org, c.Key.ID, f.admin); err != nil {
			t.Fatal(err)
		}

		// A bad grace changes nothing, not even the membership.
		_, err := f.svc.Remove(ctx, f.org, f.leaver.UserID, Request{Rotate: []string{a.Key.ID}, Grace: "2h"}, f.admin)
		if !apperr.Is(err, apperr.Invalid) || apperr.FieldsOf(err)["grace"] == "" {
			t.Fatalf("bad grace: %v", err)
		}
		if _, err := f.orgs.Member(ctx, f.org, f.leaver.UserID); err != nil {
			t.Fatalf("a refused removal removed the member: %v", err)
		}

		now := f.clock.Now()
		res, err := f.svc.Remove(ctx, f.org, f.leaver.UserID, Request{
			Rotate: []string{a.Key.ID, c.Key.ID, other.Key.ID, "01960a7c-2b1d-7e3f-8a9b-0c1d2e3f4a5b", a.Key.ID, b.Key.ID},
			Grace:  "24h", FormToken: "tok",
		}, f.admin)
		if err != nil {
			t.Fatalf("Remove: %v", err)
		}
		if res.Member.UserID != f.leaver.UserID {
			t.Errorf("removed %+v", res.Member)
		}
		if _, err := f.orgs.Member(ctx, f.org, f.leaver.UserID); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("member still there: %v", err)
		}
		if len(res.Rotated) != 2 || res.Rotated[0].Old.ID != a.Key.ID || res.Rotated[1].Old.ID != b.Key.ID {
			t.Fatalf("rotated %+v, want Billing and Reports once each", res.Rotated)
		}
		for _, r := range res.Rotated {
			if r.New.Secret == "" || apikey.Hint(r.New.Secret) != r.New.Key.Hint || r.New.Key.ReplacesID == nil || *r.New.Key.ReplacesID != r.Old.ID {
				t.Errorf("new key %+v does not replace %s with a secret", r.New.Key, r.Old.Hint)
			}
			if r.New.Key.CreatedByID == nil || *r.New.Key.CreatedByID != f.admin.UserID {
				t.Errorf("new key created by %v, want the admin", r.New.Key.CreatedByID)
			}
			old, err := f.keys.Get(ctx, f.org, r.Old.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !old.InGrace(now) || !old.GraceUntil.Equal(now.Add(24*time.Hour)) {
				t.Errorf("old key %s: grace until %v, want 24 hours", old.Hint, old.GraceUntil)
			}
		}
		reasons := map[string]string{}
		for _, fl := range res.Failed {
			reasons[fl.ID] = fl.Reason
		}
		if len(res.Failed) != 3 || !strings.Contains(reasons[c.Key.ID], "revoked") ||
			!strings.Contains(reasons[other.Key.ID], "not a key mallory@example.com created") ||
			!strings.Contains(reasons["01960a7c-2b1d-7e3f-8a9b-0c1d2e3f4a5b"], "no such key") {
			t.Errorf("failed %+v", res.Failed)
		}
		if k, _ := f.keys.Get(ctx, f.org, other.Key.ID); k.ReplacedByID != nil {
			t.Error("another's key was rotated")
		}
		all, err := audit.List(ctx, db.DB, f.org, 100)
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, e := range all {
			if e.ActorEmail == f.admin.Email {
				count[e.Action]++
			}
		}
		if count[audit.MemberRemoved] != 1 || count[audit.KeyRotated] != 2 {
			t.Errorf("audit by the admin %v, want 1 member.removed and 2 key.rotated", count)
		}

		// Again: the member is gone, nothing more is rotated.
		if _, err := f.svc.Remove(ctx, f.org, f.leaver.UserID, Request{Rotate: []string{b.Key.ID}, Grace: "0"}, f.admin); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("second removal: %v, want NotFound", err)
		}
		// Without keys to rotate, the grace is not asked.
		if _, err := f.svc.Remove(ctx, f.org, f.admin.UserID, Request{}, f.admin); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("removing the last admin: %v, want Conflict", err)
		}
	})
}
