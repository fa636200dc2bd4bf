package usage

import (
	"context"
	"time"

	"keyplane/internal/store"
)

// Reader answers the dashboard's questions about usage: series, top and
// failing keys, the scopes a key's requests needed, recent activity and
// rotation cut-overs. Every read is scoped by organization, and joins the
// transaction its ctx carries (store.DB.WithTx). Any member of the
// organization may read its usage.
type Reader struct {
	db *store.DB
}

// NewReader returns a Reader over db.
func NewReader(db *store.DB) *Reader { return &Reader{db: db} }

// The windows of an organization's usage page.
const (
	// OverviewDays is the number of UTC days of the daily chart and of
	// the key tables, today included.
	OverviewDays = 30
	// OverviewKeys bounds each key table.
	OverviewKeys = 10
)

// LastDays is the range of the n UTC days ending with the one holding now.
func LastDays(now time.Time, n int) (from, to time.Time) {
	to = Day.next(Day.start(now))
	return to.AddDate(0, 0, -n), to
}

// Overview is an organization's usage page.
type Overview struct {
	// Hourly is the last 24 hours (Last24Hours).
	Hourly []Point
	// Daily is the last OverviewDays UTC days.
	Daily []Point
	// Top are the keys with the most requests in those days, Failing
	// those with the most rejected requests; OverviewKeys of each at most.
	Top     []KeyTotal
	Failing []KeyRejections
}

// Overview returns the usage of orgID that its usage page shows, as of now.
func (r *Reader) Overview(ctx context.Context, orgID string, now time.Time) (Overview, error) {
	var o Overview
	var err error
	hFrom, hTo := Last24Hours(now)
	if o.Hourly, err = r.OrgTotals(ctx, orgID, hFrom, hTo, Hour); err != nil {
		return Overview{}, err
	}
	from, to := LastDays(now, OverviewDays)
	if o.Daily, err = r.OrgTotals(ctx, orgID, from, to, Day); err != nil {
		return Overview{}, err
	}
	if o.Top, err = r.TopKeys(ctx, orgID, from, to, OverviewKeys); err != nil {
		return Overview{}, err
	}
	if o.Failing, err = r.FailingKeys(ctx, orgID, from, to, OverviewKeys); err != nil {
		return Overview{}, err
	}
	return o, nil
}
