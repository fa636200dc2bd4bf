package product

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/config"
	"keyplane/internal/store"
)

// row is a product as stored.
type row struct {
	Slug               string `gorm:"primaryKey"`
	Name               string
	KeyFormat          string
	Lead               string
	Scopes             string
	RouteScopes        string
	PublicKeys         bool
	MaxKeysPerOrg      int
	PublicRateLimit    int
	PublicBlockMinutes int
	APIURL             string `gorm:"column:api_url"`
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

func (row) TableName() string { return "products" }

func toRow(p Product) row {
	return row{
		Slug: p.Slug, Name: p.Name, KeyFormat: p.Format.String(), Lead: p.Format.Lead(),
		Scopes: formatScopes(p.Scopes), RouteScopes: formatRouteScopes(p.RouteScopes), PublicKeys: p.PublicKeys,
		MaxKeysPerOrg: p.MaxKeysPerOrg, PublicRateLimit: p.PublicRateLimit,
		PublicBlockMinutes: int(p.PublicBlock / time.Minute), APIURL: p.APIURL, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
}

// fromRow reads a stored product; a row that no longer validates (edited
// by hand) is an error.
func fromRow(r row) (Product, error) {
	f, err := apikey.ParseFormat(r.KeyFormat)
	if err != nil {
		return Product{}, fmt.Errorf("product %s: key format: %w", r.Slug, err)
	}
	scopes, err := config.ParseScopes(r.Scopes)
	if err != nil {
		return Product{}, fmt.Errorf("product %s: scopes: %w", r.Slug, err)
	}
	rules, err := config.ParseRouteScopes(r.RouteScopes, scopes)
	if err != nil {
		return Product{}, fmt.Errorf("product %s: route scopes: %w", r.Slug, err)
	}
	return Product{
		Slug: r.Slug, Name: r.Name, Format: f, Scopes: scopes, RouteScopes: rules, PublicKeys: r.PublicKeys,
		MaxKeysPerOrg: r.MaxKeysPerOrg, PublicRateLimit: r.PublicRateLimit,
		PublicBlock: time.Duration(r.PublicBlockMinutes) * time.Minute, APIURL: r.APIURL,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}, nil
}

// snapshot is every product at one moment, read without locks.
type snapshot struct {
	all    []Product // the default first, then by slug
	bySlug map[string]*Product
	// byLead is every product, by literal start; starts never overlap, so
	// at most one matches a key.
	byLead []*Product
	// legacy is every legacy prefix outside its product's format.
	legacy []legacyStart
}

type legacyStart struct {
	prefix  string
	product *Product
}

func newSnapshot(def Product, others []Product) *snapshot {
	s := &snapshot{all: append([]Product{def}, others...), bySlug: map[string]*Product{}}
	for i := range s.all {
		p := &s.all[i]
		s.bySlug[p.Slug] = p
		s.byLead = append(s.byLead, p)
		for _, l := range p.LegacyPrefixes {
			if !strings.HasPrefix(l, p.Format.Lead()) {
				s.legacy = append(s.legacy, legacyStart{prefix: l, product: p})
			}
		}
	}
	return s
}

// Service keeps the products: the default from the variables, the others in
// the database. Its catalogue is read without locks on every request and
// reloaded after each change here, and by Run on a timer for changes made
// by other servers.
type Service struct {
	db      *store.DB
	now     func() time.Time
	def     Product
	current atomic.Pointer[snapshot]
}

// ReloadEvery is how often Run reloads the products: the longest a product
// created or edited on another server takes to reach this one.
const ReloadEvery = time.Second

// NewService returns the product service of cfg's default product over db,
// with the stored products loaded.
func NewService(ctx context.Context, db *store.DB, cfg config.Config, now func() time.Time) (*Service, error) {
	def, err := Default(cfg)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	s := &Service{db: db, now: now, def: def}
	s.current.Store(newSnapshot(def, nil))
	if err := s.Reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Fixed returns a service of def and others that reads no database and
// changes nothing (Create and Update fail): for tools and tests.
func Fixed(def Product, others ...Product) *Service {
	s := &Service{now: time.Now, def: def}
	s.current.Store(newSnapshot(def, others))
	return s
}

// Reload reads the stored products again.
func (s *Service) Reload(ctx context.Context) error {
	if s.db == nil {
		return nil
	}
	all, err := s.everything(ctx)
	if err != nil {
		return err
	}
	s.current.Store(newSnapshot(all[0], all[1:]))
	return nil
}

// reloadSoon reloads the products after a change here, with a deadline of
// its own; a failure leaves it to Run.
func (s *Service) reloadSoon() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.Reload(ctx)
}

// Run reloads the products every ReloadEvery until ctx ends, logging
// failures and keeping the last good catalogue.
func (s *Service) Run(ctx context.Context, logger *slog.Logger) {
	t := time.NewTicker(ReloadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if err := s.Reload(rctx); err != nil && ctx.Err() == nil {
				logger.Warn("products: reload failed; keeping the last ones read", "err", err)
			}
			cancel()
		}
	}
}

// Default returns the default product.
func (s *Service) Default() Product { return *s.current.Load().bySlug[DefaultSlug] }

// List returns every product, the default first, then by slug.
func (s *Service) List() []Product { return s.current.Load().all }

// Get returns product slug, or NotFound.
func (s *Service) Get(slug string) (Product, error) {
	if p, ok := s.current.Load().bySlug[slug]; ok {
		return *p, nil
	}
	return Product{}, apperr.New(apperr.NotFound, "Product not found.")
}

// Rules returns the key rules of product slug, for apikey.Options.Products.
func (s *Service) Rules(slug string) (apikey.Rules, bool) {
	p, ok := s.current.Load().bySlug[slug]
	if !ok {
		return apikey.Rules{}, false
	}
	return p.Rules(), true
}

// ByKey returns the product whose format key has and what the format says
// of it, without a database read; ok is false for a key of no product.
// A key of one of a product's legacy prefixes is the product's too (legacy
// true), whatever its shape: only its hash can tell.
func (s *Service) ByKey(key string) (p *Product, parsed apikey.Parsed, ok bool) {
	snap := s.current.Load()
	for _, c := range snap.byLead {
		if strings.HasPrefix(key, c.Format.Lead()) {
			parsed, err := c.Format.Parse(key)
			if err == nil {
				return c, parsed, true
			}
			return c, apikey.Parsed{}, hasLegacyPrefix(c, key)
		}
	}
	for _, l := range snap.legacy {
		if strings.HasPrefix(key, l.prefix) && len(key) <= MaxLegacyKey {
			return l.product, apikey.Parsed{}, true
		}
	}
	return nil, apikey.Parsed{}, false
}

func hasLegacyPrefix(p *Product, key string) bool {
	if len(key) > MaxLegacyKey {
		return false
	}
	for _, l := range p.LegacyPrefixes {
		if strings.HasPrefix(key, l) {
			return true
		}
	}
	return false
}

// ProductOf returns the slug of the product whose format key has, and the
// key's kind when the format writes it or the product has only private
// keys; ok is false for a key of no product. For the data plane.
func (s *Service) ProductOf(key string) (slug string, kind apikey.Kind, ok bool) {
	p, parsed, ok := s.ByKey(key)
	if !ok {
		return "", "", false
	}
	kind = parsed.Kind
	if kind == "" && !p.PublicKeys {
		kind = apikey.Private
	}
	return p.Slug, kind, true
}

// RouteScopes returns the route scope rules of product slug.
func (s *Service) RouteScopes(slug string) ([]config.RouteScope, bool) {
	p, ok := s.current.Load().bySlug[slug]
	if !ok {
		return nil, false
	}
	return p.RouteScopes, true
}

// lock serialises changes to products, so two cannot take overlapping
// starts at once: a table lock on PostgreSQL; SQLite transactions are
// already exclusive.
func (s *Service) lock(ctx context.Context) error {
	if s.db.Dialect != store.Postgres {
		return nil
	}
	if err := s.db.Conn(ctx).Exec("LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE").Error; err != nil {
		return fmt.Errorf("product: lock: %w", err)
	}
	return nil
}

// everything returns the default product and the stored ones, with their
// legacy prefixes, read inside the transaction of ctx.
func (s *Service) everything(ctx context.Context) ([]Product, error) {
	list, err := s.stored(ctx)
	if err != nil {
		return nil, err
	}
	legacy, err := legacyOf(ctx, s.db)
	if err != nil {
		return nil, err
	}
	def := s.def
	def.LegacyPrefixes = legacy[def.Slug]
	for i := range list {
		list[i].LegacyPrefixes = legacy[list[i].Slug]
	}
	return append([]Product{def}, list...), nil
}

// stored reads the stored products inside the transaction of ctx.
func (s *Service) stored(ctx context.Context) ([]Product, error) {
	var rows []row
	if err := s.db.Conn(ctx).Order("slug").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("product: read: %w", err)
	}
	out := make([]Product, 0, len(rows))
	for _, r := range rows {
		p, err := fromRow(r)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
