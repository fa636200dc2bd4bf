package apikey

import (
	"context"
	"fmt"

	"keyplane/internal/audit"
	"keyplane/internal/store"
)

// LeakPolicy is what an organization does with a key found in public,
// beyond flagging it and telling its admins.
type LeakPolicy string

// The leak policies.
const (
	// LeakNotify flags the key; it keeps working until someone acts.
	LeakNotify LeakPolicy = "notify"
	// LeakDisable also disables a private key at once. Public keys, which
	// are public by design, are flagged but never disabled.
	LeakDisable LeakPolicy = "disable"
)

// LeakPolicies lists the policies, the default first.
var LeakPolicies = []LeakPolicy{LeakNotify, LeakDisable}

// Leak is a report that a key was found in public.
type Leak struct {
	// URL is where it was found ("" when the report says nowhere); kept
	// as text, shown as text, never fetched.
	URL string
	// Source names who found it: "GitHub secret scanning", or the
	// platform's own scanner.
	Source string
}

// maxLeakURL bounds the stored URL.
const maxLeakURL = 2000

// Leaked is what a leak report did to one key.
type Leaked struct {
	Key Key
	// First is set when this report flagged the key; a key reported again
	// keeps its first report and changes nothing.
	First bool
	// Disabled is set when the organization's policy disabled the key.
	Disabled bool
}

// ReportLeak records that the key whose SHA-256 is hash was found in
// public, whatever its organization: it flags the key (its page and row
// say where and when), records key.leaked in the audit log and applies the
// organization's leak policy, under which a private key stops working on
// every server within a second. ok is false, and nothing changes, for a
// hash of no key or of a revoked key. For the secret scanning endpoint and
// the operator API only: it is not scoped to an organization.
func (s *Service) ReportLeak(ctx context.Context, hash []byte, leak Leak, actor audit.Actor) (out Leaked, ok bool, err error) {
	now := s.now().UTC()
	leak.URL = store.Text(leak.URL, maxLeakURL)
	leak.Source = store.Text(leak.Source, 100)
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		var k Key
		res := tx.Where("key_hash = ? AND revoked_at IS NULL", hash).Limit(1).Find(&k)
		if res.Error != nil {
			return fmt.Errorf("apikey: report leak: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		ok, out.Key = true, k
		if k.LeakedAt != nil {
			return nil
		}
		res = tx.Model(&Key{}).Where("id = ? AND leaked_at IS NULL", k.ID).
			Updates(map[string]any{"leaked_at": now, "leaked_url": leak.URL, "leaked_source": leak.Source, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("apikey: report leak: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return nil // another report flagged it meanwhile
		}
		k.LeakedAt, k.LeakedURL, k.LeakedSource, k.UpdatedAt = &now, leak.URL, leak.Source, now
		out.First = true
		where := ""
		if leak.URL != "" {
			where = " at " + leak.URL
		}
		summary := fmt.Sprintf("%s found %s (%s) in public%s", actor.Name(), k.Hint, k.Description, where)
		if err := audit.Record(ctx, tx, now, k.OrgID, actor, audit.KeyLeaked, "api_key", k.ID, summary); err != nil {
			return err
		}
		if err := s.emit(ctx, audit.KeyLeaked, k, now, actor); err != nil {
			return err
		}
		var policy LeakPolicy
		if err := tx.Table("organizations").Where("id = ?", k.OrgID).Select("leak_policy").Row().Scan(&policy); err != nil {
			return fmt.Errorf("apikey: leak policy: %w", err)
		}
		if policy != LeakDisable || k.Kind == Public || canSetDisabled(k, true, now) != nil {
			out.Key = k
			return nil
		}
		res = tx.Model(&Key{}).Where("id = ? AND disabled_at IS NULL", k.ID).
			Updates(map[string]any{"disabled_at": now, "disabled_by_id": nil, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("apikey: leak policy: disable: %w", res.Error)
		}
		k.DisabledAt, k.DisabledByID = &now, nil
		out.Key, out.Disabled = k, true
		policyActor := audit.Actor{Program: "the leak policy"}
		if err := s.noteChange(ctx, tx, now, policyActor, audit.KeyDisabled, k, "disabled, as it was found in public,"); err != nil {
			return err
		}
		return s.emit(ctx, audit.KeyDisabled, k, now, policyActor)
	})
	if err != nil {
		return Leaked{}, false, err
	}
	return out, ok, nil
}
