package verify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
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

// RedisLimiter keeps buckets in Redis, shared by every replica. When Redis
// cannot be reached it falls back to an in-process limiter, logs it once per
// outage and counts it in Fallbacks.
type RedisLimiter struct {
	client   redis.UniversalClient
	prefix   string
	id       string // tells this process's log entries from other replicas'
	fallback *MemoryLimiter
	logger   *slog.Logger
	seq      atomic.Uint64
	down     atomic.Bool
	// Fallbacks counts decisions taken in process because Redis failed.
	Fallbacks atomic.Uint64
}

// NewRedisLimiter returns a limiter storing its buckets under prefix.
func NewRedisLimiter(client redis.UniversalClient, prefix string, logger *slog.Logger) *RedisLimiter {
	if logger == nil {
		logger = slog.Default()
	}
	id := make([]byte, 6)
	rand.Read(id)
	return &RedisLimiter{client: client, prefix: prefix + "rl:", id: hex.EncodeToString(id), fallback: NewMemoryLimiter(), logger: logger}
}

// Take counts one request against bucket.
func (r *RedisLimiter) Take(ctx context.Context, name string, l Limit, now time.Time) (Decision, error) {
	ms := now.UnixMilli()
	member := strconv.FormatInt(ms, 10) + "-" + r.id + "-" + strconv.FormatUint(r.seq.Add(1), 36)
	res, err := takeScript.Run(ctx, r.client, []string{r.prefix + name, r.prefix + name + ":block"},
		ms, Window.Milliseconds(), l.Max, l.Block.Milliseconds(), member).Int64Slice()
	if err != nil || len(res) != 3 {
		r.Fallbacks.Add(1)
		if !r.down.Swap(true) {
			r.logger.Warn("rate limiter: redis unreachable, limiting in process", "err", err)
		}
		return r.fallback.Take(ctx, name, l, now)
	}
	if r.down.Swap(false) {
		r.logger.Info("rate limiter: redis reachable again")
	}
	return Decision{Allowed: res[0] == 1, Remaining: int(res[1]), Reset: time.Duration(res[2]) * time.Millisecond}, nil
}
