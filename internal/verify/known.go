package verify

import (
	"sync"
	"sync/atomic"
)

// knownCache holds the keys found, read without a lock or a shared write:
// each shard's map is replaced whole (copy on write) when a key comes or
// goes, and read through an atomic pointer, so a cached key's path takes
// no lock and, after its first read, writes nothing. Reloads of a key in
// the map swap its entry in place, without a copy.
//
// It is bounded per shard: a new key in a full shard pushes out one that
// was not read since the shard last changed (a second-chance clock), or,
// if every one was, any one.
type knownCache struct {
	shards   []knownShard
	mask     uint32
	perShard int
}

type knownShard struct {
	mu sync.Mutex // writers of m
	m  atomic.Pointer[map[hashKey]*knownEntry]
	_  [48]byte
}

type knownEntry struct {
	e    atomic.Pointer[entry]
	used atomic.Bool // read since the shard last changed
}

// minPerShard keeps small caches in one or few shards, so their bound is
// exact.
const minPerShard = 64

func newKnownCache(size int) *knownCache {
	n := 1
	for n*minPerShard*2 <= size && n < 256 {
		n *= 2
	}
	c := &knownCache{shards: make([]knownShard, n), mask: uint32(n - 1), perShard: (size + n - 1) / n}
	for i := range c.shards {
		empty := map[hashKey]*knownEntry{}
		c.shards[i].m.Store(&empty)
	}
	return c
}

func (c *knownCache) shard(h hashKey) *knownShard {
	return &c.shards[(uint32(h[2])<<8|uint32(h[3]))&c.mask]
}

// get returns h's entry.
func (c *knownCache) get(h hashKey) (entry, bool) {
	ke, ok := (*c.shard(h).m.Load())[h]
	if !ok {
		return entry{}, false
	}
	if !ke.used.Load() {
		ke.used.Store(true)
	}
	return *ke.e.Load(), true
}

// add stores e for h, in place if h is there.
func (c *knownCache) add(h hashKey, e entry) {
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.m.Load()
	if ke, ok := old[h]; ok {
		ke.e.Store(&e)
		return
	}
	next := make(map[hashKey]*knownEntry, min(len(old)+1, c.perShard))
	full := len(old) >= c.perShard
	for k, ke := range old {
		if full && !ke.used.Load() {
			full = false // this one goes
			continue
		}
		ke.used.Store(false)
		next[k] = ke
	}
	if full {
		for k := range next {
			delete(next, k)
			break
		}
	}
	ke := &knownEntry{}
	ke.e.Store(&e)
	next[h] = ke
	s.m.Store(&next)
}

// remove forgets h.
func (c *knownCache) remove(h hashKey) {
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.m.Load()
	if _, ok := old[h]; !ok {
		return
	}
	next := make(map[hashKey]*knownEntry, len(old))
	for k, ke := range old {
		if k != h {
			next[k] = ke
		}
	}
	s.m.Store(&next)
}

// purge forgets everything.
func (c *knownCache) purge() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		empty := map[hashKey]*knownEntry{}
		s.m.Store(&empty)
		s.mu.Unlock()
	}
}
