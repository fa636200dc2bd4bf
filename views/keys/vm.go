package keys

import "keyplane/views/components"

// IDs shared by the keys screens and the handlers that swap them.
const (
	TableID    = "keys-table"
	FiltersID  = "keys-filters"
	RevealID   = "key-reveal"
	FormID     = "key-form"
	ChangedEvt = "keys-changed"
)

// ListURL is the address of an organization's keys.
func ListURL(slug string) string { return "/orgs/" + slug + "/keys" }

// KeyURL is the address of one key's page.
func KeyURL(slug, id string) string { return ListURL(slug) + "/" + id }

// Row is one key as the list and the key page show it.
type Row struct {
	ID            string
	URL           string
	Hint          string
	Description   string
	Product       string // the product's name, shown when there are several
	Imported      bool   // brought from the platform's own key system
	Kind          string
	Environment   string
	Status        string
	Scopes        []string
	Domains       []string
	IPs           []string
	CreatedBy     string
	CreatedAt     string
	CreatedAtISO  string
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
	// Disabled says since when a disabled key is paused ("disabled 3
	// minutes ago"); CanDisable and CanEnable offer the two actions.
	Disabled      string
	DisabledExact string
	CanDisable    bool
	CanEnable     bool
	// Requests24h and Activity are the key's requests in the last 24 hours
	// and per UTC day over the last 7 days; the list shows them.
	Requests24h string
	Activity    components.Spark
}

// Filter is the list's filter form.
type Filter struct {
	Status      string
	Environment string
	Kind        string
	Product     string
	Q           string
}

// Active reports whether any filter is set.
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
	// Products are set when there is more than one: the list then shows
	// a product column, a product filter and each product's count.
	Products []ProductOption
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
	RateLimit    string
	BlockMinutes string
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
	Catalogue  []ScopeOption
	AtLimit    bool
	Limit      int
	// DefaultRate and DefaultBlock are the public-key defaults, as hints.
	DefaultRate  int
	DefaultBlock int
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
	Usage          Usage
}

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
}

// StatusNames are the statuses the list filters by.
var StatusNames = []string{"active", "expiring", "expired", "disabled", "revoked"}

// BackToList sends a row's action back to the keys list.
const BackToList = "list"
