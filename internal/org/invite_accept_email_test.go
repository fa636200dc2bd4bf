package org_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// emailInviteFixture is three organizations (acme, globex, initech) with
// one admin, nina without any membership, and a service whose clock moves
// on a second at each invitation, so they are ordered by creation.
type emailInviteFixture struct {
	db                    *store.DB
	orgs                  *org.Service
	now                   *time.Time
	admin                 account.User
	nina                  account.User
	acme, globex, initech org.Organization
}

func newEmailInviteFixture(t *testing.T, db *store.DB) emailInviteFixture {
	t.Helper()
	now := testNow
	f := emailInviteFixture{db: db, now: &now}
	f.orgs = org.NewService(db, func() time.Time { return *f.now })
	f.admin = insertUser(t, db, "admin@example.com", "Admin")
	f.nina = insertUser(t, db, "nina@example.com", "Nina")
	f.acme = mustCreateOrg(t, f.orgs, "Acme", "acme", f.admin)
	f.globex = mustCreateOrg(t, f.orgs, "Globex", "globex", f.admin)
	f.initech = mustCreateOrg(t, f.orgs, "Initech", "initech", f.admin)
	return f
}

// invite invites email to o, a second after the previous invitation.
func (f emailInviteFixture) invite(t *testing.T, o org.Organization, email string, role org.Role) (string, org.Invite) {
	t.Helper()
	*f.now = f.now.Add(time.Second)
	token, inv, err := f.orgs.CreateInvite(context.Background(), o.ID, email, role, actorFor(f.admin))
	if err != nil {
		t.Fatalf("CreateInvite(%s, %s): %v", o.Slug, email, err)
	}
	return token, inv
}

func (f emailInviteFixture) inviteRow(t *testing.T, id string) org.Invite {
	t.Helper()
	var inv org.Invite
	if err := f.db.Where("id = ?", id).Take(&inv).Error; err != nil {
		t.Fatalf("invite %s: %v", id, err)
	}
	return inv
}

func (f emailInviteFixture) joinedEvents(t *testing.T, userID string) []audit.Event {
	t.Helper()
	var list []audit.Event
	if err := f.db.Where("action = ? AND target_id = ?", audit.MemberJoined, userID).Order("org_id").Find(&list).Error; err != nil {
		t.Fatal(err)
	}
	return list
}

func slugs(list []org.Organization) string {
	var s []string
	for _, o := range list {
		s = append(s, o.Slug)
	}
	return strings.Join(s, ",")
}

func TestAcceptPendingInvitesAcrossOrgs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newEmailInviteFixture(t, db)
		_, first := f.invite(t, f.globex, "nina@example.com", org.Admin)
		_, second := f.invite(t, f.acme, "Nina@Example.com", org.Member)
		_, third := f.invite(t, f.initech, "nina@example.com", org.Member)
		_, other := f.invite(t, f.acme, "someone@example.com", org.Member)
		actor := audit.Actor{UserID: f.nina.ID, Email: f.nina.Email, IP: "198.51.100.7", UserAgent: "sso/1.0"}

		joined, err := f.orgs.AcceptPendingInvites(ctx, f.nina.ID, " NINA@example.com ", actor)
		if err != nil {
			t.Fatalf("AcceptPendingInvites: %v", err)
		}
		if got := slugs(joined); got != "globex,acme,initech" {
			t.Fatalf("joined %q, want globex,acme,initech (oldest invitation first)", got)
		}
		if joined[0].ID != f.globex.ID || joined[0].Name != "Globex" {
			t.Errorf("joined[0] = %+v, want the whole organization", joined[0])
		}
		for o, want := range map[string]org.Role{f.globex.ID: org.Admin, f.acme.ID: org.Member, f.initech.ID: org.Member} {
			if got := roleOf(t, db, o, f.nina.ID); got != want {
				t.Errorf("role in %s = %s, want %s", o, got, want)
			}
		}
		for _, inv := range []org.Invite{first, second, third} {
			if row := f.inviteRow(t, inv.ID); row.UsedAt == nil || !row.UsedAt.Equal(testNow.Add(4*time.Second)) {
				t.Errorf("invitation to %s: used_at %v, want used now", inv.OrgID, row.UsedAt)
			}
		}
		if row := f.inviteRow(t, other.ID); row.UsedAt != nil {
			t.Errorf("another email's invitation was used: %+v", row)
		}

		events := f.joinedEvents(t, f.nina.ID)
		if len(events) != 3 {
			t.Fatalf("%d member.joined events, want 3: %+v", len(events), events)
		}
		summaries := map[string]string{}
		for _, e := range events {
			if e.ActorID == nil || *e.ActorID != f.nina.ID || e.ActorEmail != f.nina.Email || e.IP != actor.IP || e.UserAgent != actor.UserAgent ||
				e.TargetType != "user" || e.OrgID == nil {
				t.Errorf("event %+v: want nina as actor, from her address", e)
				continue
			}
			summaries[*e.OrgID] = e.Summary
		}
		if s := summaries[f.globex.ID]; s != "nina@example.com joined Globex as admin through an invitation" {
			t.Errorf("globex summary %q", s)
		}

		// Worded as a link's acceptance.
		bob := insertUser(t, db, "bob@example.com", "Bob")
		token, _ := f.invite(t, f.acme, "bob@example.com", org.Member)
		if _, err := f.orgs.AcceptInvite(ctx, token, bob.ID, actorFor(bob)); err != nil {
			t.Fatal(err)
		}
		link := f.joinedEvents(t, bob.ID)
		if len(link) != 1 || strings.Replace(link[0].Summary, "bob@", "nina@", 1) != summaries[f.acme.ID] {
			t.Errorf("link summary %+v, pending %q: want the same wording", link, summaries[f.acme.ID])
		}
	})
}

func TestAcceptPendingInvitesLeavesUsedRevokedExpired(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newEmailInviteFixture(t, db)
		token, used := f.invite(t, f.acme, "nina@example.com", org.Member)
		if _, err := f.orgs.AcceptInvite(ctx, token, f.nina.ID, actorFor(f.nina)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.orgs.RemoveMember(ctx, f.acme.ID, f.nina.ID, actorFor(f.admin)); err != nil {
			t.Fatal(err)
		}
		_, revoked := f.invite(t, f.globex, "nina@example.com", org.Admin)
		if _, err := f.orgs.RevokeInvite(ctx, f.globex.ID, revoked.ID, actorFor(f.admin)); err != nil {
			t.Fatal(err)
		}
		_, expired := f.invite(t, f.initech, "nina@example.com", org.Member)
		// expires_at is the first instant an invitation no longer works.
		if err := db.Table("invites").Where("id = ?", expired.ID).Update("expires_at", *f.now).Error; err != nil {
			t.Fatal(err)
		}
		before := map[string]org.Invite{}
		for _, inv := range []org.Invite{used, revoked, expired} {
			before[inv.ID] = f.inviteRow(t, inv.ID)
		}
		memberships, joinedEvents := count(t, db, "memberships"), countActions(t, db, audit.MemberJoined)

		joined, err := f.orgs.AcceptPendingInvites(ctx, f.nina.ID, "nina@example.com", actorFor(f.nina))
		if err != nil || len(joined) != 0 {
			t.Fatalf("AcceptPendingInvites = %v, %v; want nothing joined", slugs(joined), err)
		}
		for id, was := range before {
			now := f.inviteRow(t, id)
			if !sameTime(now.UsedAt, was.UsedAt) || !sameTime(now.RevokedAt, was.RevokedAt) {
				t.Errorf("invitation %s changed: %+v, was %+v", id, now, was)
			}
		}
		if n := count(t, db, "memberships"); n != memberships {
			t.Errorf("%d memberships, want %d", n, memberships)
		}
		if n := countActions(t, db, audit.MemberJoined); n != joinedEvents {
			t.Errorf("%d member.joined events, want %d", n, joinedEvents)
		}
	})
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// An invitation to a disabled organization is accepted, as its link is:
// a disabled organization keeps its members and refuses its keys.
func TestAcceptPendingInvitesDisabledOrg(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newEmailInviteFixture(t, db)
		token, _ := f.invite(t, f.acme, "bob@example.com", org.Member)
		f.invite(t, f.acme, "nina@example.com", org.Member)
		if err := db.Table("organizations").Where("id = ?", f.acme.ID).Update("disabled_at", testNow).Error; err != nil {
			t.Fatal(err)
		}

		bob := insertUser(t, db, "bob@example.com", "Bob")
		if _, err := f.orgs.AcceptInvite(ctx, token, bob.ID, actorFor(bob)); err != nil {
			t.Fatalf("AcceptInvite to a disabled organization: %v", err)
		}
		joined, err := f.orgs.AcceptPendingInvites(ctx, f.nina.ID, "nina@example.com", actorFor(f.nina))
		if err != nil || slugs(joined) != "acme" {
			t.Fatalf("AcceptPendingInvites = %q, %v; want acme joined, as its link does", slugs(joined), err)
		}
		if joined[0].DisabledAt == nil {
			t.Errorf("joined %+v: want it shown disabled", joined[0])
		}
		if role := roleOf(t, db, f.acme.ID, f.nina.ID); role != org.Member {
			t.Errorf("role %s, want member", role)
		}
	})
}

func TestAcceptPendingInvitesTwiceJoinsOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newEmailInviteFixture(t, db)
		// Two invitations to acme: the older one's role wins, both are
		// used up, one membership.
		_, older := f.invite(t, f.acme, "nina@example.com", org.Member)
		_, newer := f.invite(t, f.acme, "nina@example.com", org.Admin)
		// An invitation to globex, which nina joins otherwise meanwhile.
		_, globex := f.invite(t, f.globex, "nina@example.com", org.Admin)
		if err := f.orgs.AddMember(ctx, f.globex.ID, f.nina.ID, org.Member, actorFor(f.admin)); err != nil {
			t.Fatal(err)
		}
		memberships := count(t, db, "memberships")

		joined, err := f.orgs.AcceptPendingInvites(ctx, f.nina.ID, "nina@example.com", actorFor(f.nina))
		if err != nil || slugs(joined) != "acme" {
			t.Fatalf("AcceptPendingInvites = %q, %v; want acme alone joined", slugs(joined), err)
		}
		if n := count(t, db, "memberships"); n != memberships+1 {
			t.Errorf("%d memberships, want %d", n, memberships+1)
		}
		if role := roleOf(t, db, f.acme.ID, f.nina.ID); role != org.Member {
			t.Errorf("acme role %s, want member (the older invitation)", role)
		}
		if role := roleOf(t, db, f.globex.ID, f.nina.ID); role != org.Member {
			t.Errorf("globex role %s changed, want member", role)
		}
		for _, inv := range []org.Invite{older, newer, globex} {
			if f.inviteRow(t, inv.ID).UsedAt == nil {
				t.Errorf("invitation %s (%s) not used up", inv.ID, inv.Role)
			}
		}
		if n := len(f.joinedEvents(t, f.nina.ID)); n != 1 {
			t.Errorf("%d member.joined events, want 1", n)
		}

		// Again: nothing pending, nothing joined or recorded.
		joined, err = f.orgs.AcceptPendingInvites(ctx, f.nina.ID, "nina@example.com", actorFor(f.nina))
		if err != nil || len(joined) != 0 {
			t.Fatalf("second call = %q, %v; want nothing", slugs(joined), err)
		}
		if n := count(t, db, "memberships"); n != memberships+1 {
			t.Errorf("%d memberships after the second call, want %d", n, memberships+1)
		}
		if n := len(f.joinedEvents(t, f.nina.ID)); n != 1 {
			t.Errorf("%d member.joined events after the second call, want 1", n)
		}
	})
}

func TestAcceptPendingInvitesRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newEmailInviteFixture(t, db)
		_, inv := f.invite(t, f.acme, "nina@example.com", org.Admin)

		// Another user's email: Forbidden, the invitation untouched.
		bob := insertUser(t, db, "bob@example.com", "Bob")
		if _, err := f.orgs.AcceptPendingInvites(ctx, bob.ID, "nina@example.com", actorFor(bob)); !apperr.Is(err, apperr.Forbidden) {
			t.Fatalf("another user's invitations: %v, want Forbidden", err)
		}
		for _, id := range []string{"", "not-an-id", store.NewID()} {
			if _, err := f.orgs.AcceptPendingInvites(ctx, id, "nina@example.com", audit.Actor{}); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("user %q: %v, want NotFound", id, err)
			}
		}
		if f.inviteRow(t, inv.ID).UsedAt != nil {
			t.Fatal("a refused call used the invitation up")
		}

		// A caller's transaction holds the writes: rolled back, the
		// invitation is unused and no membership stays.
		boom := errors.New("boom")
		err := db.WithTx(ctx, func(ctx context.Context) error {
			joined, err := f.orgs.AcceptPendingInvites(ctx, f.nina.ID, "nina@example.com", actorFor(f.nina))
			if err != nil || len(joined) != 1 {
				t.Errorf("in a transaction: %q, %v", slugs(joined), err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WithTx = %v, want boom", err)
		}
		if f.inviteRow(t, inv.ID).UsedAt != nil || countActions(t, db, audit.MemberJoined) != 0 {
			t.Error("the rolled back transaction left the invitation used or an event")
		}
		if _, err := f.orgs.Member(ctx, f.acme.ID, f.nina.ID); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("membership after the rollback: %v, want NotFound", err)
		}
	})
}

func TestPendingInvitesForEmail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newEmailInviteFixture(t, db)
		f.invite(t, f.globex, "nina@example.com", org.Member)
		f.invite(t, f.acme, "nina@example.com", org.Admin)
		f.invite(t, f.acme, "bob@example.com", org.Admin)
		list, err := f.orgs.PendingInvitesForEmail(ctx, "Nina@Example.COM")
		if err != nil || len(list) != 2 || list[0].OrgSlug != "globex" || list[1].OrgSlug != "acme" || list[1].OrgName != "Acme" || list[1].Role != org.Admin {
			t.Fatalf("PendingInvitesForEmail = %+v, %v", list, err)
		}
		if list, err := f.orgs.PendingInvitesForEmail(ctx, "nobody@example.com"); err != nil || len(list) != 0 {
			t.Errorf("no invitations: %+v, %v", list, err)
		}
	})
}

func TestAutoJoin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newEmailInviteFixture(t, db)
		actor := actorFor(f.nina)
		o, err := f.orgs.AutoJoin(ctx, f.acme.ID, f.nina.ID, org.Member, actor)
		if err != nil || o.ID != f.acme.ID || o.Slug != "acme" {
			t.Fatalf("AutoJoin = %+v, %v", o, err)
		}
		if role := roleOf(t, db, f.acme.ID, f.nina.ID); role != org.Member {
			t.Errorf("role %s, want member", role)
		}
		events := f.joinedEvents(t, f.nina.ID)
		if len(events) != 1 {
			t.Fatalf("%d member.joined events, want 1", len(events))
		}
		e := events[0]
		if e.OrgID == nil || *e.OrgID != f.acme.ID || e.ActorID == nil || *e.ActorID != f.nina.ID || e.IP != actor.IP ||
			e.Summary != "nina@example.com joined Acme as member through the allowed email domain" {
			t.Errorf("event %+v", e)
		}

		if _, err := f.orgs.AutoJoin(ctx, f.acme.ID, f.nina.ID, org.Admin, actor); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("already a member: %v, want Conflict", err)
		}
		if _, err := f.orgs.AutoJoin(ctx, f.globex.ID, f.nina.ID, "owner", actor); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("unknown role: %v, want Invalid", err)
		}
		for _, id := range []string{"nope", store.NewID()} {
			if _, err := f.orgs.AutoJoin(ctx, id, f.nina.ID, org.Member, actor); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("organization %q: %v, want NotFound", id, err)
			}
			if _, err := f.orgs.AutoJoin(ctx, f.globex.ID, id, org.Member, actor); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("user %q: %v, want NotFound", id, err)
			}
		}
		if n := len(f.joinedEvents(t, f.nina.ID)); n != 1 {
			t.Errorf("%d member.joined events after the refusals, want 1", n)
		}
	})
}
