// Package redisbreaker keeps an unreachable or partitioned Redis from
// slowing every request down: a circuit breaker that bounds each call,
// stops calling after a few failures in a row and then lets a single probe
// through now and then, so callers answer from their in-process fallback at
// once meanwhile.
package redisbreaker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// The breaker opens after TripAfter failed calls in a row, each bounded to
// CallTimeout, and stays open for OpenFor before one probe may go through.
const (
	TripAfter   = 3
	CallTimeout = 20 * time.Millisecond
	OpenFor     = 5 * time.Second
)

// ErrOpen is returned by Do, without calling Redis, while the breaker is
// open or while its one probe is in flight.
var ErrOpen = errors.New("redis: circuit breaker open")

// Options tune a Breaker; the zero value gives the constants above.
type Options struct {
	// CallTimeout bounds each call; 0 means CallTimeout.
	CallTimeout time.Duration
	// OpenFor is how long the breaker stays open before it lets one probe
	// through; 0 means OpenFor.
	OpenFor time.Duration
	// Logger hears once when the breaker opens and once when it closes
	// again; nil means slog.Default().
	Logger *slog.Logger
}

// Breaker guards the calls to one Redis. Share one Breaker between
// everything that uses the same client, so they all stop asking together.
// The client must be built with ContextTimeoutEnabled, or go-redis ignores
// the deadline Do sets, and with MaxRetries -1: the breaker decides when to
// try again. A Breaker is safe for concurrent use.
type Breaker struct {
	cb          *gobreaker.CircuitBreaker[struct{}]
	callTimeout time.Duration
	openFor     time.Duration
	logger      *slog.Logger

	mu       sync.Mutex
	lastErr  error     // the latest failure, for the log line when the breaker opens
	openedAt time.Time // when the breaker last opened from closed
}

// New returns a closed Breaker.
func New(opts Options) *Breaker {
	b := &Breaker{callTimeout: opts.CallTimeout, openFor: opts.OpenFor, logger: opts.Logger}
	if b.callTimeout <= 0 {
		b.callTimeout = CallTimeout
	}
	if b.openFor <= 0 {
		b.openFor = OpenFor
	}
	if b.logger == nil {
		b.logger = slog.Default()
	}
	b.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "redis",
		MaxRequests: 1, // half-open: one probe, every other call is refused at once
		Timeout:     b.openFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= TripAfter },
		IsSuccessful: func(err error) bool {
			return err == nil || errors.Is(err, redis.Nil)
		},
		IsExcluded: func(err error) bool {
			var gone *callerGone
			return errors.As(err, &gone)
		},
		OnStateChange: b.changed,
	})
	return b
}

// Do runs call with a context that ends after the call timeout, unless the
// breaker is open: then it returns ErrOpen at once. Every error other than
// redis.Nil counts as a failure of Redis, except when ctx itself ended
// during the call (the caller gave up, Redis may be fine).
func (b *Breaker) Do(ctx context.Context, call func(ctx context.Context) error) error {
	_, err := b.cb.Execute(func() (struct{}, error) {
		callCtx, cancel := context.WithTimeout(ctx, b.callTimeout)
		defer cancel()
		err := call(callCtx)
		switch {
		case err == nil || errors.Is(err, redis.Nil):
		case ctx.Err() != nil:
			return struct{}{}, &callerGone{err}
		default:
			b.mu.Lock()
			b.lastErr = err
			b.mu.Unlock()
		}
		return struct{}{}, err
	})
	var gone *callerGone
	switch {
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return ErrOpen
	case errors.As(err, &gone):
		return gone.err
	}
	return err
}

// Open reports whether the breaker keeps calls away from Redis: open, or
// half-open with its probe allowed.
func (b *Breaker) Open() bool {
	return b.cb.State() != gobreaker.StateClosed
}

// changed logs the outage once when it starts and once when it ends; the
// probes in between fail silently. gobreaker calls it under its own lock.
func (b *Breaker) changed(_ string, from, to gobreaker.State) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case from == gobreaker.StateClosed && to == gobreaker.StateOpen:
		b.openedAt = time.Now()
		b.logger.Warn("redis unreachable: circuit breaker open, deciding in process",
			"failures", TripAfter, "err", b.lastErr, "probe_every", b.openFor)
	case to == gobreaker.StateClosed:
		b.logger.Info("redis reachable again: circuit breaker closed",
			"down_for", time.Since(b.openedAt).Round(time.Millisecond))
	}
}

// callerGone marks a failure caused by the caller's own context, which
// says nothing about Redis.
type callerGone struct{ err error }

func (e *callerGone) Error() string { return e.err.Error() }
func (e *callerGone) Unwrap() error { return e.err }
