package quota

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"keyplane/internal/redisbreaker"
)

// spendScript spends against up to two counters (KEYS: the key's, the
// organization's, either alone) as one step. ARGV[1] is the cost; then for
// each counter: its seed, the period's allowance, the counter's lifetime in
// ms, '1' to renew that lifetime on every spend, what was spent in process
// while Redis was away (taken over before the check), and '1' when its
// quota is report-only. A missing counter starts from its seed. A counter
// is short when it has less than max(cost, 1) left; the request is allowed
// unless an enforced counter is short, and an allowed request spends its
// cost on every counter. Returns {short, spent...}: short has bit i-1 set
// for each short counter i; spent what each holds after.
var spendScript = redis.NewScript(`
local cost = tonumber(ARGV[1])
local need = math.max(cost, 1)
local short, allowed = 0, true
local spent = {}
for i, key in ipairs(KEYS) do
  local a = 1 + (i - 1) * 6
  local v = redis.call('GET', key)
  if not v then
    redis.call('SET', key, ARGV[a + 1], 'PX', ARGV[a + 3])
    v = ARGV[a + 1]
  elseif ARGV[a + 4] == '1' then
    redis.call('PEXPIRE', key, ARGV[a + 3])
  end
  if ARGV[a + 5] ~= '0' then
    v = redis.call('INCRBY', key, ARGV[a + 5])
  end
  spent[i] = tonumber(v)
  if tonumber(ARGV[a + 2]) - spent[i] < need then
    short = short + 2 ^ (i - 1)
    if ARGV[a + 6] ~= '1' then
      allowed = false
    end
  end
end
if allowed and cost > 0 then
  for i, key in ipairs(KEYS) do
    spent[i] = redis.call('INCRBY', key, ARGV[1])
  end
end
table.insert(spent, 1, short)
return spent
`)

// Lifetimes of counters in Redis: a day past the period's end, so a spend
// made just before the end still finds its counter; credits never
// refilled have no end, and their counter lives on while it is spent.
const (
	afterEnd     = 24 * time.Hour
	unendingLife = 400 * 24 * time.Hour
)

var errBadReply = errors.New("quota: unexpected reply from redis")

// Redis is a Counter in Redis, exact across every replica sharing it: one
// script checks and spends a key's and its organization's counters
// together. A counter Redis does not hold (new, expired, or lost) starts
// from the subject's seed, what the database held.
//
// Its calls go through a circuit breaker; when Redis fails, or while the
// breaker keeps calls away from it, the in-process Memory answers at once
// and the call is counted in Fallbacks. The Memory goes on from what Redis
// last said about each subject, and what it lets through still counts
// once Redis is back: the next call for that subject and period that
// reaches Redis hands it over. A reply lost after Redis applied a call
// leaves its amount in both places: counted twice, never forgotten.
type Redis struct {
	client  redis.UniversalClient
	breaker *redisbreaker.Breaker
	prefix  string
	local   *Memory
	// Fallbacks counts the calls Redis could not answer, answered by the
	// in-process Memory alone.
	Fallbacks atomic.Uint64
}

// NewRedis returns a Counter keeping its counters in Redis under prefix,
// asking Redis through breaker (shared with the other users of client),
// answering from local while Redis cannot (nil: a NewMemory).
func NewRedis(client redis.UniversalClient, breaker *redisbreaker.Breaker, prefix string, local *Memory) *Redis {
	if local == nil {
		local = NewMemory()
	}
	return &Redis{client: client, breaker: breaker, prefix: prefix, local: local}
}

// Spend spends c.Cost against c's subjects when each has enough left (or
// its quota is report-only), as one step across every replica.
func (r *Redis) Spend(ctx context.Context, c Charge, now time.Time) Decision {
	if c.Key == nil && c.Org == nil {
		return Decision{Allowed: true, Spent: c.Cost}
	}
	if d, err := r.run(ctx, c, now); err == nil {
		return d
	}
	r.Fallbacks.Add(1)
	return r.local.spend(c, now, true)
}

// counter is one subject's counter in Redis for the period at now.
type counter struct {
	s          *Subject
	start, end time.Time
}

// run asks spendScript, handing Redis what the Memory holds as pending
// for c's subjects; that goes back to the Memory if Redis fails.
func (r *Redis) run(ctx context.Context, c Charge, now time.Time) (Decision, error) {
	orgID := c.OrgID
	if orgID == "" && c.Org != nil {
		orgID = c.Org.ID
	}
	var subs [2]counter
	n := 0
	for _, s := range [2]*Subject{c.Key, c.Org} {
		if s != nil {
			start, end := s.Spec.Period(now)
			subs[n] = counter{s: s, start: start, end: end}
			n++
		}
	}
	var res []int64
	err := r.breaker.Do(ctx, func(ctx context.Context) error {
		kp, op := r.local.drain(c, now)
		pending := [2]int64{kp, op}
		if c.Key == nil {
			pending[0] = op
		}
		keys := make([]string, n)
		args := make([]any, 0, 1+6*n)
		args = append(args, c.Cost)
		for i, sub := range subs[:n] {
			keys[i] = r.prefix + "{" + orgID + "}:" + sub.s.ID + ":" + strconv.FormatInt(sub.start.Unix(), 10)
			life, renew := sub.end.Add(afterEnd).Sub(now), "0"
			if sub.end.IsZero() {
				life, renew = unendingLife, "1"
			}
			report := "0"
			if (sub.s == c.Key && c.ReportKey) || (sub.s == c.Org && c.ReportOrg) {
				report = "1"
			}
			args = append(args, sub.s.seed(sub.start), sub.s.Spec.Allowance(sub.start), max(life.Milliseconds(), 1), renew, pending[i], report)
		}
		var err error
		res, err = spendScript.Run(ctx, r.client, keys, args...).Int64Slice()
		if err == nil && (len(res) != 1+n || res[0] < 0 || res[0] >= 1<<n) {
			err = errBadReply
		}
		if err != nil {
			r.local.restore(c, now, kp, op)
		}
		return err
	})
	if err != nil {
		return Decision{}, err
	}
	var kspent, ospent int64
	if c.Key != nil {
		kspent = res[1]
	}
	if c.Org != nil {
		ospent = res[n]
	}
	r.local.note(c, now, kspent, ospent)

	// The first counter is the key's when there is one.
	keyShort := c.Key != nil && res[0]&1 != 0
	orgShort := c.Org != nil && res[0]&(1<<(n-1)) != 0
	d := judge(c, keyShort, orgShort)
	if c.Key != nil {
		d.Key = balance(c.Key, subs[0].start, subs[0].end, kspent)
	}
	if c.Org != nil {
		d.Org = balance(c.Org, subs[n-1].start, subs[n-1].end, ospent)
	}
	return d, nil
}
