package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/clocktest"
	"keyplane/internal/store"
)

// BenchmarkAPIListKeys lists an organization's 100 keys (each with 30 days
// of usage) in one page through the management API, authentication and
// rate limit included. Target: under 10 ms.
func BenchmarkAPIListKeys(b *testing.B) {
	for _, dialect := range []string{store.SQLite, store.Postgres} {
		b.Run(dialect, func(b *testing.B) {
			db := benchDB(b, dialect)
			// A clock 100 ms further on at every request keeps the key
			// under the API's 600 a minute, through the real limiter.
			clock := clocktest.New(time.Now())
			srv, _ := benchServer(b, db, 99, func(d *Deps) { d.Now = clock.Now })
			benchUsage(b, db, srv.now())
			o, err := srv.orgs.BySlug(context.Background(), "acme")
			if err != nil {
				b.Fatal(err)
			}
			c, err := srv.keys.Create(context.Background(), o.ID, "", apikey.Input{
				Description: "CI deployer", Kind: "private", Environment: "live", Scopes: []string{"keys:manage"},
			}, audit.Actor{})
			if err != nil {
				b.Fatal(err)
			}
			list := func() *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodGet, "/api/v1/keys?limit=100", nil)
				req.Header.Set("X-Api-Key", c.Secret)
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET /api/v1/keys: %d %s", rec.Code, rec.Body)
				}
				return rec
			}
			var page struct{ Data []json.RawMessage }
			if err := json.Unmarshal(list().Body.Bytes(), &page); err != nil || len(page.Data) != 100 {
				b.Fatalf("%d keys listed, want 100 (%v)", len(page.Data), err)
			}
			b.ResetTimer()
			for b.Loop() {
				clock.Advance(100 * time.Millisecond)
				list()
			}
			ms := float64(b.Elapsed().Microseconds()) / 1000 / float64(b.N)
			b.ReportMetric(ms, "ms/list")
			b.Logf("management API, list of 100 keys with 30 days of usage, %s: %.2f ms per request%s", dialect, ms, verdict(dialect, ms, 10))
		})
	}
}
