package usage

import (
	"context"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Daily is one row of usage_daily: the requests of a key on one UTC day
// with one outcome, whatever the scope. Write keeps it equal to the sum of
// the day's usage_hourly rows.
type Daily struct {
	KeyID   string `gorm:"primaryKey"`
	OrgID   string
	Day     time.Time `gorm:"primaryKey"`
	Outcome string    `gorm:"primaryKey"`
	Count   int64
}

// TableName maps Daily to its table.
func (Daily) TableName() string { return "usage_daily" }

// KeyHour is one row of usage_key_hours: the requests of a key in one UTC
// hour, whatever the outcome and scope. Write keeps it equal to the sum of
// the hour's usage_hourly rows.
type KeyHour struct {
	KeyID string `gorm:"primaryKey"`
	OrgID string
	Hour  time.Time `gorm:"primaryKey"`
	Count int64
}

// TableName maps KeyHour to its table.
func (KeyHour) TableName() string { return "usage_key_hours" }

// Write adds rows to usage_hourly and their sums to usage_daily and
// usage_key_hours, in one transaction. Counts add up: writing the same hour
// twice, in one call or two, counts both. Rows are written in primary-key
// order, so writers on other replicas take their row locks in the same
// order rather than waiting on each other in a cycle.
func Write(ctx context.Context, db *gorm.DB, rows []Hourly) error {
	if len(rows) == 0 {
		return nil
	}
	hourly := append([]Hourly(nil), rows...)
	for i := range hourly {
		hourly[i].Hour = hourly[i].Hour.UTC().Truncate(time.Hour)
	}
	sort.Slice(hourly, func(i, j int) bool {
		a, b := hourly[i], hourly[j]
		if a.KeyID != b.KeyID {
			return a.KeyID < b.KeyID
		}
		if !a.Hour.Equal(b.Hour) {
			return a.Hour.Before(b.Hour)
		}
		if a.Outcome != b.Outcome {
			return a.Outcome < b.Outcome
		}
		return a.Scope < b.Scope
	})
	// Rows with the same primary key must be one row: a batched upsert may
	// not touch a row twice on PostgreSQL.
	merged := hourly[:0]
	for _, h := range hourly {
		if n := len(merged); n > 0 && sameHour(merged[n-1], h) {
			merged[n-1].Count += h.Count
			continue
		}
		merged = append(merged, h)
	}
	hourly = merged
	daily := make([]Daily, len(hourly))
	var keyHours []KeyHour
	for i, h := range hourly {
		daily[i] = Daily{KeyID: h.KeyID, OrgID: h.OrgID, Day: Day.start(h.Hour), Outcome: h.Outcome, Count: h.Count}
		// hourly is sorted by key and hour: a key's hour is one run.
		if n := len(keyHours); n > 0 && keyHours[n-1].KeyID == h.KeyID && keyHours[n-1].Hour.Equal(h.Hour) {
			keyHours[n-1].Count += h.Count
			continue
		}
		keyHours = append(keyHours, KeyHour{KeyID: h.KeyID, OrgID: h.OrgID, Hour: h.Hour, Count: h.Count})
	}
	daily = mergeDaily(daily)
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		err := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "key_id"}, {Name: "hour"}, {Name: "outcome"}, {Name: "scope"}},
			DoUpdates: clause.Assignments(map[string]any{"count": gorm.Expr("usage_hourly.count + excluded.count")}),
		}).CreateInBatches(hourly, 500).Error
		if err != nil {
			return fmt.Errorf("usage: write hourly counts: %w", err)
		}
		err = tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "key_id"}, {Name: "day"}, {Name: "outcome"}},
			DoUpdates: clause.Assignments(map[string]any{"count": gorm.Expr("usage_daily.count + excluded.count")}),
		}).CreateInBatches(daily, 500).Error
		if err != nil {
			return fmt.Errorf("usage: write daily counts: %w", err)
		}
		err = tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "key_id"}, {Name: "hour"}},
			DoUpdates: clause.Assignments(map[string]any{"count": gorm.Expr("usage_key_hours.count + excluded.count")}),
		}).CreateInBatches(keyHours, 500).Error
		if err != nil {
			return fmt.Errorf("usage: write key hours: %w", err)
		}
		return nil
	})
}

func sameHour(a, b Hourly) bool {
	return a.KeyID == b.KeyID && a.Hour.Equal(b.Hour) && a.Outcome == b.Outcome && a.Scope == b.Scope
}

// mergeDaily sums rows with the same key, day and outcome and returns them
// in that order.
func mergeDaily(rows []Daily) []Daily {
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.KeyID != b.KeyID {
			return a.KeyID < b.KeyID
		}
		if !a.Day.Equal(b.Day) {
			return a.Day.Before(b.Day)
		}
		return a.Outcome < b.Outcome
	})
	out := rows[:0]
	for _, r := range rows {
		if n := len(out); n > 0 && out[n-1].KeyID == r.KeyID && out[n-1].Day.Equal(r.Day) && out[n-1].Outcome == r.Outcome {
			out[n-1].Count += r.Count
			continue
		}
		out = append(out, r)
	}
	return out
}
