package org

import (
	"context"
	"fmt"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/store"
)

// SetRequireTwoFactor requires two-factor sign-in of every member of orgID,
// or stops requiring it, and records the change. Asking for the setting the
// organization already has changes and records nothing. Admins of the
// organization only; the caller checks that an admin turning it on has
// two-factor themselves. Returns NotFound for an unknown organization.
func (s *Service) SetRequireTwoFactor(ctx context.Context, orgID string, require bool, actor audit.Actor) error {
	if !store.ValidID(orgID) {
		return apperr.New(apperr.NotFound, "Organization not found.")
	}
	return s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		var o Organization
		if err := tx.Where("id = ?", orgID).Take(&o).Error; err != nil {
			if store.IsNotFound(err) {
				return apperr.New(apperr.NotFound, "Organization not found.")
			}
			return fmt.Errorf("org: settings: %w", err)
		}
		res := tx.Model(&Organization{}).Where("id = ? AND require_two_factor = ?", orgID, !require).
			Updates(map[string]any{"require_two_factor": require, "updated_at": s.now().UTC()})
		if res.Error != nil {
			return fmt.Errorf("org: settings: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		summary := fmt.Sprintf("%s required two-factor sign-in of every member of %s", actor.Name(), o.Name)
		if !require {
			summary = fmt.Sprintf("%s stopped requiring two-factor sign-in of the members of %s", actor.Name(), o.Name)
		}
		return audit.Record(ctx, tx, s.now(), orgID, actor, audit.OrgSettingsChanged, "org", orgID, summary)
	})
}

// Leak policies (apikey.LeakPolicy names them for the keys they act on).
const (
	LeakNotify  = "notify"
	LeakDisable = "disable"
)

// SetLeakPolicy sets what happens to orgID's keys found in public: notify
// (flag them) or disable (flag them and disable private keys at once), and
// records the change. Setting the policy the organization already has
// changes and records nothing. Admins of the organization only. Returns
// Invalid for another policy, NotFound for an unknown organization.
func (s *Service) SetLeakPolicy(ctx context.Context, orgID, policy string, actor audit.Actor) error {
	if policy != LeakNotify && policy != LeakDisable {
		return apperr.InvalidFields(map[string]string{"leak_policy": "Choose what happens to a key found in public."})
	}
	if !store.ValidID(orgID) {
		return apperr.New(apperr.NotFound, "Organization not found.")
	}
	return s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		var o Organization
		if err := tx.Where("id = ?", orgID).Take(&o).Error; err != nil {
			if store.IsNotFound(err) {
				return apperr.New(apperr.NotFound, "Organization not found.")
			}
			return fmt.Errorf("org: settings: %w", err)
		}
		res := tx.Model(&Organization{}).Where("id = ? AND leak_policy <> ?", orgID, policy).
			Updates(map[string]any{"leak_policy": policy, "updated_at": s.now().UTC()})
		if res.Error != nil {
			return fmt.Errorf("org: settings: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		summary := fmt.Sprintf("%s set the leak policy of %s: keys found in public are flagged", actor.Name(), o.Name)
		if policy == LeakDisable {
			summary = fmt.Sprintf("%s set the leak policy of %s: private keys found in public are disabled at once", actor.Name(), o.Name)
		}
		return audit.Record(ctx, tx, s.now(), orgID, actor, audit.OrgSettingsChanged, "org", orgID, summary)
	})
}
