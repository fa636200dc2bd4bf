package account_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

const testIssuer = "https://id.example.com"

func TestLinkIdentity(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newFakeClock()
		svc := account.NewService(db, clk.Now, cheapHash)
		alice := mustCreateUser(t, svc, "alice@example.com")
		bob := mustCreateUser(t, svc, "bob@example.com")

		if _, _, err := svc.IdentityUser(ctx, testIssuer, "sub-1"); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("IdentityUser before any link: %v, want NotFound", err)
		}
		id, err := svc.LinkIdentity(ctx, alice.ID, testIssuer, "sub-1", " Alice@Example.com ")
		if err != nil {
			t.Fatalf("LinkIdentity: %v", err)
		}
		if id.UserID != alice.ID || id.Email != "alice@example.com" || !id.CreatedAt.Equal(clk.Now()) || !id.LastUsedAt.Equal(clk.Now()) {
			t.Errorf("LinkIdentity = %+v", id)
		}

		got, u, err := svc.IdentityUser(ctx, testIssuer, "sub-1")
		if err != nil || got.ID != id.ID || u.ID != alice.ID {
			t.Fatalf("IdentityUser = %+v, %s, %v; want alice's link", got, u.ID, err)
		}
		// The key is exact: another issuer, or the subject in another case,
		// is another identity.
		for _, k := range [][2]string{{testIssuer + "/", "sub-1"}, {testIssuer, "SUB-1"}, {"https://other.example.com", "sub-1"}} {
			if _, _, err := svc.IdentityUser(ctx, k[0], k[1]); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("IdentityUser(%q, %q): %v, want NotFound", k[0], k[1], err)
			}
		}

		// One identity, one user: linking it again, to anyone, conflicts.
		for _, u := range []account.User{alice, bob} {
			if _, err := svc.LinkIdentity(ctx, u.ID, testIssuer, "sub-1", u.Email); !apperr.Is(err, apperr.Conflict) {
				t.Errorf("second link to %s: %v, want Conflict", u.Email, err)
			}
		}
		// A user may have identities at several issuers.
		if _, err := svc.LinkIdentity(ctx, alice.ID, "https://other.example.com", "sub-1", "alice@other.example.com"); err != nil {
			t.Fatalf("second issuer: %v", err)
		}
		list, err := svc.UserIdentities(ctx, alice.ID)
		if err != nil || len(list) != 2 || list[0].ID != id.ID {
			t.Fatalf("UserIdentities = %+v, %v", list, err)
		}

		clk.Advance(time.Hour)
		if err := svc.RecordIdentityLogin(ctx, id.ID); err != nil {
			t.Fatalf("RecordIdentityLogin: %v", err)
		}
		got, u, err = svc.IdentityUser(ctx, testIssuer, "sub-1")
		if err != nil || !got.LastUsedAt.Equal(clk.Now()) || u.LastLoginAt == nil || !u.LastLoginAt.Equal(clk.Now()) {
			t.Errorf("after RecordIdentityLogin: identity %+v, user last login %v, %v", got, u.LastLoginAt, err)
		}
	})
}

func TestLinkIdentityRefusesBadInput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := account.NewService(db, newFakeClock().Now, cheapHash)
		alice := mustCreateUser(t, svc, "alice@example.com")
		for _, k := range [][2]string{
			{"", "sub"}, {testIssuer, ""}, {testIssuer, "a\x00b"}, {testIssuer, "bad\xffutf8"},
			{testIssuer, strings.Repeat("s", account.MaxIdentitySubject+1)},
			{strings.Repeat("i", account.MaxIdentityIssuer+1), "sub"},
		} {
			if _, err := svc.LinkIdentity(ctx, alice.ID, k[0], k[1], alice.Email); !apperr.Is(err, apperr.Invalid) {
				t.Errorf("LinkIdentity(%q, %q): %v, want Invalid", k[0], k[1], err)
			}
			if _, _, err := svc.IdentityUser(ctx, k[0], k[1]); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("IdentityUser(%q, %q): %v, want NotFound", k[0], k[1], err)
			}
		}
		if _, err := svc.LinkIdentity(ctx, store.NewID(), testIssuer, "sub", "x@example.com"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("unknown user: %v, want NotFound", err)
		}
		if n := countRows(t, db, "user_identities"); n != 0 {
			t.Errorf("%d identities stored, want 0", n)
		}
	})
}

func TestIdentityGoesWithItsUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := account.NewService(db, newFakeClock().Now, cheapHash)
		alice := mustCreateUser(t, svc, "alice@example.com")
		if _, err := svc.LinkIdentity(ctx, alice.ID, testIssuer, "sub-1", alice.Email); err != nil {
			t.Fatal(err)
		}
		if err := db.Where("id = ?", alice.ID).Delete(&account.User{}).Error; err != nil {
			t.Fatalf("delete user: %v", err)
		}
		if n := countRows(t, db, "user_identities"); n != 0 {
			t.Errorf("%d identities left after their user was deleted, want 0", n)
		}
	})
}

func countRows(t *testing.T, db *store.DB, table string) int64 {
	t.Helper()
	var n int64
	if err := db.Table(table).Count(&n).Error; err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}
