package account

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"keyplane/internal/redisbreaker"
)

// NewRedisThrottle returns a Throttle whose state lives in Redis under prefix,
// shared by every replica, asked through breaker (shared with the other
// users of client); the clock stays the caller's, so a fake clock drives it
// as it drives the in-memory one.
func NewRedisThrottle(client redis.UniversalClient, breaker *redisbreaker.Breaker, prefix string, now func() time.Time, logger *slog.Logger) *Throttle {
	t := NewThrottle(now, logger)
	t.log = &redisLog{client: client, breaker: breaker, prefix: prefix + "login:"}
	return t
}

// redisLog keeps failure times as a sorted set per key, scored by Unix
// milliseconds. Each method is one call through the breaker, so it fails at
// once while the breaker is open.
type redisLog struct {
	client  redis.UniversalClient
	breaker *redisbreaker.Breaker
	prefix  string
}

func (r *redisLog) add(ctx context.Context, key string, at time.Time, window time.Duration) error {
	k := r.prefix + key
	nonce := make([]byte, 6)
	rand.Read(nonce)
	ms := at.UnixMilli()
	return r.breaker.Do(ctx, func(ctx context.Context) error {
		_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.ZRemRangeByScore(ctx, k, "-inf", strconv.FormatInt(at.Add(-window).UnixMilli(), 10))
			p.ZAdd(ctx, k, redis.Z{Score: float64(ms), Member: strconv.FormatInt(ms, 10) + "-" + hex.EncodeToString(nonce)})
			p.PExpire(ctx, k, window)
			return nil
		})
		return err
	})
}

func (r *redisLog) recent(ctx context.Context, key string, now time.Time, window time.Duration) ([]time.Time, error) {
	min := "(" + strconv.FormatInt(now.Add(-window).UnixMilli(), 10)
	var zs []redis.Z
	err := r.breaker.Do(ctx, func(ctx context.Context) (err error) {
		zs, err = r.client.ZRangeByScoreWithScores(ctx, r.prefix+key, &redis.ZRangeBy{Min: min, Max: "+inf"}).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	times := make([]time.Time, 0, len(zs))
	for _, z := range zs {
		times = append(times, time.UnixMilli(int64(z.Score)))
	}
	return times, nil
}

// remove forgets one entry recorded at at (members begin with its Unix
// milliseconds).
func (r *redisLog) remove(ctx context.Context, key string, at time.Time) error {
	ms := strconv.FormatInt(at.UnixMilli(), 10)
	return r.breaker.Do(ctx, func(ctx context.Context) error {
		members, err := r.client.ZRangeByScore(ctx, r.prefix+key, &redis.ZRangeBy{Min: ms, Max: ms, Count: 1}).Result()
		if err != nil || len(members) == 0 {
			return err
		}
		return r.client.ZRem(ctx, r.prefix+key, members[0]).Err()
	})
}

func (r *redisLog) clear(ctx context.Context, key string) error {
	return r.breaker.Do(ctx, func(ctx context.Context) error {
		return r.client.Del(ctx, r.prefix+key).Err()
	})
}
