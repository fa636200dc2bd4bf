package api

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// The operations of the org API's keys. Each is a function, so every
// server registers its own copy (huma fills in an operation's maps).

var (
	exampleTime    = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	exampleRevoked = time.Date(2026, 3, 9, 14, 5, 0, 0, time.UTC)
	exampleKey     = Key{
		ID: "01960b1e-7c3a-7d7e-9f3a-2b8c4d5e6f70", Description: "CI deployer", Hint: "kp_sk_live_…a9Qz", Product: "default",
		Kind: "private", Environment: "live", Scopes: []string{"read", "keys:manage"}, Domains: []string{},
		IPs: []string{"203.0.113.0/24"}, Status: "active", Source: "generated", CreatedAt: exampleTime,
		LastUsedAt: &exampleRevoked, Requests24h: 1284, ReportOnly: []string{},
		Modes: map[string]string{"ips": "enforce", "domains": "enforce", "rate_limit": "enforce", "scopes": "enforce", "quota": "enforce"},
	}
	exampleSecret = "kp_sk_live_3xAmPLe0nLyN0tARealKeyAtA11a9Qz0wr1Fb"
)

func exampleError(code, message string, fields ...FieldError) map[string]any {
	d := map[string]any{"code": code, "message": message}
	if len(fields) > 0 {
		d["fields"] = fields
	}
	return map[string]any{"error": d}
}

// errorExamples are the documented errors' examples, by status.
var errorExamples = map[int]map[string]any{
	http.StatusBadRequest:            exampleError(CodeBadRequest, "The request body is not valid JSON."),
	http.StatusUnauthorized:          exampleError("unauthorized", "Send a key with keys:manage in X-Api-Key or Authorization: Bearer."),
	http.StatusForbidden:             exampleError("forbidden", "This key lacks the scope keys:manage."),
	http.StatusNotFound:              exampleError(CodeNotFound, "API key not found."),
	http.StatusConflict:              exampleError(CodeConflict, "This key is already revoked."),
	http.StatusRequestEntityTooLarge: exampleError(CodeTooLarge, "The request body is larger than 64 KiB."),
	http.StatusUnprocessableEntity: exampleError(CodeInvalid, "Please correct the highlighted fields.",
		FieldError{Name: "domains", Message: "A public key needs at least one allowed domain."}),
	http.StatusTooManyRequests:    exampleError("rate_limited", "More than 600 requests in a minute with this key; retry after the time in Retry-After."),
	http.StatusServiceUnavailable: exampleError("unavailable", "The key cannot be checked right now: the database cannot be reached."),
}

// documented returns an operation of the org API: its security (a key in
// X-Api-Key or as a bearer token), body bound, the errors every operation
// may answer (401, 403, 429, 503) besides op's own, and examples: the request
// body's (if any), the success response's; ErrorExamples adds the errors'.
func documented(op huma.Operation, request any, response any) huma.Operation {
	op.Tags = []string{"Keys"}
	op.Security = []map[string][]string{{SchemeAPIKey: {}}, {SchemeBearer: {}}}
	op.MaxBodyBytes = MaxManageBody
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		if !slices.Contains(op.Errors, status) {
			op.Errors = append(op.Errors, status)
		}
	}
	if request != nil {
		op.RequestBody = &huma.RequestBody{Content: map[string]*huma.MediaType{"application/json": {Example: request}}}
		// A body may be unreadable, or hold a NUL (RefuseNUL).
		if !slices.Contains(op.Errors, http.StatusBadRequest) {
			op.Errors = append(op.Errors, http.StatusBadRequest)
		}
	}
	slices.Sort(op.Errors)
	status := op.DefaultStatus
	if status == 0 {
		status = http.StatusOK
	}
	op.Responses = map[string]*huma.Response{strconv.Itoa(status): {
		Description: http.StatusText(status),
		Content:     map[string]*huma.MediaType{"application/json": {Example: response}},
	}}
	return op
}

// ErrorExamples adds each documented error response's example, after
// every operation of api is registered.
func ErrorExamples(api huma.API) {
	documentImport(api)
	for path, item := range api.OpenAPI().Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Patch, item.Put, item.Delete} {
			if op == nil {
				continue
			}
			for status, ex := range errorExamples {
				if a, ok := adminErrorExamples[status]; ok && isAdminPath(path) {
					ex = a
				}
				r := op.Responses[strconv.Itoa(status)]
				if r == nil {
					continue
				}
				for _, mt := range r.Content {
					mt.Example = ex
				}
			}
		}
	}
}

// ListKeysOp is GET /v1/keys.
func ListKeysOp() huma.Operation {
	next := "MTlkOHo1bDZxdzAuMDE5NjBiMWU.q1Yx8mXo2Nf0cT9bZrVb3g"
	return documented(huma.Operation{
		OperationID: "list-keys", Method: http.MethodGet, Path: "/keys", Summary: "List keys",
		Description: "The organization's keys, newest first, filtered as in the dashboard and paged by cursor.",
		Errors:      []int{http.StatusUnprocessableEntity},
	}, nil, KeyList{Data: []Key{exampleKey}, NextCursor: &next})
}

// CreateKeyOp is POST /v1/keys.
func CreateKeyOp() huma.Operation {
	return documented(huma.Operation{
		OperationID: "create-key", Method: http.MethodPost, Path: "/keys", Summary: "Create a key",
		Description:   "Creates a key and answers it with its secret, once. Takes an Idempotency-Key header.",
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
	}, KeySettings{Description: "CI deployer", Kind: "private", Environment: "live", Scopes: []string{"read", "keys:manage"}, IPs: []string{"203.0.113.0/24"}},
		CreatedKey{Key: exampleKey, Secret: exampleSecret})
}

// GetKeyOp is GET /v1/keys/{id}.
func GetKeyOp() huma.Operation {
	return documented(huma.Operation{
		OperationID: "get-key", Method: http.MethodGet, Path: "/keys/{id}", Summary: "Get a key",
		Errors: []int{http.StatusNotFound},
	}, nil, exampleKey)
}

// UpdateKeyOp is PATCH /v1/keys/{id}.
func UpdateKeyOp() huma.Operation {
	desc := "CI deployer (staging)"
	edited := exampleKey
	edited.Description = desc
	return documented(huma.Operation{
		OperationID: "update-key", Method: http.MethodPatch, Path: "/keys/{id}", Summary: "Change a key",
		Description: "Changes the description, scopes, domains, IPs, expiry and rate limit; absent properties keep their value. Kind and environment cannot change (422). A key cannot remove keys:manage from itself (409).",
		Errors:      []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
	}, KeyChanges{Description: &desc}, edited)
}

// RotateKeyOp is POST /v1/keys/{id}/rotate.
func RotateKeyOp() huma.Operation {
	return documented(huma.Operation{
		OperationID: "rotate-key", Method: http.MethodPost, Path: "/keys/{id}/rotate", Summary: "Rotate a key",
		Description:   "Makes a new key with the same settings and answers it with its secret, once; the old key keeps working for the grace period. Takes an Idempotency-Key header.",
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
	}, RotateBody{Grace: "24h"}, CreatedKey{Key: exampleKey, Secret: exampleSecret})
}

// RevokeKeyOp is POST /v1/keys/{id}/revoke.
func RevokeKeyOp() huma.Operation {
	revoked := exampleKey
	revoked.Status, revoked.RevokedAt = "revoked", &exampleRevoked
	return documented(huma.Operation{
		OperationID: "revoke-key", Method: http.MethodPost, Path: "/keys/{id}/revoke", Summary: "Revoke a key",
		Description: "Ends a key for good; it fails verification within a second everywhere. A key cannot revoke itself (409).",
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, nil, revoked)
}

// DisableKeyOp is POST /v1/keys/{id}/disable.
func DisableKeyOp() huma.Operation {
	disabled := exampleKey
	disabled.Status, disabled.DisabledAt = "disabled", &exampleRevoked
	return documented(huma.Operation{
		OperationID: "disable-key", Method: http.MethodPost, Path: "/keys/{id}/disable", Summary: "Disable a key",
		Description: "Pauses a key: it fails verification with key_disabled within a second everywhere, until it is enabled. A key cannot disable itself (409).",
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, nil, disabled)
}

// EnableKeyOp is POST /v1/keys/{id}/enable.
func EnableKeyOp() huma.Operation {
	return documented(huma.Operation{
		OperationID: "enable-key", Method: http.MethodPost, Path: "/keys/{id}/enable", Summary: "Enable a key",
		Description: "Lets a disabled key work again, within a second everywhere. A revoked key cannot be enabled: 409 key_revoked.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, nil, exampleKey)
}

// EndGraceKeyOp is POST /v1/keys/{id}/end-grace.
func EndGraceKeyOp() huma.Operation {
	old := exampleKey
	old.Status, old.ExpiresAt = "expired", &exampleRevoked
	return documented(huma.Operation{
		OperationID: "end-key-grace", Method: http.MethodPost, Path: "/keys/{id}/end-grace", Summary: "End a rotation's grace period",
		Description: "id is the NEW key of a rotation: the old key it replaced stops working now. Answers the old key.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, nil, old)
}
