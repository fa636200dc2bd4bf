package verify

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the data plane's Prometheus metrics.
type Metrics struct {
	outcomes    *prometheus.CounterVec
	byOutcome   map[string]prometheus.Counter
	allowed     prometheus.Counter // byOutcome[OutcomeAllowed], the common case, without a lookup
	duration    prometheus.Histogram
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
	// dbReads counts every database read verifications make: key loads
	// and background refreshes. The watcher's queries count apart.
	dbReads        prometheus.Counter
	watchQueries   prometheus.Counter
	staleAnswers   prometheus.Counter
	keySetRefusals prometheus.Counter
	databaseUp     prometheus.Gauge
	listening      prometheus.Gauge
}

// NewMetrics creates the metrics and registers them with reg (nil: none,
// for tests and tools).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyplane_verify_total", Help: "Verifications by outcome: allowed, would_<code> (allowed by a report-only restriction) or the error code.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "keyplane_verify_duration_seconds",
			Help:    "Time to decide a verification, in seconds.",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .05},
		}),
		cacheHits:   prometheus.NewCounter(prometheus.CounterOpts{Name: "keyplane_verify_cache_hits_total", Help: "Verifications answered from the key cache."}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{Name: "keyplane_verify_cache_misses_total", Help: "Verifications of keys not in the cache (or past its stale limit) that needed the database."}),
		dbReads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyplane_verify_db_reads_total", Help: "Database reads made to verify keys: loads of uncached keys and background refreshes of stale ones.",
		}),
		watchQueries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyplane_verify_watch_queries_total", Help: "Queries of the key-change watcher: catching up after a (re)connect or a SQLite change, and key-set rebuilds.",
		}),
		staleAnswers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyplane_verify_stale_answers_total", Help: "Verifications answered from a cache entry past its TTL while it was refreshed (or the database was down).",
		}),
		keySetRefusals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyplane_verify_keyset_refusals_total", Help: "Well-formed keys refused as unknown by the key-hash set, without a database read.",
		}),
		databaseUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keyplane_verify_database_up", Help: "1 while the data plane's last database read or ping succeeded.",
		}),
		listening: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keyplane_verify_key_changes_listening", Help: "1 while key change notices are heard (and the key-hash set is current).",
		}),
	}
	// Children looked up once: the hot path does no label hashing.
	m.byOutcome = map[string]prometheus.Counter{}
	for _, o := range []string{OutcomeAllowed, CodeUnauthorized, CodeRevoked, CodeExpired, CodeDisabled, CodeIPNotAllowed,
		CodeDomainNotAllowed, CodeAnonymous, CodeForbidden, CodeRateLimited, CodeQuotaExceeded, CodeUnavailable,
		WouldIPNotAllowed, WouldDomainNotAllowed, WouldAnonymous, WouldRateLimited, WouldForbidden, WouldQuotaExceeded} {
		m.byOutcome[o] = m.outcomes.WithLabelValues(o)
	}
	m.allowed = m.byOutcome[OutcomeAllowed]
	if reg != nil {
		reg.MustRegister(m.outcomes, m.duration, m.cacheHits, m.cacheMisses, m.dbReads, m.watchQueries, m.staleAnswers,
			m.keySetRefusals, m.databaseUp, m.listening)
	}
	return m
}

func (m *Metrics) observe(r Result, d time.Duration) {
	if r.Allowed && r.Would == "" {
		m.allowed.Inc()
	} else if c, ok := m.byOutcome[r.Outcome()]; ok {
		c.Inc()
	} else {
		m.outcomes.WithLabelValues(r.Outcome()).Inc()
	}
	m.duration.Observe(d.Seconds())
}
