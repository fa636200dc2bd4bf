package web

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apperr"
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
// viewer's time zone, then the range of UTC days the viewer chose
// (?range=7d or 30d, 30d otherwise; or range=custom with from and to, see
// customDays): its totals, top keys, rejections and failing keys, and a
// link to download them as CSV. A custom range that cannot be shown
// answers 422 with the form's message and the default range. Every member
// may see it.
func (s *Server) usagePage(c echo.Context) error {
	ctx := c.Request().Context()
	m := currentMembership(c)
	loc := viewerZone(c)
	now := s.now()
	r, rangeErr := s.orgRange(c)
	status := http.StatusOK
	if rangeErr != nil {
		status = statusOf(apperr.CodeOf(rangeErr))
		r = s.presetDays(usageview.Range30d)
	}
	hFrom, hTo := usage.Last24Hours(now)
	hourly, err := s.usageReader.OrgTotals(ctx, m.ID, hFrom, hTo, usage.Hour)
	if err != nil {
		return err
	}
	daily, err := s.usageReader.OrgTotals(ctx, m.ID, r.From, r.To, usage.Day)
	if err != nil {
		return err
	}
	top, err := s.usageReader.TopKeys(ctx, m.ID, r.From, r.To, usage.OverviewKeys)
	if err != nil {
		return err
	}
	failing, err := s.usageReader.FailingKeys(ctx, m.ID, r.From, r.To, usage.OverviewKeys)
	if err != nil {
		return err
	}
	page := usageview.URL(m.Slug)
	vm := usageview.Page{
		Slug: m.Slug, URL: page, Range: r.Name, RangeLabel: r.Label(),
		Custom: s.dateRangeForm(c, r, rangeErr),
		CSVURL: page + ".csv?" + r.Query("range").Encode(),
		Zone:   loc.String(),
		Hourly: chartOf("usage-hourly", "Requests per hour, last 24 hours ("+loc.String()+")", hourly, usage.Hour, loc),
		Daily:  chartOf("usage-daily", "Requests per day, "+r.Label()+" (UTC days)", daily, usage.Day, time.UTC),
	}
	for _, k := range top {
		vm.TopKeys = append(vm.TopKeys, usageview.KeyTotal{URL: keys.KeyURL(m.Slug, k.KeyID), Description: k.Description, Hint: k.Hint, Total: k.Total})
	}
	vm.Rejections = rejectionsOf(usage.Rejections(daily))
	vm.Reported = rejectionsOf(usage.Reported(daily))
	for _, k := range failing {
		vm.Failing = append(vm.Failing, usageview.FailingKey{
			URL: keys.KeyURL(m.Slug, k.KeyID), Description: k.Description, Hint: k.Hint, Rejected: k.Rejected, Reasons: rejectionsOf(k.Codes),
		})
	}
	return render(c, status, usageview.Screen(s.page(c, "Usage"), vm))
}

// orgRange is the range of UTC days the usage page's query asks for
// (?range=, and from and to for a custom one): 30 days unless it names
// another preset, or a custom range, which customDays checks.
func (s *Server) orgRange(c echo.Context) (usageRange, error) {
	switch name := c.QueryParam("range"); name {
	case usageview.RangeCustom:
		return s.customDays(c.QueryParam("from"), c.QueryParam("to"))
	case usageview.Range7d:
		return s.presetDays(name), nil
	}
	return s.presetDays(usageview.Range30d), nil
}

func rejectionsOf(codes []usage.CodeTotal) []usageview.Rejection {
	out := make([]usageview.Rejection, len(codes))
	for i, r := range codes {
		out[i] = usageview.Rejection{Code: r.Code, Total: r.Total}
	}
	return out
}

// usageRange is a window of usage: From up to To (excluded), read in
// buckets of Bucket, and how the query named it: a preset ("24h", hours;
// "7d", "30d", UTC days) or "custom" (UTC days, see customDays).
type usageRange struct {
	Name     string
	From, To time.Time
	Bucket   usage.Bucket
}

// rangeCustom names a custom range of UTC days on both usage screens.
const rangeCustom = usageview.RangeCustom

// presetDays is the preset range name ("7d", "30d"; "24h" for the last
// 24 hours): the last so many UTC days, today included.
func (s *Server) presetDays(name string) usageRange {
	now := s.now()
	if name == keys.Period24h {
		from, to := usage.Last24Hours(now)
		return usageRange{Name: name, From: from, To: to, Bucket: usage.Hour}
	}
	days := 30
	if name == usageview.Range7d || name == keys.Period7d {
		days = 7
	}
	from, to := usage.LastDays(now, days)
	return usageRange{Name: name, From: from, To: to, Bucket: usage.Day}
}

// Label says r in words: "last 7 days", or the days of a custom range.
func (r usageRange) Label() string {
	switch r.Name {
	case keys.Period24h:
		return "last 24 hours"
	case rangeCustom:
		first, last := r.From.Format(time.DateOnly), r.To.AddDate(0, 0, -1).Format(time.DateOnly)
		if first == last {
			return first
		}
		return first + " to " + last
	}
	return "last " + strconv.Itoa(int(r.To.Sub(r.From)/(24*time.Hour))) + " days"
}

// Query is the query that asks for r again, its name under param.
func (r usageRange) Query(param string) url.Values {
	q := url.Values{param: {r.Name}}
	if r.Name == rangeCustom {
		q.Set("from", r.From.Format(time.DateOnly))
		q.Set("to", r.To.AddDate(0, 0, -1).Format(time.DateOnly))
	}
	return q
}

// usageDays are the first and the last UTC day a custom range may hold:
// the day usage is kept from (KEYPLANE_USAGE_RETENTION back) and today.
func (s *Server) usageDays() (oldest, today time.Time) {
	now := s.now().UTC()
	day := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }
	return day(now.Add(-s.cfg.UsageRetention)), day(now)
}

// customDays reads a custom range of UTC days, from and to both included,
// written as <input type="date"> sends them (YYYY-MM-DD). An apperr.Invalid
// error, with a message for the form, refuses a missing or malformed date,
// an end before the start, an end after today (UTC), and a start before
// the day usage is kept from.
func (s *Server) customDays(from, to string) (usageRange, error) {
	oldest, today := s.usageDays()
	if from == "" || to == "" {
		return usageRange{}, apperr.New(apperr.Invalid, "Choose both a start date and an end date.")
	}
	f, ferr := time.Parse(time.DateOnly, from)
	t, terr := time.Parse(time.DateOnly, to)
	switch {
	case ferr != nil || terr != nil:
		return usageRange{}, apperr.New(apperr.Invalid, "Write dates as year-month-day, for example %s.", today.Format(time.DateOnly))
	case t.Before(f):
		return usageRange{}, apperr.New(apperr.Invalid, "The end date, %s, is before the start date, %s.", to, from)
	case t.After(today):
		return usageRange{}, apperr.New(apperr.Invalid, "The end date cannot be after today, %s (UTC).", today.Format(time.DateOnly))
	case f.Before(oldest):
		return usageRange{}, apperr.New(apperr.Invalid, "Usage is kept from %s: the start date cannot be earlier.", oldest.Format(time.DateOnly))
	}
	return usageRange{Name: rangeCustom, From: f, To: t.AddDate(0, 0, 1), Bucket: usage.Day}, nil
}

// dateRangeForm is the custom range form of a screen showing r: its days,
// or the dates sent when rangeErr refused them, with the message.
func (s *Server) dateRangeForm(c echo.Context, r usageRange, rangeErr error) usageview.DateRange {
	oldest, today := s.usageDays()
	f := usageview.DateRange{Min: oldest.Format(time.DateOnly), Max: today.Format(time.DateOnly)}
	switch {
	case rangeErr != nil:
		f.From, f.To, f.Error = c.QueryParam("from"), c.QueryParam("to"), apperr.MessageOf(rangeErr)
	case r.Bucket == usage.Day:
		f.From, f.To = r.From.Format(time.DateOnly), r.To.AddDate(0, 0, -1).Format(time.DateOnly)
	}
	return f
}

// usageCSVHeader is the first row of the usage exports.
var usageCSVHeader = []string{"time_bucket_utc", "key_id", "key_description", "outcome", "count"}

// usageCSV downloads the organization's requests over the usage page's
// range (the same query), one row per UTC day, key and outcome that had
// any. Every member may; a custom range that cannot be shown answers 422.
func (s *Server) usageCSV(c echo.Context) error {
	m := currentMembership(c)
	r, err := s.orgRange(c)
	if err != nil {
		return err
	}
	return s.writeUsageCSV(c, m.ID, "", r, "keyplane-usage-"+m.Slug)
}

// keyUsageCSV downloads key :id's requests over the period of its page's
// usage section (the same query), one row per bucket (hours for 24h, else
// UTC days) and outcome that had any. Every member may; a key of another
// organization is 404, a custom range that cannot be shown 422.
func (s *Server) keyUsageCSV(c echo.Context) error {
	m := currentMembership(c)
	k, err := s.keys.Get(c.Request().Context(), m.ID, c.Param("id"))
	if err != nil {
		return err
	}
	r, err := s.keyPeriod(c)
	if err != nil {
		return err
	}
	return s.writeUsageCSV(c, m.ID, k.ID, r, "keyplane-usage-"+m.Slug+"-"+k.ID)
}

// writeUsageCSV answers with the requests of orgID (of its key keyID when
// not "") over r as a CSV attachment named name and r's first and last
// day. Cells a spreadsheet would read as a formula are neutralised.
func (s *Server) writeUsageCSV(c echo.Context, orgID, keyID string, r usageRange, name string) error {
	days := r.From.UTC().Format("20060102") + "-" + r.To.Add(-time.Nanosecond).UTC().Format("20060102")
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+name+"-"+days+`.csv"`)
	noStore(c)
	w := csv.NewWriter(c.Response())
	if err := w.Write(usageCSVHeader); err != nil {
		return err
	}
	err := s.usageReader.Export(c.Request().Context(), orgID, keyID, r.From, r.To, r.Bucket, func(row usage.ExportRow) error {
		return w.Write(csvRow(row.Start.Format(time.RFC3339), row.KeyID, row.Description, row.Outcome, strconv.FormatInt(row.Count, 10)))
	})
	if err != nil {
		if !c.Response().Committed {
			h.Del(echo.HeaderContentDisposition)
			h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
		}
		return err
	}
	w.Flush()
	return w.Error()
}
