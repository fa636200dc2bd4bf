package usage

import (
	"context"
	"fmt"
	"time"

	"keyplane/internal/store"
)

// last24hStart is the start of the first of the 24 hour buckets ending with
// the one holding now.
func last24hStart(now time.Time) time.Time {
	return Hour.start(now).Add(-23 * time.Hour)
}

// ActivityDays is the number of UTC days in KeyActivity.Days.
const ActivityDays = 7

// KeyActivity is a key's recent traffic, whatever the outcome.
type KeyActivity struct {
	// Days are the requests per UTC day, the oldest first and today last.
	Days [ActivityDays]int64
	// Last24h are the requests of the 24 hour buckets ending with the
	// current one.
	Last24h int64
}

// Activity returns the recent traffic of each key of keyIDs that belongs to
// orgID, with one read of usage_hourly over the last ActivityDays UTC days
// whatever the number of keys. Every id of keyIDs has an entry: zeroes for
// a key without traffic or of another organization. Hours after the one
// holding now are ignored.
func Activity(ctx context.Context, db *store.DB, orgID string, keyIDs []string, now time.Time) (map[string]KeyActivity, error) {
	out := make(map[string]KeyActivity, len(keyIDs))
	for _, id := range keyIDs {
		out[id] = KeyActivity{}
	}
	if len(keyIDs) == 0 {
		return out, nil
	}
	today := Day.start(now)
	first := today.AddDate(0, 0, 1-ActivityDays)
	end := Hour.start(now).Add(time.Hour)
	since := last24hStart(now)
	var rows []struct {
		KeyID string
		At    time.Time
		Total int64
	}
	// Filtering on org_id and hour only follows the (org_id, hour) index
	// and keeps the statement the same size for any number of keys; the
	// rows of keys not asked for are dropped below.
	err := db.WithContext(ctx).Model(&Hourly{}).
		Select("key_id, hour AS at, SUM(count) AS total").
		Where("org_id = ? AND hour >= ? AND hour < ?", orgID, first, end).
		Group("key_id, hour").
		Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("usage: activity: %w", err)
	}
	for _, r := range rows {
		a, ok := out[r.KeyID]
		if !ok {
			continue
		}
		at := r.At.UTC()
		if i := int(Day.start(at).Sub(first) / (24 * time.Hour)); i >= 0 && i < ActivityDays {
			a.Days[i] += r.Total
		}
		if !at.Before(since) {
			a.Last24h += r.Total
		}
		out[r.KeyID] = a
	}
	return out, nil
}
