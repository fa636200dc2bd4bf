package verify

import (
	"context"
	"crypto/sha256"
	"errors"
	"strconv"
	"time"
)

// maxAttempts bounds the reads of one load when connections fail fast.
const maxAttempts = 3

var (
	errDatabaseDown = errors.New("verify: database unreachable")
	errNotListening = errors.New("verify: not hearing key changes")
)

// lookup finds the key with the verifier's cache in front of the store:
//   - a fresh entry answers;
//   - an entry past the TTL but within StaleIfError answers at once and is
//     refreshed in the background, so no request waits on the database for
//     a key it has;
//   - a hash that no stored key has (the key set says so) is unknown
//     without a read;
//   - anything else is read from the store, one read for concurrent misses
//     of one key, bounded by lookupTimeout, and not tried at all while the
//     database is known to be down (503 at once).
func (v *Verifier) lookup(_ context.Context, key string, now time.Time) (*Key, error) {
	h := hashKey(sha256.Sum256([]byte(key)))
	e, found := v.cache.get(h)
	if found {
		age := now.Sub(e.loadedAt)
		if age < v.ttl {
			v.metrics.cacheHits.Inc()
			return e.result()
		}
		if age < v.ttl+v.staleIfError {
			v.metrics.staleAnswers.Inc()
			v.refreshLater(h, now)
			return e.result()
		}
	}
	if !v.keys.mayContain(h) {
		v.metrics.keySetRefusals.Inc()
		return nil, ErrUnknownKey
	}
	v.metrics.cacheMisses.Inc()
	if !v.health.allow(now) {
		return nil, errDatabaseDown
	}
	return v.load(h, lookupTimeout)
}

func (e entry) result() (*Key, error) {
	if e.key == nil {
		return nil, ErrUnknownKey
	}
	return e.key, nil
}

// load reads h from the store and caches what it finds. Concurrent loads of
// one key share one read, unless the cache was invalidated in between: a
// load begun before a revoke must not answer for a request that came after.
func (v *Verifier) load(h hashKey, timeout time.Duration) (*Key, error) {
	gen := v.cache.generation()
	flight := string(h[:]) + strconv.FormatUint(gen, 36)
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
			v.noteDatabase(err)
			return nil, err
		}
		v.noteDatabase(nil)
		v.cache.put(h, k, v.now(), gen)
		return k, err
	})
	if err != nil {
		return nil, err
	}
	return res.(*Key), nil
}

// refreshLater reloads h in the background, once at a time per key, and not
// while the database is known to be down (but for the periodic probe).
func (v *Verifier) refreshLater(h hashKey, now time.Time) {
	if _, running := v.refreshing.Load(h); running || !v.health.allow(now) {
		return
	}
	if _, running := v.refreshing.LoadOrStore(h, struct{}{}); running {
		return
	}
	v.background.Add(1)
	go func() {
		defer v.background.Done()
		defer v.refreshing.Delete(h)
		if _, err := v.load(h, refreshTimeout); err != nil && !errors.Is(err, ErrUnknownKey) {
			v.logger.Debug("verify: background refresh failed; the cached entry keeps answering", "err", err)
		}
	}()
}
