// Package usage counts what the data plane decides, per key, hour, outcome
// and required scope, and remembers when and from where each key was last
// used. Counts gather in memory and reach the database in batches, so
// database writes do not grow with the request rate.
package usage

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"keyplane/internal/store"
)

// FlushEvery is how often counts are written to the database.
const FlushEvery = 5 * time.Second

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

// Recorder gathers counts in memory. It is safe for concurrent use.
type Recorder struct {
	db     *store.DB
	logger *slog.Logger

	mu     sync.Mutex
	counts map[countKey]int64
	last   map[string]lastUse

	flushMu sync.Mutex // one flush at a time

	flushDuration prometheus.Histogram
	backlog       prometheus.GaugeFunc
	flushErrors   prometheus.Counter
}

// NewRecorder returns a Recorder writing to db; reg, when not nil, gets its
// metrics.
func NewRecorder(db *store.DB, logger *slog.Logger, reg prometheus.Registerer) *Recorder {
	if logger == nil {
		logger = slog.Default()
	}
	r := &Recorder{db: db, logger: logger, counts: map[countKey]int64{}, last: map[string]lastUse{}}
	r.flushDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "keyplane_usage_flush_duration_seconds", Help: "Time to write gathered usage to the database.",
	})
	r.backlog = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "keyplane_usage_backlog", Help: "Usage counters waiting to be written to the database.",
	}, func() float64 { return float64(r.Pending()) })
	r.flushErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyplane_usage_flush_errors_total", Help: "Usage flushes that failed and will be retried.",
	})
	if reg != nil {
		reg.MustRegister(r.flushDuration, r.backlog, r.flushErrors)
	}
	return r
}

// Record counts one request of key keyID (of orgID) at at with outcome
// ("allowed" or an error code) and the required scopes (space-separated,
// "" for none), and notes the client's IP and origin as the key's last use.
func (r *Recorder) Record(keyID, orgID string, at time.Time, outcome, scope string, ip netip.Addr, origin string) {
	k := countKey{keyID: keyID, orgID: orgID, hour: at.Unix() - at.Unix()%3600, outcome: outcome, scope: scope}
	r.mu.Lock()
	r.counts[k]++
	if prev, ok := r.last[keyID]; !ok || at.After(prev.at) {
		r.last[keyID] = lastUse{at: at, ip: ip, origin: origin}
	}
	r.mu.Unlock()
}

// Pending returns how many counters wait for the next flush.
func (r *Recorder) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.counts)
}

// Run flushes every FlushEvery until ctx ends, then flushes once more with a
// fresh deadline, so a shutdown loses no counts.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r.Flush(fctx); err != nil {
				r.logger.Error("usage: final flush failed; counts lost", "err", err, "pending", r.Pending())
			}
			return
		case <-t.C:
			if err := r.Flush(ctx); err != nil {
				r.logger.Warn("usage: flush failed; will retry", "err", err, "pending", r.Pending())
			}
		}
	}
}

// Flush writes the gathered counts and last uses in batched upserts. On
// failure they are kept for the next attempt.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	counts, last := r.counts, r.last
	r.counts, r.last = map[countKey]int64{}, map[string]lastUse{}
	r.mu.Unlock()
	if len(counts) == 0 && len(last) == 0 {
		return nil
	}
	start := time.Now()
	err := r.write(ctx, counts, last)
	r.flushDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		r.flushErrors.Inc()
		r.mu.Lock()
		for k, n := range counts {
			r.counts[k] += n
		}
		for id, u := range last {
			if prev, ok := r.last[id]; !ok || u.at.After(prev.at) {
				r.last[id] = u
			}
		}
		r.mu.Unlock()
		return err
	}
	return nil
}

func (r *Recorder) write(ctx context.Context, counts map[countKey]int64, last map[string]lastUse) error {
	rows := make([]Hourly, 0, len(counts))
	for k, n := range counts {
		rows = append(rows, Hourly{KeyID: k.keyID, OrgID: k.orgID, Hour: time.Unix(k.hour, 0).UTC(), Outcome: k.outcome, Scope: k.scope, Count: n})
	}
	return r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := Write(ctx, tx, rows); err != nil {
			return err
		}
		// In key order, as Write does, so replicas flushing at once take
		// their row locks in the same order.
		ids := make([]string, 0, len(last))
		for id := range last {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			u := last[id]
			err := tx.Table("api_keys").
				Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", id, u.at.UTC()).
				Updates(map[string]any{"last_used_at": u.at.UTC(), "last_used_ip": ipString(u.ip), "last_used_origin": store.Text(u.origin, 300)}).Error
			if err != nil {
				return fmt.Errorf("usage: write last use: %w", err)
			}
		}
		return nil
	})
}

func ipString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
