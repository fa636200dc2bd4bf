package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/secretbox"
	"keyplane/internal/store"
)

// MaxEndpoints is the default limit of endpoints per organization.
const MaxEndpoints = 20

// MaxDescriptionLen bounds an endpoint's description, in characters.
const MaxDescriptionLen = 200

// Endpoint is where an organization's events go: a URL and the events it
// wants. Its signing secret is not part of it: it is shown once, by Create
// and RotateSecret, and otherwise stays sealed in the database.
type Endpoint struct {
	ID          string
	OrgID       string
	URL         string
	Description string
	// Events are the event types the endpoint wants; []string{AllEvents}
	// means every one, including those added later.
	Events    []string
	PausedAt  *time.Time
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AllEvents reports whether the endpoint wants every event.
func (e Endpoint) AllEvents() bool { return slices.Contains(e.Events, AllEvents) }

// Wants reports whether the endpoint subscribes to event type typ.
func (e Endpoint) Wants(typ string) bool { return e.AllEvents() || slices.Contains(e.Events, typ) }

// Paused reports whether the endpoint is paused.
func (e Endpoint) Paused() bool { return e.PausedAt != nil }

// Name is how dialogs name the endpoint: its description and URL, or the
// URL alone.
func (e Endpoint) Name() string {
	if e.Description != "" {
		return e.Description + " (" + e.URL + ")"
	}
	return e.URL
}

// Label is how the audit log names the endpoint, which it keeps for good:
// its description and the URL's scheme and host only, as the path or
// query may hold the receiver's own token.
func (e Endpoint) Label() string {
	at := e.URL
	if u, err := url.Parse(e.URL); err == nil && u.Host != "" {
		at = u.Scheme + "://" + u.Host
		if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
			at += "/…"
		}
	}
	if e.Description != "" {
		return e.Description + " (" + at + ")"
	}
	return at
}

// endpointRow is an endpoint as stored.
type endpointRow struct {
	ID          string
	OrgID       string
	URL         string
	Description string
	Events      string
	Secret      []byte
	PausedAt    *time.Time
	CreatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (endpointRow) TableName() string { return "webhook_endpoints" }

func (r endpointRow) endpoint() Endpoint {
	var events []string
	json.Unmarshal([]byte(r.Events), &events)
	return Endpoint{
		ID: r.ID, OrgID: r.OrgID, URL: r.URL, Description: r.Description, Events: events,
		PausedAt: r.PausedAt, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

// Input is an endpoint as a form or the API gives it.
type Input struct {
	URL         string
	Description string
	// Events are event type names, or AllEvents alone for every one.
	Events []string
}

// Created is an endpoint with its signing secret, which exists in clear
// only here: the caller shows it once and forgets it.
type Created struct {
	Endpoint Endpoint
	Secret   string
}

// Options configure a Service.
type Options struct {
	// Box seals signing secrets; required.
	Box *secretbox.Box
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Rand is the randomness of secrets; crypto/rand when nil.
	Rand io.Reader
	// AllowPrivate lets endpoints and deliveries reach loopback, private
	// and other internal addresses (KEYPLANE_WEBHOOK_ALLOW_PRIVATE).
	AllowPrivate bool
	// Lookup resolves host names, at registration and at delivery; the
	// system resolver when nil.
	Lookup LookupFunc
	// MaxEndpoints limits the endpoints of one organization; MaxEndpoints
	// when 0.
	MaxEndpoints int
	Logger       *slog.Logger
}

// Service manages organizations' webhook endpoints and their outbox. Every
// query is scoped by organization: another organization's endpoint or
// delivery is NotFound. Its methods join the transaction their ctx
// carries (store.DB.WithTx).
type Service struct {
	db           *store.DB
	box          *secretbox.Box
	now          func() time.Time
	rand         io.Reader
	allowPrivate bool
	lookup       LookupFunc
	maxEndpoints int
	logger       *slog.Logger
	// wake tells this process's dispatcher that a delivery became due.
	wake chan struct{}
}

// NewService returns a webhook service.
func NewService(db *store.DB, o Options) *Service {
	if o.Box == nil {
		panic("webhook: NewService needs a secretbox.Box")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Lookup == nil {
		o.Lookup = systemLookup
	}
	if o.MaxEndpoints <= 0 {
		o.MaxEndpoints = MaxEndpoints
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Service{
		db: db, box: o.Box, now: o.Now, rand: o.Rand, allowPrivate: o.AllowPrivate, lookup: o.Lookup,
		maxEndpoints: o.MaxEndpoints, logger: o.Logger, wake: make(chan struct{}, 1),
	}
}

// AllowPrivate reports whether endpoints may reach internal addresses.
func (s *Service) AllowPrivate() bool { return s.allowPrivate }

// poke wakes the dispatcher of this process, if it sleeps.
func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// secretAD binds a sealed secret to its endpoint, so a sealed value copied
// to another row does not open.
func secretAD(endpointID string) []byte {
	return []byte("keyplane webhook secret\x00" + endpointID)
}

// validate checks in and returns the endpoint's URL, description and
// events as stored, or Invalid with a message per field.
func (s *Service) validate(ctx context.Context, in Input) (string, string, []string, error) {
	fields := map[string]string{}
	desc := strings.TrimSpace(in.Description)
	switch {
	case !utf8.ValidString(desc) || strings.ContainsRune(desc, 0):
		fields["description"] = "Use plain text."
	case utf8.RuneCountInString(desc) > MaxDescriptionLen:
		fields["description"] = fmt.Sprintf("Use at most %d characters.", MaxDescriptionLen)
	}
	events, msg := normaliseEvents(in.Events)
	if msg != "" {
		fields["events"] = msg
	}
	u, err := checkURL(ctx, in.URL, s.allowPrivate, s.lookup)
	if err != nil {
		for k, v := range apperr.FieldsOf(err) {
			fields[k] = v
		}
	}
	if len(fields) > 0 {
		return "", "", nil, apperr.InvalidFields(fields)
	}
	return u, desc, events, nil
}

// normaliseEvents returns the event list as stored: AllEvents alone, or
// known names in EventTypes' order without repeats; or a message.
func normaliseEvents(in []string) ([]string, string) {
	if len(in) == 0 {
		return nil, "Choose at least one event, or all events."
	}
	want := map[string]bool{}
	for _, e := range in {
		e = strings.TrimSpace(e)
		if e == AllEvents {
			return []string{AllEvents}, ""
		}
		if !KnownEvent(e) {
			return nil, fmt.Sprintf("%q is not an event type.", truncate(e, 40))
		}
		want[e] = true
	}
	var out []string
	for _, t := range EventTypes {
		if want[t.Name] {
			out = append(out, t.Name)
		}
	}
	return out, ""
}

func truncate(s string, n int) string {
	s = store.Text(s, 4*n)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func eventsJSON(events []string) string {
	b, _ := json.Marshal(events)
	return string(b)
}

// Create registers an endpoint for orgID and returns it with its new
// signing secret, shown once. Returns Invalid (fields url, description,
// events) for bad input, including a URL on a refused address, and Limit
// when the organization has MaxEndpoints endpoints.
func (s *Service) Create(ctx context.Context, orgID string, in Input, actor audit.Actor) (Created, error) {
	u, desc, events, err := s.validate(ctx, in)
	if err != nil {
		return Created{}, err
	}
	secret, err := newSecret(s.rand)
	if err != nil {
		return Created{}, fmt.Errorf("webhook: create: %w", err)
	}
	now := s.now().UTC()
	row := endpointRow{
		ID: store.NewID(), OrgID: orgID, URL: u, Description: desc, Events: eventsJSON(events),
		CreatedBy: actor.Label(), CreatedAt: now, UpdatedAt: now,
	}
	row.Secret = s.box.Seal([]byte(secret), secretAD(row.ID))
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		// Serialise creations per organization so the limit holds.
		var n int64
		var locked string
		if err := s.db.ForUpdate(tx.Table("organizations").Select("id").Where("id = ?", orgID)).Scan(&locked).Error; err != nil {
			return fmt.Errorf("webhook: create: %w", err)
		}
		if err := tx.Model(&endpointRow{}).Where("org_id = ?", orgID).Count(&n).Error; err != nil {
			return fmt.Errorf("webhook: create: %w", err)
		}
		if int(n) >= s.maxEndpoints {
			return apperr.New(apperr.Limit, "This organization has reached its limit of %d webhook endpoints. Delete one you no longer use to add another.", s.maxEndpoints)
		}
		if err := tx.Create(&row).Error; err != nil {
			return fmt.Errorf("webhook: create: %w", err)
		}
		e := row.endpoint()
		return audit.Record(ctx, tx, now, orgID, actor, audit.WebhookCreated, "webhook", e.ID,
			fmt.Sprintf("%s added the webhook endpoint %s", actor.Name(), e.Label()))
	})
	if err != nil {
		return Created{}, err
	}
	return Created{Endpoint: row.endpoint(), Secret: secret}, nil
}

func notFound() error { return apperr.New(apperr.NotFound, "Webhook endpoint not found.") }

// row reads endpoint id of orgID, or NotFound.
func (s *Service) row(ctx context.Context, orgID, id string) (endpointRow, error) {
	var r endpointRow
	if !store.ValidID(id) || !store.ValidID(orgID) {
		return r, notFound()
	}
	err := s.db.Conn(ctx).Where("org_id = ? AND id = ?", orgID, id).Take(&r).Error
	if store.IsNotFound(err) {
		return r, notFound()
	}
	if err != nil {
		return r, fmt.Errorf("webhook: read endpoint: %w", err)
	}
	return r, nil
}

// Get returns endpoint id of orgID, or NotFound.
func (s *Service) Get(ctx context.Context, orgID, id string) (Endpoint, error) {
	r, err := s.row(ctx, orgID, id)
	return r.endpoint(), err
}

// List returns orgID's endpoints, oldest first.
func (s *Service) List(ctx context.Context, orgID string) ([]Endpoint, error) {
	var rows []endpointRow
	if err := s.db.Conn(ctx).Where("org_id = ?", orgID).Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("webhook: list: %w", err)
	}
	out := make([]Endpoint, len(rows))
	for i, r := range rows {
		out[i] = r.endpoint()
	}
	return out, nil
}

// Update changes an endpoint's URL, description and events. Returns
// NotFound, or Invalid as Create does.
func (s *Service) Update(ctx context.Context, orgID, id string, in Input, actor audit.Actor) (Endpoint, error) {
	if _, err := s.row(ctx, orgID, id); err != nil {
		return Endpoint{}, err
	}
	u, desc, events, err := s.validate(ctx, in)
	if err != nil {
		return Endpoint{}, err
	}
	now := s.now().UTC()
	var out Endpoint
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		res := tx.Model(&endpointRow{}).Where("org_id = ? AND id = ?", orgID, id).
			Updates(map[string]any{"url": u, "description": desc, "events": eventsJSON(events), "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("webhook: update: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return notFound()
		}
		r, err := s.row(ctx, orgID, id)
		if err != nil {
			return err
		}
		out = r.endpoint()
		return audit.Record(ctx, tx, now, orgID, actor, audit.WebhookUpdated, "webhook", id,
			fmt.Sprintf("%s edited the webhook endpoint %s", actor.Name(), out.Label()))
	})
	if err != nil {
		return Endpoint{}, err
	}
	return out, nil
}

// SetPaused pauses endpoint id (no new deliveries; pending ones wait) or
// resumes it. Returns NotFound, or Conflict when it already is so.
func (s *Service) SetPaused(ctx context.Context, orgID, id string, paused bool, actor audit.Actor) (Endpoint, error) {
	now := s.now().UTC()
	var out Endpoint
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		r, err := s.row(ctx, orgID, id)
		if err != nil {
			return err
		}
		if r.PausedAt != nil == paused {
			if paused {
				return apperr.New(apperr.Conflict, "This endpoint is already paused.")
			}
			return apperr.New(apperr.Conflict, "This endpoint is not paused.")
		}
		var at *time.Time
		action, verb := audit.WebhookResumed, "resumed"
		if paused {
			at, action, verb = &now, audit.WebhookPaused, "paused"
		}
		if err := tx.Model(&endpointRow{}).Where("org_id = ? AND id = ?", orgID, id).
			Updates(map[string]any{"paused_at": at, "updated_at": now}).Error; err != nil {
			return fmt.Errorf("webhook: %s: %w", verb, err)
		}
		r.PausedAt, r.UpdatedAt = at, now
		out = r.endpoint()
		return audit.Record(ctx, tx, now, orgID, actor, action, "webhook", id,
			fmt.Sprintf("%s %s the webhook endpoint %s", actor.Name(), verb, out.Label()))
	})
	if err != nil {
		return Endpoint{}, err
	}
	if !paused {
		s.poke()
	}
	return out, nil
}

// Delete removes endpoint id with its deliveries, and returns it as it
// was. Returns NotFound.
func (s *Service) Delete(ctx context.Context, orgID, id string, actor audit.Actor) (Endpoint, error) {
	now := s.now().UTC()
	var out Endpoint
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		r, err := s.row(ctx, orgID, id)
		if err != nil {
			return err
		}
		out = r.endpoint()
		// Children first: SQLite connections need not enforce cascades.
		if err := tx.Where("delivery_id IN (?)", tx.Model(&Delivery{}).Select("id").Where("endpoint_id = ?", id)).Delete(&Attempt{}).Error; err != nil {
			return fmt.Errorf("webhook: delete: %w", err)
		}
		if err := tx.Where("endpoint_id = ?", id).Delete(&Delivery{}).Error; err != nil {
			return fmt.Errorf("webhook: delete: %w", err)
		}
		res := tx.Where("org_id = ? AND id = ?", orgID, id).Delete(&endpointRow{})
		if res.Error != nil {
			return fmt.Errorf("webhook: delete: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return notFound()
		}
		return audit.Record(ctx, tx, now, orgID, actor, audit.WebhookDeleted, "webhook", id,
			fmt.Sprintf("%s deleted the webhook endpoint %s", actor.Name(), out.Label()))
	})
	if err != nil {
		return Endpoint{}, err
	}
	return out, nil
}

// RotateSecret gives endpoint id a new signing secret, returned once; the
// old one stops signing at once, retries of earlier deliveries included.
// Returns NotFound.
func (s *Service) RotateSecret(ctx context.Context, orgID, id string, actor audit.Actor) (Created, error) {
	secret, err := newSecret(s.rand)
	if err != nil {
		return Created{}, fmt.Errorf("webhook: rotate: %w", err)
	}
	now := s.now().UTC()
	var out Endpoint
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		r, err := s.row(ctx, orgID, id)
		if err != nil {
			return err
		}
		if err := tx.Model(&endpointRow{}).Where("org_id = ? AND id = ?", orgID, id).
			Updates(map[string]any{"secret": s.box.Seal([]byte(secret), secretAD(id)), "updated_at": now}).Error; err != nil {
			return fmt.Errorf("webhook: rotate: %w", err)
		}
		r.UpdatedAt = now
		out = r.endpoint()
		return audit.Record(ctx, tx, now, orgID, actor, audit.WebhookSecretRotated, "webhook", id,
			fmt.Sprintf("%s rotated the signing secret of the webhook endpoint %s", actor.Name(), out.Label()))
	})
	if err != nil {
		return Created{}, err
	}
	return Created{Endpoint: out, Secret: secret}, nil
}

// openSecret returns the signing secret of the stored row.
func (s *Service) openSecret(endpointID string, sealed []byte) (string, error) {
	plain, err := s.box.Open(sealed, secretAD(endpointID))
	if err != nil {
		return "", fmt.Errorf("webhook: open the secret of endpoint %s: %w", endpointID, err)
	}
	return string(plain), nil
}

// MaxEndpoints returns the limit of endpoints per organization.
func (s *Service) MaxEndpoints() int { return s.maxEndpoints }
