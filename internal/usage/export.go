package usage

import (
	"context"
	"fmt"
	"time"
)

// ExportRow is one line of a usage export: the requests of one key with
// one outcome ("allowed" or an error code) in the bucket starting at Start
// (UTC).
type ExportRow struct {
	Start       time.Time
	KeyID       string
	Description string
	Outcome     string
	Count       int64
}

// exportDeadline bounds an export, and so how long it holds a database
// connection.
const exportDeadline = 30 * time.Second

// Export calls each with the requests of the keys of orgID (only of keyID
// when it is not "") per bucket, key and outcome, from the bucket holding
// from up to to (excluded): oldest bucket first, then by key ID and
// outcome. Buckets, keys and outcomes without requests have no row; a key
// of another organization has none either. Rows are read as each is
// called, so an export of many keys is never held in memory whole; an
// error from each stops the export and is returned as is. Hours are read
// from usage_hourly (its scopes summed), days from usage_daily.
func (r *Reader) Export(ctx context.Context, orgID, keyID string, from, to time.Time, bucket Bucket, each func(ExportRow) error) error {
	first, end := bucket.start(from), to.UTC()
	if !first.Before(end) {
		return nil
	}
	table, col := "usage_hourly", "hour"
	if bucket == Day {
		table, col = "usage_daily", "day"
	}
	// One statement, the same on both dialects: the usage rows of the
	// organization in the window (its (org_id, time) index), each named
	// by its key, which must be of the same organization.
	q := "SELECT u." + col + " AS at, u.key_id, k.description, u.outcome, SUM(u.count) AS total " +
		"FROM " + table + " u JOIN api_keys k ON k.id = u.key_id AND k.org_id = ? " +
		"WHERE u.org_id = ? AND u." + col + " >= ? AND u." + col + " < ?"
	args := []any{orgID, orgID, first, end}
	if keyID != "" {
		q += " AND u.key_id = ?"
		args = append(args, keyID)
	}
	q += " GROUP BY u." + col + ", u.key_id, k.description, u.outcome ORDER BY u." + col + ", u.key_id, u.outcome"
	// The rows hold a database connection while each writes them to the
	// client: a deadline frees it from a client that reads slowly.
	ctx, cancel := context.WithTimeout(ctx, exportDeadline)
	defer cancel()
	rows, err := r.db.Conn(ctx).Raw(q, args...).Rows()
	if err != nil {
		return fmt.Errorf("usage: export: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var row ExportRow
		if err := rows.Scan(&row.Start, &row.KeyID, &row.Description, &row.Outcome, &row.Count); err != nil {
			return fmt.Errorf("usage: export: %w", err)
		}
		row.Start = row.Start.UTC()
		if err := each(row); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("usage: export: %w", err)
	}
	return nil
}
