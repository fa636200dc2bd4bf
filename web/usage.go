package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/usage"
	"keyplane/views/components"
	"keyplane/views/keys"
	usageview "keyplane/views/usage"
)

// Windows of the usage charts.
const (
	usageHours = 24
	usageDays  = 30
	topKeys    = 10
)

// lastHours is the range of the usage hours ending with the current one.
func lastHours(now time.Time) (from, to time.Time) {
	to = now.UTC().Truncate(time.Hour).Add(time.Hour)
	return to.Add(-usageHours * time.Hour), to
}

// lastDays is the range of the UTC days ending with today.
func lastDays(now time.Time) (from, to time.Time) {
	n := now.UTC()
	to = time.Date(n.Year(), n.Month(), n.Day()+1, 0, 0, 0, 0, time.UTC)
	return to.AddDate(0, 0, -usageDays), to
}

// chartOf turns a series into a chart, its bars labelled in UTC.
func chartOf(id, title string, pts []usage.Point, bucket usage.Bucket) components.Chart {
	layout := "2006-01-02 15:04 UTC"
	if bucket == usage.Day {
		layout = "2006-01-02"
	}
	c := components.Chart{ID: id, Title: title, Bars: make([]components.Bar, len(pts))}
	for i, p := range pts {
		c.Bars[i] = components.Bar{Label: p.Start.UTC().Format(layout), Counts: p.Counts}
	}
	return c
}

// usagePage is the organization's usage over the last 30 UTC days. Every
// member may see it.
func (s *Server) usagePage(c echo.Context) error {
	ctx := c.Request().Context()
	m := currentMembership(c)
	from, to := lastDays(s.now())
	daily, err := usage.OrgTotals(ctx, s.db, m.ID, from, to, usage.Day)
	if err != nil {
		return err
	}
	top, err := usage.TopKeys(ctx, s.db, m.ID, from, to, topKeys)
	if err != nil {
		return err
	}
	vm := usageview.Page{Slug: m.Slug, Daily: chartOf("usage-daily", "Requests per day, last 30 days (UTC days)", daily, usage.Day)}
	for _, k := range top {
		vm.TopKeys = append(vm.TopKeys, usageview.KeyTotal{URL: keys.KeyURL(m.Slug, k.KeyID), Description: k.Description, Hint: k.Hint, Total: k.Total})
	}
	for _, r := range usage.Rejections(daily) {
		vm.Rejections = append(vm.Rejections, usageview.Rejection{Code: r.Code, Total: r.Total})
	}
	return render(c, http.StatusOK, usageview.Screen(s.page(c, "Usage"), vm))
}
