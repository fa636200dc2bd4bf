package org

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/store"
)

// PortalLinkTTL is how long a portal link works.
const PortalLinkTTL = 5 * time.Minute

// PortalLink is a single-use link that signs a member into one organization
// from the platform's own dashboard. Only the SHA-256 of its token is
// stored; TokenID and TokenName are the operator token that asked for it.
type PortalLink struct {
	ID        string
	TokenHash []byte
	OrgID     string
	UserID    string
	ReturnURL string
	TokenID   *string
	TokenName string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// TableName maps PortalLink to its table.
func (PortalLink) TableName() string { return "portal_links" }

// OpenPortalLink is a portal link that still works, with the organization
// it leads into and the email of the member it signs in.
type OpenPortalLink struct {
	PortalLink
	OrgName string
	OrgSlug string
	Email   string
}

// PortalRequest asks for a portal link: the organization's slug, the
// member's email and the address the session returns to (checked by the
// caller against the allowed origins). Actor is the operator token.
type PortalRequest struct {
	Org       string
	Email     string
	ReturnURL string
	Actor     audit.Actor
}

var errPortalGone = apperr.New(apperr.NotFound, "This sign-in link has expired or was already used. Go back to the dashboard you came from and open Keyplane again for a new one.")

// IsPortalGone reports whether err is a portal link that does not work:
// unknown, used or expired.
func IsPortalGone(err error) bool { return err == errPortalGone }

// CreatePortalLink makes a single-use link, valid for PortalLinkTTL, that
// signs the member with req.Email into req.Org, and returns its token (never
// stored). Returns Invalid naming "org" for an unknown organization and
// "email" for an unknown email, an operator, a disabled user or someone
// who is not a member.
func (s *Service) CreatePortalLink(ctx context.Context, req PortalRequest) (string, PortalLink, error) {
	var o Organization
	err := s.db.Conn(ctx).Where("slug = ?", req.Org).Take(&o).Error
	if store.IsNotFound(err) {
		return "", PortalLink{}, fieldErr(apperr.Invalid, "org", "No organization has this slug.")
	}
	if err != nil {
		return "", PortalLink{}, fmt.Errorf("org: portal link: %w", err)
	}
	var u account.User
	err = s.db.Conn(ctx).Where("email = ?", account.NormalizeEmail(req.Email)).Take(&u).Error
	if store.IsNotFound(err) {
		return "", PortalLink{}, fieldErr(apperr.Invalid, "email", "No user has this email; create the user and add them to "+o.Name+" first.")
	}
	if err != nil {
		return "", PortalLink{}, fmt.Errorf("org: portal link: %w", err)
	}
	switch {
	case u.IsOperator:
		return "", PortalLink{}, fieldErr(apperr.Invalid, "email", "Operators cannot sign in through the portal.")
	case u.Disabled():
		return "", PortalLink{}, fieldErr(apperr.Invalid, "email", "This user is disabled.")
	}
	if _, err := s.Member(ctx, o.ID, u.ID); apperr.Is(err, apperr.NotFound) {
		return "", PortalLink{}, fieldErr(apperr.Invalid, "email", "This user is not a member of "+o.Name+".")
	} else if err != nil {
		return "", PortalLink{}, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", PortalLink{}, fmt.Errorf("org: portal token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.now().UTC()
	l := PortalLink{
		ID: store.NewID(), TokenHash: inviteHash(token), OrgID: o.ID, UserID: u.ID, ReturnURL: req.ReturnURL,
		TokenName: req.Actor.TokenName, CreatedAt: now, ExpiresAt: now.Add(PortalLinkTTL),
	}
	if req.Actor.TokenID != "" {
		l.TokenID = &req.Actor.TokenID
	}
	if err := s.db.Conn(ctx).Create(&l).Error; err != nil {
		return "", PortalLink{}, fmt.Errorf("org: portal link: %w", err)
	}
	return token, l, nil
}

// PortalLinkByToken returns the portal link with token while it works,
// without using it up. Returns an error for which IsPortalGone holds when
// it is unknown, used or expired.
func (s *Service) PortalLinkByToken(ctx context.Context, token string) (OpenPortalLink, error) {
	var l OpenPortalLink
	if token == "" || len(token) > 100 {
		return l, errPortalGone
	}
	err := s.db.Conn(ctx).Table("portal_links AS p").
		Select("p.*, o.name AS org_name, o.slug AS org_slug, u.email AS email").
		Joins("JOIN organizations AS o ON o.id = p.org_id").
		Joins("JOIN users AS u ON u.id = p.user_id").
		Where("p.token_hash = ? AND p.used_at IS NULL AND p.expires_at > ?", inviteHash(token), s.now().UTC()).
		Take(&l).Error
	if store.IsNotFound(err) {
		return l, errPortalGone
	}
	if err != nil {
		return l, fmt.Errorf("org: portal link: %w", err)
	}
	return l, nil
}

// SpendPortalLink uses the portal link with token up, once: of two
// concurrent calls one succeeds. The member must still be a member, enabled
// and no operator. The sign-in is recorded in the organization's audit log,
// naming the operator token; client is where the request came from.
// Returns an error for which IsPortalGone holds when the link does not
// work, and Forbidden when the member may no longer use it.
func (s *Service) SpendPortalLink(ctx context.Context, token string, client audit.Actor) (OpenPortalLink, error) {
	var l OpenPortalLink
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		var err error
		if l, err = s.PortalLinkByToken(ctx, token); err != nil {
			return err
		}
		now := s.now().UTC()
		tx := s.db.Conn(ctx)
		res := tx.Model(&PortalLink{}).Where("id = ? AND used_at IS NULL AND expires_at > ?", l.ID, now).Update("used_at", now)
		if res.Error != nil {
			return fmt.Errorf("org: spend portal link: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return errPortalGone
		}
		var u account.User
		if err := tx.Where("id = ?", l.UserID).Take(&u).Error; err != nil {
			return fmt.Errorf("org: spend portal link: %w", err)
		}
		if _, err := s.Member(ctx, l.OrgID, u.ID); u.IsOperator || u.Disabled() || apperr.Is(err, apperr.NotFound) {
			return apperr.New(apperr.Forbidden, "This sign-in link can no longer be used: the account cannot sign in to %s.", l.OrgName)
		} else if err != nil {
			return err
		}
		client.UserID, client.Email = u.ID, u.Email
		return audit.Record(ctx, tx, now, l.OrgID, client, audit.LoginSucceeded, "user", u.ID,
			fmt.Sprintf(`%s signed in through the portal (operator token "%s")`, u.Email, l.TokenName))
	})
	if err != nil {
		return OpenPortalLink{}, err
	}
	return l, nil
}
