package apikey

import (
	"context"
	"errors"
	"fmt"
	"time"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
)

// ErrRevoked is the Conflict of enabling a key that was revoked: revoking
// cannot be undone.
var ErrRevoked = apperr.New(apperr.Conflict, "This key is revoked; revoking cannot be undone. Create or rotate to a new key instead.")

// IsRevoked reports whether err is ErrRevoked.
func IsRevoked(err error) bool { return errors.Is(err, ErrRevoked) }

// Disable pauses key id: it fails verification with key_disabled within a
// second everywhere until it is enabled again. Returns NotFound, or
// Conflict for a key that is already disabled, revoked or expired.
func (s *Service) Disable(ctx context.Context, orgID, id string, actor audit.Actor) (Key, error) {
	return s.setDisabled(ctx, orgID, id, true, actor)
}

// Enable lets a disabled key id work again, within a second everywhere.
// Returns NotFound, ErrRevoked for a revoked key, or Conflict for a key
// that is not disabled or has expired meanwhile.
func (s *Service) Enable(ctx context.Context, orgID, id string, actor audit.Actor) (Key, error) {
	return s.setDisabled(ctx, orgID, id, false, actor)
}

// canSetDisabled returns nil when key k may be disabled (disable) or
// enabled at now, else the reason it may not.
func canSetDisabled(k Key, disable bool, now time.Time) error {
	st := k.StatusAt(now)
	switch {
	case disable && st == Disabled:
		return apperr.New(apperr.Conflict, "This key is already disabled.")
	case disable && (st == Revoked || st == Expired):
		return apperr.New(apperr.Conflict, "This key is %s: there is nothing to disable.", st)
	case st == Revoked:
		return ErrRevoked
	case st == Expired:
		return apperr.New(apperr.Conflict, "This key has expired: enabling it would not make it work. Rotate it or create a new key.")
	case !disable && k.DisabledAt == nil:
		return apperr.New(apperr.Conflict, "This key is not disabled.")
	}
	return nil
}

func (s *Service) setDisabled(ctx context.Context, orgID, id string, disable bool, actor audit.Actor) (Key, error) {
	now := s.now().UTC()
	var out Key
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		k, err := s.get(tx, orgID, id)
		if err != nil {
			return err
		}
		if err := canSetDisabled(k, disable, now); err != nil {
			return err
		}
		updates := map[string]any{"disabled_at": nil, "disabled_by_id": nil, "updated_at": now}
		k.DisabledAt, k.DisabledByID, k.UpdatedAt = nil, nil, now
		action, verb, unchanged := audit.KeyEnabled, "enabled", "disabled_at IS NOT NULL"
		if disable {
			updates["disabled_at"], k.DisabledAt = now, &now
			if actor.UserID != "" {
				updates["disabled_by_id"], k.DisabledByID = actor.UserID, &actor.UserID
			}
			action, verb, unchanged = audit.KeyDisabled, "disabled", "disabled_at IS NULL"
		}
		res := tx.Model(&Key{}).Where("org_id = ? AND id = ? AND revoked_at IS NULL AND "+unchanged, orgID, id).Updates(updates)
		if res.Error != nil {
			return fmt.Errorf("apikey: %s: %w", verb, res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.Conflict, "This key was revoked, disabled or enabled meanwhile.")
		}
		out = k
		if err := s.emit(ctx, action, k, now, actor); err != nil {
			return err
		}
		return s.noteChange(ctx, tx, now, actor, action, k, verb)
	})
	if err != nil {
		return Key{}, err
	}
	return out, nil
}
