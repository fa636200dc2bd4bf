// Package product holds the products a platform sells keys for: each with
// its own key format, scope catalogue, route scopes and limits. The
// deployment's KEYPLANE_* variables describe the default product; operators
// add others. A key's product is known from its literal start, without a
// database read.
package product

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/config"
)

// DefaultSlug is the slug of the product the deployment's variables
// describe.
const DefaultSlug = "default"

// Limits of a product's settings.
const (
	MaxName        = 100
	MaxKeysPerOrg  = 100_000
	MaxPublicRate  = 100_000
	MaxBlockMinute = 30 * 24 * 60
	MaxAPIURL      = 500
)

// Product is what a platform sells keys for.
type Product struct {
	Slug          string
	Name          string
	Format        apikey.Format
	Scopes        []config.Scope // the catalogue, built-ins last
	RouteScopes   []config.RouteScope
	PublicKeys    bool // public keys allowed besides private ones
	MaxKeysPerOrg int
	// PublicRateLimit and PublicBlock are the defaults of public keys.
	PublicRateLimit int
	PublicBlock     time.Duration
	// APIURL is the platform's API base URL for this product, shown in
	// curl examples only.
	APIURL string
	// LegacyPrefixes start the product's imported keys of a vendor's old
	// format: those are looked up by hash.
	LegacyPrefixes []string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// IsDefault reports whether p is the default product.
func (p Product) IsDefault() bool { return p.Slug == DefaultSlug }

// Kinds lists the kinds of key p allows.
func (p Product) Kinds() []apikey.Kind {
	if p.PublicKeys {
		return []apikey.Kind{apikey.Private, apikey.Public}
	}
	return []apikey.Kind{apikey.Private}
}

// ScopeNames lists the catalogue's names, built-ins included.
func (p Product) ScopeNames() []string {
	names := make([]string, 0, len(p.Scopes))
	for _, s := range p.Scopes {
		names = append(names, s.Name)
	}
	return names
}

// Rules are p's rules for its keys, as the key service applies them.
func (p Product) Rules() apikey.Rules {
	return apikey.Rules{
		Product: p.Slug, Format: p.Format, MaxKeys: p.MaxKeysPerOrg,
		Policy: apikey.Policy{
			Scopes: p.ScopeNames(), PrivateOnly: !p.PublicKeys,
			PublicRateLimit: p.PublicRateLimit, PublicBlockMinutes: int((p.PublicBlock + time.Minute - 1) / time.Minute),
		},
	}
}

// Default returns the default product of cfg: the KEYPLANE_* variables.
func Default(cfg config.Config) (Product, error) {
	f, err := apikey.DefaultFormat(cfg.KeyPrefix)
	if err != nil {
		return Product{}, fmt.Errorf("product: default format: %w", err)
	}
	return Product{
		Slug: DefaultSlug, Name: "Default", Format: f, Scopes: cfg.Scopes, RouteScopes: cfg.RouteScopes,
		PublicKeys: true, MaxKeysPerOrg: cfg.MaxKeysPerOrg, PublicRateLimit: cfg.PublicRateLimit,
		PublicBlock: cfg.PublicBlock, APIURL: cfg.APIURL,
	}, nil
}

// Input is a product's settings as given, before validation. Scopes and
// RouteScopes use the variables' syntax: "name=description;..." and
// "METHOD PATH=SCOPE;...". Kinds is "private" or "private,public".
type Input struct {
	Slug               string
	Name               string
	KeyFormat          string
	Scopes             string
	RouteScopes        string
	Kinds              string
	MaxKeysPerOrg      string
	PublicRateLimit    string
	PublicBlockMinutes string
	APIURL             string
}

var slugPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{1,39}$`)

// validate turns in into a Product, or an Invalid error naming each wrong
// field (slug, name, key_format, scopes, route_scopes, kinds,
// max_keys_per_org, public_rate_limit, public_block, api_url). Empty
// numbers take base's values, which are the default product's for a new
// product.
func validate(in Input, base Product) (Product, error) {
	errs := map[string]string{}
	p := base
	p.Slug = strings.TrimSpace(in.Slug)
	switch {
	case !slugPattern.MatchString(p.Slug):
		errs["slug"] = "Use 2 to 40 of a-z, 0-9 and -, starting with a letter."
	case p.Slug == DefaultSlug:
		errs["slug"] = "default is the product the KEYPLANE_* variables describe; choose another slug."
	}
	p.Name = strings.TrimSpace(in.Name)
	if n := utf8.RuneCountInString(p.Name); n == 0 || n > MaxName {
		errs["name"] = fmt.Sprintf("Give a name of 1 to %d characters.", MaxName)
	}
	if f, err := apikey.ParseFormat(strings.TrimSpace(in.KeyFormat)); err != nil {
		errs["key_format"] = capitalize(err.Error()) + "."
	} else {
		p.Format = f
	}
	if sc, err := config.ParseScopes(in.Scopes); err != nil {
		errs["scopes"] = capitalize(err.Error()) + "."
	} else {
		p.Scopes = sc
		if rs, err := config.ParseRouteScopes(in.RouteScopes, sc); err != nil {
			errs["route_scopes"] = capitalize(err.Error()) + "."
		} else {
			p.RouteScopes = rs
		}
	}
	switch strings.ReplaceAll(strings.TrimSpace(in.Kinds), " ", "") {
	case "private":
		p.PublicKeys = false
	case "", "private,public", "public,private":
		p.PublicKeys = true
	default:
		errs["kinds"] = "Choose private, or private,public."
	}
	number := func(field, s string, lo, hi int, dst *int) {
		s = strings.TrimSpace(s)
		if s == "" {
			return
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			errs[field] = fmt.Sprintf("Give a whole number from %d to %d.", lo, hi)
			return
		}
		*dst = n
	}
	number("max_keys_per_org", in.MaxKeysPerOrg, 1, MaxKeysPerOrg, &p.MaxKeysPerOrg)
	number("public_rate_limit", in.PublicRateLimit, 1, MaxPublicRate, &p.PublicRateLimit)
	block := int(p.PublicBlock / time.Minute)
	number("public_block", in.PublicBlockMinutes, 0, MaxBlockMinute, &block)
	p.PublicBlock = time.Duration(block) * time.Minute
	p.APIURL = strings.TrimSpace(in.APIURL)
	if p.APIURL != "" {
		u, err := url.Parse(p.APIURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(p.APIURL) > MaxAPIURL {
			errs["api_url"] = "Give an http or https URL, such as https://api.example.com."
		}
	}
	if len(errs) > 0 {
		return Product{}, apperr.InvalidFields(errs)
	}
	return p, nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// conflictsWith returns why p's key format cannot sit beside other's: one
// literal start is the start of the other, so a key would name both.
func conflictsWith(p, other Product) string {
	for _, start := range append([]string{other.Format.Lead()}, other.LegacyPrefixes...) {
		if apikey.Overlaps(p.Format.Lead(), start) {
			return fmt.Sprintf("Keys starting %q could belong to %s (%s), whose keys start %q: choose a start that is not the start of another product's.",
				p.Format.Lead(), other.Name, other.Slug, start)
		}
	}
	return ""
}

// formatScopes writes a catalogue back in the variables' syntax, without
// the built-ins.
func formatScopes(scopes []config.Scope) string {
	var b []string
	for _, s := range scopes {
		if s.BuiltIn {
			continue
		}
		b = append(b, s.Name+"="+s.Description)
	}
	return strings.Join(b, ";")
}

// formatRouteScopes writes route scope rules back in the variables' syntax.
func formatRouteScopes(rules []config.RouteScope) string {
	b := make([]string, 0, len(rules))
	for _, r := range rules {
		b = append(b, r.String())
	}
	return strings.Join(b, ";")
}

// InputOf is p's settings as an Input, for an update that changes a few.
func InputOf(p Product) Input {
	kinds := "private"
	if p.PublicKeys {
		kinds = "private,public"
	}
	return Input{
		Slug: p.Slug, Name: p.Name, KeyFormat: p.Format.String(), Scopes: formatScopes(p.Scopes),
		RouteScopes: formatRouteScopes(p.RouteScopes), Kinds: kinds, MaxKeysPerOrg: strconv.Itoa(p.MaxKeysPerOrg),
		PublicRateLimit: strconv.Itoa(p.PublicRateLimit), PublicBlockMinutes: strconv.Itoa(int(p.PublicBlock / time.Minute)),
		APIURL: p.APIURL,
	}
}
