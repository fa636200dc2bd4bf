package lifecycle

import (
	"context"
	"fmt"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/quota"
)

// Quota events, each sent once per quota and period: low once LowAt of
// the allowance is spent, exhausted once nothing is left.
const (
	EventQuotaLow          = "key.quota_low"
	EventQuotaExhausted    = "key.quota_exhausted"
	EventOrgQuotaLow       = "org.quota_low"
	EventOrgQuotaExhausted = "org.quota_exhausted"

	noticeLow       = "low"
	noticeExhausted = "exhausted"
)

// QuotaLookback is how recent a quota's last spend must be for a run to
// look at it: amounts reach the database every few seconds, and a run
// every minute sees each change several times over.
const QuotaLookback = 10 * time.Minute

// QuotaStanding is a quota's period in a quota event.
type QuotaStanding struct {
	Limit       int64      `json:"limit"`
	Spent       int64      `json:"spent"`
	Remaining   int64      `json:"remaining"`
	PeriodStart time.Time  `json:"period_start"`
	Reset       *time.Time `json:"reset"`
}

// KeyQuotaData is the data of key.quota_low and key.quota_exhausted: the
// key as every key event carries it, and its quota's period.
type KeyQuotaData struct {
	apikey.EventData
	Quota QuotaStanding `json:"quota"`
}

// OrgQuotaData is the data of org.quota_low and org.quota_exhausted.
type OrgQuotaData struct {
	OrgID string        `json:"org_id"`
	Quota QuotaStanding `json:"quota"`
}

func standing(spec quota.Spec, start, end time.Time, spent int64) QuotaStanding {
	s := QuotaStanding{Limit: spec.Allowance(start), Spent: spent, Remaining: spec.Remaining(start, spent), PeriodStart: start.UTC()}
	if !end.IsZero() {
		e := end.UTC()
		s.Reset = &e
	}
	return s
}

// noticeOf is the notice a quota calls for once spent is spent: "" for
// none.
func noticeOf(s QuotaStanding) string {
	switch {
	case s.Remaining <= 0:
		return noticeExhausted
	case float64(s.Spent) >= quota.LowAt*float64(s.Limit):
		return noticeLow
	}
	return ""
}

type spentRow struct {
	SubjectID   string
	OrgID       string
	PeriodStart time.Time
	Spent       int64
}

// quotas sends the quota events due: for each quota spent in the last
// QuotaLookback, in its current period.
func (j *Job) quotas(ctx context.Context, now time.Time, res *Result) error {
	var rows []spentRow
	err := j.bounded(ctx, func(ctx context.Context) error {
		return j.db.Conn(ctx).Table("quota_spent").Select("subject_id, org_id, period_start, spent").
			Where("updated_at >= ?", now.Add(-QuotaLookback)).Order("subject_id").Find(&rows).Error
	})
	if err != nil {
		return fmt.Errorf("lifecycle: read quota amounts: %w", err)
	}
	var first error
	for _, r := range rows {
		if err := j.quotaNotice(ctx, r, now, res); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// quotaNotice sends the event row's quota calls for, if any and not sent.
func (j *Job) quotaNotice(ctx context.Context, r spentRow, now time.Time, res *Result) error {
	var (
		typ  string
		data any
		st   QuotaStanding
	)
	if r.SubjectID == r.OrgID {
		q, err := j.keys.OrgQuota(ctx, r.OrgID, now)
		if err != nil || q.State == nil || !q.State.PeriodStart.Equal(r.PeriodStart) {
			return err
		}
		st = standing(q.State.Spec, q.State.PeriodStart, q.State.Reset, r.Spent)
		data, typ = OrgQuotaData{OrgID: r.OrgID, Quota: st}, EventOrgQuotaLow
	} else {
		// The key the quota is counted for: the one that works now (a
		// rotation's new key rather than the old one in its grace period).
		var keys []apikey.Key
		err := j.bounded(ctx, func(ctx context.Context) error {
			return j.db.Conn(ctx).Where("org_id = ? AND (id = ? OR quota_id = ?) AND revoked_at IS NULL AND quota_kind IS NOT NULL",
				r.OrgID, r.SubjectID, r.SubjectID).Order("created_at DESC").Find(&keys).Error
		})
		if err != nil {
			return fmt.Errorf("lifecycle: read the key of quota %s: %w", r.SubjectID, err)
		}
		if len(keys) == 0 {
			return nil
		}
		k := keys[0]
		spec := k.QuotaSpec()
		start, end := spec.Period(now)
		if !start.Equal(r.PeriodStart) {
			return nil
		}
		st = standing(*spec, start, end, r.Spent)
		data, typ = KeyQuotaData{EventData: apikey.NewEventData(k, now, Reminders), Quota: st}, EventQuotaLow
	}
	notice := noticeOf(st)
	if notice == "" {
		return nil
	}
	if notice == noticeExhausted {
		typ = map[string]string{EventQuotaLow: EventQuotaExhausted, EventOrgQuotaLow: EventOrgQuotaExhausted}[typ]
	}
	var queued bool
	err := j.bounded(ctx, func(ctx context.Context) error {
		return j.db.WithTx(ctx, func(ctx context.Context) error {
			ok, err := j.claimQuota(ctx, r, notice, now)
			if err != nil || !ok {
				return err
			}
			// Spent straight past the low mark: low is not sent after.
			if notice == noticeExhausted {
				if _, err := j.claimQuota(ctx, r, noticeLow, now); err != nil {
					return err
				}
			}
			queued = true
			return j.enqueue(ctx, r.OrgID, typ, data)
		})
	})
	if err == nil && queued {
		res.Quota++
	}
	return err
}

// claimQuota records, inside the transaction ctx carries, that notice of
// row's quota and period is sent; false when it was already.
func (j *Job) claimQuota(ctx context.Context, r spentRow, notice string, now time.Time) (bool, error) {
	res := j.db.Conn(ctx).Exec("INSERT INTO quota_notices (subject_id, org_id, kind, period_start, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
		r.SubjectID, r.OrgID, notice, r.PeriodStart.UTC(), now)
	if res.Error != nil {
		return false, fmt.Errorf("lifecycle: claim quota %s of %s: %w", notice, r.SubjectID, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// pruneAfter is how long an amount is kept after its last spend before
// a run checks whether its period has ended; pruneBatch bounds the rows
// one run looks at.
const (
	pruneAfter = 48 * time.Hour
	pruneBatch = 1000
)

// pruneSpent deletes the amounts of periods that have ended (or of quotas
// that no longer exist): only the current period's amount counts, and a
// day quota would otherwise leave a row a day behind. A balance of credits
// never refilled has one period, which never ends, and is kept.
func (j *Job) pruneSpent(ctx context.Context, now time.Time) (int, error) {
	var rows []spentRow
	err := j.bounded(ctx, func(ctx context.Context) error {
		return j.db.Conn(ctx).Table("quota_spent").Select("subject_id, org_id, period_start, spent").
			Where("updated_at < ?", now.Add(-pruneAfter)).Order("updated_at").Limit(pruneBatch).Find(&rows).Error
	})
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	current := map[string]time.Time{} // subject → its current period's start; absent: no quota
	orgs, subjects := map[string]bool{}, []string{}
	for _, r := range rows {
		if r.SubjectID == r.OrgID {
			orgs[r.OrgID] = true
		} else {
			subjects = append(subjects, r.SubjectID)
		}
	}
	var keys []apikey.Key
	err = j.bounded(ctx, func(ctx context.Context) error {
		return j.db.Conn(ctx).Where("quota_kind IS NOT NULL AND (id IN ? OR quota_id IN ?)", subjects, subjects).Find(&keys).Error
	})
	if err != nil {
		return 0, fmt.Errorf("lifecycle: read quotas to prune: %w", err)
	}
	for _, k := range keys {
		start, _ := k.QuotaSpec().Period(now)
		current[k.QuotaSubject()] = start
	}
	for orgID := range orgs {
		q, err := j.keys.OrgQuota(ctx, orgID, now)
		if err != nil {
			return 0, err
		}
		if q.State != nil {
			current[orgID] = q.State.PeriodStart
		}
	}
	deleted := 0
	for _, r := range rows {
		if start, ok := current[r.SubjectID]; ok && start.Equal(r.PeriodStart) {
			continue
		}
		err := j.bounded(ctx, func(ctx context.Context) error {
			res := j.db.Conn(ctx).Exec("DELETE FROM quota_spent WHERE subject_id = ? AND period_start = ? AND updated_at < ?",
				r.SubjectID, r.PeriodStart.UTC(), now.Add(-pruneAfter))
			deleted += int(res.RowsAffected)
			return res.Error
		})
		if err != nil {
			return deleted, fmt.Errorf("lifecycle: prune quota amounts: %w", err)
		}
	}
	return deleted, nil
}
