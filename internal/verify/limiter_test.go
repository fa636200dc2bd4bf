package verify

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"keyplane/internal/faultproxy"
	"keyplane/internal/ratelimit"
	"keyplane/internal/redisbreaker"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestLimiterCountsPerMinute checks what the data plane adds to its store:
// the one-minute window and the block. The stores themselves are tested in
// package ratelimit, against memory and Redis alike.
func TestLimiterCountsPerMinute(t *testing.T) {
	l := NewMemoryLimiter()
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	lim := Limit{Max: 2, Block: 5 * time.Minute}
	takes := []struct {
		at   time.Duration
		want Decision
	}{
		{0, Decision{Allowed: true, Remaining: 1, Reset: Window}},
		{Window - time.Second, Decision{Allowed: true, Remaining: 0, Reset: time.Second}},
		{Window, Decision{Allowed: true, Remaining: 0, Reset: Window - time.Second}},
		{Window + time.Second, Decision{Reset: 5 * time.Minute}},
		{Window + 2*time.Second, Decision{Reset: 5*time.Minute - time.Second}},
	}
	for i, tk := range takes {
		d, err := l.Take(context.Background(), "a", lim, start.Add(tk.at))
		if err != nil || d != tk.want {
			t.Errorf("take %d (t=%v): got %+v, %v; want %+v", i, tk.at, d, err, tk.want)
		}
	}
}

// TestVerifierWithRedisDown runs a whole verification with Redis unreachable:
// the key still gets its limit, from the fallback.
func TestVerifierWithRedisDown(t *testing.T) {
	down := faultproxy.Start(t, "127.0.0.1:1")
	down.Cut()
	client := redis.NewClient(&redis.Options{Addr: down.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer client.Close()
	store := ratelimit.NewRedis(client, redisbreaker.New(redisbreaker.Options{Logger: quietLogger}), "kptest:down:", nil)
	f := newFixture(t, Options{Limiter: NewLimiter(store)})
	key := f.add(t, func(k *Key) { k.RateLimit = 1 })
	if res := f.verify(Request{Key: key}); !res.Allowed {
		t.Fatalf("first request: %+v", res)
	}
	if res := f.verify(Request{Key: key}); res.Code != CodeRateLimited {
		t.Fatalf("second request: code %q, want rate_limited", res.Code)
	}
	if store.Fallbacks.Load() == 0 {
		t.Fatal("Fallbacks = 0 with Redis down")
	}
}
