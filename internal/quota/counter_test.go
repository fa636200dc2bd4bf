package quota_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"keyplane/internal/quota"
	"keyplane/internal/ratelimit/ratelimittest"
	"keyplane/internal/redisbreaker"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// patientBreaker bounds calls generously: scenarios that test the logic
// must not fall back because a loaded machine was slow.
func patientBreaker() *redisbreaker.Breaker {
	return redisbreaker.New(redisbreaker.Options{CallTimeout: time.Second, Logger: quietLogger})
}

// testRedis returns a client of its own for the test server, set up as
// serve sets up its own (no retries, the breaker's deadlines honoured),
// and a key prefix whose keys are deleted when the test ends.
func testRedis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	direct, prefix := ratelimittest.Redis(t)
	o := direct.Options()
	client := redis.NewClient(&redis.Options{
		Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig,
		MaxRetries: -1, ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { client.Close() })
	return client, prefix
}

// noFallbacks fails the test if r answered from memory: a scenario meant
// for Redis did not run against Redis.
func noFallbacks(t testing.TB, r *quota.Redis) {
	t.Cleanup(func() {
		if n := r.Fallbacks.Load(); n != 0 {
			t.Errorf("redis counter fell back to memory %d times: the test did not run against Redis", n)
		}
	})
}

// counterImpls builds each Counter afresh for one test; replicas returns
// that many Counters sharing their counts (one Memory for "memory").
var counterImpls = []struct {
	name     string
	replicas func(t testing.TB, n int) []quota.Counter
}{
	{"memory", func(_ testing.TB, n int) []quota.Counter {
		m := quota.NewMemory()
		cs := make([]quota.Counter, n)
		for i := range cs {
			cs[i] = m
		}
		return cs
	}},
	{"redis", func(t testing.TB, n int) []quota.Counter {
		_, prefix := testRedis(t)
		cs := make([]quota.Counter, n)
		for i := range cs {
			client, _ := testRedis(t)
			r := quota.NewRedis(client, patientBreaker(), prefix, quota.NewMemory())
			noFallbacks(t, r)
			cs[i] = r
		}
		return cs
	}},
}

func newCounter(t testing.TB, impl int) quota.Counter {
	return counterImpls[impl].replicas(t, 1)[0]
}

var (
	t0       = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	today    = time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	tomorrow = today.AddDate(0, 0, 1)
)

func day(limit int64) quota.Spec   { return quota.Spec{Kind: quota.Day, Limit: limit} }
func month(limit int64) quota.Spec { return quota.Spec{Kind: quota.Month, Limit: limit} }

// bal is a Balance, shorter.
func bal(limit, remaining int64, start, reset time.Time) quota.Balance {
	return quota.Balance{Limit: limit, Remaining: remaining, PeriodStart: start, Reset: reset}
}

// spend is one Spend of a scenario: key and org name subjects of the
// scenario ("" for none); the Decision must be want exactly.
type spend struct {
	at       time.Time
	key, org string
	cost     int64
	// reportKey and reportOrg make the key's or org's quota report-only.
	reportKey, reportOrg bool
	want                 quota.Decision
}

var spendScenarios = []struct {
	name     string
	subjects []quota.Subject
	spends   []spend
}{
	{
		name:     "a day's requests: the last one left passes, the next is refused",
		subjects: []quota.Subject{{ID: "k", Spec: day(3)}},
		spends: []spend{
			{at: t0, key: "k", cost: 1, want: quota.Decision{Allowed: true, Spent: 1, Key: bal(3, 2, today, tomorrow)}},
			{at: t0.Add(time.Hour), key: "k", cost: 1, want: quota.Decision{Allowed: true, Spent: 1, Key: bal(3, 1, today, tomorrow)}},
			{at: t0.Add(2 * time.Hour), key: "k", cost: 1, want: quota.Decision{Allowed: true, Spent: 1, Key: bal(3, 0, today, tomorrow)}},
			{at: t0.Add(3 * time.Hour), key: "k", cost: 1, want: quota.Decision{RefusedBy: "k", Key: bal(3, 0, today, tomorrow)}},
		},
	},
	{
		name:     "a cost larger than what is left is refused and spends nothing; a smaller one passes",
		subjects: []quota.Subject{{ID: "k", Spec: day(10)}},
		spends: []spend{
			{at: t0, key: "k", cost: 7, want: quota.Decision{Allowed: true, Spent: 7, Key: bal(10, 3, today, tomorrow)}},
			{at: t0, key: "k", cost: 4, want: quota.Decision{RefusedBy: "k", Key: bal(10, 3, today, tomorrow)}},
			{at: t0, key: "k", cost: 3, want: quota.Decision{Allowed: true, Spent: 3, Key: bal(10, 0, today, tomorrow)}},
		},
	},
	{
		name:     "cost 0 checks without spending: allowed with 1 left, refused with none",
		subjects: []quota.Subject{{ID: "k", Spec: day(2)}},
		spends: []spend{
			{at: t0, key: "k", cost: 0, want: quota.Decision{Allowed: true, Key: bal(2, 2, today, tomorrow)}},
			{at: t0, key: "k", cost: 1, want: quota.Decision{Allowed: true, Spent: 1, Key: bal(2, 1, today, tomorrow)}},
			{at: t0, key: "k", cost: 0, want: quota.Decision{Allowed: true, Key: bal(2, 1, today, tomorrow)}},
			{at: t0, key: "k", cost: 0, want: quota.Decision{Allowed: true, Key: bal(2, 1, today, tomorrow)}},
			{at: t0, key: "k", cost: 1, want: quota.Decision{Allowed: true, Spent: 1, Key: bal(2, 0, today, tomorrow)}},
			{at: t0, key: "k", cost: 0, want: quota.Decision{RefusedBy: "k", Key: bal(2, 0, today, tomorrow)}},
			{at: t0, key: "k", cost: 0, reportKey: true, want: quota.Decision{Allowed: true, Would: true, RefusedBy: "k", Key: bal(2, 0, today, tomorrow)}},
		},
	},
	{
		name:     "a report-only quota lets through and spends past it, saying it would have refused",
		subjects: []quota.Subject{{ID: "k", Spec: day(2)}, {ID: "o", Spec: day(100)}},
		spends: []spend{
			{at: t0, key: "k", org: "o", cost: 1, reportKey: true, reportOrg: true, want: quota.Decision{Allowed: true, Spent: 1,
				Key: bal(2, 1, today, tomorrow), Org: bal(100, 99, today, tomorrow)}},
			{at: t0, key: "k", org: "o", cost: 3, reportKey: true, reportOrg: true, want: quota.Decision{Allowed: true, Would: true, RefusedBy: "k", Spent: 3,
				Key: bal(2, 0, today, tomorrow), Org: bal(100, 96, today, tomorrow)}},
			// Spent past the quota: 4 of 2. Enforced, it refuses.
			{at: t0, key: "k", org: "o", cost: 1, want: quota.Decision{RefusedBy: "k",
				Key: bal(2, 0, today, tomorrow), Org: bal(100, 96, today, tomorrow)}},
			{at: tomorrow, key: "k", org: "o", cost: 1, want: quota.Decision{Allowed: true, Spent: 1,
				Key: bal(2, 1, tomorrow, tomorrow.AddDate(0, 0, 1)), Org: bal(100, 99, tomorrow, tomorrow.AddDate(0, 0, 1))}},
		},
	},
	{
		name:     "a report-only key quota under an enforced organization quota: the organization still refuses",
		subjects: []quota.Subject{{ID: "k", Spec: day(2)}, {ID: "o", Spec: day(3)}},
		spends: []spend{
			{at: t0, key: "k", org: "o", cost: 2, reportKey: true, want: quota.Decision{Allowed: true, Spent: 2,
				Key: bal(2, 0, today, tomorrow), Org: bal(3, 1, today, tomorrow)}},
			{at: t0, key: "k", org: "o", cost: 1, reportKey: true, want: quota.Decision{Allowed: true, Would: true, RefusedBy: "k", Spent: 1,
				Key: bal(2, 0, today, tomorrow), Org: bal(3, 0, today, tomorrow)}},
			{at: t0, key: "k", org: "o", cost: 1, reportKey: true, want: quota.Decision{RefusedBy: "o",
				Key: bal(2, 0, today, tomorrow), Org: bal(3, 0, today, tomorrow)}},
		},
	},
	{
		name: "two keys share their organization's quota; the key is named first when both refuse",
		subjects: []quota.Subject{
			{ID: "a", Spec: day(4)}, {ID: "b", Spec: day(4)}, {ID: "o", Spec: day(5)},
		},
		spends: []spend{
			{at: t0, key: "a", org: "o", cost: 3, want: quota.Decision{Allowed: true, Spent: 3,
				Key: bal(4, 1, today, tomorrow), Org: bal(5, 2, today, tomorrow)}},
			{at: t0, key: "b", org: "o", cost: 2, want: quota.Decision{Allowed: true, Spent: 2,
				Key: bal(4, 2, today, tomorrow), Org: bal(5, 0, today, tomorrow)}},
			// b has room, the organization has none: nothing is spent on b.
			{at: t0, key: "b", org: "o", cost: 1, want: quota.Decision{RefusedBy: "o",
				Key: bal(4, 2, today, tomorrow), Org: bal(5, 0, today, tomorrow)}},
			{at: t0, key: "a", org: "o", cost: 1, want: quota.Decision{RefusedBy: "o",
				Key: bal(4, 1, today, tomorrow), Org: bal(5, 0, today, tomorrow)}},
			{at: t0, key: "a", org: "o", cost: 2, want: quota.Decision{RefusedBy: "a",
				Key: bal(4, 1, today, tomorrow), Org: bal(5, 0, today, tomorrow)}},
			{at: t0, key: "b", org: "o", cost: 0, want: quota.Decision{RefusedBy: "o",
				Key: bal(4, 2, today, tomorrow), Org: bal(5, 0, today, tomorrow)}},
		},
	},
	{
		name:     "a key's refusal spends nothing on its organization",
		subjects: []quota.Subject{{ID: "k", Spec: day(1)}, {ID: "o", Spec: month(10)}},
		spends: []spend{
			{at: t0, key: "k", org: "o", cost: 1, want: quota.Decision{Allowed: true, Spent: 1,
				Key: bal(1, 0, today, tomorrow), Org: bal(10, 9, jan1(2030), jan1(2030).AddDate(0, 1, 0))}},
			{at: t0, key: "k", org: "o", cost: 1, want: quota.Decision{RefusedBy: "k",
				Key: bal(1, 0, today, tomorrow), Org: bal(10, 9, jan1(2030), jan1(2030).AddDate(0, 1, 0))}},
			{at: t0, org: "o", cost: 9, want: quota.Decision{Allowed: true, Spent: 9,
				Org: bal(10, 0, jan1(2030), jan1(2030).AddDate(0, 1, 0))}},
			{at: t0, org: "o", cost: 1, want: quota.Decision{RefusedBy: "o",
				Org: bal(10, 0, jan1(2030), jan1(2030).AddDate(0, 1, 0))}},
		},
	},
	{
		name:     "a day ends at UTC midnight, whatever the zone of the time given",
		subjects: []quota.Subject{{ID: "k", Spec: day(2)}},
		spends: []spend{
			{at: tomorrow.Add(-time.Second), key: "k", cost: 2, want: quota.Decision{Allowed: true, Spent: 2, Key: bal(2, 0, today, tomorrow)}},
			{at: tomorrow.Add(-time.Nanosecond).In(plus5), key: "k", cost: 1, want: quota.Decision{RefusedBy: "k", Key: bal(2, 0, today, tomorrow)}},
			{at: tomorrow.In(plus5), key: "k", cost: 1, want: quota.Decision{Allowed: true, Spent: 1, Key: bal(2, 1, tomorrow, tomorrow.AddDate(0, 0, 1))}},
			{at: tomorrow.Add(20 * time.Hour).In(plus5), key: "k", cost: 1, want: quota.Decision{Allowed: true, Spent: 1, Key: bal(2, 0, tomorrow, tomorrow.AddDate(0, 0, 1))}},
		},
	},
	{
		name:     "a month ends on its last day: January 31 to February 1, December to January",
		subjects: []quota.Subject{{ID: "k", Spec: month(2)}},
		spends: []spend{
			{at: at(2030, 1, 31, 23, 59), key: "k", cost: 2, want: quota.Decision{Allowed: true, Spent: 2, Key: bal(2, 0, jan1(2030), at(2030, 2, 1, 0, 0))}},
			{at: at(2030, 2, 1, 0, 0).Add(-time.Nanosecond), key: "k", cost: 1, want: quota.Decision{RefusedBy: "k", Key: bal(2, 0, jan1(2030), at(2030, 2, 1, 0, 0))}},
			{at: at(2030, 2, 1, 0, 0), key: "k", cost: 1, want: quota.Decision{Allowed: true, Spent: 1, Key: bal(2, 1, at(2030, 2, 1, 0, 0), at(2030, 3, 1, 0, 0))}},
			{at: at(2030, 12, 31, 23, 59), key: "k", cost: 2, want: quota.Decision{Allowed: true, Spent: 2, Key: bal(2, 0, at(2030, 12, 1, 0, 0), jan1(2031))}},
			{at: jan1(2031), key: "k", cost: 1, want: quota.Decision{Allowed: true, Spent: 1, Key: bal(2, 1, jan1(2031), at(2031, 2, 1, 0, 0))}},
		},
	},
	{
		name:     "credits refill every interval counted from the anchor",
		subjects: []quota.Subject{{ID: "k", Spec: quota.Spec{Kind: quota.Credits, Limit: 5, Refill: time.Hour, Anchor: at(2030, 1, 1, 10, 20)}}},
		spends: []spend{
			{at: at(2030, 1, 1, 10, 30), key: "k", cost: 5, want: quota.Decision{Allowed: true, Spent: 5, Key: bal(5, 0, at(2030, 1, 1, 10, 20), at(2030, 1, 1, 11, 20))}},
			{at: at(2030, 1, 1, 11, 20).Add(-time.Nanosecond), key: "k", cost: 1, want: quota.Decision{RefusedBy: "k", Key: bal(5, 0, at(2030, 1, 1, 10, 20), at(2030, 1, 1, 11, 20))}},
			{at: at(2030, 1, 1, 11, 20), key: "k", cost: 2, want: quota.Decision{Allowed: true, Spent: 2, Key: bal(5, 3, at(2030, 1, 1, 11, 20), at(2030, 1, 1, 12, 20))}},
			// 25 refills later the balance is full again.
			{at: at(2030, 1, 2, 12, 25), key: "k", cost: 1, want: quota.Decision{Allowed: true, Spent: 1, Key: bal(5, 4, at(2030, 1, 2, 12, 20), at(2030, 1, 2, 13, 20))}},
		},
	},
	{
		name:     "credits never refilled: one balance, no reset",
		subjects: []quota.Subject{{ID: "k", Spec: quota.Spec{Kind: quota.Credits, Limit: 3, Anchor: at(2030, 1, 1, 10, 20)}}},
		spends: []spend{
			{at: t0, key: "k", cost: 2, want: quota.Decision{Allowed: true, Spent: 2, Key: bal(3, 1, at(2030, 1, 1, 10, 20), time.Time{})}},
			{at: at(2030, 6, 1, 0, 0), key: "k", cost: 1, want: quota.Decision{Allowed: true, Spent: 1, Key: bal(3, 0, at(2030, 1, 1, 10, 20), time.Time{})}},
			{at: at(2031, 6, 1, 0, 0), key: "k", cost: 1, want: quota.Decision{RefusedBy: "k", Key: bal(3, 0, at(2030, 1, 1, 10, 20), time.Time{})}},
		},
	},
	{
		name: "a top-up counts in the period it was made in only",
		subjects: []quota.Subject{
			{ID: "d", Spec: quota.Spec{Kind: quota.Day, Limit: 2, TopUp: 3, TopUpPeriod: today}},
			{ID: "c", Spec: quota.Spec{Kind: quota.Credits, Limit: 2, Anchor: today, TopUp: 10, TopUpPeriod: today}},
		},
		spends: []spend{
			{at: t0, key: "d", cost: 5, want: quota.Decision{Allowed: true, Spent: 5, Key: bal(5, 0, today, tomorrow)}},
			{at: t0, key: "d", cost: 1, want: quota.Decision{RefusedBy: "d", Key: bal(5, 0, today, tomorrow)}},
			{at: tomorrow, key: "d", cost: 3, want: quota.Decision{RefusedBy: "d", Key: bal(2, 2, tomorrow, tomorrow.AddDate(0, 0, 1))}},
			{at: tomorrow, key: "d", cost: 2, want: quota.Decision{Allowed: true, Spent: 2, Key: bal(2, 0, tomorrow, tomorrow.AddDate(0, 0, 1))}},
			{at: t0, key: "c", cost: 12, want: quota.Decision{Allowed: true, Spent: 12, Key: bal(12, 0, today, time.Time{})}},
		},
	},
	{
		name: "a counter starts from what the database held for the current period only",
		subjects: []quota.Subject{
			{ID: "now", Spec: day(10), Spent: 7, SpentPeriod: today},
			{ID: "old", Spec: day(10), Spent: 7, SpentPeriod: today.AddDate(0, 0, -1)},
			{ID: "over", Spec: day(10), Spent: 12, SpentPeriod: today},
		},
		spends: []spend{
			{at: t0, key: "now", cost: 1, want: quota.Decision{Allowed: true, Spent: 1, Key: bal(10, 2, today, tomorrow)}},
			{at: t0, key: "old", cost: 1, want: quota.Decision{Allowed: true, Spent: 1, Key: bal(10, 9, today, tomorrow)}},
			{at: t0, key: "over", cost: 0, want: quota.Decision{RefusedBy: "over", Key: bal(10, 0, today, tomorrow)}},
			// The next day starts from nothing: the seed was today's.
			{at: tomorrow, key: "now", cost: 1, want: quota.Decision{Allowed: true, Spent: 1, Key: bal(10, 9, tomorrow, tomorrow.AddDate(0, 0, 1))}},
		},
	},
}

var plus5 = time.FixedZone("UTC+5", 5*60*60)

func at(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}
func jan1(y int) time.Time { return at(y, 1, 1, 0, 0) }

// TestSpend runs each scenario against each Counter: both answer exactly
// the same.
func TestSpend(t *testing.T) {
	for i, impl := range counterImpls {
		t.Run(impl.name, func(t *testing.T) {
			for _, sc := range spendScenarios {
				t.Run(sc.name, func(t *testing.T) {
					c := newCounter(t, i)
					subjects := map[string]*quota.Subject{}
					for _, s := range sc.subjects {
						subjects[s.ID] = &s
					}
					for j, sp := range sc.spends {
						ch := quota.Charge{OrgID: "org1", Key: subjects[sp.key], Org: subjects[sp.org], Cost: sp.cost, ReportKey: sp.reportKey, ReportOrg: sp.reportOrg}
						if got := c.Spend(context.Background(), ch, sp.at); got != sp.want {
							t.Errorf("spend %d (key %q org %q cost %d at %v):\n got %+v\nwant %+v", j, sp.key, sp.org, sp.cost, sp.at, got, sp.want)
						}
					}
				})
			}
		})
	}
}

// TestSpendWithoutSubjects: a charge with no quota passes and spends.
func TestSpendWithoutSubjects(t *testing.T) {
	for i, impl := range counterImpls {
		t.Run(impl.name, func(t *testing.T) {
			d := newCounter(t, i).Spend(context.Background(), quota.Charge{Cost: 3}, t0)
			if want := (quota.Decision{Allowed: true, Spent: 3}); d != want {
				t.Errorf("got %+v, want %+v", d, want)
			}
		})
	}
}
