package apikey

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"keyplane/internal/apperr"
	"keyplane/internal/store"
)

// Filter narrows the keys list.
type Filter struct {
	Status      Status      // "" for all
	Environment Environment // "" for all
	Kind        Kind        // "" for all
	Product     string      // a product's slug; "" for all
	Search      string      // substring of the description, any case
}

// List returns orgID's keys matching f, newest first.
func (s *Service) List(ctx context.Context, orgID string, f Filter) ([]Key, error) {
	now := s.now().UTC()
	q := s.db.Conn(ctx).Where("org_id = ?", orgID)
	if f.Environment != "" {
		q = q.Where("environment = ?", f.Environment)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	if f.Product != "" {
		q = q.Where("product = ?", f.Product)
	}
	var keys []Key
	if err := q.Order("created_at DESC, id DESC").Find(&keys).Error; err != nil {
		return nil, fmt.Errorf("apikey: list: %w", err)
	}
	// Search runs here, not in SQL: SQLite's LOWER folds only ASCII.
	term := strings.ToLower(strings.TrimSpace(f.Search))
	if f.Status == "" && term == "" {
		return keys, nil
	}
	out := keys[:0]
	for _, k := range keys {
		if (f.Status == "" || k.StatusAt(now) == f.Status) &&
			(term == "" || strings.Contains(strings.ToLower(k.Description), term)) {
			out = append(out, k)
		}
	}
	return out, nil
}

// HasAny reports whether orgID has any key at all, whatever its status.
func (s *Service) HasAny(ctx context.Context, orgID string) (bool, error) {
	var ids []string
	if err := s.db.Conn(ctx).Model(&Key{}).Where("org_id = ?", orgID).Limit(1).Pluck("id", &ids).Error; err != nil {
		return false, fmt.Errorf("apikey: has any: %w", err)
	}
	return len(ids) > 0, nil
}

// Get returns orgID's key id, or NotFound (also for another org's key).
func (s *Service) Get(ctx context.Context, orgID, id string) (Key, error) {
	return s.get(s.db.Conn(ctx), orgID, id)
}

func (s *Service) get(tx *gorm.DB, orgID, id string) (Key, error) {
	notFound := apperr.New(apperr.NotFound, "API key not found.")
	if !store.ValidID(id) {
		return Key{}, notFound
	}
	var k Key
	err := tx.Where("org_id = ? AND id = ?", orgID, id).Take(&k).Error
	if store.IsNotFound(err) {
		return Key{}, notFound
	}
	if err != nil {
		return Key{}, fmt.Errorf("apikey: get: %w", err)
	}
	return k, nil
}
