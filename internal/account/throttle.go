package account

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"keyplane/internal/ratelimit"
)

// Login throttling: after AccountFailureLimit failures within ThrottleWindow
// for one account, or IPFailureLimit from one client IP, every attempt is
// refused until the window has passed.
const (
	AccountFailureLimit = 5
	IPFailureLimit      = 20
	ThrottleWindow      = 15 * time.Minute
)

// ThrottleMaxKeys bounds the accounts and IPs a Throttle keeps in process,
// so a flood of made-up emails cannot grow memory without end.
const ThrottleMaxKeys = 100_000

var (
	accountLimit = ratelimit.Limit{Max: AccountFailureLimit, Window: ThrottleWindow}
	ipLimit      = ratelimit.Limit{Max: IPFailureLimit, Window: ThrottleWindow}
)

// Throttle limits failed logins per account and per client IP. It keeps its
// failures in a ratelimit.Store: in process, or in Redis so every replica
// shares them, where an outage is answered in process and the failures
// counted meanwhile still count once Redis is back.
type Throttle struct {
	// attempts makes Attempt's check and record one step in this process.
	attempts sync.Mutex
	store    ratelimit.Store
	now      func() time.Time
}

// NewThrottle returns a Throttle keeping its state in process; now is the
// clock (nil: time.Now).
func NewThrottle(now func() time.Time) *Throttle {
	return NewThrottleWith(ratelimit.NewMemory(ThrottleMaxKeys), now)
}

// NewThrottleWith returns a Throttle keeping its state in store; now is the
// clock (nil: time.Now), and stays the caller's whatever the store, so a
// fake clock drives a Redis store as it drives an in-process one.
func NewThrottleWith(store ratelimit.Store, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{store: store, now: now}
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
	t.store.Remove(ctx, ipKey(ip), at)
}

// Check returns how long the caller must wait before trying to log in as
// email from ip, or 0 when the attempt may go ahead.
func (t *Throttle) Check(ctx context.Context, email, ip string) time.Duration {
	now := t.now()
	return max(t.wait(ctx, accountKey(email), accountLimit, now), t.wait(ctx, ipKey(ip), ipLimit, now))
}

func (t *Throttle) wait(ctx context.Context, key string, l ratelimit.Limit, now time.Time) time.Duration {
	if d := t.store.Peek(ctx, key, l, now); !d.Allowed {
		return d.Reset
	}
	return 0
}

// Failure records a failed login as email from ip.
func (t *Throttle) Failure(ctx context.Context, email, ip string) {
	t.failureAt(ctx, email, ip, t.now())
}

func (t *Throttle) failureAt(ctx context.Context, email, ip string, at time.Time) {
	t.store.Add(ctx, accountKey(email), ThrottleWindow, at)
	t.store.Add(ctx, ipKey(ip), ThrottleWindow, at)
}

// Success forgets the account's failures after a successful login. The IP's
// failures stay: one good account must not reset an attacker's budget.
func (t *Throttle) Success(ctx context.Context, email string) {
	t.store.Clear(ctx, accountKey(email))
}

// secondFactorKey counts the failed second-factor codes of a user apart
// from their passwords: a correct password, which forgets the account's
// password failures, must not reset the budget for guessing codes.
func secondFactorKey(userID string) string { return "2fa:" + userID }

// AttemptSecondFactor reserves a second-factor attempt (TOTP or recovery
// code) for userID from ip, as Attempt does for a password: when the user
// has failed AccountFailureLimit codes within ThrottleWindow, or the IP is
// throttled, it returns how long to wait and records nothing; otherwise the
// attempt counts as a failure until SecondFactorSucceeded undoes it.
func (t *Throttle) AttemptSecondFactor(ctx context.Context, userID, ip string) (time.Time, time.Duration) {
	t.attempts.Lock()
	defer t.attempts.Unlock()
	now := t.now()
	if wait := max(t.wait(ctx, secondFactorKey(userID), accountLimit, now), t.wait(ctx, ipKey(ip), ipLimit, now)); wait > 0 {
		return time.Time{}, wait
	}
	t.store.Add(ctx, secondFactorKey(userID), ThrottleWindow, now)
	t.store.Add(ctx, ipKey(ip), ThrottleWindow, now)
	return now, 0
}

// SecondFactorSucceeded undoes the attempt made at at: the user's code
// failures are forgotten, the IP keeps its others.
func (t *Throttle) SecondFactorSucceeded(ctx context.Context, userID, ip string, at time.Time) {
	t.store.Clear(ctx, secondFactorKey(userID))
	t.store.Remove(ctx, ipKey(ip), at)
}
