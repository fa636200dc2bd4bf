package verify

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"
)

func testHash(i int) hashKey { return hashKey(sha256.Sum256(fmt.Appendf(nil, "key %d", i))) }

// TestKnownCacheBound: however many keys come, the cache holds at most its
// size (rounded up to whole shards), and what it holds is what was put.
func TestKnownCacheBound(t *testing.T) {
	c := newKnownCache(1000)
	if len(c.shards) < 2 {
		t.Fatalf("%d shards for 1,000 keys", len(c.shards))
	}
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10_000 {
		c.add(testHash(i), entry{key: &Key{ID: fmt.Sprint(i)}, loadedAt: at})
	}
	n := 0
	for i := range c.shards {
		for h, ke := range *c.shards[i].m.Load() {
			n++
			if e := ke.e.Load(); e.key == nil || testHash(atoi(t, e.key.ID)) != h {
				t.Fatalf("entry %v holds another key's value", h)
			}
		}
	}
	if n > len(c.shards)*c.perShard || n < 900 {
		t.Errorf("%d entries in a cache of 1,000", n)
	}
	// In place: a reload swaps the value without growing the map.
	h := testHash(9_999)
	c.add(h, entry{key: &Key{ID: "reloaded"}, loadedAt: at})
	if e, ok := c.get(h); !ok || e.key.ID != "reloaded" {
		t.Errorf("reloaded entry: %+v %v", e, ok)
	}
	c.remove(h)
	if _, ok := c.get(h); ok {
		t.Error("removed entry still there")
	}
	c.purge()
	if _, ok := c.get(testHash(9_998)); ok {
		t.Error("entry survived a purge")
	}
}

func atoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestKnownCacheConcurrent runs readers and writers at once (with -race in
// mind): readers see either nothing or a whole entry.
func TestKnownCacheConcurrent(t *testing.T) {
	c := newKnownCache(256)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				h := testHash(i % 300)
				if i%7 == w {
					c.remove(h)
				} else {
					c.add(h, entry{key: &Key{ID: "k"}})
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 5000 {
				if e, ok := c.get(testHash(i % 300)); ok && (e.key == nil || e.key.ID != "k") {
					t.Errorf("a torn entry: %+v", e)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestKnownCacheGetDoesNotAllocate: the cached key's path allocates
// nothing here.
func TestKnownCacheGetDoesNotAllocate(t *testing.T) {
	c := newKnownCache(100)
	h := testHash(1)
	c.add(h, entry{key: &Key{ID: "k"}})
	if n := testing.AllocsPerRun(100, func() { c.get(h) }); n != 0 {
		t.Errorf("get allocates %v times", n)
	}
}
