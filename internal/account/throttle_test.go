package account_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"keyplane/internal/account"
	"keyplane/internal/clocktest"
	"keyplane/internal/ratelimit"
	"keyplane/internal/ratelimit/ratelimittest"
	"keyplane/internal/redisbreaker"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// throttleImpls builds each kind of Throttle on a fake clock.
var throttleImpls = []struct {
	name string
	make func(t *testing.T, clk *clocktest.Clock) *account.Throttle
}{
	{"memory", func(t *testing.T, clk *clocktest.Clock) *account.Throttle {
		return account.NewThrottle(clk.Now)
	}},
	{"redis", func(t *testing.T, clk *clocktest.Clock) *account.Throttle {
		client, prefix := ratelimittest.Redis(t)
		return redisThrottle(client, patientBreaker(), prefix, clk)
	}},
}

// redisThrottle returns a Throttle on Redis under prefix, as serve makes it.
func redisThrottle(client *redis.Client, breaker *redisbreaker.Breaker, prefix string, clk *clocktest.Clock) *account.Throttle {
	store := ratelimit.NewRedis(client, breaker, prefix+"login:", ratelimit.NewMemory(account.ThrottleMaxKeys))
	return account.NewThrottleWith(store, clk.Now)
}

// patientBreaker bounds calls generously: scenarios that test the logic
// must not fall back because a loaded machine was slow.
func patientBreaker() *redisbreaker.Breaker {
	return redisbreaker.New(redisbreaker.Options{CallTimeout: time.Second, Logger: quietLogger})
}

func wantWait(t *testing.T, th *account.Throttle, email, ip string, want time.Duration) {
	t.Helper()
	if got := th.Check(context.Background(), email, ip); got != want {
		t.Errorf("Check(%q, %q) = %v, want %v", email, ip, got, want)
	}
}

func fail(th *account.Throttle, email, ip string, n int) {
	for range n {
		th.Failure(context.Background(), email, ip)
	}
}

func TestThrottle(t *testing.T) {
	const window = account.ThrottleWindow
	scenarios := []struct {
		name string
		run  func(t *testing.T, th *account.Throttle, clk *clocktest.Clock)
	}{
		{"five failures block the account from any IP until the window passes", func(t *testing.T, th *account.Throttle, clk *clocktest.Clock) {
			first := clk.Now()
			for i := range account.AccountFailureLimit - 1 {
				th.Failure(context.Background(), "alice@example.com", fmt.Sprintf("192.0.2.%d", i+1))
				wantWait(t, th, "alice@example.com", "192.0.2.99", 0)
				clk.Advance(time.Minute)
			}
			th.Failure(context.Background(), "alice@example.com", "192.0.2.5")
			wantWait(t, th, "alice@example.com", "192.0.2.5", first.Add(window).Sub(clk.Now()))
			wantWait(t, th, "alice@example.com", "198.51.100.1", first.Add(window).Sub(clk.Now()))
			wantWait(t, th, "bob@example.com", "192.0.2.5", 0)

			clk.Advance(first.Add(window).Sub(clk.Now()) - time.Second)
			wantWait(t, th, "alice@example.com", "198.51.100.1", time.Second)
			clk.Advance(time.Second)
			wantWait(t, th, "alice@example.com", "198.51.100.1", 0)
		}},
		{"the window slides over the failures", func(t *testing.T, th *account.Throttle, clk *clocktest.Clock) {
			start := clk.Now()
			for range 4 { // at 0, 1, 2 and 3 minutes
				th.Failure(context.Background(), "alice@example.com", "192.0.2.1")
				clk.Advance(time.Minute)
			}
			clk.Advance(6 * time.Minute) // 10 minutes
			th.Failure(context.Background(), "alice@example.com", "192.0.2.1")
			wantWait(t, th, "alice@example.com", "192.0.2.1", 5*time.Minute)
			clk.Advance(5 * time.Minute) // 15 minutes: the failure at 0 has left
			wantWait(t, th, "alice@example.com", "192.0.2.1", 0)
			th.Failure(context.Background(), "alice@example.com", "192.0.2.1")
			// Five in the window again (1, 2, 3, 10, 15): blocked until the one at 1 leaves.
			wantWait(t, th, "alice@example.com", "192.0.2.1", start.Add(time.Minute+window).Sub(clk.Now()))
		}},
		{"with more failures than the limit the block lasts until enough have left", func(t *testing.T, th *account.Throttle, clk *clocktest.Clock) {
			start := clk.Now()
			for i := range account.AccountFailureLimit + 1 { // at 0..5 minutes, e.g. concurrent attempts
				if i > 0 {
					clk.Advance(time.Minute)
				}
				th.Failure(context.Background(), "alice@example.com", "192.0.2.1")
			}
			// Six in the window: five remain once the one at 1 minute has left.
			wantWait(t, th, "alice@example.com", "192.0.2.1", start.Add(time.Minute+window).Sub(clk.Now()))
			clk.Advance(start.Add(window).Sub(clk.Now()))
			wantWait(t, th, "alice@example.com", "192.0.2.1", time.Minute)
			clk.Advance(time.Minute)
			wantWait(t, th, "alice@example.com", "192.0.2.1", 0)
		}},
		{"twenty failures from one IP block every account from it", func(t *testing.T, th *account.Throttle, clk *clocktest.Clock) {
			first := clk.Now()
			for i := range account.IPFailureLimit - 1 {
				th.Failure(context.Background(), fmt.Sprintf("user%d@example.com", i), "192.0.2.1")
				clk.Advance(10 * time.Second)
			}
			wantWait(t, th, "someone@example.com", "192.0.2.1", 0)
			wantWait(t, th, "user0@example.com", "192.0.2.1", 0)
			th.Failure(context.Background(), "user19@example.com", "192.0.2.1")
			wait := first.Add(window).Sub(clk.Now())
			for _, email := range []string{"someone@example.com", "user0@example.com", "user19@example.com"} {
				wantWait(t, th, email, "192.0.2.1", wait)
			}
			wantWait(t, th, "someone@example.com", "192.0.2.2", 0)
			wantWait(t, th, "user0@example.com", "2001:db8::1", 0)

			clk.Advance(wait)
			wantWait(t, th, "someone@example.com", "192.0.2.1", 0)
		}},
		{"success clears the account but not the IP", func(t *testing.T, th *account.Throttle, clk *clocktest.Clock) {
			fail(th, "alice@example.com", "192.0.2.1", account.AccountFailureLimit)
			wantWait(t, th, "alice@example.com", "198.51.100.1", window)
			th.Success(context.Background(), "alice@example.com")
			wantWait(t, th, "alice@example.com", "198.51.100.1", 0)
			wantWait(t, th, "alice@example.com", "192.0.2.1", 0)

			// The IP still counts alice's five: fourteen more make nineteen, one more twenty.
			for i := range account.IPFailureLimit - account.AccountFailureLimit - 1 {
				th.Failure(context.Background(), fmt.Sprintf("user%d@example.com", i), "192.0.2.1")
			}
			wantWait(t, th, "zed@example.com", "192.0.2.1", 0)
			th.Failure(context.Background(), "last@example.com", "192.0.2.1")
			wantWait(t, th, "zed@example.com", "192.0.2.1", window)
			wantWait(t, th, "alice@example.com", "192.0.2.1", window)
		}},
		{"emails compare case-insensitively", func(t *testing.T, th *account.Throttle, clk *clocktest.Clock) {
			for i, e := range []string{"Alice@Example.com", "ALICE@EXAMPLE.COM", " alice@example.com ", "alice@EXAMPLE.com", "aLiCe@example.com"} {
				th.Failure(context.Background(), e, fmt.Sprintf("192.0.2.%d", i+1))
			}
			wantWait(t, th, "alice@example.com", "198.51.100.1", window)
			wantWait(t, th, "ALICE@example.COM", "198.51.100.1", window)
			th.Success(context.Background(), "ALICE@EXAMPLE.COM")
			wantWait(t, th, "alice@example.com", "198.51.100.1", 0)
		}},
	}
	for _, impl := range throttleImpls {
		t.Run(impl.name, func(t *testing.T) {
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					clk := newFakeClock()
					sc.run(t, impl.make(t, clk), clk)
				})
			}
		})
	}
}

func TestRedisThrottleIsShared(t *testing.T) {
	client, prefix := ratelimittest.Redis(t)
	clk := newFakeClock()
	a := redisThrottle(client, patientBreaker(), prefix, clk)
	b := redisThrottle(client, patientBreaker(), prefix, clk)

	fail(a, "alice@example.com", "192.0.2.1", account.AccountFailureLimit)
	wantWait(t, b, "alice@example.com", "192.0.2.9", account.ThrottleWindow)
	if keys := ratelimittest.Keys(t, client, prefix); len(keys) == 0 {
		t.Errorf("no keys under %s: the state is not in Redis", prefix)
	}
	b.Success(context.Background(), "alice@example.com")
	wantWait(t, a, "alice@example.com", "192.0.2.9", 0)
}

// syncBuffer is a log sink the throttle may write to from any goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRedisThrottleFallsBackToMemoryWhenRedisIsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// No retries: with go-redis's defaults every call to a dead server takes
	// about a second of dial retries, which only slows the test down.
	client := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { client.Close() })

	var logs syncBuffer
	clk := newFakeClock()
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	th := redisThrottle(client, redisbreaker.New(redisbreaker.Options{Logger: logger}), "kptest:down:", clk)

	fail(th, "alice@example.com", "192.0.2.1", account.AccountFailureLimit-1)
	wantWait(t, th, "alice@example.com", "192.0.2.1", 0)
	th.Failure(context.Background(), "alice@example.com", "192.0.2.1")
	wantWait(t, th, "alice@example.com", "198.51.100.1", account.ThrottleWindow)
	th.Success(context.Background(), "alice@example.com")
	wantWait(t, th, "alice@example.com", "198.51.100.1", 0)
	if !strings.Contains(logs.String(), "redis unreachable") {
		t.Errorf("no warning about Redis in the log: %q", logs.String())
	}
}

// TestRedisThrottleUnderBlackhole partitions Redis from the throttle: the
// breaker opens within the first attempt, every later attempt answers at
// once, the sixth guess at an account is still refused, and it stays
// refused once Redis is back, though those failures were counted in
// process: on every replica, since they then move to Redis.
func TestRedisThrottleUnderBlackhole(t *testing.T) {
	const openFor = 300 * time.Millisecond
	client, direct, proxy, prefix := ratelimittest.Proxied(t)
	breaker := redisbreaker.New(redisbreaker.Options{OpenFor: openFor, Logger: quietLogger})
	clk := newFakeClock()
	th := redisThrottle(client, breaker, prefix, clk)
	ctx := context.Background()
	th.Check(ctx, "warm@example.com", "198.51.100.1") // opens a connection

	proxy.Blackhole()
	for i := range account.AccountFailureLimit {
		start := time.Now()
		_, wait := th.Attempt(ctx, "alice@example.com", fmt.Sprintf("192.0.2.%d", i+1))
		took := time.Since(start)
		if wait != 0 {
			t.Fatalf("attempt %d refused for %v", i+1, wait)
		}
		// The first attempt meets the three failures that open the
		// breaker, 20 ms each (plus room for a loaded machine); without
		// the breaker each call waits out the client's 2 s timeout.
		if i == 0 && took > time.Second || i > 0 && took > 500*time.Millisecond {
			t.Errorf("attempt %d took %v with Redis blackholed", i+1, took)
		}
		clk.Advance(time.Second)
	}
	if !breaker.Open() {
		t.Fatal("breaker closed with Redis blackholed")
	}
	start := time.Now()
	if _, wait := th.Attempt(ctx, "alice@example.com", "192.0.2.99"); wait == 0 {
		t.Fatal("sixth guess allowed with Redis blackholed")
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("sixth guess refused after %v", took)
	}

	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(openFor + 5*time.Second); breaker.Open(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("breaker still open 5 s after Redis came back")
		}
		th.Check(ctx, "probe@example.com", "198.51.100.2")
	}
	if _, wait := th.Attempt(ctx, "alice@example.com", "192.0.2.99"); wait == 0 {
		t.Fatal("Redis is back and the guesses made while it was away are forgotten")
	}
	other := redisThrottle(direct, patientBreaker(), prefix, clk)
	if wait := other.Check(ctx, "alice@example.com", "198.51.100.3"); wait == 0 {
		t.Error("another replica does not see the guesses made while Redis was away: they never reached Redis")
	}
}

// TestThrottleCountsIPv6PerSlash64 makes sure one host cannot rotate
// through the addresses of its /64 to escape the IP limit.
func TestThrottleCountsIPv6PerSlash64(t *testing.T) {
	clock := newFakeClock()
	th := account.NewThrottle(clock.Now)
	ctx := context.Background()
	for i := range account.IPFailureLimit {
		th.Failure(ctx, fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("2001:db8:1:2::%x", i+1))
	}
	if wait := th.Check(ctx, "someone@example.com", "2001:db8:1:2:ffff::1"); wait != account.ThrottleWindow {
		t.Fatalf("another address of the /64: wait %v, want %v", wait, account.ThrottleWindow)
	}
	if wait := th.Check(ctx, "someone@example.com", "2001:db8:1:3::1"); wait != 0 {
		t.Fatalf("another /64: wait %v, want 0", wait)
	}
}

// TestAttemptIsCountedBeforeTheOutcome checks that an attempt counts at
// once and that Succeeded takes back only its own entry.
func TestAttemptIsCountedBeforeTheOutcome(t *testing.T) {
	clock := newFakeClock()
	th := account.NewThrottle(clock.Now)
	ctx := context.Background()
	var last time.Time
	for i := range account.AccountFailureLimit {
		at, wait := th.Attempt(ctx, "alice@example.com", "192.0.2.1")
		if wait != 0 {
			t.Fatalf("attempt %d refused", i+1)
		}
		last = at
		clock.Advance(time.Second)
	}
	if _, wait := th.Attempt(ctx, "alice@example.com", "192.0.2.1"); wait == 0 {
		t.Fatal("sixth attempt allowed while five are pending")
	}
	th.Succeeded(ctx, "alice@example.com", "192.0.2.1", last)
	if _, wait := th.Attempt(ctx, "alice@example.com", "192.0.2.1"); wait != 0 {
		t.Fatalf("after a success the account is still throttled for %v", wait)
	}
}
