package usage

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"keyplane/internal/store"
)

// Spent is one row of quota_spent: what a quota (a key's quota id, or an
// organization's id) spent in the period starting at PeriodStart.
type Spent struct {
	SubjectID   string `gorm:"primaryKey"`
	OrgID       string
	PeriodStart time.Time `gorm:"primaryKey"`
	Spent       int64
	UpdatedAt   time.Time
}

// TableName maps Spent to its table.
func (Spent) TableName() string { return "quota_spent" }

// spendKey is one quota's period.
type spendKey struct {
	subject, orgID string
	period         int64 // Unix seconds of the period's start
}

// Spend counts amount spent by quota subjectID (of orgID) in the period
// starting at periodStart. Like Record, it only adds in memory; the
// amounts reach quota_spent with the usage counts, and a spill file when
// the database cannot take them at shutdown.
func (r *Recorder) Spend(subjectID, orgID string, periodStart time.Time, amount int64) {
	if amount <= 0 {
		return
	}
	k := spendKey{subject: subjectID, orgID: orgID, period: periodStart.Unix()}
	s := &r.stripes[rand.Uint32()%stripeCount]
	s.mu.Lock()
	s.spent[k] += amount
	s.mu.Unlock()
}

// writeSpent adds rows' amounts to quota_spent inside the transaction in
// ctx, in primary-key order so replicas flushing at once lock rows in the
// same order.
func writeSpent(ctx context.Context, db *store.DB, spent map[spendKey]int64, now time.Time) error {
	if len(spent) == 0 {
		return nil
	}
	rows := make([]Spent, 0, len(spent))
	for k, n := range spent {
		rows = append(rows, Spent{SubjectID: k.subject, OrgID: k.orgID, PeriodStart: time.Unix(k.period, 0).UTC(), Spent: n, UpdatedAt: now})
	}
	rows = sumByKey(rows, func(a, b Spent) int {
		return cmp.Or(strings.Compare(a.SubjectID, b.SubjectID), a.PeriodStart.Compare(b.PeriodStart))
	}, func(dst *Spent, src Spent) { dst.Spent += src.Spent })
	err := db.Conn(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "subject_id"}, {Name: "period_start"}},
		DoUpdates: clause.Assignments(map[string]any{
			"spent": gorm.Expr("quota_spent.spent + excluded.spent"), "updated_at": gorm.Expr("excluded.updated_at"),
		}),
	}).CreateInBatches(rows, 500).Error
	if err != nil {
		return fmt.Errorf("usage: write quota spent: %w", err)
	}
	return nil
}
