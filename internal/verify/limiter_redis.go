package verify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"keyplane/internal/redisbreaker"
)

// takeScript is the sliding-log limiter in Redis. The caller passes the time,
// so tests with a fake clock drive it exactly like the in-memory limiter.
// KEYS[1] the log (a sorted set of request times), KEYS[2] the block marker;
// ARGV: now (ms), window (ms), max, block (ms), a unique member.
// Returns {allowed, remaining, reset_ms}.
var takeScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local block = tonumber(ARGV[4])
local until_ms = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < until_ms then
  return {0, 0, until_ms - now}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < max then
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], window)
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {1, max - count - 1, tonumber(oldest[2]) + window - now}
end
if block > 0 then
  redis.call('SET', KEYS[2], now + block, 'PX', block)
  redis.call('DEL', KEYS[1])
  return {0, 0, block}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, 0, tonumber(oldest[2]) + window - now}
`)

// RedisLimiter keeps buckets in Redis, shared by every replica. Its calls
// go through a circuit breaker: when Redis fails, or while the breaker keeps
// calls away from it, the decision comes from an in-process limiter at once
// and is counted in Fallbacks; the breaker logs the outage.
type RedisLimiter struct {
	client   redis.UniversalClient
	breaker  *redisbreaker.Breaker
	prefix   string
	id       string // tells this process's log entries from other replicas'
	fallback *MemoryLimiter
	seq      atomic.Uint64
	// Fallbacks counts decisions taken in process because Redis failed or
	// the breaker was open.
	Fallbacks atomic.Uint64
}

// NewRedisLimiter returns a limiter storing its buckets under prefix, asking
// Redis through breaker (shared with the other users of client).
func NewRedisLimiter(client redis.UniversalClient, breaker *redisbreaker.Breaker, prefix string) *RedisLimiter {
	id := make([]byte, 6)
	rand.Read(id)
	return &RedisLimiter{client: client, breaker: breaker, prefix: prefix + "rl:", id: hex.EncodeToString(id), fallback: NewMemoryLimiter()}
}

var errBadReply = errors.New("rate limiter: unexpected reply from redis")

// Take counts one request against bucket. It never returns an error: when
// Redis cannot answer, the in-process limiter does.
func (r *RedisLimiter) Take(ctx context.Context, name string, l Limit, now time.Time) (Decision, error) {
	var res []int64
	err := r.breaker.Do(ctx, func(ctx context.Context) error {
		ms := now.UnixMilli()
		member := strconv.FormatInt(ms, 10) + "-" + r.id + "-" + strconv.FormatUint(r.seq.Add(1), 36)
		var err error
		res, err = takeScript.Run(ctx, r.client, []string{r.prefix + name, r.prefix + name + ":block"},
			ms, Window.Milliseconds(), l.Max, l.Block.Milliseconds(), member).Int64Slice()
		if err == nil && len(res) != 3 {
			err = errBadReply
		}
		return err
	})
	if err != nil {
		r.Fallbacks.Add(1)
		return r.fallback.Take(ctx, name, l, now)
	}
	return Decision{Allowed: res[0] == 1, Remaining: int(res[1]), Reset: time.Duration(res[2]) * time.Millisecond}, nil
}
