package org

import (
	"context"
	"fmt"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/store"
)

// PendingInvitesForEmail returns the invitations of email (normalized) that
// can still be used — not used, revoked or expired — in every organization,
// oldest first.
func (s *Service) PendingInvitesForEmail(ctx context.Context, email string) ([]OpenInvite, error) {
	var list []OpenInvite
	err := s.db.Conn(ctx).Table("invites AS i").
		Select("i.*, o.name AS org_name, o.slug AS org_slug").
		Joins("JOIN organizations AS o ON o.id = i.org_id").
		Where("i.email = ? AND i.used_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > ?", account.NormalizeEmail(email), s.now().UTC()).
		Order("i.created_at, i.id").
		Find(&list).Error
	if err != nil {
		return nil, fmt.Errorf("org: pending invites for email: %w", err)
	}
	return list, nil
}

// AcceptPendingInvites accepts, for userID whose email must be email, every
// invitation of that email that can still be used (PendingInvitesForEmail),
// oldest first, as accepting each one's link would (AcceptInvite): the
// invitation is used up, userID becomes a member of its organization with
// the invited role, and member.joined is recorded there with actor, worded
// as for a link. It returns the organizations joined, in that order.
//
// Unlike a single link, which refuses with Conflict, an invitation to an
// organization userID already belongs to (before, or through an older
// invitation of this call) is used up without a second membership or
// event: calling twice joins nothing the second time and returns none. An
// invitation to a disabled organization is accepted, as its link is; a
// disabled organization keeps its members and refuses its keys. Used,
// revoked and expired invitations are left as they are.
//
// Its writes join the transaction ctx carries (store.DB.WithTx). Returns
// NotFound for an unknown user and Forbidden when email is not userID's.
func (s *Service) AcceptPendingInvites(ctx context.Context, userID, email string, actor audit.Actor) ([]Organization, error) {
	email = account.NormalizeEmail(email)
	var joined []Organization
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		userEmail, err := s.userEmail(ctx, userID)
		if err != nil {
			return err
		}
		if userEmail != email {
			return apperr.New(apperr.Forbidden, "These invitations are for %s. Sign in as %s to accept them.", email, email)
		}
		invites, err := s.PendingInvitesForEmail(ctx, email)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		tx := s.db.Conn(ctx)
		for _, inv := range invites {
			// Claiming the invitation first makes a concurrent use skip it.
			res := tx.Model(&Invite{}).Where("id = ? AND used_at IS NULL", inv.ID).Update("used_at", now)
			if res.Error != nil {
				return fmt.Errorf("org: accept pending invites: %w", res.Error)
			}
			if res.RowsAffected == 0 {
				continue
			}
			member, err := s.isMember(ctx, inv.OrgID, userID)
			if err != nil {
				return err
			}
			if member {
				continue
			}
			var o Organization
			if err := tx.Where("id = ?", inv.OrgID).Take(&o).Error; err != nil {
				return fmt.Errorf("org: accept pending invites: %w", err)
			}
			if err := s.join(ctx, o, userID, userEmail, inv.Role, actor, inviteJoinSummary(userEmail, o.Name, inv.Role)); err != nil {
				return err
			}
			joined = append(joined, o)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return joined, nil
}

// AutoJoin makes userID a member of orgID with role of the user's own
// accord, as the instance places new people of its allowed email domains
// (single sign-on's auto-join), and records member.joined with actor, who
// is the user. Its writes join the transaction ctx carries. Returns Invalid
// for an unknown role, NotFound for an unknown organization or user, and
// Conflict when already a member.
func (s *Service) AutoJoin(ctx context.Context, orgID, userID string, role Role, actor audit.Actor) (Organization, error) {
	if _, ok := ParseRole(string(role)); !ok {
		return Organization{}, apperr.InvalidFields(map[string]string{"role": "Choose admin or member."})
	}
	var o Organization
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		if !store.ValidID(orgID) {
			return fieldErr(apperr.NotFound, "org_id", "Organization not found.")
		}
		if err := s.db.Conn(ctx).Where("id = ?", orgID).Take(&o).Error; err != nil {
			if store.IsNotFound(err) {
				return fieldErr(apperr.NotFound, "org_id", "Organization not found.")
			}
			return fmt.Errorf("org: auto-join: %w", err)
		}
		email, err := s.userEmail(ctx, userID)
		if err != nil {
			return err
		}
		return s.join(ctx, o, userID, email, role, actor,
			fmt.Sprintf("%s joined %s as %s through the allowed email domain", email, o.Name, role))
	})
	if err != nil {
		return Organization{}, err
	}
	return o, nil
}

// inviteJoinSummary is the summary of member.joined for email joining
// orgName as role through an invitation (AcceptInvite words it the same).
func inviteJoinSummary(email, orgName string, role Role) string {
	return fmt.Sprintf("%s joined %s as %s through an invitation", email, orgName, role)
}

// join makes userID (whose email is email) a member of o with role, at the
// service's clock, and records member.joined with actor and summary.
// Returns Conflict when already a member.
func (s *Service) join(ctx context.Context, o Organization, userID, email string, role Role, actor audit.Actor, summary string) error {
	now := s.now().UTC()
	tx := s.db.Conn(ctx)
	m := Membership{ID: store.NewID(), OrgID: o.ID, UserID: userID, Role: role, CreatedAt: now, UpdatedAt: now}
	if err := tx.Create(&m).Error; err != nil {
		if store.IsUniqueViolation(err) {
			return fieldErr(apperr.Conflict, "user_id", fmt.Sprintf("%s is already a member of %s.", email, o.Name))
		}
		return fmt.Errorf("org: join: %w", err)
	}
	if err := s.memberEvent(ctx, audit.MemberAdded, o.ID, userID, role, now, actor); err != nil {
		return err
	}
	return audit.Record(ctx, tx, now, o.ID, actor, audit.MemberJoined, "user", userID, summary)
}

// userEmail returns the email of userID, or NotFound.
func (s *Service) userEmail(ctx context.Context, userID string) (string, error) {
	if !store.ValidID(userID) {
		return "", fieldErr(apperr.NotFound, "user_id", "User not found.")
	}
	var email string
	err := s.db.Conn(ctx).Table("users").Select("email").Where("id = ?", userID).Take(&email).Error
	if store.IsNotFound(err) {
		return "", fieldErr(apperr.NotFound, "user_id", "User not found.")
	}
	if err != nil {
		return "", fmt.Errorf("org: user: %w", err)
	}
	return email, nil
}

// isMember says whether userID belongs to orgID. Checked before inserting,
// so that a membership already there does not fail the statement (on
// PostgreSQL a failed statement ends the transaction).
func (s *Service) isMember(ctx context.Context, orgID, userID string) (bool, error) {
	var n int64
	err := s.db.Conn(ctx).Table("memberships").Where("org_id = ? AND user_id = ?", orgID, userID).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("org: membership: %w", err)
	}
	return n > 0, nil
}
