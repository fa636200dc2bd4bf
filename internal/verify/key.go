// Package verify is the data plane's decision: is this API key, presented
// from this address and origin, allowed to do this now? It keeps keys in
// memory so a known key is decided without touching the database.
package verify

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"keyplane/internal/apikey"
	"keyplane/internal/config"
	"keyplane/internal/quota"
	"keyplane/internal/store"
)

// Key is what verification needs to know of an API key, parsed once when
// it is loaded.
type Key struct {
	ID          string
	OrgID       string
	Product     string // the product's slug
	OrgSlug     string
	OrgName     string
	Hint        string
	Description string
	Kind        apikey.Kind
	Environment apikey.Environment
	Scopes      []string
	// ScopeList is Scopes joined by spaces, as the identity header says it.
	ScopeList string
	Domains   []apikey.DomainPattern
	IPs       []netip.Prefix
	RateLimit int           // requests per minute; 0 means none
	Block     time.Duration // block after the limit is exceeded; 0 means none
	RevokedAt *time.Time
	Deadline  *time.Time
	// Disabled is set while the key, or its whole organization, is paused.
	Disabled    bool
	OrgDisabled bool
	CreatedAt   time.Time
	// Quota and OrgQuota are the key's own quota and its organization's,
	// with what the database held as spent when the key was loaded (nil:
	// none).
	Quota, OrgQuota *quota.Subject
	// Report holds the key's report-only restrictions, one bit each
	// (ReportIPs, ...); 0 when every restriction is enforced.
	Report Report
	// Identity holds the values of the identity headers forward-auth
	// answers (key id, org id, org slug, environment, scopes, product),
	// built once when the key is loaded, so answering allocates nothing.
	// Shared by every answer: never changed. Empty for a Key made by hand.
	Identity [6][]string
}

// ProductSlug is the slug of k's product: the default product's for a Key
// that names none.
func (k *Key) ProductSlug() string {
	if k.Product == "" {
		return apikey.DefaultProduct
	}
	return k.Product
}

// IdentityOf returns k's identity header values: k.Identity, or built now
// when k was made by hand.
func IdentityOf(k *Key) [6][]string {
	if k.Identity[0] != nil {
		return k.Identity
	}
	return [6][]string{{k.ID}, {k.OrgID}, {k.OrgSlug}, {string(k.Environment)}, {k.ScopeList}, {k.ProductSlug()}}
}

// HasScope reports whether the key grants scope; admin grants every scope.
func (k *Key) HasScope(scope string) bool {
	return slices.Contains(k.Scopes, scope) || slices.Contains(k.Scopes, config.ScopeAdmin)
}

// Products tells a key's product from its shape, without a database read.
type Products interface {
	// ProductOf returns the slug of the product whose format key has, and
	// the key's kind when its format or its product says ("" otherwise);
	// ok is false for a key of no product's format.
	ProductOf(key string) (slug string, kind apikey.Kind, ok bool)
}

// defaultProducts knows only the default product's format.
type defaultProducts struct{ format apikey.Format }

func (d defaultProducts) ProductOf(key string) (string, apikey.Kind, bool) {
	p, err := d.format.Parse(key)
	return apikey.DefaultProduct, p.Kind, err == nil
}

// ErrUnknownKey is returned by a Store for a hash no key has.
var ErrUnknownKey = errors.New("verify: unknown key")

// Store loads keys by the SHA-256 of their plaintext.
type Store interface {
	KeyByHash(ctx context.Context, hash []byte) (*Key, error)
}

// DBStore loads keys from Keyplane's database.
type DBStore struct {
	DB *store.DB
	// Now tells which quota periods are current; nil means time.Now.
	Now func() time.Time
}

type keyRow struct {
	apikey.Key
	OrgSlug       string
	OrgName       string
	OrgDisabledAt *time.Time
	// The organization's quota.
	OrgQuotaKind          *string
	OrgQuotaLimit         *int64
	OrgQuotaRefillSeconds *int
	OrgQuotaRefillAmount  *int64
	OrgQuotaAnchor        *time.Time
	OrgQuotaTopup         int64
	OrgQuotaTopupPeriod   *time.Time
	OrgQuotaReportOnly    bool
}

// orgQuota is the organization's quota of row, or nil.
func (row keyRow) orgQuota() *quota.Spec {
	s, ok := quota.Columns{
		QuotaKind: row.OrgQuotaKind, QuotaLimit: row.OrgQuotaLimit, QuotaRefillSeconds: row.OrgQuotaRefillSeconds,
		QuotaRefillAmount: row.OrgQuotaRefillAmount,
		QuotaAnchor:       row.OrgQuotaAnchor, QuotaTopup: row.OrgQuotaTopup, QuotaTopupPeriod: row.OrgQuotaTopupPeriod,
	}.Spec()
	if !ok {
		return nil
	}
	return &s
}

// KeyByHash returns the key whose hash is hash, or ErrUnknownKey. For a
// key with a quota (its own or its organization's) it also reads what the
// current periods have spent so far.
func (s DBStore) KeyByHash(ctx context.Context, hash []byte) (*Key, error) {
	var row keyRow
	db := s.DB.WithContext(ctx)
	err := db.Table("api_keys AS k").
		Select("k.*, o.slug AS org_slug, o.name AS org_name, o.disabled_at AS org_disabled_at, "+
			"o.quota_kind AS org_quota_kind, o.quota_limit AS org_quota_limit, "+
			"o.quota_refill_seconds AS org_quota_refill_seconds, o.quota_refill_amount AS org_quota_refill_amount, "+
			"o.quota_anchor AS org_quota_anchor, "+
			"o.quota_topup AS org_quota_topup, o.quota_topup_period AS org_quota_topup_period, "+
			"o.quota_report_only AS org_quota_report_only").
		Joins("JOIN organizations AS o ON o.id = k.org_id").
		Where("k.key_hash = ?", hash).
		Take(&row).Error
	if store.IsNotFound(err) {
		return nil, ErrUnknownKey
	}
	if err != nil {
		return nil, fmt.Errorf("verify: load key: %w", err)
	}
	k := fromRow(row)
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	if err := loadSpent(db, now, k.Quota, k.OrgQuota); err != nil {
		return nil, err
	}
	return k, nil
}

// loadSpent reads what the current periods of subjects (nil ones skipped)
// have spent, as the database holds it.
func loadSpent(db *gorm.DB, now time.Time, subjects ...*quota.Subject) error {
	pairs := map[string]time.Time{}
	for _, s := range subjects {
		if s != nil {
			s.SpentPeriod, _ = s.Spec.Period(now)
			pairs[s.ID] = s.SpentPeriod
		}
	}
	spent, err := apikey.ReadSpent(db, pairs)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	for _, s := range subjects {
		if s != nil {
			s.Spent = spent[s.ID]
		}
	}
	return nil
}

func fromRow(row keyRow) *Key {
	k := &Key{
		ID: row.ID, OrgID: row.OrgID, Product: row.Product, OrgSlug: row.OrgSlug, OrgName: row.OrgName, Hint: row.Hint,
		Description: row.Description, Kind: row.Kind, Environment: row.Environment, Scopes: row.Scopes,
		ScopeList: strings.Join(row.Scopes, " "),
		RevokedAt: row.RevokedAt, Deadline: row.Deadline(), CreatedAt: row.CreatedAt,
		Disabled: row.DisabledAt != nil || row.OrgDisabledAt != nil, OrgDisabled: row.OrgDisabledAt != nil,
	}
	for _, d := range row.Domains {
		if p, err := apikey.ParseDomainPattern(d); err == nil {
			k.Domains = append(k.Domains, p)
		}
	}
	for _, ip := range row.IPs {
		if p, err := netip.ParsePrefix(ip); err == nil {
			k.IPs = append(k.IPs, p)
		}
	}
	if row.RateLimitPerMinute != nil {
		k.RateLimit = *row.RateLimitPerMinute
	}
	if row.BlockMinutes != nil {
		k.Block = time.Duration(*row.BlockMinutes) * time.Minute
	}
	if spec := row.QuotaSpec(); spec != nil {
		k.Quota = &quota.Subject{ID: row.QuotaSubject(), Spec: *spec}
	}
	if spec := row.orgQuota(); spec != nil {
		k.OrgQuota = &quota.Subject{ID: row.OrgID, Spec: *spec}
	}
	k.Report = reportOf(row.ReportOnly(), row.OrgQuotaReportOnly)
	k.Identity = IdentityOf(k)
	return k
}
