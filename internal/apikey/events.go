package apikey

import (
	"context"
	"fmt"
	"time"

	"keyplane/internal/audit"
)

// Events hears of key changes, for the organization's webhooks. Enqueue is
// called inside the transaction of the change, with its ctx, so an event
// is queued if and only if the change commits; an error rolls the change
// back. typ is the event type (key.created, ...); data is never a secret.
type Events interface {
	Enqueue(ctx context.Context, orgID, typ string, data any) error
}

// EventData is a key as its webhook events carry it: the names of the
// management API's key, the organization and who made the change. It
// never holds the key itself.
type EventData struct {
	ID          string     `json:"id"`
	OrgID       string     `json:"org_id"`
	Description string     `json:"description"`
	Hint        string     `json:"hint"`
	Product     string     `json:"product"`
	Kind        string     `json:"kind"`
	Environment string     `json:"environment"`
	Scopes      []string   `json:"scopes"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	DisabledAt  *time.Time `json:"disabled_at"`
	RevokedAt   *time.Time `json:"revoked_at"`
	// ReplacedBy is the id of the key that replaces this one (key.rotated).
	ReplacedBy *string `json:"replaced_by,omitempty"`
	// Leak says when and where the key was found in public (key.leaked,
	// and every later event of such a key).
	Leak  *LeakData `json:"leak,omitempty"`
	Actor string    `json:"actor"`
}

// LeakData is where and when a key was found in public, and who said so.
type LeakData struct {
	FoundAt time.Time `json:"found_at"`
	URL     string    `json:"url"`
	Source  string    `json:"source"`
}

// NewEventData returns k as its events carry it at now, changed by actor.
func NewEventData(k Key, now time.Time, actor audit.Actor) EventData {
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	d := EventData{
		ID: k.ID, OrgID: k.OrgID, Description: k.Description, Hint: k.Hint, Product: k.Product,
		Kind: string(k.Kind), Environment: string(k.Environment), Scopes: scopes, Status: string(k.StatusAt(now)),
		CreatedAt: k.CreatedAt.UTC(), ExpiresAt: utcPtr(k.Deadline()), DisabledAt: utcPtr(k.DisabledAt),
		RevokedAt: utcPtr(k.RevokedAt), ReplacedBy: k.ReplacedByID, Actor: actor.Name(),
	}
	if k.LeakedAt != nil {
		d.Leak = &LeakData{FoundAt: k.LeakedAt.UTC(), URL: k.LeakedURL, Source: k.LeakedSource}
	}
	return d
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// emit queues event typ about key k inside the transaction ctx carries.
func (s *Service) emit(ctx context.Context, typ string, k Key, now time.Time, actor audit.Actor) error {
	if s.events == nil {
		return nil
	}
	if err := s.events.Enqueue(ctx, k.OrgID, typ, NewEventData(k, now, actor)); err != nil {
		return fmt.Errorf("apikey: %s event: %w", typ, err)
	}
	return nil
}
