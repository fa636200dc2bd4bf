package api

import (
	"net/http"
	"testing"

	"keyplane/internal/verify"
)

// TestStatusOfEveryOutcome: every refusal the verifier can name has its
// status from the one table, as the product's error table lists them.
func TestStatusOfEveryOutcome(t *testing.T) {
	want := map[string]int{
		verify.CodeUnauthorized: 401, verify.CodeRevoked: 401, verify.CodeExpired: 401,
		verify.CodeIPNotAllowed: 403, verify.CodeDomainNotAllowed: 403, verify.CodeAnonymous: 403, verify.CodeForbidden: 403,
		verify.CodeRateLimited: 429, verify.CodeUnavailable: 503,
		CodeBadRequest: 400, CodeTooLarge: 413, CodeNotFound: 404,
	}
	for code, status := range want {
		if got := Status(code); got != status {
			t.Errorf("Status(%q) = %d, want %d", code, got, status)
		}
	}
	if got := Status("no_such_code"); got != http.StatusInternalServerError {
		t.Errorf("an unknown code answers %d, want 500", got)
	}
}
