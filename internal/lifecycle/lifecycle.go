// Package lifecycle announces what happens to keys with time alone: a key
// that stops within 7 days and within 1 day (key.expiring), one that
// stopped (key.expired, also for an old key reaching the end of its
// rotation grace period), and one unused for its organization's idle period
// (key.idle, and when the organization asks, disabled at once); and
// quotas 80% spent (key.quota_low, org.quota_low) or spent
// (key.quota_exhausted, org.quota_exhausted), once per period each,
// claimed in quota_notices the same way.
//
// A Job runs on every replica. Each event is sent once: the replica that
// sends it first inserts a row in key_reminders, keyed by the key, the
// kind of event and the deadline (or last use) it is about, in the
// transaction that queues the webhook event; an insert that finds the row
// there (ON CONFLICT DO NOTHING, 0 rows) means another replica sent it,
// and this one rolls nothing forward.
package lifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/store"
)

// Kinds of reminders, one row each per key and deadline in key_reminders.
const (
	KindExpiring7d = "expiring_7d"
	KindExpiring1d = "expiring_1d"
	KindExpired    = "expired"
	KindIdle       = "idle"
)

// Event types the job queues (webhook.KeyExpiring and the others name the
// same).
const (
	EventExpiring = "key.expiring"
	EventExpired  = "key.expired"
	EventIdle     = "key.idle"
)

// Defaults of a Job.
const (
	DefaultInterval = time.Minute
	DefaultTimeout  = 30 * time.Second
	// ExpiredLookback bounds how late key.expired is sent: a key whose
	// deadline passed longer ago (while no replica ran) is not announced.
	ExpiredLookback = 24 * time.Hour
	// DefaultBatch is the most idle keys one run handles per idle period;
	// the next run takes the rest.
	DefaultBatch = 500
)

// Reminders is the actor of the expiry events.
var Reminders = audit.Actor{Program: "the expiry reminders"}

// Options configure a Job.
type Options struct {
	// Events queues the webhook events inside the job's transactions.
	Events apikey.Events
	// Now is the clock (time.Now when nil); tests pass a fake one.
	Now func() time.Time
	// Interval is how often Run runs (DefaultInterval when 0); Timeout
	// bounds every query and transaction of a run (DefaultTimeout).
	Interval time.Duration
	Timeout  time.Duration
	Batch    int
	Logger   *slog.Logger
}

// Job sends the lifecycle events of every organization's keys.
type Job struct {
	db       *store.DB
	keys     *apikey.Service
	events   apikey.Events
	now      func() time.Time
	interval time.Duration
	timeout  time.Duration
	batch    int
	logger   *slog.Logger
}

// New returns a job over db, disabling idle keys through keys (so every
// server hears of it).
func New(db *store.DB, keys *apikey.Service, o Options) *Job {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Job{db: db, keys: keys, events: o.Events, now: o.Now, interval: o.Interval, timeout: o.Timeout, batch: o.Batch, logger: o.Logger}
}

// Result counts what one run did.
type Result struct {
	Expiring int // key.expiring events queued
	Expired  int // key.expired events queued
	Idle     int // key.idle events queued
	Disabled int // idle keys disabled
	Quota    int // quota events queued (key.quota_* and org.quota_*)
	Pruned   int // amounts of ended quota periods deleted
}

// Run runs the job at once and then every Interval until ctx ends; a
// failed run is logged and retried at the next.
func (j *Job) Run(ctx context.Context) {
	t := time.NewTicker(j.interval)
	defer t.Stop()
	for {
		if _, err := j.RunOnce(ctx); err != nil && ctx.Err() == nil {
			j.logger.Warn("lifecycle: run failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce sends what is due at the job's now: expiry reminders first, then
// idle keys, then quota events. It goes on past a failing key or step and returns the first
// error with what it did.
func (j *Job) RunOnce(ctx context.Context) (Result, error) {
	var res Result
	now := j.now().UTC()
	err := j.expiries(ctx, now, &res)
	if e := j.idle(ctx, now, &res); err == nil {
		err = e
	}
	if e := j.quotas(ctx, now, &res); err == nil {
		err = e
	}
	n, e := j.pruneSpent(ctx, now)
	res.Pruned = n
	if err == nil {
		err = e
	}
	return res, err
}

// reminder is a row of key_reminders.
type reminder struct {
	KeyID string
	Kind  string
	DueAt time.Time
}

// claim records, inside the transaction ctx carries, that the reminder
// kind of key k about due is sent; false when it was already (by this
// replica or another, whose transaction this insert waited for).
func (j *Job) claim(ctx context.Context, k apikey.Key, kind string, due, now time.Time) (bool, error) {
	res := j.db.Conn(ctx).Exec("INSERT INTO key_reminders (key_id, org_id, kind, due_at, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
		k.ID, k.OrgID, kind, due.UTC(), now)
	if res.Error != nil {
		return false, fmt.Errorf("lifecycle: claim %s of %s: %w", kind, k.ID, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// enqueue queues event typ with data inside the transaction ctx carries.
func (j *Job) enqueue(ctx context.Context, orgID, typ string, data any) error {
	if j.events == nil {
		return nil
	}
	if err := j.events.Enqueue(ctx, orgID, typ, data); err != nil {
		return fmt.Errorf("lifecycle: %s event: %w", typ, err)
	}
	return nil
}

// bounded runs fn with ctx bounded by the job's timeout.
func (j *Job) bounded(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, j.timeout)
	defer cancel()
	return fn(ctx)
}
