// Package usage counts what the data plane decides, per key, hour, outcome
// and required scope, and remembers when and from where each key was last
// used. Counts gather in memory and reach the database in batches, so
// database writes do not grow with the request rate. What a shutdown cannot
// write goes to a spill file that the next start writes exactly once.
package usage

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm/clause"

	"keyplane/internal/store"
)

// FlushEvery is how often counts are written to the database.
const FlushEvery = 5 * time.Second

// DefaultFinalFlush is how long Run retries its final flush when
// Recorder.FinalFlush is zero.
const DefaultFinalFlush = 10 * time.Second

const (
	// flushTimeout bounds a periodic flush and a replay, so a database
	// that stops answering cannot hold Run for long, while the backlog of
	// a long outage still has time to be written.
	flushTimeout = 30 * time.Second
	// finalAttempt bounds the first attempt of the final flush, so a
	// connection that died silently costs one attempt, not the whole
	// window; each attempt after one that timed out gets twice as long, so
	// a large batch still fits.
	finalAttempt = 2 * time.Second
	// finalBackoff and finalBackoffMax space the final flush's attempts.
	finalBackoff    = 100 * time.Millisecond
	finalBackoffMax = time.Second
)

// Hourly is one row of usage_hourly.
type Hourly struct {
	KeyID   string `gorm:"primaryKey"`
	OrgID   string
	Hour    time.Time `gorm:"primaryKey"`
	Outcome string    `gorm:"primaryKey"`
	Scope   string    `gorm:"primaryKey"`
	Count   int64
}

// TableName maps Hourly to its table.
func (Hourly) TableName() string { return "usage_hourly" }

// spillRecord is one row of usage_spills: a batch written exactly once.
type spillRecord struct {
	ID        string `gorm:"primaryKey"`
	WrittenAt time.Time
}

func (spillRecord) TableName() string { return "usage_spills" }

type countKey struct {
	keyID, orgID string
	hour         int64 // Unix seconds of the hour's start, UTC
	outcome      string
	scope        string
}

type lastUse struct {
	at     time.Time
	ip     netip.Addr
	origin string
}

// batch is usage taken out of a Recorder (or read from a spill file) to be
// written in one transaction.
type batch struct {
	counts  map[countKey]int64
	last    map[string]lastUse
	sources map[sourceKey]sourceUse
	spent   map[spendKey]int64
}

func newBatch() batch {
	return batch{counts: map[countKey]int64{}, last: map[string]lastUse{}, sources: map[sourceKey]sourceUse{}, spent: map[spendKey]int64{}}
}

func (b batch) empty() bool {
	return len(b.counts) == 0 && len(b.last) == 0 && len(b.sources) == 0 && len(b.spent) == 0
}

// requests is the sum of the batch's counts.
func (b batch) requests() int64 {
	var n int64
	for _, c := range b.counts {
		n += c
	}
	return n
}

// stripeCount is how many stripes a Recorder has: a few per core of the
// machines Keyplane runs on, a power of two.
const stripeCount = 32

// stripe is one part of a Recorder's counts, padded to its own cache lines
// so two cores writing two stripes do not share one.
type stripe struct {
	stripeData
	_ [(64 - unsafe.Sizeof(stripeData{})%64) % 64]byte
}

// stripeData is what a stripe holds, under mu. The counter and the last
// use it wrote most recently wait in hot and hotLast until another comes
// (or the stripe is read), so a run of requests of one key, outcome and
// scope, the common case, adds to a field instead of hashing into a map.
type stripeData struct {
	mu      sync.Mutex
	counts  map[countKey]int64
	last    map[string]lastUse
	sources map[sourceKey]sourceUse
	spent   map[spendKey]int64
	// perKey counts each key's distinct sources in sources, its other
	// source left out.
	perKey map[string]int

	hot     countKey
	hotN    int64 // 0: hot holds nothing
	hotKey  string
	hotLast lastUse // valid when hotKey != ""
	hotSrc  sourceKey
	hotUse  sourceUse // hotUse.n 0: hotSrc holds nothing
}

// count adds one request; s.mu is held.
func (s *stripeData) count(k countKey, at time.Time, ip netip.Addr, origin string) {
	if s.hotN > 0 && k == s.hot {
		s.hotN++
	} else {
		if s.hotN > 0 {
			s.counts[s.hot] += s.hotN
		}
		s.hot, s.hotN = k, 1
	}
	src := sourceKey{keyID: k.keyID, orgID: k.orgID, day: k.hour - k.hour%86400, ip: ip, origin: originPart(origin),
		would: len(k.outcome) > len(WouldPrefix) && k.outcome[:len(WouldPrefix)] == WouldPrefix}
	if s.hotUse.n > 0 && src == s.hotSrc {
		s.hotUse.n++
		if at.After(s.hotUse.last) {
			s.hotUse.last = at
		}
	} else {
		s.settleSource()
		s.hotSrc, s.hotUse = src, sourceUse{n: 1, last: at}
	}
	if k.keyID == s.hotKey {
		if at.After(s.hotLast.at) {
			s.hotLast = lastUse{at: at, ip: ip, origin: origin}
		}
		return
	}
	s.settleLast()
	s.hotKey, s.hotLast = k.keyID, lastUse{at: at, ip: ip, origin: origin}
}

func (s *stripeData) settleSource() {
	if s.hotUse.n > 0 {
		s.addSource(s.hotSrc, s.hotUse)
		s.hotSrc, s.hotUse = sourceKey{}, sourceUse{}
	}
}

// addSource adds u to source k, or to k's other source when the stripe
// or k's key holds as many sources as it may; s.mu is held.
func (s *stripeData) addSource(k sourceKey, u sourceUse) {
	if _, ok := s.sources[k]; !ok && !k.isOther() {
		if s.perKey[k.keyID] >= keySources || len(s.sources) >= stripeSources {
			k.ip, k.origin = netip.Addr{}, ""
		} else {
			s.perKey[k.keyID]++
		}
	}
	addSource(s.sources, k, u)
}

// settle moves the hot counter and last use into the maps; s.mu is held.
func (s *stripeData) settle() {
	if s.hotN > 0 {
		s.counts[s.hot] += s.hotN
		s.hot, s.hotN = countKey{}, 0
	}
	s.settleLast()
	s.hotKey, s.hotLast = "", lastUse{}
	s.settleSource()
}

func (s *stripeData) settleLast() {
	if s.hotKey == "" {
		return
	}
	if prev, ok := s.last[s.hotKey]; !ok || s.hotLast.at.After(prev.at) {
		s.last[s.hotKey] = s.hotLast
	}
}

// add merges b into s; s.mu is held.
func (s *stripeData) add(b batch) {
	for k, n := range b.counts {
		s.counts[k] += n
	}
	for id, u := range b.last {
		if prev, ok := s.last[id]; !ok || u.at.After(prev.at) {
			s.last[id] = u
		}
	}
	for k, u := range b.sources {
		s.addSource(k, u)
	}
	for k, n := range b.spent {
		s.spent[k] += n
	}
}

// Recorder gathers counts in memory. It is safe for concurrent use.
type Recorder struct {
	// SpillDir is where Run's final flush leaves, as a spill file, what it
	// could not write to the database, and where Replay looks for such
	// files. Empty: nothing is spilled, and a final flush that fails loses
	// its counts. Set it before Run.
	SpillDir string
	// FinalFlush is how long Run retries its final flush once ctx ends,
	// before it spills; zero means DefaultFinalFlush. Set it before Run.
	FinalFlush time.Duration

	db     *store.DB
	logger *slog.Logger
	every  time.Duration // FlushEvery; tests shorten it

	// stripes gather counts apart, each under its own lock; a request
	// picks one at random, so requests on every core, even for one key,
	// rarely wait for each other. A flush merges them.
	stripes [stripeCount]stripe

	flushMu  sync.Mutex // one flush at a time
	replayMu sync.Mutex // one replay at a time

	flushDuration prometheus.Histogram
	backlog       prometheus.GaugeFunc
	flushErrors   prometheus.Counter
	spilled       prometheus.Counter
}

// NewRecorder returns a Recorder writing to db; reg, when not nil, gets its
// metrics.
func NewRecorder(db *store.DB, logger *slog.Logger, reg prometheus.Registerer) *Recorder {
	if logger == nil {
		logger = slog.Default()
	}
	r := &Recorder{db: db, logger: logger, every: FlushEvery}
	for i := range r.stripes {
		b := newBatch()
		r.stripes[i].counts, r.stripes[i].last, r.stripes[i].sources, r.stripes[i].perKey = b.counts, b.last, b.sources, map[string]int{}
		r.stripes[i].spent = b.spent
	}
	r.flushDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "keyplane_usage_flush_duration_seconds", Help: "Time to write gathered usage to the database.",
	})
	r.backlog = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "keyplane_usage_backlog", Help: "Usage counters waiting to be written to the database.",
	}, func() float64 { return float64(r.Pending()) })
	r.flushErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyplane_usage_flush_errors_total", Help: "Usage flushes that failed and will be retried.",
	})
	r.spilled = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyplane_usage_spilled_total",
		Help: "Requests whose counts a shutdown could not write to the database and wrote to a spill file instead (requests, not rows).",
	})
	if reg != nil {
		reg.MustRegister(r.flushDuration, r.backlog, r.flushErrors, r.spilled)
	}
	return r
}

// Record counts one request of key keyID (of orgID) at at with outcome
// ("allowed" or an error code) and the required scopes (space-separated,
// "" for none), and notes the client's IP and origin as the key's last use.
func (r *Recorder) Record(keyID, orgID string, at time.Time, outcome, scope string, ip netip.Addr, origin string) {
	k := countKey{keyID: keyID, orgID: orgID, hour: at.Unix() - at.Unix()%3600, outcome: outcome, scope: scope}
	s := &r.stripes[rand.Uint32()%stripeCount]
	s.mu.Lock()
	s.count(k, at, ip, origin)
	s.mu.Unlock()
}

// Pending returns how many counters wait for the next flush.
func (r *Recorder) Pending() int {
	seen := map[countKey]struct{}{}
	for i := range r.stripes {
		s := &r.stripes[i]
		s.mu.Lock()
		s.settle()
		for k := range s.counts {
			seen[k] = struct{}{}
		}
		s.mu.Unlock()
	}
	return len(seen)
}

// Run replays the spill files of SpillDir, then flushes every FlushEvery
// until ctx ends, retrying with each flush a replay the database refused.
// Once ctx ends it makes the final flush (see Shutdown), retried for
// FinalFlush, so a shutdown loses no counts.
func (r *Recorder) Run(ctx context.Context) {
	replayed := r.replayBounded(ctx)
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			window := r.FinalFlush
			if window <= 0 {
				window = DefaultFinalFlush
			}
			fctx, cancel := context.WithTimeout(context.Background(), window)
			defer cancel()
			if err := r.Shutdown(fctx); err != nil {
				r.logger.Error("usage: final flush failed; counts lost", "err", err, "pending", r.Pending())
			}
			return
		case <-t.C:
			if !replayed {
				replayed = r.replayBounded(ctx)
			}
			// Not cancelled with ctx: a flush whose COMMIT is in flight
			// when the server stops would be written again by the final
			// flush if its client gave up waiting for the answer.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			if err := r.Flush(fctx); err != nil {
				r.logger.Warn("usage: flush failed; will retry", "err", err, "pending", r.Pending())
			}
			cancel()
		}
	}
}

// replayBounded runs Replay within flushTimeout and reports whether every
// spill file is done with.
func (r *Recorder) replayBounded(ctx context.Context) bool {
	rctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	if err := r.Replay(rctx); err != nil {
		r.logger.Warn("usage: spill files kept; will retry", "err", err, "dir", r.SpillDir)
		return false
	}
	return true
}

// Flush writes the gathered counts and last uses in batched upserts. On
// failure they are kept for the next attempt.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	b := r.take()
	if b.empty() {
		return nil
	}
	start := time.Now()
	_, err := r.write(ctx, b, "")
	r.flushDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		r.flushErrors.Inc()
		r.putBack(b)
		return err
	}
	return nil
}

// take empties the recorder and returns what it held, its stripes merged.
func (r *Recorder) take() batch {
	all := newBatch()
	merged := stripeData{counts: all.counts, last: all.last, spent: all.spent}
	for i := range r.stripes {
		s := &r.stripes[i]
		s.mu.Lock()
		s.settle()
		b := batch{counts: s.counts, last: s.last, spent: s.spent}
		sources := s.sources
		fresh := newBatch()
		s.counts, s.last, s.sources, s.perKey, s.spent = fresh.counts, fresh.last, fresh.sources, map[string]int{}, fresh.spent
		s.mu.Unlock()
		merged.add(b)
		// Not bounded again: each stripe was, and the flush keeps the
		// busiest of them.
		for k, u := range sources {
			addSource(all.sources, k, u)
		}
	}
	return all
}

// putBack returns an unwritten batch to the recorder, merged with what was
// recorded meanwhile.
func (r *Recorder) putBack(b batch) {
	s := &r.stripes[0]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.add(b)
}

// write writes b in one transaction. With an id, it first records the id
// in usage_spills; an id recorded before means b was written already, and
// write writes nothing and returns false.
func (r *Recorder) write(ctx context.Context, b batch, id string) (bool, error) {
	rows := make([]Hourly, 0, len(b.counts))
	for k, n := range b.counts {
		rows = append(rows, Hourly{KeyID: k.keyID, OrgID: k.orgID, Hour: time.Unix(k.hour, 0).UTC(), Outcome: k.outcome, Scope: k.scope, Count: n})
	}
	written := true
	err := r.db.WithTx(ctx, func(ctx context.Context) error {
		tx := r.db.Conn(ctx)
		if id != "" {
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&spillRecord{ID: id, WrittenAt: time.Now().UTC()})
			if res.Error != nil {
				return fmt.Errorf("usage: record batch %s: %w", id, res.Error)
			}
			if res.RowsAffected == 0 {
				written = false
				return nil
			}
		}
		if err := Write(ctx, r.db, rows); err != nil {
			return err
		}
		if err := writeSources(ctx, r.db, sourceRows(b.sources)); err != nil {
			return err
		}
		if err := writeSpent(ctx, r.db, b.spent, time.Now().UTC()); err != nil {
			return err
		}
		// In key order, as Write does, so replicas flushing at once take
		// their row locks in the same order.
		ids := make([]string, 0, len(b.last))
		for id := range b.last {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			u := b.last[id]
			err := tx.Table("api_keys").
				Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", id, u.at.UTC()).
				Updates(map[string]any{"last_used_at": u.at.UTC(), "last_used_ip": ipString(u.ip), "last_used_origin": store.Text(u.origin, 300)}).Error
			if err != nil {
				return fmt.Errorf("usage: write last use: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return written, nil
}

func ipString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
