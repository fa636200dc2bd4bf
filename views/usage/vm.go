// Package usage holds the organization's usage screen.
package usage

import "keyplane/views/components"

// Page is the organization's usage screen.
type Page struct {
	Slug string
	URL  string // the page; range links add ?range=
	// Range is the range of the daily chart and the key tables: a preset
	// (Range7d, Range30d) or RangeCustom; RangeLabel says it in words
	// ("last 30 days", "2026-11-01 to 2026-11-20").
	Range      string
	RangeLabel string
	Custom     DateRange
	// CSVURL downloads the range's requests per UTC day, key and outcome.
	CSVURL     string
	Zone       string // the IANA zone of Hourly's labels
	Hourly     components.Chart
	Daily      components.Chart
	TopKeys    []KeyTotal
	Rejections []Rejection
	Failing    []FailingKey
	// Reported are the requests report-only restrictions let through, by
	// would_<code> outcome: allowed, though they would have been refused.
	Reported []Rejection
}

// FailingKey is one of the keys with the most rejected requests.
type FailingKey struct {
	URL         string
	Description string
	Hint        string
	Rejected    int64
	Reasons     []Rejection
}

// KeyTotal is one of the keys with the most requests.
type KeyTotal struct {
	URL         string
	Description string
	Hint        string
	Total       int64
}

// Rejection is the requests rejected with one error code.
type Rejection struct {
	Code  string
	Total int64
}

// Ranges of the usage page (?range=): the last 7 or 30 UTC days, or the
// custom range of UTC days in Custom.
const (
	Range7d     = "7d"
	Range30d    = "30d"
	RangeCustom = "custom"
)

// RangeLink is one of the range switcher's links.
type RangeLink struct {
	Value, Label string
}

// RangeLinks are the preset ranges in the order the switcher shows them.
var RangeLinks = []RangeLink{
	{Range7d, "7 days"},
	{Range30d, "30 days"},
}

// DateRange is the custom range form: two dates (YYYY-MM-DD, UTC days,
// both included) between Min and Max, and why the last ones sent were
// refused, if they were.
type DateRange struct {
	From, To string
	Min, Max string
	Error    string
}

// RangeErrorID is the custom range form's error message, which its inputs
// name as their description.
const RangeErrorID = "usage-range-error"

// URL is the usage page of the organization slug.
func URL(slug string) string { return "/orgs/" + slug + "/usage" }
