package usage

import (
	"context"
	"fmt"
	"time"

	"keyplane/internal/store"
)

// Requests24h returns, per key of orgID, the requests counted in the last 24
// hour buckets (the current one included), whatever their outcome.
func Requests24h(ctx context.Context, db *store.DB, orgID string, now time.Time) (map[string]int64, error) {
	since := now.UTC().Truncate(time.Hour).Add(-23 * time.Hour)
	var rows []struct {
		KeyID string
		Total int64
	}
	err := db.WithContext(ctx).Model(&Hourly{}).
		Select("key_id, SUM(count) AS total").
		Where("org_id = ? AND hour >= ?", orgID, since).
		Group("key_id").
		Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("usage: requests in 24h: %w", err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.KeyID] = r.Total
	}
	return out, nil
}
