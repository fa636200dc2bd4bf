package web

import (
	"testing"

	"keyplane/internal/apperr"
	"keyplane/web/api"
)

// TestErrorCodesMeanTheSameStatusEverywhere: an application error's code
// maps to one HTTP status, whether the dashboard or a JSON endpoint answers.
func TestErrorCodesMeanTheSameStatusEverywhere(t *testing.T) {
	for _, code := range []apperr.Code{
		apperr.Invalid, apperr.NotFound, apperr.Conflict, apperr.Unauthorized, apperr.Forbidden,
		apperr.TooMany, apperr.Limit, apperr.Unavailable, apperr.Internal,
	} {
		if dash, json := statusOf(code), api.Status(string(code)); dash != json {
			t.Errorf("%s: the dashboard answers %d, the JSON endpoints %d", code, dash, json)
		}
	}
}
