package quota

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// Memory is a Counter in process memory: exact within one process. It
// keeps one amount per subject and period, and forgets periods that have
// ended.
type Memory struct {
	seed   maphash.Seed
	shards [shardCount]memShard
}

const (
	shardCount = 64
	// sweepEvery is how many spends on a shard go by between sweeps of its
	// ended periods.
	sweepEvery = 4096
	// keepPending is how long after its period ended an amount Redis has
	// not taken over yet is kept. Only a spend in the current period hands
	// pending amounts over, so one of an ended period never reaches Redis;
	// it is still in the database (the usage flush writes every spend),
	// and is dropped here after a day so memory stays bounded.
	keepPending = 24 * time.Hour
)

type memShard struct {
	mu    sync.Mutex
	spent map[slot]*amount
	calls int
}

type slot struct {
	id    string
	start int64 // Unix seconds
}

type amount struct {
	spent int64
	end   int64 // Unix seconds; 0: never ends
	// pending is what was spent while Redis could not be asked, for a
	// Redis counter to hand over once it can.
	pending int64
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].spent = map[slot]*amount{}
	}
	return m
}

// Spend spends c.Cost against c's subjects when each has enough left (or
// their quota is report-only), as one step: no other Spend sees one subject spent and not
// the other.
func (m *Memory) Spend(_ context.Context, c Charge, now time.Time) Decision {
	return m.spend(c, now, false)
}

// spend is Spend; pending notes the amount as spent while Redis was away.
func (m *Memory) spend(c Charge, now time.Time, pending bool) Decision {
	h := m.hold(c, now)
	defer m.release(h)
	keyShort := c.Key != nil && c.Key.Spec.Remaining(h.key.start, h.key.a.spent) < need(c.Cost)
	orgShort := c.Org != nil && c.Org.Spec.Remaining(h.org.start, h.org.a.spent) < need(c.Cost)
	d := judge(c, keyShort, orgShort)
	if d.Allowed {
		h.key.add(c.Cost, pending)
		h.org.add(c.Cost, pending)
	}
	if c.Key != nil {
		d.Key = balance(c.Key, h.key.start, h.key.end, h.key.a.spent)
	}
	if c.Org != nil {
		d.Org = balance(c.Org, h.org.start, h.org.end, h.org.a.spent)
	}
	return d
}

// drain takes out what c's subjects spent in their periods at now while
// Redis was away, for Redis to take over. What was spent stays counted.
func (m *Memory) drain(c Charge, now time.Time) (key, org int64) {
	h := m.hold(c, now)
	defer m.release(h)
	return h.key.takePending(), h.org.takePending()
}

// restore gives back what drain took when Redis did not take it over.
func (m *Memory) restore(c Charge, now time.Time, key, org int64) {
	h := m.hold(c, now)
	defer m.release(h)
	h.key.putPending(key)
	h.org.putPending(org)
}

// note learns what Redis holds for c's subjects in their periods at now,
// so that answers given while Redis is away go on from there.
func (m *Memory) note(c Charge, now time.Time, key, org int64) {
	h := m.hold(c, now)
	defer m.release(h)
	h.key.learn(key)
	h.org.learn(org)
}

// held is a charge's amounts in their periods, with their shards locked
// (lo and hi in index order, -1 for none) until release.
type held struct {
	lo, hi   int
	key, org period
}

// period is one subject's amount in the period [start, end); a is nil
// for a charge without that subject. fresh says the amount was just
// started from the subject's seed.
type period struct {
	a          *amount
	start, end time.Time
	fresh      bool
}

// hold locks the shards of c's subjects and returns their amounts in the
// periods at now, starting them if need be. Shards are locked in index
// order, so two calls never wait for each other in turn.
func (m *Memory) hold(c Charge, now time.Time) held {
	ki, oi := -1, -1
	if c.Key != nil {
		ki = m.shard(c.Key.ID)
	}
	if c.Org != nil {
		oi = m.shard(c.Org.ID)
	}
	h := held{lo: min(ki, oi), hi: max(ki, oi)}
	if h.lo == h.hi {
		h.lo = -1
	}
	if h.lo >= 0 {
		m.shards[h.lo].lock(now)
	}
	if h.hi >= 0 {
		m.shards[h.hi].lock(now)
	}
	if c.Key != nil {
		h.key = m.shards[ki].period(c.Key, now)
	}
	if c.Org != nil {
		h.org = m.shards[oi].period(c.Org, now)
	}
	return h
}

// release unlocks what hold locked.
func (m *Memory) release(h held) {
	if h.hi >= 0 {
		m.shards[h.hi].mu.Unlock()
	}
	if h.lo >= 0 {
		m.shards[h.lo].mu.Unlock()
	}
}

func (m *Memory) shard(id string) int {
	return int(maphash.String(m.seed, id) % shardCount)
}

// lock locks the shard, sweeping it now and then.
func (sh *memShard) lock(now time.Time) {
	sh.mu.Lock()
	sh.calls++
	if sh.calls%sweepEvery == 0 {
		sh.sweep(now.Unix())
	}
}

// sweep forgets the periods ended at t, except the amounts Redis has yet
// to take over while Redis still keeps their counters.
func (sh *memShard) sweep(t int64) {
	for k, a := range sh.spent {
		if a.end != 0 && a.end <= t && (a.pending == 0 || a.end+int64(keepPending/time.Second) <= t) {
			delete(sh.spent, k)
		}
	}
}

// period returns s's amount in the period at now, starting it from s's
// seed; the shard is locked.
func (sh *memShard) period(s *Subject, now time.Time) period {
	start, end := s.Spec.Period(now)
	k := slot{id: s.ID, start: start.Unix()}
	p := period{a: sh.spent[k], start: start, end: end}
	if p.a == nil {
		p.a, p.fresh = &amount{spent: s.seed(start)}, true
		if !end.IsZero() {
			p.a.end = end.Unix()
		}
		sh.spent[k] = p.a
	}
	return p
}

// add spends cost, noting it as pending.
func (p period) add(cost int64, pending bool) {
	if p.a == nil {
		return
	}
	p.a.spent += cost
	if pending {
		p.a.pending += cost
	}
}

func (p period) takePending() int64 {
	if p.a == nil {
		return 0
	}
	n := p.a.pending
	p.a.pending = 0
	return n
}

// putPending gives back n taken by takePending; an amount forgotten
// meanwhile starts again from the seed plus n.
func (p period) putPending(n int64) {
	if p.a == nil {
		return
	}
	p.a.pending += n
	if p.fresh {
		p.a.spent += n
	}
}

// learn raises the amount to what Redis holds plus what Redis has yet to
// take over. It never lowers it: a later answer may have arrived first.
func (p period) learn(redisSpent int64) {
	if p.a == nil {
		return
	}
	p.a.spent = max(p.a.spent, redisSpent+p.a.pending)
}
