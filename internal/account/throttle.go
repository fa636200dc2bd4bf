package account

import (
	"context"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// Login throttling: after AccountFailureLimit failures within ThrottleWindow
// for one account, or IPFailureLimit from one client IP, every attempt is
// refused until the window has passed.
const (
	AccountFailureLimit = 5
	IPFailureLimit      = 20
	ThrottleWindow      = 15 * time.Minute
)

// failureLog keeps the times of recent failures per key.
type failureLog interface {
	add(ctx context.Context, key string, at time.Time, window time.Duration) error
	recent(ctx context.Context, key string, now time.Time, window time.Duration) ([]time.Time, error)
	// remove forgets one entry recorded at at.
	remove(ctx context.Context, key string, at time.Time) error
	clear(ctx context.Context, key string) error
}

// Throttle limits failed logins per account and per client IP. It keeps its
// state in memory, or in Redis when given one so every replica shares it.
// When Redis cannot be reached (the breaker in front of it logs the outage)
// failures are recorded in process and still count, with those in Redis,
// once Redis is back: an outage never lets unlimited guesses through.
type Throttle struct {
	// attempts makes Attempt's check and record one step in this process.
	attempts sync.Mutex
	log      failureLog
	fallback *memoryLog
	now      func() time.Time
	logger   *slog.Logger
}

// NewThrottle returns an in-memory Throttle; now is the clock.
func NewThrottle(now func() time.Time, logger *slog.Logger) *Throttle {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.Default()
	}
	mem := newMemoryLog()
	return &Throttle{log: mem, fallback: mem, now: now, logger: logger}
}

func accountKey(email string) string { return "acct:" + NormalizeEmail(email) }

// ipKey names the client's network: an IPv4 address, or the /64 of an IPv6
// one, since a single host can hold a whole /64.
func ipKey(ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil && a.Unmap().Is6() {
		p, _ := a.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + ip
}

// Attempt reserves a login attempt for email from ip. When either is
// throttled it returns how long to wait and records nothing. Otherwise it
// records the attempt as a failure before the password is even checked, so
// parallel guesses cannot all pass the check while the hash is computed;
// a successful login then calls Succeeded with the returned time.
func (t *Throttle) Attempt(ctx context.Context, email, ip string) (time.Time, time.Duration) {
	t.attempts.Lock()
	defer t.attempts.Unlock()
	if wait := t.Check(ctx, email, ip); wait > 0 {
		return time.Time{}, wait
	}
	at := t.now()
	t.failureAt(ctx, email, ip, at)
	return at, 0
}

// Succeeded undoes the attempt made at at: the account's failures are
// forgotten, and the IP's count loses this attempt but keeps the others.
func (t *Throttle) Succeeded(ctx context.Context, email, ip string, at time.Time) {
	t.Success(ctx, email)
	if err := t.log.remove(ctx, ipKey(ip), at); err != nil {
		t.degraded(err)
	}
	if t.log != t.fallback {
		t.fallback.remove(ctx, ipKey(ip), at)
	}
}

// Check returns how long the caller must wait before trying to log in as
// email from ip, or 0 when the attempt may go ahead.
func (t *Throttle) Check(ctx context.Context, email, ip string) time.Duration {
	now := t.now()
	wait := t.wait(ctx, accountKey(email), AccountFailureLimit, now)
	if w := t.wait(ctx, ipKey(ip), IPFailureLimit, now); w > wait {
		wait = w
	}
	return wait
}

func (t *Throttle) wait(ctx context.Context, key string, limit int, now time.Time) time.Duration {
	times, err := t.log.recent(ctx, key, now, ThrottleWindow)
	if err != nil {
		t.degraded(err)
	}
	if t.log != t.fallback {
		if local, _ := t.fallback.recent(ctx, key, now, ThrottleWindow); len(local) > 0 {
			times = append(times, local...)
			sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
		}
	}
	if len(times) < limit {
		return 0
	}
	until := times[len(times)-limit].Add(ThrottleWindow)
	return until.Sub(now)
}

// Failure records a failed login as email from ip.
func (t *Throttle) Failure(ctx context.Context, email, ip string) {
	t.failureAt(ctx, email, ip, t.now())
}

func (t *Throttle) failureAt(ctx context.Context, email, ip string, now time.Time) {
	for _, key := range []string{accountKey(email), ipKey(ip)} {
		if err := t.log.add(ctx, key, now, ThrottleWindow); err != nil {
			t.degraded(err)
			t.fallback.add(ctx, key, now, ThrottleWindow)
		}
	}
}

// Success forgets the account's failures after a successful login. The IP's
// failures stay: one good account must not reset an attacker's budget.
func (t *Throttle) Success(ctx context.Context, email string) {
	if err := t.log.clear(ctx, accountKey(email)); err != nil {
		t.degraded(err)
	}
	t.fallback.clear(ctx, accountKey(email))
}

// degraded notes one failed Redis call; the breaker logs the outage itself.
func (t *Throttle) degraded(err error) {
	t.logger.Debug("login throttle: redis failed, using in-process state", "err", err)
}

// memoryLog is a failureLog in process memory, bounded in keys.
type memoryLog struct {
	mu   sync.Mutex
	keys map[string][]time.Time
}

const memoryLogMaxKeys = 100_000

func newMemoryLog() *memoryLog { return &memoryLog{keys: map[string][]time.Time{}} }

func (m *memoryLog) add(_ context.Context, key string, at time.Time, window time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.keys) >= memoryLogMaxKeys {
		m.pruneLocked(at, window)
	}
	times := append(pruneBefore(m.keys[key], at.Add(-window)), at)
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	m.keys[key] = times
	return nil
}

func (m *memoryLog) recent(_ context.Context, key string, now time.Time, window time.Duration) ([]time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	times := pruneBefore(m.keys[key], now.Add(-window))
	if len(times) == 0 {
		delete(m.keys, key)
		return nil, nil
	}
	m.keys[key] = times
	return append([]time.Time(nil), times...), nil
}

func (m *memoryLog) remove(_ context.Context, key string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	times := m.keys[key]
	for i, t := range times {
		if t.Equal(at) {
			m.keys[key] = append(times[:i:i], times[i+1:]...)
			break
		}
	}
	return nil
}

func (m *memoryLog) clear(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, key)
	return nil
}

func (m *memoryLog) pruneLocked(now time.Time, window time.Duration) {
	for k, times := range m.keys {
		if times = pruneBefore(times, now.Add(-window)); len(times) == 0 {
			delete(m.keys, k)
		} else {
			m.keys[k] = times
		}
	}
	// Still full of live keys: drop arbitrary ones rather than grow without bound.
	for k := range m.keys {
		if len(m.keys) < memoryLogMaxKeys {
			break
		}
		delete(m.keys, k)
	}
}

// pruneBefore drops the times at or before cutoff from a sorted slice.
func pruneBefore(times []time.Time, cutoff time.Time) []time.Time {
	i := sort.Search(len(times), func(i int) bool { return times[i].After(cutoff) })
	return times[i:]
}
