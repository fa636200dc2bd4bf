package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"keyplane/internal/apikey"
	"keyplane/internal/verify"
)

// BenchmarkForwardAuthCached is one allowed forward-auth of a cached key,
// in process: the handler's own cost, without the network.
func BenchmarkForwardAuthCached(b *testing.B) {
	a := newAPIEnv(b)
	secret := a.add(b, &verify.Key{
		ID: "01a20a8d-664b-7a75-ad3e-a79c4a6a7913", OrgID: "01a20a8d-664b-7a75-ad3e-a79c4a6a7914", OrgSlug: "acme",
		Kind: apikey.Private, Environment: apikey.Live, Scopes: []string{"read"}, ScopeList: "read",
	})
	req := httptest.NewRequest(http.MethodGet, "/v1/auth", nil)
	req.Header.Set("X-Api-Key", secret)
	req.RemoteAddr = "203.0.113.5:4000"
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		a.e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
