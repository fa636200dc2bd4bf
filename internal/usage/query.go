package usage

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Last24Hours is the range of the 24 hour buckets ending with the one
// holding now: what every "last 24 hours" of the dashboard counts.
func Last24Hours(now time.Time) (from, to time.Time) {
	to = Hour.start(now).Add(time.Hour)
	return to.Add(-24 * time.Hour), to
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

// Activity returns the recent traffic of the keys of orgID that had any,
// in one statement whatever the number of keys; a key missing from the map
// had none (its zero value says so). Today counts all of the UTC day; the
// last 24 hours ignore hours after the one holding now (another server's
// clock ahead).
func (r *Reader) Activity(ctx context.Context, orgID string, now time.Time) (map[string]KeyActivity, error) {
	out := map[string]KeyActivity{}
	today := Day.start(now)
	first := today.AddDate(0, 0, 1-ActivityDays)
	since, end := Last24Hours(now)
	// One statement: the days from the key-day roll-up, one row per key and
	// day; the last 24 hours from the key-hour roll-up, one row per key.
	// Filtering on org_id and time only follows the (org_id, time) indexes
	// and keeps the statement the same size for any number of keys.
	rows, err := r.db.Conn(ctx).Raw(
		"SELECT key_id, day AS at, count AS total FROM usage_key_days WHERE org_id = ? AND day >= ? AND day < ? "+
			"UNION ALL "+
			"SELECT key_id, NULL AS at, SUM(count) AS total FROM usage_key_hours WHERE org_id = ? AND hour >= ? AND hour < ? GROUP BY key_id",
		orgID, first, end, orgID, since, end).Rows()
	if err != nil {
		return nil, fmt.Errorf("usage: activity: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var at sql.NullTime
		var total int64
		if err := rows.Scan(&id, &at, &total); err != nil {
			return nil, fmt.Errorf("usage: activity: %w", err)
		}
		a := out[id]
		if !at.Valid {
			a.Last24h += total
		} else if i := int(Day.start(at.Time).Sub(first) / (24 * time.Hour)); i >= 0 && i < ActivityDays {
			a.Days[i] += total
		}
		out[id] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage: activity: %w", err)
	}
	return out, nil
}
