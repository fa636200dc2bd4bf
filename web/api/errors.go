// Package api holds Keyplane's JSON endpoints: the data plane under /v1,
// which platform gateways and services call to verify keys on every
// request, and the management API under /api, through which programs do
// what admins do in the dashboard.
package api

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"keyplane/internal/verify"
)

// Error codes of the JSON endpoints besides the verification outcomes
// (verify.Code*), which share the same table.
const (
	CodeBadRequest       = "bad_request"        // the body or a header cannot be read
	CodeTooLarge         = "too_large"          // the body is over its limit
	CodeNotFound         = "not_found"          // no such endpoint or object
	CodeMethodNotAllowed = "method_not_allowed" // the endpoint does not take this method
	CodeInvalid          = "invalid"            // the input is readable but wrong
	CodeConflict         = "conflict"           // the object changed or exists
	CodeTooMany          = "too_many"           // throttled
	CodeLimit            = "limit"              // a configured limit is reached
	CodeInternal         = "internal"           // anything else

	CodeUnsupportedMediaType  = "unsupported_media_type"  // the body is not JSON
	CodeIdempotencyReplay     = "idempotency_replay"      // the Idempotency-Key already made this
	CodeIdempotencyInProgress = "idempotency_in_progress" // the Idempotency-Key's first request is running
	CodeIdempotencyMismatch   = "idempotency_mismatch"    // the Idempotency-Key was used for another request
)

// statuses is the one table from a JSON error code to its HTTP status.
var statuses = map[string]int{
	verify.CodeUnauthorized:     http.StatusUnauthorized,
	verify.CodeRevoked:          http.StatusUnauthorized,
	verify.CodeExpired:          http.StatusUnauthorized,
	verify.CodeDisabled:         http.StatusUnauthorized,
	verify.CodeIPNotAllowed:     http.StatusForbidden,
	verify.CodeDomainNotAllowed: http.StatusForbidden,
	verify.CodeAnonymous:        http.StatusForbidden,
	verify.CodeForbidden:        http.StatusForbidden,
	verify.CodeRateLimited:      http.StatusTooManyRequests,
	verify.CodeQuotaExceeded:    http.StatusTooManyRequests,
	verify.CodeUnavailable:      http.StatusServiceUnavailable,
	CodeBadRequest:              http.StatusBadRequest,
	CodeTooLarge:                http.StatusRequestEntityTooLarge,
	CodeNotFound:                http.StatusNotFound,
	CodeMethodNotAllowed:        http.StatusMethodNotAllowed,
	CodeInvalid:                 http.StatusUnprocessableEntity,
	CodeConflict:                http.StatusConflict,
	CodeTooMany:                 http.StatusTooManyRequests,
	CodeLimit:                   http.StatusConflict,
	CodeInternal:                http.StatusInternalServerError,
	CodeUnsupportedMediaType:    http.StatusUnsupportedMediaType,
	CodeIdempotencyReplay:       http.StatusConflict,
	CodeIdempotencyInProgress:   http.StatusConflict,
	CodeIdempotencyMismatch:     http.StatusUnprocessableEntity,
}

// Status returns the HTTP status of an error code; 500 for a code the table
// does not know.
func Status(code string) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// HeaderError names the error code of a refusal, for gateways that drop the
// body (nginx's auth_request) and would otherwise lose the exact code.
const HeaderError = "X-Keyplane-Error"

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// WriteError writes the error shape every JSON endpoint shares,
// {"error": {"code": "...", "message": "..."}}, with the code's status and
// the code in X-Keyplane-Error.
func WriteError(c echo.Context, code, msg string) error {
	var body errorBody
	body.Error.Code, body.Error.Message = code, msg
	b, _ := json.Marshal(body)
	c.Response().Header()[HeaderError] = []string{code}
	return c.JSONBlob(Status(code), b)
}
