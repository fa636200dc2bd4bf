// Package ratelimittest gives tests of Redis-backed limits a Redis of their
// own: a key prefix on the test server, emptied when the test ends, and a
// fault proxy in front of it.
package ratelimittest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"keyplane/internal/faultproxy"
)

const defaultURL = "redis://127.0.0.1:6379/0"

// Redis returns a client for TEST_REDIS_URL (default the local server) and
// a key prefix of the test's own, whose keys are deleted when the test
// ends. An unreachable server fails the test: it never skips.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	raw := os.Getenv("TEST_REDIS_URL")
	if raw == "" {
		raw = defaultURL
	}
	shown := "(unparsable)"
	if u, err := url.Parse(raw); err == nil {
		shown = u.Redacted()
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL %s: %v", shown, err)
	}
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		t.Fatalf("Redis is not reachable at TEST_REDIS_URL (%s): %v", shown, err)
	}
	buf := make([]byte, 8)
	rand.Read(buf)
	prefix := "kptest:" + hex.EncodeToString(buf) + ":"
	t.Cleanup(func() {
		if keys := Keys(t, client, prefix); len(keys) > 0 {
			client.Del(context.Background(), keys...)
		}
		client.Close()
	})
	return client, prefix
}

// Keys returns the keys under prefix.
func Keys(t testing.TB, client *redis.Client, prefix string) []string {
	t.Helper()
	var keys []string
	iter := client.Scan(context.Background(), 0, prefix+"*", 100).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("scan redis keys %s*: %v", prefix, err)
	}
	return keys
}

// Proxied returns what Redis does, and also a client set up as serve sets
// up its own (no retries, the breaker's deadlines honoured) that reaches
// the test server through a fault proxy. Its read and write timeouts are
// long (2 s), so only the breaker's 20 ms deadline can make a call against
// a dead Redis quick: tests can tell the two apart with a wide margin.
func Proxied(t testing.TB) (proxied, direct *redis.Client, proxy *faultproxy.Proxy, prefix string) {
	t.Helper()
	direct, prefix = Redis(t)
	o := direct.Options()
	proxy = faultproxy.Start(t, o.Addr)
	proxied = redis.NewClient(&redis.Options{
		Addr: proxy.Addr(), Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig,
		MaxRetries: -1, ContextTimeoutEnabled: true,
		DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
	})
	t.Cleanup(func() { proxied.Close() })
	return proxied, direct, proxy, prefix
}
