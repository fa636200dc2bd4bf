package apikey

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/store"
)

// Predecessor returns the key that key id of orgID replaced by a rotation,
// while that old key still works in its grace period. Any member may ask.
// Returns NotFound for an unknown id or another organization's key, and
// Conflict when key id replaced no key or no longer works itself (revoked
// or expired), or the old key is revoked, expired or past its grace
// deadline.
func (s *Service) Predecessor(ctx context.Context, orgID, id string) (Key, error) {
	return s.predecessor(s.db.Conn(ctx), orgID, id, s.now().UTC())
}

func (s *Service) predecessor(tx *gorm.DB, orgID, id string, now time.Time) (Key, error) {
	k, err := s.get(tx, orgID, id)
	if err != nil {
		return Key{}, err
	}
	noGrace := apperr.New(apperr.Conflict, "This key replaced no other key, so there is no grace period to end.")
	if k.ReplacesID == nil {
		return Key{}, noGrace
	}
	if st := k.StatusAt(now); st == Revoked || st == Expired {
		return Key{}, apperr.New(apperr.Conflict, "This key is %s: ending the grace period of the key it replaced would leave no working key.", st)
	}
	old, err := s.get(tx, orgID, *k.ReplacesID)
	if apperr.Is(err, apperr.NotFound) {
		return Key{}, noGrace
	}
	if err != nil {
		return Key{}, err
	}
	switch {
	case old.ReplacedByID == nil || *old.ReplacedByID != k.ID:
		return Key{}, noGrace
	case old.RevokedAt != nil:
		return Key{}, apperr.New(apperr.Conflict, "The key this one replaced, %s, is revoked: there is no grace period to end.", old.Hint)
	case !old.InGrace(now) || old.StatusAt(now) == Expired:
		return Key{}, apperr.New(apperr.Conflict, "The grace period of the key this one replaced, %s, is already over.", old.Hint)
	}
	return old, nil
}

// EndGrace ends at once the rotation grace period of the key that key id
// replaced. id is the NEW key, the successor whose page shows the
// cut-over; the old key's grace deadline becomes now, so it answers
// key_expired from now on, on every server (caches are told as for
// Revoke). Admins only: the caller checks the role. Returns the old key as
// it now is; NotFound for an unknown id or another organization's key;
// Conflict as Predecessor does, also when a parallel request ended the
// grace first.
func (s *Service) EndGrace(ctx context.Context, orgID, id string, actor audit.Actor) (Key, error) {
	return s.endGrace(ctx, orgID, id, actor, nil)
}

// endGrace ends the grace period of the key that key id replaced, as
// EndGrace describes. With quiet set, it is the quiet-hour rule acting:
// the old key must have asked for the rule and had no request since
// quiet (an hour ago), else Conflict; the change also queues key.expired,
// recorded in key_reminders so the expiry reminders do not send it again.
// The UPDATE holds every condition, so of several servers running the
// rule at once exactly one ends the grace, records and announces it.
func (s *Service) endGrace(ctx context.Context, orgID, id string, actor audit.Actor, quiet *time.Time) (Key, error) {
	now := s.now().UTC()
	var out Key
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		// Hold the new key, so that a revoke of it cannot slip in between
		// the check that it works and the end of the old key's grace.
		if err := s.lockKey(tx, orgID, id); err != nil {
			return err
		}
		old, err := s.predecessor(tx, orgID, id, now)
		if err != nil {
			return err
		}
		q := tx.Model(&Key{}).
			Where("org_id = ? AND id = ? AND replaced_by_id = ? AND revoked_at IS NULL AND grace_until > ?", orgID, old.ID, id, now)
		if quiet != nil {
			q = q.Where("grace_quiet_from IS NOT NULL AND grace_quiet_from <= ? AND (last_used_at IS NULL OR last_used_at <= ?)", *quiet, *quiet)
		}
		res := q.Updates(map[string]any{"grace_until": now, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("apikey: end grace: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.Conflict, "The grace period of %s ended meanwhile.", old.Hint)
		}
		was := *old.GraceUntil
		old.GraceUntil, old.UpdatedAt = &now, now
		out = old
		if err := s.recordChange(tx, old.KeyHash, now); err != nil {
			return err
		}
		s.announce(ctx, old.KeyHash)
		until := was.UTC().Format("2006-01-02 15:04 UTC")
		summary := fmt.Sprintf("%s ended the grace period of %s (%s) early; it was to keep working until %s",
			actor.Name(), old.Hint, old.Description, until)
		if quiet != nil {
			summary = fmt.Sprintf("%s ended the grace period of %s (%s): it had no request for an hour; it was to keep working until %s",
				actor.Name(), old.Hint, old.Description, until)
		}
		if err := audit.Record(ctx, tx, now, orgID, actor, audit.KeyGraceEnded, "api_key", old.ID, summary); err != nil {
			return err
		}
		if quiet == nil {
			return nil
		}
		// key.expired, claimed as the expiry reminders claim theirs, so
		// that they do not announce this end of grace a second time.
		claim := tx.Exec("INSERT INTO key_reminders (key_id, org_id, kind, due_at, created_at) VALUES (?, ?, 'expired', ?, ?) ON CONFLICT DO NOTHING",
			old.ID, orgID, now, now)
		if claim.Error != nil {
			return fmt.Errorf("apikey: end grace: claim key.expired: %w", claim.Error)
		}
		if claim.RowsAffected == 0 {
			return nil
		}
		return s.emit(ctx, eventKeyExpired, old, now, actor)
	})
	if err != nil {
		return Key{}, err
	}
	return out, nil
}

// lockKey holds key id of orgID until tx ends (see store.DB.ForUpdate). An
// unknown key is left to the caller's own lookup.
func (s *Service) lockKey(tx *gorm.DB, orgID, id string) error {
	if !store.ValidID(id) {
		return nil
	}
	var got []string
	if err := s.db.ForUpdate(tx.Model(&Key{}).Where("org_id = ? AND id = ?", orgID, id)).Pluck("id", &got).Error; err != nil {
		return fmt.Errorf("apikey: lock key: %w", err)
	}
	return nil
}
