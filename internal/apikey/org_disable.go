package apikey

import (
	"context"
	"fmt"
	"time"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
)

// SetOrgDisabled disables (or enables again) organization orgID as a whole:
// while it is disabled every one of its keys fails verification with
// key_disabled, within a second everywhere, whatever the key's own state;
// the keys keep that state for when it is enabled. Returns NotFound, or
// Conflict when the organization is already in that state.
func (s *Service) SetOrgDisabled(ctx context.Context, orgID string, disabled bool, actor audit.Actor) error {
	now := s.now().UTC()
	return s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		if err := s.lockOrg(tx, orgID); err != nil {
			return err
		}
		var o struct {
			Name       string
			DisabledAt *time.Time
		}
		if err := tx.Table("organizations").Select("name, disabled_at").Where("id = ?", orgID).Take(&o).Error; err != nil {
			return fmt.Errorf("apikey: read org: %w", err)
		}
		if (o.DisabledAt != nil) == disabled {
			if disabled {
				return apperr.New(apperr.Conflict, "This organization is already disabled.")
			}
			return apperr.New(apperr.Conflict, "This organization is not disabled.")
		}
		var at *time.Time
		action, verb := audit.OrgEnabled, "enabled"
		if disabled {
			at, action, verb = &now, audit.OrgDisabled, "disabled"
		}
		if err := tx.Table("organizations").Where("id = ?", orgID).
			Updates(map[string]any{"disabled_at": at, "updated_at": now}).Error; err != nil {
			return fmt.Errorf("apikey: disable org: %w", err)
		}
		var n int64
		if err := tx.Model(&Key{}).Where("org_id = ? AND revoked_at IS NULL", orgID).Count(&n).Error; err != nil {
			return fmt.Errorf("apikey: disable org: count keys: %w", err)
		}
		// One notice, however many keys: every server drops its cache.
		if err := s.recordChange(tx, AllChange, now); err != nil {
			return err
		}
		s.announce(ctx, AllChange)
		return audit.Record(ctx, tx, now, orgID, actor, action, "organization", orgID,
			fmt.Sprintf("%s %s the organization %s (%d keys)", actor.Name(), verb, o.Name, n))
	})
}
