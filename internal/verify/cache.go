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

// cache holds known keys and, apart, well-formed keys known not to exist, so
// a flood of crafted keys can only evict other crafted keys. Entries carry
// when they were loaded; the verifier decides what their age allows.
type cache struct {
	// gen counts drops and purges: a load that began before one must not
	// write back what it read, or a revoke could be undone for a TTL.
	gen     atomic.Uint64
	known   *lru.Cache[hashKey, entry]
	unknown *lru.Cache[hashKey, entry]
}

func newCache(knownSize, unknownSize int) *cache {
	known, _ := lru.New[hashKey, entry](knownSize)
	unknown, _ := lru.New[hashKey, entry](unknownSize)
	return &cache{known: known, unknown: unknown}
}

// get returns the cached entry for h, and whether one was found at all.
func (c *cache) get(h hashKey) (e entry, found bool) {
	if e, ok := c.known.Get(h); ok {
		return e, true
	}
	if e, ok := c.unknown.Get(h); ok {
		return e, true
	}
	return entry{}, false
}

// cached reports whether h has an entry, without touching its recency.
func (c *cache) cached(h hashKey) bool { return c.known.Contains(h) || c.unknown.Contains(h) }

// generation returns the drop counter, to pass to put after a load.
func (c *cache) generation() uint64 { return c.gen.Load() }

// put stores what a load begun at generation gen found, unless anything was
// dropped meanwhile.
func (c *cache) put(h hashKey, k *Key, now time.Time, gen uint64) {
	if c.gen.Load() != gen {
		return
	}
	if k == nil {
		c.known.Remove(h)
		c.unknown.Add(h, entry{loadedAt: now})
		return
	}
	c.unknown.Remove(h)
	c.known.Add(h, entry{key: k, loadedAt: now})
}

// drop forgets h, so the next verification reads the database.
func (c *cache) drop(h hashKey) {
	c.gen.Add(1)
	c.known.Remove(h)
	c.unknown.Remove(h)
}

// purge forgets everything (after missed change notifications).
func (c *cache) purge() {
	c.gen.Add(1)
	c.known.Purge()
	c.unknown.Purge()
}
