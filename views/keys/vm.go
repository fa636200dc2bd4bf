package keys

import (
	"net/url"
	"strconv"

	"keyplane/views/components"
)

// IDs shared by the keys screens and the handlers that swap them.
const (
	TableID   = "keys-table"
	FiltersID = "keys-filters"
	RevealID  = "key-reveal"
	// RevealConfirmID asks before a reveal closes with its key uncopied.
	RevealConfirmID = "key-reveal-confirm"
	FormID          = "key-form"
	ChangedEvt      = "keys-changed"
	// ListHeaderID holds the list's "N of 100 active keys" and the create
	// button, which every create, revoke and disable swaps out of band.
	ListHeaderID = "keys-list-header"
	// KeyHeaderID is the key page's title, status and actions, and
	// KeyEditID its edit disclosure: a rotate, revoke or disable swaps
	// both out of band.
	KeyHeaderID = "key-header"
	KeyEditID   = "key-edit"
	// QuotaID is the key page's quota section, which adding credits
	// swaps out of band.
	QuotaID = "key-quota"
	// CloseModalEvt tells app.js to close the open dialog, after a
	// mutation that answered with out-of-band swaps only.
	CloseModalEvt = "close-modal"
)

// ListURL is the address of an organization's keys.
func ListURL(slug string) string { return "/orgs/" + slug + "/keys" }

// FilteredURL is the address of the list with filter f.
func FilteredURL(slug string, f Filter) string {
	if q := f.Query(); q != "" {
		return ListURL(slug) + "?" + q
	}
	return ListURL(slug)
}

// KeyURL is the address of one key's page.
func KeyURL(slug, id string) string { return ListURL(slug) + "/" + id }

// Row is one key as the list and the key page show it.
type Row struct {
	ID           string
	URL          string
	Hint         string
	Description  string
	Product      string // the product's name, shown when there are several
	Imported     bool   // brought from the platform's own key system
	Kind         string
	Environment  string
	Status       string
	Scopes       []string
	Domains      []string
	IPs          []string
	CreatedBy    string
	CreatedAt    string
	CreatedAtISO string
	// Leaked says where and when the key was found in public ("" when it
	// was not, or is revoked since); LeakedExact is the time, exactly.
	Leaked        string
	LeakedExact   string
	LastUsed      string // "Never used" or "3 minutes ago"
	LastUsedExact string
	LastUsedIP    string
	LastOrigin    string
	Expiry        string // "", "expires in 3 days", "expired 2 hours ago"
	ExpiryExact   string
	// RotationURL is the page of the key that replaces this one while this
	// one still works in its grace period: where the cut-over shows.
	RotationURL string
	RateLimit   string
	// Idle says how long a working key has gone unused when that is its
	// organization's idle period or more ("unused for 95 days"); "" when
	// it is not idle.
	Idle string
	// Disabled says since when a disabled key is paused ("3
	// minutes ago"); CanDisable and CanEnable offer the two actions.
	Disabled      string
	DisabledExact string
	// DisabledBy and RevokedBy name who did it; Revoked says when a
	// revoked key was revoked ("revoked 2 days ago").
	DisabledBy   string
	Revoked      string
	RevokedExact string
	RevokedBy    string
	CanDisable   bool
	CanEnable    bool
	// Requests24h and Activity are the key's requests in the last 24 hours
	// and per UTC day over the last 7 days; the list shows them.
	Requests24h string
	Activity    components.Spark
	// Quota is the standing of the key's own quota; nil without one.
	Quota *components.QuotaMeter
}

// Filter is the list's filter form, with its order and page.
type Filter struct {
	Status      string
	Environment string
	Kind        string
	Product     string
	Q           string
	// Sort is one of the SortBy columns ("" for SortCreated) and Dir
	// "asc" or "desc" ("" for the column's natural order).
	Sort string
	Dir  string
	Page int // 1-based; 0 means 1
}

// Columns the list sorts by.
const (
	SortCreated     = "created"
	SortLastUsed    = "last_used"
	SortDescription = "description"
	SortRequests    = "requests"
)

// SortBy are the columns the list sorts by.
var SortBy = []string{SortCreated, SortLastUsed, SortDescription, SortRequests}

// PageSize is how many keys one page of the list shows.
const PageSize = 50

// SortColumn is the column the list is sorted by.
func (f Filter) SortColumn() string {
	if f.Sort == "" {
		return SortCreated
	}
	return f.Sort
}

// Descending reports whether the list runs from the largest, the newest or
// Z down: each column's natural order unless Dir says otherwise.
func (f Filter) Descending() bool {
	if f.Dir != "" {
		return f.Dir == "desc"
	}
	return f.SortColumn() != SortDescription
}

// Query is the filter as a query string ("" when all defaults), sorted by
// name so the same filter always makes the same URL.
func (f Filter) Query() string {
	q := url.Values{}
	for k, v := range map[string]string{"status": f.Status, "environment": f.Environment, "kind": f.Kind, "product": f.Product, "q": f.Q, "sort": f.Sort, "dir": f.Dir} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Page > 1 {
		q.Set("page", strconv.Itoa(f.Page))
	}
	return q.Encode()
}

// SortedBy is the filter sorted by column, from its first page: in the
// column's natural order, or reversed when it already is in it.
func (f Filter) SortedBy(column string) Filter {
	next := f
	next.Page, next.Sort, next.Dir = 0, column, ""
	if column == SortCreated {
		next.Sort = ""
	}
	if f.SortColumn() == column && f.Descending() == (naturalDir(column) == "desc") {
		next.Dir = "desc"
		if naturalDir(column) == "desc" {
			next.Dir = "asc"
		}
	}
	return next
}

func naturalDir(column string) string {
	if column == SortDescription {
		return "asc"
	}
	return "desc"
}

// AtPage is the filter on page n.
func (f Filter) AtPage(n int) Filter {
	f.Page = n
	return f
}

// Pager says which part of the list a page shows.
type Pager struct {
	Page  int // 1-based
	Pages int
	From  int // 1-based position of the first row shown
	To    int
	Total int
}

// Active reports whether any filter is set (order and page aside).
func (f Filter) Active() bool {
	return f.Status != "" || f.Environment != "" || f.Kind != "" || f.Product != "" || f.Q != ""
}

// ProductOption is a product as the keys pages offer it, with the
// organization's count of its active keys against its limit.
type ProductOption struct {
	Slug      string
	Name      string
	Example   string // what its keys look like: "gsk_live_…"
	ActiveNow int
	Limit     int
}

// AtLimit reports whether no key of the product can be created.
func (p ProductOption) AtLimit() bool { return p.ActiveNow >= p.Limit }

// ListHeader is what the list's header says: the active keys against the
// limit (per product when there are several) and whether a key can be
// created.
type ListHeader struct {
	Slug      string
	IsAdmin   bool
	AtLimit   bool
	Limit     int
	ActiveNow int
	Products  []ProductOption // set when there is more than one
}

// ListPage is the keys screen, the home of an organization.
type ListPage struct {
	Slug      string
	OrgName   string
	IsAdmin   bool
	CSRFToken string // for the rows' enable buttons
	Rows      []Row
	Filter    Filter
	AnyKeys   bool // the organization has keys at all, filters aside
	AtLimit   bool
	Limit     int
	ActiveNow int
	// TableURL is the list's URL with its filters, which the table reloads
	// from when keys change.
	TableURL string
	Pager    Pager
	// Products are set when there is more than one: the list then shows
	// a product column, a product filter and each product's count.
	Products []ProductOption
	// Expiring are the working keys that stop within 7 days, the soonest
	// first: the banner every member sees above the table.
	Expiring []ExpiringKey
}

// ExpiringKey is a key of the expiry banner.
type ExpiringKey struct {
	URL         string
	Description string
	Hint        string
	Stops       string // "in 3 days"
	StopsExact  string
}

// Header is the list's header: its counts and create button.
func (vm ListPage) Header() ListHeader {
	return ListHeader{Slug: vm.Slug, IsAdmin: vm.IsAdmin, AtLimit: vm.AtLimit, Limit: vm.Limit, ActiveNow: vm.ActiveNow, Products: vm.Products}
}

// ScopeOption is a scope of the catalogue as a checkbox.
type ScopeOption struct {
	Name        string
	Description string
}

// FormValues are what the key form holds.
type FormValues struct {
	Description  string
	Kind         string
	Environment  string
	Scopes       []string
	Domains      string
	IPs          string
	ExpiresAt    string
	ExpiresIn    string // one of ExpiryPresets' names, on create
	RateLimit    string
	BlockMinutes string
	// ReportOnly names the restrictions in report-only mode.
	ReportOnly []string
	Quota      components.QuotaValues
}

// Form is the create or edit form of a key.
type Form struct {
	Slug      string
	CSRFToken string
	// Product is the slug of the key's product, and ProductName its name
	// when there are several. Products is set when the product is still
	// to be chosen: the form then asks for it alone.
	Product     string
	ProductName string
	Products    []ProductOption
	// PublicKeys offers the kind choice; without it keys are private.
	PublicKeys bool
	Action     string
	FormToken  string
	Edit       bool
	Values     FormValues
	Errors     map[string]string
	Error      string
	// NoScopesWarning, when set, asks before creating a key without
	// scopes: the form says what such a key cannot do and, posted again,
	// creates it.
	NoScopesWarning string
	Catalogue       []ScopeOption
	AtLimit         bool
	Limit           int
	// DefaultRate and DefaultBlock are the public-key defaults, as hints.
	DefaultRate  int
	DefaultBlock int
	// MaxLifetimeDays is the organization's maximum key lifetime (0 for
	// none) and LifetimeDate the last day a key made now may work under
	// it: the form offers only expiries within it.
	MaxLifetimeDays int
	LifetimeDate    string
}

// Presets are the expiry choices the create form offers: ExpiryPresets
// within the maximum lifetime, which is offered itself when it is none of
// them, and "never" only without one.
func (f Form) Presets() []ScopeOption {
	if f.MaxLifetimeDays == 0 {
		return ExpiryPresets
	}
	var out []ScopeOption
	for _, o := range ExpiryPresets {
		if days, err := strconv.Atoi(o.Name); err == nil && days < f.MaxLifetimeDays {
			out = append(out, o)
		}
	}
	out = append(out, ScopeOption{Name: strconv.Itoa(f.MaxLifetimeDays), Description: strconv.Itoa(f.MaxLifetimeDays) + " days (the maximum)"})
	return append(out, ScopeOption{Name: ExpiresCustom, Description: "Custom date"})
}

// PresetChecked reports whether the create form's preset name is chosen:
// the one posted, else the maximum lifetime, else "never".
func (f Form) PresetChecked(name string) bool {
	switch {
	case f.Values.ExpiresIn != "":
		return name == f.Values.ExpiresIn
	case f.MaxLifetimeDays > 0:
		return name == strconv.Itoa(f.MaxLifetimeDays)
	}
	return name == ExpiresNever
}

// EditExpiry is the edit form's expiry date: the key's, or under a maximum
// lifetime that it exceeds (or without one), the last day allowed, which
// the form proposes; as posted when the form has errors.
func (f Form) EditExpiry() string {
	v := f.Values.ExpiresAt
	if f.LifetimeDate != "" && len(f.Errors) == 0 && (v == "" || v > f.LifetimeDate) {
		return f.LifetimeDate
	}
	return v
}

// Reveal shows a new key once.
type Reveal struct {
	Slug        string
	Secret      string
	Hint        string
	Description string
	KeyURL      string
	// OldHint and OldDeadline are set after a rotation.
	OldHint     string
	OldDeadline string
	// APIURL is the API base URL the curl examples call: the key's
	// product's, else PlaceholderAPIURL with APIURLPlaceholder set.
	APIURL            string
	APIURLPlaceholder bool
}

// EnvVar is the variable the reveal's "Download .env" line sets.
const EnvVar = "KEYPLANE_API_KEY"

// PlaceholderAPIURL stands in the curl examples for an API address nobody
// configured; the reveal says it is a placeholder.
const PlaceholderAPIURL = "https://api.example.com"

// Example is a ready-to-paste request with the new key.
type Example struct {
	ID      string // "x-api-key" or "bearer"
	Label   string
	Command string
}

// Examples are curl requests with the key in each header the data plane
// reads: X-Api-Key and Authorization: Bearer.
func (r Reveal) Examples() []Example {
	u := r.APIURL + "/"
	return []Example{
		{ID: "x-api-key", Label: "With the X-Api-Key header", Command: "curl " + u + " \\\n  -H 'X-Api-Key: " + r.Secret + "'"},
		{ID: "bearer", Label: "With Authorization: Bearer", Command: "curl " + u + " \\\n  -H 'Authorization: Bearer " + r.Secret + "'"},
	}
}

// Detail is the key page.
type Detail struct {
	Slug           string
	Key            Row
	IsAdmin        bool
	Editable       bool
	Form           Form
	SuccessorURL   string
	SuccessorHint  string
	PredecessorURL string
	Cutover        *Cutover // nil unless the key this one replaced is in its grace period
	Quota          QuotaSection
	Usage          Usage
	Sources        Sources
	Restrictions   Restrictions
	// Suggestions is "Restrict to what it uses"; nil unless the viewer
	// may apply it.
	Suggestions *Suggestions
}

// QuotaSection is the key page's quota: the key's own and, smaller, its
// organization's, each nil when there is none.
type QuotaSection struct {
	Key     *components.QuotaMeter
	Org     *components.QuotaMeter
	OrgName string
	// CreditsURL, set for an admin and a working key with a credits
	// quota, opens the add-credits dialog.
	CreditsURL string
}

// Any reports whether there is a quota to show.
func (q QuotaSection) Any() bool { return q.Key != nil || q.Org != nil }

// CreditsURL is where credits are added to key id's balance.
func CreditsURL(slug, id string) string { return KeyURL(slug, id) + "/credits" }

// Confirm is the revoke, disable or rotate dialog.
type Confirm struct {
	Slug        string
	CSRFToken   string
	ID          string
	Hint        string
	Description string
	FormToken   string
	Error       string
	Grace       string
	// Back is where the dialog returns after the action: BackToList, or
	// the key's page.
	Back string
	// Requests24h is the key's requests in the last 24 hours, which a
	// revoke or a disable cuts off.
	Requests24h int64
	// EndWhenQuiet ticks the rotate form's quiet-hour rule.
	EndWhenQuiet bool
}

// Expiry presets of the create form.
const (
	ExpiresNever  = "never"
	ExpiresCustom = "custom"
)

// ExpiryPresets are the create form's expiry choices: days from now, never,
// or the custom date field.
var ExpiryPresets = []ScopeOption{
	{Name: "30", Description: "30 days"},
	{Name: "90", Description: "90 days"},
	{Name: "365", Description: "1 year"},
	{Name: ExpiresNever, Description: "Never"},
	{Name: ExpiresCustom, Description: "Custom date"},
}

// StatusIdle filters the list to the idle keys: working keys unused for
// the organization's idle period.
const StatusIdle = "idle"

// StatusNames are the statuses the list filters by.
var StatusNames = []string{"active", "expiring", "expired", "disabled", "revoked", StatusIdle}

// BackToList sends a row's action back to the keys list.
const BackToList = "list"
