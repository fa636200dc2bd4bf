package quota_test

import (
	"context"
	"testing"
	"time"

	"keyplane/internal/faultproxy"
	"keyplane/internal/quota"
	"keyplane/internal/ratelimit/ratelimittest"
	"keyplane/internal/redisbreaker"
)

// timedSpend is one Spend and how long it took.
func timedSpend(c quota.Counter, ch quota.Charge) (quota.Decision, time.Duration) {
	begin := time.Now()
	d := c.Spend(context.Background(), ch, t0)
	return d, time.Since(begin)
}

// waitForRedis spends ch until a spend reaches Redis again.
func waitForRedis(t *testing.T, r *quota.Redis, ch quota.Charge, openFor time.Duration) {
	t.Helper()
	restored := time.Now()
	for {
		before := r.Fallbacks.Load()
		r.Spend(context.Background(), ch, t0)
		if r.Fallbacks.Load() == before {
			return
		}
		if time.Since(restored) > openFor+5*time.Second {
			t.Fatalf("Redis still not asked %v after the fault ended", time.Since(restored))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRedisUnderFaults puts a fault proxy between the counter and Redis:
// once the breaker has opened after three failures, bounded to 20 ms each,
// every spend answers from memory at once, going on from what Redis last
// said; after the fault what was spent meanwhile is handed over to Redis,
// whose counters then hold exactly everything spent.
func TestRedisUnderFaults(t *testing.T) {
	faults := []struct {
		name  string
		apply func(*faultproxy.Proxy)
	}{
		{"blackholed", (*faultproxy.Proxy).Blackhole},
		{"refused", (*faultproxy.Proxy).Cut},
	}
	for _, fault := range faults {
		t.Run(fault.name, func(t *testing.T) {
			// Long enough that no probe reaches the blackholed Redis while
			// the test spends: a probe's script would run once the fault
			// ends, its reply lost, and count twice.
			const openFor = time.Second
			client, direct, proxy, prefix := ratelimittest.Proxied(t)
			breaker := redisbreaker.New(redisbreaker.Options{OpenFor: openFor, Logger: quietLogger})
			r := quota.NewRedis(client, breaker, prefix, nil)
			other := quota.NewRedis(direct, patientBreaker(), prefix, nil)
			noFallbacks(t, other)
			k := &quota.Subject{ID: "k", Spec: day(1000)}
			o := &quota.Subject{ID: "o", Spec: month(500)}
			ch := quota.Charge{OrgID: "org1", Key: k, Org: o, Cost: 1}

			// Before: 20 spent by another replica, then 10 by this one.
			for range 20 {
				other.Spend(context.Background(), ch, t0)
			}
			for range 10 {
				r.Spend(context.Background(), ch, t0)
			}
			if n := r.Fallbacks.Load(); n != 0 {
				t.Fatalf("%d fallbacks before the fault", n)
			}

			fault.apply(proxy)
			trip := quota.Charge{OrgID: "org2", Key: &quota.Subject{ID: "trip", Spec: day(1000)}, Cost: 1}
			for i := range redisbreaker.TripAfter {
				// 20 ms, plus room for a loaded machine; without the
				// breaker's bound each call waits out the client's 2 s.
				if _, took := timedSpend(r, trip); took > 500*time.Millisecond {
					t.Errorf("failure %d took %v, want about %v", i+1, took, redisbreaker.CallTimeout)
				}
			}
			if !breaker.Open() {
				t.Fatalf("breaker closed after %d failures", redisbreaker.TripAfter)
			}
			const during = 40
			for i := range during {
				d, took := timedSpend(r, ch)
				if took > 500*time.Millisecond {
					t.Errorf("spend %d with the breaker open took %v", i+1, took)
				}
				want := quota.Decision{Allowed: true, Spent: 1,
					Key: bal(1000, 1000-31-int64(i), today, tomorrow), Org: bal(500, 500-31-int64(i), jan1(2030), at(2030, 2, 1, 0, 0))}
				if d != want {
					t.Fatalf("spend %d during the fault: got %+v, want %+v (going on from the 30 Redis counted)", i+1, d, want)
				}
			}
			if n := r.Fallbacks.Load(); n != redisbreaker.TripAfter+during {
				t.Errorf("Fallbacks = %d, want %d", n, redisbreaker.TripAfter+during)
			}

			if err := proxy.Restore(); err != nil {
				t.Fatal(err)
			}
			waitForRedis(t, r, quota.Charge{OrgID: "org3", Key: &quota.Subject{ID: "probe", Spec: day(1000)}}, openFor)
			fellBack := r.Fallbacks.Load()

			// A check hands over what was spent during the fault.
			check := ch
			check.Cost = 0
			if d, _ := timedSpend(r, check); d.Key.Remaining != 1000-70 || d.Org.Remaining != 500-70 {
				t.Errorf("after the fault: %+v, want 70 spent on each", d)
			}
			kk, ok := counterKey(prefix, "org1", "k", today), counterKey(prefix, "org1", "o", jan1(2030))
			if a, b := get(t, direct, kk), get(t, direct, ok); a != 70 || b != 70 {
				t.Errorf("Redis holds %d for the key and %d for the organization, want everything spent, 70", a, b)
			}
			if d, _ := timedSpend(other, check); d.Key.Remaining != 1000-70 {
				t.Errorf("another replica sees %+v, want 70 spent", d)
			}
			// Moved, not copied: one more spend counts one.
			r.Spend(context.Background(), ch, t0)
			if a, b := get(t, direct, kk), get(t, direct, ok); a != 71 || b != 71 {
				t.Errorf("after one more spend Redis holds %d and %d, want 71", a, b)
			}
			if n := r.Fallbacks.Load() - fellBack; n != 0 {
				t.Errorf("%d fallbacks after Redis came back", n)
			}
		})
	}
}

// TestRedisFailedHandoverKeepsTheAmount: a probe that fails while handing
// over what was spent during the fault gives it back to memory, and the
// next call that reaches Redis hands it over.
func TestRedisFailedHandoverKeepsTheAmount(t *testing.T) {
	const openFor = 100 * time.Millisecond
	client, direct, proxy, prefix := ratelimittest.Proxied(t)
	breaker := redisbreaker.New(redisbreaker.Options{OpenFor: openFor, Logger: quietLogger})
	r := quota.NewRedis(client, breaker, prefix, nil)
	k := &quota.Subject{ID: "k", Spec: day(100)}
	o := &quota.Subject{ID: "o", Spec: day(100)}
	ch := quota.Charge{OrgID: "org1", Key: k, Org: o, Cost: 2}

	r.Spend(context.Background(), ch, t0)
	proxy.Cut()
	for range 5 {
		r.Spend(context.Background(), ch, t0)
	}
	if !breaker.Open() {
		t.Fatal("breaker closed after five failures")
	}
	// The next call is a probe: it takes the pending amounts, fails, and
	// must give them back.
	time.Sleep(openFor + 20*time.Millisecond)
	fellBack := r.Fallbacks.Load()
	if d := r.Spend(context.Background(), ch, t0); d.Key.Remaining != 100-14 {
		t.Errorf("the probe's answer: %+v, want 14 spent", d)
	}
	if r.Fallbacks.Load() != fellBack+1 {
		t.Fatal("the probe reached Redis while it was cut")
	}
	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	check := ch
	check.Cost = 0
	waitForRedis(t, r, check, openFor)
	kk, ok := counterKey(prefix, "org1", "k", today), counterKey(prefix, "org1", "o", today)
	if a, b := get(t, direct, kk), get(t, direct, ok); a != 14 || b != 14 {
		t.Errorf("Redis holds %d for the key and %d for the organization, want 14 each", a, b)
	}
}
