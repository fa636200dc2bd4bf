package oidc_test

import (
	"context"
	"testing"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/config"
	"keyplane/internal/oidc"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

const issuer = "https://id.example.com"

var visitor = audit.Actor{IP: "198.51.100.7", UserAgent: "sso-test/1.0"}

// linkFixture is an instance with an operator, an organization (acme)
// with an admin, and a Linker whose auto-join puts example.com's new
// people in acme as members.
type linkFixture struct {
	db       *store.DB
	accounts *account.Service
	orgs     *org.Service
	linker   *oidc.Linker
	operator account.User
	admin    account.User
	acme     org.Organization
}

func newLinkFixture(t *testing.T, db *store.DB, autoJoin bool) linkFixture {
	t.Helper()
	ctx := context.Background()
	f := linkFixture{db: db, accounts: account.NewService(db, nil, account.WithHashParams(account.TestHashParams))}
	f.orgs = org.NewService(db, nil, org.WithAccounts(f.accounts))
	var err error
	if f.operator, err = f.accounts.CreateUser(ctx, account.NewUser{Email: "root@example.com", Name: "Root", Password: "correct horse battery", Operator: true}); err != nil {
		t.Fatal(err)
	}
	if f.admin, err = f.accounts.CreateUser(ctx, account.NewUser{Email: "admin@example.com", Name: "Admin", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	if f.acme, err = f.orgs.Create(ctx, "Acme", "acme", f.admin.ID, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	cfg := config.OIDC{Issuer: issuer, Name: "Test IdP"}
	if autoJoin {
		cfg.AutoJoin = &config.AutoJoin{Slug: "acme", Role: "member"}
		cfg.AllowedDomains = []string{"example.com"}
	}
	f.linker = oidc.NewLinker(db, f.accounts, f.orgs, cfg)
	return f
}

func (f linkFixture) count(t *testing.T, table string) int64 {
	t.Helper()
	var n int64
	if err := f.db.Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func (f linkFixture) invite(t *testing.T, email string, role org.Role) {
	t.Helper()
	if _, _, err := f.orgs.CreateInvite(context.Background(), f.acme.ID, email, role, audit.Actor{UserID: f.admin.ID, Email: f.admin.Email}); err != nil {
		t.Fatal(err)
	}
}

// nothingMade checks that a refused sign-in left users, identities,
// memberships and invitations as they were.
func (f linkFixture) nothingMade(t *testing.T, users, identities, members int64) {
	t.Helper()
	if u, i, m := f.count(t, "users"), f.count(t, "user_identities"), f.count(t, "memberships"); u != users || i != identities || m != members {
		t.Errorf("users, identities, memberships = %d, %d, %d; want %d, %d, %d", u, i, m, users, identities, members)
	}
}

func ident(sub, email string, verified bool) oidc.Identity {
	return oidc.Identity{Issuer: issuer, Subject: sub, Email: email, EmailVerified: verified, Name: "Pat"}
}

func TestLinkExistingUserByVerifiedEmail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newLinkFixture(t, db, false)

		res, err := f.linker.SignIn(ctx, ident("sub-admin", "Admin@Example.com", true), visitor)
		if err != nil {
			t.Fatalf("SignIn: %v", err)
		}
		if res.User.ID != f.admin.ID || res.Outcome != oidc.Linked || len(res.Joined) != 0 {
			t.Fatalf("SignIn = %+v, want admin linked", res)
		}
		if s := res.LoginSummary("Test IdP"); s != "admin@example.com signed in with Test IdP (single sign-on), linking their Test IdP account by its verified email" {
			t.Errorf("LoginSummary = %q", s)
		}
		u, _ := f.accounts.UserByID(ctx, f.admin.ID)
		if u.LastLoginAt == nil {
			t.Error("the login time was not recorded")
		}

		// From now on the link is by (issuer, sub): a changed email at the
		// provider, or no verified email, still signs the same user in.
		res, err = f.linker.SignIn(ctx, ident("sub-admin", "renamed@elsewhere.org", false), visitor)
		if err != nil || res.User.ID != f.admin.ID || res.Outcome != oidc.SignedIn {
			t.Fatalf("second SignIn = %+v, %v; want admin signed in", res, err)
		}
		// Another subject with the admin's email is not linked to them.
		_, err = f.linker.SignIn(ctx, ident("sub-impostor", "admin@example.com", true), visitor)
		wantRefused(t, err, apperr.Forbidden, oidc.ReasonLinkedElsewhere)
		// Nor is the same subject at another issuer taken for it.
		other := ident("sub-admin", "nobody@nowhere.org", true)
		other.Issuer = "https://other.example.com"
		_, err = f.linker.SignIn(ctx, other, visitor)
		wantRefused(t, err, apperr.Forbidden, oidc.ReasonUnknownEmail)
		f.nothingMade(t, 2, 1, 1)
	})
}

func TestLinkRefusesUnverifiedEmail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newLinkFixture(t, db, true)
		f.invite(t, "new@example.com", org.Member)
		for _, email := range []string{"admin@example.com", "new@example.com", "auto@example.com"} {
			_, err := f.linker.SignIn(context.Background(), ident("sub-"+email, email, false), visitor)
			wantRefused(t, err, apperr.Forbidden, oidc.ReasonEmailUnverified)
		}
		_, err := f.linker.SignIn(context.Background(), ident("sub-none", "", true), visitor)
		wantRefused(t, err, apperr.Forbidden, oidc.ReasonUnknownEmail)
		f.nothingMade(t, 2, 0, 1)
		if n := f.countOpenInvites(t); n != 1 {
			t.Errorf("%d open invitations, want the one still open", n)
		}
	})
}

func (f linkFixture) countOpenInvites(t *testing.T) int64 {
	t.Helper()
	var n int64
	if err := f.db.Table("invites").Where("used_at IS NULL").Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLinkNeverLinksAnOperatorByEmail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newLinkFixture(t, db, true)
		res, err := f.linker.SignIn(ctx, ident("sub-root", "root@example.com", true), visitor)
		wantRefused(t, err, apperr.Forbidden, oidc.ReasonOperator)
		if res.User.ID != f.operator.ID {
			t.Errorf("Result.User = %q, want the operator, for the failed-login record", res.User.ID)
		}
		f.nothingMade(t, 2, 0, 1)

		// An operator linked otherwise (by (issuer, sub)) signs in.
		if _, err := f.accounts.LinkIdentity(ctx, f.operator.ID, issuer, "sub-root", f.operator.Email); err != nil {
			t.Fatal(err)
		}
		res, err = f.linker.SignIn(ctx, ident("sub-root", "root@example.com", true), visitor)
		if err != nil || res.User.ID != f.operator.ID || res.Outcome != oidc.SignedIn {
			t.Fatalf("linked operator: %+v, %v", res, err)
		}
	})
}

func TestLinkRefusesDisabledUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newLinkFixture(t, db, false)
		bob, err := f.accounts.CreateUser(ctx, account.NewUser{Email: "bob@example.com", Name: "Bob", NoPassword: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.linker.SignIn(ctx, ident("sub-bob", "bob@example.com", true), visitor); err != nil {
			t.Fatalf("link bob: %v", err)
		}
		if err := f.accounts.SetDisabled(ctx, bob.ID, true, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		// Linked: refused.
		res, err := f.linker.SignIn(ctx, ident("sub-bob", "bob@example.com", true), visitor)
		wantRefused(t, err, apperr.Forbidden, oidc.ReasonDisabled)
		if res.User.ID != bob.ID {
			t.Errorf("Result.User = %q, want bob", res.User.ID)
		}
		// Not linked yet: refused too, and not linked.
		carol, _ := f.accounts.CreateUser(ctx, account.NewUser{Email: "carol@example.com", Name: "Carol", NoPassword: true})
		if err := f.accounts.SetDisabled(ctx, carol.ID, true, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		_, err = f.linker.SignIn(ctx, ident("sub-carol", "carol@example.com", true), visitor)
		wantRefused(t, err, apperr.Forbidden, oidc.ReasonDisabled)
		if list, _ := f.accounts.UserIdentities(ctx, carol.ID); len(list) != 0 {
			t.Errorf("a disabled user was linked: %+v", list)
		}
	})
}

func TestLinkUnknownEmailRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newLinkFixture(t, db, false)
		_, err := f.linker.SignIn(context.Background(), ident("sub-x", "stranger@example.com", true), visitor)
		wantRefused(t, err, apperr.Forbidden, oidc.ReasonUnknownEmail)
		if msg := apperr.MessageOf(err); msg != "No Keyplane account uses stranger@example.com. Ask an admin of your organization for an invitation." {
			t.Errorf("message %q", msg)
		}
		f.nothingMade(t, 2, 0, 1)
	})
}

func TestLinkAcceptsPendingInvite(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newLinkFixture(t, db, false)
		f.invite(t, "nina@example.com", org.Admin)

		id := ident("sub-nina", "Nina@Example.com", true)
		id.Name = "  Nina\x00 New "
		res, err := f.linker.SignIn(ctx, id, visitor)
		if err != nil {
			t.Fatalf("SignIn: %v", err)
		}
		if res.Outcome != oidc.JoinedByInvite || res.User.Email != "nina@example.com" || res.User.Name != "Nina New" ||
			res.User.PasswordHash != "" || len(res.Joined) != 1 || res.Joined[0].ID != f.acme.ID {
			t.Fatalf("SignIn = %+v", res)
		}
		m, err := f.orgs.Member(ctx, f.acme.ID, res.User.ID)
		if err != nil || m.Role != org.Admin {
			t.Fatalf("membership %+v, %v; want admin of acme", m, err)
		}
		if n := f.countOpenInvites(t); n != 0 {
			t.Errorf("%d invitations still open, want it used up", n)
		}
		var e audit.Event
		if err := db.Where("action = ? AND org_id = ?", audit.MemberJoined, f.acme.ID).Take(&e).Error; err != nil {
			t.Fatalf("no member.joined event: %v", err)
		}
		if e.ActorID == nil || *e.ActorID != res.User.ID || e.IP != visitor.IP || e.Summary != "nina@example.com joined Acme as admin through an invitation" {
			t.Errorf("event %+v", e)
		}
		// The new account has no password to sign in with.
		if _, err := f.accounts.Authenticate(ctx, "nina@example.com", ""); err == nil {
			t.Error("the new account signs in with an empty password")
		}

		// The invitation is used up: another subject with the same email
		// finds the user, now linked to nina's subject, and is refused.
		_, err = f.linker.SignIn(ctx, ident("sub-other", "nina@example.com", true), visitor)
		wantRefused(t, err, apperr.Forbidden, oidc.ReasonLinkedElsewhere)
		// nina herself signs in again by (issuer, sub).
		if res, err := f.linker.SignIn(ctx, id, visitor); err != nil || res.Outcome != oidc.SignedIn {
			t.Fatalf("second sign-in: %+v, %v", res, err)
		}
	})
}

// Invitations of one email in several organizations are all accepted in
// the one sign-in.
func TestLinkAcceptsInvitesOfSeveralOrgs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newLinkFixture(t, db, false)
		globex, err := f.orgs.Create(ctx, "Globex", "globex", f.admin.ID, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		f.invite(t, "nina@example.com", org.Member)
		if _, _, err := f.orgs.CreateInvite(ctx, globex.ID, "nina@example.com", org.Admin, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		res, err := f.linker.SignIn(ctx, ident("sub-nina", "nina@example.com", true), visitor)
		if err != nil {
			t.Fatalf("SignIn: %v", err)
		}
		if res.Outcome != oidc.JoinedByInvite || len(res.Joined) != 2 || res.Joined[0].ID != f.acme.ID || res.Joined[1].ID != globex.ID {
			t.Fatalf("SignIn = %+v, want acme then globex joined", res)
		}
		if m, err := f.orgs.Member(ctx, globex.ID, res.User.ID); err != nil || m.Role != org.Admin {
			t.Errorf("globex membership %+v, %v; want admin", m, err)
		}
		if n := f.countOpenInvites(t); n != 0 {
			t.Errorf("%d invitations still open", n)
		}
	})
}

func TestLinkRefusesUsedOrRevokedInvite(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newLinkFixture(t, db, false)
		// Used up through its link, then the account deleted by hand:
		// the invitation stays used.
		token, _, err := f.orgs.CreateInvite(ctx, f.acme.ID, "used@example.com", org.Member, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		u, _, err := f.orgs.AcceptInviteAsNewUser(ctx, token, org.Signup{Name: "Used", Password: "correct horse battery"}, visitor)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Where("id = ?", u.ID).Delete(&account.User{}).Error; err != nil {
			t.Fatal(err)
		}
		_, err = f.linker.SignIn(ctx, ident("sub-used", "used@example.com", true), visitor)
		wantRefused(t, err, apperr.Forbidden, oidc.ReasonUnknownEmail)

		// Revoked.
		_, inv, err := f.orgs.CreateInvite(ctx, f.acme.ID, "revoked@example.com", org.Member, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.orgs.RevokeInvite(ctx, f.acme.ID, inv.ID, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		_, err = f.linker.SignIn(ctx, ident("sub-revoked", "revoked@example.com", true), visitor)
		wantRefused(t, err, apperr.Forbidden, oidc.ReasonUnknownEmail)

		// Expired.
		_, inv, err = f.orgs.CreateInvite(ctx, f.acme.ID, "late@example.com", org.Member, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Table("invites").Where("id = ?", inv.ID).Update("expires_at", time.Now().Add(-time.Minute).UTC()).Error; err != nil {
			t.Fatal(err)
		}
		_, err = f.linker.SignIn(ctx, ident("sub-late", "late@example.com", true), visitor)
		wantRefused(t, err, apperr.Forbidden, oidc.ReasonUnknownEmail)
		f.nothingMade(t, 2, 0, 1)
	})
}

func TestLinkAutoJoin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newLinkFixture(t, db, true)

		res, err := f.linker.SignIn(ctx, ident("sub-auto", "Auto@EXAMPLE.com", true), visitor)
		if err != nil {
			t.Fatalf("SignIn: %v", err)
		}
		if res.Outcome != oidc.AutoJoined || res.User.Email != "auto@example.com" || len(res.Joined) != 1 || res.Joined[0].Slug != "acme" {
			t.Fatalf("SignIn = %+v", res)
		}
		if m, err := f.orgs.Member(ctx, f.acme.ID, res.User.ID); err != nil || m.Role != org.Member {
			t.Fatalf("membership %+v, %v; want member of acme", m, err)
		}
		var e audit.Event
		if err := db.Where("action = ? AND actor_id = ?", audit.MemberJoined, res.User.ID).Take(&e).Error; err != nil {
			t.Fatalf("no member.joined event: %v", err)
		}
		if e.OrgID == nil || *e.OrgID != f.acme.ID || e.IP != visitor.IP || e.Summary != "auto@example.com joined Acme as member through the allowed email domain" {
			t.Errorf("event %+v", e)
		}

		// Outside the allowed domains, and in a domain that only ends like
		// one: refused, nothing made.
		users := f.count(t, "users")
		for _, email := range []string{"someone@elsewhere.org", "someone@sub.example.com", "someone@notexample.com"} {
			_, err := f.linker.SignIn(ctx, ident("sub-"+email, email, true), visitor)
			wantRefused(t, err, apperr.Forbidden, oidc.ReasonUnknownEmail)
		}
		f.nothingMade(t, users, 1, 2)
	})
}

func TestLinkAutoJoinOrgMissing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newLinkFixture(t, db, false)
		linker := oidc.NewLinker(db, f.accounts, f.orgs, config.OIDC{
			Issuer: issuer, AutoJoin: &config.AutoJoin{Slug: "gone", Role: "member"}, AllowedDomains: []string{"example.com"},
		})
		_, err := linker.SignIn(context.Background(), ident("sub-x", "x@example.com", true), visitor)
		wantRefused(t, err, apperr.Forbidden, oidc.ReasonAutoJoin)
		f.nothingMade(t, 2, 0, 1)
	})
}

// TestSignInThroughProvider runs the whole protocol against the provider
// and links the identity it vouches for, on both databases.
func TestSignInThroughProvider(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		p := startProvider(t, false)
		c := newClient(t, p, db)
		f := newLinkFixture(t, db, true)
		linker := oidc.NewLinker(db, f.accounts, f.orgs, config.OIDC{
			Issuer: p.issuer, Name: c.Name(), AutoJoin: &config.AutoJoin{Slug: "acme", Role: "member"}, AllowedDomains: []string{"example.com"},
		})

		cb, err := signIn(t, c, p, newPerson("sub-pat", "pat@example.com", true))
		if err != nil {
			t.Fatalf("Finish: %v", err)
		}
		res, err := linker.SignIn(ctx, cb.Identity, visitor)
		if err != nil || res.Outcome != oidc.AutoJoined {
			t.Fatalf("SignIn = %+v, %v", res, err)
		}
		cb, err = signIn(t, c, p, newPerson("sub-pat", "pat@example.com", true))
		if err != nil {
			t.Fatal(err)
		}
		if again, err := linker.SignIn(ctx, cb.Identity, visitor); err != nil || again.Outcome != oidc.SignedIn || again.User.ID != res.User.ID {
			t.Fatalf("second sign-in = %+v, %v", again, err)
		}

		cb, err = signIn(t, c, p, newPerson("sub-unverified", "unverified@example.com", false))
		if err != nil {
			t.Fatal(err)
		}
		if cb.Identity.EmailVerified {
			t.Fatal("email_verified false read as true")
		}
		_, err = linker.SignIn(ctx, cb.Identity, visitor)
		wantRefused(t, err, apperr.Forbidden, oidc.ReasonEmailUnverified)
	})
}
