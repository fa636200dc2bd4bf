package verify

import (
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
)

// keySet holds the first 8 bytes of every stored key's hash, so a
// well-formed key that matches none of them is refused without a database
// read. Two keys share a prefix with odds of about n/2^64, so a crafted key
// reaches the database only when it is a real key (or, almost never, a
// prefix twin).
//
// The set is current only while change notices are heard: it is rebuilt
// from the database when the watcher (re)connects, and every notice adds
// its key. While not current (no watcher, or one that lost its connection)
// it answers "maybe" for everything, and misses go to the database as
// before.
type keySet struct {
	current atomic.Bool // built, and notices are heard
	built   atomic.Bool // rebuilt from the database since the last purge
	// bulk counts changes to many keys at once (imports): a rebuild that
	// overlapped one may have missed its keys, and does not count as built.
	bulk atomic.Uint64
	// rebuildNow asks the watcher's rebuild loop for a rebuild.
	rebuildNow chan struct{}

	mu     sync.RWMutex
	sorted []uint64          // from the last rebuild, ascending
	added  map[uint64]uint64 // prefix → seq, added since (or during) it
	seq    uint64            // counts adds, to keep those made during a rebuild
}

func newKeySet() *keySet {
	return &keySet{added: map[uint64]uint64{}, rebuildNow: make(chan struct{}, 1)}
}

func prefixOf(h []byte) uint64 { return binary.BigEndian.Uint64(h[:8]) }

// mayContain reports whether h may be a stored key's hash: false only when
// the set is current and holds no key with h's prefix.
func (s *keySet) mayContain(h hashKey) bool {
	if !s.current.Load() {
		return true
	}
	p := prefixOf(h[:])
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.added[p]; ok {
		return true
	}
	_, found := slices.BinarySearch(s.sorted, p)
	return found
}

// add puts a key's hash in the set (a key created or changed).
func (s *keySet) add(h []byte) {
	if len(h) < 8 {
		return
	}
	s.mu.Lock()
	s.seq++
	s.added[prefixOf(h)] = s.seq
	s.mu.Unlock()
}

// beginRebuild returns the mark to pass to rebuild.
func (s *keySet) beginRebuild() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// rebuild replaces the set with prefixes, read from the database after
// mark was taken; adds made since mark are kept, since the read may have
// missed them. prefixes is sorted in place and kept.
func (s *keySet) rebuild(prefixes []uint64, mark uint64) {
	slices.Sort(prefixes)
	prefixes = slices.Compact(prefixes)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sorted = prefixes
	for p, seq := range s.added {
		if seq <= mark {
			delete(s.added, p)
		}
	}
}
