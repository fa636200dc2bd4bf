package web

import (
	"encoding/csv"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/audit"
	auditview "keyplane/views/audit"
)

const (
	auditPageSize  = 50
	auditMaxExport = 100_000
	auditMaxActors = 200
	dayLayout      = "2006-01-02"
)

// auditFilter reads the audit log's filters from the query string. Unknown
// actions and malformed dates are dropped.
func auditFilter(c echo.Context) (auditview.Filter, audit.Filter) {
	v := auditview.Filter{
		Action: oneOf(c.QueryParam("action"), audit.Actions...),
		Actor:  truncateRunes(strings.TrimSpace(c.QueryParam("actor")), 254),
	}
	f := audit.Filter{Action: v.Action, Actor: v.Actor}
	if d, err := time.Parse(dayLayout, c.QueryParam("from")); err == nil {
		v.From, f.From = d.Format(dayLayout), d
	}
	if d, err := time.Parse(dayLayout, c.QueryParam("to")); err == nil {
		v.To, f.To = d.Format(dayLayout), d.AddDate(0, 0, 1)
	}
	return v, f
}

// auditPageURL is the log's URL with filters f turned to page p.
func auditPageURL(slug string, f auditview.Filter, p *audit.Page) string {
	if p == nil {
		return ""
	}
	q := f.Query()
	if p.Before != nil {
		q.Set("before", p.Before.String())
	} else if p.After != nil {
		q.Set("after", p.After.String())
	}
	return withQuery(auditview.LogURL(slug), q.Encode())
}

func withQuery(path, query string) string {
	if query == "" {
		return path
	}
	return path + "?" + query
}

// auditLog shows the organization's audit events, newest first, 50 a page,
// filtered by action, actor and UTC days. Admins only. htmx requests get the
// table alone.
func (s *Server) auditLog(c echo.Context) error {
	m := currentMembership(c)
	vf, f := auditFilter(c)
	page := audit.Page{Size: auditPageSize}
	if cur, ok := audit.ParseCursor(c.QueryParam("before")); ok {
		page.Before = &cur
	} else if cur, ok := audit.ParseCursor(c.QueryParam("after")); ok {
		page.After = &cur
	}
	actors := auditMaxActors
	if isHTMX(c) {
		actors = 0 // the table alone: no actor filter to fill
	}
	res, err := s.audit.Browse(c.Request().Context(), m.ID, f, page, actors)
	if err != nil {
		return err
	}
	vm := auditview.LogPage{
		Slug: m.Slug, OrgName: m.Name, Filter: vf, Actions: audit.Actions,
		AnyEvents: res.AnyEvents, Actors: res.Actors,
		OlderURL: auditPageURL(m.Slug, vf, res.Older),
		NewerURL: auditPageURL(m.Slug, vf, res.Newer),
		CSVURL:   withQuery(auditview.CSVURL(m.Slug), vf.Query().Encode()),
		ClearURL: auditview.LogURL(m.Slug),
	}
	for _, e := range res.Events {
		vm.Rows = append(vm.Rows, auditRow(e))
	}
	noStore(c)
	if isHTMX(c) {
		return render(c, http.StatusOK, auditview.Table(vm))
	}
	return render(c, http.StatusOK, auditview.LogScreen(s.page(c, "Audit log · "+m.Name), vm))
}

func auditRow(e audit.Event) auditview.Row {
	at := e.CreatedAt.UTC()
	return auditview.Row{
		ID: e.ID, Time: at.Format(time.DateTime), TimeISO: at.Format(time.RFC3339),
		Actor: audit.Actor{Email: e.ActorEmail}.Name(), Action: e.Action, Summary: e.Summary, IP: e.IP,
		UserAgent: e.UserAgent, UserAgentShort: shorten(e.UserAgent, 40),
	}
}

// shorten cuts s to n runes, marking the cut with an ellipsis.
func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// auditCSVHeader is the first row of the CSV export.
var auditCSVHeader = []string{"time", "actor", "action", "summary", "ip", "user_agent", "target_type", "target_id"}

// auditCSV exports the organization's audit events that match the log's
// filters, newest first, at most 100,000 of them, as a CSV attachment.
// Admins only.
func (s *Server) auditCSV(c echo.Context) error {
	m := currentMembership(c)
	_, f := auditFilter(c)
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="keyplane-audit-`+m.Slug+"-"+s.now().UTC().Format("20060102-150405")+`.csv"`)
	noStore(c)
	w := csv.NewWriter(c.Response())
	if err := w.Write(auditCSVHeader); err != nil {
		return err
	}
	err := s.audit.Each(c.Request().Context(), m.ID, f, auditMaxExport, func(e audit.Event) error {
		return w.Write(csvRow(
			e.CreatedAt.UTC().Format(time.RFC3339Nano), audit.Actor{Email: e.ActorEmail}.Name(), e.Action, e.Summary,
			e.IP, e.UserAgent, e.TargetType, e.TargetID,
		))
	})
	if err != nil {
		if !c.Response().Committed {
			h.Del(echo.HeaderContentDisposition)
		}
		return err
	}
	w.Flush()
	return w.Error()
}

// csvRow neutralises cells a spreadsheet would read as a formula: those
// starting with =, +, -, @, a tab or a carriage return get a leading quote.
func csvRow(cells ...string) []string {
	for i, v := range cells {
		if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
			cells[i] = "'" + v
		}
	}
	return cells
}
