package apikey

import (
	"context"
	"fmt"
	"strings"
	"time"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
)

// Grace periods a rotation may leave the old key.
var GracePeriods = map[string]time.Duration{"0": 0, "1h": time.Hour, "24h": 24 * time.Hour, "168h": 7 * 24 * time.Hour}

// Rotation is what a rotation asks for.
type Rotation struct {
	// Grace is how long the old key keeps working: "0", "1h", "24h" or
	// "168h" (see GracePeriods).
	Grace string
	// FormToken makes the form single-use as for Create; "" for none.
	FormToken string
	// EndWhenQuiet ends the grace period early once the old key has had
	// no request for QuietPeriod (see EndQuietGraces). Only with a grace
	// period longer than QuietPeriod.
	EndWhenQuiet bool
}

// QuietFieldMessage is why EndWhenQuiet is refused with a short grace
// period.
const QuietFieldMessage = "Ending the grace period once the old key has been quiet for an hour needs a longer grace period: choose 24 hours or 7 days, or leave it unticked."

// Rotate makes a new key with the settings of key id; the old key keeps
// working for grace ("0", "1h", "24h" or "168h") and then answers expired.
// It is RotateWith without the quiet-hour rule.
func (s *Service) Rotate(ctx context.Context, orgID, id, grace, formToken string, actor audit.Actor) (Created, Key, error) {
	return s.RotateWith(ctx, orgID, id, Rotation{Grace: grace, FormToken: formToken}, actor)
}

// RotateWith makes a new key with the settings of key id; the old key
// keeps working for r.Grace and then answers expired, or earlier once it
// was quiet for an hour when r.EndWhenQuiet. Rotations do not count
// against the limit. Admins only: the caller checks the role. Returns the
// new key with its secret and the old key as it now is; NotFound; Invalid
// naming the field grace for a bad grace, or end_when_quiet when the rule
// is asked with a grace period of an hour or less; ErrAlreadyCreated for a
// used form token; Conflict for a key that is revoked, expired or already
// rotated.
func (s *Service) RotateWith(ctx context.Context, orgID, id string, r Rotation, actor audit.Actor) (Created, Key, error) {
	grace, formToken := r.Grace, r.FormToken
	period, ok := GracePeriods[grace]
	if !ok {
		return Created{}, Key{}, apperr.InvalidFields(map[string]string{"grace": "Choose when the old key stops working."})
	}
	if r.EndWhenQuiet && period <= QuietPeriod {
		return Created{}, Key{}, apperr.InvalidFields(map[string]string{"end_when_quiet": QuietFieldMessage})
	}
	now := s.now().UTC()
	var created Created
	var old Key
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		if err := s.lockOrg(tx, orgID); err != nil {
			return err
		}
		k, err := s.get(tx, orgID, id)
		if err != nil {
			return err
		}
		if err := formTokenUnused(tx, orgID, formToken); err != nil {
			return err
		}
		if err := CanRotate(k, now); err != nil {
			return err
		}
		rules, err := s.Rules(k.Product)
		if err != nil {
			return apperr.New(apperr.Conflict, "This key's product %q no longer exists; it cannot be rotated.", k.Product)
		}
		if err := s.holdFormat(tx, rules); err != nil {
			return err
		}
		set := Settings{
			Description: k.Description, Kind: k.Kind, Environment: k.Environment, Scopes: k.Scopes,
			Domains: k.Domains, IPs: k.IPs, ExpiresAt: k.ExpiresAt,
			RateLimitPerMinute: k.RateLimitPerMinute, BlockMinutes: k.BlockMinutes,
			Quota: k.QuotaSpec(), ReportOnly: k.ReportOnly(), quotaID: new(k.QuotaSubject()),
		}
		// The new key lives within the organization's maximum lifetime:
		// an expiry beyond it (or none) is brought to it.
		days, err := maxLifetime(tx, orgID)
		if err != nil {
			return err
		}
		capped := ""
		if checkLifetime(set.ExpiresAt, days, now) != nil {
			end := now.Add(time.Duration(days) * 24 * time.Hour).Truncate(time.Second)
			set.ExpiresAt = &end
			capped = fmt.Sprintf("; the new key expires on %s, within the maximum key lifetime of %d days", ExpiryDate(end), days)
		}
		c, err := s.insert(tx, orgID, rules, set, formToken, &k.ID, actor, now)
		if err != nil {
			return err
		}
		deadline := now.Add(period)
		upd := map[string]any{"replaced_by_id": c.Key.ID, "grace_until": deadline, "updated_at": now}
		var quietFrom *time.Time
		if r.EndWhenQuiet {
			quietFrom = &now
			upd["grace_quiet_from"] = now
		}
		res := tx.Model(&Key{}).Where("org_id = ? AND id = ? AND replaced_by_id IS NULL", orgID, k.ID).Updates(upd)
		if res.Error != nil {
			return fmt.Errorf("apikey: rotate: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.Conflict, "This key was rotated meanwhile.")
		}
		k.ReplacedByID, k.GraceUntil, k.GraceQuietFrom, k.UpdatedAt = &c.Key.ID, &deadline, quietFrom, now
		created, old = c, k
		if err := s.recordChange(tx, k.KeyHash, now); err != nil {
			return err
		}
		s.announce(ctx, c.Key.KeyHash, k.KeyHash)
		if err := s.emit(ctx, audit.KeyRotated, k, now, actor); err != nil {
			return err
		}
		stops := graceWords(period)
		if r.EndWhenQuiet {
			stops += ", or once it has had no request for an hour"
		}
		return audit.Record(ctx, tx, now, orgID, actor, audit.KeyRotated, "api_key", k.ID,
			fmt.Sprintf("%s rotated %s (%s) to %s; the old key stops %s%s", actor.Name(), k.Hint, k.Description, c.Key.Hint, stops, capped))
	})
	if err != nil {
		return Created{}, Key{}, err
	}
	return created, old, nil
}

// CanRotate returns nil when key k may be rotated at now, else Conflict
// with the reason: already rotated, revoked or expired.
func CanRotate(k Key, now time.Time) error {
	switch {
	case k.ReplacedByID != nil:
		return apperr.New(apperr.Conflict, "This key was already rotated; rotate its successor instead.")
	case !k.Editable(now):
		return apperr.New(apperr.Conflict, "This key is %s and cannot be rotated.", k.StatusAt(now))
	}
	return nil
}

func graceWords(d time.Duration) string {
	switch d {
	case 0:
		return "now"
	case 7 * 24 * time.Hour:
		return "in 7 days"
	}
	return "in " + strings.TrimSuffix(d.String(), "0m0s")
}
