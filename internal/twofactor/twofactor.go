// Package twofactor holds two-factor sign-in: TOTP (RFC 6238: SHA-1, six
// digits, 30-second steps) and single-use recovery codes. Seeds are kept
// sealed with the instance's encryption key; recovery codes are kept as
// hashes. Each step's code is accepted once.
package twofactor

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/secretbox"
	"keyplane/internal/store"
)

// Period is the length of a TOTP step; Skew is how many steps either side
// of now a code may come from, for clocks a little off.
const (
	Period = 30 * time.Second
	Skew   = 1
)

// RecoveryCodeCount is how many recovery codes a user gets at once.
const RecoveryCodeCount = 10

// MaxCodeLen bounds what a code field may hold before it is even looked at.
const MaxCodeLen = 64

// Issuer names Keyplane in authenticator apps.
const Issuer = "Keyplane"

// totpRow is a user's TOTP seed: pending while EnabledAt is nil.
type totpRow struct {
	UserID    string `gorm:"primaryKey"`
	Secret    []byte
	CreatedAt time.Time
	EnabledAt *time.Time
	LastStep  int64
}

func (totpRow) TableName() string { return "user_totp" }

// recoveryCode is one stored recovery code: only its hash.
type recoveryCode struct {
	ID        string
	UserID    string
	CodeHash  []byte
	CreatedAt time.Time
	UsedAt    *time.Time
}

func (recoveryCode) TableName() string { return "recovery_codes" }

// Status is a user's two-factor state as their account page shows it.
type Status struct {
	Enabled   bool
	EnabledAt time.Time
	// Pending is set while a seed waits for its first code.
	Pending bool
	// RecoveryLeft counts the unused recovery codes.
	RecoveryLeft int
}

// Enrolment is a seed waiting for confirmation, as the set-up page shows
// it.
type Enrolment struct {
	// Secret is the seed in base32, as authenticator apps take it typed in.
	Secret string
	// URL is the otpauth:// URL the QR code holds.
	URL string
	// QR is the QR code as a PNG data: URI.
	QR string
}

// GroupedSecret is the seed in groups of four, easier to read and type.
func (e Enrolment) GroupedSecret() string { return group(e.Secret, 4, " ") }

// Service manages users' second factors. Its methods join the transaction
// their ctx carries (store.DB.WithTx).
type Service struct {
	db  *store.DB
	box *secretbox.Box
	now func() time.Time
}

// NewService returns a Service that seals seeds with box; now is the clock
// (time.Now when nil).
func NewService(db *store.DB, box *secretbox.Box, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, box: box, now: now}
}

// ad binds a sealed seed to its user, so a sealed seed copied to another
// user's row does not open.
func ad(userID string) []byte { return []byte("keyplane totp seed\x00" + userID) }

var validateOpts = totp.ValidateOpts{Period: uint(Period / time.Second), Skew: Skew, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

func (s *Service) row(ctx context.Context, userID string) (totpRow, bool, error) {
	var r totpRow
	if !store.ValidID(userID) {
		return r, false, nil
	}
	err := s.db.Conn(ctx).Where("user_id = ?", userID).Take(&r).Error
	if store.IsNotFound(err) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("twofactor: read seed: %w", err)
	}
	return r, true, nil
}

// Enabled reports whether userID has confirmed two-factor sign-in.
func (s *Service) Enabled(ctx context.Context, userID string) (bool, error) {
	r, ok, err := s.row(ctx, userID)
	return ok && r.EnabledAt != nil, err
}

// Status returns userID's two-factor state.
func (s *Service) Status(ctx context.Context, userID string) (Status, error) {
	r, ok, err := s.row(ctx, userID)
	if err != nil || !ok {
		return Status{}, err
	}
	if r.EnabledAt == nil {
		return Status{Pending: true}, nil
	}
	var n int64
	if err := s.db.Conn(ctx).Model(&recoveryCode{}).Where("user_id = ? AND used_at IS NULL", userID).Count(&n).Error; err != nil {
		return Status{}, fmt.Errorf("twofactor: count recovery codes: %w", err)
	}
	return Status{Enabled: true, EnabledAt: *r.EnabledAt, RecoveryLeft: int(n)}, nil
}

// EnabledAmong returns which of userIDs have two-factor on.
func (s *Service) EnabledAmong(ctx context.Context, userIDs []string) (map[string]bool, error) {
	var ids []string
	if len(userIDs) > 0 {
		err := s.db.Conn(ctx).Model(&totpRow{}).Where("user_id IN ? AND enabled_at IS NOT NULL", userIDs).Pluck("user_id", &ids).Error
		if err != nil {
			return nil, fmt.Errorf("twofactor: list enabled: %w", err)
		}
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// Begin makes a new seed for userID, who is accountName (their email) in
// authenticator apps, and keeps it pending until Confirm; a seed pending
// from before is replaced. Returns Conflict when two-factor is already on.
func (s *Service) Begin(ctx context.Context, userID, accountName string) (Enrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: Issuer, AccountName: accountName, Period: validateOpts.Period, SecretSize: 20,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return Enrolment{}, fmt.Errorf("twofactor: generate seed: %w", err)
	}
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		r, ok, err := s.row(ctx, userID)
		if err != nil {
			return err
		}
		if ok && r.EnabledAt != nil {
			return apperr.New(apperr.Conflict, "Two-factor sign-in is already on.")
		}
		if err := tx.Where("user_id = ? AND enabled_at IS NULL", userID).Delete(&totpRow{}).Error; err != nil {
			return fmt.Errorf("twofactor: begin: %w", err)
		}
		row := totpRow{UserID: userID, Secret: s.box.Seal([]byte(key.Secret()), ad(userID)), CreatedAt: s.now().UTC()}
		if err := tx.Create(&row).Error; err != nil {
			return fmt.Errorf("twofactor: begin: %w", err)
		}
		return nil
	})
	if err != nil {
		return Enrolment{}, err
	}
	return enrolment(key)
}

// Pending returns the seed userID is setting up, for the set-up page.
// Returns NotFound when none is pending (never begun, or already on).
func (s *Service) Pending(ctx context.Context, userID, accountName string) (Enrolment, error) {
	r, ok, err := s.row(ctx, userID)
	if err != nil {
		return Enrolment{}, err
	}
	if !ok || r.EnabledAt != nil {
		return Enrolment{}, apperr.New(apperr.NotFound, "No two-factor set-up is in progress.")
	}
	secret, err := s.box.Open(r.Secret, ad(userID))
	if err != nil {
		return Enrolment{}, fmt.Errorf("twofactor: open seed: %w", err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(string(secret))
	if err != nil {
		return Enrolment{}, fmt.Errorf("twofactor: decode seed: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: Issuer, AccountName: accountName, Period: validateOpts.Period, Secret: raw,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return Enrolment{}, fmt.Errorf("twofactor: seed: %w", err)
	}
	return enrolment(key)
}

func enrolment(key *otp.Key) (Enrolment, error) {
	img, err := key.Image(240, 240)
	if err != nil {
		return Enrolment{}, fmt.Errorf("twofactor: qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrolment{}, fmt.Errorf("twofactor: qr code: %w", err)
	}
	return Enrolment{
		Secret: key.Secret(), URL: key.URL(),
		QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()),
	}, nil
}

// Confirm turns two-factor on for userID when code is right for the
// pending seed, and returns the new recovery codes, shown once. Returns
// Invalid with a message for the field "code" for a wrong code, and
// NotFound when no seed is pending.
func (s *Service) Confirm(ctx context.Context, userID, code string, actor audit.Actor) ([]string, error) {
	var codes []string
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		r, ok, err := s.row(ctx, userID)
		if err != nil {
			return err
		}
		if !ok || r.EnabledAt != nil {
			return apperr.New(apperr.NotFound, "No two-factor set-up is in progress. Start again.")
		}
		step, err := s.match(r, code)
		if err != nil {
			return err
		}
		if step == 0 {
			return apperr.InvalidFields(map[string]string{"code": "This code is not right. Check your device's clock and try the newest code."})
		}
		now := s.now().UTC()
		res := s.db.Conn(ctx).Model(&totpRow{}).Where("user_id = ? AND enabled_at IS NULL", userID).
			Updates(map[string]any{"enabled_at": now, "last_step": step})
		if res.Error != nil {
			return fmt.Errorf("twofactor: confirm: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.NotFound, "No two-factor set-up is in progress. Start again.")
		}
		if codes, err = s.replaceRecoveryCodes(ctx, userID); err != nil {
			return err
		}
		return s.record(ctx, userID, actor, audit.TwoFactorEnabled, "turned on two-factor sign-in")
	})
	return codes, err
}

// match returns the step whose code is code, among the steps around now,
// or 0 when none is.
func (s *Service) match(r totpRow, code string) (int64, error) {
	code = strings.Join(strings.Fields(code), "")
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return 0, nil
	}
	secret, err := s.box.Open(r.Secret, ad(r.UserID))
	if err != nil {
		return 0, fmt.Errorf("twofactor: open seed: %w", err)
	}
	now := s.now()
	cur := now.Unix() / int64(validateOpts.Period)
	// Newest first: a code valid for two steps (never, in practice) counts
	// for the later.
	for step := cur + Skew; step >= cur-Skew; step-- {
		want, err := totp.GenerateCodeCustom(string(secret), time.Unix(step*int64(validateOpts.Period), 0), validateOpts)
		if err != nil {
			return 0, fmt.Errorf("twofactor: code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, nil
		}
	}
	return 0, nil
}

// Verify checks a sign-in code of userID, whose two-factor is on. Each
// step's code is accepted once: a code of a step already used, or older,
// is refused. Returns Unauthorized for a wrong or used code.
func (s *Service) Verify(ctx context.Context, userID, code string) error {
	bad := apperr.New(apperr.Unauthorized, "This code is not right. Try the newest one from your authenticator app.")
	r, ok, err := s.row(ctx, userID)
	if err != nil {
		return err
	}
	if !ok || r.EnabledAt == nil {
		return bad
	}
	step, err := s.match(r, code)
	if err != nil || step == 0 {
		return firstErr(err, bad)
	}
	if step <= r.LastStep {
		return apperr.New(apperr.Unauthorized, "This code has been used already. Wait for the next one.")
	}
	// Two requests with the same code race here: one update wins.
	res := s.db.Conn(ctx).Model(&totpRow{}).Where("user_id = ? AND enabled_at IS NOT NULL AND last_step < ?", userID, step).
		Update("last_step", step)
	if res.Error != nil {
		return fmt.Errorf("twofactor: verify: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return apperr.New(apperr.Unauthorized, "This code has been used already. Wait for the next one.")
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// Disable turns two-factor off for userID and forgets the seed and the
// recovery codes; actor is the user themselves (who confirmed with their
// password) or an operator resetting it. Returns NotFound when it is not
// on.
func (s *Service) Disable(ctx context.Context, userID string, actor audit.Actor) error {
	return s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		res := tx.Where("user_id = ? AND enabled_at IS NOT NULL", userID).Delete(&totpRow{})
		if res.Error != nil {
			return fmt.Errorf("twofactor: disable: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.NotFound, "Two-factor sign-in is not on for this account.")
		}
		if err := tx.Where("user_id = ?", userID).Delete(&recoveryCode{}).Error; err != nil {
			return fmt.Errorf("twofactor: disable: %w", err)
		}
		if actor.UserID == userID {
			return s.record(ctx, userID, actor, audit.TwoFactorDisabled, "turned off two-factor sign-in")
		}
		return s.record(ctx, userID, actor, audit.TwoFactorReset, "reset the two-factor sign-in of")
	})
}

// record writes an event about userID's second factor in each of their
// organizations.
func (s *Service) record(ctx context.Context, userID string, actor audit.Actor, action, verb string) error {
	var email string
	tx := s.db.Conn(ctx)
	if err := tx.Table("users").Where("id = ?", userID).Pluck("email", &email).Error; err != nil {
		return fmt.Errorf("twofactor: %s: %w", action, err)
	}
	summary := actor.Name() + " " + verb
	if actor.UserID != userID {
		summary += " " + email
	}
	return audit.RecordInUserOrgs(ctx, tx, s.now(), userID, actor, action, "user", userID, summary)
}

// recoveryAlphabet is base32 in lower case: no 0/O or 1/l to confuse.
const recoveryAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

var recoveryEncoding = base32.NewEncoding(recoveryAlphabet).WithPadding(base32.NoPadding)

// newRecoveryCode returns 80 random bits as xxxx-xxxx-xxxx-xxxx.
func newRecoveryCode() string {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic("twofactor: no randomness: " + err.Error())
	}
	return group(recoveryEncoding.EncodeToString(b), 4, "-")
}

// normalizeRecoveryCode returns code without dashes and spaces, in lower
// case, or "" when it cannot be a recovery code.
func normalizeRecoveryCode(code string) string {
	code = strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(code))
	if len(code) != 16 || strings.Trim(code, recoveryAlphabet) != "" {
		return ""
	}
	return code
}

// LooksLikeRecoveryCode reports whether code has the shape of a recovery
// code (rather than a six-digit TOTP code).
func LooksLikeRecoveryCode(code string) bool { return normalizeRecoveryCode(code) != "" }

func hashRecoveryCode(userID, normalized string) []byte {
	sum := sha256.Sum256([]byte("keyplane recovery code\x00" + userID + "\x00" + normalized))
	return sum[:]
}

func group(s string, n int, sep string) string {
	var parts []string
	for len(s) > n {
		parts = append(parts, s[:n])
		s = s[n:]
	}
	return strings.Join(append(parts, s), sep)
}

// replaceRecoveryCodes deletes userID's recovery codes and stores new ones,
// which it returns.
func (s *Service) replaceRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	tx := s.db.Conn(ctx)
	if err := tx.Where("user_id = ?", userID).Delete(&recoveryCode{}).Error; err != nil {
		return nil, fmt.Errorf("twofactor: recovery codes: %w", err)
	}
	now := s.now().UTC()
	codes := make([]string, RecoveryCodeCount)
	rows := make([]recoveryCode, RecoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
		rows[i] = recoveryCode{ID: store.NewID(), UserID: userID, CodeHash: hashRecoveryCode(userID, normalizeRecoveryCode(codes[i])), CreatedAt: now}
	}
	if err := tx.Create(&rows).Error; err != nil {
		return nil, fmt.Errorf("twofactor: recovery codes: %w", err)
	}
	return codes, nil
}

// RegenerateRecoveryCodes replaces userID's recovery codes with new ones,
// shown once; the old ones stop working. Returns NotFound when two-factor
// is not on.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, userID string, actor audit.Actor) ([]string, error) {
	var codes []string
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		on, err := s.Enabled(ctx, userID)
		if err != nil {
			return err
		}
		if !on {
			return apperr.New(apperr.NotFound, "Two-factor sign-in is not on for this account.")
		}
		if codes, err = s.replaceRecoveryCodes(ctx, userID); err != nil {
			return err
		}
		return s.record(ctx, userID, actor, audit.RecoveryCodesRegenerated, "made new recovery codes")
	})
	return codes, err
}

// UseRecoveryCode signs userID in with one of their recovery codes, which
// is then used up, and returns how many are left. Returns Unauthorized for
// a code that is wrong or used.
func (s *Service) UseRecoveryCode(ctx context.Context, userID, code string, actor audit.Actor) (int, error) {
	bad := apperr.New(apperr.Unauthorized, "This recovery code is not right, or has been used.")
	norm := normalizeRecoveryCode(code)
	if norm == "" || !store.ValidID(userID) {
		return 0, bad
	}
	left := 0
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		on, err := s.Enabled(ctx, userID)
		if err != nil {
			return err
		}
		if !on {
			return bad
		}
		tx := s.db.Conn(ctx)
		// The update is the check: of two requests with one code, one wins.
		res := tx.Model(&recoveryCode{}).Where("user_id = ? AND code_hash = ? AND used_at IS NULL", userID, hashRecoveryCode(userID, norm)).
			Update("used_at", s.now().UTC())
		if res.Error != nil {
			return fmt.Errorf("twofactor: use recovery code: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return bad
		}
		var n int64
		if err := tx.Model(&recoveryCode{}).Where("user_id = ? AND used_at IS NULL", userID).Count(&n).Error; err != nil {
			return fmt.Errorf("twofactor: use recovery code: %w", err)
		}
		left = int(n)
		return s.record(ctx, userID, actor, audit.RecoveryCodeUsed, fmt.Sprintf("signed in with a recovery code (%d left)", left))
	})
	return left, err
}
