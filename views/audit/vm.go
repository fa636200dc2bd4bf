package audit

import "net/url"

// IDs shared by the audit screen and the handler that swaps it.
const (
	TableID   = "audit-table"
	FiltersID = "audit-filters"
)

// LogURL is the address of an organization's audit log.
func LogURL(slug string) string { return "/orgs/" + slug + "/audit" }

// CSVURL is the address of the CSV export of an organization's audit log.
func CSVURL(slug string) string { return LogURL(slug) + ".csv" }

// Filter is the log's filter form, as the query string holds it.
type Filter struct {
	Action string
	Actor  string
	From   string // 2006-01-02, a UTC day, inclusive
	To     string // 2006-01-02, a UTC day, inclusive
}

// Query returns the filters as URL parameters; empty ones are left out.
func (f Filter) Query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"action": f.Action, "actor": f.Actor, "from": f.From, "to": f.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// Row is one event as the log shows it.
type Row struct {
	ID             string
	Time           string // to the second, UTC
	TimeISO        string
	Actor          string
	Action         string
	Summary        string
	IP             string
	UserAgent      string
	UserAgentShort string
}

// LogPage is the audit log screen.
type LogPage struct {
	Slug      string
	OrgName   string
	Filter    Filter
	Actions   []string // the actions the filter offers
	Actors    []string // the emails of everyone seen acting, suggested to the filter
	Rows      []Row
	AnyEvents bool   // the organization has events at all, filters aside
	OlderURL  string // "" on the last page
	NewerURL  string // "" on the first page
	CSVURL    string // the export with the current filters
	ClearURL  string
}
