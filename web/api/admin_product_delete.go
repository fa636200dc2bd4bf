package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// ProductSlugInput names one product.
type ProductSlugInput struct {
	Slug string `path:"slug" maxLength:"40" doc:"The product's slug."`
}

// DeleteProduct is DELETE /api/v1/admin/products/{slug}: 200 with the
// product as it was. A product with keys (revoked ones included) and the
// default product are 409; an unknown slug 404.
func (m *Management) DeleteProduct(ctx context.Context, in *ProductSlugInput) (*productOutput, error) {
	p, err := m.products.Delete(ctx, in.Slug)
	if err != nil {
		return nil, m.fail(err)
	}
	m.logger.Info("operator API deleted a product", "product", p.Slug, "token", credentialOf(ctx).actor.TokenName)
	return &productOutput{Body: productJSON(p)}, nil
}

// DeleteProductOp is DELETE /v1/admin/products/{slug}.
func DeleteProductOp() huma.Operation {
	return adminDocumented(huma.Operation{
		OperationID: "admin-delete-product", Method: http.MethodDelete, Path: "/products/{slug}", Summary: "Delete a product",
		Description: "Removes a product that has no keys at all (revoked ones count: their records name it), with its legacy prefixes; its slug and key format are free again. The default product and a product with keys are 409.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, nil, exampleProduct)
}
