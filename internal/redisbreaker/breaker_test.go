package redisbreaker_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"keyplane/internal/redisbreaker"
)

// syncBuffer is a log sink the breaker may write to from any goroutine.
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

var errDown = errors.New("dial tcp: connection refused")

func fails(context.Context) error    { return errDown }
func succeeds(context.Context) error { return nil }

func newBreaker(t *testing.T, openFor time.Duration) (*redisbreaker.Breaker, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	return redisbreaker.New(redisbreaker.Options{OpenFor: openFor, Logger: slog.New(slog.NewTextHandler(logs, nil))}), logs
}

// trip fails TripAfter calls in a row.
func trip(t *testing.T, b *redisbreaker.Breaker) {
	t.Helper()
	for range redisbreaker.TripAfter {
		if err := b.Do(context.Background(), fails); !errors.Is(err, errDown) {
			t.Fatalf("a call while closed: err %v, want the call's own", err)
		}
	}
}

func TestBreakerOpensAfterThreeFailuresInARow(t *testing.T) {
	b, logs := newBreaker(t, time.Hour)
	ctx := context.Background()
	for range redisbreaker.TripAfter - 1 {
		b.Do(ctx, fails)
	}
	b.Do(ctx, succeeds) // a success starts the count again
	for range redisbreaker.TripAfter - 1 {
		b.Do(ctx, fails)
	}
	if b.Open() {
		t.Fatalf("open after %d failures in a row, want %d", redisbreaker.TripAfter-1, redisbreaker.TripAfter)
	}
	b.Do(ctx, fails)
	if !b.Open() {
		t.Fatalf("closed after %d failures in a row", redisbreaker.TripAfter)
	}
	called := false
	if err := b.Do(ctx, func(context.Context) error { called = true; return nil }); !errors.Is(err, redisbreaker.ErrOpen) || called {
		t.Fatalf("call while open: err %v, called %v; want ErrOpen without calling", err, called)
	}
	if n := strings.Count(logs.String(), "circuit breaker open"); n != 1 {
		t.Errorf("%d log lines about opening, want 1: %q", n, logs.String())
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), errDown.Error()) {
		t.Errorf("the opening is not a warning naming the failure: %q", logs.String())
	}
}

func TestBreakerBoundsEachCall(t *testing.T) {
	b, _ := newBreaker(t, time.Hour)
	start := time.Now()
	err := b.Do(context.Background(), func(ctx context.Context) error {
		deadline, ok := ctx.Deadline()
		if !ok || time.Until(deadline) > redisbreaker.CallTimeout {
			t.Errorf("call context: deadline %v (set: %v), want within %v", time.Until(deadline), ok, redisbreaker.CallTimeout)
		}
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the deadline's", err)
	}
	if d := time.Since(start); d < redisbreaker.CallTimeout || d > 10*redisbreaker.CallTimeout {
		t.Fatalf("a hanging call returned after %v, want about %v", d, redisbreaker.CallTimeout)
	}
}

// TestBreakerLetsOneProbeThrough checks the half-open state: after OpenFor
// exactly one call reaches Redis while the others are refused at once, and
// its success closes the breaker.
func TestBreakerLetsOneProbeThrough(t *testing.T) {
	const openFor = 50 * time.Millisecond
	b, logs := newBreaker(t, openFor)
	ctx := context.Background()
	trip(t, b)
	time.Sleep(openFor + 10*time.Millisecond)

	release := make(chan struct{})
	probing := make(chan struct{})
	var calls atomic.Int32
	done := make(chan error)
	go func() {
		done <- b.Do(ctx, func(context.Context) error {
			calls.Add(1)
			close(probing)
			<-release
			return nil
		})
	}()
	<-probing
	for range 10 {
		start := time.Now()
		err := b.Do(ctx, func(context.Context) error { calls.Add(1); return nil })
		if !errors.Is(err, redisbreaker.ErrOpen) {
			t.Fatalf("a call during the probe: err %v, want ErrOpen", err)
		}
		if d := time.Since(start); d > time.Second { // the probe blocks until released
			t.Fatalf("a call during the probe waited %v", d)
		}
	}
	if !b.Open() {
		t.Fatal("Open() = false while probing")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls reached Redis while half-open, want 1", n)
	}
	if b.Open() {
		t.Fatal("still open after a successful probe")
	}
	if err := b.Do(ctx, succeeds); err != nil {
		t.Fatalf("call after closing: %v", err)
	}
	if n := strings.Count(logs.String(), "redis reachable again"); n != 1 {
		t.Errorf("%d log lines about closing, want 1: %q", n, logs.String())
	}
	if !strings.Contains(logs.String(), "level=INFO") {
		t.Errorf("the closing is not logged at INFO: %q", logs.String())
	}
}

func TestBreakerFailedProbeReopensQuietly(t *testing.T) {
	// Long enough that no stall between two calls lets a second probe in.
	const openFor = 300 * time.Millisecond
	b, logs := newBreaker(t, openFor)
	ctx := context.Background()
	trip(t, b)
	for range 3 {
		time.Sleep(openFor + 10*time.Millisecond)
		if err := b.Do(ctx, fails); !errors.Is(err, errDown) {
			t.Fatalf("probe: err %v, want the call's own", err)
		}
		if err := b.Do(ctx, succeeds); !errors.Is(err, redisbreaker.ErrOpen) {
			t.Fatalf("right after a failed probe: err %v, want ErrOpen", err)
		}
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Errorf("%d log lines for one outage, want 1: %q", n, logs.String())
	}
}

// TestBreakerCountsOnlyRedisFailures: redis.Nil is an answer, and a caller
// that gave up says nothing about Redis.
func TestBreakerCountsOnlyRedisFailures(t *testing.T) {
	b, _ := newBreaker(t, time.Hour)
	for range 2 * redisbreaker.TripAfter {
		if err := b.Do(context.Background(), func(context.Context) error { return redis.Nil }); !errors.Is(err, redis.Nil) {
			t.Fatalf("err %v, want redis.Nil passed on", err)
		}
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	for range 2 * redisbreaker.TripAfter {
		if err := b.Do(gone, func(ctx context.Context) error { return ctx.Err() }); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want the caller's cancellation", err)
		}
	}
	if b.Open() {
		t.Fatal("open after answers and cancelled callers only")
	}
}
