package org_test

import (
	"context"
	"errors"
	"testing"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

const invitePassword = "correct horse battery"

// inviteFixture is an organization with an admin, and services over db
// that can create the accounts of invited people.
type inviteFixture struct {
	db       *store.DB
	accounts *account.Service
	orgs     *org.Service
	admin    account.User
	acme     org.Organization
}

func newInviteFixture(t *testing.T, db *store.DB) inviteFixture {
	t.Helper()
	f := inviteFixture{db: db, accounts: account.NewService(db, fixedClock, account.WithHashParams(account.TestHashParams))}
	f.orgs = org.NewService(db, fixedClock, org.WithAccounts(f.accounts))
	f.admin = insertUser(t, db, "admin@example.com", "Admin")
	f.acme = mustCreateOrg(t, f.orgs, "Acme", "acme", f.admin)
	return f
}

func (f inviteFixture) invite(t *testing.T, email string, role org.Role) string {
	t.Helper()
	token, _, err := f.orgs.CreateInvite(context.Background(), f.acme.ID, email, role, actorFor(f.admin))
	if err != nil {
		t.Fatalf("CreateInvite(%s): %v", email, err)
	}
	return token
}

var visitor = audit.Actor{IP: "198.51.100.7", UserAgent: "invite-test/1.0"}

func TestAcceptInviteAsNewUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newInviteFixture(t, db)
		token := f.invite(t, "New@Example.com", org.Member)

		u, inv, err := f.orgs.AcceptInviteAsNewUser(ctx, token, org.Signup{Name: " Nina New ", Password: invitePassword}, visitor)
		if err != nil {
			t.Fatalf("AcceptInviteAsNewUser: %v", err)
		}
		if u.Email != "new@example.com" || u.Name != "Nina New" || u.IsOperator || inv.OrgSlug != "acme" || inv.Role != org.Member {
			t.Fatalf("user %+v, invite %+v", u, inv)
		}
		if got, err := f.accounts.Authenticate(ctx, "new@example.com", invitePassword); err != nil || got.ID != u.ID {
			t.Fatalf("the new user cannot sign in: %v", err)
		}
		if role := roleOf(t, db, f.acme.ID, u.ID); role != org.Member {
			t.Errorf("role %s, want member", role)
		}
		var e audit.Event
		if err := db.Where("action = ?", audit.MemberJoined).Take(&e).Error; err != nil {
			t.Fatalf("no member.joined event: %v", err)
		}
		if e.ActorID == nil || *e.ActorID != u.ID || e.ActorEmail != u.Email || e.IP != visitor.IP || e.UserAgent != visitor.UserAgent {
			t.Errorf("event %+v: want the new user as actor, from the visitor's address", e)
		}

		// A second use of the link fails and creates nothing.
		_, _, err = f.orgs.AcceptInviteAsNewUser(ctx, token, org.Signup{Name: "Again", Password: invitePassword}, visitor)
		if !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("second accept: %v, want NotFound", err)
		}
		if n := count(t, db, "users"); n != 2 {
			t.Errorf("%d users after the second accept, want 2", n)
		}
		if n := count(t, db, "memberships"); n != 2 {
			t.Errorf("%d memberships after the second accept, want 2", n)
		}
		if n := countActions(t, db, audit.MemberJoined); n != 1 {
			t.Errorf("%d member.joined events, want 1", n)
		}
	})
}

func TestAcceptInviteAsNewUserLeavesNothingOnFailure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newInviteFixture(t, db)
		token := f.invite(t, "new@example.com", org.Admin)
		nothing := func(t *testing.T) {
			t.Helper()
			if n := count(t, db, "users"); n != 1 {
				t.Errorf("%d users, want the admin alone", n)
			}
			if n := count(t, db, "memberships"); n != 1 {
				t.Errorf("%d memberships, want the admin's alone", n)
			}
			if _, err := f.orgs.InviteByToken(ctx, token); err != nil {
				t.Errorf("the invitation no longer works: %v", err)
			}
		}

		_, _, err := f.orgs.AcceptInviteAsNewUser(ctx, token, org.Signup{Name: "", Password: "short"}, visitor)
		if !apperr.Is(err, apperr.Invalid) || apperr.FieldsOf(err)["name"] == "" || apperr.FieldsOf(err)["password"] == "" {
			t.Fatalf("bad signup: %v (fields %v), want Invalid on name and password", err, apperr.FieldsOf(err))
		}
		nothing(t)

		// The account is made, then joining fails: the account goes too.
		boom := errors.New("boom")
		failing := org.NewService(db, fixedClock, org.WithAccounts(failAfter{f.accounts, boom}))
		_, _, err = failing.AcceptInviteAsNewUser(ctx, token, org.Signup{Name: "Nina", Password: invitePassword}, visitor)
		if !errors.Is(err, boom) {
			t.Fatalf("AcceptInviteAsNewUser = %v, want boom", err)
		}
		nothing(t)

		_, _, err = org.NewService(db, fixedClock).AcceptInviteAsNewUser(ctx, token, org.Signup{Name: "Nina", Password: invitePassword}, visitor)
		if err == nil || apperr.CodeOf(err) != apperr.Internal {
			t.Errorf("a service without accounts: %v, want an internal error", err)
		}
		nothing(t)

		// An email with an account already: Conflict, nothing made.
		insertUser(t, db, "taken@example.com", "Taken")
		taken := f.invite(t, "taken@example.com", org.Member)
		_, _, err = f.orgs.AcceptInviteAsNewUser(ctx, taken, org.Signup{Name: "Imposter", Password: invitePassword}, visitor)
		if !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("accept for an existing email: %v, want Conflict", err)
		}
		if n := count(t, db, "memberships"); n != 1 {
			t.Errorf("%d memberships, want 1", n)
		}

	})
}

// failAfter creates the user, then fails.
type failAfter struct {
	accounts *account.Service
	err      error
}

func (f failAfter) CreateUser(ctx context.Context, in account.NewUser) (account.User, error) {
	if _, err := f.accounts.CreateUser(ctx, in); err != nil {
		return account.User{}, err
	}
	return account.User{}, f.err
}

func TestAcceptInviteTwice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newInviteFixture(t, db)
		bob := insertUser(t, db, "bob@example.com", "Bob")
		token := f.invite(t, "bob@example.com", org.Admin)

		inv, err := f.orgs.AcceptInvite(ctx, token, bob.ID, actorFor(bob))
		if err != nil || inv.OrgID != f.acme.ID {
			t.Fatalf("AcceptInvite = %+v, %v", inv, err)
		}
		if role := roleOf(t, db, f.acme.ID, bob.ID); role != org.Admin {
			t.Errorf("role %s, want admin", role)
		}
		if _, err := f.orgs.AcceptInvite(ctx, token, bob.ID, actorFor(bob)); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("second accept: %v, want NotFound", err)
		}
		if n := countActions(t, db, audit.MemberJoined); n != 1 {
			t.Errorf("%d member.joined events, want 1", n)
		}

		// Someone else's invitation: Forbidden, and the link still works.
		carol := insertUser(t, db, "carol@example.com", "Carol")
		other := f.invite(t, "dave@example.com", org.Member)
		if _, err := f.orgs.AcceptInvite(ctx, other, carol.ID, actorFor(carol)); !apperr.Is(err, apperr.Forbidden) {
			t.Fatalf("accept another's invitation: %v, want Forbidden", err)
		}
		if _, err := f.orgs.InviteByToken(ctx, other); err != nil {
			t.Errorf("a refused accept used the invitation up: %v", err)
		}
	})
}

// A caller's transaction holds the service's writes: rolled back, the
// invitation is unused again and no membership stays.
func TestAcceptInviteJoinsTheCallersTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newInviteFixture(t, db)
		bob := insertUser(t, db, "bob@example.com", "Bob")
		token := f.invite(t, "bob@example.com", org.Member)
		boom := errors.New("boom")
		err := db.WithTx(ctx, func(ctx context.Context) error {
			if _, err := f.orgs.AcceptInvite(ctx, token, bob.ID, actorFor(bob)); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WithTx = %v, want boom", err)
		}
		if n := count(t, db, "memberships"); n != 1 {
			t.Errorf("%d memberships after the rollback, want 1", n)
		}
		if _, err := f.orgs.AcceptInvite(ctx, token, bob.ID, actorFor(bob)); err != nil {
			t.Fatalf("accept after the rollback: %v", err)
		}
	})
}
