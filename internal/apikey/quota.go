package apikey

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/quota"
	"keyplane/internal/store"
)

// QuotaState is a quota's standing in its current period, as the database
// holds it: the data plane writes what was spent every few seconds.
type QuotaState struct {
	Spec             quota.Spec
	Limit            int64 // the period's allowance, top-up included
	Spent, Remaining int64
	// PeriodStart is the current period's start and Reset its end (zero
	// for credits never refilled).
	PeriodStart, Reset time.Time
}

// Percent is the share of the allowance spent, 0 to 100.
func (q QuotaState) Percent() int {
	if q.Limit <= 0 {
		return 100
	}
	return int(min(100, q.Spent*100/q.Limit))
}

// stateOf is spec's standing at now once spent is spent.
func stateOf(spec quota.Spec, spent int64, now time.Time) QuotaState {
	start, end := spec.Period(now)
	return QuotaState{Spec: spec, Limit: spec.Allowance(start), Spent: spent, Remaining: spec.Remaining(start, spent), PeriodStart: start, Reset: end}
}

// spentRow is what quota_spent holds for one subject and period.
type spentRow struct {
	SubjectID   string
	PeriodStart time.Time
	Spent       int64
}

// ReadSpent returns what each quota subject spent in the period starting
// at its time in pairs, as quota_spent holds it (db may narrow the rows
// further, say to an organization); subjects with nothing spent are
// absent.
func ReadSpent(db *gorm.DB, pairs map[string]time.Time) (map[string]int64, error) {
	out := map[string]int64{}
	if len(pairs) == 0 {
		return out, nil
	}
	ids := make([]string, 0, len(pairs))
	var starts []time.Time
	for id, start := range pairs {
		ids = append(ids, id)
		if !slices.ContainsFunc(starts, start.Equal) {
			starts = append(starts, start)
		}
	}
	var rows []spentRow
	err := db.Table("quota_spent").Select("subject_id, period_start, spent").
		Where("subject_id IN ? AND period_start IN ?", ids, starts).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("apikey: read quota spent: %w", err)
	}
	for _, r := range rows {
		if start, ok := pairs[r.SubjectID]; ok && start.Equal(r.PeriodStart) {
			out[r.SubjectID] = r.Spent
		}
	}
	return out, nil
}

// QuotaStates returns the standing at now of the own quota of each of keys
// (all of orgID) that has one, by key id, in one query.
func (s *Service) QuotaStates(ctx context.Context, orgID string, keys []Key, now time.Time) (map[string]QuotaState, error) {
	pairs := map[string]time.Time{}
	for _, k := range keys {
		if spec := k.QuotaSpec(); spec != nil && k.OrgID == orgID {
			start, _ := spec.Period(now)
			pairs[k.QuotaSubject()] = start
		}
	}
	spent, err := ReadSpent(s.db.Conn(ctx).Where("org_id = ?", orgID), pairs)
	if err != nil {
		return nil, err
	}
	out := map[string]QuotaState{}
	for _, k := range keys {
		if spec := k.QuotaSpec(); spec != nil && k.OrgID == orgID {
			out[k.ID] = stateOf(*spec, spent[k.QuotaSubject()], now)
		}
	}
	return out, nil
}

// OrgQuota is an organization's quota: nil State when it has none.
type OrgQuota struct {
	State      *QuotaState
	ReportOnly bool
}

type orgQuotaRow struct {
	Name string
	quota.Columns
	QuotaReportOnly bool
}

// OrgQuota returns orgID's quota and its standing at now. Returns NotFound
// for no such organization.
func (s *Service) OrgQuota(ctx context.Context, orgID string, now time.Time) (OrgQuota, error) {
	db := s.db.Conn(ctx)
	row, err := readOrgQuota(db, orgID)
	if err != nil {
		return OrgQuota{}, err
	}
	out := OrgQuota{ReportOnly: row.QuotaReportOnly}
	spec, ok := row.Columns.Spec()
	if !ok {
		return out, nil
	}
	start, _ := spec.Period(now)
	spent, err := ReadSpent(db.Where("org_id = ?", orgID), map[string]time.Time{orgID: start})
	if err != nil {
		return OrgQuota{}, err
	}
	st := stateOf(spec, spent[orgID], now)
	out.State = &st
	return out, nil
}

func readOrgQuota(db *gorm.DB, orgID string) (orgQuotaRow, error) {
	var row orgQuotaRow
	err := db.Table("organizations").Where("id = ?", orgID).Take(&row).Error
	if err != nil {
		if store.IsNotFound(err) {
			return row, apperr.New(apperr.NotFound, "Organization not found.")
		}
		return row, fmt.Errorf("apikey: read org quota: %w", err)
	}
	return row, nil
}

// checkTopUp refuses amounts no one means.
func checkTopUp(amount int64) error {
	if amount < 1 || amount > quota.MaxLimit {
		return apperr.InvalidFields(map[string]string{"amount": "Enter a whole number of credits from 1 to " + Thousands(quota.MaxLimit) + "."})
	}
	return nil
}

// topUpSQL adds amount to a stored quota's top-up for the period starting
// at start, in one statement, so two top-ups at once both count: a top-up
// of an earlier period is replaced.
func topUpSQL(amount int64, start time.Time) map[string]any {
	return map[string]any{
		"quota_topup":        gorm.Expr("CASE WHEN quota_topup_period = ? THEN quota_topup + ? ELSE ? END", start, amount, amount),
		"quota_topup_period": start,
	}
}

// topUpFits is the condition under which topUpSQL keeps the period's
// top-up within quota.MaxLimit.
func topUpFits(db *gorm.DB, amount int64, start time.Time) *gorm.DB {
	return db.Where("(quota_topup_period IS NULL OR quota_topup_period <> ? OR quota_topup <= ?)", start, quota.MaxLimit-amount)
}

// errTopUpTooLarge refuses a top-up past what a period may hold.
var errTopUpTooLarge = apperr.InvalidFields(map[string]string{
	"amount": "This would take the credits added this period past " + Thousands(quota.MaxLimit) + ".",
})

// TopUp adds amount credits to key id's balance for its current refill
// period (or for good, when it is never refilled), on every key sharing
// its quota (a rotated key in its grace period). Returns NotFound, Invalid
// for a key without a credits quota or an amount out of range, or Conflict
// for a key that no longer works.
func (s *Service) TopUp(ctx context.Context, orgID, id string, amount int64, actor audit.Actor) (Key, error) {
	if err := checkTopUp(amount); err != nil {
		return Key{}, err
	}
	now := s.now().UTC()
	var out Key
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		k, err := s.get(tx, orgID, id)
		if err != nil {
			return err
		}
		spec := k.QuotaSpec()
		if spec == nil || spec.Kind != quota.Credits {
			return apperr.InvalidFields(map[string]string{"amount": "Only a key with a credits quota takes credits."})
		}
		if !k.Editable(now) {
			return apperr.New(apperr.Conflict, "This key is %s and takes no more credits.", k.StatusAt(now))
		}
		start, _ := spec.Period(now)
		subject := k.QuotaSubject()
		var sharing []Key
		if err := tx.Where("org_id = ? AND (id = ? OR quota_id = ?) AND revoked_at IS NULL", orgID, subject, subject).Find(&sharing).Error; err != nil {
			return fmt.Errorf("apikey: top up: %w", err)
		}
		for _, sk := range sharing {
			if sk.QuotaSubject() != subject {
				continue
			}
			res := topUpFits(tx.Model(&Key{}), amount, start).Where("org_id = ? AND id = ? AND quota_kind = ?", orgID, sk.ID, string(quota.Credits)).
				Updates(topUpSQL(amount, start))
			if res.Error != nil {
				return fmt.Errorf("apikey: top up: %w", res.Error)
			}
			if res.RowsAffected == 0 {
				return errTopUpTooLarge
			}
			if err := s.recordChange(tx, sk.KeyHash, now); err != nil {
				return err
			}
			s.announce(ctx, sk.KeyHash)
		}
		if out, err = s.get(tx, orgID, id); err != nil {
			return err
		}
		return audit.Record(ctx, tx, now, orgID, actor, audit.KeyCreditsAdded, "api_key", k.ID,
			fmt.Sprintf("%s added %d credits to %s (%s)", actor.Name(), amount, k.Hint, k.Description))
	})
	if err != nil {
		return Key{}, err
	}
	return out, nil
}

// SetOrgQuota sets orgID's quota, shared by all its keys (none when in is
// empty), and whether it only reports. An unchanged kind and refill keep
// what the period spent and was topped up with. It reaches every server
// within a second. Returns NotFound or Invalid.
func (s *Service) SetOrgQuota(ctx context.Context, orgID string, in QuotaInput, reportOnly bool, actor audit.Actor) (OrgQuota, error) {
	errs := map[string]string{}
	next := validateQuota(in, errs, "")
	if len(errs) > 0 {
		return OrgQuota{}, apperr.InvalidFields(errs)
	}
	now := s.now().UTC()
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		if err := s.lockOrg(tx, orgID); err != nil {
			return err
		}
		row, err := readOrgQuota(tx, orgID)
		if err != nil {
			return err
		}
		var prev *quota.Spec
		if spec, ok := row.Columns.Spec(); ok {
			prev = &spec
		}
		upd := quota.ColumnsOf(nextQuota(prev, next, now)).Map()
		upd["quota_report_only"], upd["updated_at"] = reportOnly, now
		if err := tx.Table("organizations").Where("id = ?", orgID).Updates(upd).Error; err != nil {
			return fmt.Errorf("apikey: set org quota: %w", err)
		}
		if err := s.orgChanged(ctx, tx, now); err != nil {
			return err
		}
		return audit.Record(ctx, tx, now, orgID, actor, audit.OrgQuotaChanged, "organization", orgID,
			fmt.Sprintf("%s set the organization's quota to %s", actor.Name(), DescribeQuota(next, reportOnly)))
	})
	if err != nil {
		return OrgQuota{}, err
	}
	return s.OrgQuota(ctx, orgID, now)
}

// TopUpOrg adds amount credits to orgID's credits quota for its current
// period. Returns NotFound, or Invalid without a credits quota or for an
// amount out of range.
func (s *Service) TopUpOrg(ctx context.Context, orgID string, amount int64, actor audit.Actor) (OrgQuota, error) {
	if err := checkTopUp(amount); err != nil {
		return OrgQuota{}, err
	}
	now := s.now().UTC()
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		row, err := readOrgQuota(tx, orgID)
		if err != nil {
			return err
		}
		spec, ok := row.Columns.Spec()
		if !ok || spec.Kind != quota.Credits {
			return apperr.InvalidFields(map[string]string{"amount": "Only an organization with a credits quota takes credits."})
		}
		start, _ := spec.Period(now)
		res := topUpFits(tx.Table("organizations"), amount, start).Where("id = ? AND quota_kind = ?", orgID, string(quota.Credits)).
			Updates(topUpSQL(amount, start))
		if res.Error != nil {
			return fmt.Errorf("apikey: top up org: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return errTopUpTooLarge
		}
		if err := s.orgChanged(ctx, tx, now); err != nil {
			return err
		}
		return audit.Record(ctx, tx, now, orgID, actor, audit.OrgCreditsAdded, "organization", orgID,
			fmt.Sprintf("%s added %d credits to the organization %s", actor.Name(), amount, row.Name))
	})
	if err != nil {
		return OrgQuota{}, err
	}
	return s.OrgQuota(ctx, orgID, now)
}

// orgChanged tells every server that all of an organization's keys may
// verify differently: one notice, however many keys.
func (s *Service) orgChanged(ctx context.Context, tx *gorm.DB, now time.Time) error {
	if err := s.recordChange(tx, AllChange, now); err != nil {
		return err
	}
	s.announce(ctx, AllChange)
	return nil
}

// DescribeQuota is a quota in words: "10,000 requests a day", "5,000
// credits, refilled every 1d", "none".
func DescribeQuota(q *quota.Spec, reportOnly bool) string {
	if q == nil {
		return "none"
	}
	var d string
	switch q.Kind {
	case quota.Day:
		d = Count(q.Limit, "request", "requests") + " a day"
	case quota.Month:
		d = Count(q.Limit, "request", "requests") + " a month"
	default:
		d = Count(q.Limit, "credit", "credits")
		if q.Refill > 0 {
			amount := q.Limit
			if q.RefillAmount > 0 {
				amount = q.RefillAmount
			}
			d += fmt.Sprintf(", set to %s %s", Thousands(amount), Every(q.Refill))
		}
	}
	if reportOnly {
		d += " (report only)"
	}
	return d
}

// Count writes n with commas and the noun that fits: "1 credit", "5,000
// credits".
func Count(n int64, one, many string) string {
	if n == 1 || n == -1 {
		return Thousands(n) + " " + one
	}
	return Thousands(n) + " " + many
}

// Every says how often an interval comes round: "every minute", "every
// day", "every 30 days", "every 90 minutes".
func Every(d time.Duration) string {
	unit := func(n int64, one, many string) string {
		if n == 1 {
			return "every " + one
		}
		return "every " + Count(n, one, many)
	}
	switch {
	case d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day", "days")
	case d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour", "hours")
	case d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute", "minutes")
	}
	return "every " + d.String()
}

// Thousands writes n with commas between thousands.
func Thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
