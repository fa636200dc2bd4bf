// Package usage holds the organization's usage screen.
package usage

import "keyplane/views/components"

// Page is the organization's usage screen.
type Page struct {
	Slug       string
	Zone       string // the IANA zone of Hourly's labels
	Hourly     components.Chart
	Daily      components.Chart
	TopKeys    []KeyTotal
	Rejections []Rejection
	Failing    []FailingKey
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
