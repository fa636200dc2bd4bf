package lifecycle

import (
	"context"
	"fmt"
	"time"

	"keyplane/internal/apikey"
)

// ExpiryData is the data of key.expiring and key.expired: the key as every
// key event carries it (expires_at is its deadline: its expiry, or the end
// of its rotation grace period) and, for key.expiring, which reminder it
// is.
type ExpiryData struct {
	apikey.EventData
	// Within is "7d" or "1d" for key.expiring; absent for key.expired.
	Within string `json:"within,omitempty"`
}

// expiryKind says which reminder key k is due at now, about its deadline
// due: "" for none. Keys that stopped within ExpiredLookback are expired
// (a rotated key reaching its grace deadline too); working keys that stop
// within 1 day or 7 days are expiring. Disabled keys and keys in a
// rotation's grace period get no expiring reminder: nothing of theirs is
// about to stop that someone did not choose.
func expiryKind(k apikey.Key, now time.Time) (kind string, due time.Time) {
	d := k.Deadline()
	if d == nil || k.RevokedAt != nil {
		return "", time.Time{}
	}
	left := d.Sub(now)
	switch {
	case left <= 0:
		if -left > ExpiredLookback {
			return "", time.Time{}
		}
		return KindExpired, *d
	case k.ReplacedByID != nil || k.DisabledAt != nil:
		return "", time.Time{}
	case left <= 24*time.Hour:
		return KindExpiring1d, *d
	case left <= apikey.ExpiringWithin:
		return KindExpiring7d, *d
	}
	return "", time.Time{}
}

// expiries sends the expiry reminders due at now.
func (j *Job) expiries(ctx context.Context, now time.Time, res *Result) error {
	lo, hi := now.Add(-ExpiredLookback), now.Add(apikey.ExpiringWithin)
	var keys []apikey.Key
	err := j.bounded(ctx, func(ctx context.Context) error {
		return j.db.Conn(ctx).Where("revoked_at IS NULL AND ((expires_at > ? AND expires_at <= ?) OR (grace_until > ? AND grace_until <= ?))", lo, hi, lo, hi).
			Order("id").Find(&keys).Error
	})
	if err != nil {
		return fmt.Errorf("lifecycle: read deadlines: %w", err)
	}
	if len(keys) == 0 {
		return nil
	}
	sent, err := j.sent(ctx, keys)
	if err != nil {
		return err
	}
	var first error
	for _, k := range keys {
		kind, due := expiryKind(k, now)
		if kind == "" || sent[sentKey{k.ID, kind, due.UnixNano()}] {
			continue
		}
		data := ExpiryData{EventData: apikey.NewEventData(k, now, Reminders)}
		typ, count := EventExpiring, &res.Expiring
		switch kind {
		case KindExpired:
			typ, count = EventExpired, &res.Expired
		case KindExpiring1d:
			data.Within = "1d"
		default:
			data.Within = "7d"
		}
		var queued bool
		err := j.bounded(ctx, func(ctx context.Context) error {
			return j.db.WithTx(ctx, func(ctx context.Context) error {
				ok, err := j.claim(ctx, k, kind, due, now)
				if err != nil || !ok {
					return err
				}
				queued = true
				return j.enqueue(ctx, k.OrgID, typ, data)
			})
		})
		if err == nil && queued {
			*count++
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// sentKey names a reminder: key id, kind and deadline.
type sentKey struct {
	id, kind string
	due      int64 // Unix nanoseconds
}

// sent returns the reminders already recorded for keys, by key, kind and
// deadline (UTC), so a run skips them without a transaction each.
func (j *Job) sent(ctx context.Context, keys []apikey.Key) (map[sentKey]bool, error) {
	out := map[sentKey]bool{}
	const chunk = 500
	for i := 0; i < len(keys); i += chunk {
		ids := make([]string, 0, chunk)
		for _, k := range keys[i:min(i+chunk, len(keys))] {
			ids = append(ids, k.ID)
		}
		var rows []reminder
		err := j.bounded(ctx, func(ctx context.Context) error {
			return j.db.Conn(ctx).Table("key_reminders").Select("key_id, kind, due_at").Where("key_id IN ? AND kind <> ?", ids, KindIdle).Find(&rows).Error
		})
		if err != nil {
			return nil, fmt.Errorf("lifecycle: read reminders: %w", err)
		}
		for _, r := range rows {
			out[sentKey{r.KeyID, r.Kind, r.DueAt.UnixNano()}] = true
		}
	}
	return out, nil
}
