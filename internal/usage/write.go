package usage

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"keyplane/internal/store"
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

// KeyDay is one row of usage_key_days: the requests of a key on one UTC
// day, whatever the outcome and scope.
type KeyDay struct {
	KeyID string `gorm:"primaryKey"`
	OrgID string
	Day   time.Time `gorm:"primaryKey"`
	Count int64
}

// TableName maps KeyDay to its table.
func (KeyDay) TableName() string { return "usage_key_days" }

// Write adds rows to usage_hourly and their sums to the roll-ups
// usage_daily, usage_key_hours and usage_key_days, in one transaction (the
// caller's, when ctx carries one). Counts add up: writing the same hour
// twice, in one call or two, counts both. Rows are written in primary-key
// order, so writers on other replicas take their row locks in the same
// order rather than waiting on each other in a cycle.
func Write(ctx context.Context, db *store.DB, rows []Hourly) error {
	if len(rows) == 0 {
		return nil
	}
	hourly := make([]Hourly, len(rows))
	daily := make([]Daily, len(rows))
	keyHours := make([]KeyHour, len(rows))
	keyDays := make([]KeyDay, len(rows))
	for i, r := range rows {
		r.Hour = r.Hour.UTC().Truncate(time.Hour)
		hourly[i] = r
		daily[i] = Daily{KeyID: r.KeyID, OrgID: r.OrgID, Day: Day.start(r.Hour), Outcome: r.Outcome, Count: r.Count}
		keyHours[i] = KeyHour{KeyID: r.KeyID, OrgID: r.OrgID, Hour: r.Hour, Count: r.Count}
		keyDays[i] = KeyDay{KeyID: r.KeyID, OrgID: r.OrgID, Day: daily[i].Day, Count: r.Count}
	}
	// Each table gets one row per primary key (a batched upsert may not
	// touch a row twice on PostgreSQL), in primary-key order.
	hourly = sumByKey(hourly, func(a, b Hourly) int {
		return cmp.Or(strings.Compare(a.KeyID, b.KeyID), a.Hour.Compare(b.Hour),
			strings.Compare(a.Outcome, b.Outcome), strings.Compare(a.Scope, b.Scope))
	}, func(dst *Hourly, src Hourly) { dst.Count += src.Count })
	daily = sumByKey(daily, func(a, b Daily) int {
		return cmp.Or(strings.Compare(a.KeyID, b.KeyID), a.Day.Compare(b.Day), strings.Compare(a.Outcome, b.Outcome))
	}, func(dst *Daily, src Daily) { dst.Count += src.Count })
	keyHours = sumByKey(keyHours, func(a, b KeyHour) int {
		return cmp.Or(strings.Compare(a.KeyID, b.KeyID), a.Hour.Compare(b.Hour))
	}, func(dst *KeyHour, src KeyHour) { dst.Count += src.Count })
	keyDays = sumByKey(keyDays, func(a, b KeyDay) int {
		return cmp.Or(strings.Compare(a.KeyID, b.KeyID), a.Day.Compare(b.Day))
	}, func(dst *KeyDay, src KeyDay) { dst.Count += src.Count })
	return db.WithTx(ctx, func(ctx context.Context) error {
		tx := db.Conn(ctx)
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
		err = tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "key_id"}, {Name: "day"}},
			DoUpdates: clause.Assignments(map[string]any{"count": gorm.Expr("usage_key_days.count + excluded.count")}),
		}).CreateInBatches(keyDays, 500).Error
		if err != nil {
			return fmt.Errorf("usage: write key days: %w", err)
		}
		return nil
	})
}

// sumByKey sorts rows by compare and folds the rows it finds equal into
// the first of them with add.
func sumByKey[T any](rows []T, compare func(a, b T) int, add func(dst *T, src T)) []T {
	slices.SortFunc(rows, compare)
	out := rows[:0]
	for _, r := range rows {
		if n := len(out); n > 0 && compare(out[n-1], r) == 0 {
			add(&out[n-1], r)
			continue
		}
		out = append(out, r)
	}
	return out
}
