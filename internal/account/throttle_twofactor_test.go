package account_test

import (
	"context"
	"testing"
	"time"

	"keyplane/internal/account"
)

// TestSecondFactorThrottle checks codes are throttled per user like
// passwords, and that a correct password does not reset their count.
func TestSecondFactorThrottle(t *testing.T) {
	for _, impl := range throttleImpls {
		t.Run(impl.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newFakeClock()
			th := impl.make(t, clk)
			const user, ip = "u-1", "192.0.2.7"
			for i := range account.AccountFailureLimit {
				if _, wait := th.AttemptSecondFactor(ctx, user, ip); wait != 0 {
					t.Fatalf("attempt %d throttled (%v)", i+1, wait)
				}
				// The password, right each time, forgets only password failures.
				at, _ := th.Attempt(ctx, "alice@example.com", ip)
				th.Succeeded(ctx, "alice@example.com", ip, at)
			}
			_, wait := th.AttemptSecondFactor(ctx, user, ip)
			if wait <= 0 || wait > account.ThrottleWindow {
				t.Fatalf("after %d failed codes: wait %v, want up to %v", account.AccountFailureLimit, wait, account.ThrottleWindow)
			}
			// Another user from another address is not held up.
			if _, wait := th.AttemptSecondFactor(ctx, "u-2", "198.51.100.1"); wait != 0 {
				t.Errorf("another user throttled: %v", wait)
			}
			clk.Advance(account.ThrottleWindow + time.Second)
			at, wait := th.AttemptSecondFactor(ctx, user, ip)
			if wait != 0 {
				t.Fatalf("after the window: wait %v", wait)
			}
			th.SecondFactorSucceeded(ctx, user, ip, at)
			for i := range account.AccountFailureLimit {
				if _, wait := th.AttemptSecondFactor(ctx, user, ip); wait != 0 {
					t.Fatalf("after a success, attempt %d throttled", i+1)
				}
			}
		})
	}
}
