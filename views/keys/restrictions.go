package keys

// IDs of the key page's restriction parts, which the switches swap.
const (
	// RestrictionsID is the Restrictions panel.
	RestrictionsID = "key-restrictions"
	// SuggestionsID is "Restrict to what it uses".
	SuggestionsID = "key-suggestions"
)

// RestrictionURL is the address of restriction name of key id: POST
// /enforce or /report-only there switches it.
func RestrictionURL(slug, id, name string) string {
	return KeyURL(slug, id) + "/restrictions/" + name
}

// SuggestionsURL is where "Restrict to what it uses" posts.
func SuggestionsURL(slug, id string) string { return KeyURL(slug, id) + "/suggestions/apply" }

// Restrictions is the key page's Restrictions panel: each restriction the
// key has with its mode and, for admins, the switch; and what the
// report-only ones let through.
type Restrictions struct {
	Slug, KeyID string
	CSRFToken   string
	// CanSwitch offers the switches: admins, on a key that can change.
	CanSwitch bool
	Rows      []RestrictionRow
	// Summary says what the report-only restrictions let through ("Would
	// have refused 214 requests in the last 7 days, from 3 IPs."); "" when
	// none is report-only.
	Summary string
}

// RestrictionRow is one restriction of the panel.
type RestrictionRow struct {
	Name    string // "ips", as posted
	Label   string // "IP allowlist"
	Setting string // what it allows, in words
	// ReportOnly is its mode; Would, for a report-only one, what it let
	// through ("Would have refused 214 requests in the last 7 days").
	ReportOnly bool
	Would      string
}

// SwitchID is the id of the row's switch, the same in both modes, so
// focus finds it again after a switch redraws the panel.
func (r RestrictionRow) SwitchID() string { return "restriction-switch-" + r.Name }

// EnforceConfirm is the confirmation before enforcing a report-only
// restriction: what it would have refused.
type EnforceConfirm struct {
	Slug, KeyID string
	CSRFToken   string
	Description string
	Hint        string
	Name        string // the restriction, as posted
	Label       string // in a sentence: "the IP allowlist"
	// Would is "Enforcing would have refused 214 requests in the last 7
	// days."; Refusal says how they will be refused.
	Would   string
	Refusal string
	Error   string
}

// Suggestions is "Restrict to what it uses": the addresses, origins and
// scopes of the key's traffic, to apply as report-only restrictions.
type Suggestions struct {
	Slug, KeyID string
	CSRFToken   string
	Days        int
	// Public keys are restricted by origin too.
	Public  bool
	IPs     []Source
	Origins []Source
	Scopes  []Source // Value is the scope's name
	// NotListed are sentences about traffic the suggestion cannot cover:
	// from addresses not listed, needing scopes no key can hold.
	NotListed []string
	// Applies says which restrictions applying sets, in words; "" when
	// there is nothing to apply.
	Applies string
}

// Empty reports whether the key had no traffic to learn from.
func (s Suggestions) Empty() bool {
	return len(s.IPs) == 0 && len(s.Origins) == 0 && len(s.Scopes) == 0 && len(s.NotListed) == 0
}
