package quota_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"keyplane/internal/faultproxy"
	"keyplane/internal/quota"
	"keyplane/internal/redisbreaker"
)

// counterKey is where Redis keeps id's counter for the period starting at
// start.
func counterKey(prefix, orgID, id string, start time.Time) string {
	return prefix + "{" + orgID + "}:" + id + ":" + strconv.FormatInt(start.Unix(), 10)
}

// get reads a counter straight from Redis; -1 when there is none.
func get(t *testing.T, client *redis.Client, key string) int64 {
	t.Helper()
	n, err := client.Get(context.Background(), key).Int64()
	if err == redis.Nil {
		return -1
	}
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	return n
}

// TestRedisCounters: a key's and its organization's counters share a hash
// slot, live a day past their period's end, and a balance never refilled
// lives 400 days past its latest spend.
func TestRedisCounters(t *testing.T) {
	ctx := context.Background()
	client, prefix := testRedis(t)
	r := quota.NewRedis(client, patientBreaker(), prefix, nil)
	noFallbacks(t, r)
	k := &quota.Subject{ID: "k", Spec: day(10)}
	o := &quota.Subject{ID: "o", Spec: month(100)}
	c := &quota.Subject{ID: "c", Spec: quota.Spec{Kind: quota.Credits, Limit: 10, Anchor: today}}

	r.Spend(ctx, quota.Charge{OrgID: "org1", Key: k, Org: o, Cost: 3}, t0)
	r.Spend(ctx, quota.Charge{OrgID: "org1", Key: c, Cost: 4}, t0)
	kk, ok, ck := counterKey(prefix, "org1", "k", today), counterKey(prefix, "org1", "o", jan1(2030)), counterKey(prefix, "org1", "c", today)
	for key, want := range map[string]int64{kk: 3, ok: 3, ck: 4} {
		if got := get(t, client, key); got != want {
			t.Errorf("%s holds %d, want %d", key, got, want)
		}
	}
	if a, b := client.ClusterKeySlot(ctx, kk).Val(), client.ClusterKeySlot(ctx, ok).Val(); a != b {
		t.Errorf("the key's counter is in slot %d, its organization's in %d: one script cannot change both in a cluster", a, b)
	}
	lives := map[string]time.Duration{
		kk: tomorrow.Add(24 * time.Hour).Sub(t0),
		ok: at(2030, 2, 2, 0, 0).Sub(t0),
		ck: 400 * 24 * time.Hour,
	}
	for key, life := range lives {
		if ttl := client.PTTL(ctx, key).Val(); ttl > life || ttl < life-time.Minute {
			t.Errorf("%s lives %v, want %v", key, ttl, life)
		}
	}
	// Each spend of a balance never refilled renews its life.
	client.PExpire(ctx, ck, time.Hour)
	r.Spend(ctx, quota.Charge{OrgID: "org1", Key: c, Cost: 0}, t0)
	if ttl := client.PTTL(ctx, ck).Val(); ttl < 399*24*time.Hour {
		t.Errorf("after a spend %s lives %v, want 400 days again", ck, ttl)
	}
}

// TestRedisLostCounterStartsFromSeed: a counter Redis lost starts again
// from what the database held.
func TestRedisLostCounterStartsFromSeed(t *testing.T) {
	ctx := context.Background()
	client, prefix := testRedis(t)
	r := quota.NewRedis(client, patientBreaker(), prefix, nil)
	noFallbacks(t, r)
	k := &quota.Subject{ID: "k", Spec: day(10), Spent: 5, SpentPeriod: today}
	ch := quota.Charge{OrgID: "org1", Key: k, Cost: 1}
	for i, want := range []int64{4, 3, 2} {
		if d := r.Spend(ctx, ch, t0); d.Key.Remaining != want {
			t.Errorf("spend %d: %+v, want %d left", i+1, d, want)
		}
	}
	key := counterKey(prefix, "org1", "k", today)
	if err := client.Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	if d := r.Spend(ctx, ch, t0); d.Key.Remaining != 4 {
		t.Errorf("after Redis lost the counter: %+v, want 4 left (the seed 5, plus 1)", d)
	}
	if n := get(t, client, key); n != 6 {
		t.Errorf("Redis holds %d, want 6", n)
	}
}

func TestRedisFallsBackToMemory(t *testing.T) {
	down := faultproxy.Start(t, "127.0.0.1:1")
	down.Cut()
	client := redis.NewClient(&redis.Options{
		Addr: down.Addr(), MaxRetries: -1, ContextTimeoutEnabled: true,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond,
	})
	defer client.Close()
	r := quota.NewRedis(client, redisbreaker.New(redisbreaker.Options{Logger: quietLogger}), "kptest:down:", nil)
	k := &quota.Subject{ID: "k", Spec: day(2)}
	o := &quota.Subject{ID: "o", Spec: day(5)}
	want := []quota.Decision{
		{Allowed: true, Spent: 1, Key: bal(2, 1, today, tomorrow), Org: bal(5, 4, today, tomorrow)},
		{Allowed: true, Spent: 1, Key: bal(2, 0, today, tomorrow), Org: bal(5, 3, today, tomorrow)},
		{RefusedBy: "k", Key: bal(2, 0, today, tomorrow), Org: bal(5, 3, today, tomorrow)},
	}
	for i, w := range want {
		if d := r.Spend(context.Background(), quota.Charge{OrgID: "org1", Key: k, Org: o, Cost: 1}, t0); d != w {
			t.Errorf("spend %d: got %+v, want %+v", i, d, w)
		}
	}
	if n := r.Fallbacks.Load(); n != uint64(len(want)) {
		t.Errorf("Fallbacks = %d, want %d", n, len(want))
	}
}
