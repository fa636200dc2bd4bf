// Package account holds Keyplane's users: password hashing, the user store,
// server-side sessions and login throttling.
package account

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/store"
)

// User is a person who signs in to the dashboard.
type User struct {
	ID           string
	Email        string
	Name         string
	PasswordHash string
	IsOperator   bool
	DisabledAt   *time.Time
	LastLoginAt  *time.Time
	LastOrgID    *string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Disabled reports whether an operator disabled the user.
func (u User) Disabled() bool { return u.DisabledAt != nil }

// NewUser is the input of Service.CreateUser.
type NewUser struct {
	Email    string
	Name     string
	Password string
	Operator bool
	// NoPassword makes an account that cannot sign in with a password (for
	// SSO or portal use); Password is then ignored.
	NoPassword bool
}

// Service manages users and their sessions. Its methods join the
// transaction their ctx carries (store.DB.WithTx).
type Service struct {
	db   *store.DB
	now  func() time.Time
	hash HashParams
	// dummyHash is checked against when an email is unknown, so that a
	// failed login takes as long whether or not the account exists.
	dummyHash string
}

// Option changes a Service made by NewService.
type Option func(*Service)

// WithHashParams makes the Service hash new passwords with p instead of
// OWASP's parameters. Passwords hashed with any parameters keep verifying.
// It panics when p has zero passes or lanes.
func WithHashParams(p HashParams) Option {
	if p.Time == 0 || p.Threads == 0 {
		panic(fmt.Sprintf("account: argon2id parameters %+v need at least one pass and one lane", p))
	}
	return func(s *Service) { s.hash = p }
}

// NewService returns a Service; now is the clock (time.Now when nil). New
// passwords are hashed with OWASP's argon2id parameters unless an option
// says otherwise.
func NewService(db *store.DB, now func() time.Time, opts ...Option) *Service {
	if now == nil {
		now = time.Now
	}
	s := &Service{db: db, now: now, hash: owaspParams}
	for _, o := range opts {
		o(s)
	}
	s.dummyHash, _ = hashPassword("keyplane-dummy-password", s.hash)
	return s
}

// NormalizeEmail lower-cases and trims an email address, the form in which
// emails are stored and compared.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// ValidateEmail returns a field message for a malformed address, or "".
func ValidateEmail(email string) string {
	if email == "" {
		return "Enter an email address."
	}
	if len(email) > 254 {
		return "Use at most 254 characters."
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || !strings.Contains(email[strings.LastIndex(email, "@")+1:], ".") {
		return "Enter a valid email address, like name@example.com."
	}
	return ""
}

// ValidateName returns a field message for a bad display name, or "".
func ValidateName(name string) string {
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return "Enter a name."
	case n > 100:
		return "Use at most 100 characters."
	}
	return ""
}

// CreateUser validates in and stores a new user. Returns Invalid with field
// messages for bad input and Conflict when the email is taken (compared
// case-insensitively).
func (s *Service) CreateUser(ctx context.Context, in NewUser) (User, error) {
	in.Email = NormalizeEmail(in.Email)
	in.Name = strings.TrimSpace(in.Name)
	fields := map[string]string{}
	if msg := ValidateEmail(in.Email); msg != "" {
		fields["email"] = msg
	}
	if msg := ValidateName(in.Name); msg != "" {
		fields["name"] = msg
	}
	if err := ValidatePassword(in.Password); err != nil && !in.NoPassword {
		fields["password"] = apperr.FieldsOf(err)["password"]
	}
	if len(fields) > 0 {
		return User{}, apperr.InvalidFields(fields)
	}
	hash := ""
	if !in.NoPassword {
		var err error
		if hash, err = hashPassword(in.Password, s.hash); err != nil {
			return User{}, err
		}
	}
	now := s.now().UTC()
	u := User{
		ID: store.NewID(), Email: in.Email, Name: in.Name, PasswordHash: hash,
		IsOperator: in.Operator, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.db.Conn(ctx).Create(&u).Error; err != nil {
		if store.IsUniqueViolation(err) {
			return User{}, &apperr.Error{Code: apperr.Conflict, Message: "A user with this email already exists.",
				Fields: map[string]string{"email": "A user with this email already exists."}}
		}
		return User{}, fmt.Errorf("account: create user: %w", err)
	}
	return u, nil
}

// UserByID returns the user with id, or NotFound.
func (s *Service) UserByID(ctx context.Context, id string) (User, error) {
	if !store.ValidID(id) {
		return User{}, apperr.New(apperr.NotFound, "User not found.")
	}
	return s.first(ctx, "id = ?", id)
}

// UserByEmail returns the user with email (any case), or NotFound.
func (s *Service) UserByEmail(ctx context.Context, email string) (User, error) {
	return s.first(ctx, "email = ?", NormalizeEmail(email))
}

func (s *Service) first(ctx context.Context, query string, arg any) (User, error) {
	var u User
	err := s.db.Conn(ctx).Where(query, arg).Take(&u).Error
	switch {
	case store.IsNotFound(err):
		return User{}, apperr.New(apperr.NotFound, "User not found.")
	case err != nil:
		return User{}, fmt.Errorf("account: find user: %w", err)
	}
	return u, nil
}

// HasUsers reports whether any user exists; while none does, the instance is
// waiting for its first-run setup.
func (s *Service) HasUsers(ctx context.Context) (bool, error) {
	var n int64
	if err := s.db.Conn(ctx).Model(&User{}).Limit(1).Count(&n).Error; err != nil {
		return false, fmt.Errorf("account: count users: %w", err)
	}
	return n > 0, nil
}

// ListUsers returns every user, by email. Operators only.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	var users []User
	if err := s.db.Conn(ctx).Order("email").Find(&users).Error; err != nil {
		return nil, fmt.Errorf("account: list users: %w", err)
	}
	return users, nil
}

// Authenticate checks an email and password. Every mismatch returns the same
// Unauthorized error, so it never tells which of the two was wrong; a
// disabled account returns Forbidden. On success it records the login time.
func (s *Service) Authenticate(ctx context.Context, email, password string) (User, error) {
	bad := apperr.New(apperr.Unauthorized, "Invalid email or password.")
	if len(password) > 4*MaxPasswordLen {
		return User{}, bad
	}
	u, err := s.UserByEmail(ctx, email)
	if apperr.Is(err, apperr.NotFound) {
		CheckPassword(password, s.dummyHash)
		return User{}, bad
	}
	if err != nil {
		return User{}, err
	}
	if u.PasswordHash == "" {
		CheckPassword(password, s.dummyHash) // as long as for any other account
		return u, bad
	}
	ok, err := CheckPassword(password, u.PasswordHash)
	if err != nil {
		return User{}, fmt.Errorf("account: authenticate: %w", err)
	}
	if !ok {
		return u, bad
	}
	if u.Disabled() {
		return u, apperr.New(apperr.Forbidden, "This account has been disabled. Ask your Keyplane operator.")
	}
	now := s.now().UTC()
	if err := s.db.Conn(ctx).Model(&User{}).Where("id = ?", u.ID).Update("last_login_at", now).Error; err != nil {
		return User{}, fmt.Errorf("account: record login: %w", err)
	}
	u.LastLoginAt = &now
	return u, nil
}

// SetLastOrg remembers the organization the user worked in last.
func (s *Service) SetLastOrg(ctx context.Context, userID, orgID string) error {
	err := s.db.Conn(ctx).Model(&User{}).Where("id = ?", userID).Update("last_org_id", orgID).Error
	if err != nil {
		return fmt.Errorf("account: set last org: %w", err)
	}
	return nil
}

// SetDisabled disables or re-enables a user. Disabling ends every session of
// the user at once. Each organization the user belongs to gets an audit
// event naming actor; asking for the state the user is already in changes
// and records nothing. Operators only; returns NotFound for an unknown id.
func (s *Service) SetDisabled(ctx context.Context, userID string, disabled bool, actor audit.Actor) error {
	if !store.ValidID(userID) {
		return apperr.New(apperr.NotFound, "User not found.")
	}
	var at *time.Time
	if disabled {
		now := s.now().UTC()
		at = &now
	}
	return s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		// Only a change is applied and recorded: disabling a disabled user
		// (a second click, a stale page) keeps the first time and event.
		state := "disabled_at IS NOT NULL"
		if disabled {
			state = "disabled_at IS NULL"
		}
		res := tx.Model(&User{}).Where("id = ? AND "+state, userID).Update("disabled_at", at)
		if res.Error != nil {
			return fmt.Errorf("account: disable user: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			var n int64
			if err := tx.Model(&User{}).Where("id = ?", userID).Count(&n).Error; err != nil {
				return fmt.Errorf("account: disable user: %w", err)
			}
			if n == 0 {
				return apperr.New(apperr.NotFound, "User not found.")
			}
			return nil
		}
		action, verb := audit.MemberEnabled, "re-enabled"
		if disabled {
			if err := tx.Where("user_id = ?", userID).Delete(&Session{}).Error; err != nil {
				return fmt.Errorf("account: end sessions: %w", err)
			}
			action, verb = audit.MemberDisabled, "disabled"
		}
		var email string
		if err := tx.Model(&User{}).Where("id = ?", userID).Pluck("email", &email).Error; err != nil {
			return fmt.Errorf("account: disable user: %w", err)
		}
		return audit.RecordInUserOrgs(ctx, tx, s.now(), userID, actor, action, "user", userID,
			fmt.Sprintf("%s %s the account of %s", actor.Name(), verb, email))
	})
}

// Rename sets the display name of userID, any user for themselves. Returns
// Invalid with a message for the field "name" and NotFound for an unknown
// user.
func (s *Service) Rename(ctx context.Context, userID, name string) (User, error) {
	name = strings.TrimSpace(name)
	if msg := ValidateName(name); msg != "" {
		return User{}, apperr.InvalidFields(map[string]string{"name": msg})
	}
	u, err := s.UserByID(ctx, userID)
	if err != nil {
		return User{}, err
	}
	now := s.now().UTC()
	res := s.db.Conn(ctx).Model(&User{}).Where("id = ?", userID).Updates(map[string]any{"name": name, "updated_at": now})
	if res.Error != nil {
		return User{}, fmt.Errorf("account: rename: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return User{}, apperr.New(apperr.NotFound, "User not found.")
	}
	u.Name, u.UpdatedAt = name, now
	return u, nil
}

// ChangePassword replaces the password of userID after checking current
// against the stored hash, and ends every session of the user except
// keepSessionID (the caller's own), in one transaction. Returns Invalid with
// messages for the fields "current_password" and "new_password", and
// NotFound for an unknown user. A wrong current password changes nothing and
// is not counted anywhere.
func (s *Service) ChangePassword(ctx context.Context, userID, keepSessionID, current, next string) error {
	u, err := s.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	fields := map[string]string{}
	msg, err := s.checkCurrent(u, current)
	if err != nil {
		return fmt.Errorf("account: change password: %w", err)
	}
	if msg != "" {
		fields["current_password"] = msg
	}
	if err := ValidatePassword(next); err != nil {
		fields["new_password"] = apperr.FieldsOf(err)["password"]
	}
	if len(fields) > 0 {
		return apperr.InvalidFields(fields)
	}
	hash, err := hashPassword(next, s.hash)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	return s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		res := tx.Model(&User{}).Where("id = ?", userID).
			Updates(map[string]any{"password_hash": hash, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("account: change password: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.NotFound, "User not found.")
		}
		q := tx.Where("user_id = ?", userID)
		if keepSessionID != "" {
			q = q.Where("id <> ?", keepSessionID)
		}
		if err := q.Delete(&Session{}).Error; err != nil {
			return fmt.Errorf("account: end sessions: %w", err)
		}
		return nil
	})
}

// checkCurrent returns a message for the field "current_password" when
// current is not u's password, or "".
func (s *Service) checkCurrent(u User, current string) (string, error) {
	switch {
	case current == "":
		return "Enter your current password.", nil
	case len(current) > 4*MaxPasswordLen:
		return "This is not your current password.", nil
	case u.PasswordHash == "":
		CheckPassword(current, s.dummyHash)
		return "This account has no password; it signs in another way.", nil
	}
	ok, err := CheckPassword(current, u.PasswordHash)
	if err != nil {
		return "", err
	}
	if !ok {
		return "This is not your current password.", nil
	}
	return "", nil
}

// ConfirmPassword checks the current password of userID before a sensitive
// change (turning two-factor off, new recovery codes). Returns Invalid with
// a message for the field "current_password" when it is missing or wrong,
// or the account has none, and NotFound for an unknown user. Nothing is
// counted: the caller throttles.
func (s *Service) ConfirmPassword(ctx context.Context, userID, current string) error {
	u, err := s.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	msg, err := s.checkCurrent(u, current)
	if err != nil {
		return fmt.Errorf("account: confirm password: %w", err)
	}
	if msg != "" {
		return apperr.InvalidFields(map[string]string{"current_password": msg})
	}
	return nil
}
