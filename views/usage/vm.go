// Package usage holds the organization's usage screen.
package usage

import "keyplane/views/components"

// URL is the address of an organization's usage page.
func URL(slug string) string { return "/orgs/" + slug + "/usage" }

// Page is the organization's usage screen.
type Page struct {
	Slug       string
	Daily      components.Chart
	TopKeys    []KeyTotal
	Rejections []Rejection
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
