package org

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/store"
)

// Accounts creates the account of an invited person who has none yet;
// *account.Service is one.
type Accounts interface {
	CreateUser(ctx context.Context, in account.NewUser) (account.User, error)
}

// InviteTTL is how long an invitation link works.
const InviteTTL = 7 * 24 * time.Hour

// Invite is an invitation to join an organization. Only the SHA-256 of its
// token is stored.
type Invite struct {
	ID          string
	OrgID       string
	Email       string
	Role        Role
	TokenHash   []byte
	CreatedByID *string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	UsedAt      *time.Time
	RevokedAt   *time.Time
}

// TableName maps Invite to its table.
func (Invite) TableName() string { return "invites" }

// PendingInvite is an invitation not yet used, revoked or expired, as listed
// to admins.
type PendingInvite struct {
	Invite
	InvitedBy string
}

// OpenInvite is a usable invitation with the organization it leads to.
type OpenInvite struct {
	Invite
	OrgName string
	OrgSlug string
}

func inviteHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

var errInviteNotFound = apperr.New(apperr.NotFound, "This invitation link is not valid: it may have expired, been used or been revoked. Ask an admin of the organization for a new one.")

// CreateInvite invites email to orgID with role and returns the token of its
// link, which is never stored. Admins only. Returns Invalid for a bad email
// or role and Conflict when email is already a member.
func (s *Service) CreateInvite(ctx context.Context, orgID, email string, role Role, actor audit.Actor) (string, Invite, error) {
	email = account.NormalizeEmail(email)
	fields := map[string]string{}
	if msg := account.ValidateEmail(email); msg != "" {
		fields["email"] = msg
	}
	if _, ok := ParseRole(string(role)); !ok {
		fields["role"] = "Choose admin or member."
	}
	if len(fields) > 0 {
		return "", Invite{}, apperr.InvalidFields(fields)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", Invite{}, fmt.Errorf("org: invite token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.now().UTC()
	inv := Invite{
		ID: store.NewID(), OrgID: orgID, Email: email, Role: role, TokenHash: inviteHash(token),
		CreatedAt: now, ExpiresAt: now.Add(InviteTTL),
	}
	if actor.UserID != "" {
		inv.CreatedByID = &actor.UserID
	}
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		var n int64
		err := tx.Table("memberships AS m").Joins("JOIN users AS u ON u.id = m.user_id").
			Where("m.org_id = ? AND u.email = ?", orgID, email).Count(&n).Error
		if err != nil {
			return fmt.Errorf("org: invite: %w", err)
		}
		if n > 0 {
			return fieldErr(apperr.Conflict, "email", email+" is already a member of this organization.")
		}
		if err := tx.Create(&inv).Error; err != nil {
			return fmt.Errorf("org: invite: %w", err)
		}
		return audit.Record(ctx, tx, now, orgID, actor, audit.MemberInvited, "invite", inv.ID,
			fmt.Sprintf("%s invited %s as %s", actor.Name(), email, role))
	})
	if err != nil {
		return "", Invite{}, err
	}
	return token, inv, nil
}

// PendingInvites lists orgID's invitations that can still be used, oldest
// first.
func (s *Service) PendingInvites(ctx context.Context, orgID string) ([]PendingInvite, error) {
	var list []PendingInvite
	err := s.db.Conn(ctx).Table("invites AS i").
		Select("i.*, COALESCE(u.email, '') AS invited_by").
		Joins("LEFT JOIN users AS u ON u.id = i.created_by_id").
		Where("i.org_id = ? AND i.used_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > ?", orgID, s.now().UTC()).
		Order("i.created_at, i.id").
		Find(&list).Error
	if err != nil {
		return nil, fmt.Errorf("org: pending invites: %w", err)
	}
	return list, nil
}

// RevokeInvite stops the pending invitation id of orgID from working.
// Returns NotFound for an unknown id, another organization's, or one already
// used, revoked or expired.
func (s *Service) RevokeInvite(ctx context.Context, orgID, id string, actor audit.Actor) (Invite, error) {
	if !store.ValidID(id) {
		return Invite{}, apperr.New(apperr.NotFound, "Invitation not found.")
	}
	var inv Invite
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		now := s.now().UTC()
		tx := s.db.Conn(ctx)
		res := tx.Model(&Invite{}).
			Where("id = ? AND org_id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?", id, orgID, now).
			Update("revoked_at", now)
		if res.Error != nil {
			return fmt.Errorf("org: revoke invite: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.NotFound, "Invitation not found.")
		}
		if err := tx.Where("id = ?", id).Take(&inv).Error; err != nil {
			return fmt.Errorf("org: revoke invite: %w", err)
		}
		return audit.Record(ctx, tx, now, orgID, actor, audit.InviteRevoked, "invite", id,
			fmt.Sprintf("%s revoked the invitation of %s", actor.Name(), inv.Email))
	})
	return inv, err
}

// InviteByToken returns the usable invitation with token. Returns NotFound
// when it is unknown, used, revoked or expired.
func (s *Service) InviteByToken(ctx context.Context, token string) (OpenInvite, error) {
	var inv OpenInvite
	if token == "" || len(token) > 100 {
		return inv, errInviteNotFound
	}
	err := s.db.Conn(ctx).Table("invites AS i").
		Select("i.*, o.name AS org_name, o.slug AS org_slug").
		Joins("JOIN organizations AS o ON o.id = i.org_id").
		Where("i.token_hash = ? AND i.used_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > ?", inviteHash(token), s.now().UTC()).
		Take(&inv).Error
	if store.IsNotFound(err) {
		return inv, errInviteNotFound
	}
	if err != nil {
		return inv, fmt.Errorf("org: invite: %w", err)
	}
	return inv, nil
}

// AcceptInvite makes userID, whose email must be the invited one, a member
// with the invited role and uses the invitation up. Returns NotFound for a
// token that does not work, Forbidden for another user's invitation and
// Conflict when already a member.
func (s *Service) AcceptInvite(ctx context.Context, token, userID string, actor audit.Actor) (OpenInvite, error) {
	var inv OpenInvite
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		var err error
		if inv, err = s.InviteByToken(ctx, token); err != nil {
			return err
		}
		now := s.now().UTC()
		tx := s.db.Conn(ctx)
		// Claiming the invitation first makes a second use fail.
		res := tx.Model(&Invite{}).Where("id = ? AND used_at IS NULL", inv.ID).Update("used_at", now)
		if res.Error != nil {
			return fmt.Errorf("org: accept invite: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return errInviteNotFound
		}
		var email string
		if err := tx.Table("users").Select("email").Where("id = ?", userID).Take(&email).Error; err != nil {
			return fmt.Errorf("org: accept invite: %w", err)
		}
		if email != inv.Email {
			return apperr.New(apperr.Forbidden, "This invitation is for %s. Sign in as %s to accept it.", inv.Email, inv.Email)
		}
		m := Membership{ID: store.NewID(), OrgID: inv.OrgID, UserID: userID, Role: inv.Role, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&m).Error; err != nil {
			if store.IsUniqueViolation(err) {
				return apperr.New(apperr.Conflict, "You are already a member of %s.", inv.OrgName)
			}
			return fmt.Errorf("org: accept invite: %w", err)
		}
		if err := s.memberEvent(ctx, audit.MemberAdded, inv.OrgID, userID, inv.Role, now, actor); err != nil {
			return err
		}
		return audit.Record(ctx, tx, now, inv.OrgID, actor, audit.MemberJoined, "user", userID,
			fmt.Sprintf("%s joined %s as %s through an invitation", email, inv.OrgName, inv.Role))
	})
	if err != nil {
		return OpenInvite{}, err
	}
	return inv, nil
}

// Signup is what a person invited without an account chooses for it.
type Signup struct {
	Name     string
	Password string
}

// AcceptInviteAsNewUser creates the account of the person invited with
// token, under the invited email, and makes them a member as AcceptInvite
// does, all in one transaction: a failure leaves neither account nor
// membership, and the invitation unused. client is where the request came
// from; the new user is the actor. Returns Invalid with messages for the
// fields "name" and "password", NotFound for a token that does not work
// (also a second time), and Conflict when the email already has an
// account. The Service needs WithAccounts.
func (s *Service) AcceptInviteAsNewUser(ctx context.Context, token string, in Signup, client audit.Actor) (account.User, OpenInvite, error) {
	if s.accounts == nil {
		return account.User{}, OpenInvite{}, errors.New("org: accept invite: the service has no accounts (WithAccounts)")
	}
	var u account.User
	var inv OpenInvite
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		open, err := s.InviteByToken(ctx, token)
		if err != nil {
			return err
		}
		if u, err = s.accounts.CreateUser(ctx, account.NewUser{Email: open.Email, Name: in.Name, Password: in.Password}); err != nil {
			return err
		}
		who := client
		who.UserID, who.Email = u.ID, u.Email
		inv, err = s.AcceptInvite(ctx, token, u.ID, who)
		return err
	})
	if err != nil {
		return account.User{}, OpenInvite{}, err
	}
	return u, inv, nil
}
