package usage

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"keyplane/internal/store"
)

// pruneBatch is how many rows one DELETE removes at most, so pruning a large
// backlog never holds a long lock. Tests lower it.
var pruneBatch = 5000

// Prune deletes the usage_hourly and usage_key_hours rows whose hour is
// before olderThan and the usage_daily and usage_key_days rows of the UTC
// days that ended by then, in batches, and returns how many rows it
// deleted.
func Prune(ctx context.Context, db *store.DB, olderThan time.Time) (int64, error) {
	var total int64
	for _, t := range []struct {
		table, column string
		before        time.Time
	}{
		{"usage_hourly", "hour", olderThan.UTC()},
		{"usage_key_hours", "hour", olderThan.UTC()},
		{"usage_daily", "day", Day.start(olderThan)},
		{"usage_key_days", "day", Day.start(olderThan)},
	} {
		n, err := prune(ctx, db, t.table, t.column, t.before)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// PruneSources deletes the usage_sources rows of the UTC days that ended
// by olderThan, in batches, and returns how many it deleted.
func PruneSources(ctx context.Context, db *store.DB, olderThan time.Time) (int64, error) {
	return prune(ctx, db, "usage_sources", "day", Day.start(olderThan))
}

func prune(ctx context.Context, db *store.DB, table, column string, before time.Time) (int64, error) {
	rowID := "rowid"
	if db.Dialect == store.Postgres {
		rowID = "ctid"
	}
	q := "DELETE FROM " + table + " WHERE " + rowID + " IN (SELECT " + rowID +
		" FROM " + table + " WHERE " + column + " < ? LIMIT ?)"
	var total int64
	for {
		res := db.Conn(ctx).Exec(q, before, pruneBatch)
		if res.Error != nil {
			return total, fmt.Errorf("usage: prune %s: %w", table, res.Error)
		}
		total += res.RowsAffected
		if res.RowsAffected < int64(pruneBatch) {
			return total, nil
		}
	}
}

// RunRetention deletes usage older than retention (measured from now()) at
// once and then every every, until ctx ends. Failures are logged and retried
// at the next tick.
func RunRetention(ctx context.Context, db *store.DB, retention time.Duration, now func() time.Time, every time.Duration, logger *slog.Logger) {
	if logger == nil {
		logger = slog.Default()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := PruneSources(ctx, db, now().Add(-min(retention, SourcesKeptFor))); err != nil && ctx.Err() == nil {
			logger.Warn("usage: pruning key sources failed; will retry", "err", err)
		} else if n > 0 {
			logger.Info("usage: pruned old key sources", "rows", n)
		}
		if n, err := Prune(ctx, db, now().Add(-retention)); err != nil && ctx.Err() == nil {
			logger.Warn("usage: retention failed; will retry", "err", err)
		} else if n > 0 {
			logger.Info("usage: pruned old usage", "rows", n, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
