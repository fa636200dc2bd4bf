package usage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"keyplane/internal/store"
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
func Activity(ctx context.Context, db *store.DB, orgID string, now time.Time) (map[string]KeyActivity, error) {
	out := map[string]KeyActivity{}
	today := Day.start(now)
	first := today.AddDate(0, 0, 1-ActivityDays)
	since, end := Last24Hours(now)
	// One statement and one pass: the days come from the daily roll-up,
	// the last 24 hours from the key-hour roll-up, each row spread into a column per
	// day and one for the 24 hours, summed per key; so the database hands
	// back one row per busy key. Filtering on org_id and time only follows
	// the (org_id, time) indexes and keeps the statement the same size for
	// any number of keys.
	var days, zeros strings.Builder
	args := make([]any, 0, ActivityDays+6)
	for i := range ActivityDays {
		fmt.Fprintf(&days, "CASE WHEN day = ? THEN count ELSE 0 END AS d%d, ", i)
		fmt.Fprintf(&zeros, "0 AS d%d, ", i)
		args = append(args, first.AddDate(0, 0, i))
	}
	var sums strings.Builder
	for i := range ActivityDays {
		fmt.Fprintf(&sums, "SUM(d%d) AS d%d, ", i, i)
	}
	args = append(args, orgID, first, end, orgID, since, end)
	q := "SELECT key_id, " + sums.String() + "SUM(h) AS h FROM (" +
		"SELECT key_id, " + days.String() + "0 AS h FROM usage_daily WHERE org_id = ? AND day >= ? AND day < ? " +
		"UNION ALL " +
		"SELECT key_id, " + zeros.String() + "count AS h FROM usage_key_hours WHERE org_id = ? AND hour >= ? AND hour < ?" +
		") t GROUP BY key_id"
	rows, err := db.WithContext(ctx).Raw(q, args...).Rows()
	if err != nil {
		return nil, fmt.Errorf("usage: activity: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var a KeyActivity
		dest := []any{&id}
		for i := range a.Days {
			dest = append(dest, &a.Days[i])
		}
		if err := rows.Scan(append(dest, &a.Last24h)...); err != nil {
			return nil, fmt.Errorf("usage: activity: %w", err)
		}
		out[id] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage: activity: %w", err)
	}
	return out, nil
}
