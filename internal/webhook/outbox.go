package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/store"
)

// Status is where a delivery stands.
type Status string

// The statuses of a delivery.
const (
	// Pending: waiting for its first attempt or a retry (or being sent).
	Pending Status = "pending"
	// Succeeded: the endpoint answered 2xx.
	Succeeded Status = "succeeded"
	// Failed: every attempt the schedule allows failed.
	Failed Status = "failed"
	// Refused: the endpoint's address is one webhooks may not reach; not
	// retried.
	Refused Status = "refused"
)

// Outcomes of one attempt, and of the deliveries_total metric (which adds
// "retried" for a failed attempt that will be retried).
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
	OutcomeRefused   = "refused"
	OutcomeRetried   = "retried"
)

// Schedule is how long after each failed attempt the next one is made:
// eight attempts in all, over about 32 hours, then the delivery fails.
var Schedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// MaxAttemptsKept bounds the attempts remembered per delivery: the newest.
const MaxAttemptsKept = 20

// Delivery is one event on its way to one endpoint: its ID is the
// webhook-id header, Payload the exact body sent.
type Delivery struct {
	ID             string
	EndpointID     string
	OrgID          string
	EventType      string
	Payload        string
	Status         Status
	Attempts       int
	RetriesLeft    int
	NextAttemptAt  *time.Time
	LeaseID        *string
	LastStatusCode *int
	LastError      string
	LastAttemptAt  *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (Delivery) TableName() string { return "webhook_deliveries" }

// Attempt is one try at a delivery.
type Attempt struct {
	ID         int64
	DeliveryID string
	At         time.Time
	DurationMS int
	StatusCode *int
	Outcome    string
	Error      string
}

func (Attempt) TableName() string { return "webhook_attempts" }

// payload is a delivery's body.
type payload struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      any    `json:"data"`
}

// newDeliveryID returns a webhook-id: "msg_" and a UUIDv7 in hex, so ids
// sort by time.
func newDeliveryID() string {
	u := uuid.Must(uuid.NewV7())
	return "msg_" + strings.ReplaceAll(u.String(), "-", "")
}

// ValidDeliveryID reports whether id has the shape of a webhook-id.
func ValidDeliveryID(id string) bool {
	hex, ok := strings.CutPrefix(id, "msg_")
	if !ok || len(hex) != 32 {
		return false
	}
	return strings.Trim(hex, "0123456789abcdef") == ""
}

// Enqueue queues event typ with data for every endpoint of orgID that is
// not paused and wants typ. It runs inside the transaction ctx carries, so
// the event is queued if and only if the change it announces commits; the
// dispatcher of this process is woken at commit. data is marshalled to
// JSON and must never hold a secret. Returns Invalid for an event type
// that is not in EventTypes.
func (s *Service) Enqueue(ctx context.Context, orgID, typ string, data any) error {
	if !KnownEvent(typ) {
		return apperr.New(apperr.Invalid, "webhook: unknown event type %q", typ)
	}
	var rows []endpointRow
	if err := s.db.Conn(ctx).Select("id, events").Where("org_id = ? AND paused_at IS NULL", orgID).Find(&rows).Error; err != nil {
		return fmt.Errorf("webhook: enqueue %s: %w", typ, err)
	}
	var to []string
	for _, r := range rows {
		if r.endpoint().Wants(typ) {
			to = append(to, r.ID)
		}
	}
	if len(to) == 0 {
		return nil
	}
	return s.enqueue(ctx, orgID, typ, data, to, len(Schedule))
}

// enqueue writes one pending delivery of typ per endpoint in to, due now,
// with retries retries.
func (s *Service) enqueue(ctx context.Context, orgID, typ string, data any, to []string, retries int) error {
	now := s.now().UTC()
	body, err := json.Marshal(payload{Type: typ, Timestamp: now.Format(time.RFC3339), Data: data})
	if err != nil {
		return fmt.Errorf("webhook: enqueue %s: %w", typ, err)
	}
	rows := make([]Delivery, 0, len(to))
	for _, id := range to {
		rows = append(rows, Delivery{
			ID: newDeliveryID(), EndpointID: id, OrgID: orgID, EventType: typ, Payload: string(body),
			Status: Pending, RetriesLeft: retries, NextAttemptAt: &now, CreatedAt: now, UpdatedAt: now,
		})
	}
	if err := s.db.Conn(ctx).Create(&rows).Error; err != nil {
		return fmt.Errorf("webhook: enqueue %s: %w", typ, err)
	}
	s.db.AfterCommit(ctx, s.poke)
	return nil
}

// TestData is the data of a test event.
type TestData struct {
	EndpointID string `json:"endpoint_id"`
	Message    string `json:"message"`
	SentBy     string `json:"sent_by"`
}

// SendTest queues a TestEvent for endpoint id alone, even a paused one
// (it is sent when the endpoint is resumed), and returns its delivery.
// Returns NotFound.
func (s *Service) SendTest(ctx context.Context, orgID, id string, actor audit.Actor) (Delivery, error) {
	var out Delivery
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		if _, err := s.row(ctx, orgID, id); err != nil {
			return err
		}
		data := TestData{EndpointID: id, Message: "This is a test event from Keyplane.", SentBy: actor.Name()}
		if err := s.enqueue(ctx, orgID, TestEvent, data, []string{id}, 0); err != nil {
			return err
		}
		return s.db.Conn(ctx).Where("endpoint_id = ? AND event_type = ?", id, TestEvent).Order("id DESC").Take(&out).Error
	})
	if err != nil {
		return Delivery{}, err
	}
	return out, nil
}

// DeliveryPage selects a page of an endpoint's deliveries, newest first:
// at most Size (1–100, default 50), older than Before (a delivery id)
// when set.
type DeliveryPage struct {
	Size   int
	Before string
}

// Deliveries returns a page of endpoint id's deliveries, newest first, and
// whether older ones exist. Returns NotFound for an unknown endpoint and
// Invalid (field cursor) for a Before that is not a delivery id.
func (s *Service) Deliveries(ctx context.Context, orgID, id string, p DeliveryPage) ([]Delivery, bool, error) {
	if _, err := s.row(ctx, orgID, id); err != nil {
		return nil, false, err
	}
	size := p.Size
	if size <= 0 || size > 100 {
		size = 50
	}
	q := s.db.Conn(ctx).Where("org_id = ? AND endpoint_id = ?", orgID, id)
	if p.Before != "" {
		if !ValidDeliveryID(p.Before) {
			return nil, false, apperr.InvalidFields(map[string]string{"cursor": "This cursor was not issued by Keyplane."})
		}
		q = q.Where("id < ?", p.Before)
	}
	var list []Delivery
	if err := q.Order("id DESC").Limit(size + 1).Find(&list).Error; err != nil {
		return nil, false, fmt.Errorf("webhook: deliveries: %w", err)
	}
	more := len(list) > size
	if more {
		list = list[:size]
	}
	return list, more, nil
}

// LastDeliveries returns the newest delivery of each of orgID's endpoints
// that has one, by endpoint id.
func (s *Service) LastDeliveries(ctx context.Context, orgID string) (map[string]Delivery, error) {
	var list []Delivery
	err := s.db.Conn(ctx).Where("org_id = ? AND id IN (?)", orgID,
		s.db.Conn(ctx).Model(&Delivery{}).Select("max(id)").Where("org_id = ?", orgID).Group("endpoint_id"),
	).Find(&list).Error
	if err != nil {
		return nil, fmt.Errorf("webhook: last deliveries: %w", err)
	}
	out := make(map[string]Delivery, len(list))
	for _, d := range list {
		out[d.EndpointID] = d
	}
	return out, nil
}

// Delivery returns delivery did of endpoint id with its attempts, newest
// first. Returns NotFound.
func (s *Service) Delivery(ctx context.Context, orgID, id, did string) (Delivery, []Attempt, error) {
	d, err := s.delivery(ctx, orgID, id, did)
	if err != nil {
		return Delivery{}, nil, err
	}
	var attempts []Attempt
	if err := s.db.Conn(ctx).Where("delivery_id = ?", did).Order("id DESC").Find(&attempts).Error; err != nil {
		return Delivery{}, nil, fmt.Errorf("webhook: attempts: %w", err)
	}
	return d, attempts, nil
}

func (s *Service) delivery(ctx context.Context, orgID, id, did string) (Delivery, error) {
	var d Delivery
	if !store.ValidID(id) || !ValidDeliveryID(did) {
		return d, apperr.New(apperr.NotFound, "Delivery not found.")
	}
	err := s.db.Conn(ctx).Where("org_id = ? AND endpoint_id = ? AND id = ?", orgID, id, did).Take(&d).Error
	if store.IsNotFound(err) {
		return d, apperr.New(apperr.NotFound, "Delivery not found.")
	}
	if err != nil {
		return d, fmt.Errorf("webhook: delivery: %w", err)
	}
	return d, nil
}

// Resend makes a new attempt at delivery did of endpoint id now, whatever
// its status; a delivery that had finished gets this one attempt, no
// retries. Returns NotFound, or Conflict while an attempt is being made.
func (s *Service) Resend(ctx context.Context, orgID, id, did string) (Delivery, error) {
	now := s.now().UTC()
	var out Delivery
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		d, err := s.delivery(ctx, orgID, id, did)
		if err != nil {
			return err
		}
		if d.inFlight(now) {
			return apperr.New(apperr.Conflict, "This delivery is being sent right now; try again in a moment.")
		}
		retries := d.RetriesLeft
		if d.Status != Pending {
			retries = 0
		}
		res := s.db.Conn(ctx).Model(&Delivery{}).Where("id = ? AND (lease_id IS NULL OR status <> ? OR next_attempt_at <= ?)", did, Pending, now).Updates(map[string]any{
			"status": Pending, "next_attempt_at": now, "lease_id": nil, "retries_left": retries, "updated_at": now,
		})
		if res.Error != nil {
			return fmt.Errorf("webhook: resend: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.Conflict, "This delivery is being sent right now; try again in a moment.")
		}
		d.Status, d.NextAttemptAt, d.LeaseID, d.RetriesLeft, d.UpdatedAt = Pending, &now, nil, retries, now
		out = d
		s.db.AfterCommit(ctx, s.poke)
		return nil
	})
	return out, err
}

// inFlight reports whether a dispatcher holds d's lease at now.
func (d Delivery) inFlight(now time.Time) bool {
	return d.Status == Pending && d.LeaseID != nil && d.NextAttemptAt != nil && d.NextAttemptAt.After(now)
}

// PendingCount returns how many of endpoint id's deliveries wait to be
// sent.
func (s *Service) PendingCount(ctx context.Context, orgID, id string) (int, error) {
	var n int64
	err := s.db.Conn(ctx).Model(&Delivery{}).Where("org_id = ? AND endpoint_id = ? AND status = ?", orgID, id, Pending).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("webhook: pending count: %w", err)
	}
	return int(n), nil
}

// DeliveriesKeptFor is how long a finished delivery (succeeded, failed or
// refused), with its payload and attempts, stays in the log.
const DeliveriesKeptFor = 30 * 24 * time.Hour

// pruneBatch is how many deliveries one DELETE removes at most, so a large
// backlog never holds a long lock.
const pruneBatch = 1000

// Prune deletes the finished deliveries created before olderThan, with
// their attempts, in batches, and returns how many it deleted. Pending
// deliveries are never pruned.
func (s *Service) Prune(ctx context.Context, olderThan time.Time) (int64, error) {
	var total int64
	for {
		sub := s.db.Conn(ctx).Model(&Delivery{}).Select("id").
			Where("status <> ? AND created_at < ?", Pending, olderThan.UTC()).Limit(pruneBatch)
		res := s.db.Conn(ctx).Where("id IN (?)", sub).Delete(&Delivery{})
		if res.Error != nil {
			return total, fmt.Errorf("webhook: prune: %w", res.Error)
		}
		total += res.RowsAffected
		if res.RowsAffected < pruneBatch {
			return total, nil
		}
	}
}

// RunPrune prunes deliveries older than DeliveriesKeptFor at once and then
// every hour until ctx ends; each pass has a deadline of its own.
func (s *Service) RunPrune(ctx context.Context, logger *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		n, err := s.Prune(pctx, s.now().Add(-DeliveriesKeptFor))
		cancel()
		if err != nil && ctx.Err() == nil {
			logger.Warn("webhooks: pruning old deliveries failed; will retry", "err", err)
		} else if n > 0 {
			logger.Info("webhooks: pruned old deliveries", "deliveries", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
