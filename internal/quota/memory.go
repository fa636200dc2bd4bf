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
// c.Force), as one step: no other Spend sees one subject spent and not
// the other.
func (m *Memory) Spend(_ context.Context, c Charge, now time.Time) Decision {
	return m.spend(c, now, false)
}

func (m *Memory) shard(id string) int {
	return int(maphash.String(m.seed, id) % shardCount)
}

// spend is Spend; pending notes the amount as spent while Redis was away.
func (m *Memory) spend(c Charge, now time.Time, pending bool) Decision {
	var (
		d          = Decision{Allowed: true}
		ks, os     *memShard
		ka, oa     *amount
		kst, ost   time.Time
		kend, oend time.Time
	)
	// Shards are locked in index order, so two spends never wait for each
	// other in turn.
	ki, oi := -1, -1
	if c.Key != nil {
		ki = m.shard(c.Key.ID)
		ks = &m.shards[ki]
	}
	if c.Org != nil {
		oi = m.shard(c.Org.ID)
		os = &m.shards[oi]
	}
	lo, hi := min(ki, oi), max(ki, oi)
	if lo >= 0 {
		m.shards[lo].lock(now)
		defer m.shards[lo].mu.Unlock()
	}
	if hi != lo {
		m.shards[hi].lock(now)
		defer m.shards[hi].mu.Unlock()
	}
	var keyShort, orgShort bool
	if c.Key != nil {
		kst, kend = c.Key.Spec.Period(now)
		ka = ks.get(c.Key, kst, kend)
		keyShort = c.Key.Spec.Remaining(kst, ka.spent) < need(c.Cost)
	}
	if c.Org != nil {
		ost, oend = c.Org.Spec.Period(now)
		oa = os.get(c.Org, ost, oend)
		orgShort = c.Org.Spec.Remaining(ost, oa.spent) < need(c.Cost)
	}
	switch {
	case keyShort && !c.ReportKey:
		d.Allowed, d.RefusedBy = false, c.Key.ID
	case orgShort && !c.ReportOrg:
		d.Allowed, d.RefusedBy = false, c.Org.ID
	case keyShort:
		d.Would, d.RefusedBy = true, c.Key.ID
	case orgShort:
		d.Would, d.RefusedBy = true, c.Org.ID
	}
	if d.Allowed {
		d.Spent = c.Cost
		for _, a := range []*amount{ka, oa} {
			if a != nil {
				a.spent += c.Cost
				if pending {
					a.pending += c.Cost
				}
			}
		}
	}
	if ka != nil {
		d.Key = balance(c.Key, kst, kend, ka.spent)
	}
	if oa != nil {
		d.Org = balance(c.Org, ost, oend, oa.spent)
	}
	return d
}

// lock locks the shard, sweeping it now and then.
func (sh *memShard) lock(now time.Time) {
	sh.mu.Lock()
	sh.calls++
	if sh.calls%sweepEvery == 0 {
		t := now.Unix()
		for k, a := range sh.spent {
			if a.end != 0 && a.end <= t && a.pending == 0 {
				delete(sh.spent, k)
			}
		}
	}
}

// get returns s's amount for the period [start, end), starting it from
// s's seed; the shard is locked.
func (sh *memShard) get(s *Subject, start, end time.Time) *amount {
	k := slot{id: s.ID, start: start.Unix()}
	a := sh.spent[k]
	if a == nil {
		a = &amount{spent: s.seed(start)}
		if !end.IsZero() {
			a.end = end.Unix()
		}
		sh.spent[k] = a
	}
	return a
}
