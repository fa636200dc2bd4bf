package verify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"keyplane/internal/faultproxy"
	"keyplane/internal/redisbreaker"
)

const defaultTestRedisURL = "redis://127.0.0.1:6379/0"

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// testRedis returns a client for TEST_REDIS_URL and a key prefix of the
// test's own, whose keys are deleted when the test ends. An unreachable
// server fails the test: it never skips.
func testRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	raw := os.Getenv("TEST_REDIS_URL")
	if raw == "" {
		raw = defaultTestRedisURL
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
		ctx := context.Background()
		var keys []string
		iter := client.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			client.Del(ctx, keys...)
		}
		client.Close()
	})
	return client, prefix
}

// limiterImpls builds each Limiter afresh for one test.
var limiterImpls = []struct {
	name string
	make func(t *testing.T) Limiter
}{
	{"memory", func(*testing.T) Limiter { return NewMemoryLimiter() }},
	{"redis", func(t *testing.T) Limiter {
		client, prefix := testRedis(t)
		// A generous bound: these scenarios test the script, not faults, and
		// must not fall back because a loaded machine was slow.
		rl := NewRedisLimiter(client, redisbreaker.New(redisbreaker.Options{CallTimeout: time.Second, Logger: quietLogger}), prefix)
		t.Cleanup(func() {
			if n := rl.Fallbacks.Load(); n != 0 {
				t.Errorf("redis limiter fell back to memory %d times: the suite did not run against Redis", n)
			}
		})
		return rl
	}},
}

// take is one request of a limiter scenario: at an offset from the start,
// against a bucket, and the decision expected.
type take struct {
	at        time.Duration
	bucket    string // "" means "a"
	allowed   bool
	remaining int
	reset     time.Duration
}

var limiterScenarios = []struct {
	name  string
	limit Limit
	takes []take
}{
	{
		name:  "window slides: five at t=0..4, refused at 59s, allowed at 60.001s",
		limit: Limit{Max: 5},
		takes: []take{
			{at: 0, allowed: true, remaining: 4, reset: 60 * time.Second},
			{at: 1 * time.Second, allowed: true, remaining: 3, reset: 59 * time.Second},
			{at: 2 * time.Second, allowed: true, remaining: 2, reset: 58 * time.Second},
			{at: 3 * time.Second, allowed: true, remaining: 1, reset: 57 * time.Second},
			{at: 4 * time.Second, allowed: true, remaining: 0, reset: 56 * time.Second},
			{at: 59 * time.Second, allowed: false, remaining: 0, reset: 1 * time.Second},
			{at: 59*time.Second + 999*time.Millisecond, allowed: false, remaining: 0, reset: time.Millisecond},
			{at: 60*time.Second + time.Millisecond, allowed: true, remaining: 0, reset: 999 * time.Millisecond},
			{at: 60*time.Second + 500*time.Millisecond, allowed: false, remaining: 0, reset: 500 * time.Millisecond},
			{at: 61*time.Second + 1*time.Millisecond, allowed: true, remaining: 0, reset: 999 * time.Millisecond},
		},
	},
	{
		name:  "no block: a refusal does not count",
		limit: Limit{Max: 2},
		takes: []take{
			{at: 0, allowed: true, remaining: 1, reset: 60 * time.Second},
			{at: 1 * time.Second, allowed: true, remaining: 0, reset: 59 * time.Second},
			{at: 2 * time.Second, allowed: false, reset: 58 * time.Second},
			{at: 30 * time.Second, allowed: false, reset: 30 * time.Second},
			{at: 59 * time.Second, allowed: false, reset: 1 * time.Second},
			{at: 60 * time.Second, allowed: true, remaining: 0, reset: 1 * time.Second},
			{at: 61 * time.Second, allowed: true, remaining: 0, reset: 59 * time.Second},
			{at: 62 * time.Second, allowed: false, reset: 58 * time.Second},
		},
	},
	{
		name:  "block: the exceeding request blocks for 5m, refusals do not extend it",
		limit: Limit{Max: 3, Block: 5 * time.Minute},
		takes: []take{
			{at: 0, allowed: true, remaining: 2, reset: 60 * time.Second},
			{at: 1 * time.Second, allowed: true, remaining: 1, reset: 59 * time.Second},
			{at: 2 * time.Second, allowed: true, remaining: 0, reset: 58 * time.Second},
			{at: 3 * time.Second, allowed: false, reset: 5 * time.Minute},
			{at: 63 * time.Second, allowed: false, reset: 4 * time.Minute},
			{at: 123 * time.Second, allowed: false, reset: 3 * time.Minute},
			{at: 303*time.Second - time.Millisecond, allowed: false, reset: time.Millisecond},
			// The block is over and the window starts empty.
			{at: 303 * time.Second, allowed: true, remaining: 2, reset: 60 * time.Second},
			{at: 304 * time.Second, allowed: true, remaining: 1, reset: 59 * time.Second},
		},
	},
	{
		name:  "buckets are independent",
		limit: Limit{Max: 1, Block: time.Minute},
		takes: []take{
			{at: 0, allowed: true, remaining: 0, reset: 60 * time.Second},
			{at: time.Second, allowed: false, reset: time.Minute},
			{at: 2 * time.Second, bucket: "b", allowed: true, remaining: 0, reset: 60 * time.Second},
			{at: 3 * time.Second, bucket: "key|192.0.2.1", allowed: true, remaining: 0, reset: 60 * time.Second},
			{at: 4 * time.Second, allowed: false, reset: 57 * time.Second},
			{at: 5 * time.Second, bucket: "b", allowed: false, reset: time.Minute},
		},
	},
}

func TestLimiters(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, impl := range limiterImpls {
		t.Run(impl.name, func(t *testing.T) {
			for _, sc := range limiterScenarios {
				t.Run(sc.name, func(t *testing.T) {
					l := impl.make(t)
					for i, tk := range sc.takes {
						bucket := tk.bucket
						if bucket == "" {
							bucket = "a"
						}
						d, err := l.Take(context.Background(), bucket, sc.limit, start.Add(tk.at))
						if err != nil {
							t.Fatalf("take %d (t=%v): %v", i, tk.at, err)
						}
						want := Decision{Allowed: tk.allowed, Remaining: tk.remaining, Reset: tk.reset}
						if d != want {
							t.Errorf("take %d (t=%v, bucket %s): got %+v, want %+v", i, tk.at, bucket, d, want)
						}
					}
				})
			}
		})
	}
}

// TestLimitersConcurrent checks that parallel requests never let more than
// Max through in one window.
func TestLimitersConcurrent(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, impl := range limiterImpls {
		t.Run(impl.name, func(t *testing.T) {
			l := impl.make(t)
			var mu sync.Mutex
			allowed := 0
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 25 {
						d, err := l.Take(context.Background(), "shared", Limit{Max: 50}, now.Add(time.Duration(g*25+i)*time.Millisecond))
						if err != nil {
							t.Error(err)
							return
						}
						if d.Allowed {
							mu.Lock()
							allowed++
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			if allowed != 50 {
				t.Fatalf("%d of 200 parallel requests allowed, want exactly 50", allowed)
			}
		})
	}
}

// closedAddr returns a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestRedisLimiterFallsBackToMemory(t *testing.T) {
	client := redis.NewClient(&redis.Options{
		Addr: closedAddr(t), MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond,
	})
	defer client.Close()
	rl := NewRedisLimiter(client, redisbreaker.New(redisbreaker.Options{Logger: quietLogger}), "kptest:down:")
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	lim := Limit{Max: 2, Block: time.Minute}
	want := []Decision{
		{Allowed: true, Remaining: 1, Reset: time.Minute},
		{Allowed: true, Remaining: 0, Reset: time.Minute - time.Second},
		{Allowed: false, Reset: time.Minute},
	}
	for i, w := range want {
		d, err := rl.Take(context.Background(), "k", lim, now.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatalf("take %d: %v (the fallback must answer)", i, err)
		}
		if d != w {
			t.Errorf("take %d: got %+v, want %+v", i, d, w)
		}
	}
	if n := rl.Fallbacks.Load(); n != uint64(len(want)) {
		t.Fatalf("Fallbacks = %d, want %d", n, len(want))
	}
}

// TestVerifierWithRedisDown runs a whole verification with Redis unreachable:
// the key still gets its limit, from the fallback.
func TestVerifierWithRedisDown(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer client.Close()
	rl := NewRedisLimiter(client, redisbreaker.New(redisbreaker.Options{Logger: quietLogger}), "kptest:down:")
	f := newFixture(t, Options{Limiter: rl})
	key := f.add(t, func(k *Key) { k.RateLimit = 1 })
	if res := f.verify(Request{Key: key}); !res.Allowed {
		t.Fatalf("first request: %+v", res)
	}
	if res := f.verify(Request{Key: key}); res.Code != CodeRateLimited {
		t.Fatalf("second request: code %q, want rate_limited", res.Code)
	}
	if rl.Fallbacks.Load() == 0 {
		t.Fatal("Fallbacks = 0 with Redis down")
	}
}

// proxiedRedis returns a client set up as serve sets up its own, reaching
// the test Redis through a fault proxy, a client reaching it directly, and a
// key prefix of the test's own.
func proxiedRedis(t *testing.T) (proxied, direct *redis.Client, proxy *faultproxy.Proxy, prefix string) {
	t.Helper()
	direct, prefix = testRedis(t)
	o := direct.Options()
	proxy = faultproxy.Start(t, o.Addr)
	proxied = redis.NewClient(&redis.Options{
		Addr: proxy.Addr(), Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig,
		MaxRetries: -1, ContextTimeoutEnabled: true,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond,
	})
	t.Cleanup(func() { proxied.Close() })
	return proxied, direct, proxy, prefix
}

// timedTake is one Take and how long it took.
func timedTake(t *testing.T, l Limiter, bucket string, lim Limit, now time.Time) (Decision, time.Duration) {
	t.Helper()
	start := time.Now()
	d, err := l.Take(context.Background(), bucket, lim, now)
	if err != nil {
		t.Fatalf("take %s: %v (the fallback must answer)", bucket, err)
	}
	return d, time.Since(start)
}

// TestRedisLimiterUnderFaults puts a fault proxy between the limiter and
// Redis: once the breaker has opened after three failures, bounded to 20 ms
// each, every check answers from memory at once and the limits still hold;
// after the fault a probe finds Redis again and the limits are shared again.
func TestRedisLimiterUnderFaults(t *testing.T) {
	faults := []struct {
		name  string
		apply func(*faultproxy.Proxy)
	}{
		{"blackholed", (*faultproxy.Proxy).Blackhole},
		{"refused", (*faultproxy.Proxy).Cut},
	}
	for _, fault := range faults {
		t.Run(fault.name, func(t *testing.T) {
			const openFor = 300 * time.Millisecond
			client, direct, proxy, prefix := proxiedRedis(t)
			breaker := redisbreaker.New(redisbreaker.Options{OpenFor: openFor, Logger: quietLogger})
			rl := NewRedisLimiter(client, breaker, prefix)
			now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

			// Open a connection and load the script while Redis answers.
			for range 2 {
				before := rl.Fallbacks.Load()
				if timedTake(t, rl, "warm", Limit{Max: 10}, now); rl.Fallbacks.Load() == before {
					break
				}
			}
			fellBack := rl.Fallbacks.Load()

			fault.apply(proxy)
			for i := range redisbreaker.TripAfter {
				// 20 ms, plus room for a slow machine; without a bound
				// each call waits out the client's 100 ms read timeout.
				if _, took := timedTake(t, rl, "trip", Limit{Max: 10}, now); took > 60*time.Millisecond {
					t.Errorf("failure %d took %v, want about %v", i+1, took, redisbreaker.CallTimeout)
				}
			}
			if !breaker.Open() {
				t.Fatalf("breaker closed after %d failures", redisbreaker.TripAfter)
			}

			const calls, max = 200, 100
			took := make([]time.Duration, 0, calls)
			allowed := 0
			for i := range calls {
				d, dur := timedTake(t, rl, "down", Limit{Max: max}, now.Add(time.Duration(i)*time.Millisecond))
				took = append(took, dur)
				if d.Allowed {
					allowed++
				}
			}
			slices.Sort(took)
			p50, p99 := took[len(took)/2], took[len(took)*99/100-1]
			t.Logf("figure: %d rate-limited checks with Redis %s: p50 %v, p99 %v (target p99 < 20 ms)", calls, fault.name, p50, p99)
			if p99 >= redisbreaker.CallTimeout {
				t.Errorf("p99 %v with the breaker open, want under %v", p99, redisbreaker.CallTimeout)
			}
			if allowed != max {
				t.Errorf("%d of %d checks allowed with Redis %s, want the limit, %d", allowed, calls, fault.name, max)
			}
			if n := rl.Fallbacks.Load() - fellBack; n != redisbreaker.TripAfter+calls {
				t.Errorf("Fallbacks grew by %d, want %d", n, redisbreaker.TripAfter+calls)
			}

			if err := proxy.Restore(); err != nil {
				t.Fatal(err)
			}
			restored := time.Now()
			for {
				before := rl.Fallbacks.Load()
				timedTake(t, rl, "probe", Limit{Max: 1000}, now)
				if rl.Fallbacks.Load() == before {
					break
				}
				if time.Since(restored) > openFor+5*time.Second {
					t.Fatalf("Redis still not asked %v after the fault ended", time.Since(restored))
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Logf("figure: rate limits back on Redis %v after the Redis fault ended (breaker open for %v)", time.Since(restored).Round(time.Millisecond), openFor)
			if breaker.Open() {
				t.Error("breaker still open after Redis answered")
			}

			// The counts are in Redis again: another replica sees them.
			lim := Limit{Max: 3}
			for i := range lim.Max {
				if d, _ := timedTake(t, rl, "after", lim, now); !d.Allowed {
					t.Fatalf("take %d after the fault refused", i+1)
				}
			}
			other := NewRedisLimiter(direct, redisbreaker.New(redisbreaker.Options{CallTimeout: time.Second, Logger: quietLogger}), prefix)
			if d, _ := timedTake(t, other, "after", lim, now); d.Allowed {
				t.Error("another replica does not see the checks made after the fault: they were not counted in Redis")
			}
		})
	}
}
