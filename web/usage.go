package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/usage"
	"keyplane/views/components"
	"keyplane/views/keys"
	usageview "keyplane/views/usage"
)

// chartOf turns a series into a chart. Hours are labelled in loc, with the
// zone's abbreviation, so the hours a daylight-saving change repeats stay
// apart; days are UTC days. The axis shows the short form of the same
// labels.
func chartOf(id, title string, pts []usage.Point, bucket usage.Bucket, loc *time.Location) components.Chart {
	c := components.Chart{ID: id, Title: title, Bars: make([]components.Bar, len(pts)), Axis: "Hours in " + loc.String()}
	if bucket == usage.Day {
		c.Axis = "UTC days"
	}
	for i, p := range pts {
		b := components.Bar{Label: p.Start.In(loc).Format("2006-01-02 15:04 MST"), Short: p.Start.In(loc).Format("15:04"), Counts: p.Counts}
		if bucket == usage.Day {
			b.Label, b.Short = p.Start.UTC().Format(time.DateOnly), p.Start.UTC().Format("Jan 2")
		}
		c.Bars[i] = b
	}
	return c
}

// usagePage is the organization's usage: the last 24 hours in the
// viewer's time zone, then 30 UTC days of totals, top keys, rejections and
// failing keys. Every member may see it.
func (s *Server) usagePage(c echo.Context) error {
	m := currentMembership(c)
	loc := viewerZone(c)
	o, err := s.usageReader.Overview(c.Request().Context(), m.ID, s.now())
	if err != nil {
		return err
	}
	vm := usageview.Page{
		Slug:   m.Slug,
		Zone:   loc.String(),
		Hourly: chartOf("usage-hourly", "Requests per hour, last 24 hours ("+loc.String()+")", o.Hourly, usage.Hour, loc),
		Daily:  chartOf("usage-daily", "Requests per day, last "+strconv.Itoa(usage.OverviewDays)+" days (UTC days)", o.Daily, usage.Day, time.UTC),
	}
	for _, k := range o.Top {
		vm.TopKeys = append(vm.TopKeys, usageview.KeyTotal{URL: keys.KeyURL(m.Slug, k.KeyID), Description: k.Description, Hint: k.Hint, Total: k.Total})
	}
	vm.Rejections = rejectionsOf(usage.Rejections(o.Daily))
	for _, k := range o.Failing {
		vm.Failing = append(vm.Failing, usageview.FailingKey{
			URL: keys.KeyURL(m.Slug, k.KeyID), Description: k.Description, Hint: k.Hint, Rejected: k.Rejected, Reasons: rejectionsOf(k.Codes),
		})
	}
	return render(c, http.StatusOK, usageview.Screen(s.page(c, "Usage"), vm))
}

func rejectionsOf(codes []usage.CodeTotal) []usageview.Rejection {
	out := make([]usageview.Rejection, len(codes))
	for i, r := range codes {
		out[i] = usageview.Rejection{Code: r.Code, Total: r.Total}
	}
	return out
}
