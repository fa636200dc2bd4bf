package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/config"
	"keyplane/internal/product"
)

// ProductScope is one entry of a product's scope catalogue.
type ProductScope struct {
	Name        string `json:"name" maxLength:"64" example:"sms:send"`
	Description string `json:"description" maxLength:"200" example:"Send SMS"`
}

// Product is a product as the operator API answers it.
type Product struct {
	Slug            string         `json:"slug" example:"gosend"`
	Name            string         `json:"name" example:"GoSendAPI"`
	KeyFormat       string         `json:"key_format" example:"gsk_{env}_" doc:"The template of its keys: {env} (live or test) and optionally {kind} (sk or pk); the literal start is unique across products."`
	Scopes          []ProductScope `json:"scopes" nullable:"false" doc:"Its scope catalogue, without the built-in admin and keys:manage."`
	RouteScopes     []string       `json:"route_scopes" nullable:"false" example:"[\"POST /v1/sms*=sms:send\"]" doc:"METHOD PATH=SCOPE rules of its data plane path; PATH may end in *."`
	Kinds           []string       `json:"kinds" enum:"private,public" doc:"The kinds of key it allows: private, or private and public."`
	MaxKeysPerOrg   int            `json:"max_keys_per_org" example:"100" doc:"Active keys an organization may hold of this product."`
	PublicRateLimit int            `json:"public_rate_limit" example:"60" doc:"Requests per minute a new public key allows unless set."`
	PublicBlock     string         `json:"public_block" example:"5m" doc:"How long a public key over its limit stays refused, unless set: 0 or a duration in whole minutes."`
	APIURL          string         `json:"api_url" example:"https://api.gosend.example" doc:"The platform's API base URL for this product, shown in curl examples."`
	Default         bool           `json:"default" doc:"The product of the KEYPLANE_* variables: read-only."`
	CreatedAt       *time.Time     `json:"created_at" nullable:"true" doc:"Null for the default product."`
}

// ProductList is every product, the default first, then by slug.
type ProductList struct {
	Data []Product `json:"data" nullable:"false"`
}

// ProductBody creates a product. An absent setting takes the default
// product's value; absent scopes are read and write, absent kinds private
// and public.
type ProductBody struct {
	Slug            string          `json:"slug" maxLength:"40" example:"gosend"`
	Name            string          `json:"name" maxLength:"100" example:"GoSendAPI"`
	KeyFormat       string          `json:"key_format" maxLength:"40" example:"gsk_{env}_"`
	Scopes          *[]ProductScope `json:"scopes,omitempty"`
	RouteScopes     *[]string       `json:"route_scopes,omitempty" doc:"METHOD PATH=SCOPE rules; every SCOPE must be in scopes."`
	Kinds           *[]string       `json:"kinds,omitempty" minItems:"1" enum:"private,public" doc:"[\"private\"] or [\"private\", \"public\"]."`
	MaxKeysPerOrg   *int            `json:"max_keys_per_org,omitempty" example:"20" doc:"1 to 100000."`
	PublicRateLimit *int            `json:"public_rate_limit,omitempty" doc:"Requests per minute, 1 to 100000."`
	PublicBlock     *string         `json:"public_block,omitempty" maxLength:"20" doc:"0 or a duration in whole minutes up to 30d: 5m, 1h."`
	APIURL          *string         `json:"api_url,omitempty" maxLength:"500" doc:"An http or https URL."`
}

// ProductChanges are the settings PATCH may change; an absent property
// keeps its value. The slug never changes.
type ProductChanges struct {
	Name            *string         `json:"name,omitempty" maxLength:"100" example:"GoSend"`
	KeyFormat       *string         `json:"key_format,omitempty" maxLength:"40" doc:"Cannot change once the product has keys."`
	Scopes          *[]ProductScope `json:"scopes,omitempty" doc:"Replaces the catalogue."`
	RouteScopes     *[]string       `json:"route_scopes,omitempty" doc:"Replaces the rules."`
	Kinds           *[]string       `json:"kinds,omitempty" minItems:"1" enum:"private,public"`
	MaxKeysPerOrg   *int            `json:"max_keys_per_org,omitempty"`
	PublicRateLimit *int            `json:"public_rate_limit,omitempty"`
	PublicBlock     *string         `json:"public_block,omitempty" maxLength:"20"`
	APIURL          *string         `json:"api_url,omitempty" maxLength:"500"`
}

// ProductInput creates a product.
type ProductInput struct {
	RawBody []byte
	Body    ProductBody
}

// UpdateProductInput changes one product.
type UpdateProductInput struct {
	Slug    string `path:"slug" maxLength:"40" doc:"The product's slug."`
	RawBody []byte
	Body    ProductChanges
}

type productOutput struct {
	Body Product
}

type productListOutput struct {
	Body ProductList
}

// ListProducts is GET /api/v1/admin/products: every product, the default
// first.
func (m *Management) ListProducts(ctx context.Context, _ *struct{}) (*productListOutput, error) {
	list := m.products.List()
	out := ProductList{Data: make([]Product, 0, len(list))}
	for _, p := range list {
		out.Data = append(out.Data, productJSON(p))
	}
	return &productListOutput{Body: out}, nil
}

// CreateProduct is POST /api/v1/admin/products: 201 with the product.
// Wrong settings are 422 naming each field (key_format when its start
// overlaps another product's); a taken slug is 409.
func (m *Management) CreateProduct(ctx context.Context, in *ProductInput) (*productOutput, error) {
	if err := refuseNulls(in.RawBody); err != nil {
		return nil, m.fail(err)
	}
	input := product.Input{Slug: in.Body.Slug}
	if err := in.Body.changes().apply(&input); err != nil {
		return nil, m.fail(err)
	}
	p, err := m.products.Create(ctx, input)
	if err != nil {
		return nil, m.fail(err)
	}
	m.logger.Info("operator API created a product", "product", p.Slug, "token", credentialOf(ctx).actor.TokenName)
	return &productOutput{Body: productJSON(p)}, nil
}

// UpdateProduct is PATCH /api/v1/admin/products/{slug}: 200 with the
// product as it now is. An unknown slug is 404; the default product is
// read-only (409); wrong settings are 422 as for CreateProduct.
func (m *Management) UpdateProduct(ctx context.Context, in *UpdateProductInput) (*productOutput, error) {
	old, err := m.products.Get(in.Slug)
	if err != nil {
		return nil, m.fail(err)
	}
	input := product.InputOf(old)
	if !old.IsDefault() {
		if err := refuseNulls(in.RawBody); err != nil {
			return nil, m.fail(err)
		}
		if err := in.Body.apply(&input); err != nil {
			return nil, m.fail(err)
		}
	}
	p, err := m.products.Update(ctx, old.Slug, input)
	if err != nil {
		return nil, m.fail(err)
	}
	m.logger.Info("operator API changed a product", "product", p.Slug, "token", credentialOf(ctx).actor.TokenName)
	return &productOutput{Body: productJSON(p)}, nil
}

// refuseNulls returns Invalid naming each property of body that is null:
// no setting of a product can be cleared, and null must not pass for
// absent.
func refuseNulls(body []byte) error {
	var props map[string]json.RawMessage
	if json.Unmarshal(body, &props) != nil {
		return nil
	}
	errs := map[string]string{}
	for name, v := range props {
		if string(v) == "null" {
			errs[name] = "Give a value, or leave the property out to keep it."
		}
	}
	if len(errs) > 0 {
		return apperr.InvalidFields(errs)
	}
	return nil
}

func (b ProductBody) changes() ProductChanges {
	return ProductChanges{
		Name: &b.Name, KeyFormat: &b.KeyFormat, Scopes: b.Scopes, RouteScopes: b.RouteScopes, Kinds: b.Kinds,
		MaxKeysPerOrg: b.MaxKeysPerOrg, PublicRateLimit: b.PublicRateLimit, PublicBlock: b.PublicBlock, APIURL: b.APIURL,
	}
}

// apply writes the present settings of ch into in, in the variables'
// syntax. Returns Invalid for what that syntax cannot hold (a ; inside a
// scope or rule) and for a public_block that is not whole minutes.
func (ch ProductChanges) apply(in *product.Input) error {
	errs := map[string]string{}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&in.Name, ch.Name)
	set(&in.KeyFormat, ch.KeyFormat)
	set(&in.APIURL, ch.APIURL)
	if ch.Scopes != nil {
		entries := make([]string, 0, len(*ch.Scopes))
		for _, s := range *ch.Scopes {
			if strings.ContainsAny(s.Name, ";=") || strings.Contains(s.Description, ";") {
				errs["scopes"] = fmt.Sprintf("Scope %q: a name may not hold ; or =, nor a description ;.", s.Name)
				break
			}
			entries = append(entries, s.Name+"="+s.Description)
		}
		in.Scopes = strings.Join(entries, ";")
	}
	if ch.RouteScopes != nil {
		for _, r := range *ch.RouteScopes {
			if strings.Contains(r, ";") {
				errs["route_scopes"] = fmt.Sprintf("Give one METHOD PATH=SCOPE rule per entry, without ;: %q.", r)
				break
			}
		}
		in.RouteScopes = strings.Join(*ch.RouteScopes, ";")
	}
	if ch.Kinds != nil {
		in.Kinds = strings.Join(*ch.Kinds, ",")
	}
	if ch.MaxKeysPerOrg != nil {
		in.MaxKeysPerOrg = strconv.Itoa(*ch.MaxKeysPerOrg)
	}
	if ch.PublicRateLimit != nil {
		in.PublicRateLimit = strconv.Itoa(*ch.PublicRateLimit)
	}
	if ch.PublicBlock != nil {
		minutes, msg := BlockMinutes(*ch.PublicBlock)
		if msg != "" {
			errs["public_block"] = msg
		}
		in.PublicBlockMinutes = minutes
	}
	if len(errs) > 0 {
		return apperr.InvalidFields(errs)
	}
	return nil
}

// BlockMinutes reads a public block duration ("0", "5m", "1h") as whole
// minutes, in the product.Input syntax; msg says what is wrong, if
// anything. For the operator API and the command line.
func BlockMinutes(s string) (minutes string, msg string) {
	d, err := config.ParseDuration(strings.TrimSpace(s))
	switch {
	case err != nil || d < 0 || d%time.Minute != 0:
		return "", "Give 0 or a duration in whole minutes, such as 5m or 1h."
	case d > product.MaxBlockMinute*time.Minute:
		return "", fmt.Sprintf("Give at most %dd.", product.MaxBlockMinute/(24*60))
	}
	return strconv.Itoa(int(d / time.Minute)), ""
}

// FormatBlock writes a public block duration as BlockMinutes reads it
// (the default product's, from KEYPLANE_PUBLIC_BLOCK, may hold seconds).
func FormatBlock(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	default:
		return d.String()
	}
}

func productJSON(p product.Product) Product {
	out := Product{
		Slug: p.Slug, Name: p.Name, KeyFormat: p.Format.String(), Scopes: []ProductScope{}, RouteScopes: []string{},
		MaxKeysPerOrg: p.MaxKeysPerOrg, PublicRateLimit: p.PublicRateLimit, PublicBlock: FormatBlock(p.PublicBlock),
		APIURL: p.APIURL, Default: p.IsDefault(),
	}
	for _, s := range p.Scopes {
		if !s.BuiltIn {
			out.Scopes = append(out.Scopes, ProductScope{Name: s.Name, Description: s.Description})
		}
	}
	for _, r := range p.RouteScopes {
		out.RouteScopes = append(out.RouteScopes, r.String())
	}
	for _, k := range p.Kinds() {
		out.Kinds = append(out.Kinds, string(k))
	}
	if !p.IsDefault() {
		at := p.CreatedAt.UTC()
		out.CreatedAt = &at
	}
	return out
}

var exampleProduct = Product{
	Slug: "gosend", Name: "GoSendAPI", KeyFormat: "gsk_{env}_",
	Scopes:      []ProductScope{{Name: "sms:send", Description: "Send SMS"}, {Name: "reports:read", Description: "Read delivery reports"}},
	RouteScopes: []string{"POST /v1/sms*=sms:send", "GET /v1/reports*=reports:read"},
	Kinds:       []string{string(apikey.Private)}, MaxKeysPerOrg: 20, PublicRateLimit: 60, PublicBlock: "5m",
	APIURL: "https://api.gosend.example", CreatedAt: &exampleTime,
}

var exampleDefaultProduct = Product{
	Slug: product.DefaultSlug, Name: "Default", KeyFormat: "kp_{kind}_{env}_",
	Scopes:      []ProductScope{{Name: "read", Description: "Read access"}, {Name: "write", Description: "Write access"}},
	RouteScopes: []string{}, Kinds: []string{string(apikey.Private), string(apikey.Public)},
	MaxKeysPerOrg: 100, PublicRateLimit: 5, PublicBlock: "5m", Default: true,
}

// ListProductsOp is GET /v1/admin/products.
func ListProductsOp() huma.Operation {
	return adminDocumented(huma.Operation{
		OperationID: "admin-list-products", Method: http.MethodGet, Path: "/products", Summary: "List products",
		Description: "Every product keys can belong to, in one page: the default product (from the KEYPLANE_* variables) first, then by slug.",
	}, nil, ProductList{Data: []Product{exampleDefaultProduct, exampleProduct}})
}

// CreateProductOp is POST /v1/admin/products.
func CreateProductOp() huma.Operation {
	scopes := exampleProduct.Scopes
	routes := exampleProduct.RouteScopes
	kinds := exampleProduct.Kinds
	maxKeys, block, apiURL := exampleProduct.MaxKeysPerOrg, exampleProduct.PublicBlock, exampleProduct.APIURL
	return adminDocumented(huma.Operation{
		OperationID: "admin-create-product", Method: http.MethodPost, Path: "/products", Summary: "Create a product",
		Description:   "Creates a product with its own key format, scopes, route scopes and limits; an absent setting takes the default product's. A key format whose literal start overlaps another product's is 422 (key_format); a taken slug is 409. Its keys verify at /v1/products/{slug}/auth.",
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
	}, ProductBody{
		Slug: "gosend", Name: "GoSendAPI", KeyFormat: "gsk_{env}_", Scopes: &scopes, RouteScopes: &routes, Kinds: &kinds,
		MaxKeysPerOrg: &maxKeys, PublicBlock: &block, APIURL: &apiURL,
	}, exampleProduct)
}

// UpdateProductOp is PATCH /v1/admin/products/{slug}.
func UpdateProductOp() huma.Operation {
	name, maxKeys := "GoSend", 50
	changed := exampleProduct
	changed.Name, changed.MaxKeysPerOrg = name, maxKeys
	return adminDocumented(huma.Operation{
		OperationID: "admin-update-product", Method: http.MethodPatch, Path: "/products/{slug}", Summary: "Change a product",
		Description: "Changes a product's settings; absent properties keep their value. The key format cannot change once the product has keys (422). The default product comes from the KEYPLANE_* variables and is read-only (409).",
		Errors:      []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
	}, ProductChanges{Name: &name, MaxKeysPerOrg: &maxKeys}, changed)
}
