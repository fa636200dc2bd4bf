package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"keyplane/internal/usage"
)

// Usage is the requests of a key or of the organization over a period,
// by outcome: the numbers behind the dashboard's charts.
type Usage struct {
	Period string           `json:"period" enum:"24h,7d,30d"`
	Series []UsagePoint     `json:"series" nullable:"false" doc:"One point per bucket, oldest first, zero-filled: UTC hours for 24h (the current hour last), UTC days for 7d and 30d (today last)."`
	Totals map[string]int64 `json:"totals" doc:"Requests over the whole period, by outcome."`
}

// UsagePoint is one bucket of a usage series.
type UsagePoint struct {
	Time     time.Time        `json:"time" doc:"Start of the bucket (UTC)."`
	Outcomes map[string]int64 `json:"outcomes" doc:"Requests by outcome: allowed, or the data plane's error code. Outcomes without requests are absent."`
}

// UsageInput chooses the period of a usage answer.
type UsageInput struct {
	Period string `query:"period" enum:"24h,7d,30d" default:"24h" doc:"24h: the last 24 UTC hours, hourly; 7d and 30d: the last 7 or 30 UTC days, daily."`
}

// KeyUsageInput names a key and a period.
type KeyUsageInput struct {
	ID string `path:"id" doc:"The key's id."`
	UsageInput
}

type usageOutput struct {
	Body Usage
}

// usageRange is the buckets of period as of now: the same ranges as the
// dashboard's charts.
func usageRange(period string, now time.Time) (from, to time.Time, bucket usage.Bucket) {
	switch period {
	case "7d":
		from, to = usage.LastDays(now, 7)
		return from, to, usage.Day
	case "30d":
		from, to = usage.LastDays(now, 30)
		return from, to, usage.Day
	}
	from, to = usage.Last24Hours(now)
	return from, to, usage.Hour
}

func usageJSON(period string, pts []usage.Point) Usage {
	u := Usage{Period: period, Series: make([]UsagePoint, 0, len(pts)), Totals: map[string]int64{}}
	for _, p := range pts {
		u.Series = append(u.Series, UsagePoint{Time: p.Start.UTC(), Outcomes: p.Counts})
		for outcome, n := range p.Counts {
			u.Totals[outcome] += n
		}
	}
	return u
}

func periodOf(in UsageInput) string {
	if in.Period == "" {
		return "24h"
	}
	return in.Period
}

// KeyUsage is GET /api/v1/keys/{id}/usage: the key's requests by outcome.
// Another organization's key is 404.
func (m *Management) KeyUsage(ctx context.Context, in *KeyUsageInput) (*usageOutput, error) {
	orgID := credentialOf(ctx).key.OrgID
	k, err := m.keys.Get(ctx, orgID, in.ID)
	if err != nil {
		return nil, m.fail(err)
	}
	period := periodOf(in.UsageInput)
	from, to, bucket := usageRange(period, m.now())
	pts, err := m.usage.KeySeries(ctx, orgID, k.ID, from, to, bucket)
	if err != nil {
		return nil, m.fail(err)
	}
	return &usageOutput{Body: usageJSON(period, pts)}, nil
}

// OrgUsage is GET /api/v1/usage: every key's requests by outcome.
func (m *Management) OrgUsage(ctx context.Context, in *UsageInput) (*usageOutput, error) {
	period := periodOf(*in)
	from, to, bucket := usageRange(period, m.now())
	pts, err := m.usage.OrgTotals(ctx, credentialOf(ctx).key.OrgID, from, to, bucket)
	if err != nil {
		return nil, m.fail(err)
	}
	return &usageOutput{Body: usageJSON(period, pts)}, nil
}

var exampleUsage = Usage{
	Period: "24h",
	Series: []UsagePoint{
		{Time: time.Date(2026, 3, 9, 13, 0, 0, 0, time.UTC), Outcomes: map[string]int64{"allowed": 412, "rate_limited": 3}},
		{Time: time.Date(2026, 3, 9, 14, 0, 0, 0, time.UTC), Outcomes: map[string]int64{"allowed": 380, "forbidden": 2}},
	},
	Totals: map[string]int64{"allowed": 792, "rate_limited": 3, "forbidden": 2},
}

// KeyUsageOp is GET /v1/keys/{id}/usage.
func KeyUsageOp() huma.Operation {
	op := documented(huma.Operation{
		OperationID: "get-key-usage", Method: http.MethodGet, Path: "/keys/{id}/usage", Summary: "Usage of a key",
		Description: "The key's requests by outcome, hourly over the last 24 hours or daily over the last 7 or 30 UTC days: the numbers of the key page's chart. The example is shortened to two hours.",
		Errors:      []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, nil, exampleUsage)
	op.Tags = []string{"Usage"}
	return op
}

// OrgUsageOp is GET /v1/usage.
func OrgUsageOp() huma.Operation {
	op := documented(huma.Operation{
		OperationID: "get-usage", Method: http.MethodGet, Path: "/usage", Summary: "Usage of the organization",
		Description: "Every key's requests by outcome, hourly over the last 24 hours or daily over the last 7 or 30 UTC days: the numbers of the usage page's charts. The example is shortened to two hours.",
		Errors:      []int{http.StatusUnprocessableEntity},
	}, nil, exampleUsage)
	op.Tags = []string{"Usage"}
	return op
}
