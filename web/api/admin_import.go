package api

import (
	"bytes"
	"context"
	"mime"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
)

// Limits of an import through the API.
const (
	MaxImportKeys = 1000
	MaxImportBody = 4 << 20
)

// NDJSON is the media type of an import: one JSON object per line.
const NDJSON = "application/x-ndjson"

// ImportKeysInput imports keys into one organization.
type ImportKeysInput struct {
	Slug         string   `path:"slug" doc:"The organization's slug."`
	Product      string   `query:"product" maxLength:"40" doc:"The keys' product; the default product when absent."`
	LegacyPrefix []string `query:"legacy_prefix,explode" doc:"A start of the product's keys from before Keyplane (repeatable): keys with it are looked up by hash."`
	ContentType  string   `header:"Content-Type"`
	RawBody      []byte   `contentType:"application/x-ndjson"`
}

// ImportResult says what an import did.
type ImportResult struct {
	Created  int `json:"created" doc:"Keys stored now."`
	Existing int `json:"existing" doc:"Keys that were there already, unchanged."`
}

type importOutput struct {
	Body ImportResult
}

// ImportKeys is POST /api/v1/admin/orgs/{slug}/keys/import: up to 1,000
// keys as JSON lines, all or none. A bad line is 422 "line N: reason"; a
// body of another type 415; an unknown organization 404.
func (m *Management) ImportKeys(ctx context.Context, in *ImportKeysInput) (*importOutput, error) {
	if mt, _, err := mime.ParseMediaType(in.ContentType); err != nil || mt != NDJSON {
		return nil, NewProblem(CodeUnsupportedMediaType, "Send the keys as "+NDJSON+": one JSON object per line.")
	}
	o, err := m.orgs.BySlug(ctx, in.Slug)
	if err != nil {
		return nil, m.fail(err)
	}
	lines, err := apikey.ReadImportLines(bytes.NewReader(in.RawBody), MaxImportKeys)
	if err != nil {
		return nil, m.fail(err)
	}
	plan, err := m.products.ImportOf(in.Product, in.LegacyPrefix, lines)
	if err != nil {
		return nil, m.fail(apperr.InvalidFields(map[string]string{"product": "There is no such product."}))
	}
	got, err := m.keys.Import(ctx, o.ID, plan, credentialOf(ctx).actor)
	if err != nil {
		return nil, m.fail(err)
	}
	return &importOutput{Body: ImportResult{Created: got.Created, Existing: got.Existed}}, nil
}

// importExample is the request example of ImportKeysOp.
const importExample = `{"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "description": "Customer 1042", "scopes": ["send"], "external_id": "cus_1042"}
{"key": "msgine_live_7hGk2mPq9sXv4bNz8cRt1wYe", "environment": "live", "created_at": "2025-04-01T12:00:00Z"}
`

// ImportKeysOp is POST /v1/admin/orgs/{slug}/keys/import.
func ImportKeysOp() huma.Operation {
	op := orgsOp(huma.Operation{
		OperationID: "admin-import-keys", Method: http.MethodPost, Path: "/orgs/{slug}/keys/import", Summary: "Import keys",
		Description: "Brings a platform's existing keys into the organization, all or none: up to 1,000 JSON lines (" + NDJSON + ") of " +
			"{\"key\": plaintext} or {\"sha256\": 64 hex}, with optional description, environment, kind, scopes, domains, ips, expires_at, " +
			"created_at, last_used_at and external_id. Only hashes are stored; keys already there change nothing; the per-organization limit does not apply. " +
			"A bad line fails the import: 422 \"line N: reason\".",
		Errors: []int{http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity},
	}, nil, ImportResult{Created: 2, Existing: 0})
	op.MaxBodyBytes = MaxImportBody
	return op
}

// documentImport adds the import's request example, which huma's raw body
// leaves out.
func documentImport(api huma.API) {
	for _, item := range api.OpenAPI().Paths {
		if op := item.Post; op != nil && op.OperationID == "admin-import-keys" && op.RequestBody != nil {
			if mt := op.RequestBody.Content[NDJSON]; mt != nil {
				mt.Example = importExample
			}
		}
	}
}
