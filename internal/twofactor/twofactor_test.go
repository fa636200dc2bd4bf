package twofactor_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/clocktest"
	"keyplane/internal/org"
	"keyplane/internal/secretbox"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/twofactor"
)

type fixture struct {
	db    *store.DB
	clock *clocktest.Clock
	svc   *twofactor.Service
	user  account.User
	orgID string
}

func setup(t *testing.T, db *store.DB) fixture {
	t.Helper()
	ctx := context.Background()
	// A whole step, so tests know which step a code belongs to.
	clock := clocktest.New(time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC))
	accounts := account.NewService(db, clock.Now, account.WithHashParams(account.TestHashParams))
	u, err := accounts.CreateUser(ctx, account.NewUser{Email: "alice@example.com", Name: "Alice", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := org.NewService(db, clock.Now).Create(ctx, "Acme", "acme", u.ID, audit.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(secretbox.Key{ID: 1, Secret: []byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{db: db, clock: clock, svc: twofactor.NewService(db, box, clock.Now), user: u, orgID: o.ID}
}

func (f fixture) actor() audit.Actor { return audit.Actor{UserID: f.user.ID, Email: f.user.Email} }

// code returns the TOTP code of secret at the clock's time plus d.
func (f fixture) code(t *testing.T, secret string, d time.Duration) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, f.clock.Now().Add(d), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrol turns two-factor on and returns the secret and recovery codes.
func (f fixture) enrol(t *testing.T) (string, []string) {
	t.Helper()
	ctx := context.Background()
	e, err := f.svc.Begin(ctx, f.user.ID, f.user.Email)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := f.svc.Confirm(ctx, f.user.ID, f.code(t, e.Secret, 0), f.actor())
	if err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	return e.Secret, codes
}

func (f fixture) actions(t *testing.T) []string {
	t.Helper()
	var list []string
	if err := f.db.Table("audit_events").Where("org_id = ? AND action LIKE ?", f.orgID, "twofactor.%").Order("created_at, action").Pluck("action", &list).Error; err != nil {
		t.Fatal(err)
	}
	return list
}

func TestEnrolment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		e, err := f.svc.Begin(ctx, f.user.ID, f.user.Email)
		if err != nil {
			t.Fatal(err)
		}
		if len(e.Secret) != 32 || !strings.HasPrefix(e.QR, "data:image/png;base64,") ||
			!strings.HasPrefix(e.URL, "otpauth://totp/Keyplane:alice@example.com?") {
			t.Fatalf("Begin = secret %q, QR %.40q, URL %q", e.Secret, e.QR, e.URL)
		}
		if g := e.GroupedSecret(); len(strings.Fields(g)) != 8 || strings.ReplaceAll(g, " ", "") != e.Secret {
			t.Errorf("GroupedSecret = %q", g)
		}

		// Pending is not on: sign-in would not ask, Verify refuses.
		if on, err := f.svc.Enabled(ctx, f.user.ID); on || err != nil {
			t.Fatalf("Enabled while pending = %v, %v", on, err)
		}
		if err := f.svc.Verify(ctx, f.user.ID, f.code(t, e.Secret, 0)); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("Verify while pending: %v, want Unauthorized", err)
		}
		if st, _ := f.svc.Status(ctx, f.user.ID); !st.Pending || st.Enabled {
			t.Errorf("Status while pending = %+v", st)
		}
		again, err := f.svc.Pending(ctx, f.user.ID, f.user.Email)
		if err != nil || again.Secret != e.Secret {
			t.Fatalf("Pending = %q, %v; want the same secret", again.Secret, err)
		}

		// The seed is stored sealed: the raw column is not the secret.
		var raw []byte
		if err := db.Raw("SELECT secret FROM user_totp WHERE user_id = ?", f.user.ID).Row().Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if len(raw) == 0 || bytes.Contains(raw, []byte(e.Secret)) || bytes.Contains(bytes.ToLower(raw), []byte(strings.ToLower(e.Secret[:8]))) {
			t.Errorf("stored seed %x holds the base32 secret %s", raw, e.Secret)
		}

		// A wrong code, garbage and an overlong one do not confirm.
		for _, bad := range []string{"000000", "12345", "abcdef", strings.Repeat("1", 1000), "", f.code(t, e.Secret, -2*twofactor.Period)} {
			if bad == f.code(t, e.Secret, 0) {
				continue
			}
			_, err := f.svc.Confirm(ctx, f.user.ID, bad, f.actor())
			if !apperr.Is(err, apperr.Invalid) || apperr.FieldsOf(err)["code"] == "" {
				t.Errorf("Confirm(%.20q) = %v, want Invalid on code", bad, err)
			}
		}
		if on, _ := f.svc.Enabled(ctx, f.user.ID); on {
			t.Fatal("a wrong code turned two-factor on")
		}

		// Starting again replaces the pending seed.
		e2, err := f.svc.Begin(ctx, f.user.ID, f.user.Email)
		if err != nil || e2.Secret == e.Secret {
			t.Fatalf("Begin again = %q, %v; want a new secret", e2.Secret, err)
		}
		if _, err := f.svc.Confirm(ctx, f.user.ID, f.code(t, e.Secret, 0), f.actor()); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("a code of the replaced seed: %v, want Invalid", err)
		}
		// A code of the step before (a slow typist) still confirms.
		codes, err := f.svc.Confirm(ctx, f.user.ID, f.code(t, e2.Secret, -twofactor.Period), f.actor())
		if err != nil {
			t.Fatalf("Confirm: %v", err)
		}
		if len(codes) != twofactor.RecoveryCodeCount {
			t.Fatalf("%d recovery codes, want %d", len(codes), twofactor.RecoveryCodeCount)
		}
		seen := map[string]bool{}
		for _, c := range codes {
			if len(c) != 19 || !twofactor.LooksLikeRecoveryCode(c) || seen[c] {
				t.Errorf("recovery code %q malformed or repeated", c)
			}
			seen[c] = true
		}
		rows, err := db.Raw("SELECT code_hash FROM recovery_codes WHERE user_id = ?", f.user.ID).Rows()
		if err != nil {
			t.Fatal(err)
		}
		var hashes [][]byte
		for rows.Next() {
			var h []byte
			rows.Scan(&h)
			hashes = append(hashes, h)
		}
		rows.Close()
		if len(hashes) != 10 {
			t.Errorf("%d stored recovery codes, want 10", len(hashes))
		}
		for _, h := range hashes {
			for _, c := range codes {
				if bytes.Contains(h, []byte(c)) || bytes.Contains(h, []byte(strings.ReplaceAll(c, "-", ""))) {
					t.Errorf("recovery code %s stored in clear", c)
				}
			}
		}
		st, err := f.svc.Status(ctx, f.user.ID)
		if err != nil || !st.Enabled || st.RecoveryLeft != 10 || !st.EnabledAt.Equal(f.clock.Now()) {
			t.Errorf("Status = %+v, %v", st, err)
		}
		if _, err := f.svc.Begin(ctx, f.user.ID, f.user.Email); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("Begin while on: %v, want Conflict", err)
		}
		if _, err := f.svc.Pending(ctx, f.user.ID, f.user.Email); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("Pending while on: %v, want NotFound", err)
		}
		on, err := f.svc.EnabledAmong(ctx, []string{f.user.ID, "00000000-0000-4000-8000-000000000000"})
		if err != nil || len(on) != 1 || !on[f.user.ID] {
			t.Errorf("EnabledAmong = %v, %v", on, err)
		}
		if got := f.actions(t); len(got) != 1 || got[0] != audit.TwoFactorEnabled {
			t.Errorf("audit actions = %v, want [%s]", got, audit.TwoFactorEnabled)
		}
	})
}

func TestVerifyEachStepOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		secret, _ := f.enrol(t)
		// The confirming code's step is used up.
		if err := f.svc.Verify(ctx, f.user.ID, f.code(t, secret, 0)); !apperr.Is(err, apperr.Unauthorized) {
			t.Fatalf("the confirming code again: %v, want Unauthorized", err)
		}
		f.clock.Advance(twofactor.Period)
		c := f.code(t, secret, 0)
		if err := f.svc.Verify(ctx, f.user.ID, c); err != nil {
			t.Fatalf("a fresh code: %v", err)
		}
		if err := f.svc.Verify(ctx, f.user.ID, c); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("the same code twice: %v, want Unauthorized", err)
		}
		// Still within its window (the next step's skew), still refused.
		f.clock.Advance(twofactor.Period)
		if err := f.svc.Verify(ctx, f.user.ID, c); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("the same code a step later: %v, want Unauthorized", err)
		}
		// The previous step's code is older than the last accepted: refused.
		f.clock.Advance(twofactor.Period)
		if err := f.svc.Verify(ctx, f.user.ID, f.code(t, secret, 0)); err != nil {
			t.Fatalf("a fresh code: %v", err)
		}
		if err := f.svc.Verify(ctx, f.user.ID, f.code(t, secret, -twofactor.Period)); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("an older step's code: %v, want Unauthorized", err)
		}
		// Far off, garbage, overlong.
		f.clock.Advance(twofactor.Period)
		for _, bad := range []string{f.code(t, secret, 3*twofactor.Period), "abcdef", "1234567", strings.Repeat("9", 5000), "12 34 5x"} {
			if err := f.svc.Verify(ctx, f.user.ID, bad); !apperr.Is(err, apperr.Unauthorized) {
				t.Errorf("Verify(%.20q) = %v, want Unauthorized", bad, err)
			}
		}
		// Spaces are allowed, as apps show "123 456".
		c = f.code(t, secret, 0)
		if err := f.svc.Verify(ctx, f.user.ID, c[:3]+" "+c[3:]); err != nil {
			t.Errorf("a code with a space: %v", err)
		}
	})
}

func TestRecoveryCodes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		_, codes := f.enrol(t)
		left, err := f.svc.UseRecoveryCode(ctx, f.user.ID, strings.ToUpper(codes[3]), f.actor())
		if err != nil || left != 9 {
			t.Fatalf("UseRecoveryCode = %d, %v; want 9 left", left, err)
		}
		if _, err := f.svc.UseRecoveryCode(ctx, f.user.ID, codes[3], f.actor()); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("the same recovery code twice: %v, want Unauthorized", err)
		}
		for _, bad := range []string{"", "aaaa-aaaa-aaaa-aaaa", "123456", strings.Repeat("a", 10000), "!!!!-!!!!-!!!!-!!!!"} {
			if _, err := f.svc.UseRecoveryCode(ctx, f.user.ID, bad, f.actor()); !apperr.Is(err, apperr.Unauthorized) {
				t.Errorf("UseRecoveryCode(%.20q) = %v, want Unauthorized", bad, err)
			}
		}
		// Another user's code does not work for this one.
		if st, _ := f.svc.Status(ctx, f.user.ID); st.RecoveryLeft != 9 {
			t.Errorf("RecoveryLeft = %d, want 9", st.RecoveryLeft)
		}

		// New codes: the old ones stop working.
		fresh, err := f.svc.RegenerateRecoveryCodes(ctx, f.user.ID, f.actor())
		if err != nil || len(fresh) != 10 {
			t.Fatalf("RegenerateRecoveryCodes = %d codes, %v", len(fresh), err)
		}
		if _, err := f.svc.UseRecoveryCode(ctx, f.user.ID, codes[0], f.actor()); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("an old code after regenerating: %v, want Unauthorized", err)
		}
		if left, err := f.svc.UseRecoveryCode(ctx, f.user.ID, fresh[0], f.actor()); err != nil || left != 9 {
			t.Errorf("a new code = %d, %v", left, err)
		}
		// Events at one instant: compared sorted.
		want := []string{audit.TwoFactorEnabled, audit.RecoveryCodeUsed, audit.RecoveryCodeUsed, audit.RecoveryCodesRegenerated}
		got := f.actions(t)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("audit actions = %v, want %v", got, want)
		}
	})
}

func TestDisable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		if err := f.svc.Disable(ctx, f.user.ID, f.actor()); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("Disable while off: %v, want NotFound", err)
		}
		secret, codes := f.enrol(t)
		if err := f.svc.Disable(ctx, f.user.ID, f.actor()); err != nil {
			t.Fatal(err)
		}
		if on, _ := f.svc.Enabled(ctx, f.user.ID); on {
			t.Error("still on after Disable")
		}
		f.clock.Advance(twofactor.Period)
		if err := f.svc.Verify(ctx, f.user.ID, f.code(t, secret, 0)); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("a code after Disable: %v", err)
		}
		if _, err := f.svc.UseRecoveryCode(ctx, f.user.ID, codes[0], f.actor()); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("a recovery code after Disable: %v", err)
		}
		var n int64
		db.Table("recovery_codes").Where("user_id = ?", f.user.ID).Count(&n)
		if n != 0 {
			t.Errorf("%d recovery codes kept after Disable", n)
		}

		// An operator's reset is its own event, naming the user.
		f.enrol(t)
		accounts := account.NewService(db, f.clock.Now, account.WithHashParams(account.TestHashParams))
		olivia, err := accounts.CreateUser(ctx, account.NewUser{Email: "olivia@example.com", Name: "Olivia", Password: "correct horse battery", Operator: true})
		if err != nil {
			t.Fatal(err)
		}
		op := audit.Actor{UserID: olivia.ID, Email: olivia.Email}
		if err := f.svc.Disable(ctx, f.user.ID, op); err != nil {
			t.Fatal(err)
		}
		var summary string
		db.Table("audit_events").Where("action = ?", audit.TwoFactorReset).Pluck("summary", &summary)
		if summary != "olivia@example.com reset the two-factor sign-in of alice@example.com" {
			t.Errorf("reset summary %q", summary)
		}
	})
}

// TestSealedSeedBoundToUser checks a sealed seed copied to another user's
// row does not open.
func TestSealedSeedBoundToUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		secret, _ := f.enrol(t)
		accounts := account.NewService(db, f.clock.Now, account.WithHashParams(account.TestHashParams))
		bob, _ := accounts.CreateUser(ctx, account.NewUser{Email: "bob@example.com", Name: "Bob", Password: "correct horse battery"})
		if err := db.Exec("INSERT INTO user_totp (user_id, secret, created_at, enabled_at, last_step) SELECT ?, secret, created_at, enabled_at, 0 FROM user_totp WHERE user_id = ?", bob.ID, f.user.ID).Error; err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(twofactor.Period)
		if err := f.svc.Verify(ctx, bob.ID, f.code(t, secret, 0)); err == nil {
			t.Error("a seed copied to another user verified a code")
		}
	})
}
