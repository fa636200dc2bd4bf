package ratelimit

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

// logScript is the sliding log in Redis, answering Take, Peek and Add. The
// caller passes the time, so tests with a fake clock drive it exactly like
// Memory. KEYS[1] is the log (a sorted set of event times in Unix ms),
// KEYS[2] the block's end. ARGV: now, window, max, block (ms), a unique
// member, mode ('take', 'peek' or 'add'), then what the caller counted in
// process while Redis was away, for Redis to take over: the end of its
// block (0: none) and its event times. Returns {allowed, remaining, reset}.
var logScript = redis.NewScript(`
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local max, block = tonumber(ARGV[3]), tonumber(ARGV[4])
local member, mode = ARGV[5], ARGV[6]
local moved_until = tonumber(ARGV[7])
if moved_until > now and moved_until > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], moved_until, 'PX', moved_until - now)
end
for i = 8, #ARGV do
  redis.call('ZADD', KEYS[1], ARGV[i], member .. ':' .. i)
end
if #ARGV > 7 then
  redis.call('PEXPIRE', KEYS[1], window)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if mode == 'add' then
  redis.call('ZADD', KEYS[1], now, member)
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0, 0}
end
local until_ms = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < until_ms then
  return {0, 0, until_ms - now}
end
local count = redis.call('ZCARD', KEYS[1])
if count < max then
  if mode == 'take' then
    redis.call('ZADD', KEYS[1], now, member)
    redis.call('PEXPIRE', KEYS[1], window)
    count = count + 1
  end
  if count == 0 then
    return {1, max, 0}
  end
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {1, max - count, tonumber(oldest[2]) + window - now}
end
if block > 0 then
  if mode == 'take' then
    redis.call('SET', KEYS[2], now + block, 'PX', block)
    redis.call('DEL', KEYS[1])
  end
  return {0, 0, block}
end
local nth = redis.call('ZRANGE', KEYS[1], count - max, count - max, 'WITHSCORES')
return {0, 0, tonumber(nth[2]) + window - now}
`)

// removeScript takes back one event of the log KEYS[1] recorded at ARGV[1]
// (Unix ms).
var removeScript = redis.NewScript(`
local m = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1], 'LIMIT', 0, 1)
if #m > 0 then
  redis.call('ZREM', KEYS[1], m[1])
end
return #m
`)

// Redis is a Store in Redis, shared by every replica. Its calls go through
// a circuit breaker; when Redis fails, or while the breaker keeps calls
// away from it, the in-process store answers at once, the call is counted
// in Fallbacks, and the breaker logs the outage (once when it opens, once
// when it closes). What the in-process store counted still counts once
// Redis is back: the next call for a key that reaches Redis moves that
// key's events and block there, so an outage never lets more than one
// limit's worth through per process. A reply lost after Redis applied a
// call leaves its events in both places: they are counted twice, never
// forgotten.
type Redis struct {
	client  redis.UniversalClient
	breaker *redisbreaker.Breaker
	prefix  string
	id      string // tells this process's events from other replicas'
	seq     atomic.Uint64
	local   *Memory
	// Fallbacks counts the calls Redis could not answer, answered by the
	// in-process store alone.
	Fallbacks atomic.Uint64
}

// NewRedis returns a Store keeping its logs in Redis under prefix, asking
// Redis through breaker (shared with the other users of client), answering
// from local while Redis cannot (nil: an unbounded NewMemory).
func NewRedis(client redis.UniversalClient, breaker *redisbreaker.Breaker, prefix string, local *Memory) *Redis {
	if local == nil {
		local = NewMemory(0)
	}
	id := make([]byte, 6)
	rand.Read(id)
	return &Redis{client: client, breaker: breaker, prefix: prefix, id: hex.EncodeToString(id), local: local}
}

var errBadReply = errors.New("ratelimit: unexpected reply from redis")

// Take records one event under key at now if l allows it.
func (r *Redis) Take(ctx context.Context, key string, l Limit, now time.Time) Decision {
	if d, err := r.run(ctx, "take", key, l, now); err == nil {
		return d
	}
	r.Fallbacks.Add(1)
	return r.local.Take(ctx, key, l, now)
}

// Peek answers as Take would, recording nothing.
func (r *Redis) Peek(ctx context.Context, key string, l Limit, now time.Time) Decision {
	if d, err := r.run(ctx, "peek", key, l, now); err == nil {
		return d
	}
	r.Fallbacks.Add(1)
	return r.local.Peek(ctx, key, l, now)
}

// Add records an event under key at at, whatever the count.
func (r *Redis) Add(ctx context.Context, key string, window time.Duration, at time.Time) {
	if _, err := r.run(ctx, "add", key, Limit{Window: window}, at); err != nil {
		r.Fallbacks.Add(1)
		r.local.Add(ctx, key, window, at)
	}
}

// Remove takes back one event recorded under key at at, wherever it is.
func (r *Redis) Remove(ctx context.Context, key string, at time.Time) {
	if r.local.remove(key, at) {
		return
	}
	err := r.breaker.Do(ctx, func(ctx context.Context) error {
		return removeScript.Run(ctx, r.client, []string{r.prefix + key}, at.UnixMilli()).Err()
	})
	if err != nil {
		r.Fallbacks.Add(1)
	}
}

// Clear forgets key's events and block, in process and in Redis.
func (r *Redis) Clear(ctx context.Context, key string) {
	r.local.Clear(ctx, key)
	err := r.breaker.Do(ctx, func(ctx context.Context) error {
		return r.client.Del(ctx, r.prefix+key, r.prefix+key+":block").Err()
	})
	if err != nil {
		r.Fallbacks.Add(1)
	}
}

// run asks logScript in mode, handing Redis what the in-process store
// holds for key; that goes back to the in-process store if Redis fails.
func (r *Redis) run(ctx context.Context, mode, key string, l Limit, now time.Time) (Decision, error) {
	var res []int64
	err := r.breaker.Do(ctx, func(ctx context.Context) error {
		moved, movedUntil := r.local.drain(key, now, l.Window)
		ms := now.UnixMilli()
		member := strconv.FormatInt(ms, 10) + "-" + r.id + "-" + strconv.FormatUint(r.seq.Add(1), 36)
		args := make([]any, 0, 7+len(moved))
		args = append(args, ms, l.Window.Milliseconds(), l.Max, l.Block.Milliseconds(), member, mode, nsToMs(movedUntil))
		for _, t := range moved {
			args = append(args, nsToMs(t))
		}
		var err error
		res, err = logScript.Run(ctx, r.client, []string{r.prefix + key, r.prefix + key + ":block"}, args...).Int64Slice()
		if err == nil && len(res) != 3 {
			err = errBadReply
		}
		if err != nil {
			r.local.restore(key, moved, movedUntil, now, l.Window)
		}
		return err
	})
	if err != nil {
		return Decision{}, err
	}
	return Decision{Allowed: res[0] == 1, Remaining: int(res[1]), Reset: time.Duration(res[2]) * time.Millisecond}, nil
}

// nsToMs turns Unix nanoseconds into Unix milliseconds, as Redis keeps them.
func nsToMs(ns int64) int64 { return ns / int64(time.Millisecond) }
