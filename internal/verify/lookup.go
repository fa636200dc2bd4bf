package verify

import (
	"context"
	"crypto/sha256"
	"errors"
	"strconv"
	"time"
	"unsafe"
)

const (
	// maxAttempts bounds the reads of one load when connections fail fast.
	maxAttempts = 3
	// maxRefreshes bounds the background refreshes running at once: when
	// many entries go stale together, the rest keep answering from the
	// cache and are refreshed on a later request.
	maxRefreshes = 16
	// unknownReadsPerSecond is how many reads a second may check keys the
	// key-hash set does not know: a key created a moment ago elsewhere,
	// whose announcement is still on its way, is found, while a flood of
	// crafted keys costs at most this many reads a second.
	unknownReadsPerSecond = 5
)

var (
	errDatabaseDown = errors.New("verify: database unreachable")
	errNotListening = errors.New("verify: not hearing key changes")
)

// lookup finds the key with the verifier's cache in front of the store:
//   - a fresh entry answers (entries go stale a little before the TTL, each
//     at its own point, so a cache filled at once is not refreshed at once);
//   - an entry past the TTL but within StaleIfError answers at once and is
//     refreshed in the background, so no request waits on the database for
//     a key it has;
//   - a hash that no stored key has (the key set says so) is unknown
//     without a read, but for a few reads a second;
//   - anything else is read from the store, one read for concurrent misses
//     of one key, bounded by lookupTimeout, and not tried at all while the
//     database is known to be down (503 at once).
func (v *Verifier) lookup(key string, now time.Time) (*Key, error) {
	// The key's bytes viewed in place: hashing only reads them.
	h := hashKey(sha256.Sum256(unsafe.Slice(unsafe.StringData(key), len(key))))
	e, found := v.cache.get(h)
	if found && e.key == nil && !v.keys.mayContain(h) {
		// Known not to exist, and the set agrees: nothing to refresh.
		v.metrics.cacheHits.Inc()
		return nil, ErrUnknownKey
	}
	if found {
		age := now.Sub(e.loadedAt)
		if age < v.ttl-jitter(h, v.ttl) {
			v.metrics.cacheHits.Inc()
			return e.result()
		}
		if age < v.ttl+v.staleIfError {
			v.metrics.staleAnswers.Inc()
			v.refreshLater(h, now)
			return e.result()
		}
	}
	if !v.keys.mayContain(h) && !v.unknownReads.AllowN(now, 1) {
		v.metrics.keySetRefusals.Inc()
		return nil, ErrUnknownKey
	}
	v.metrics.cacheMisses.Inc()
	if !v.health.allow(now) {
		return nil, errDatabaseDown
	}
	return v.load(h, lookupTimeout)
}

// jitter is how much earlier than the TTL the entry of h goes stale: up to
// a tenth of it, the same for a key every time.
func jitter(h hashKey, ttl time.Duration) time.Duration {
	return ttl / 10 * time.Duration(h[1]) / 256
}

func (e entry) result() (*Key, error) {
	if e.key == nil {
		return nil, ErrUnknownKey
	}
	return e.key, nil
}

// load reads h from the store and caches what it finds. Concurrent loads of
// one key share one read, unless the key was invalidated in between: a load
// begun before a revoke must not answer for a request that came after.
func (v *Verifier) load(h hashKey, timeout time.Duration) (*Key, error) {
	g := v.cache.generation(h)
	flight := string(h[:]) + strconv.FormatUint(g.all, 36) + "." + strconv.FormatUint(g.shard, 36)
	res, err, _ := v.flight.Do(flight, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		var k *Key
		var err error
		// A pooled connection that died with its server (a restart, a cut)
		// fails at once; another one may work, within the same deadline.
		for attempt := 1; ; attempt++ {
			v.metrics.dbReads.Inc()
			k, err = v.store.KeyByHash(ctx, h[:])
			if err == nil || errors.Is(err, ErrUnknownKey) || ctx.Err() != nil || attempt == maxAttempts {
				break
			}
		}
		if err != nil && !errors.Is(err, ErrUnknownKey) {
			// One failed read is no outage: the monitor's ping decides.
			v.probeSoon()
			return nil, err
		}
		v.noteDatabase(nil)
		v.cache.put(h, k, v.now(), g)
		return k, err
	})
	if err != nil {
		return nil, err
	}
	return res.(*Key), nil
}

// refreshLater reloads h in the background, once at a time per key, at
// most maxRefreshes at once, and not while the database is known to be
// down (but for the periodic probe).
func (v *Verifier) refreshLater(h hashKey, now time.Time) {
	if _, running := v.refreshing.LoadOrStore(h, struct{}{}); running {
		return
	}
	select {
	case v.refreshSlots <- struct{}{}:
	default:
		v.refreshing.Delete(h)
		return
	}
	if !v.health.allow(now) {
		<-v.refreshSlots
		v.refreshing.Delete(h)
		return
	}
	v.background.Add(1)
	go func() {
		defer v.background.Done()
		defer v.refreshing.Delete(h)
		defer func() { <-v.refreshSlots }()
		if _, err := v.load(h, refreshTimeout); err != nil && !errors.Is(err, ErrUnknownKey) {
			v.logger.Debug("verify: background refresh failed; the cached entry keeps answering", "err", err)
		}
	}()
}
