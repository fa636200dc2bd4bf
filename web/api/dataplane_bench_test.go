package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"keyplane/internal/apikey"
	"keyplane/internal/clientip"
	"keyplane/internal/quota"
	"keyplane/internal/usage"
	"keyplane/internal/verify"
)

var benchKey = &verify.Key{
	ID: "01a20a8d-664b-7a75-ad3e-a79c4a6a7913", OrgID: "01a20a8d-664b-7a75-ad3e-a79c4a6a7914", OrgSlug: "acme",
	Kind: apikey.Private, Environment: apikey.Live, Scopes: []string{"read"}, ScopeList: "read",
}

// BenchmarkForwardAuthCached is one allowed forward-auth of a cached key,
// in process: the handler's own cost, without the network.
func BenchmarkForwardAuthCached(b *testing.B) {
	a := newAPIEnv(b)
	secret := a.add(b, benchKey)
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

// discard is a ResponseWriter that keeps only the status, reused across
// requests so the benchmark measures the handler, not the recorder.
type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(status int)      { d.status = status }

// BenchmarkForwardAuthParallel is forward-auth of one cached key from every
// core at once, with the data plane fully on: usage counting and last use,
// metrics, the rate limiter (in-process). A lock every request takes shows
// here as time per request growing with -cpu. "/limited" gives the key a
// rate limit no request reaches, so every request also takes the key's
// own limit.
//
// "/quota" gives the key a monthly quota no request reaches and its
// organization one too (counted in process memory, as without Redis);
// "/report-only" gives it an IP allowlist every request is outside of, in
// report-only mode, so every request is counted as would_ip_not_allowed.
// Set beside "/unlimited", they show what each costs, and that a key with
// neither pays nothing for them.
func BenchmarkForwardAuthParallel(b *testing.B) {
	b.Run("unlimited", func(b *testing.B) { benchForwardAuthParallel(b, nil) })
	b.Run("limited", func(b *testing.B) { benchForwardAuthParallel(b, func(k *verify.Key) { k.RateLimit = 1 << 30 }) })
	b.Run("quota", func(b *testing.B) {
		benchForwardAuthParallel(b, func(k *verify.Key) {
			k.Quota = &quota.Subject{ID: k.ID, Spec: quota.Spec{Kind: quota.Month, Limit: quota.MaxLimit}}
			k.OrgQuota = &quota.Subject{ID: k.OrgID, Spec: quota.Spec{Kind: quota.Month, Limit: quota.MaxLimit}}
		})
	})
	b.Run("report-only", func(b *testing.B) {
		benchForwardAuthParallel(b, func(k *verify.Key) {
			k.IPs, k.Report = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, verify.ReportIPs
		})
	})
}

func benchForwardAuthParallel(b *testing.B, edit func(*verify.Key)) {
	store := &memStore{keys: map[string]*verify.Key{}}
	reg := prometheus.NewRegistry()
	v := verify.New(verify.Options{Store: store, Prefix: "kp", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: verify.NewMetrics(reg)})
	k := *benchKey
	if edit != nil {
		edit(&k)
	}
	k.Identity = verify.IdentityOf(&k) // as a key loaded from the database has
	secret, err := apikey.Generate(nil, "kp", k.Kind, k.Environment)
	if err != nil {
		b.Fatal(err)
	}
	store.keys[string(apikey.Hash(secret))] = &k
	rec := usage.NewRecorder(nil, nil, reg)
	d := NewDataPlane(v, rec, defaultOnly(nil), clientip.New(nil), time.Now)
	e := echo.New()
	e.Any("/v1/auth", d.ForwardAuth)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest(http.MethodGet, "/v1/auth", nil)
		req.Header.Set("X-Api-Key", secret)
		req.Header.Set("X-Forwarded-Uri", "/orders/42")
		req.RemoteAddr = "203.0.113.5:4000"
		w := &discard{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			e.ServeHTTP(w, req)
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		}
	})
}
