package keys

import "keyplane/views/components"

// UsageID is the key page's usage section, which the period links swap.
const UsageID = "key-usage"

// Periods of the key page's usage chart.
const (
	Period24h = "24h"
	Period7d  = "7d"
	Period30d = "30d"
	// PeriodCustom is a range of UTC days, from and to (Usage.Custom).
	PeriodCustom = "custom"
)

// Usage is the key page's usage section: one chart for the chosen period
// and the scopes the key's requests needed.
type Usage struct {
	URL    string // the key page; period links add ?period=
	Period string
	// Custom is the custom range form: the days shown, or those refused
	// with the message why.
	Custom DateRange
	// CSVURL downloads the period's requests per bucket and outcome.
	CSVURL string
	// Zone is the time zone (IANA name) the hourly chart's hours are
	// labelled in: the viewer's, or UTC.
	Zone   string
	Chart  components.Chart
	Scopes []ScopeRow
	// Unused are granted scopes no request needed in the window; Broad is
	// set when the key holds admin and its requests needed only Needed.
	Unused []string
	Broad  bool
	Needed []string
}

// ScopeRow is one scope the key holds or its requests needed.
type ScopeRow struct {
	Scope     string
	Granted   bool
	ViaAdmin  bool  // not granted by name, but allowed through admin
	Requests  int64 // requests that needed it
	Forbidden int64 // of those, refused because the key lacked a scope; shown only for scopes it lacks
}

// PeriodLink is one of the period switcher's links.
type PeriodLink struct {
	Value, Label string
}

// PeriodLinks are the periods in the order the switcher shows them.
var PeriodLinks = []PeriodLink{
	{Period24h, "24 hours"},
	{Period7d, "7 days"},
	{Period30d, "30 days"},
}

// DateRange is the custom range form: two dates (YYYY-MM-DD, UTC days,
// both included) between Min and Max, and why the last ones sent were
// refused, if they were.
type DateRange struct {
	From, To string
	Min, Max string
	Error    string
}

// UsageRangeErrorID is the custom range form's message, which its inputs
// name as their description.
const UsageRangeErrorID = "key-usage-range-error"
