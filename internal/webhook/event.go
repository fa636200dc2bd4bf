// Package webhook sends an organization's events to the HTTP endpoints its
// admins register, following the Standard Webhooks specification: every
// request carries webhook-id, webhook-timestamp and webhook-signature
// (v1, HMAC-SHA256 under the endpoint's secret), and its body is
// {"type", "timestamp", "data"} with no secret in it.
//
// Events are queued in the database (an outbox) by Enqueue, inside the
// transaction of the change they announce, so an event exists if and only
// if its change committed. A Dispatcher claims due deliveries (FOR UPDATE
// SKIP LOCKED on PostgreSQL, so each attempt is made by one replica),
// sends them through a client that refuses private addresses, and retries
// failures on a fixed schedule. Delivery is at least once: receivers
// dedupe on webhook-id.
package webhook

import "slices"

// Event types an endpoint can subscribe to.
const (
	KeyCreated        = "key.created"
	KeyUpdated        = "key.updated"
	KeyRotated        = "key.rotated"
	KeyRevoked        = "key.revoked"
	KeyDisabled       = "key.disabled"
	KeyEnabled        = "key.enabled"
	KeyExpiring       = "key.expiring"
	KeyExpired        = "key.expired"
	KeyIdle           = "key.idle"
	KeyLeaked         = "key.leaked"
	KeyQuotaLow       = "key.quota_low"
	KeyQuotaExhausted = "key.quota_exhausted"
	MemberAdded       = "member.added"
	MemberRemoved     = "member.removed"
	OrgQuotaLow       = "org.quota_low"
	OrgQuotaExhausted = "org.quota_exhausted"
	// TestEvent is what "send a test event" sends: to the one endpoint
	// asked, whatever it subscribes to. Nothing subscribes to it.
	TestEvent = "webhook.test"
)

// AllEvents stands for every event type in an endpoint's list.
const AllEvents = "*"

// EventType is an event an endpoint can subscribe to, with the words the
// dashboard shows for it.
type EventType struct {
	Name        string
	Description string
}

// EventTypes lists every event an endpoint can subscribe to, in the order
// the dashboard shows them.
var EventTypes = []EventType{
	{KeyCreated, "A key was created."},
	{KeyUpdated, "A key's settings were edited."},
	{KeyRotated, "A key was rotated: a new key replaces it."},
	{KeyRevoked, "A key was revoked."},
	{KeyDisabled, "A key was disabled."},
	{KeyEnabled, "A disabled key was enabled again."},
	{KeyExpiring, "A key stops working within 7 days, and again within 1 day."},
	{KeyExpired, "A key expired."},
	{KeyIdle, "A key was unused for the organization's idle period."},
	{KeyLeaked, "A key was found in public."},
	{KeyQuotaLow, "A key used 80% of its quota."},
	{KeyQuotaExhausted, "A key used all of its quota."},
	{MemberAdded, "A person joined the organization."},
	{MemberRemoved, "A person was removed from the organization."},
	{OrgQuotaLow, "The organization used 80% of its quota."},
	{OrgQuotaExhausted, "The organization used all of its quota."},
}

// KnownEvent reports whether name is an event type endpoints can
// subscribe to.
func KnownEvent(name string) bool {
	return slices.ContainsFunc(EventTypes, func(e EventType) bool { return e.Name == name })
}

// EventNames returns the names of every subscribable event type.
func EventNames() []string {
	out := make([]string, len(EventTypes))
	for i, e := range EventTypes {
		out[i] = e.Name
	}
	return out
}
