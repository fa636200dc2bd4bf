// Package webhooks holds an organization's webhook pages, for its admins:
// the endpoints, the form that registers or edits one, an endpoint's
// delivery log, the dialogs that delete one or rotate its secret, and the
// one-time reveal of a signing secret.
package webhooks

import "strconv"

// IDs shared by the webhook screens and the handlers that swap them.
const (
	// DeliveriesID is an endpoint's delivery log, which reloads itself
	// while a delivery is pending.
	DeliveriesID = "webhook-deliveries"
	// SecretFieldID holds a revealed signing secret.
	SecretFieldID = "webhook-secret"
)

// ListURL is the address of an organization's webhook endpoints.
func ListURL(slug string) string { return "/orgs/" + slug + "/webhooks" }

// NewURL is the address of the form that registers an endpoint.
func NewURL(slug string) string { return ListURL(slug) + "/new" }

// EndpointURL is the address of one endpoint's page.
func EndpointURL(slug, id string) string { return ListURL(slug) + "/" + id }

// Row is one endpoint as the list and its page show it.
type Row struct {
	ID          string
	URL         string
	Link        string // its page
	Description string
	Events      string // "All events", or the names
	Paused      bool
	// LastStatus is the status of its newest delivery ("" for none),
	// LastDelivery when it was made, in words, and LastExact to the
	// second.
	LastStatus   string
	LastDelivery string
	LastExact    string
	LastISO      string
}

// ListPage is an organization's endpoints.
type ListPage struct {
	Slug      string
	OrgName   string
	CSRFToken string
	Rows      []Row
	Limit     int
}

// EventOption is one event type in the form, checked or not.
type EventOption struct {
	Name        string
	Description string
	Checked     bool
}

// Form registers (Action the list) or edits (Edit) an endpoint.
type Form struct {
	Slug        string
	CSRFToken   string
	Action      string
	Edit        bool
	URL         string
	Description string
	// All is "every event"; Events are the event types one by one.
	All    bool
	Events []EventOption
	Errors map[string]string
	Error  string
	// Cancel is where the form's cancel link leads.
	Cancel string
}

// Reveal shows a signing secret once, after a create or a rotation.
type Reveal struct {
	Slug     string
	Secret   string
	Endpoint Row
	Rotated  bool
}

// Delivery is one line of an endpoint's log.
type Delivery struct {
	ID        string
	Type      string
	Status    string // pending, succeeded, failed, refused
	Label     string // the status in words
	Code      string // the last response code, or "–"
	When      string
	WhenExact string
	WhenISO   string
	Attempts  string
	// Note says what comes next or what went wrong: "retry in 5 minutes",
	// "answered 500".
	Note      string
	ResendURL string
}

// Detail is an endpoint's page.
type Detail struct {
	Slug       string
	CSRFToken  string
	Endpoint   Row
	Form       Form
	Deliveries []Delivery
	// OlderURL and NewestURL page through the log; "" when there is none.
	OlderURL  string
	NewestURL string
	// PollURL, when set, is where the log reloads itself from while a
	// delivery is pending.
	PollURL string
}

// Confirm asks before deleting an endpoint or rotating its secret.
type Confirm struct {
	Slug      string
	CSRFToken string
	Endpoint  Row
	// Pending counts the deliveries a delete would drop.
	Pending int
	Error   string
}

// StatusLabel is a delivery status in words.
func StatusLabel(status string) string {
	switch status {
	case "pending":
		return "Pending"
	case "succeeded":
		return "Delivered"
	case "failed":
		return "Failed"
	case "refused":
		return "Refused"
	}
	return status
}

func itoa(n int) string { return strconv.Itoa(n) }

// DeleteWords says what deleting an endpoint with pending deliveries
// waiting does.
func DeleteWords(pending int) string {
	switch pending {
	case 0:
		return "It gets no more events, and its delivery log goes with it."
	case 1:
		return "It gets no more events, and its delivery log goes with it, including 1 delivery still waiting to be sent."
	}
	return "It gets no more events, and its delivery log goes with it, including " + itoa(pending) + " deliveries still waiting to be sent."
}
