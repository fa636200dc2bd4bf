package lifecycle

import (
	"context"
	"fmt"
	"time"

	"keyplane/internal/apikey"
)

// IdleData is the data of key.idle: the key, since when it is unused (its
// last use, or its creation when it never was), the organization's idle
// period and whether the idle policy disabled it.
type IdleData struct {
	apikey.EventData
	IdleSince time.Time `json:"idle_since"`
	IdleDays  int       `json:"idle_days"`
	Disabled  bool      `json:"disabled"`
}

// idleCandidate is a working key unused for its organization's idle
// period, not yet announced for this stretch of idleness.
type idleCandidate struct {
	ID          string
	OrgID       string
	IdleDisable bool
}

// idle announces the keys that became idle by now, per idle period in use,
// and disables those of organizations that ask for it.
func (j *Job) idle(ctx context.Context, now time.Time, res *Result) error {
	var periods []int
	err := j.bounded(ctx, func(ctx context.Context) error {
		return j.db.Conn(ctx).Table("organizations").Where("idle_days IS NOT NULL").Distinct("idle_days").Order("idle_days").Pluck("idle_days", &periods).Error
	})
	if err != nil {
		return fmt.Errorf("lifecycle: read idle periods: %w", err)
	}
	var first error
	for _, days := range periods {
		if err := j.idleFor(ctx, days, now, res); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// idleFor handles the keys of organizations whose idle period is days.
func (j *Job) idleFor(ctx context.Context, days int, now time.Time, res *Result) error {
	threshold := now.Add(-time.Duration(days) * 24 * time.Hour)
	var found []idleCandidate
	err := j.bounded(ctx, func(ctx context.Context) error {
		return j.db.Conn(ctx).Table("api_keys AS k").
			Select("k.id, k.org_id, o.idle_disable").
			Joins("JOIN organizations o ON o.id = k.org_id").
			Where("o.idle_days = ?", days).
			Where("k.revoked_at IS NULL AND k.disabled_at IS NULL AND k.replaced_by_id IS NULL").
			Where("(k.expires_at IS NULL OR k.expires_at > ?) AND (k.grace_until IS NULL OR k.grace_until > ?)", now, now).
			Where("COALESCE(k.last_used_at, k.created_at) <= ?", threshold).
			Where("NOT EXISTS (SELECT 1 FROM key_reminders r WHERE r.key_id = k.id AND r.kind = ? AND r.due_at >= COALESCE(k.last_used_at, k.created_at))", KindIdle).
			Order("k.id").Limit(j.batch).Scan(&found).Error
	})
	if err != nil {
		return fmt.Errorf("lifecycle: read idle keys: %w", err)
	}
	var first error
	for _, c := range found {
		var announced, disabled bool
		err := j.bounded(ctx, func(ctx context.Context) error {
			return j.db.WithTx(ctx, func(ctx context.Context) error {
				announced, disabled = false, false
				// Read again inside the transaction: a request may have
				// used the key since.
				k, err := j.keys.Get(ctx, c.OrgID, c.ID)
				if err != nil || !apikey.IsIdle(k, days, now) {
					return err
				}
				since := k.IdleSince()
				ok, err := j.claim(ctx, k, KindIdle, since, now)
				if err != nil || !ok {
					return err
				}
				announced = true
				data := IdleData{IdleSince: since.UTC(), IdleDays: days}
				if c.IdleDisable {
					after, ok, err := j.keys.DisableIdle(ctx, c.OrgID, c.ID, days)
					if err != nil {
						return err
					}
					if ok {
						k, disabled = after, true
					}
				}
				data.EventData, data.Disabled = apikey.NewEventData(k, now, apikey.IdlePolicy), disabled
				return j.enqueue(ctx, k.OrgID, EventIdle, data)
			})
		})
		switch {
		case err != nil && first == nil:
			first = err
		case err == nil && announced:
			res.Idle++
			if disabled {
				res.Disabled++
			}
		}
	}
	return first
}
