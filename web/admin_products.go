package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apperr"
	"keyplane/internal/product"
	"keyplane/views/admin"
	"keyplane/web/api"
)

// adminProducts lists the products, with the form to create one filled
// with the default product's limits.
func (s *Server) adminProducts(c echo.Context) error {
	def := productForm(s.products.Default())
	f := admin.ProductForm{Kinds: def.Kinds, MaxKeysPerOrg: def.MaxKeysPerOrg, PublicRateLimit: def.PublicRateLimit, PublicBlock: def.PublicBlock}
	return s.renderProducts(c, http.StatusOK, f)
}

func (s *Server) renderProducts(c echo.Context, status int, f admin.ProductForm) error {
	list := s.products.List()
	vm := admin.ProductsPage{Products: make([]admin.ProductRow, 0, len(list)), Form: f}
	for _, p := range list {
		vm.Products = append(vm.Products, productRow(p))
	}
	return render(c, status, admin.Products(s.page(c, "Products"), vm))
}

// adminCreateProduct creates a product; wrong settings, or a taken slug,
// show the form again with what was typed.
func (s *Server) adminCreateProduct(c echo.Context) error {
	f := productFormOf(c)
	f.Slug = strings.TrimSpace(c.FormValue("slug"))
	in, err := productInput(f, product.Input{Slug: f.Slug})
	var p product.Product
	if err == nil {
		p, err = s.products.Create(c.Request().Context(), in)
	}
	if apperr.Is(err, apperr.Conflict) {
		err = &apperr.Error{Code: apperr.Conflict, Message: apperr.MessageOf(err), Fields: map[string]string{"slug": "A product with this slug exists; choose another."}}
	}
	if fields := apperr.FieldsOf(err); fields != nil {
		f.Errors = fields
		return s.renderProducts(c, statusOf(apperr.CodeOf(err)), f)
	}
	if err != nil {
		return err
	}
	s.logger.Info("product created", "product", p.Slug, "by", currentUser(c).Email)
	s.sessions.addFlash(c, "Created the product "+p.Name+": keys look like "+p.Format.Example()+".")
	return redirect(c, "/admin/products")
}

// adminProduct shows one product's settings: a form, or read-only for the
// default product. An unknown slug is 404.
func (s *Server) adminProduct(c echo.Context) error {
	p, err := s.products.Get(c.Param("slug"))
	if err != nil {
		return err
	}
	return s.renderProduct(c, http.StatusOK, p, productForm(p))
}

func (s *Server) renderProduct(c echo.Context, status int, p product.Product, f admin.ProductForm) error {
	vm := admin.ProductEditPage{Product: productRow(p), Form: f}
	return render(c, status, admin.ProductEdit(s.page(c, p.Name), vm))
}

// adminUpdateProduct changes a product's settings; wrong ones show the
// form again with what was typed. The default product is read-only (409);
// an unknown slug is 404.
func (s *Server) adminUpdateProduct(c echo.Context) error {
	ctx := c.Request().Context()
	old, err := s.products.Get(c.Param("slug"))
	if err != nil {
		return err
	}
	f := productFormOf(c)
	in := product.InputOf(old)
	if !old.IsDefault() {
		in, err = productInput(f, in)
	}
	p := old
	if err == nil {
		p, err = s.products.Update(ctx, old.Slug, in)
	}
	if fields := apperr.FieldsOf(err); fields != nil {
		f.Errors = fields
		return s.renderProduct(c, statusOf(apperr.CodeOf(err)), old, f)
	}
	if err != nil {
		return err
	}
	s.logger.Info("product changed", "product", p.Slug, "by", currentUser(c).Email)
	s.sessions.addFlash(c, "Saved the product "+p.Name+".")
	return redirect(c, "/admin/products")
}

// adminDeleteProductConfirm asks before deleting a product. The default
// product and an unknown slug are refused as by the deletion itself.
func (s *Server) adminDeleteProductConfirm(c echo.Context) error {
	p, err := s.products.Get(c.Param("slug"))
	if err != nil {
		return err
	}
	if p.IsDefault() {
		return apperr.New(apperr.Conflict, "The default product comes from the KEYPLANE_* variables and cannot be deleted.")
	}
	return render(c, http.StatusOK, admin.ProductDelete(s.page(c, "Delete "+p.Name), productRow(p)))
}

// adminDeleteProduct deletes a product without keys; one with keys, the
// default product and an unknown slug are refused (409, 409, 404).
func (s *Server) adminDeleteProduct(c echo.Context) error {
	p, err := s.products.Delete(c.Request().Context(), c.Param("slug"))
	if err != nil {
		return err
	}
	s.logger.Info("product deleted", "product", p.Slug, "by", currentUser(c).Email)
	s.sessions.addFlash(c, "Deleted the product "+p.Name+".")
	return redirect(c, "/admin/products")
}

func productRow(p product.Product) admin.ProductRow {
	r := admin.ProductRow{
		Slug: p.Slug, Name: p.Name, Format: p.Format.String(), Example: p.Format.Example(), Kinds: "private",
		MaxKeys: p.MaxKeysPerOrg, Default: p.IsDefault(),
	}
	if p.PublicKeys {
		r.Kinds = "private, public"
	}
	for _, sc := range p.Scopes {
		if !sc.BuiltIn {
			r.Scopes = append(r.Scopes, sc.Name)
		}
	}
	return r
}

// productForm is p's settings as the form shows them: scopes and route
// scopes one a line.
func productForm(p product.Product) admin.ProductForm {
	in := product.InputOf(p)
	return admin.ProductForm{
		Slug: p.Slug, Name: in.Name, KeyFormat: in.KeyFormat, Scopes: strings.ReplaceAll(in.Scopes, ";", "\n"),
		RouteScopes: strings.ReplaceAll(in.RouteScopes, ";", "\n"), Kinds: in.Kinds, MaxKeysPerOrg: in.MaxKeysPerOrg,
		PublicRateLimit: in.PublicRateLimit, PublicBlock: api.FormatBlock(p.PublicBlock), APIURL: in.APIURL,
	}
}

// productFormOf is the posted form, as typed.
func productFormOf(c echo.Context) admin.ProductForm {
	v := func(name string) string {
		return strings.ReplaceAll(strings.TrimSpace(c.FormValue(name)), "\r\n", "\n")
	}
	return admin.ProductForm{
		Name: v("name"), KeyFormat: v("key_format"), Scopes: v("scopes"), RouteScopes: v("route_scopes"), Kinds: v("kinds"),
		MaxKeysPerOrg: v("max_keys_per_org"), PublicRateLimit: v("public_rate_limit"), PublicBlock: v("public_block"), APIURL: v("api_url"),
	}
}

// productInput is base with the form's settings written over it: lines
// become the variables' ; separators, and an empty number or block keeps
// base's. Returns Invalid for no kinds and for a block that is not whole
// minutes.
func productInput(f admin.ProductForm, base product.Input) (product.Input, error) {
	in := base
	errs := map[string]string{}
	lines := strings.NewReplacer("\n", ";")
	in.Name, in.KeyFormat, in.Kinds, in.APIURL = f.Name, f.KeyFormat, f.Kinds, f.APIURL
	in.Scopes, in.RouteScopes = lines.Replace(f.Scopes), lines.Replace(f.RouteScopes)
	if in.Kinds == "" {
		errs["kinds"] = "Choose private keys only, or private and public keys."
	}
	if f.MaxKeysPerOrg != "" {
		in.MaxKeysPerOrg = f.MaxKeysPerOrg
	}
	if f.PublicRateLimit != "" {
		in.PublicRateLimit = f.PublicRateLimit
	}
	if f.PublicBlock != "" {
		minutes, msg := api.BlockMinutes(f.PublicBlock)
		if msg != "" {
			errs["public_block"] = msg
		}
		in.PublicBlockMinutes = minutes
	}
	if len(errs) > 0 {
		return product.Input{}, apperr.InvalidFields(errs)
	}
	return in, nil
}
