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
	// Search finds keys by description (a substring, any case), by id (a
	// prefix of at least 8 characters, or the whole id), by what the
	// dashboard shows of the key (its hint, kp_sk_live_…vBIG, or any part
	// of it: the prefix, the last 4 characters) or by the whole key pasted.
	Search string
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
	// Search runs here, over the organization's keys read through
	// (org_id, created_at), not in SQL: SQLite's LOWER folds only ASCII,
	// and a hint's ending matches no index. An organization holds at most
	// its limit of active keys and their revoked predecessors.
	m := newMatcher(f.Search)
	if f.Status == "" && m == nil {
		return keys, nil
	}
	out := keys[:0]
	for _, k := range keys {
		if (f.Status == "" || k.StatusAt(now) == f.Status) && m.match(k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// matcher is a search term in the forms a key is compared with.
type matcher struct {
	lower string // the term in lower case, "..." read as "…"
	hint  string // the hint of the term when it is a whole key; else ""
}

// minIDSearch is the shortest id prefix a search matches: shorter ones
// would match ids by chance.
const minIDSearch = 8

func newMatcher(search string) *matcher {
	term := strings.TrimSpace(search)
	if term == "" {
		return nil
	}
	m := &matcher{lower: strings.ToLower(strings.ReplaceAll(term, "...", "…"))}
	if !strings.Contains(term, "…") && strings.Count(term, "_") >= 1 && len(term) > 36 {
		m.hint = Hint(term)
	}
	return m
}

// match reports whether k is what the term names; a nil matcher matches
// every key.
func (m *matcher) match(k Key) bool {
	if m == nil {
		return true
	}
	if m.hint != "" && m.hint == k.Hint {
		return true
	}
	id := strings.ToLower(k.ID)
	return strings.Contains(strings.ToLower(k.Description), m.lower) ||
		strings.Contains(strings.ToLower(k.Hint), m.lower) ||
		id == m.lower || (len(m.lower) >= minIDSearch && strings.HasPrefix(id, m.lower))
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
