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

func roleOf(t *testing.T, db *store.DB, orgID, userID string) org.Role {
	t.Helper()
	var m org.Membership
	if err := db.Where("org_id = ? AND user_id = ?", orgID, userID).Take(&m).Error; err != nil {
		t.Fatalf("membership of %s: %v", userID, err)
	}
	return m.Role
}

func countActions(t *testing.T, db *store.DB, action string) int64 {
	t.Helper()
	var n int64
	if err := db.Table("audit_events").Where("action = ?", action).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestChangeRole(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := org.NewService(db, fixedClock)
		ann := insertUser(t, db, "ann@example.com", "Ann")
		bob := insertUser(t, db, "bob@example.com", "Bob")
		o := mustCreateOrg(t, svc, "Acme", "acme", ann)
		if err := svc.AddMember(ctx, o.ID, bob.ID, org.Member, actorFor(ann)); err != nil {
			t.Fatal(err)
		}

		// The last admin cannot be demoted; nothing changes.
		_, err := svc.ChangeRole(ctx, o.ID, ann.ID, org.Member, actorFor(ann))
		if !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("demote last admin: err %v, want Conflict", err)
		}
		if r := roleOf(t, db, o.ID, ann.ID); r != org.Admin {
			t.Fatalf("last admin's role is %s after refused demotion", r)
		}

		m, err := svc.ChangeRole(ctx, o.ID, bob.ID, org.Admin, actorFor(ann))
		if err != nil || m.Role != org.Admin || m.Email != bob.Email {
			t.Fatalf("promote: %+v, %v", m, err)
		}
		if r := roleOf(t, db, o.ID, bob.ID); r != org.Admin {
			t.Fatalf("bob's role is %s, want admin", r)
		}
		// With two admins, one may be demoted.
		if _, err := svc.ChangeRole(ctx, o.ID, ann.ID, org.Member, actorFor(bob)); err != nil {
			t.Fatalf("demote with two admins: %v", err)
		}
		if r := roleOf(t, db, o.ID, ann.ID); r != org.Member {
			t.Fatalf("ann's role is %s, want member", r)
		}
		if n := countActions(t, db, audit.MemberRoleChanged); n != 2 {
			t.Fatalf("%d role_changed events, want 2", n)
		}
		var e audit.Event
		db.Where("action = ? AND target_id = ?", audit.MemberRoleChanged, ann.ID).Take(&e)
		if want := "bob@example.com changed the role of ann@example.com from admin to member"; e.Summary != want {
			t.Fatalf("summary %q, want %q", e.Summary, want)
		}

		if _, err := svc.ChangeRole(ctx, o.ID, bob.ID, "owner", actorFor(bob)); !apperr.Is(err, apperr.Invalid) {
			t.Fatalf("bad role: %v, want Invalid", err)
		}
		outsider := insertUser(t, db, "out@example.com", "Out")
		if _, err := svc.ChangeRole(ctx, o.ID, outsider.ID, org.Admin, actorFor(bob)); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("non-member: %v, want NotFound", err)
		}
		if _, err := svc.ChangeRole(ctx, o.ID, "not-an-id", org.Admin, actorFor(bob)); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("bad id: %v, want NotFound", err)
		}
	})
}

func TestRemoveMember(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := org.NewService(db, fixedClock)
		ann := insertUser(t, db, "ann@example.com", "Ann")
		bob := insertUser(t, db, "bob@example.com", "Bob")
		o := mustCreateOrg(t, svc, "Acme", "acme", ann)
		other := mustCreateOrg(t, svc, "Beta", "beta", bob)
		if err := svc.AddMember(ctx, o.ID, bob.ID, org.Member, actorFor(ann)); err != nil {
			t.Fatal(err)
		}

		if _, err := svc.RemoveMember(ctx, o.ID, ann.ID, actorFor(ann)); !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("remove last admin: %v, want Conflict", err)
		}
		if _, err := svc.MembershipBySlug(ctx, "acme", ann.ID); err != nil {
			t.Fatalf("last admin gone after refused removal: %v", err)
		}

		m, err := svc.RemoveMember(ctx, o.ID, bob.ID, actorFor(ann))
		if err != nil || m.Email != bob.Email {
			t.Fatalf("remove: %+v, %v", m, err)
		}
		if _, err := svc.MembershipBySlug(ctx, "acme", bob.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("removed member still in: %v", err)
		}
		if _, err := svc.MembershipBySlug(ctx, "beta", bob.ID); err != nil {
			t.Fatalf("removal touched another org: %v", err)
		}
		if _, err := svc.RemoveMember(ctx, o.ID, bob.ID, actorFor(ann)); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("remove twice: %v, want NotFound", err)
		}
		if _, err := svc.RemoveMember(ctx, other.ID, ann.ID, actorFor(ann)); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("remove non-member: %v, want NotFound", err)
		}
		var e audit.Event
		if err := db.Where("action = ?", audit.MemberRemoved).Take(&e).Error; err != nil {
			t.Fatal(err)
		}
		if want := "ann@example.com removed bob@example.com (member) from the organization"; e.Summary != want || e.TargetID != bob.ID {
			t.Fatalf("event %+v, want summary %q", e, want)
		}
	})
}
