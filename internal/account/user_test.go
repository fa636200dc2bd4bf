package account_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func countUsers(t *testing.T, db *store.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Model(&account.User{}).Count(&n).Error; err != nil {
		t.Fatalf("count users: %v", err)
	}
	return n
}

func TestCreateUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newFakeClock()
		svc := account.NewService(db, clk.Now, cheapHash)

		u, err := svc.CreateUser(ctx, account.NewUser{Email: "  Alice@Example.COM ", Name: "  Alice Liddell ", Password: testPassword, Operator: true})
		if err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if u.Email != "alice@example.com" || u.Name != "Alice Liddell" || !u.IsOperator || !store.ValidID(u.ID) {
			t.Errorf("CreateUser = %+v, want lower-cased email, trimmed name, operator, a UUID", u)
		}
		var stored []string
		if err := db.Model(&account.User{}).Pluck("email", &stored).Error; err != nil {
			t.Fatalf("read emails: %v", err)
		}
		if !slices.Equal(stored, []string{"alice@example.com"}) {
			t.Errorf("stored emails = %v, want [alice@example.com]", stored)
		}
		got, err := svc.UserByEmail(ctx, "ALICE@example.com")
		if err != nil || got.ID != u.ID {
			t.Fatalf("UserByEmail in other case = %v, %v; want %s", got.ID, err, u.ID)
		}
		if !strings.HasPrefix(got.PasswordHash, "$argon2id$") || strings.Contains(got.PasswordHash, testPassword) {
			t.Errorf("stored password hash %q is not an argon2id hash", got.PasswordHash)
		}
		if !got.CreatedAt.Equal(clk.Now()) || got.Disabled() || got.LastLoginAt != nil {
			t.Errorf("stored user = %+v, want created now, enabled, never logged in", got)
		}

		_, err = svc.CreateUser(ctx, account.NewUser{Email: "aLiCe@EXAMPLE.com", Name: "Other", Password: testPassword})
		if !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("duplicate email in other case: %v, want Conflict", err)
		}
		if apperr.FieldsOf(err)["email"] == "" {
			t.Errorf("duplicate email: fields = %v, want a message on email", apperr.FieldsOf(err))
		}
		if n := countUsers(t, db); n != 1 {
			t.Errorf("%d users after the conflict, want 1", n)
		}
	})
}

func TestCreateUserInvalid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := account.NewService(db, nil, cheapHash)
		tests := []struct {
			name       string
			in         account.NewUser
			wantFields []string
		}{
			{"empty email", account.NewUser{Email: "", Name: "A", Password: testPassword}, []string{"email"}},
			{"blank email", account.NewUser{Email: "   ", Name: "A", Password: testPassword}, []string{"email"}},
			{"no at sign", account.NewUser{Email: "alice.example.com", Name: "A", Password: testPassword}, []string{"email"}},
			{"no dot in domain", account.NewUser{Email: "alice@localhost", Name: "A", Password: testPassword}, []string{"email"}},
			{"display name form", account.NewUser{Email: "Alice <alice@example.com>", Name: "A", Password: testPassword}, []string{"email"}},
			{"email too long", account.NewUser{Email: strings.Repeat("a", 250) + "@example.com", Name: "A", Password: testPassword}, []string{"email"}},
			{"empty name", account.NewUser{Email: "a@example.com", Name: "", Password: testPassword}, []string{"name"}},
			{"blank name", account.NewUser{Email: "a@example.com", Name: "  \t ", Password: testPassword}, []string{"name"}},
			{"name too long", account.NewUser{Email: "a@example.com", Name: strings.Repeat("n", 101), Password: testPassword}, []string{"name"}},
			{"password too short", account.NewUser{Email: "a@example.com", Name: "A", Password: strings.Repeat("p", 11)}, []string{"password"}},
			{"password too long", account.NewUser{Email: "a@example.com", Name: "A", Password: strings.Repeat("p", 129)}, []string{"password"}},
			{"everything wrong", account.NewUser{Email: "nope", Name: "", Password: "short"}, []string{"email", "name", "password"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := svc.CreateUser(context.Background(), tt.in)
				if !apperr.Is(err, apperr.Invalid) {
					t.Fatalf("CreateUser = %v, want Invalid", err)
				}
				fields := apperr.FieldsOf(err)
				if got := slices.Sorted(maps.Keys(fields)); !slices.Equal(got, tt.wantFields) {
					t.Errorf("fields = %v, want messages on %v", fields, tt.wantFields)
				}
				for f, msg := range fields {
					if msg == "" {
						t.Errorf("field %s has an empty message", f)
					}
				}
				if n := countUsers(t, db); n != 0 {
					t.Errorf("%d users stored, want none", n)
				}
			})
		}
		// The bounds themselves are accepted: 254-character email, 100-rune name, 128-rune password.
		email := strings.Repeat("a", 242) + "@example.com"
		if _, err := svc.CreateUser(context.Background(), account.NewUser{Email: email, Name: strings.Repeat("é", 100), Password: strings.Repeat("p", 128)}); err != nil {
			t.Errorf("CreateUser at the bounds: %v", err)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newFakeClock()
		svc := account.NewService(db, clk.Now, cheapHash)
		alice := mustCreateUser(t, svc, "alice@example.com")
		clk.Advance(time.Hour)

		u, err := svc.Authenticate(ctx, "alice@example.com", testPassword)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if u.ID != alice.ID || u.LastLoginAt == nil || !u.LastLoginAt.Equal(clk.Now()) {
			t.Errorf("Authenticate = %s, last login %v; want %s at %v", u.ID, u.LastLoginAt, alice.ID, clk.Now())
		}
		stored, err := svc.UserByID(ctx, alice.ID)
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		if stored.LastLoginAt == nil || !stored.LastLoginAt.Equal(clk.Now()) {
			t.Errorf("stored last login = %v, want %v", stored.LastLoginAt, clk.Now())
		}

		clk.Advance(time.Minute)
		if u, err := svc.Authenticate(ctx, "  ALICE@Example.com ", testPassword); err != nil || u.ID != alice.ID {
			t.Errorf("Authenticate with email in other case = %s, %v; want %s", u.ID, err, alice.ID)
		}

		const msg = "Invalid email or password."
		failures := []struct {
			name, email, password string
		}{
			{"wrong password", "alice@example.com", testPassword + "!"},
			{"unknown email", "nobody@example.com", testPassword},
			{"empty password", "alice@example.com", ""},
			{"oversized password", "alice@example.com", strings.Repeat("x", 10000)},
		}
		var texts []string
		for _, f := range failures {
			_, err := svc.Authenticate(ctx, f.email, f.password)
			if !apperr.Is(err, apperr.Unauthorized) || apperr.MessageOf(err) != msg {
				t.Errorf("%s: Authenticate = %v, want Unauthorized %q", f.name, err, msg)
				continue
			}
			texts = append(texts, err.Error())
		}
		for i := 1; i < len(texts); i++ {
			if texts[i] != texts[0] {
				t.Errorf("%s says %q but %s says %q", failures[i].name, texts[i], failures[0].name, texts[0])
			}
		}
	})
}

func TestAuthenticateDisabledUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newFakeClock()
		svc := account.NewService(db, clk.Now, cheapHash)
		alice := mustCreateUser(t, svc, "alice@example.com")
		if err := svc.SetDisabled(ctx, alice.ID, true, audit.Actor{}); err != nil {
			t.Fatalf("SetDisabled: %v", err)
		}

		if _, err := svc.Authenticate(ctx, "alice@example.com", testPassword); !apperr.Is(err, apperr.Forbidden) {
			t.Errorf("disabled user, right password: %v, want Forbidden", err)
		}
		// Without the password nobody learns that the account is disabled.
		if _, err := svc.Authenticate(ctx, "alice@example.com", "wrong password!"); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("disabled user, wrong password: %v, want Unauthorized", err)
		}
		if u, _ := svc.UserByID(ctx, alice.ID); u.LastLoginAt != nil {
			t.Errorf("a refused login recorded last login %v", u.LastLoginAt)
		}

		if err := svc.SetDisabled(ctx, alice.ID, false, audit.Actor{}); err != nil {
			t.Fatalf("SetDisabled(false): %v", err)
		}
		if _, err := svc.Authenticate(ctx, "alice@example.com", testPassword); err != nil {
			t.Errorf("re-enabled user: %v, want success", err)
		}
	})
}

// TestPasswordsVerifyAcrossHashParams proves that the hash parameters of a
// Service only shape new hashes: a password hashed with OWASP's parameters
// signs in through a Service configured for tests, and the other way round.
func TestPasswordsVerifyAcrossHashParams(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		production := account.NewService(db, nil)
		cheap := account.NewService(db, nil, cheapHash)
		tests := []struct {
			name          string
			hash, check   *account.Service
			email, params string
			inTx          bool
		}{
			{"production hash, cheap check", production, cheap, "prod@example.com", "$m=19456,t=2,p=1$", false},
			{"cheap hash, production check", cheap, production, "cheap@example.com", "$m=8,t=1,p=1$", false},
			{"cheap hash in a caller's transaction, production check", cheap, production, "tx@example.com", "$m=8,t=1,p=1$", true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var u account.User
				if tt.inTx {
					if err := db.WithTx(ctx, func(ctx context.Context) error {
						var err error
						u, err = tt.hash.CreateUser(ctx, account.NewUser{Email: tt.email, Name: "Test", Password: testPassword})
						return err
					}); err != nil {
						t.Fatalf("CreateUser in a transaction: %v", err)
					}
				} else {
					u = mustCreateUser(t, tt.hash, tt.email)
				}
				if !strings.Contains(u.PasswordHash, tt.params) {
					t.Fatalf("password hash %q, want parameters %s", u.PasswordHash, tt.params)
				}
				if got, err := tt.check.Authenticate(ctx, tt.email, testPassword); err != nil || got.ID != u.ID {
					t.Errorf("Authenticate = %v, %v; want %s", got.ID, err, u.ID)
				}
				if _, err := tt.check.Authenticate(ctx, tt.email, testPassword+"!"); !apperr.Is(err, apperr.Unauthorized) {
					t.Errorf("Authenticate with a wrong password: %v, want Unauthorized", err)
				}
			})
		}
	})
}

func TestWithHashParamsRejectsZeroCosts(t *testing.T) {
	for _, p := range []account.HashParams{{}, {Memory: 8, Time: 0, Threads: 1}, {Memory: 8, Time: 1, Threads: 0}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("WithHashParams(%+v) did not panic", p)
				}
			}()
			account.WithHashParams(p)
		}()
	}
}

func TestSetDisabled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newFakeClock()
		svc := account.NewService(db, clk.Now, cheapHash)
		alice := mustCreateUser(t, svc, "alice@example.com")
		bob := mustCreateUser(t, svc, "bob@example.com")
		a1, _ := mustCreateSession(t, svc, alice.ID, testLimits)
		a2, _ := mustCreateSession(t, svc, alice.ID, testLimits)
		b1, _ := mustCreateSession(t, svc, bob.ID, testLimits)

		if err := svc.SetDisabled(ctx, alice.ID, true, audit.Actor{}); err != nil {
			t.Fatalf("SetDisabled: %v", err)
		}
		wantGone(t, svc, a1, testLimits)
		wantGone(t, svc, a2, testLimits)
		wantLive(t, svc, b1, testLimits)
		if n := sessionRows(t, db, "user_id = ?", alice.ID); n != 0 {
			t.Errorf("disabled user keeps %d session rows, want 0", n)
		}
		u, err := svc.UserByID(ctx, alice.ID)
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		if !u.Disabled() || !u.DisabledAt.Equal(clk.Now()) {
			t.Errorf("disabled at = %v, want %v", u.DisabledAt, clk.Now())
		}

		for _, id := range []string{store.NewID(), "not-a-uuid", ""} {
			if err := svc.SetDisabled(ctx, id, true, audit.Actor{}); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("SetDisabled(%q) = %v, want NotFound", id, err)
			}
		}
	})
}

func TestHasUsersAndListUsers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := account.NewService(db, nil, cheapHash)
		if has, err := svc.HasUsers(ctx); err != nil || has {
			t.Fatalf("HasUsers on an empty database = %v, %v; want false", has, err)
		}
		if list, err := svc.ListUsers(ctx); err != nil || len(list) != 0 {
			t.Fatalf("ListUsers on an empty database = %v, %v; want none", list, err)
		}
		for _, e := range []string{"carol@example.com", "Alice@example.com", "bob@example.com"} {
			mustCreateUser(t, svc, e)
		}
		if has, err := svc.HasUsers(ctx); err != nil || !has {
			t.Fatalf("HasUsers = %v, %v; want true", has, err)
		}
		list, err := svc.ListUsers(ctx)
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		var emails []string
		for _, u := range list {
			emails = append(emails, u.Email)
		}
		if want := []string{"alice@example.com", "bob@example.com", "carol@example.com"}; !slices.Equal(emails, want) {
			t.Errorf("ListUsers = %v, want %v", emails, want)
		}
	})
}

func TestRename(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := account.NewService(db, newFakeClock().Now, cheapHash)
		alice := mustCreateUser(t, svc, "alice@example.com")

		u, err := svc.Rename(ctx, alice.ID, "  Alice Liddell ")
		if err != nil || u.Name != "Alice Liddell" {
			t.Fatalf("Rename = %q, %v; want Alice Liddell", u.Name, err)
		}
		if got, _ := svc.UserByID(ctx, alice.ID); got.Name != "Alice Liddell" {
			t.Errorf("stored name = %q", got.Name)
		}
		for _, bad := range []string{"", "   ", strings.Repeat("x", 101)} {
			if _, err := svc.Rename(ctx, alice.ID, bad); apperr.FieldsOf(err)["name"] == "" {
				t.Errorf("Rename(%q) = %v, want a name field error", bad, err)
			}
		}
		if got, _ := svc.UserByID(ctx, alice.ID); got.Name != "Alice Liddell" {
			t.Errorf("a refused rename changed the name to %q", got.Name)
		}
		if _, err := svc.Rename(ctx, store.NewID(), "Nobody"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("Rename of an unknown user = %v, want NotFound", err)
		}
	})
}

func TestChangePassword(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := account.NewService(db, newFakeClock().Now, cheapHash)
		alice := mustCreateUser(t, svc, "alice@example.com")
		bob := mustCreateUser(t, svc, "bob@example.com")
		keepTok, keep := mustCreateSession(t, svc, alice.ID, testLimits)
		otherTok, _ := mustCreateSession(t, svc, alice.ID, testLimits)
		bobTok, _ := mustCreateSession(t, svc, bob.ID, testLimits)
		const next = "a brand new passphrase"

		err := svc.ChangePassword(ctx, alice.ID, keep.ID, "wrong password!", next)
		if f := apperr.FieldsOf(err); !apperr.Is(err, apperr.Invalid) || f["current_password"] == "" || f["new_password"] != "" {
			t.Errorf("wrong current password = %v (%v), want only a current_password error", err, f)
		}
		if f := apperr.FieldsOf(svc.ChangePassword(ctx, alice.ID, keep.ID, "", "short")); f["current_password"] == "" || f["new_password"] == "" {
			t.Errorf("empty current and short new = %v, want both field errors", f)
		}
		if f := apperr.FieldsOf(svc.ChangePassword(ctx, alice.ID, keep.ID, testPassword, strings.Repeat("x", 129))); f["new_password"] == "" || f["current_password"] != "" {
			t.Errorf("too long new = %v, want only a new_password error", f)
		}
		wantLive(t, svc, otherTok, testLimits)
		if _, err := svc.Authenticate(ctx, "alice@example.com", testPassword); err != nil {
			t.Fatalf("a refused change altered the password: %v", err)
		}

		if err := svc.ChangePassword(ctx, alice.ID, keep.ID, testPassword, next); err != nil {
			t.Fatalf("ChangePassword: %v", err)
		}
		wantLive(t, svc, keepTok, testLimits)
		wantGone(t, svc, otherTok, testLimits)
		wantLive(t, svc, bobTok, testLimits)
		if _, err := svc.Authenticate(ctx, "alice@example.com", testPassword); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("old password after change: %v, want Unauthorized", err)
		}
		if _, err := svc.Authenticate(ctx, "alice@example.com", next); err != nil {
			t.Errorf("new password after change: %v", err)
		}
	})
}

// TestUserWithoutPassword: an account made without a password (SSO, portal)
// never signs in with one, whatever is typed, and cannot change it.
func TestUserWithoutPassword(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := account.NewService(db, nil, cheapHash)
		u, err := svc.CreateUser(ctx, account.NewUser{Email: "sso@example.com", Name: "SSO", NoPassword: true})
		if err != nil || u.PasswordHash != "" {
			t.Fatalf("create: %+v %v", u, err)
		}
		for _, pw := range []string{"", testPassword, "$argon2id$"} {
			if _, err := svc.Authenticate(ctx, "sso@example.com", pw); !apperr.Is(err, apperr.Unauthorized) {
				t.Errorf("password %q: %v", pw, err)
			}
		}
		if err := svc.ChangePassword(ctx, u.ID, "", "anything at all", "a brand new password"); apperr.FieldsOf(err)["current_password"] == "" {
			t.Errorf("change password: %v", err)
		}
	})
}

func TestConfirmPassword(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := account.NewService(db, nil, cheapHash)
		u := mustCreateUser(t, svc, "alice@example.com")
		if err := svc.ConfirmPassword(ctx, u.ID, testPassword); err != nil {
			t.Fatalf("right password: %v", err)
		}
		for _, bad := range []string{"", "wrong password", strings.Repeat("x", 10000)} {
			err := svc.ConfirmPassword(ctx, u.ID, bad)
			if !apperr.Is(err, apperr.Invalid) || apperr.FieldsOf(err)["current_password"] == "" {
				t.Errorf("ConfirmPassword(%.20q) = %v, want Invalid on current_password", bad, err)
			}
		}
		sso, err := svc.CreateUser(ctx, account.NewUser{Email: "sso@example.com", Name: "S", NoPassword: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.ConfirmPassword(ctx, sso.ID, "anything at all"); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("an account without a password: %v, want Invalid", err)
		}
		if err := svc.ConfirmPassword(ctx, "nope", testPassword); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("unknown user: %v, want NotFound", err)
		}
	})
}
