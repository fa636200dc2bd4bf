package verify

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/faultproxy"
	"keyplane/internal/store"
)

// The data plane under faults: a replica whose database connections (its
// pool and its change listener) pass through a TCP proxy that refuses,
// blackholes or freezes them, while another process changes keys directly.
// Each test logs its figures with the prefix "figure:" (make faults).

// readCounter counts every read of a Store.
type readCounter struct {
	Store
	n     atomic.Int64
	mu    sync.Mutex
	byKey map[string]int
}

func (s *readCounter) KeyByHash(ctx context.Context, h []byte) (*Key, error) {
	s.n.Add(1)
	s.mu.Lock()
	if s.byKey == nil {
		s.byKey = map[string]int{}
	}
	s.byKey[string(h)]++
	s.mu.Unlock()
	return s.Store.KeyByHash(ctx, h)
}

// of returns how often key was read.
func (s *readCounter) of(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byKey[string(apikey.Hash(key))]
}

// replica is one Keyplane data plane with its own database handle,
// watching for changes and monitoring its database.
type replica struct {
	v     *Verifier
	reads *readCounter
}

func startReplica(t *testing.T, db *store.DB, dsn string, o Options) *replica {
	t.Helper()
	r := &replica{reads: &readCounter{Store: DBStore{DB: db}}}
	o.Store, o.Prefix, o.Logger = r.reads, "kp", quietLogger
	r.v = New(o)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.v.Watch(ctx, db, dsn) }()
	go func() { defer wg.Done(); r.v.Monitor(ctx, db) }()
	t.Cleanup(func() {
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); r.v.background.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Watch or Monitor did not return within 5 s after its context ended")
		}
	})
	return r
}

// timed verifies key and returns the result and how long it took.
func (r *replica) timed(key string) (Result, time.Duration) {
	start := time.Now()
	res := r.v.Verify(context.Background(), Request{Key: key})
	return res, time.Since(start)
}

// waitCurrent waits until the replica hears changes (its key set current).
func (r *replica) waitCurrent(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !r.v.listening.Load() || !r.v.keys.current.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the replica does not hear key changes, or has not built its key set, after 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// proxiedReplica starts a replica on a database of its own whose every
// connection passes through a fault proxy; cli reaches the same database
// directly, as another server or the CLI would. It returns once the replica
// hears key changes.
func proxiedReplica(t *testing.T, o Options) (cli, db *store.DB, p *faultproxy.Proxy, r *replica) {
	t.Helper()
	dsn := throwawayDatabase(t)
	cli = open(t, store.Options{DatabaseURL: dsn})
	p, via := faultproxy.InFront(t, dsn)
	db = open(t, store.Options{DatabaseURL: via})
	r = startReplica(t, db, via, o)
	r.waitCurrent(t)
	return cli, db, p, r
}

// warmPool opens n pooled connections at once, so a fault finds them open.
func warmPool(t *testing.T, db *store.DB, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); db.Exec("SELECT pg_sleep(0.05)") }()
	}
	wg.Wait()
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// TestFaultFrozenConnections: a partition freezes every connection the
// replica has open, its listener's included (new connections work). A key
// revoked elsewhere must reach it once the listener's quiet-time ping fails
// (within 1 s of the frozen connections being dead for 15 s), and a cached
// key must never get a 503 meanwhile.
func TestFaultFrozenConnections(t *testing.T) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{
		// The default TTL (30 s) outlasts the test: the revoke can only
		// come through the listener.
		{"through the listener", 0},
		// Entries go stale during the freeze and are refreshed through a
		// pool whose connections are dead: they must keep answering.
		{"stale entries on a frozen pool", time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli, db, p, b := proxiedReplica(t, Options{CacheTTL: tc.ttl})
			keys, orgID, keyID, revoked := seedKey(t, cli)
			_, _, _, cached := seedKey2(t, cli)
			for _, k := range []string{revoked, cached} {
				waitAllowed(t, b, k)
			}
			warmPool(t, db, 5)

			p.Freeze()
			frozen := time.Now()
			if _, err := keys.Revoke(context.Background(), orgID, keyID, audit.Actor{}); err != nil {
				t.Fatal(err)
			}
			var reached, worst time.Duration
			for time.Since(frozen) < 16*time.Second {
				res, took := b.timed(cached)
				worst = max(worst, took)
				if !res.Allowed {
					t.Fatalf("cached key at %v after the freeze: %q, want allowed (from the cache)", time.Since(frozen).Round(time.Millisecond), res.Outcome())
				}
				if reached == 0 {
					if res, _ := b.timed(revoked); res.Code == CodeRevoked {
						reached = time.Since(frozen)
					}
				}
				if reached > 0 && time.Since(frozen) > 3*time.Second {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if reached == 0 {
				t.Fatalf("the revoke had not reached the replica 16 s after its connections froze")
			}
			t.Logf("figure: frozen connections, %s: revoke reached the replica %v after the freeze (target: within 16 s); slowest cached-key answer %v",
				tc.name, reached.Round(time.Millisecond), worst.Round(time.Microsecond))
		})
	}
}

// waitAllowed waits until the replica has heard of key's creation (so the
// announcement cannot drop the entry later) and answers it allowed, from
// its cache from then on.
func waitAllowed(t *testing.T, r *replica, key string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for h := hashKey(apikey.Hash(key)); !r.v.keys.current.Load() || !r.v.keys.mayContain(h); {
		if time.Now().After(deadline) {
			t.Fatal("the replica did not hear of the key's creation within 2 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		res, _ := r.timed(key)
		if res.Allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("key not allowed after 2 s: %q", res.Outcome())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFaultBlackhole: the database silently drops every packet. Cached
// keys answer at once past their TTL, uncached keys get 503 within 250 ms,
// Ready fails within a second; once the database is back, everything
// recovers within a second, a key revoked during the outage included, with
// no 503 for cached keys.
func TestFaultBlackhole(t *testing.T) {
	cli, db, p, b := proxiedReplica(t, Options{CacheTTL: 500 * time.Millisecond})
	keys, orgID, keyID, revokedLater := seedKey(t, cli)
	_, _, _, cached := seedKey2(t, cli)
	_, _, _, uncached := seedKey2(t, cli)
	for _, k := range []string{revokedLater, cached} {
		waitAllowed(t, b, k)
	}
	b.waitCurrent(t)
	if err := b.v.Ready(); err != nil {
		t.Fatalf("Ready before the outage: %v", err)
	}
	warmPool(t, db, 5)

	p.Blackhole()
	down := time.Now()
	var notReady time.Duration
	var cachedTimes []time.Duration
	for time.Since(down) < 2*time.Second {
		res, took := b.timed(cached)
		if !res.Allowed {
			t.Fatalf("cached key %v into the outage: %q, want allowed", time.Since(down).Round(time.Millisecond), res.Outcome())
		}
		cachedTimes = append(cachedTimes, took)
		if notReady == 0 && b.v.Ready() != nil {
			notReady = time.Since(down)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Bounds here are loose enough for a loaded CI machine; the figures
	// below are what to compare with the targets.
	if notReady == 0 || notReady > 3*time.Second {
		t.Errorf("Ready still nil %v into the outage (target: fails within 1 s)", notReady)
	}
	if p99 := percentile(cachedTimes, 0.99); p99 > 200*time.Millisecond {
		t.Errorf("cached key p99 during the outage %v: requests waited on the database", p99)
	}
	var uncachedTimes []time.Duration
	for range 5 {
		res, took := b.timed(uncached)
		if res.Code != CodeUnavailable {
			t.Fatalf("uncached key during the outage: %q, want unavailable", res.Outcome())
		}
		uncachedTimes = append(uncachedTimes, took)
		time.Sleep(100 * time.Millisecond)
	}
	if worst := slices.Max(uncachedTimes); worst > time.Second {
		t.Errorf("uncached key's 503 took %v (target: within 250 ms)", worst)
	}
	// Revoked elsewhere during the outage: the replica cannot know yet.
	if _, err := keys.Revoke(context.Background(), orgID, keyID, audit.Actor{}); err != nil {
		t.Fatal(err)
	}

	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	var uncachedOK, revokedSeen, ready time.Duration
	for time.Since(back) < 5*time.Second && (uncachedOK == 0 || revokedSeen == 0 || ready == 0) {
		if res, _ := b.timed(cached); !res.Allowed {
			t.Fatalf("cached key %v after the database's return: %q, want allowed", time.Since(back).Round(time.Millisecond), res.Outcome())
		}
		if res, _ := b.timed(uncached); uncachedOK == 0 && res.Allowed {
			uncachedOK = time.Since(back)
		}
		if res, _ := b.timed(revokedLater); revokedSeen == 0 && res.Code == CodeRevoked {
			revokedSeen = time.Since(back)
		}
		if ready == 0 && b.v.Ready() == nil {
			ready = time.Since(back)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for name, d := range map[string]time.Duration{"uncached key allowed": uncachedOK, "revoke seen": revokedSeen, "ready": ready} {
		if d == 0 || d > 3*time.Second {
			t.Errorf("%s: %v after the database's return (target: within 1 s)", name, d)
		}
	}
	t.Logf("figure: blackhole: cached-key p50 %v p99 %v (%d requests); uncached 503 in at most %v; not ready after %v; after the return: uncached allowed in %v, revoke seen in %v, ready in %v",
		percentile(cachedTimes, 0.5).Round(time.Microsecond), percentile(cachedTimes, 0.99).Round(time.Microsecond), len(cachedTimes),
		slices.Max(uncachedTimes).Round(time.Millisecond), notReady.Round(time.Millisecond),
		uncachedOK.Round(time.Millisecond), revokedSeen.Round(time.Millisecond), ready.Round(time.Millisecond))
}

// TestFaultStaleIfErrorFailsClosed: during an outage a cached key answers
// for StaleIfError past its TTL, then gets 503, so a key revoked elsewhere
// cannot verify for as long as the outage lasts.
func TestFaultStaleIfErrorFailsClosed(t *testing.T) {
	cli, _, p, b := proxiedReplica(t, Options{CacheTTL: 500 * time.Millisecond, StaleIfError: time.Second})
	_, _, _, key := seedKey(t, cli)
	waitAllowed(t, b, key)
	b.v.Invalidate(apikey.Hash(key)) // load it again now, to know when
	loaded := time.Now()
	if res, _ := b.timed(key); !res.Allowed {
		t.Fatalf("reload: %q", res.Outcome())
	}
	p.Cut()
	var closedAt time.Duration
	for time.Since(loaded) < 4*time.Second {
		age := time.Since(loaded) // the entry is at most this old
		res, _ := b.timed(key)
		switch {
		case res.Allowed && age > 2*time.Second:
			t.Fatalf("cached key still allowed %v after it was loaded (TTL 0.5 s + stale-if-error 1 s)", age)
		case !res.Allowed && res.Code != CodeUnavailable:
			t.Fatalf("cached key during the outage: %q", res.Outcome())
		case !res.Allowed && closedAt == 0:
			closedAt = age
			if age < 1300*time.Millisecond {
				t.Fatalf("cached key refused %v after it was loaded, before TTL + stale-if-error", age)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if closedAt == 0 {
		t.Fatal("the cached key never failed closed")
	}
	t.Logf("figure: stale-if-error 1 s, TTL 0.5 s: the cached key failed closed %v after it was loaded", closedAt.Round(time.Millisecond))
}

// TestFaultUnknownKeysReadNothing: a flood of distinct well-formed unknown
// keys makes no database read (at most 1 per 1,000), on both databases,
// while keys created elsewhere are found as soon as they are announced.
func TestFaultUnknownKeysReadNothing(t *testing.T) {
	run := func(t *testing.T, cli, db *store.DB, dsn string) {
		b := startReplica(t, db, dsn, Options{})
		b.waitCurrent(t)
		_, _, _, known := seedKey(t, cli)
		deadline := time.Now().Add(time.Second)
		for {
			res, _ := b.timed(known)
			if res.Allowed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a key created elsewhere is not found 1 s later: %q", res.Outcome())
			}
			time.Sleep(20 * time.Millisecond)
		}
		before := b.reads.n.Load()
		const flood = 10_000
		start := time.Now()
		for i := range flood {
			k, err := apikey.Generate(nil, "kp", apikey.Private, apikey.Live)
			if err != nil {
				t.Fatal(err)
			}
			if res, _ := b.timed(k); res.Code != CodeUnauthorized {
				t.Fatalf("unknown key %d: %q", i, res.Outcome())
			}
		}
		took := time.Since(start)
		reads := b.reads.n.Load() - before
		// A few reads a second check keys the set does not know (one
		// created a moment ago elsewhere); the flood gets no more.
		if budget := int64(unknownReadsPerSecond * (1 + took.Seconds())); reads > budget {
			t.Fatalf("%d distinct unknown keys in %v made %d database reads, want at most %d", flood, took, reads, budget)
		}
		t.Logf("figure: %s: %d distinct unknown keys in %v (%.0f/s): %d database reads, %.2f per 1,000 (target: at most 1 per 1,000 at 10,000/s)",
			t.Name(), flood, took.Round(time.Millisecond), flood/took.Seconds(), reads, 1000*float64(reads)/flood)
	}
	t.Run("postgres", func(t *testing.T) {
		dsn := throwawayDatabase(t)
		run(t, open(t, store.Options{DatabaseURL: dsn}), open(t, store.Options{DatabaseURL: dsn}), dsn)
	})
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "keyplane.db")
		run(t, open(t, store.Options{SQLitePath: path}), open(t, store.Options{SQLitePath: path}), "")
	})
}

// TestFaultListenerCatchesUpWithoutDroppingTheCache: a listener whose
// connection is killed reads the changes it missed when it reconnects; the
// keys that did not change stay cached (no read, no 503 risk).
func TestFaultListenerCatchesUpWithoutDroppingTheCache(t *testing.T) {
	cli, _, p, b := proxiedReplica(t, Options{})
	keys, orgID, keyID, changed := seedKey(t, cli)
	_, _, _, untouched := seedKey2(t, cli)
	for _, k := range []string{changed, untouched} {
		waitAllowed(t, b, k)
	}
	p.Cut() // the listener and the pool lose their connections
	if _, err := keys.Revoke(context.Background(), orgID, keyID, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	before := b.reads.of(untouched)
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		res, _ := b.timed(changed)
		if res.Code == CodeRevoked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the change made while disconnected was not read after reconnecting: %q", res.Outcome())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res, _ := b.timed(untouched); !res.Allowed {
		t.Fatalf("untouched key after the reconnect: %q", res.Outcome())
	}
	if n := b.reads.of(untouched) - before; n != 0 {
		t.Fatalf("the untouched key was read %d times after the reconnect: the cache was dropped", n)
	}
}
