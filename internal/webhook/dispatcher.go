package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm/clause"

	"keyplane/internal/store"
)

// Defaults of a Dispatcher.
const (
	DefaultConcurrency   = 4
	DefaultPerEndpoint   = 2
	DefaultLease         = time.Minute
	DefaultPollInterval  = 2 * time.Second
	DefaultTimeout       = 10 * time.Second
	DefaultShutdownGrace = 3 * time.Second
	// MaxResponseBytes is the most of a response body a delivery reads.
	MaxResponseBytes = 4 << 10
)

// UserAgent is sent with every delivery.
const UserAgent = "Keyplane-Webhooks/1"

// DispatcherOptions configure a Dispatcher; zero values take the
// defaults.
type DispatcherOptions struct {
	// Concurrency bounds the attempts in flight at once.
	Concurrency int
	// PerEndpoint bounds the attempts in flight to one endpoint, so a
	// slow receiver holds only so many of the Concurrency slots (across
	// replicas, a soft bound). DefaultPerEndpoint when 0.
	PerEndpoint int
	// Lease is how long a claimed delivery stays this dispatcher's: past
	// it, a dispatcher that crashed mid-attempt loses it to another. It
	// must exceed Timeout.
	Lease time.Duration
	// PollInterval is how often the outbox is read when nothing wakes the
	// dispatcher sooner (an event enqueued by this process does).
	PollInterval time.Duration
	// Timeout bounds one attempt, from dialling to the end of the body.
	Timeout time.Duration
	// ShutdownGrace is how long attempts in flight may finish once Run's
	// ctx ends; those still running are then cancelled and left for
	// another dispatcher to claim.
	ShutdownGrace time.Duration
	// Registerer, when set, gets keyplane_webhook_deliveries_total.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Dispatcher sends the outbox's due deliveries and records every attempt.
// Any number of dispatchers, in any number of processes, may share one
// database: each attempt is made by the one that claimed the delivery.
type Dispatcher struct {
	svc         *Service
	client      *http.Client
	concurrency int
	perEndpoint int
	lease       time.Duration
	poll        time.Duration
	timeout     time.Duration
	grace       time.Duration
	logger      *slog.Logger
	outcomes    *prometheus.CounterVec
}

// NewDispatcher returns a dispatcher of svc's outbox. It panics when
// Registerer already holds the metric.
func NewDispatcher(svc *Service, o DispatcherOptions) *Dispatcher {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.PerEndpoint <= 0 {
		o.PerEndpoint = DefaultPerEndpoint
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Lease <= o.Timeout {
		o.Lease = o.Timeout + 30*time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = DefaultShutdownGrace
	}
	if o.Logger == nil {
		o.Logger = svc.logger
	}
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyplane_webhook_deliveries_total",
		Help: "Webhook delivery attempts by outcome: succeeded, failed (no retry left), retried (failed, retry scheduled), refused (address not allowed).",
	}, []string{"outcome"})
	for _, o := range []string{OutcomeSucceeded, OutcomeFailed, OutcomeRetried, OutcomeRefused} {
		outcomes.WithLabelValues(o)
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(outcomes)
	}
	return &Dispatcher{
		svc: svc, client: newClient(o.Timeout, svc.allowPrivate, svc.lookup),
		concurrency: o.Concurrency, perEndpoint: o.PerEndpoint, lease: o.Lease, poll: o.PollInterval, timeout: o.Timeout,
		grace: o.ShutdownGrace, logger: o.Logger, outcomes: outcomes,
	}
}

// job is a claimed delivery with what sending it takes.
type job struct {
	Delivery
	URL    string
	Secret []byte
	lease  string
}

// Run sends due deliveries until ctx ends, at most Concurrency at a time.
// Then it stops claiming, gives the attempts in flight ShutdownGrace to
// finish and cancels the rest, whose deliveries stay pending for the next
// claim: nothing is lost. It returns when no attempt is running.
func (d *Dispatcher) Run(ctx context.Context) {
	attemptCtx, cancelAttempts := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(d.grace):
			cancelAttempts()
			<-done
		}
		cancelAttempts()
	}()
	slots := make(chan struct{}, d.concurrency)
	freed := make(chan struct{}, 1)
	timer := time.NewTimer(d.poll)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			return
		}
		free := d.concurrency - len(slots)
		var jobs []job
		if free > 0 {
			var err error
			jobs, err = d.claim(ctx, free)
			if err != nil && ctx.Err() == nil {
				d.logger.Warn("webhooks: claim deliveries", "err", err)
			}
		}
		for _, j := range jobs {
			slots <- struct{}{}
			wg.Add(1)
			go func(j job) {
				defer wg.Done()
				d.attempt(attemptCtx, j)
				<-slots
				select {
				case freed <- struct{}{}:
				default:
				}
			}(j)
		}
		if free > 0 && len(jobs) == free {
			// More may be due: claim again as soon as a slot frees.
			select {
			case <-ctx.Done():
				return
			case <-freed:
			}
			continue
		}
		timer.Reset(d.poll)
		select {
		case <-ctx.Done():
			return
		case <-d.svc.wake:
		case <-timer.C:
		case <-freed:
		}
	}
}

// DispatchDue claims the deliveries due now (at most Concurrency), makes
// their attempts concurrently and returns how many it made, once all are
// recorded. Run is the loop; this is one turn of it, for tests and tools.
func (d *Dispatcher) DispatchDue(ctx context.Context) (int, error) {
	jobs, err := d.claim(ctx, d.concurrency)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func(j job) { defer wg.Done(); d.attempt(ctx, j) }(j)
	}
	wg.Wait()
	return len(jobs), nil
}

func newLeaseID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// claim takes up to n due deliveries of endpoints that are not paused, at
// most PerEndpoint in flight per endpoint: in one short transaction it
// selects them (FOR UPDATE SKIP LOCKED on PostgreSQL, so two dispatchers
// never take the same one; SQLite's transactions are exclusive) and moves
// their next attempt past the lease, marked with a lease id that only
// this claim knows.
func (d *Dispatcher) claim(ctx context.Context, n int) ([]job, error) {
	db := d.svc.db
	now := d.svc.now().UTC()
	lease := newLeaseID()
	until := now.Add(d.lease)
	var ids []string
	err := db.WithTx(ctx, func(ctx context.Context) error {
		tx := db.Conn(ctx)
		var due []struct {
			ID         string
			EndpointID string
		}
		// Endpoints with their fill of attempts in flight are left out
		// here, not after: otherwise one slow endpoint's backlog could
		// fill every row read and hold up every other endpoint.
		full := tx.Model(&Delivery{}).Select("endpoint_id").
			Where("status = ? AND lease_id IS NOT NULL AND next_attempt_at > ?", Pending, now).
			Group("endpoint_id").Having("count(*) >= ?", d.perEndpoint)
		q := tx.Table("webhook_deliveries AS d").Select("d.id, d.endpoint_id").
			Joins("JOIN webhook_endpoints AS e ON e.id = d.endpoint_id").
			Where("d.status = ? AND d.next_attempt_at <= ? AND e.paused_at IS NULL", Pending, now).
			Where("d.endpoint_id NOT IN (?)", full).
			Order("d.next_attempt_at, d.id").Limit(4 * n)
		if db.Dialect == store.Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE", Table: clause.Table{Name: "d"}, Options: "SKIP LOCKED"})
		}
		if err := q.Scan(&due).Error; err != nil {
			return err
		}
		if len(due) == 0 {
			return nil
		}
		endpoints := make([]string, 0, len(due))
		for _, r := range due {
			endpoints = append(endpoints, r.EndpointID)
		}
		var busy []struct {
			EndpointID string
			N          int
		}
		err := tx.Model(&Delivery{}).Select("endpoint_id, count(*) AS n").
			Where("status = ? AND lease_id IS NOT NULL AND next_attempt_at > ? AND endpoint_id IN ?", Pending, now, endpoints).
			Group("endpoint_id").Scan(&busy).Error
		if err != nil {
			return err
		}
		inFlight := map[string]int{}
		for _, b := range busy {
			inFlight[b.EndpointID] = b.N
		}
		for _, r := range due {
			if len(ids) == n {
				break
			}
			if inFlight[r.EndpointID] < d.perEndpoint {
				inFlight[r.EndpointID]++
				ids = append(ids, r.ID)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		return tx.Model(&Delivery{}).Where("id IN ?", ids).
			Updates(map[string]any{"next_attempt_at": until, "lease_id": lease}).Error
	})
	if err != nil || len(ids) == 0 {
		if err != nil {
			err = fmt.Errorf("webhook: claim: %w", err)
		}
		return nil, err
	}
	var rows []struct {
		Delivery
		URL    string
		Secret []byte
	}
	err = db.Conn(ctx).Table("webhook_deliveries AS d").
		Select("d.*, e.url, e.secret").
		Joins("JOIN webhook_endpoints AS e ON e.id = d.endpoint_id").
		Where("d.id IN ? AND d.lease_id = ?", ids, lease).Order("d.next_attempt_at, d.id").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("webhook: claim: %w", err)
	}
	jobs := make([]job, len(rows))
	for i, r := range rows {
		jobs[i] = job{Delivery: r.Delivery, URL: r.URL, Secret: r.Secret, lease: lease}
	}
	return jobs, nil
}

// result is how one attempt went.
type result struct {
	status   *int
	outcome  string // OutcomeSucceeded, OutcomeFailed or OutcomeRefused
	err      string
	duration time.Duration
}

// attempt sends j once and records how it went. An attempt cancelled by
// ctx (shutdown) is not recorded: its lease is given back, so the
// delivery is claimed again at once, here or elsewhere.
func (d *Dispatcher) attempt(ctx context.Context, j job) {
	at := d.svc.now().UTC()
	res, cancelled := d.send(ctx, j, at)
	if cancelled {
		d.release(j)
		return
	}
	if err := d.record(j, at, res); err != nil {
		d.logger.Error("webhooks: record attempt", "delivery", j.ID, "err", err)
	}
}

// send makes the HTTP request of j, signed at at.
func (d *Dispatcher) send(ctx context.Context, j job, at time.Time) (result, bool) {
	secret, err := d.svc.openSecret(j.EndpointID, j.Secret)
	if err != nil {
		d.logger.Error("webhooks: cannot open an endpoint's signing secret", "endpoint", j.EndpointID, "err", err)
		return result{outcome: OutcomeFailed, err: "the signing secret cannot be read; rotate it"}, false
	}
	body := []byte(j.Payload)
	sig, err := Sign(secret, j.ID, at, body)
	if err != nil {
		return result{outcome: OutcomeFailed, err: "the signing secret cannot be read; rotate it"}, false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.URL, bytes.NewReader(body))
	if err != nil {
		return result{outcome: OutcomeFailed, err: "the endpoint's URL cannot be used"}, false
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	h[HeaderID] = []string{j.ID}
	h[HeaderTimestamp] = []string{strconv.FormatInt(at.Unix(), 10)}
	h[HeaderSignature] = []string{sig}
	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		res := result{duration: time.Since(start), outcome: OutcomeFailed, err: describe(err, d.timeout)}
		if errors.Is(err, ErrRefusedAddress) {
			res.outcome = OutcomeRefused
		}
		if ctx.Err() != nil && !errors.Is(err, ErrRefusedAddress) {
			return res, true
		}
		return res, false
	}
	_, readErr := io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponseBytes))
	resp.Body.Close()
	code := resp.StatusCode
	res := result{status: &code, duration: time.Since(start)}
	switch {
	case code >= 200 && code < 300:
		res.outcome = OutcomeSucceeded
	case code >= 300 && code < 400:
		res.outcome, res.err = OutcomeFailed, fmt.Sprintf("answered %d: redirects are not followed", code)
	default:
		res.outcome, res.err = OutcomeFailed, fmt.Sprintf("answered %d", code)
	}
	if readErr != nil && res.outcome == OutcomeSucceeded && ctx.Err() == nil {
		// The answer was a success; a body cut short does not change it.
		d.logger.Debug("webhooks: response body", "delivery", j.ID, "err", readErr)
	}
	return res, false
}

// record writes how an attempt at j went, if j's lease is still this
// dispatcher's: the delivery's new status and next attempt, and the
// attempt in its log (the newest MaxAttemptsKept kept).
func (d *Dispatcher) record(j job, at time.Time, res result) error {
	db := d.svc.db
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := d.svc.now().UTC()
	updates := map[string]any{
		"attempts": j.Attempts + 1, "last_status_code": res.status, "last_error": res.err,
		"last_attempt_at": at, "lease_id": nil, "updated_at": now,
	}
	metric := res.outcome
	switch res.outcome {
	case OutcomeSucceeded:
		updates["status"], updates["next_attempt_at"] = Succeeded, nil
	case OutcomeRefused:
		updates["status"], updates["next_attempt_at"] = Refused, nil
	default:
		if j.RetriesLeft > 0 && j.RetriesLeft <= len(Schedule) {
			next := now.Add(Schedule[len(Schedule)-j.RetriesLeft])
			updates["status"], updates["next_attempt_at"], updates["retries_left"] = Pending, next, j.RetriesLeft-1
			metric = OutcomeRetried
		} else {
			updates["status"], updates["next_attempt_at"], updates["retries_left"] = Failed, nil, 0
		}
	}
	err := db.WithTx(ctx, func(ctx context.Context) error {
		tx := db.Conn(ctx)
		upd := tx.Model(&Delivery{}).Where("id = ? AND lease_id = ?", j.ID, j.lease).Updates(updates)
		if upd.Error != nil {
			return upd.Error
		}
		if upd.RowsAffected == 0 {
			return errLeaseLost
		}
		a := Attempt{
			DeliveryID: j.ID, At: at, DurationMS: int(res.duration / time.Millisecond),
			StatusCode: res.status, Outcome: res.outcome, Error: res.err,
		}
		if err := tx.Create(&a).Error; err != nil {
			return err
		}
		keep := tx.Model(&Attempt{}).Select("id").Where("delivery_id = ?", j.ID).Order("id DESC").Limit(MaxAttemptsKept)
		return tx.Where("delivery_id = ? AND id NOT IN (?)", j.ID, keep).Delete(&Attempt{}).Error
	})
	if errors.Is(err, errLeaseLost) {
		// Deleted meanwhile, resent, or claimed again past the lease.
		return nil
	}
	if err != nil {
		return err
	}
	d.outcomes.WithLabelValues(metric).Inc()
	return nil
}

var errLeaseLost = errors.New("webhook: lease lost")

// release gives back j's lease, so the delivery is due again at once.
func (d *Dispatcher) release(j job) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := d.svc.db.Conn(ctx).Model(&Delivery{}).Where("id = ? AND lease_id = ?", j.ID, j.lease).
		Updates(map[string]any{"next_attempt_at": d.svc.now().UTC(), "lease_id": nil}).Error
	if err != nil {
		d.logger.Warn("webhooks: release a delivery; it is claimed again when its lease ends", "delivery", j.ID, "err", err)
	}
}
