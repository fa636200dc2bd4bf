package verify

import (
	"context"
	"sync/atomic"
	"time"
)

// How the data plane watches its database: a ping that fails (or times
// out) marks it down; while down, one probe per probeEvery may try it (a
// request's read or the monitor's ping) and every other read fails at
// once, so no request waits on a dead database for a key it does not have.
// A failed read only asks for a ping now: one slow query is no outage.
const (
	probeEvery   = 250 * time.Millisecond
	monitorEvery = 500 * time.Millisecond
	pingTimeout  = 400 * time.Millisecond
)

// health is the database's state as the data plane last saw it.
type health struct {
	down      atomic.Bool
	nextProbe atomic.Int64 // Unix nanoseconds of the next allowed try while down
	failures  atomic.Uint64
}

// allow reports whether a database read may be tried at now: always while
// up; while down, once per probeEvery (the caller's read is the probe).
func (h *health) allow(now time.Time) bool {
	if !h.down.Load() {
		return true
	}
	next := h.nextProbe.Load()
	if now.UnixNano() < next {
		return false
	}
	return h.nextProbe.CompareAndSwap(next, now.Add(probeEvery).UnixNano())
}

// fail records a failed read or ping at now, and reports whether it is news
// (the database was up until now).
func (h *health) fail(now time.Time) bool {
	h.failures.Add(1)
	h.nextProbe.Store(now.Add(probeEvery).UnixNano())
	return !h.down.Swap(true)
}

// ok records a read or ping that succeeded, and reports whether it is news.
func (h *health) ok() bool { return h.down.Swap(false) }

// Pinger is what the monitor asks whether the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Monitor pings the database every half second (every quarter second while
// it is down, and at once when a read failed) with a short deadline, until
// ctx ends: an outage is noticed within a second even without traffic, and
// the database's return within a quarter of one.
func (v *Verifier) Monitor(ctx context.Context, db Pinger) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-v.probeNow:
			t.Stop()
		}
		if v.health.allow(v.now()) {
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err := db.Ping(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			v.noteDatabase(err)
		}
		if v.health.down.Load() {
			t.Reset(probeEvery)
		} else {
			t.Reset(monitorEvery)
		}
	}
}

// probeSoon asks Monitor for a ping now (a read just failed).
func (v *Verifier) probeSoon() {
	select {
	case v.probeNow <- struct{}{}:
	default:
	}
}

// noteDatabase records the outcome of a ping (or a read that succeeded),
// and logs a change of state.
func (v *Verifier) noteDatabase(err error) {
	if err != nil {
		if v.health.fail(v.now()) {
			v.metrics.databaseUp.Set(0)
			v.logger.Warn("verify: database unreachable; cached keys answer from memory, uncached keys get 503", "err", err)
		}
		return
	}
	if v.health.ok() {
		v.metrics.databaseUp.Set(1)
		v.logger.Info("verify: database reachable again")
	}
}

// Ready returns nil while the data plane's database answers and, when
// change notices are watched, while they are heard; else why not.
func (v *Verifier) Ready() error {
	if v.health.down.Load() {
		return errDatabaseDown
	}
	if v.watching.Load() && !v.listening.Load() {
		return errNotListening
	}
	return nil
}
