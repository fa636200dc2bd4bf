package apikey

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
)

// QuietPeriod is how long a rotated key under the quiet-hour rule must
// have had no request before its grace period ends early.
const QuietPeriod = time.Hour

// QuietActor is who ends a grace period under the quiet-hour rule, in the
// audit log and in webhook events.
var QuietActor = audit.Actor{Program: "the rotation's quiet-hour rule"}

// eventKeyExpired is the webhook event of a key that stopped working on
// its own.
const eventKeyExpired = "key.expired"

// quietBatch bounds the keys one pass of EndQuietGraces looks at; the
// next pass takes the rest.
const quietBatch = 500

// QuietSince returns when the quiet hour of key k, rotated under the
// quiet-hour rule, began: the later of the rotation and its last request;
// ok is false when k is not under the rule.
func (k Key) QuietSince() (since time.Time, ok bool) {
	if k.GraceQuietFrom == nil {
		return time.Time{}, false
	}
	since = *k.GraceQuietFrom
	if k.LastUsedAt != nil && k.LastUsedAt.After(since) {
		since = *k.LastUsedAt
	}
	return since, true
}

// EndQuietGraces ends the grace period of every rotated key whose
// rotation asked for the quiet-hour rule and which has had no request for
// QuietPeriod (counted from the later of its last request and the
// rotation), as EndGrace does: it stops working on every server within a
// second, the audit log records QuietActor, and key.expired is queued.
// A key whose successor no longer works is left to its deadline. Several
// servers may run it at once: each grace is ended by exactly one of them.
// Returns how many grace periods this call ended.
func (s *Service) EndQuietGraces(ctx context.Context) (int, error) {
	now := s.now().UTC()
	quiet := now.Add(-QuietPeriod)
	var due []struct {
		OrgID        string
		ReplacedByID string
	}
	err := s.db.Conn(ctx).Model(&Key{}).Select("org_id, replaced_by_id").
		Where("grace_quiet_from IS NOT NULL AND grace_until > ? AND revoked_at IS NULL AND replaced_by_id IS NOT NULL", now).
		Where("grace_quiet_from <= ? AND (last_used_at IS NULL OR last_used_at <= ?)", quiet, quiet).
		Order("grace_until").Limit(quietBatch).Scan(&due).Error
	if err != nil {
		return 0, fmt.Errorf("apikey: quiet graces: %w", err)
	}
	n := 0
	for _, d := range due {
		_, err := s.endGrace(ctx, d.OrgID, d.ReplacedByID, QuietActor, &quiet)
		switch {
		case err == nil:
			n++
		case apperr.Is(err, apperr.Conflict), apperr.Is(err, apperr.NotFound):
			// Another server ended it, a request came meanwhile, or the
			// new key stopped working: nothing to do here.
		default:
			return n, err
		}
	}
	return n, nil
}

// RunQuietGraces runs EndQuietGraces every interval until ctx ends, each
// pass bounded by timeout; failures are logged and retried at the next
// pass.
func (s *Service) RunQuietGraces(ctx context.Context, every, timeout time.Duration, logger *slog.Logger) {
	if logger == nil {
		logger = slog.Default()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pass, cancel := context.WithTimeout(ctx, timeout)
		n, err := s.EndQuietGraces(pass)
		cancel()
		if err != nil && ctx.Err() == nil {
			logger.Warn("apikey: ending quiet grace periods failed; will retry", "err", err)
		} else if n > 0 {
			logger.Info("apikey: ended grace periods of rotated keys quiet for an hour", "keys", n)
		}
	}
}
