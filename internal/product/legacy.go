package product

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/store"
)

// legacyRow is a legacy prefix as stored.
type legacyRow struct {
	Prefix    string `gorm:"primaryKey"`
	Product   string
	CreatedAt time.Time
}

func (legacyRow) TableName() string { return "legacy_prefixes" }

var legacyPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{1,39}$`)

// MaxLegacyKey bounds the length of a key looked up under a legacy prefix.
const MaxLegacyKey = 256

// AddLegacyPrefixes declares prefixes as the starts of product slug's keys
// from before Keyplane (a vendor's old format, without Keyplane's
// checksum): keys starting with one are looked up by hash. A prefix may lie
// inside the product's own format, but may not be the start of another
// product's format or legacy prefix, nor have one as its start. Adding a
// prefix the product has is a no-op. It joins the transaction ctx carries
// (an import's, so a failed import declares nothing), and the catalogue
// reloads once that commits. Returns NotFound, or Invalid naming
// legacy_prefix.
func (s *Service) AddLegacyPrefixes(ctx context.Context, slug string, prefixes []string) error {
	if s.db == nil {
		return fmt.Errorf("product: legacy prefixes: no database")
	}
	if len(prefixes) == 0 {
		return nil
	}
	invalid := func(format string, args ...any) error {
		return apperr.InvalidFields(map[string]string{"legacy_prefix": fmt.Sprintf(format, args...)})
	}
	for _, p := range prefixes {
		if !legacyPattern.MatchString(p) {
			return invalid("%q is not a legacy prefix: use 2 to 40 of A-Z, a-z, 0-9, _ and -, starting with a letter.", truncate(p, 50))
		}
	}
	return s.db.WithTx(ctx, func(ctx context.Context) error {
		if err := s.lock(ctx); err != nil {
			return err
		}
		s.db.AfterCommit(ctx, s.reloadSoon)
		all, err := s.everything(ctx)
		if err != nil {
			return err
		}
		var owner *Product
		for i := range all {
			if all[i].Slug == slug {
				owner = &all[i]
			}
		}
		if owner == nil {
			return apperr.New(apperr.NotFound, "Product not found.")
		}
		tokens := s.def.Format.Lead() + "op_"
		for _, p := range prefixes {
			if apikey.Overlaps(p, tokens) {
				return invalid("Keys starting %q could be operator tokens, which start %q.", p, tokens)
			}
			for _, o := range all {
				if o.Slug == owner.Slug {
					continue
				}
				starts := append([]string{o.Format.Lead()}, o.LegacyPrefixes...)
				for _, st := range starts {
					if apikey.Overlaps(p, st) {
						return invalid("Keys starting %q could belong to %s (%s), whose keys start %q.", p, o.Name, o.Slug, st)
					}
				}
			}
			r := legacyRow{Prefix: p, Product: owner.Slug, CreatedAt: s.now().UTC()}
			res := s.db.Conn(ctx).Where("prefix = ?", p).FirstOrCreate(&r)
			if res.Error != nil {
				return fmt.Errorf("product: legacy prefix: %w", res.Error)
			}
			if r.Product != owner.Slug {
				return invalid("%q is a legacy prefix of %s already.", p, r.Product)
			}
		}
		return nil
	})
}

// ImportOf prepares an import of lines into product slug ("" for the
// default) that declares the legacy prefixes legacy: lines may match the
// product's legacy prefixes and the new ones, which the import declares
// inside its own transaction (a failed import declares none). Returns
// NotFound for no such product.
func (s *Service) ImportOf(slug string, legacy []string, lines []apikey.ImportLine) (apikey.Import, error) {
	if slug == "" {
		slug = DefaultSlug
	}
	p, err := s.Get(slug)
	if err != nil {
		return apikey.Import{}, err
	}
	prefixes := slices.Clone(p.LegacyPrefixes)
	for _, l := range legacy {
		if !slices.Contains(prefixes, l) {
			prefixes = append(prefixes, l)
		}
	}
	return apikey.Import{
		Product: slug, LegacyPrefixes: prefixes, Lines: lines,
		Declare: func(ctx context.Context) error { return s.AddLegacyPrefixes(ctx, slug, legacy) },
	}, nil
}

// legacyOf reads every legacy prefix, by product.
func legacyOf(ctx context.Context, db *store.DB) (map[string][]string, error) {
	var rows []legacyRow
	if err := db.Conn(ctx).Order("prefix").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("product: read legacy prefixes: %w", err)
	}
	out := map[string][]string{}
	for _, r := range rows {
		out[r.Product] = append(out[r.Product], r.Prefix)
	}
	return out, nil
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
