package verify

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
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
type Decision struct {
	Allowed   bool
	Remaining int
	// Reset is how long until a request is allowed again (when refused) or
	// until the oldest counted request leaves the window (when allowed).
	Reset time.Duration
}

// Limiter counts requests per bucket. Implementations take the time from
// the caller, so one test suite with a fake clock runs against all of them.
type Limiter interface {
	Take(ctx context.Context, bucket string, l Limit, now time.Time) (Decision, error)
}

// MemoryLimiter keeps buckets in process memory, sharded to keep lock
// contention low, and forgets idle buckets.
type MemoryLimiter struct {
	seed   maphash.Seed
	shards [64]limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	sweeps  int
}

// bucket is a sliding log of the request times within the window, oldest
// first, and the end of a block.
type bucket struct {
	times        []time.Time
	blockedUntil time.Time
}

// NewMemoryLimiter returns an empty in-process limiter.
func NewMemoryLimiter() *MemoryLimiter {
	m := &MemoryLimiter{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].buckets = map[string]*bucket{}
	}
	return m
}

// Take counts one request against bucket and says whether it may pass.
func (m *MemoryLimiter) Take(_ context.Context, name string, l Limit, now time.Time) (Decision, error) {
	sh := &m.shards[maphash.String(m.seed, name)%uint64(len(m.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.sweeps++
	if sh.sweeps%4096 == 0 {
		sh.sweep(now)
	}
	b := sh.buckets[name]
	if b == nil {
		b = &bucket{}
		sh.buckets[name] = b
	}
	return b.take(l, now), nil
}

func (b *bucket) take(l Limit, now time.Time) Decision {
	if now.Before(b.blockedUntil) {
		return Decision{Reset: b.blockedUntil.Sub(now)}
	}
	cutoff := now.Add(-Window)
	i := 0
	for i < len(b.times) && !b.times[i].After(cutoff) {
		i++
	}
	b.times = b.times[i:]
	if len(b.times) < l.Max {
		b.times = append(b.times, now)
		return Decision{Allowed: true, Remaining: l.Max - len(b.times), Reset: b.times[0].Add(Window).Sub(now)}
	}
	if l.Block > 0 {
		b.blockedUntil = now.Add(l.Block)
		b.times = b.times[:0]
		return Decision{Reset: l.Block}
	}
	return Decision{Reset: b.times[0].Add(Window).Sub(now)}
}

// sweep drops buckets with nothing in the window and no block.
func (sh *limiterShard) sweep(now time.Time) {
	cutoff := now.Add(-Window)
	for name, b := range sh.buckets {
		if now.Before(b.blockedUntil) {
			continue
		}
		if len(b.times) == 0 || !b.times[len(b.times)-1].After(cutoff) {
			delete(sh.buckets, name)
		}
	}
}
