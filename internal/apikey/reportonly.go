package apikey

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/store"
)

// SetReportOnly switches restriction r of key keyID of orgID to report
// only (on) or to enforce, within a second on every server. It writes r's
// column alone, so two admins switching two restrictions of one key at
// once both get their way; switching to the mode a restriction already
// has changes nothing and records nothing. Admins (or a key with
// keys:manage) only: the caller checks. Returns Invalid for an unknown
// restriction, NotFound, or Conflict for a key that is revoked, expired or
// replaced by a rotation.
func (s *Service) SetReportOnly(ctx context.Context, orgID, keyID string, r Restriction, on bool, actor audit.Actor) (Key, error) {
	if _, ok := ParseRestriction(string(r)); !ok {
		return Key{}, apperr.InvalidFields(map[string]string{"restriction": fmt.Sprintf("Unknown restriction %q: use ips, domains, rate_limit, scopes or quota.", truncate(string(r), 40))})
	}
	if !store.ValidID(keyID) {
		return Key{}, apperr.New(apperr.NotFound, "API key not found.")
	}
	now := s.now().UTC()
	var out Key
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		// One statement decides: the row as it is when the write lands, not
		// as a read before it saw it. A concurrent switch of another
		// column waits for this one and keeps it.
		res := tx.Model(&Key{}).
			Where("org_id = ? AND id = ? AND revoked_at IS NULL AND replaced_by_id IS NULL AND (expires_at IS NULL OR expires_at > ?)", orgID, keyID, now).
			Where(r.Column()+" <> ?", on).
			Updates(map[string]any{r.Column(): on, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("apikey: switch %s: %w", r, res.Error)
		}
		k, err := s.get(tx, orgID, keyID)
		if err != nil {
			return err
		}
		out = k
		if res.RowsAffected == 0 {
			if !k.Editable(now) {
				return apperr.New(apperr.Conflict, "This key is %s and can no longer be changed.", k.StatusAt(now))
			}
			return nil // already in that mode
		}
		return s.noteSwitch(ctx, tx, now, actor, k, r, on)
	})
	if err != nil {
		return Key{}, err
	}
	return out, nil
}

// noteSwitch records, inside tx, that restriction r of key k was switched:
// the change notice every server reloads k on, the webhook event and the
// audit log ("alice@example.com switched the IP allowlist of kp_sk_live_…a9Qz
// (Billing) to enforce").
func (s *Service) noteSwitch(ctx context.Context, tx *gorm.DB, now time.Time, actor audit.Actor, k Key, r Restriction, on bool) error {
	if err := s.recordChange(tx, k.KeyHash, now); err != nil {
		return err
	}
	s.announce(ctx, k.KeyHash)
	if err := s.emit(ctx, audit.KeyUpdated, k, now, actor); err != nil {
		return err
	}
	action, mode := audit.KeyRestrictionEnforced, "enforce"
	if on {
		action, mode = audit.KeyRestrictionReportOnly, "report only"
	}
	return audit.Record(ctx, tx, now, k.OrgID, actor, action, "api_key", k.ID,
		fmt.Sprintf("%s switched %s of %s (%s) to %s", actor.Name(), r.Phrase(), k.Hint, k.Description, mode))
}

// Phrase is r inside a sentence: "the IP allowlist".
func (r Restriction) Phrase() string {
	switch r {
	case RestrictIPs:
		return "the IP allowlist"
	case RestrictDomains:
		return "the allowed domains"
	case RestrictRateLimit:
		return "the rate limit"
	case RestrictScopes:
		return "the scopes"
	case RestrictQuota:
		return "the quota"
	}
	return string(r)
}

// Has reports whether key k has restriction r at all: an IP allowlist,
// allowed domains (public keys, whose origins are checked), a rate
// limit, or its own quota. Every key has scopes (none is a restriction
// too).
func (k Key) Has(r Restriction) bool {
	switch r {
	case RestrictIPs:
		return len(k.IPs) > 0
	case RestrictDomains:
		return k.Kind == Public && len(k.Domains) > 0
	case RestrictRateLimit:
		return k.RateLimitPerMinute != nil
	case RestrictScopes:
		return true
	case RestrictQuota:
		return k.QuotaSpec() != nil
	}
	return false
}
