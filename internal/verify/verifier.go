package verify

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"keyplane/internal/apikey"
	"keyplane/internal/quota"
)

// Error codes of the data plane, as the product's error table names them.
const (
	CodeUnauthorized     = "unauthorized"
	CodeRevoked          = "key_revoked"
	CodeExpired          = "key_expired"
	CodeDisabled         = "key_disabled"
	CodeIPNotAllowed     = "ip_not_allowed"
	CodeDomainNotAllowed = "domain_not_allowed"
	CodeAnonymous        = "anonymous_request"
	CodeForbidden        = "forbidden"
	CodeRateLimited      = "rate_limited"
	CodeQuotaExceeded    = "quota_exceeded"
	CodeUnavailable      = "unavailable"
)

// OutcomeAllowed is the usage outcome of an allowed request.
const OutcomeAllowed = "allowed"

const (
	defaultCacheSize    = 100_000
	defaultNegativeSize = 20_000
	defaultCacheTTL     = 30 * time.Second
	// DefaultStaleIfError is how long past its TTL a cached key answers
	// while the database cannot be reached, unless configured otherwise.
	DefaultStaleIfError = 10 * time.Minute
	// lookupTimeout bounds a cache miss's database read, so a database
	// that stops answering costs an uncached key a 503, not a hung request.
	lookupTimeout = 250 * time.Millisecond
	// refreshTimeout bounds a background refresh of a stale entry.
	refreshTimeout = time.Second
)

// Request is what a verification is asked: the presented key and where the
// request comes from, with the scopes it needs.
type Request struct {
	// Key is the presented key, from X-Api-Key, a bearer token or a JSON body.
	Key      string
	Origin   string // Origin header, else Referer
	ClientIP netip.Addr
	// Scopes are the scopes the request needs; all must be granted.
	Scopes []string
	// Product is the slug of the product the endpoint serves ("" for the
	// default); a key of another product is unknown there, unless
	// AnyProduct.
	Product    string
	AnyProduct bool
	// BodyIP is a client address the caller states (/v1/verify's "ip"): it
	// stands for ClientIP for a private key, whose holder is the caller,
	// and for any key when TrustBodyIP (the caller is a trusted proxy).
	// Anyone may hold a public key, so a stranger does not pick the
	// address its per-IP limit blocks.
	BodyIP      netip.Addr
	TrustBodyIP bool
	// Cost is what the request spends of the key's quotas when HasCost
	// (0 to quota.MaxCost; 0 checks without spending); otherwise it costs
	// quota.DefaultCost.
	Cost    int
	HasCost bool
	// NoQuota skips the quotas: the key authenticates a call that is not a
	// request of the API the quotas meter (the management API).
	NoQuota bool
}

func (r Request) productOrDefault() string {
	if r.Product == "" {
		return apikey.DefaultProduct
	}
	return r.Product
}

// RateLimit describes the limit a response was measured against.
type RateLimit struct {
	Limit     int
	Remaining int
	Reset     time.Duration
}

// Result is a verification's outcome. It names the outcome by code; what
// that means in HTTP is the caller's business (web/api has the table).
type Result struct {
	Allowed bool
	Code    string // "" when allowed
	Message string
	Key     *Key // set whenever the key was found
	// RateLimit is set for keys that have a limit.
	RateLimit *RateLimit
	// At is when the decision was taken, by the verifier's clock.
	At time.Time
	// ClientIP is the client address the checks used: the request's, or
	// its BodyIP.
	ClientIP netip.Addr
	// Would is set on an allowed request that a report-only restriction
	// would have refused: the outcome it is counted under
	// ("would_<code>", the first such restriction's).
	Would string
	// Quota is set for keys with a quota (their own or their
	// organization's).
	Quota *QuotaResult
}

// QuotaResult is what a verification did with the quotas of its key.
type QuotaResult struct {
	quota.Decision
	// KeySubject and OrgSubject are the ids the key's and the
	// organization's quotas count under ("" for none).
	KeySubject, OrgSubject string
}

// Shown returns the balance an answer reports: the refusing quota's, with
// nothing left, when a quota refused; else the one with the least left.
func (q *QuotaResult) Shown() quota.Balance {
	if !q.Allowed {
		b := q.Key
		if q.RefusedBy != q.KeySubject {
			b = q.Org
		}
		b.Remaining = 0
		return b
	}
	return q.Tightest()
}

// Tightest returns the balance of the quota with the least left, the
// key's when they are even.
func (q *QuotaResult) Tightest() quota.Balance {
	switch {
	case q.OrgSubject == "":
		return q.Key
	case q.KeySubject == "" || q.Org.Remaining < q.Key.Remaining:
		return q.Org
	}
	return q.Key
}

// Outcome is the usage outcome: "allowed", the would_<code> of a request a
// report-only restriction let through, or the error code.
func (r Result) Outcome() string {
	if r.Allowed {
		if r.Would != "" {
			return r.Would
		}
		return OutcomeAllowed
	}
	return r.Code
}

func deny(code, msg string, k *Key) Result {
	return Result{Code: code, Message: msg, Key: k}
}

// Options configure a Verifier.
type Options struct {
	Store   Store
	Limiter Limiter
	// Products tells a key's product from its shape. When nil, only keys
	// of Prefix's default format are known, as the default product's.
	Products Products
	Prefix   string
	Now      func() time.Time
	Logger   *slog.Logger
	// CacheSize, NegativeCacheSize and CacheTTL bound the caches; zero
	// values take the defaults (100,000, 20,000 and 30 s).
	CacheSize         int
	NegativeCacheSize int
	CacheTTL          time.Duration
	// StaleIfError is how long past CacheTTL an entry still answers (at
	// once, while it is refreshed in the background); past that the key
	// waits for the database, and gets 503 while it cannot be reached.
	// Zero takes DefaultStaleIfError; a negative value means none: entries
	// are reloaded before they answer once the TTL has passed.
	StaleIfError time.Duration
	Metrics      *Metrics
	// Quota counts what keys spend of their quotas; nil means in process
	// memory (quota.NewMemory).
	Quota quota.Counter
}

// Verifier decides verifications. It is safe for concurrent use.
type Verifier struct {
	store        Store
	limiter      Limiter
	quota        quota.Counter
	products     Products
	now          func() time.Time
	realClock    bool // now is time.Now: Verify reads the clock once for both uses
	logger       *slog.Logger
	cache        *cache
	ttl          time.Duration
	staleIfError time.Duration
	metrics      *Metrics

	keys         *keySet
	unknownReads *rate.Limiter // reads of keys the key set does not know
	health       health
	probeNow     chan struct{} // asks Monitor for a ping now
	flight       singleflight.Group
	refreshing   sync.Map      // hashKey → struct{}: background refreshes running
	refreshSlots chan struct{} // one per background refresh running
	background   sync.WaitGroup

	// watching is set once Watch runs; listening while it hears changes.
	watching, listening atomic.Bool
}

// New returns a Verifier.
func New(o Options) *Verifier {
	realClock := o.Now == nil
	if realClock {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Limiter == nil {
		o.Limiter = NewMemoryLimiter()
	}
	if o.Quota == nil {
		o.Quota = quota.NewMemory()
	}
	if o.Products == nil {
		f, _ := apikey.DefaultFormat(o.Prefix)
		o.Products = defaultProducts{format: f}
	}
	if o.CacheSize == 0 {
		o.CacheSize = defaultCacheSize
	}
	if o.NegativeCacheSize == 0 {
		o.NegativeCacheSize = defaultNegativeSize
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = defaultCacheTTL
	}
	switch {
	case o.StaleIfError == 0:
		o.StaleIfError = DefaultStaleIfError
	case o.StaleIfError < 0:
		o.StaleIfError = 0
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	v := &Verifier{
		store: o.Store, limiter: o.Limiter, quota: o.Quota, products: o.Products, now: o.Now, realClock: realClock, logger: o.Logger,
		cache: newCache(o.CacheSize, o.NegativeCacheSize), ttl: o.CacheTTL, staleIfError: o.StaleIfError,
		metrics: o.Metrics, keys: newKeySet(),
		unknownReads: rate.NewLimiter(unknownReadsPerSecond, unknownReadsPerSecond),
		probeNow:     make(chan struct{}, 1), refreshSlots: make(chan struct{}, maxRefreshes),
	}
	v.metrics.databaseUp.Set(1)
	return v
}

// Invalidate drops the key with hash from the cache at once, and notes that
// a key with this hash exists (a key that changed, or was just created).
func (v *Verifier) Invalidate(hash []byte) {
	switch {
	case bytes.Equal(hash, apikey.BulkChange):
		v.manyChanged()
		return
	case bytes.Equal(hash, apikey.AllChange):
		v.InvalidateAll()
		return
	}
	var h hashKey
	if copy(h[:], hash) == len(h) {
		v.keys.add(hash)
		v.cache.drop(h)
	}
}

// manyChanged follows a change to many keys at once (an import): keys
// cached as unknown may exist now, and the set of stored key hashes is
// read again; until it is, misses read the database.
func (v *Verifier) manyChanged() {
	v.keys.bulk.Add(1)
	v.cache.purgeUnknown()
	v.keys.built.Store(false)
	v.keys.current.Store(false)
	v.rebuildSoon()
}

// InvalidateAll empties the cache.
func (v *Verifier) InvalidateAll() { v.cache.purge() }

// Verify runs the checks in order: format and checksum, lookup by hash,
// revoked, expired, disabled, IP allowlist, public-key origin, rate limit,
// scope, quota. A report-only restriction's would-be refusal is noted in
// Result.Would and the checks carry on; only allowed requests spend quota.
func (v *Verifier) Verify(ctx context.Context, req Request) Result {
	start := time.Now()
	now := start
	if !v.realClock {
		now = v.now()
	}
	res := v.verify(ctx, req, now)
	v.metrics.observe(res, time.Since(start))
	return res
}

func (v *Verifier) verify(ctx context.Context, req Request, now time.Time) Result {
	res := v.decide(ctx, &req, now)
	res.At, res.ClientIP = now, req.ClientIP
	return res
}

// decide runs the checks; it sets req.ClientIP to the address the checks
// used.
func (v *Verifier) decide(ctx context.Context, req *Request, now time.Time) Result {
	// Another product's key is refused exactly as an unknown one, and
	// never counted against the key.
	product, _, ok := v.products.ProductOf(req.Key)
	if !ok || (!req.AnyProduct && product != req.productOrDefault()) {
		return deny(CodeUnauthorized, "Invalid or missing API key", nil)
	}
	k, err := v.lookup(req.Key, now)
	if errors.Is(err, ErrUnknownKey) {
		return deny(CodeUnauthorized, "Invalid or missing API key", nil)
	}
	if err != nil {
		return deny(CodeUnavailable, "Key verification is temporarily unavailable", nil)
	}
	if k.ProductSlug() != product {
		return deny(CodeUnauthorized, "Invalid or missing API key", nil)
	}
	if req.BodyIP.IsValid() && (k.Kind == apikey.Private || req.TrustBodyIP) {
		req.ClientIP = req.BodyIP
	}

	if k.RevokedAt != nil {
		return deny(CodeRevoked, "This API key has been revoked", k)
	}
	if k.Deadline != nil && !now.Before(*k.Deadline) {
		return deny(CodeExpired, "This API key has expired", k)
	}
	if k.Disabled {
		if k.OrgDisabled {
			return deny(CodeDisabled, "This API key's organization is disabled", k)
		}
		return deny(CodeDisabled, "This API key is disabled", k)
	}
	// A report-only restriction's first would-be refusal names the
	// outcome, and the checks carry on.
	var would string
	if len(k.IPs) > 0 && !containsAddr(k.IPs, req.ClientIP) {
		if k.Report&ReportIPs == 0 {
			return deny(CodeIPNotAllowed, "Requests from this IP address are not allowed for this key", k)
		}
		would = WouldIPNotAllowed
	}
	if k.Kind == apikey.Public {
		origin := strings.TrimSpace(req.Origin)
		code, msg := "", ""
		if origin == "" || origin == "null" {
			code, msg = CodeAnonymous, "Public keys are accepted only from web pages that send an Origin or Referer"
		} else if !originAllowed(k.Domains, origin) {
			code, msg = CodeDomainNotAllowed, "Requests from this origin are not allowed for this key"
		}
		if code != "" {
			if k.Report&ReportDomains == 0 {
				return deny(code, msg, k)
			}
			if would == "" {
				would = wouldCode(code)
			}
		}
	}

	var rl *RateLimit
	if k.RateLimit > 0 {
		bucket := k.ID
		if k.Kind == apikey.Public {
			bucket += "|" + clientNetwork(req.ClientIP)
		}
		d, _ := v.limiter.Take(ctx, bucket, Limit{Max: k.RateLimit, Block: k.Block}, now)
		rl = &RateLimit{Limit: k.RateLimit, Remaining: d.Remaining, Reset: d.Reset}
		if !d.Allowed {
			if k.Report&ReportRateLimit == 0 {
				res := deny(CodeRateLimited, "Rate limit exceeded; retry in "+strconv.Itoa(ceilSeconds(d.Reset))+" seconds", k)
				res.RateLimit = rl
				return res
			}
			if would == "" {
				would = WouldRateLimited
			}
		}
	}

	for _, s := range req.Scopes {
		if !k.HasScope(s) {
			if k.Report&ReportScopes == 0 {
				res := deny(CodeForbidden, "This API key lacks the required scope "+s, k)
				res.RateLimit = rl
				return res
			}
			if would == "" {
				would = WouldForbidden
			}
			break
		}
	}

	if (k.Quota == nil && k.OrgQuota == nil) || req.NoQuota {
		return Result{Allowed: true, Key: k, RateLimit: rl, Would: would}
	}
	q := v.spend(ctx, k, req, now)
	if !q.Allowed {
		msg := "This API key's quota is used up"
		if q.RefusedBy != q.KeySubject {
			msg = "This organization's quota is used up"
		}
		res := deny(CodeQuotaExceeded, msg, k)
		res.RateLimit, res.Quota = rl, q
		return res
	}
	if q.Would && would == "" {
		would = WouldQuotaExceeded
	}
	return Result{Allowed: true, Key: k, RateLimit: rl, Would: would, Quota: q}
}

// spend charges the request's cost to k's quotas.
func (v *Verifier) spend(ctx context.Context, k *Key, req *Request, now time.Time) *QuotaResult {
	cost := int64(quota.DefaultCost)
	if req.HasCost {
		cost = int64(req.Cost)
	}
	c := quota.Charge{
		OrgID: k.OrgID, Key: k.Quota, Org: k.OrgQuota, Cost: cost,
		ReportKey: k.Report&ReportQuota != 0, ReportOrg: k.Report&ReportOrgQuota != 0,
	}
	q := &QuotaResult{Decision: v.quota.Spend(ctx, c, now)}
	if k.Quota != nil {
		q.KeySubject = k.Quota.ID
	}
	if k.OrgQuota != nil {
		q.OrgSubject = k.OrgQuota.ID
	}
	return q
}

// clientNetwork names the client for per-IP limits: its IPv4 address, or
// the /64 of an IPv6 one, since one host can hold a whole /64.
func clientNetwork(a netip.Addr) string {
	if a = a.Unmap(); a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func containsAddr(prefixes []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func originAllowed(patterns []apikey.DomainPattern, origin string) bool {
	for _, p := range patterns {
		if p.Matches(origin) {
			return true
		}
	}
	return false
}

func ceilSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		return 1
	}
	return s
}

// RetryAfterSeconds is the Retry-After value for a rate-limited result.
func (r RateLimit) RetryAfterSeconds() int { return ceilSeconds(r.Reset) }
