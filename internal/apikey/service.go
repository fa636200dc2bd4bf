package apikey

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	"gorm.io/gorm"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/config"
	"keyplane/internal/quota"
	"keyplane/internal/store"
)

// Service creates, lists, edits, rotates and revokes an organization's keys.
// Every query is scoped by organization: another org's key is NotFound. Its
// methods join the transaction their ctx carries (store.DB.WithTx).
type Service struct {
	db       *store.DB
	now      func() time.Time
	rand     io.Reader
	def      Rules
	products func(slug string) (Rules, bool)
	// changed is called with a key's hash after it is revoked, edited or
	// rotated, so caches can drop it at once.
	changed func(keyHash []byte)
	// events queues webhook events; nil queues none.
	events Events
}

// Rules are a product's rules for its keys: its format, the settings its
// keys may have and how many active keys an organization may hold.
type Rules struct {
	Product string // its slug
	Format  Format
	Policy  Policy
	MaxKeys int
}

// DefaultProduct is the slug of the product the deployment's variables
// describe, to which keys without a product belong.
const DefaultProduct = "default"

// Options configure a Service.
type Options struct {
	// Prefix, MaxKeys and Policy are the default product's rules.
	Prefix  string
	MaxKeys int
	Policy  Policy
	// Products, when set, finds the rules of the other products by slug.
	Products func(slug string) (Rules, bool)
	Now      func() time.Time
	// Rand is the randomness of new keys; crypto/rand when nil.
	Rand io.Reader
	// Changed, when set, hears of every key whose verification may change.
	Changed func(keyHash []byte)
	// Events, when set, queues the webhook events of key changes inside
	// their transactions.
	Events Events
}

// ConfigOptions returns the Options the deployment's configuration
// describes: key prefix, limit, scope catalogue and public-key defaults.
func ConfigOptions(cfg config.Config) Options {
	names := make([]string, 0, len(cfg.Scopes))
	for _, sc := range cfg.Scopes {
		names = append(names, sc.Name)
	}
	return Options{
		Prefix:  cfg.KeyPrefix,
		MaxKeys: cfg.MaxKeysPerOrg,
		Policy: Policy{
			Scopes:             names,
			PublicRateLimit:    cfg.PublicRateLimit,
			PublicBlockMinutes: int((cfg.PublicBlock + time.Minute - 1) / time.Minute),
		},
	}
}

// NewService returns a key service.
func NewService(db *store.DB, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Changed == nil {
		o.Changed = func([]byte) {}
	}
	if o.Products == nil {
		o.Products = func(string) (Rules, bool) { return Rules{}, false }
	}
	def := Rules{Product: DefaultProduct, MaxKeys: o.MaxKeys, Policy: o.Policy}
	if f, err := DefaultFormat(o.Prefix); err == nil {
		def.Format = f
	}
	return &Service{db: db, now: o.Now, rand: o.Rand, def: def, products: o.Products, changed: o.Changed, events: o.Events}
}

// Policy returns the rules the default product's settings are validated
// against.
func (s *Service) Policy() Policy { return s.def.Policy }

// MaxKeys returns the default product's limit of active keys per
// organization.
func (s *Service) MaxKeys() int { return s.def.MaxKeys }

// Rules returns the rules of product slug ("" for the default), or
// Invalid naming the field product.
func (s *Service) Rules(slug string) (Rules, error) {
	if slug == "" || slug == DefaultProduct {
		return s.def, nil
	}
	if r, ok := s.products(slug); ok {
		return r, nil
	}
	return Rules{}, apperr.InvalidFields(map[string]string{"product": fmt.Sprintf("There is no product %q.", truncate(slug, 40))})
}

// Created is a new key and its plaintext, which exists only here: the caller
// shows it once and forgets it.
type Created struct {
	Key    Key
	Secret string
}

// ErrAlreadyCreated is returned when a form's single-use token was used
// before: a reload re-posted the form.
var ErrAlreadyCreated = apperr.New(apperr.Conflict, "This key was already created. For security it is shown only once; if you did not copy it, revoke it and create another.")

// LimitError is the Limit error of an organization with max active keys.
func LimitError(max int) error {
	return apperr.New(apperr.Limit, "This organization has reached its limit of %d active keys. Revoke a key you no longer use to create another.", max)
}

// activeScope selects the keys that count against the limit: not revoked,
// not past their deadline, not in a rotation grace period.
func activeScope(db *gorm.DB, now time.Time) *gorm.DB {
	return db.Where("revoked_at IS NULL AND replaced_by_id IS NULL AND (expires_at IS NULL OR expires_at > ?)", now)
}

// CountActive returns how many of orgID's keys of the default product
// count against its limit.
func (s *Service) CountActive(ctx context.Context, orgID string) (int, error) {
	counts, err := s.ActiveByProduct(ctx, orgID)
	return counts[DefaultProduct], err
}

// ActiveByProduct returns how many of orgID's keys of each product count
// against that product's limit, in one query; products without such keys
// are absent.
func (s *Service) ActiveByProduct(ctx context.Context, orgID string) (map[string]int, error) {
	var rows []struct {
		Product string
		N       int
	}
	err := activeScope(s.db.Conn(ctx).Model(&Key{}).Select("product, count(*) AS n").Where("org_id = ?", orgID), s.now().UTC()).
		Group("product").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("apikey: count: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.Product] = r.N
	}
	return out, nil
}

// Create validates in and stores a new key for orgID. formToken is the
// form's single-use token: a second create with it returns
// ErrAlreadyCreated. Returns Invalid for bad settings and Limit when the
// organization has MaxKeys active keys (parallel creates never exceed it),
// or ErrOrgDisabled.
func (s *Service) Create(ctx context.Context, orgID, formToken string, in Input, actor audit.Actor) (Created, error) {
	now := s.now().UTC()
	rules, err := s.Rules(in.Product)
	if err != nil {
		return Created{}, err
	}
	set, err := rules.Policy.Validate(in, now)
	if err != nil {
		return Created{}, err
	}
	var out Created
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		if err := s.lockActiveOrg(tx, orgID); err != nil {
			return err
		}
		if err := s.holdFormat(tx, rules); err != nil {
			return err
		}
		if err := formTokenUnused(tx, orgID, formToken); err != nil {
			return err
		}
		if err := checkOrgLifetime(tx, orgID, set.ExpiresAt, now); err != nil {
			return err
		}
		var active int64
		if err := activeScope(tx.Model(&Key{}).Where("org_id = ? AND product = ?", orgID, rules.Product), now).Count(&active).Error; err != nil {
			return fmt.Errorf("apikey: create: %w", err)
		}
		if int(active) >= rules.MaxKeys {
			return LimitError(rules.MaxKeys)
		}
		created, err := s.insert(tx, orgID, rules, set, formToken, nil, actor, now)
		if err != nil {
			return err
		}
		out = created
		s.announce(ctx, created.Key.KeyHash)
		if err := s.emit(ctx, audit.KeyCreated, created.Key, now, actor); err != nil {
			return err
		}
		return audit.Record(ctx, tx, now, orgID, actor, audit.KeyCreated, "api_key", created.Key.ID,
			fmt.Sprintf("%s created %s (%s)", actor.Name(), created.Key.Hint, created.Key.Description))
	})
	if err != nil {
		return Created{}, err
	}
	return out, nil
}

// holdFormat checks, inside tx, that rules' product still has the format
// the caller read (another server may have changed it a moment ago), and
// keeps it from changing until tx ends. The default product's format is
// the variables'.
func (s *Service) holdFormat(tx *gorm.DB, rules Rules) error {
	if rules.Product == DefaultProduct {
		return nil
	}
	var format string
	err := s.db.ForShare(tx.Table("products").Select("key_format").Where("slug = ?", rules.Product)).Take(&format).Error
	switch {
	case store.IsNotFound(err):
		return apperr.InvalidFields(map[string]string{"product": fmt.Sprintf("There is no product %q.", truncate(rules.Product, 40))})
	case err != nil:
		return fmt.Errorf("apikey: read product: %w", err)
	case format != rules.Format.String():
		return apperr.New(apperr.Conflict, "The product's key format changed a moment ago; try again.")
	}
	return nil
}

// formTokenUnused returns ErrAlreadyCreated when a key was already made
// from the form whose single-use token is token ("" for none).
func formTokenUnused(tx *gorm.DB, orgID, token string) error {
	if token == "" {
		return nil
	}
	var n int64
	if err := tx.Model(&Key{}).Where("org_id = ? AND form_token = ?", orgID, token).Count(&n).Error; err != nil {
		return fmt.Errorf("apikey: form token: %w", err)
	}
	if n > 0 {
		return ErrAlreadyCreated
	}
	return nil
}

// lockOrg serialises key creation per organization so the limit holds under
// concurrency: a row lock on PostgreSQL; SQLite transactions are already
// exclusive (immediate).
func (s *Service) lockOrg(tx *gorm.DB, orgID string) error {
	_, err := s.lockOrgState(tx, orgID)
	return err
}

// lockOrgState is lockOrg, and reports whether the organization is
// disabled.
func (s *Service) lockOrgState(tx *gorm.DB, orgID string) (disabled bool, err error) {
	var o struct {
		ID         string
		DisabledAt *time.Time
	}
	if err := s.db.ForUpdate(tx.Table("organizations").Select("id, disabled_at").Where("id = ?", orgID)).Take(&o).Error; err != nil {
		if store.IsNotFound(err) {
			return false, apperr.New(apperr.NotFound, "Organization not found.")
		}
		return false, fmt.Errorf("apikey: lock org: %w", err)
	}
	return o.DisabledAt != nil, nil
}

// ErrOrgDisabled refuses new keys in an organization an operator disabled:
// they would be refused on the data plane anyway.
var ErrOrgDisabled = apperr.New(apperr.Conflict, "This organization is disabled by the operator: its keys are refused, and no key can be added until it is enabled again.")

// lockActiveOrg is lockOrg for adding keys: ErrOrgDisabled when the
// organization is disabled.
func (s *Service) lockActiveOrg(tx *gorm.DB, orgID string) error {
	disabled, err := s.lockOrgState(tx, orgID)
	if err == nil && disabled {
		return ErrOrgDisabled
	}
	return err
}

func (s *Service) insert(tx *gorm.DB, orgID string, rules Rules, set Settings, formToken string, replaces *string, actor audit.Actor, now time.Time) (Created, error) {
	secret, err := rules.Format.Generate(s.rand, set.Kind, set.Environment)
	if err != nil {
		return Created{}, err
	}
	k := Key{
		ID: store.NewID(), OrgID: orgID, Product: rules.Product, Source: SourceGenerated, KeyHash: Hash(secret), Hint: Hint(secret),
		Description: set.Description, Kind: set.Kind, Environment: set.Environment,
		Scopes: set.Scopes, Domains: set.Domains, IPs: set.IPs,
		RateLimitPerMinute: set.RateLimitPerMinute, BlockMinutes: set.BlockMinutes, ExpiresAt: set.ExpiresAt,
		CreatedByEmail: actor.Label(), CreatedAt: now, UpdatedAt: now, ReplacesID: replaces,
	}
	if set.quotaID != nil {
		k.Columns, k.QuotaID = quota.ColumnsOf(set.Quota), set.quotaID
	} else {
		k.Columns = quota.ColumnsOf(nextQuota(nil, set.Quota, now))
	}
	k.setReportOnly(set.ReportOnly)
	if actor.UserID != "" {
		k.CreatedByID = &actor.UserID
	}
	if formToken != "" {
		k.FormToken = &formToken
	}
	if err := tx.Create(&k).Error; err != nil {
		if store.IsUniqueViolation(err) && formToken != "" {
			return Created{}, ErrAlreadyCreated
		}
		return Created{}, fmt.Errorf("apikey: insert: %w", err)
	}
	// Announced like a change, so every server's set of key hashes knows
	// the new key before anyone presents it.
	if err := s.recordChange(tx, k.KeyHash, now); err != nil {
		return Created{}, err
	}
	return Created{Key: k, Secret: secret}, nil
}

// Update changes a key's description, scopes, domains, IPs, expiry and rate
// limit; kind and environment stay. Returns NotFound, Invalid, or Conflict
// for a key that is revoked, expired or replaced.
func (s *Service) Update(ctx context.Context, orgID, id string, in Input, actor audit.Actor) (Key, error) {
	now := s.now().UTC()
	var out Key
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		k, err := s.get(tx, orgID, id)
		if err != nil {
			return err
		}
		if !k.Editable(now) {
			return apperr.New(apperr.Conflict, "This key is %s and can no longer be edited.", k.StatusAt(now))
		}
		in.Kind, in.Environment = string(k.Kind), string(k.Environment)
		rules, err := s.Rules(k.Product)
		if err != nil {
			return apperr.New(apperr.Conflict, "This key's product %q no longer exists; it cannot be edited.", k.Product)
		}
		set, err := rules.Policy.Validate(in, now)
		if err != nil {
			return err
		}
		// An expiry set to the minute (from the command line) survives an
		// edit that leaves its date alone.
		if k.ExpiresAt != nil && strings.TrimSpace(in.ExpiresAt) == ExpiryDate(*k.ExpiresAt) {
			set.ExpiresAt = k.ExpiresAt
		}
		if err := checkOrgLifetime(tx, orgID, set.ExpiresAt, now); err != nil {
			return err
		}
		k.Description, k.Scopes, k.Domains, k.IPs = set.Description, set.Scopes, set.Domains, set.IPs
		k.ExpiresAt, k.RateLimitPerMinute, k.BlockMinutes = set.ExpiresAt, set.RateLimitPerMinute, set.BlockMinutes
		prev := k.QuotaSpec()
		k.Columns = quota.ColumnsOf(nextQuota(prev, set.Quota, now))
		k.setReportOnly(set.ReportOnly)
		k.UpdatedAt = now
		upd := map[string]any{
			"description": k.Description, "scopes": k.Scopes, "domains": k.Domains, "ips": k.IPs,
			"expires_at": k.ExpiresAt, "rate_limit_per_minute": k.RateLimitPerMinute,
			"block_minutes": k.BlockMinutes, "updated_at": now,
		}
		cols := k.Columns.Map()
		if prev != nil && set.Quota != nil && prev.Kind == set.Quota.Kind && prev.Refill == set.Quota.Refill {
			// The period and its top-up stay: leaving them out of the
			// write keeps a top-up made meanwhile.
			delete(cols, "quota_anchor")
			delete(cols, "quota_topup")
			delete(cols, "quota_topup_period")
		}
		maps.Copy(upd, cols)
		maps.Copy(upd, reportOnlyMap(set.ReportOnly))
		res := tx.Model(&Key{}).Where("org_id = ? AND id = ? AND revoked_at IS NULL AND replaced_by_id IS NULL", orgID, id).Updates(upd)
		if res.Error != nil {
			return fmt.Errorf("apikey: update: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.Conflict, "This key was revoked or rotated meanwhile and can no longer be edited.")
		}
		out = k
		if err := s.emit(ctx, audit.KeyUpdated, k, now, actor); err != nil {
			return err
		}
		return s.noteChange(ctx, tx, now, actor, audit.KeyUpdated, k, "edited")
	})
	if err != nil {
		return Key{}, err
	}
	return out, nil
}

// Revoke ends a key for good. Returns NotFound, or Conflict when it is
// already revoked.
func (s *Service) Revoke(ctx context.Context, orgID, id string, actor audit.Actor) (Key, error) {
	now := s.now().UTC()
	var out Key
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		k, err := s.get(tx, orgID, id)
		if err != nil {
			return err
		}
		if k.RevokedAt != nil {
			return apperr.New(apperr.Conflict, "This key is already revoked.")
		}
		updates := map[string]any{"revoked_at": now, "updated_at": now}
		if actor.UserID != "" {
			updates["revoked_by_id"] = actor.UserID
		}
		res := tx.Model(&Key{}).Where("org_id = ? AND id = ? AND revoked_at IS NULL", orgID, id).Updates(updates)
		if res.Error != nil {
			return fmt.Errorf("apikey: revoke: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.Conflict, "This key is already revoked.")
		}
		k.RevokedAt = &now
		out = k
		if err := s.emit(ctx, audit.KeyRevoked, k, now, actor); err != nil {
			return err
		}
		return s.noteChange(ctx, tx, now, actor, audit.KeyRevoked, k, "revoked")
	})
	if err != nil {
		return Key{}, err
	}
	return out, nil
}

// IsAlreadyCreated reports whether err means a re-posted form.
func IsAlreadyCreated(err error) bool { return errors.Is(err, ErrAlreadyCreated) }
