package org

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/store"
)

// SetRequireTwoFactor requires two-factor sign-in of every member of orgID,
// or stops requiring it, and records the change. Asking for the setting the
// organization already has changes and records nothing. Admins of the
// organization only; the caller checks that an admin turning it on has
// two-factor themselves. Returns NotFound for an unknown organization.
func (s *Service) SetRequireTwoFactor(ctx context.Context, orgID string, require bool, actor audit.Actor) error {
	return s.setSetting(ctx, orgID, "require_two_factor", require, actor, func(o Organization) string {
		if require {
			return fmt.Sprintf("%s required two-factor sign-in of every member of %s", actor.Name(), o.Name)
		}
		return fmt.Sprintf("%s stopped requiring two-factor sign-in of the members of %s", actor.Name(), o.Name)
	})
}

// setSetting sets column of orgID to value and records summary(o) as an
// org.settings_changed event, in one transaction; a column that holds the
// value already changes and records nothing. Returns NotFound for an
// unknown organization.
func (s *Service) setSetting(ctx context.Context, orgID, column string, value any, actor audit.Actor, summary func(Organization) string) error {
	if !store.ValidID(orgID) {
		return apperr.New(apperr.NotFound, "Organization not found.")
	}
	return s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		var o Organization
		if err := tx.Where("id = ?", orgID).Take(&o).Error; err != nil {
			if store.IsNotFound(err) {
				return apperr.New(apperr.NotFound, "Organization not found.")
			}
			return fmt.Errorf("org: settings: %w", err)
		}
		res := tx.Model(&Organization{}).Where("id = ? AND "+column+" <> ?", orgID, value).
			Updates(map[string]any{column: value, "updated_at": s.now().UTC()})
		if res.Error != nil {
			return fmt.Errorf("org: settings: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		return audit.Record(ctx, tx, s.now(), orgID, actor, audit.OrgSettingsChanged, "org", orgID, summary(o))
	})
}

// Leak policies (apikey.LeakPolicy names them for the keys they act on).
const (
	LeakNotify  = "notify"
	LeakDisable = "disable"
)

// SetLeakPolicy sets what happens to orgID's keys found in public: notify
// (flag them) or disable (flag them and disable private keys at once), and
// records the change. Setting the policy the organization already has
// changes and records nothing. Admins of the organization only. Returns
// Invalid for another policy, NotFound for an unknown organization.
func (s *Service) SetLeakPolicy(ctx context.Context, orgID, policy string, actor audit.Actor) error {
	if policy != LeakNotify && policy != LeakDisable {
		return apperr.InvalidFields(map[string]string{"leak_policy": "Choose what happens to a key found in public."})
	}
	return s.setSetting(ctx, orgID, "leak_policy", policy, actor, func(o Organization) string {
		if policy == LeakDisable {
			return fmt.Sprintf("%s set the leak policy of %s: private keys found in public are disabled at once", actor.Name(), o.Name)
		}
		return fmt.Sprintf("%s set the leak policy of %s: keys found in public are flagged", actor.Name(), o.Name)
	})
}

// KeyPolicy is an organization's rules for the lifecycle of its keys.
type KeyPolicy struct {
	// MaxLifetimeDays is how long new, rotated and edited keys may live:
	// they must expire within that many days. 0 for no limit (the default).
	MaxLifetimeDays int
	// IdleDays is how long a key may go unused before it is flagged idle
	// (and announced by key.idle). 0 never flags keys; DefaultIdleDays for
	// a new organization.
	IdleDays int
	// IdleDisable also disables a key when it becomes idle.
	IdleDisable bool
}

// Bounds of the key policies.
const (
	MaxPolicyDays   = 3650
	DefaultIdleDays = 90
)

// ParsePolicyDays reads a number of days typed into a policy field: "" is
// 0 (off); otherwise a whole number from 1 to MaxPolicyDays, or the
// message saying what to type.
func ParsePolicyDays(s string) (int, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, ""
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxPolicyDays {
		return 0, fmt.Sprintf("Enter a whole number of days from 1 to %d, or leave it empty to turn it off.", MaxPolicyDays)
	}
	return n, ""
}

// Validate returns Invalid naming the fields max_key_lifetime_days,
// idle_days and idle_disable when p is out of bounds.
func (p KeyPolicy) Validate() error {
	msg := fmt.Sprintf("Enter a whole number of days from 1 to %d, or leave it empty to turn it off.", MaxPolicyDays)
	fields := map[string]string{}
	if p.MaxLifetimeDays < 0 || p.MaxLifetimeDays > MaxPolicyDays {
		fields["max_key_lifetime_days"] = msg
	}
	if p.IdleDays < 0 || p.IdleDays > MaxPolicyDays {
		fields["idle_days"] = msg
	}
	if p.IdleDisable && p.IdleDays == 0 {
		fields["idle_disable"] = "Set an idle period to disable keys when they become idle."
	}
	if len(fields) > 0 {
		return apperr.InvalidFields(fields)
	}
	return nil
}

// policyRow is the organization's policy columns; NULL is off.
type policyRow struct {
	Name               string
	MaxKeyLifetimeDays *int
	IdleDays           *int
	IdleDisable        bool
}

func (r policyRow) policy() KeyPolicy {
	var p KeyPolicy
	if r.MaxKeyLifetimeDays != nil {
		p.MaxLifetimeDays = *r.MaxKeyLifetimeDays
	}
	if r.IdleDays != nil {
		p.IdleDays = *r.IdleDays
	}
	p.IdleDisable = r.IdleDisable
	return p
}

func (s *Service) policyRow(tx *gorm.DB, orgID string) (policyRow, error) {
	var r policyRow
	if !store.ValidID(orgID) {
		return r, apperr.New(apperr.NotFound, "Organization not found.")
	}
	err := tx.Table("organizations").Select("name, max_key_lifetime_days, idle_days, idle_disable").Where("id = ?", orgID).Take(&r).Error
	switch {
	case store.IsNotFound(err):
		return r, apperr.New(apperr.NotFound, "Organization not found.")
	case err != nil:
		return r, fmt.Errorf("org: key policy: %w", err)
	}
	return r, nil
}

// KeyPolicy returns orgID's key policy. Members may read it (the keys
// pages show what it flags). Returns NotFound for an unknown organization.
func (s *Service) KeyPolicy(ctx context.Context, orgID string) (KeyPolicy, error) {
	r, err := s.policyRow(s.db.Conn(ctx), orgID)
	return r.policy(), err
}

// SetKeyPolicy sets orgID's key policy and records the change with a
// summary of the new policy; setting the policy it already has changes
// and records nothing (changed is false). It never changes a key: keys
// beyond a new maximum lifetime keep working (apikey.Service.BeyondLifetime
// lists them), and idle keys are disabled, when asked, by the lifecycle
// job. Admins of the organization only. Returns Invalid (see Validate) or
// NotFound.
func (s *Service) SetKeyPolicy(ctx context.Context, orgID string, p KeyPolicy, actor audit.Actor) (changed bool, err error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		old, err := s.policyRow(s.db.ForUpdate(tx), orgID)
		if err != nil {
			return err
		}
		if old.policy() == p {
			return nil
		}
		res := tx.Table("organizations").Where("id = ?", orgID).Updates(map[string]any{
			"max_key_lifetime_days": nullDays(p.MaxLifetimeDays), "idle_days": nullDays(p.IdleDays),
			"idle_disable": p.IdleDisable, "updated_at": s.now().UTC(),
		})
		if res.Error != nil {
			return fmt.Errorf("org: key policy: %w", res.Error)
		}
		changed = true
		summary := fmt.Sprintf("%s set the key policies of %s: %s", actor.Name(), old.Name, p.Summary())
		return audit.Record(ctx, tx, s.now(), orgID, actor, audit.OrgSettingsChanged, "org", orgID, summary)
	})
	return changed, err
}

// Summary says the policy in words, as the audit log records it.
func (p KeyPolicy) Summary() string {
	var parts []string
	if p.MaxLifetimeDays > 0 {
		parts = append(parts, fmt.Sprintf("keys must expire within %s", days(p.MaxLifetimeDays)))
	} else {
		parts = append(parts, "no maximum key lifetime")
	}
	switch {
	case p.IdleDays > 0 && p.IdleDisable:
		parts = append(parts, fmt.Sprintf("keys unused for %s are flagged idle and disabled", days(p.IdleDays)))
	case p.IdleDays > 0:
		parts = append(parts, fmt.Sprintf("keys unused for %s are flagged idle", days(p.IdleDays)))
	default:
		parts = append(parts, "keys are never flagged idle")
	}
	return strings.Join(parts, "; ")
}

func days(n int) string {
	if n == 1 {
		return "1 day"
	}
	return strconv.Itoa(n) + " days"
}

func nullDays(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

// LeakPolicyOf returns orgID's leak policy (LeakNotify or LeakDisable).
// Returns NotFound for an unknown organization.
func (s *Service) LeakPolicyOf(ctx context.Context, orgID string) (string, error) {
	if !store.ValidID(orgID) {
		return "", apperr.New(apperr.NotFound, "Organization not found.")
	}
	var policy string
	err := s.db.Conn(ctx).Table("organizations").Where("id = ?", orgID).Select("leak_policy").Row().Scan(&policy)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", apperr.New(apperr.NotFound, "Organization not found.")
	case err != nil:
		return "", fmt.Errorf("org: leak policy: %w", err)
	}
	return policy, nil
}
