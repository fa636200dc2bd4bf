package usage

import (
	"context"
	"fmt"
	"time"

	"keyplane/internal/store"
)

// Shutdown is the final flush, for after the last Record: it writes what
// is gathered as one batch with an id of its own, retried with a short
// backoff, each attempt with its own deadline, until ctx ends. What is
// still unwritten then goes, under the same id, to a spill file in
// SpillDir for Replay, so a batch whose commit went through unconfirmed is
// not counted twice. ctx should carry a deadline. Shutdown returns an error
// only when counts were lost: no SpillDir, or the file could not be
// written (they are then kept in memory).
func (r *Recorder) Shutdown(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	for ctx.Err() == nil {
		b := r.take()
		if b.empty() {
			return nil
		}
		id := store.NewID()
		if err := r.writeRetrying(ctx, b, id); err != nil {
			return r.spillLeft(b, id, err)
		}
	}
	return r.spillLeft(batch{}, "", ctx.Err())
}

// writeRetrying writes b under id until it succeeds or ctx ends.
func (r *Recorder) writeRetrying(ctx context.Context, b batch, id string) error {
	backoff, limit := finalBackoff, finalAttempt
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, limit)
		start := time.Now()
		_, err := r.write(actx, b, id)
		r.flushDuration.Observe(time.Since(start).Seconds())
		timedOut := actx.Err() != nil
		cancel()
		if err == nil {
			if attempt > 1 {
				r.logger.Info("usage: final flush written", "attempts", attempt)
			}
			return nil
		}
		r.flushErrors.Inc()
		r.logger.Warn("usage: final flush failed; retrying until the shutdown deadline", "attempt", attempt, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff = min(2*backoff, finalBackoffMax)
		if timedOut {
			limit *= 2
		}
	}
}

// spillLeft writes b (under id) and whatever was recorded meanwhile (under
// an id of its own) to spill files, after the final flush failed with
// cause.
func (r *Recorder) spillLeft(b batch, id string, cause error) error {
	for _, s := range []struct {
		b  batch
		id string
	}{{b, id}, {r.take(), store.NewID()}} {
		if s.b.empty() {
			continue
		}
		if r.SpillDir == "" {
			r.putBack(s.b)
			return fmt.Errorf("usage: final flush: no spill dir: %w", cause)
		}
		path, err := writeSpill(r.SpillDir, s.id, s.b)
		if err != nil {
			r.putBack(s.b)
			return fmt.Errorf("usage: final flush: %w (after %w)", err, cause)
		}
		n := s.b.requests()
		r.spilled.Add(float64(n))
		r.logger.Warn("usage: database unreachable at shutdown; counts spilled to disk, to be written at the next start",
			"file", path, "requests", n, "counters", len(s.b.counts), "err", cause)
	}
	return nil
}
