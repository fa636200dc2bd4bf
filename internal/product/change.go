package product

import (
	"context"
	"errors"
	"fmt"

	"keyplane/internal/apperr"
	"keyplane/internal/store"
)

// Create stores a new product. Returns Invalid naming each wrong field
// (key_format when its start overlaps another product's), or Conflict for
// a taken slug.
func (s *Service) Create(ctx context.Context, in Input) (Product, error) {
	if s.db == nil {
		return Product{}, errors.New("product: create: no database")
	}
	base := s.def
	base.Scopes, base.RouteScopes = nil, nil
	p, err := validate(in, base)
	if err != nil {
		return Product{}, err
	}
	now := s.now().UTC()
	p.CreatedAt, p.UpdatedAt = now, now
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		if err := s.lock(ctx); err != nil {
			return err
		}
		all, err := s.everything(ctx)
		if err != nil {
			return err
		}
		for _, o := range all {
			if o.Slug == p.Slug {
				return apperr.New(apperr.Conflict, "A product with the slug %s exists.", p.Slug)
			}
			if why := conflictsWith(p, o); why != "" {
				return apperr.InvalidFields(map[string]string{"key_format": why})
			}
		}
		r := toRow(p)
		if err := tx.Create(&r).Error; err != nil {
			if store.IsUniqueViolation(err) {
				return apperr.New(apperr.Conflict, "A product with the slug %s exists.", p.Slug)
			}
			return fmt.Errorf("product: create: %w", err)
		}
		return nil
	})
	if err != nil {
		return Product{}, err
	}
	if err := s.Reload(ctx); err != nil {
		return Product{}, err
	}
	return p, nil
}

// Update changes product slug to in (in.Slug is ignored): every setting,
// so callers changing a few start from InputOf. The default product is
// read-only (Conflict: it comes from the variables). Returns NotFound, or
// Invalid as for Create, and also naming key_format when the product has
// keys (its format is then fixed) and kinds when it would allow private
// keys only while it has public keys.
func (s *Service) Update(ctx context.Context, slug string, in Input) (Product, error) {
	if s.db == nil {
		return Product{}, errors.New("product: update: no database")
	}
	if slug == DefaultSlug {
		return Product{}, apperr.New(apperr.Conflict, "The default product comes from the KEYPLANE_* variables: change them and restart Keyplane.")
	}
	var out Product
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		if err := s.lock(ctx); err != nil {
			return err
		}
		all, err := s.everything(ctx)
		if err != nil {
			return err
		}
		var old *Product
		for i := range all {
			if all[i].Slug == slug {
				old = &all[i]
			}
		}
		if old == nil {
			return apperr.New(apperr.NotFound, "Product not found.")
		}
		// Keys being created hold the row shared until they commit (see
		// apikey's format check): wait for them before counting keys.
		var held string
		if err := s.db.ForUpdate(tx.Model(&row{}).Select("slug").Where("slug = ?", slug)).Take(&held).Error; err != nil {
			return fmt.Errorf("product: lock %s: %w", slug, err)
		}
		in.Slug = slug
		p, err := validate(in, *old)
		if err != nil {
			return err
		}
		if old.PublicKeys && !p.PublicKeys {
			var n int64
			if err := tx.Table("api_keys").Where("product = ? AND kind = 'public' AND revoked_at IS NULL", slug).Count(&n).Error; err != nil {
				return fmt.Errorf("product: count public keys: %w", err)
			}
			if n > 0 {
				return apperr.InvalidFields(map[string]string{"kinds": fmt.Sprintf("This product has %d public keys that are not revoked: revoke them before allowing private keys only.", n)})
			}
		}
		if p.Format.String() != old.Format.String() {
			var n int64
			if err := tx.Table("api_keys").Where("product = ?", slug).Count(&n).Error; err != nil {
				return fmt.Errorf("product: count keys: %w", err)
			}
			if n > 0 {
				return apperr.InvalidFields(map[string]string{"key_format": fmt.Sprintf("This product has %d keys: its key format can no longer change.", n)})
			}
		}
		for _, o := range all {
			if o.Slug == slug {
				continue
			}
			if why := conflictsWith(p, o); why != "" {
				return apperr.InvalidFields(map[string]string{"key_format": why})
			}
		}
		p.UpdatedAt = s.now().UTC()
		r := toRow(p)
		if err := tx.Model(&row{}).Where("slug = ?", slug).Select("*").Omit("slug", "created_at").Updates(&r).Error; err != nil {
			return fmt.Errorf("product: update: %w", err)
		}
		out = p
		return nil
	})
	if err != nil {
		return Product{}, err
	}
	if err := s.Reload(ctx); err != nil {
		return Product{}, err
	}
	return out, nil
}

// Delete removes product slug and its legacy prefixes, when it has no key
// at all (revoked ones included: their rows still name it). Returns
// NotFound, or Conflict for the default product or a product with keys.
func (s *Service) Delete(ctx context.Context, slug string) (Product, error) {
	if s.db == nil {
		return Product{}, errors.New("product: delete: no database")
	}
	if slug == DefaultSlug {
		return Product{}, apperr.New(apperr.Conflict, "The default product comes from the KEYPLANE_* variables and cannot be deleted.")
	}
	var out Product
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		if err := s.lock(ctx); err != nil {
			return err
		}
		var r row
		if err := s.db.ForUpdate(tx.Where("slug = ?", slug)).Take(&r).Error; err != nil {
			if store.IsNotFound(err) {
				return apperr.New(apperr.NotFound, "Product not found.")
			}
			return fmt.Errorf("product: delete %s: %w", slug, err)
		}
		var n int64
		if err := tx.Table("api_keys").Where("product = ?", slug).Count(&n).Error; err != nil {
			return fmt.Errorf("product: count keys: %w", err)
		}
		if n > 0 {
			return apperr.New(apperr.Conflict, "%s has %d keys (revoked ones count: their records name it); it cannot be deleted.", r.Name, n)
		}
		if err := tx.Where("product = ?", slug).Delete(&legacyRow{}).Error; err != nil {
			return fmt.Errorf("product: delete legacy prefixes: %w", err)
		}
		if err := tx.Where("slug = ?", slug).Delete(&row{}).Error; err != nil {
			return fmt.Errorf("product: delete %s: %w", slug, err)
		}
		p, err := fromRow(r)
		if err != nil {
			return err
		}
		out = p
		s.db.AfterCommit(ctx, s.reloadSoon)
		return nil
	})
	if err != nil {
		return Product{}, err
	}
	return out, nil
}
