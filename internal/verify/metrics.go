package verify

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the data plane's Prometheus metrics.
type Metrics struct {
	outcomes    *prometheus.CounterVec
	byOutcome   map[string]prometheus.Counter
	duration    prometheus.Histogram
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg (nil: none,
// for tests and tools).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyplane_verify_total", Help: "Verifications by outcome: allowed or the error code.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "keyplane_verify_duration_seconds",
			Help:    "Time to decide a verification, in seconds.",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .05},
		}),
		cacheHits:   prometheus.NewCounter(prometheus.CounterOpts{Name: "keyplane_verify_cache_hits_total", Help: "Verifications answered from the key cache."}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{Name: "keyplane_verify_cache_misses_total", Help: "Verifications that read the database."}),
	}
	// Children looked up once: the hot path does no label hashing.
	m.byOutcome = map[string]prometheus.Counter{}
	for _, o := range []string{OutcomeAllowed, CodeUnauthorized, CodeRevoked, CodeExpired, CodeIPNotAllowed,
		CodeDomainNotAllowed, CodeAnonymous, CodeForbidden, CodeRateLimited, CodeUnavailable} {
		m.byOutcome[o] = m.outcomes.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.outcomes, m.duration, m.cacheHits, m.cacheMisses)
	}
	return m
}

func (m *Metrics) observe(r Result, d time.Duration) {
	if c, ok := m.byOutcome[r.Outcome()]; ok {
		c.Inc()
	} else {
		m.outcomes.WithLabelValues(r.Outcome()).Inc()
	}
	m.duration.Observe(d.Seconds())
}
