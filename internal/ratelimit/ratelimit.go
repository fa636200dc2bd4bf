// Package ratelimit counts events per key in a sliding window, for the data
// plane's rate limits and for login throttling. A Store keeps, per key, a
// log of event times and an optional block. Memory keeps it in process;
// Redis keeps it in Redis, shared by every replica, and answers from
// process memory whenever Redis cannot, so no Store call ever fails.
//
// Every call takes the time from the caller, so one test suite with a fake
// clock runs against both.
package ratelimit

import (
	"context"
	"time"
)

// Limit allows at most Max events (at least 1) in any Window. The event
// that would exceed it is refused and, when Block > 0, starts a block of
// that length during which every event is refused without extending it.
type Limit struct {
	Max    int
	Window time.Duration
	Block  time.Duration
}

// Decision is a Store's answer to Take or Peek.
type Decision struct {
	Allowed   bool
	Remaining int
	// Reset is how long until an event is allowed again (when refused) or
	// until the oldest counted event leaves the window (when allowed; 0
	// when none is counted).
	Reset time.Duration
}

// Store keeps a sliding log of event times per key. Implementations are
// safe for concurrent use and never fail.
type Store interface {
	// Take records one event under key at now if l allows it, and says
	// whether it did.
	Take(ctx context.Context, key string, l Limit, now time.Time) Decision
	// Peek answers as Take would, recording nothing and starting no block.
	Peek(ctx context.Context, key string, l Limit, now time.Time) Decision
	// Add records an event under key at at, whatever the count, and keeps
	// it for window.
	Add(ctx context.Context, key string, window time.Duration, at time.Time)
	// Remove takes back one event recorded under key at at, if any.
	Remove(ctx context.Context, key string, at time.Time)
	// Clear forgets key's events and block.
	Clear(ctx context.Context, key string)
}

var (
	_ Store = (*Memory)(nil)
	_ Store = (*Redis)(nil)
)
