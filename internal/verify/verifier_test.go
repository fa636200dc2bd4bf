package verify

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/clocktest"
)

// fakeStore is a Store in memory that counts its reads and fails on demand.
type fakeStore struct {
	mu    sync.Mutex
	keys  map[hashKey]*Key
	reads map[hashKey]int
	total int
	err   error
}

func newFakeStore() *fakeStore {
	return &fakeStore{keys: map[hashKey]*Key{}, reads: map[hashKey]int{}}
}

func (s *fakeStore) KeyByHash(_ context.Context, hash []byte) (*Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var h hashKey
	copy(h[:], hash)
	s.total++
	s.reads[h]++
	if s.err != nil {
		return nil, s.err
	}
	k, ok := s.keys[h]
	if !ok {
		return nil, ErrUnknownKey
	}
	c := *k
	return &c, nil
}

func (s *fakeStore) put(secret string, k *Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[hashKey(apikey.Hash(secret))] = k
}

func (s *fakeStore) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

// readsOf returns how often the store was asked for secret.
func (s *fakeStore) readsOf(secret string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[hashKey(apikey.Hash(secret))]
}

func (s *fakeStore) totalReads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// fixture is a Verifier over a fake store on a fake clock.
type fixture struct {
	store *fakeStore
	clock *clocktest.Clock
	v     *Verifier
	n     int
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	f := &fixture{store: newFakeStore(), clock: clocktest.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))}
	o.Store, o.Prefix, o.Now, o.Logger = f.store, "kp", f.clock.Now, quietLogger
	f.v = New(o)
	return f
}

// add stores a new private live key, changed by edit, and returns its
// plaintext.
func (f *fixture) add(t *testing.T, edit func(*Key)) string {
	t.Helper()
	f.n++
	k := &Key{
		ID: fmt.Sprintf("key-%d", f.n), OrgID: "org-1", OrgSlug: "acme", OrgName: "Acme",
		Kind: apikey.Private, Environment: apikey.Live, CreatedAt: f.clock.Now(),
	}
	if edit != nil {
		edit(k)
	}
	secret, err := apikey.Generate(nil, "kp", k.Kind, k.Environment)
	if err != nil {
		t.Fatal(err)
	}
	f.store.put(secret, k)
	return secret
}

func (f *fixture) verify(req Request) Result { return f.v.Verify(context.Background(), req) }

func wellFormedUnknown(t *testing.T) string {
	t.Helper()
	k, err := apikey.Generate(nil, "kp", apikey.Private, apikey.Live)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustPrefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func mustDomains(t *testing.T, ss ...string) []apikey.DomainPattern {
	t.Helper()
	var out []apikey.DomainPattern
	for _, s := range ss {
		p, err := apikey.ParseDomainPattern(s)
		if err != nil {
			t.Fatalf("domain %q: %v", s, err)
		}
		out = append(out, p)
	}
	return out
}

var ip = netip.MustParseAddr

// TestVerifyChecks covers each check and the order between them, one request
// per scenario on a fresh verifier.
func TestVerifyChecks(t *testing.T) {
	public := func(t *testing.T) func(*Key) {
		return func(k *Key) {
			k.Kind = apikey.Public
			k.Domains = mustDomains(t, "example.com", "*.example.org")
			k.RateLimit, k.Block = 5, 5*time.Minute
		}
	}
	past := func(d time.Duration) func(*fixture) *time.Time {
		return func(f *fixture) *time.Time { x := f.clock.Now().Add(d); return &x }
	}
	tests := []struct {
		name     string
		edit     func(t *testing.T, f *fixture) func(*Key) // nil: a plain private key
		key      func(t *testing.T, secret string) string  // nil: the key itself
		req      Request
		code     string
		keyFound bool
		rl       bool
	}{
		{name: "valid private key", keyFound: true},
		{name: "empty key", key: func(*testing.T, string) string { return "" }, code: CodeUnauthorized},
		{name: "garbage", key: func(*testing.T, string) string { return "hello" }, code: CodeUnauthorized},
		{name: "bad checksum", key: func(_ *testing.T, s string) string {
			b := []byte(s)
			if b[len(b)-1] == 'A' {
				b[len(b)-1] = 'B'
			} else {
				b[len(b)-1] = 'A'
			}
			return string(b)
		}, code: CodeUnauthorized},
		{name: "other prefix", key: func(_ *testing.T, s string) string {
			k, _ := apikey.Generate(nil, "xx", apikey.Private, apikey.Live)
			return k
		}, code: CodeUnauthorized},
		{name: "unknown well-formed key", key: func(t *testing.T, _ string) string { return wellFormedUnknown(t) }, code: CodeUnauthorized},
		{name: "revoked beats IP, origin and scope", edit: func(t *testing.T, f *fixture) func(*Key) {
			return func(k *Key) {
				k.RevokedAt = past(-time.Hour)(f)
				k.IPs = mustPrefixes(t, "10.0.0.0/8")
				k.Scopes = nil
			}
		}, req: Request{ClientIP: ip("192.0.2.1"), Scopes: []string{"sms:send"}}, code: CodeRevoked, keyFound: true},
		{name: "expired at its deadline", edit: func(_ *testing.T, f *fixture) func(*Key) {
			return func(k *Key) { k.Deadline = past(0)(f) }
		}, code: CodeExpired, keyFound: true},
		{name: "a nanosecond before the deadline", edit: func(_ *testing.T, f *fixture) func(*Key) {
			return func(k *Key) { k.Deadline = past(time.Nanosecond)(f) }
		}, keyFound: true},
		{name: "expired beats IP", edit: func(t *testing.T, f *fixture) func(*Key) {
			return func(k *Key) { k.Deadline = past(-time.Second)(f); k.IPs = mustPrefixes(t, "10.0.0.0/8") }
		}, req: Request{ClientIP: ip("192.0.2.1")}, code: CodeExpired, keyFound: true},
		{name: "disabled beats IP and scope", edit: func(t *testing.T, _ *fixture) func(*Key) {
			return func(k *Key) { k.Disabled = true; k.IPs = mustPrefixes(t, "10.0.0.0/8"); k.Scopes = nil }
		}, req: Request{ClientIP: ip("192.0.2.1"), Scopes: []string{"sms:send"}}, code: CodeDisabled, keyFound: true},
		{name: "expired beats disabled", edit: func(_ *testing.T, f *fixture) func(*Key) {
			return func(k *Key) { k.Disabled = true; k.Deadline = past(-time.Second)(f) }
		}, code: CodeExpired, keyFound: true},
		{name: "organization disabled", edit: func(_ *testing.T, _ *fixture) func(*Key) {
			return func(k *Key) { k.Disabled, k.OrgDisabled = true, true }
		}, code: CodeDisabled, keyFound: true},
		{name: "IP inside the allowlist", edit: func(t *testing.T, _ *fixture) func(*Key) {
			return func(k *Key) { k.IPs = mustPrefixes(t, "10.0.0.0/24", "2001:db8::/64") }
		}, req: Request{ClientIP: ip("10.0.0.255")}, keyFound: true},
		{name: "IPv4-mapped IPv6 client", edit: func(t *testing.T, _ *fixture) func(*Key) {
			return func(k *Key) { k.IPs = mustPrefixes(t, "10.0.0.0/24") }
		}, req: Request{ClientIP: ip("::ffff:10.0.0.7")}, keyFound: true},
		{name: "IP outside the allowlist", edit: func(t *testing.T, _ *fixture) func(*Key) {
			return func(k *Key) { k.IPs = mustPrefixes(t, "10.0.0.0/24", "2001:db8::/64") }
		}, req: Request{ClientIP: ip("10.0.1.0")}, code: CodeIPNotAllowed, keyFound: true},
		{name: "IPv6 outside the allowlist", edit: func(t *testing.T, _ *fixture) func(*Key) {
			return func(k *Key) { k.IPs = mustPrefixes(t, "2001:db8::/64") }
		}, req: Request{ClientIP: ip("2001:db8:0:1::1")}, code: CodeIPNotAllowed, keyFound: true},
		{name: "no client IP with an allowlist", edit: func(t *testing.T, _ *fixture) func(*Key) {
			return func(k *Key) { k.IPs = mustPrefixes(t, "0.0.0.0/0") }
		}, code: CodeIPNotAllowed, keyFound: true},
		{name: "public key, allowed origin", edit: func(t *testing.T, _ *fixture) func(*Key) { return public(t) },
			req: Request{Origin: "https://example.com"}, keyFound: true, rl: true},
		{name: "public key, wildcard subdomain", edit: func(t *testing.T, _ *fixture) func(*Key) { return public(t) },
			req: Request{Origin: "https://a.b.example.org"}, keyFound: true, rl: true},
		{name: "public key, no origin", edit: func(t *testing.T, _ *fixture) func(*Key) { return public(t) },
			code: CodeAnonymous, keyFound: true},
		{name: "public key, Origin null", edit: func(t *testing.T, _ *fixture) func(*Key) { return public(t) },
			req: Request{Origin: "null"}, code: CodeAnonymous, keyFound: true},
		{name: "public key, other origin", edit: func(t *testing.T, _ *fixture) func(*Key) { return public(t) },
			req: Request{Origin: "https://evil-example.com"}, code: CodeDomainNotAllowed, keyFound: true},
		{name: "public key, IP checked before origin", edit: func(t *testing.T, _ *fixture) func(*Key) {
			return func(k *Key) { public(t)(k); k.IPs = mustPrefixes(t, "10.0.0.0/8") }
		}, req: Request{ClientIP: ip("192.0.2.1")}, code: CodeIPNotAllowed, keyFound: true},
		{name: "private key ignores origin", edit: func(t *testing.T, _ *fixture) func(*Key) {
			return func(k *Key) { k.Domains = mustDomains(t, "example.com") }
		}, req: Request{Origin: "https://evil.net"}, keyFound: true},
		{name: "scope missing", edit: func(*testing.T, *fixture) func(*Key) {
			return func(k *Key) { k.Scopes = []string{"reports:read"} }
		}, req: Request{Scopes: []string{"sms:send"}}, code: CodeForbidden, keyFound: true},
		{name: "every required scope is needed", edit: func(*testing.T, *fixture) func(*Key) {
			return func(k *Key) { k.Scopes = []string{"reports:read"} }
		}, req: Request{Scopes: []string{"reports:read", "sms:send"}}, code: CodeForbidden, keyFound: true},
		{name: "scopes granted", edit: func(*testing.T, *fixture) func(*Key) {
			return func(k *Key) { k.Scopes = []string{"reports:read", "sms:send"} }
		}, req: Request{Scopes: []string{"sms:send", "reports:read"}}, keyFound: true},
		{name: "admin grants every scope", edit: func(*testing.T, *fixture) func(*Key) {
			return func(k *Key) { k.Scopes = []string{"admin"} }
		}, req: Request{Scopes: []string{"sms:send", "anything"}}, keyFound: true},
		{name: "rate-limited private key reports its limit", edit: func(*testing.T, *fixture) func(*Key) {
			return func(k *Key) { k.RateLimit = 3 }
		}, keyFound: true, rl: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			var edit func(*Key)
			if tt.edit != nil {
				edit = tt.edit(t, f)
			}
			secret := f.add(t, edit)
			req := tt.req
			req.Key = secret
			if tt.key != nil {
				req.Key = tt.key(t, secret)
			}
			res := f.verify(req)
			if res.Code != tt.code || res.Allowed != (tt.code == "") {
				t.Fatalf("got code %q allowed %v, want %q", res.Code, res.Allowed, tt.code)
			}
			if (res.Key != nil) != tt.keyFound {
				t.Errorf("Key set = %v, want %v", res.Key != nil, tt.keyFound)
			}
			if (res.RateLimit != nil) != tt.rl {
				t.Errorf("RateLimit = %+v, want set %v", res.RateLimit, tt.rl)
			}
			if !res.Allowed && res.Message == "" {
				t.Error("refusal without a message")
			}
			if want := tt.code; want == "" && res.Outcome() != OutcomeAllowed || want != "" && res.Outcome() != want {
				t.Errorf("Outcome() = %q", res.Outcome())
			}
			if tt.key != nil && tt.code == CodeUnauthorized && req.Key != "" {
				if _, err := apikey.Parse(req.Key, "kp"); err != nil && f.store.totalReads() != 0 {
					t.Errorf("a malformed key read the store %d times", f.store.totalReads())
				}
			}
		})
	}
}

// TestVerifyOrderRateLimitBeforeScope: refusals before the limiter (origin)
// do not count; a request lacking a scope still counts.
func TestVerifyOrderRateLimitAndScope(t *testing.T) {
	f := newFixture(t, Options{})
	secret := f.add(t, func(k *Key) {
		k.Kind = apikey.Public
		k.Domains = mustDomains(t, "example.com")
		k.RateLimit = 2
		k.Scopes = []string{"reports:read"}
	})
	client := ip("198.51.100.7")
	for range 5 {
		if res := f.verify(Request{Key: secret, ClientIP: client, Origin: "https://evil.net"}); res.Code != CodeDomainNotAllowed {
			t.Fatalf("bad origin: %q", res.Code)
		}
	}
	res := f.verify(Request{Key: secret, ClientIP: client, Origin: "https://example.com", Scopes: []string{"sms:send"}})
	if res.Code != CodeForbidden || res.RateLimit == nil || res.RateLimit.Remaining != 1 {
		t.Fatalf("first counted request: code %q ratelimit %+v, want forbidden with 1 remaining", res.Code, res.RateLimit)
	}
	if res := f.verify(Request{Key: secret, ClientIP: client, Origin: "https://example.com"}); !res.Allowed || res.RateLimit.Remaining != 0 {
		t.Fatalf("second counted request: %+v", res)
	}
	res = f.verify(Request{Key: secret, ClientIP: client, Origin: "https://example.com", Scopes: []string{"sms:send"}})
	if res.Code != CodeRateLimited || res.Allowed {
		t.Fatalf("third: code %q allowed %v, want rate_limited", res.Code, res.Allowed)
	}
	if got := res.RateLimit.RetryAfterSeconds(); got != 60 {
		t.Errorf("RetryAfterSeconds = %d, want 60", got)
	}
	// A public key is limited per client IP.
	if res := f.verify(Request{Key: secret, ClientIP: ip("198.51.100.8"), Origin: "https://example.com"}); !res.Allowed {
		t.Fatalf("another IP: %+v", res)
	}
}

func TestVerifyPrivateKeyLimitedAcrossIPs(t *testing.T) {
	f := newFixture(t, Options{})
	secret := f.add(t, func(k *Key) { k.RateLimit = 2 })
	for i, addr := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		res := f.verify(Request{Key: secret, ClientIP: ip(addr)})
		if want := i < 2; res.Allowed != want {
			t.Fatalf("request %d from %s: allowed %v, want %v", i, addr, res.Allowed, want)
		}
	}
}

func TestCacheKnownKeyReadsStoreOnce(t *testing.T) {
	f := newFixture(t, Options{})
	secret := f.add(t, nil)
	for i := range 3 {
		if res := f.verify(Request{Key: secret}); !res.Allowed {
			t.Fatalf("verify %d: %+v", i, res)
		}
	}
	if n := f.store.readsOf(secret); n != 1 {
		t.Fatalf("store read %d times for three verifications, want 1", n)
	}
}

func TestCacheMalformedKeyNeverReadsStore(t *testing.T) {
	f := newFixture(t, Options{})
	for _, k := range []string{"", "x", "kp_sk_live_" + "000000000000000000000000000000000000", "Bearer abc"} {
		f.verify(Request{Key: k})
	}
	if n := f.store.totalReads(); n != 0 {
		t.Fatalf("malformed keys read the store %d times", n)
	}
}

func TestCacheNegative(t *testing.T) {
	f := newFixture(t, Options{CacheSize: 2, NegativeCacheSize: 4})
	known := f.add(t, nil)
	if res := f.verify(Request{Key: known}); !res.Allowed {
		t.Fatalf("known: %+v", res)
	}
	unknown := wellFormedUnknown(t)
	for range 3 {
		if res := f.verify(Request{Key: unknown}); res.Code != CodeUnauthorized {
			t.Fatalf("unknown: %+v", res)
		}
	}
	if n := f.store.readsOf(unknown); n != 1 {
		t.Fatalf("unknown key read %d times, want 1 (negative cache)", n)
	}
	// A flood of crafted keys, far more than both caches hold.
	for range 200 {
		f.verify(Request{Key: wellFormedUnknown(t)})
	}
	if res := f.verify(Request{Key: known}); !res.Allowed {
		t.Fatalf("known after the flood: %+v", res)
	}
	if n := f.store.readsOf(known); n != 1 {
		t.Fatalf("known key read %d times: the flood of unknown keys evicted it", n)
	}
	// The negative cache is bounded: the first unknown key was evicted.
	f.verify(Request{Key: unknown})
	if n := f.store.readsOf(unknown); n != 2 {
		t.Fatalf("unknown key read %d times after the flood, want 2", n)
	}
}

// TestCacheKnownIsBoundedAndKeepsWhatIsRead: a full cache of known keys
// makes room for a new one by pushing out a key not read since it last
// changed, so a key in use stays.
func TestCacheKnownIsBoundedAndKeepsWhatIsRead(t *testing.T) {
	f := newFixture(t, Options{CacheSize: 2, NegativeCacheSize: 2})
	a, b, c := f.add(t, nil), f.add(t, nil), f.add(t, nil)
	for _, k := range []string{a, b, a, c, a, b} {
		f.verify(Request{Key: k})
	}
	if n := f.store.readsOf(a); n != 1 {
		t.Errorf("a, read before c came, was read %d times, want 1 (kept)", n)
	}
	if n := f.store.readsOf(b); n != 2 {
		t.Errorf("b, not read before c came, was read %d times, want 2 (pushed out)", n)
	}
	if n := f.store.readsOf(c); n != 1 {
		t.Errorf("c read %d times, want 1", n)
	}
}

func TestCacheUnknownKeyThatAppearsIsFoundAfterInvalidate(t *testing.T) {
	f := newFixture(t, Options{})
	secret := wellFormedUnknown(t)
	if res := f.verify(Request{Key: secret}); res.Code != CodeUnauthorized {
		t.Fatalf("before: %+v", res)
	}
	f.store.put(secret, &Key{ID: "late", OrgID: "org-1", Kind: apikey.Private, Environment: apikey.Live})
	if res := f.verify(Request{Key: secret}); res.Code != CodeUnauthorized {
		t.Fatalf("negative entry not used: %+v", res)
	}
	f.v.Invalidate(apikey.Hash(secret))
	if res := f.verify(Request{Key: secret}); !res.Allowed {
		t.Fatalf("after Invalidate: %+v", res)
	}
}

func TestCacheInvalidate(t *testing.T) {
	f := newFixture(t, Options{})
	secret := f.add(t, nil)
	f.verify(Request{Key: secret})
	revoked := f.clock.Now()
	f.store.put(secret, &Key{ID: "key-1", OrgID: "org-1", Kind: apikey.Private, Environment: apikey.Live, RevokedAt: &revoked})
	if res := f.verify(Request{Key: secret}); !res.Allowed {
		t.Fatalf("cached entry not used: %+v", res)
	}
	f.v.Invalidate(apikey.Hash(secret))
	if res := f.verify(Request{Key: secret}); res.Code != CodeRevoked {
		t.Fatalf("after Invalidate: code %q, want key_revoked", res.Code)
	}
	if n := f.store.readsOf(secret); n != 2 {
		t.Fatalf("store read %d times, want 2", n)
	}
	// A hash of the wrong length is ignored, not a panic.
	f.v.Invalidate([]byte("short"))
	f.v.InvalidateAll()
	f.verify(Request{Key: secret})
	if n := f.store.readsOf(secret); n != 3 {
		t.Fatalf("store read %d times after InvalidateAll, want 3", n)
	}
}

// settle waits for the background refreshes started so far.
func (f *fixture) settle() { f.v.background.Wait() }

func TestCacheTTL(t *testing.T) {
	f := newFixture(t, Options{CacheTTL: 10 * time.Second})
	secret := f.add(t, nil)
	f.verify(Request{Key: secret})
	// Entries go stale up to a tenth of the TTL early, each at its own point.
	f.clock.Advance(9*time.Second - time.Nanosecond)
	f.verify(Request{Key: secret})
	f.settle()
	if n := f.store.readsOf(secret); n != 1 {
		t.Fatalf("read %d times within the TTL, want 1", n)
	}
	// Past the TTL the entry answers and is reloaded behind it.
	f.clock.Advance(time.Second + time.Nanosecond)
	f.verify(Request{Key: secret})
	f.settle()
	if n := f.store.readsOf(secret); n != 2 {
		t.Fatalf("read %d times once the TTL passed, want 2", n)
	}
	f.verify(Request{Key: secret})
	f.settle()
	if n := f.store.readsOf(secret); n != 2 {
		t.Fatalf("read %d times after the refresh, want 2 (the refreshed entry is fresh)", n)
	}
	// The default TTL is at most 30 s.
	g := newFixture(t, Options{})
	s2 := g.add(t, nil)
	g.verify(Request{Key: s2})
	g.clock.Advance(30 * time.Second)
	g.verify(Request{Key: s2})
	g.settle()
	if n := g.store.readsOf(s2); n != 2 {
		t.Fatalf("default TTL: read %d times after 30 s, want 2", n)
	}
}

// TestStaleEntryAnswersWithoutWaiting: an entry past its TTL answers while
// its reload is still in flight, and the reload's result is used next.
func TestStaleEntryAnswersWithoutWaiting(t *testing.T) {
	f := newFixture(t, Options{CacheTTL: 10 * time.Second})
	secret := f.add(t, nil)
	f.verify(Request{Key: secret})
	bs := &blockingStore{fakeStore: f.store, started: make(chan struct{}, 1), release: make(chan struct{})}
	f.v.store = bs
	f.clock.Advance(time.Minute)
	revoked := f.clock.Now()
	f.store.mu.Lock()
	f.store.keys[hashKey(apikey.Hash(secret))].RevokedAt = &revoked
	f.store.mu.Unlock()

	for i := range 5 {
		if res := f.verify(Request{Key: secret}); !res.Allowed {
			t.Fatalf("stale answer %d: %+v, want the cached (allowed) entry", i, res)
		}
	}
	<-bs.started // exactly one reload runs while the stale entry answers
	close(bs.release)
	f.settle()
	if n := f.store.readsOf(secret); n != 2 {
		t.Fatalf("store read %d times, want 2 (one background reload for five stale answers)", n)
	}
	if res := f.verify(Request{Key: secret}); res.Code != CodeRevoked {
		t.Fatalf("after the reload: %q, want key_revoked", res.Outcome())
	}
}

func TestCacheStoreDown(t *testing.T) {
	f := newFixture(t, Options{CacheTTL: 10 * time.Second, StaleIfError: time.Minute})
	cached := f.add(t, func(k *Key) { k.Scopes = []string{"sms:send"} })
	uncached := f.add(t, nil)
	f.verify(Request{Key: cached})
	f.clock.Advance(20 * time.Second) // the entry is stale
	f.store.setErr(errors.New("connection refused"))

	res := f.verify(Request{Key: cached, Scopes: []string{"sms:send"}})
	if !res.Allowed {
		t.Fatalf("stale cached key with the store down: %+v", res)
	}
	f.settle()
	// A failing read is tried again at once (another pooled connection may
	// work), up to maxAttempts times; it asks the monitor for a ping, whose
	// failure marks the database down.
	if n := f.store.readsOf(cached); n != 1+maxAttempts {
		t.Fatalf("the stale entry's refresh was not tried: %d reads, want %d", n, 1+maxAttempts)
	}
	select {
	case <-f.v.probeNow:
	default:
		t.Fatal("a failed read did not ask the monitor for a ping")
	}
	if f.v.Ready() != nil {
		t.Fatal("one failed read marked the database down")
	}
	f.v.noteDatabase(errors.New("ping: i/o timeout"))
	if f.v.Ready() == nil {
		t.Fatal("Ready() = nil after a failed ping")
	}
	// The database is known down: uncached keys get 503 without a read
	// until the next probe is due.
	res = f.verify(Request{Key: uncached})
	if res.Code != CodeUnavailable || res.Allowed || res.Key != nil {
		t.Fatalf("uncached key with the store down: %+v, want unavailable", res)
	}
	if n := f.store.readsOf(uncached); n != 0 {
		t.Fatalf("uncached key read the store %d times while it was known down, want 0", n)
	}
	// Malformed keys are still refused without the store.
	if res := f.verify(Request{Key: "nope"}); res.Code != CodeUnauthorized {
		t.Fatalf("malformed with the store down: %+v", res)
	}
	// Once a probe is due, one request tries the store.
	f.clock.Advance(probeEvery)
	f.verify(Request{Key: uncached})
	f.verify(Request{Key: uncached})
	if n := f.store.readsOf(uncached); n != maxAttempts {
		t.Fatalf("uncached key read %d times in one probe interval, want %d (one load)", n, maxAttempts)
	}

	// Recovery without intervention, at the next probe.
	f.store.setErr(nil)
	f.clock.Advance(probeEvery)
	if res := f.verify(Request{Key: uncached}); !res.Allowed {
		t.Fatalf("after recovery: %+v", res)
	}
	if err := f.v.Ready(); err != nil {
		t.Fatalf("Ready() after recovery: %v", err)
	}
}

// TestStaleIfErrorBoundsAnOutage: during an outage a cached entry answers
// for StaleIfError past its TTL, then fails closed; with none, it fails
// closed at the TTL.
func TestStaleIfErrorBoundsAnOutage(t *testing.T) {
	for _, tc := range []struct {
		name       string
		stale      time.Duration
		lastServed time.Duration // age of an allowed answer
		refused    time.Duration // age from which the key fails closed
	}{
		{"ten minutes", 10 * time.Minute, 10*time.Minute + 30*time.Second - time.Second, 10*time.Minute + 30*time.Second},
		// Entries go stale up to a tenth of the TTL early.
		{"none", -1, 27*time.Second - time.Second, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{CacheTTL: 30 * time.Second, StaleIfError: tc.stale})
			secret := f.add(t, nil)
			start := f.clock.Now()
			f.verify(Request{Key: secret})
			f.store.setErr(errors.New("i/o timeout"))
			f.clock.Advance(tc.lastServed)
			if res := f.verify(Request{Key: secret}); !res.Allowed {
				t.Fatalf("at age %v: %+v, want allowed", f.clock.Now().Sub(start), res)
			}
			f.settle()
			f.clock.Advance(tc.refused - tc.lastServed)
			if res := f.verify(Request{Key: secret}); res.Code != CodeUnavailable {
				t.Fatalf("at age %v: %q, want unavailable (fail closed)", f.clock.Now().Sub(start), res.Outcome())
			}
		})
	}
}

// TestConcurrentMissesReadOnce: many requests for one uncached key share
// one database read.
func TestConcurrentMissesReadOnce(t *testing.T) {
	f := newFixture(t, Options{})
	secret := f.add(t, nil)
	bs := &blockingStore{fakeStore: f.store, started: make(chan struct{}, 1), release: make(chan struct{})}
	f.v.store = bs
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res := f.verify(Request{Key: secret}); !res.Allowed {
				t.Errorf("verify: %+v", res)
			}
		}()
	}
	<-bs.started
	time.Sleep(50 * time.Millisecond) // let the others pile up on the read
	close(bs.release)
	wg.Wait()
	if n := f.store.readsOf(secret); n != 1 {
		t.Fatalf("store read %d times for 20 concurrent misses, want 1", n)
	}
}

// TestKeySetRefusesUnknownKeysWithoutReads: with the set current, a flood of
// well-formed unknown keys reads nothing; known and newly announced keys
// still pass.
func TestKeySetRefusesUnknownKeysWithoutReads(t *testing.T) {
	f := newFixture(t, Options{})
	known := f.add(t, nil)
	f.v.keys.rebuild([]uint64{prefixOf(apikey.Hash(known))}, f.v.keys.beginRebuild())
	f.v.keys.current.Store(true)

	// A key the set does not know is read a few times a second at most:
	// enough for one created a moment ago elsewhere, not for a flood.
	for range 1000 {
		if res := f.verify(Request{Key: wellFormedUnknown(t)}); res.Code != CodeUnauthorized {
			t.Fatalf("unknown key: %+v", res)
		}
	}
	if n := f.store.totalReads(); n != unknownReadsPerSecond {
		t.Fatalf("1,000 unknown keys within a second read the store %d times, want %d", n, unknownReadsPerSecond)
	}
	f.clock.Advance(time.Second)
	for range 1000 {
		f.verify(Request{Key: wellFormedUnknown(t)})
	}
	if n := f.store.totalReads(); n != 2*unknownReadsPerSecond {
		t.Fatalf("a second later: %d reads in all, want %d", n, 2*unknownReadsPerSecond)
	}
	if res := f.verify(Request{Key: known}); !res.Allowed {
		t.Fatalf("known key: %+v", res)
	}
	// During the flood, a key created elsewhere and not yet announced is
	// refused; once announced (Invalidate), it is found.
	late := f.add(t, nil)
	if res := f.verify(Request{Key: late}); res.Code != CodeUnauthorized {
		t.Fatalf("unannounced key during the flood: %+v, want unauthorized", res)
	}
	f.v.Invalidate(apikey.Hash(late))
	if res := f.verify(Request{Key: late}); !res.Allowed {
		t.Fatalf("announced key: %+v", res)
	}
	// Not current (no watcher): every miss may be real and is read.
	f.v.keys.current.Store(false)
	before := f.store.totalReads()
	f.verify(Request{Key: wellFormedUnknown(t)})
	if n := f.store.totalReads() - before; n != 1 {
		t.Fatalf("unknown key with the set not current read %d times, want 1", n)
	}
}

// TestKeyCreatedElsewhereWorksAtOnce: a key created on another server a
// moment ago, whose announcement has not arrived, is read and found: a wrong
// 401 is never the price of the key set.
func TestKeyCreatedElsewhereWorksAtOnce(t *testing.T) {
	f := newFixture(t, Options{})
	f.v.keys.rebuild(nil, f.v.keys.beginRebuild())
	f.v.keys.current.Store(true)
	fresh := f.add(t, nil)
	if res := f.verify(Request{Key: fresh}); !res.Allowed {
		t.Fatalf("a key not yet announced: %+v, want allowed", res)
	}
}

// TestKeySetRebuildKeepsAddsMadeMeanwhile: a key announced while the set is
// being rebuilt is not lost when the rebuild lands.
func TestKeySetRebuildKeepsAddsMadeMeanwhile(t *testing.T) {
	s := newKeySet()
	s.current.Store(true)
	a, b, c := hashKey(apikey.Hash("a")), hashKey(apikey.Hash("b")), hashKey(apikey.Hash("c"))
	s.add(a[:])
	mark := s.beginRebuild()
	s.add(b[:]) // announced during the read
	s.rebuild([]uint64{prefixOf(c[:])}, mark)
	for name, h := range map[string]hashKey{"b (added meanwhile)": b, "c (read)": c} {
		if !s.mayContain(h) {
			t.Errorf("%s missing after the rebuild", name)
		}
	}
	if s.mayContain(a) {
		t.Error("a, added before the rebuild and not read by it, is still there")
	}
}

func TestVerifyConcurrent(t *testing.T) {
	f := newFixture(t, Options{CacheSize: 8, NegativeCacheSize: 8})
	keys := []string{f.add(t, nil), f.add(t, nil), f.add(t, nil)}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := keys[(g+i)%len(keys)]
				if i%7 == 0 {
					f.v.Invalidate(apikey.Hash(k))
				}
				if res := f.verify(Request{Key: k}); !res.Allowed {
					t.Errorf("verify: %+v", res)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// blockingStore holds every read until released, to interleave a load with
// an invalidation.
type blockingStore struct {
	*fakeStore
	started chan struct{}
	release chan struct{}
}

func (s *blockingStore) KeyByHash(ctx context.Context, hash []byte) (*Key, error) {
	k, err := s.fakeStore.KeyByHash(ctx, hash)
	s.started <- struct{}{}
	<-s.release
	return k, err
}

// TestLoadDoesNotUndoAnInvalidation: a key read before a revoke commits
// must not be cached after the revoke's invalidation.
func TestLoadDoesNotUndoAnInvalidation(t *testing.T) {
	f := newFixture(t, Options{})
	secret := f.add(t, nil)
	bs := &blockingStore{fakeStore: f.store, started: make(chan struct{}, 2), release: make(chan struct{}, 2)}
	f.v.store = bs

	done := make(chan Result)
	go func() { done <- f.verify(Request{Key: secret}) }()
	<-bs.started
	// The revoke commits and is announced while the old row is in flight.
	revoked := f.clock.Now()
	f.store.mu.Lock()
	f.store.keys[hashKey(apikey.Hash(secret))].RevokedAt = &revoked
	f.store.mu.Unlock()
	f.v.Invalidate(apikey.Hash(secret))
	bs.release <- struct{}{}
	if res := <-done; !res.Allowed {
		t.Fatalf("the in-flight request read the old row and should pass, got %s", res.Code)
	}

	// A fresh load runs (and is let through); a cached old row would not.
	bs.release <- struct{}{}
	res := f.verify(Request{Key: secret})
	select {
	case <-bs.started:
	default:
		t.Fatal("the next verification answered from the cache instead of reloading")
	}
	if res.Code != CodeRevoked {
		t.Fatalf("after the invalidation the key answered %q, want %s", res.Outcome(), CodeRevoked)
	}
}

// TestPutRacingADropNeverSticks: a load's result must not stay cached when
// the key was invalidated after the load began, even when the invalidation
// lands in the middle of writing the result back.
func TestPutRacingADropNeverSticks(t *testing.T) {
	c := newCache(16, 16)
	h := hashKey(apikey.Hash("racing"))
	k := &Key{ID: "key"}
	stuck := 0
	for range 20_000 {
		g := c.generation(h)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); c.put(h, k, time.Time{}, g) }()
		go func() { defer wg.Done(); c.drop(h) }()
		wg.Wait()
		if _, found := c.get(h); found {
			stuck++
			c.drop(h)
		}
	}
	if stuck > 0 {
		t.Fatalf("%d of 20,000 results read before an invalidation stayed cached after it", stuck)
	}
}
