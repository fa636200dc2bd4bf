package ratelimit

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"time"
)

// Memory is a Store in process memory, sharded by key to keep lock
// contention low. It forgets keys with nothing left in their window and no
// block, and may be bounded in keys.
type Memory struct {
	seed     maphash.Seed
	perShard int // 0: no bound
	shards   [shardCount]shard
}

const (
	shardCount = 64
	// sweepEvery is how many calls on a shard go by between sweeps of its
	// forgotten keys.
	sweepEvery = 4096
)

type shard struct {
	mu    sync.Mutex
	logs  map[string]*eventLog
	calls int
}

// eventLog is the events of one key: times in Unix nanoseconds, ascending,
// the live ones from head on (dropping old ones only moves head, so a full
// log is compacted instead of grown), and the end of a block.
type eventLog struct {
	buf          []int64
	head         int
	blockedUntil int64
	// expires is when nothing in the log matters any more: the latest
	// event plus its window, or the end of the block.
	expires int64
}

// NewMemory returns an empty in-process Store holding at most maxKeys keys
// (0: no bound). A full store forgets expired keys first, then arbitrary
// live ones rather than grow.
func NewMemory(maxKeys int) *Memory {
	m := &Memory{seed: maphash.MakeSeed()}
	if maxKeys > 0 {
		m.perShard = (maxKeys + shardCount - 1) / shardCount
	}
	for i := range m.shards {
		m.shards[i].logs = map[string]*eventLog{}
	}
	return m
}

// lock locks key's shard and returns it, sweeping it now and then.
func (m *Memory) lock(key string, now int64) *shard {
	sh := &m.shards[maphash.String(m.seed, key)%shardCount]
	sh.mu.Lock()
	sh.calls++
	if sh.calls%sweepEvery == 0 {
		sh.sweep(now)
	}
	return sh
}

// log returns key's log, creating it if need be; the shard is locked.
func (m *Memory) log(sh *shard, key string, now int64) *eventLog {
	g := sh.logs[key]
	if g == nil {
		if m.perShard > 0 && len(sh.logs) >= m.perShard {
			sh.sweep(now)
			for k := range sh.logs {
				if len(sh.logs) < m.perShard {
					break
				}
				delete(sh.logs, k)
			}
		}
		g = &eventLog{}
		sh.logs[key] = g
	}
	return g
}

// Take records one event under key at now if l allows it.
func (m *Memory) Take(_ context.Context, key string, l Limit, now time.Time) Decision {
	ns := now.UnixNano()
	sh := m.lock(key, ns)
	defer sh.mu.Unlock()
	return m.log(sh, key, ns).decide(l, ns, true)
}

// Peek answers as Take would, recording nothing.
func (m *Memory) Peek(_ context.Context, key string, l Limit, now time.Time) Decision {
	ns := now.UnixNano()
	sh := m.lock(key, ns)
	defer sh.mu.Unlock()
	g := sh.logs[key]
	if g == nil {
		return Decision{Allowed: true, Remaining: l.Max}
	}
	d := g.decide(l, ns, false)
	if g.empty(ns) {
		delete(sh.logs, key)
	}
	return d
}

// Add records an event under key at at, whatever the count.
func (m *Memory) Add(_ context.Context, key string, window time.Duration, at time.Time) {
	ns := at.UnixNano()
	sh := m.lock(key, ns)
	defer sh.mu.Unlock()
	g := m.log(sh, key, ns)
	g.prune(ns - int64(window))
	g.insert(ns, int64(window))
}

// Remove takes back one event recorded under key at at.
func (m *Memory) Remove(_ context.Context, key string, at time.Time) {
	m.remove(key, at)
}

// remove takes back one event recorded under key at at, and says whether
// there was one.
func (m *Memory) remove(key string, at time.Time) bool {
	ns := at.UnixNano()
	sh := m.lock(key, ns)
	defer sh.mu.Unlock()
	g := sh.logs[key]
	if g == nil {
		return false
	}
	i, found := slices.BinarySearch(g.buf[g.head:], ns)
	if found {
		g.buf = slices.Delete(g.buf, g.head+i, g.head+i+1)
	}
	return found
}

// Clear forgets key's events and block.
func (m *Memory) Clear(_ context.Context, key string) {
	sh := &m.shards[maphash.String(m.seed, key)%shardCount]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	delete(sh.logs, key)
}

// drain takes key's live events and block out of the store, for Redis to
// take over; their times are in Unix nanoseconds.
func (m *Memory) drain(key string, now time.Time, window time.Duration) (times []int64, blockedUntil int64) {
	ns := now.UnixNano()
	sh := m.lock(key, ns)
	defer sh.mu.Unlock()
	g := sh.logs[key]
	if g == nil {
		return nil, 0
	}
	delete(sh.logs, key)
	g.prune(ns - int64(window))
	if g.blockedUntil > ns {
		blockedUntil = g.blockedUntil
	}
	return g.buf[g.head:], blockedUntil
}

// restore puts back what drain took at now, beside anything recorded
// meanwhile.
func (m *Memory) restore(key string, times []int64, blockedUntil int64, now time.Time, window time.Duration) {
	if len(times) == 0 && blockedUntil == 0 {
		return
	}
	ns := now.UnixNano()
	sh := m.lock(key, ns)
	defer sh.mu.Unlock()
	g := m.log(sh, key, ns)
	for _, t := range times {
		g.insert(t, int64(window))
	}
	if blockedUntil > g.blockedUntil {
		g.blockedUntil = blockedUntil
		g.expires = max(g.expires, blockedUntil)
	}
}

// decide answers Take (take) or Peek for the log at now.
func (g *eventLog) decide(l Limit, now int64, take bool) Decision {
	if now < g.blockedUntil {
		return Decision{Reset: time.Duration(g.blockedUntil - now)}
	}
	window := int64(l.Window)
	g.prune(now - window)
	n := len(g.buf) - g.head
	if n < l.Max {
		if take {
			g.insert(now, window)
			n++
		}
		d := Decision{Allowed: true, Remaining: l.Max - n}
		if n > 0 {
			d.Reset = time.Duration(g.buf[g.head] + window - now)
		}
		return d
	}
	if l.Block > 0 {
		if take {
			g.buf, g.head = g.buf[:0], 0
			g.blockedUntil = now + int64(l.Block)
			g.expires = max(g.expires, g.blockedUntil)
		}
		return Decision{Reset: l.Block}
	}
	// Enough must leave for fewer than Max to remain.
	return Decision{Reset: time.Duration(g.buf[g.head+n-l.Max] + window - now)}
}

// prune drops the events at or before cutoff.
func (g *eventLog) prune(cutoff int64) {
	for g.head < len(g.buf) && g.buf[g.head] <= cutoff {
		g.head++
	}
	if g.head == len(g.buf) {
		g.buf, g.head = g.buf[:0], 0
	}
}

// insert records an event at t, kept for window, in time order.
func (g *eventLog) insert(t, window int64) {
	if len(g.buf) == cap(g.buf) && g.head > 0 {
		n := copy(g.buf, g.buf[g.head:])
		g.buf, g.head = g.buf[:n], 0
	}
	i := len(g.buf)
	for i > g.head && g.buf[i-1] > t {
		i--
	}
	if i == len(g.buf) {
		g.buf = append(g.buf, t)
	} else {
		g.buf = slices.Insert(g.buf, i, t)
	}
	g.expires = max(g.expires, t+window)
}

// empty reports whether the log holds nothing that counts at now.
func (g *eventLog) empty(now int64) bool {
	return g.head == len(g.buf) && now >= g.blockedUntil
}

// sweep drops the logs with nothing left that counts.
func (sh *shard) sweep(now int64) {
	for key, g := range sh.logs {
		if now >= g.expires {
			delete(sh.logs, key)
		}
	}
}
