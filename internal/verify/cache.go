package verify

import (
	"crypto/sha256"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// hashKey is the cache index: the SHA-256 of a key's plaintext.
type hashKey [sha256.Size]byte

type entry struct {
	key      *Key // nil in the negative cache
	loadedAt time.Time
}

// genShards spreads the drop counters, so invalidating one key holds back
// the loads of 1 key in 256, not of every key.
const genShards = 256

// generation is where the drop counters stood when a load began: the
// purges of the whole cache, and the drops of the load's shard.
type generation struct{ all, shard uint64 }

// cache holds known keys and, apart, well-formed keys known not to exist, so
// a flood of crafted keys can only evict other crafted keys. Entries carry
// when they were loaded; the verifier decides what their age allows.
type cache struct {
	// purges and drops count invalidations: a load that began before one
	// must not write back what it read, or a revoke could be undone.
	purges  atomic.Uint64
	drops   [genShards]atomic.Uint64
	known   *knownCache
	unknown *lru.Cache[hashKey, entry]
}

func newCache(knownSize, unknownSize int) *cache {
	unknown, _ := lru.New[hashKey, entry](unknownSize)
	return &cache{known: newKnownCache(knownSize), unknown: unknown}
}

// get returns the cached entry for h, and whether one was found at all. A
// known key is found without a lock (knownCache).
func (c *cache) get(h hashKey) (e entry, found bool) {
	if e, ok := c.known.get(h); ok {
		return e, true
	}
	if e, ok := c.unknown.Get(h); ok {
		return e, true
	}
	return entry{}, false
}

// generation returns the counters a load of h passes to put.
func (c *cache) generation(h hashKey) generation {
	return generation{all: c.purges.Load(), shard: c.drops[h[0]].Load()}
}

func (c *cache) current(h hashKey, g generation) bool { return c.generation(h) == g }

// put stores what a load of h begun at generation g found, unless h was
// invalidated meanwhile. An invalidation that lands between the check and
// the write is caught by the check after it, which takes the entry back.
func (c *cache) put(h hashKey, k *Key, now time.Time, g generation) {
	if !c.current(h, g) {
		return
	}
	if k == nil {
		c.known.remove(h)
		c.unknown.Add(h, entry{loadedAt: now})
	} else {
		c.unknown.Remove(h)
		c.known.add(h, entry{key: k, loadedAt: now})
	}
	if !c.current(h, g) {
		c.known.remove(h)
		c.unknown.Remove(h)
	}
}

// drop forgets h, so the next verification reads the database.
func (c *cache) drop(h hashKey) {
	c.drops[h[0]].Add(1)
	c.known.remove(h)
	c.unknown.Remove(h)
}

// purgeUnknown forgets the keys known not to exist (after keys were
// imported); loads begun before it write nothing back.
func (c *cache) purgeUnknown() {
	c.purges.Add(1)
	c.unknown.Purge()
}

// purge forgets everything (after missed change notifications).
func (c *cache) purge() {
	c.purges.Add(1)
	c.known.purge()
	c.unknown.Purge()
}
