package apikey

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
)

// An organization's key policies (org.KeyPolicy sets them) act on its keys
// here: the maximum lifetime is checked by Create, Update and Import and
// caps a rotation's new key; the idle period flags keys (IsIdle) and, when
// asked, disables them (DisableIdle, run by the lifecycle job).

// LifetimeLimit is the latest expiry a key made at now may have under a
// maximum lifetime of days: the end, UTC, of the day that many days from
// now, since the forms choose expiry dates by the day.
func LifetimeLimit(now time.Time, days int) time.Time {
	d := now.UTC().AddDate(0, 0, days)
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
}

// LifetimeDate is the last day, YYYY-MM-DD UTC, a key made at now may work
// under a maximum lifetime of days: what the forms propose and name.
func LifetimeDate(now time.Time, days int) string {
	return ExpiryDate(LifetimeLimit(now, days))
}

// LifetimeError is the Invalid error, on the field expires_at, of a key
// that would outlive the organization's maximum lifetime of days.
func LifetimeError(days int, now time.Time) error {
	return apperr.InvalidFields(map[string]string{"expires_at": fmt.Sprintf(
		"This organization's keys must expire within %d days (its maximum key lifetime): choose a date on or before %s.",
		days, LifetimeDate(now, days))})
}

// checkLifetime returns LifetimeError when expiry (nil for never) is
// beyond a maximum lifetime of days (0 for none) at now.
func checkLifetime(expiry *time.Time, days int, now time.Time) error {
	if days > 0 && (expiry == nil || expiry.After(LifetimeLimit(now, days))) {
		return LifetimeError(days, now)
	}
	return nil
}

// maxLifetime reads orgID's maximum key lifetime in days (0 for none).
func maxLifetime(tx *gorm.DB, orgID string) (int, error) {
	var days *int
	if err := tx.Table("organizations").Where("id = ?", orgID).Select("max_key_lifetime_days").Row().Scan(&days); err != nil {
		return 0, fmt.Errorf("apikey: maximum lifetime: %w", err)
	}
	if days == nil {
		return 0, nil
	}
	return *days, nil
}

// checkOrgLifetime is checkLifetime under orgID's policy, read inside tx.
func checkOrgLifetime(tx *gorm.DB, orgID string, expiry *time.Time, now time.Time) error {
	days, err := maxLifetime(tx, orgID)
	if err != nil {
		return err
	}
	return checkLifetime(expiry, days, now)
}

// MaxLifetime returns orgID's maximum key lifetime in days, 0 for none:
// what the forms propose an expiry within.
func (s *Service) MaxLifetime(ctx context.Context, orgID string) (int, error) {
	return maxLifetime(s.db.Conn(ctx), orgID)
}

// IdleSince is when k was last used, or created when it never was: the
// start of its idleness.
func (k Key) IdleSince() time.Time {
	if k.LastUsedAt != nil {
		return *k.LastUsedAt
	}
	return k.CreatedAt
}

// IsIdle reports whether k is idle at now under an idle period of days (0
// for none): a working key (active or expiring, not disabled, not
// replaced by a rotation) unused for that long.
func IsIdle(k Key, days int, now time.Time) bool {
	if days <= 0 || k.ReplacedByID != nil {
		return false
	}
	if st := k.StatusAt(now); st != Active && st != Expiring {
		return false
	}
	return !now.Before(k.IdleSince().Add(time.Duration(days) * 24 * time.Hour))
}

// workingScope selects the keys that work now and will until their own
// deadline: not revoked, disabled, replaced or expired.
func workingScope(db *gorm.DB, now time.Time) *gorm.DB {
	return db.Where("revoked_at IS NULL AND disabled_at IS NULL AND replaced_by_id IS NULL AND (expires_at IS NULL OR expires_at > ?)", now)
}

// ExpiringSoon returns orgID's working keys that stop within
// ExpiringWithin, the soonest first: the keys page's banner, for every
// member. Keys in a rotation's grace period, whose end was chosen, are not
// among them.
func (s *Service) ExpiringSoon(ctx context.Context, orgID string) ([]Key, error) {
	now := s.now().UTC()
	var keys []Key
	err := workingScope(s.db.Conn(ctx).Where("org_id = ?", orgID), now).
		Where("expires_at <= ?", now.Add(ExpiringWithin)).Order("expires_at, id").Find(&keys).Error
	if err != nil {
		return nil, fmt.Errorf("apikey: expiring soon: %w", err)
	}
	return keys, nil
}

// BeyondLifetime returns orgID's working keys that a maximum lifetime of
// days would refuse if they were made now: no expiry, or a later one than
// LifetimeLimit. They keep working; the settings page lists them after the
// policy is set or shortened. Empty when days is 0.
func (s *Service) BeyondLifetime(ctx context.Context, orgID string, days int) ([]Key, error) {
	if days <= 0 {
		return nil, nil
	}
	now := s.now().UTC()
	var keys []Key
	err := workingScope(s.db.Conn(ctx).Where("org_id = ?", orgID), now).
		Where("expires_at IS NULL OR expires_at > ?", LifetimeLimit(now, days)).Order("created_at DESC, id DESC").Find(&keys).Error
	if err != nil {
		return nil, fmt.Errorf("apikey: beyond lifetime: %w", err)
	}
	return keys, nil
}

// IdlePolicy is the actor of what the idle policy does.
var IdlePolicy = audit.Actor{Program: "the idle policy"}

// DisableIdle disables key id of orgID because it has been idle for days,
// inside the transaction ctx carries: the key stops on every server within
// a second, the audit log says the idle policy did it, and key.disabled is
// queued. ok is false, and nothing changes, when the key is no longer idle
// (used meanwhile), already disabled, or gone from the working keys. For
// the lifecycle job; NotFound for an unknown key.
func (s *Service) DisableIdle(ctx context.Context, orgID, id string, days int) (out Key, ok bool, err error) {
	now := s.now().UTC()
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		k, err := s.get(s.db.ForUpdate(tx), orgID, id)
		if err != nil {
			return err
		}
		if !IsIdle(k, days, now) {
			return nil
		}
		res := tx.Model(&Key{}).Where("org_id = ? AND id = ? AND disabled_at IS NULL AND revoked_at IS NULL", orgID, id).
			Updates(map[string]any{"disabled_at": now, "disabled_by_id": nil, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("apikey: idle policy: disable: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		k.DisabledAt, k.DisabledByID, k.UpdatedAt = &now, nil, now
		out, ok = k, true
		verb := fmt.Sprintf("disabled, as it was unused for %d days,", days)
		if err := s.noteChange(ctx, tx, now, IdlePolicy, audit.KeyDisabled, k, verb); err != nil {
			return err
		}
		return s.emit(ctx, audit.KeyDisabled, k, now, IdlePolicy)
	})
	if err != nil {
		return Key{}, false, err
	}
	return out, ok, nil
}
