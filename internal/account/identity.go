package account

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"keyplane/internal/apperr"
	"keyplane/internal/store"
)

// Limits of an identity's fields, in bytes.
const (
	MaxIdentityIssuer  = 2048
	MaxIdentitySubject = 255 // OpenID Connect Core 1.0, 2: sub is at most 255 ASCII characters
)

// Identity links a user to their account at an OpenID Connect provider:
// the provider's issuer and its subject (sub) for the person. Email is the
// address the provider gave when the link was made; it is kept for the
// record and never used to find the user again.
type Identity struct {
	ID         string
	UserID     string
	Issuer     string
	Subject    string
	Email      string
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// TableName maps Identity to its table.
func (Identity) TableName() string { return "user_identities" }

func validIdentityKey(issuer, subject string) bool {
	return issuer != "" && subject != "" && len(issuer) <= MaxIdentityIssuer && len(subject) <= MaxIdentitySubject &&
		utf8.ValidString(issuer) && utf8.ValidString(subject) &&
		!strings.ContainsRune(issuer, 0) && !strings.ContainsRune(subject, 0)
}

var errIdentityNotFound = apperr.New(apperr.NotFound, "No account is linked to this sign-in.")

// IdentityUser returns the identity (issuer, subject) and the user linked
// to it. Returns NotFound when no user is linked, also for an issuer or
// subject that could not be stored.
func (s *Service) IdentityUser(ctx context.Context, issuer, subject string) (Identity, User, error) {
	if !validIdentityKey(issuer, subject) {
		return Identity{}, User{}, errIdentityNotFound
	}
	var id Identity
	err := s.db.Conn(ctx).Where("issuer = ? AND subject = ?", issuer, subject).Take(&id).Error
	switch {
	case store.IsNotFound(err):
		return Identity{}, User{}, errIdentityNotFound
	case err != nil:
		return Identity{}, User{}, fmt.Errorf("account: find identity: %w", err)
	}
	u, err := s.UserByID(ctx, id.UserID)
	if err != nil {
		return Identity{}, User{}, err
	}
	return id, u, nil
}

// UserIdentities returns the identities linked to userID, oldest first.
func (s *Service) UserIdentities(ctx context.Context, userID string) ([]Identity, error) {
	var list []Identity
	if !store.ValidID(userID) {
		return list, nil
	}
	if err := s.db.Conn(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&list).Error; err != nil {
		return nil, fmt.Errorf("account: list identities: %w", err)
	}
	return list, nil
}

// LinkIdentity links userID to the identity (issuer, subject), noting email
// as the provider gave it. Returns Invalid for an issuer or subject that
// cannot be stored, NotFound for an unknown user, and Conflict when the
// identity is linked already, to this user or another.
func (s *Service) LinkIdentity(ctx context.Context, userID, issuer, subject, email string) (Identity, error) {
	if !validIdentityKey(issuer, subject) {
		return Identity{}, apperr.New(apperr.Invalid, "The sign-in carries an identity Keyplane cannot store.")
	}
	if _, err := s.UserByID(ctx, userID); err != nil {
		return Identity{}, err
	}
	now := s.now().UTC()
	id := Identity{
		ID: store.NewID(), UserID: userID, Issuer: issuer, Subject: subject,
		Email: store.Text(NormalizeEmail(email), 254), CreatedAt: now, LastUsedAt: now,
	}
	if err := s.db.Conn(ctx).Create(&id).Error; err != nil {
		if store.IsUniqueViolation(err) {
			return Identity{}, apperr.New(apperr.Conflict, "This sign-in is linked to a Keyplane account already.")
		}
		return Identity{}, fmt.Errorf("account: link identity: %w", err)
	}
	return id, nil
}

// RecordIdentityLogin notes that the identity identityID was just used to
// sign in: its last use and its user's last login.
func (s *Service) RecordIdentityLogin(ctx context.Context, identityID string) error {
	now := s.now().UTC()
	return s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		var id Identity
		if err := tx.Where("id = ?", identityID).Take(&id).Error; err != nil {
			if store.IsNotFound(err) {
				return errIdentityNotFound
			}
			return fmt.Errorf("account: record identity login: %w", err)
		}
		if err := tx.Model(&Identity{}).Where("id = ?", id.ID).Update("last_used_at", now).Error; err != nil {
			return fmt.Errorf("account: record identity login: %w", err)
		}
		if err := tx.Model(&User{}).Where("id = ?", id.UserID).Update("last_login_at", now).Error; err != nil {
			return fmt.Errorf("account: record identity login: %w", err)
		}
		return nil
	})
}
