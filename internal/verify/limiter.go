package verify

import (
	"context"
	"time"

	"keyplane/internal/ratelimit"
)

// Window is the span over which rate limits count requests.
const Window = time.Minute

// Limit is a rate limit for one bucket: at most Max requests in any Window;
// the request that would exceed it is refused and, when Block > 0, starts a
// block during which every request is refused without extending it.
type Limit struct {
	Max   int
	Block time.Duration
}

// Decision is a limiter's answer.
type Decision = ratelimit.Decision

// Limiter counts requests per bucket. Implementations take the time from
// the caller, so one test suite with a fake clock runs against all of them.
type Limiter interface {
	Take(ctx context.Context, bucket string, l Limit, now time.Time) (Decision, error)
}

// StoreLimiter is a Limiter counting in a ratelimit.Store: in process
// (NewMemoryLimiter), or in Redis with the in-process fallback that
// ratelimit.Redis brings.
type StoreLimiter struct {
	store ratelimit.Store
}

// NewLimiter returns a Limiter counting in store.
func NewLimiter(store ratelimit.Store) *StoreLimiter {
	return &StoreLimiter{store: store}
}

// NewMemoryLimiter returns a Limiter counting in process memory.
func NewMemoryLimiter() *StoreLimiter {
	return NewLimiter(ratelimit.NewMemory(0))
}

// Take counts one request against bucket and says whether it may pass. It
// never returns an error: a store that cannot reach Redis answers from
// process memory.
func (s *StoreLimiter) Take(ctx context.Context, bucket string, l Limit, now time.Time) (Decision, error) {
	return s.store.Take(ctx, bucket, ratelimit.Limit{Max: l.Max, Window: Window, Block: l.Block}, now), nil
}
