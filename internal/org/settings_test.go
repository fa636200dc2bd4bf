package org_test

import (
	"context"
	"testing"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func TestSetRequireTwoFactor(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := org.NewService(db, fixedClock)
		ada := insertUser(t, db, "ada@example.com", "Ada")
		o, err := svc.Create(ctx, "Acme", "acme", ada.ID, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		if o.RequireTwoFactor {
			t.Fatal("a new organization requires two-factor")
		}
		a := audit.Actor{UserID: ada.ID, Email: ada.Email}
		events := func() int64 {
			var n int64
			db.Table("audit_events").Where("org_id = ? AND action = ?", o.ID, audit.OrgSettingsChanged).Count(&n)
			return n
		}
		for _, step := range []struct {
			require bool
			events  int64
		}{{true, 1}, {true, 1}, {false, 2}, {false, 2}, {true, 3}} {
			if err := svc.SetRequireTwoFactor(ctx, o.ID, step.require, a); err != nil {
				t.Fatal(err)
			}
			j, err := svc.MembershipBySlug(ctx, "acme", ada.ID)
			if err != nil || j.RequireTwoFactor != step.require {
				t.Fatalf("after SetRequireTwoFactor(%v): membership %+v, %v", step.require, j, err)
			}
			joined, _ := svc.ForUser(ctx, ada.ID)
			if len(joined) != 1 || joined[0].RequireTwoFactor != step.require {
				t.Fatalf("ForUser = %+v", joined)
			}
			if n := events(); n != step.events {
				t.Errorf("after SetRequireTwoFactor(%v): %d events, want %d (a repeat records nothing)", step.require, n, step.events)
			}
		}
		var summary string
		db.Table("audit_events").Where("action = ?", audit.OrgSettingsChanged).Order("created_at").Limit(1).Pluck("summary", &summary)
		if summary != "ada@example.com required two-factor sign-in of every member of Acme" {
			t.Errorf("summary %q", summary)
		}
		for _, id := range []string{"nope", "00000000-0000-4000-8000-000000000000"} {
			if err := svc.SetRequireTwoFactor(ctx, id, true, a); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("SetRequireTwoFactor(%q) = %v, want NotFound", id, err)
			}
		}
	})
}
