package org

import (
	"context"
	"fmt"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/store"
)

// Member returns the member userID of orgID, or NotFound.
func (s *Service) Member(ctx context.Context, orgID, userID string) (MemberRow, error) {
	if !store.ValidID(userID) {
		return MemberRow{}, apperr.New(apperr.NotFound, "Member not found.")
	}
	var m MemberRow
	err := s.db.Conn(ctx).Table("memberships AS m").
		Select("u.id AS user_id, u.email, u.name, m.role, m.created_at AS joined_at, u.last_login_at").
		Joins("JOIN users AS u ON u.id = m.user_id").
		Where("m.org_id = ? AND m.user_id = ?", orgID, userID).
		Take(&m).Error
	if store.IsNotFound(err) {
		return MemberRow{}, apperr.New(apperr.NotFound, "Member not found.")
	}
	if err != nil {
		return MemberRow{}, fmt.Errorf("org: member: %w", err)
	}
	return m, nil
}

// lockOrg serializes changes to orgID's admins: on PostgreSQL it locks the
// organization's row until the transaction in ctx ends; SQLite transactions
// already take the write lock when they begin.
func (s *Service) lockOrg(ctx context.Context, orgID string) error {
	var id string
	if err := s.db.ForUpdate(s.db.Conn(ctx).Table("organizations").Select("id").Where("id = ?", orgID)).Scan(&id).Error; err != nil {
		return fmt.Errorf("org: lock: %w", err)
	}
	return nil
}

func (s *Service) countAdmins(ctx context.Context, orgID string) (int64, error) {
	var n int64
	err := s.db.Conn(ctx).Table("memberships").Where("org_id = ? AND role = ?", orgID, Admin).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("org: count admins: %w", err)
	}
	return n, nil
}

// lastAdminError is the Conflict returned when a change would leave an
// organization without an admin.
func lastAdminError(email, what string) error {
	return apperr.New(apperr.Conflict, "%s is the last admin of this organization and cannot be %s. Make another member an admin first.", email, what)
}

// ChangeRole gives the member userID of orgID the role role and records it.
// Returns Invalid for an unknown role, NotFound when userID is not a member,
// and Conflict when it would demote the organization's last admin. Changing
// to the current role changes nothing and records nothing.
func (s *Service) ChangeRole(ctx context.Context, orgID, userID string, role Role, actor audit.Actor) (MemberRow, error) {
	if _, ok := ParseRole(string(role)); !ok {
		return MemberRow{}, apperr.InvalidFields(map[string]string{"role": "Choose admin or member."})
	}
	var m MemberRow
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		if err := s.lockOrg(ctx, orgID); err != nil {
			return err
		}
		var err error
		if m, err = s.Member(ctx, orgID, userID); err != nil {
			return err
		}
		if m.Role == role {
			return nil
		}
		if err := s.keepAnAdmin(ctx, orgID, m, "made a member"); err != nil {
			return err
		}
		now := s.now().UTC()
		tx := s.db.Conn(ctx)
		res := tx.Model(&Membership{}).Where("org_id = ? AND user_id = ?", orgID, userID).
			Updates(map[string]any{"role": role, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("org: change role: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.NotFound, "Member not found.")
		}
		old := m.Role
		m.Role = role
		return audit.Record(ctx, tx, now, orgID, actor, audit.MemberRoleChanged, "user", userID,
			fmt.Sprintf("%s changed the role of %s from %s to %s", actor.Name(), m.Email, old, role))
	})
	if err != nil {
		return MemberRow{}, err
	}
	return m, nil
}

// RemoveMember takes userID out of orgID and records it; their access ends
// with their next request. Returns NotFound when userID is not a member and
// Conflict when they are the organization's last admin.
func (s *Service) RemoveMember(ctx context.Context, orgID, userID string, actor audit.Actor) (MemberRow, error) {
	var m MemberRow
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		if err := s.lockOrg(ctx, orgID); err != nil {
			return err
		}
		var err error
		if m, err = s.Member(ctx, orgID, userID); err != nil {
			return err
		}
		if err := s.keepAnAdmin(ctx, orgID, m, "removed"); err != nil {
			return err
		}
		tx := s.db.Conn(ctx)
		res := tx.Where("org_id = ? AND user_id = ?", orgID, userID).Delete(&Membership{})
		if res.Error != nil {
			return fmt.Errorf("org: remove member: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.NotFound, "Member not found.")
		}
		if err := s.memberEvent(ctx, audit.MemberRemoved, orgID, userID, m.Role, m.JoinedAt, actor); err != nil {
			return err
		}
		return audit.Record(ctx, tx, s.now().UTC(), orgID, actor, audit.MemberRemoved, "user", userID,
			fmt.Sprintf("%s removed %s (%s) from the organization", actor.Name(), m.Email, m.Role))
	})
	if err != nil {
		return MemberRow{}, err
	}
	return m, nil
}

// keepAnAdmin returns Conflict when m is the organization's last admin and
// so cannot be demoted or removed; verb says which ("removed").
func (s *Service) keepAnAdmin(ctx context.Context, orgID string, m MemberRow, verb string) error {
	if m.Role != Admin {
		return nil
	}
	n, err := s.countAdmins(ctx, orgID)
	if err != nil {
		return err
	}
	if n <= 1 {
		return lastAdminError(m.Email, verb)
	}
	return nil
}
