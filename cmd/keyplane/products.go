package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/config"
	"keyplane/internal/product"
	"keyplane/web/api"
)

// productArgs are the flags of `admin create-product` and `admin
// update-product`, in the KEYPLANE_* variables' syntax. set names the flags
// given: update-product changes only those.
type productArgs struct {
	slug, name, format, scopes, routeScopes, kinds, publicBlock, apiURL string
	maxKeys, publicRate                                                 int
	set                                                                 map[string]bool
}

func (p *productArgs) define(fs *flag.FlagSet) {
	fs.StringVar(&p.slug, "slug", "", "")
	fs.StringVar(&p.name, "name", "", "")
	fs.StringVar(&p.format, "format", "", "")
	fs.StringVar(&p.scopes, "scopes", "", "")
	fs.StringVar(&p.routeScopes, "route-scopes", "", "")
	fs.StringVar(&p.kinds, "kinds", "", "")
	fs.IntVar(&p.maxKeys, "max-keys-per-org", 0, "")
	fs.IntVar(&p.publicRate, "public-rate-limit", 0, "")
	fs.StringVar(&p.publicBlock, "public-block", "", "")
	fs.StringVar(&p.apiURL, "api-url", "", "")
}

// given records which flags fs read; an empty --kinds is a usage error,
// since it would mean the default on the database and nothing remotely.
func (p *productArgs) given(fs *flag.FlagSet, sub string) error {
	p.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { p.set[f.Name] = true })
	if p.set["kinds"] && strings.TrimSpace(p.kinds) == "" {
		return usagef("admin %s: --kinds must be private or private,public", sub)
	}
	return nil
}

// input is base with the given flags written over it: base is the
// product's own settings for update-product, empty for create-product
// (empty settings take the default product's). Returns Invalid for a
// --public-block that is not whole minutes.
func (p productArgs) input(base product.Input) (product.Input, error) {
	in := base
	in.Slug = p.slug
	str := func(flagName, v string, dst *string) {
		if p.set[flagName] {
			*dst = v
		}
	}
	str("name", p.name, &in.Name)
	str("format", p.format, &in.KeyFormat)
	str("scopes", p.scopes, &in.Scopes)
	str("route-scopes", p.routeScopes, &in.RouteScopes)
	str("kinds", p.kinds, &in.Kinds)
	str("api-url", p.apiURL, &in.APIURL)
	str("max-keys-per-org", strconv.Itoa(p.maxKeys), &in.MaxKeysPerOrg)
	str("public-rate-limit", strconv.Itoa(p.publicRate), &in.PublicRateLimit)
	if p.set["public-block"] {
		minutes, msg := api.BlockMinutes(p.publicBlock)
		if msg != "" {
			return product.Input{}, apperr.InvalidFields(map[string]string{"public_block": msg})
		}
		in.PublicBlockMinutes = minutes
	}
	return in, nil
}

// body is the given flags as the operator API's product JSON.
func (p productArgs) body(withSlug bool) map[string]any {
	b := map[string]any{}
	if withSlug {
		b["slug"] = p.slug
	}
	put := func(flagName, field string, v any) {
		if p.set[flagName] {
			b[field] = v
		}
	}
	put("name", "name", p.name)
	put("format", "key_format", p.format)
	put("route-scopes", "route_scopes", splitList(p.routeScopes, ";"))
	put("kinds", "kinds", splitList(p.kinds, ","))
	put("max-keys-per-org", "max_keys_per_org", p.maxKeys)
	put("public-rate-limit", "public_rate_limit", p.publicRate)
	put("public-block", "public_block", p.publicBlock)
	put("api-url", "api_url", p.apiURL)
	scopes := []map[string]string{}
	for _, entry := range splitList(p.scopes, ";") {
		name, desc, _ := strings.Cut(entry, "=")
		scopes = append(scopes, map[string]string{"name": strings.TrimSpace(name), "description": strings.TrimSpace(desc)})
	}
	put("scopes", "scopes", scopes)
	return b
}

// splitList splits s at sep, trimming each entry and dropping empty ones.
func splitList(s, sep string) []string {
	out := []string{}
	for entry := range strings.SplitSeq(s, sep) {
		if entry = strings.TrimSpace(entry); entry != "" {
			out = append(out, entry)
		}
	}
	return out
}

// productLine is what create-product and update-product print: "created
// product gosend (GoSendAPI): keys look like gsk_live_…".
func productLine(verb, slug, name, format string) string {
	return fmt.Sprintf("%s product %s (%s): keys look like %s", verb, slug, name, keyExample(format))
}

// keyExample is the start of a live private key of format, then "…".
func keyExample(format string) string {
	f, err := apikey.ParseFormat(format)
	if err != nil {
		return format
	}
	return f.Example()
}

// productCommand runs create-product, update-product or delete-product on
// the database, as the operator API does: the default product is read-only
// whatever the flags.
func productCommand(ctx context.Context, cfg config.Config, a adminArgs, stdout io.Writer) error {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	products, err := product.NewService(ctx, db, cfg, nil)
	if err != nil {
		return err
	}
	var p product.Product
	switch a.sub {
	case "create-product":
		in, err := a.product.input(product.Input{})
		if err != nil {
			return cliError(err)
		}
		p, err = products.Create(ctx, in)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintln(stdout, productLine("created", p.Slug, p.Name, p.Format.String()))
	case "update-product":
		old, err := products.Get(a.product.slug)
		if err != nil {
			return cliError(err)
		}
		in := product.InputOf(old)
		if !old.IsDefault() {
			if in, err = a.product.input(in); err != nil {
				return cliError(err)
			}
		}
		p, err = products.Update(ctx, old.Slug, in)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintln(stdout, productLine("updated", p.Slug, p.Name, p.Format.String()))
	case "delete-product":
		p, err = products.Delete(ctx, a.product.slug)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stdout, "deleted product %s (%s)\n", p.Slug, p.Name)
	}
	return nil
}

// remoteProductCommand runs create-product, update-product or
// delete-product through the
// operator API.
func remoteProductCommand(ctx context.Context, r *remote, a adminArgs, stdout io.Writer) error {
	var p struct {
		Slug      string `json:"slug"`
		Name      string `json:"name"`
		KeyFormat string `json:"key_format"`
	}
	if a.sub == "delete-product" {
		if err := r.do(ctx, http.MethodDelete, "/api/v1/admin/products/"+url.PathEscape(a.product.slug), nil, &p); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted product %s (%s)\n", p.Slug, p.Name)
		return nil
	}
	verb := "created"
	if a.sub == "create-product" {
		if err := r.do(ctx, http.MethodPost, "/api/v1/admin/products", a.product.body(true), &p); err != nil {
			return err
		}
	} else {
		verb = "updated"
		if err := r.do(ctx, http.MethodPatch, "/api/v1/admin/products/"+url.PathEscape(a.product.slug), a.product.body(false), &p); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, productLine(verb, p.Slug, p.Name, p.KeyFormat))
	return nil
}
