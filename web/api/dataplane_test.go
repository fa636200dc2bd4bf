package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/clientip"
	"keyplane/internal/config"
	"keyplane/internal/product"
	"keyplane/internal/verify"
)

// memStore is a verify.Store in memory that fails on demand.
type memStore struct {
	mu   sync.Mutex
	keys map[string]*verify.Key // by hex-free string of the hash
	err  error
}

func (s *memStore) KeyByHash(_ context.Context, h []byte) (*verify.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	k, ok := s.keys[string(h)]
	if !ok {
		return nil, verify.ErrUnknownKey
	}
	return k, nil
}

// defaultOnly is the products of a deployment with only the default
// product, of prefix kp and route scopes rules.
func defaultOnly(rules []config.RouteScope) *product.Service {
	return product.Fixed(product.Product{Slug: product.DefaultSlug, Format: apikey.MustFormat("kp_{kind}_{env}_"), RouteScopes: rules, PublicKeys: true})
}

// apiEnv is the data plane's handlers on an Echo router over a memStore.
type apiEnv struct {
	store *memStore
	e     *echo.Echo
	now   time.Time
}

// newAPIEnv returns the handlers over an empty memStore, behind the proxies
// in trusted.
func newAPIEnv(t testing.TB, trusted ...netip.Prefix) *apiEnv {
	t.Helper()
	a := &apiEnv{store: &memStore{keys: map[string]*verify.Key{}}, now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	now := func() time.Time { return a.now }
	v := verify.New(verify.Options{Store: a.store, Prefix: "kp", Now: now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rules := []config.RouteScope{{Method: "POST", Path: "/v1/sms*", Scope: "sms:send"}}
	d := NewDataPlane(v, nil, defaultOnly(rules), clientip.New(trusted), now)
	a.e = echo.New()
	a.e.Any("/v1/auth", d.ForwardAuth)
	a.e.Any("/v1/auth/*", d.ForwardAuth)
	a.e.POST("/v1/verify", d.Verify)
	a.e.GET("/v1/me", d.Me)
	return a
}

func (a *apiEnv) add(t testing.TB, k *verify.Key) string {
	t.Helper()
	secret, err := apikey.Generate(nil, "kp", k.Kind, k.Environment)
	if err != nil {
		t.Fatal(err)
	}
	a.store.mu.Lock()
	a.store.keys[string(apikey.Hash(secret))] = k
	a.store.mu.Unlock()
	return secret
}

func (a *apiEnv) do(req *http.Request) (*httptest.ResponseRecorder, map[string]any) {
	rec := httptest.NewRecorder()
	a.e.ServeHTTP(rec, req)
	var body map[string]any
	if rec.Body.Len() > 0 {
		json.Unmarshal(rec.Body.Bytes(), &body)
	}
	return rec, body
}

func postVerify(body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/v1/verify", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// wantErrorShape asserts {"error": {"code": code, "message": non-empty}}
// and nothing else.
func wantErrorShape(t *testing.T, rec *httptest.ResponseRecorder, body map[string]any, status int, code string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	e, ok := body["error"].(map[string]any)
	if !ok || len(body) != 1 {
		t.Fatalf("not the error shape: %s", rec.Body)
	}
	if e["code"] != code || e["message"] == "" || e["message"] == nil || len(e) != 2 {
		t.Fatalf("error %v, want code %q with a message", e, code)
	}
}

func TestVerifyBodyErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"malformed JSON", `{"key": `, 400, "bad_request"},
		{"not an object", `["kp_sk_live_x"]`, 400, "bad_request"},
		{"wrong type", `{"key": 42}`, 400, "bad_request"},
		{"two objects", `{"key": "a"} {"key": "b"}`, 400, "bad_request"},
		{"empty body", ``, 400, "bad_request"},
		{"bad ip", `{"key": "a", "ip": "999.1.1.1"}`, 400, "bad_request"},
		{"ip with CIDR", `{"key": "a", "ip": "10.0.0.0/8"}`, 400, "bad_request"},
		{"over 64 KiB in a string", `{"key": "` + strings.Repeat("a", 70<<10) + `"}`, 413, "too_large"},
		{"over 64 KiB of garbage", strings.Repeat("{", 70<<10), 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPIEnv(t)
			rec, body := a.do(postVerify(tt.body))
			if tt.status == 0 {
				// Either refusal is fine; never a 500 and always the shape.
				if rec.Code != 400 && rec.Code != 413 {
					t.Fatalf("status %d, want 400 or 413: %.200s", rec.Code, rec.Body)
				}
				code := map[int]string{400: "bad_request", 413: "too_large"}[rec.Code]
				wantErrorShape(t, rec, body, rec.Code, code)
				return
			}
			wantErrorShape(t, rec, body, tt.status, tt.code)
		})
	}
}

func TestVerifyJustUnder64KiB(t *testing.T) {
	a := newAPIEnv(t)
	body := `{"key": "x", "origin": "` + strings.Repeat("a", MaxVerifyBody-40) + `"}`
	if len(body) > MaxVerifyBody {
		t.Fatalf("body of %d bytes", len(body))
	}
	rec, out := a.do(postVerify(body))
	if rec.Code != 200 || out["valid"] != false || out["code"] != verify.CodeUnauthorized {
		t.Fatalf("status %d body %.200s", rec.Code, rec.Body)
	}
}

func TestVerifyShapes(t *testing.T) {
	a := newAPIEnv(t)
	noScopes := a.add(t, &verify.Key{ID: "k1", OrgID: "o1", OrgSlug: "acme", Kind: apikey.Private, Environment: apikey.Test})
	scoped := a.add(t, &verify.Key{ID: "k2", OrgID: "o1", OrgSlug: "acme", Kind: apikey.Private, Environment: apikey.Live,
		Scopes: []string{"sms:send"}, RateLimit: 2, IPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}})

	// A valid key without scopes still says "scopes": [].
	rec, out := a.do(postVerify(`{"key": "` + noScopes + `"}`))
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	want := map[string]any{"valid": true, "key_id": "k1", "org_id": "o1", "org": "acme", "environment": "test", "kind": "private", "product": "default", "scopes": []any{}}
	if !jsonEqual(out, want) {
		t.Fatalf("got %s, want %v", rec.Body, want)
	}

	// With a limit: ratelimit {limit, remaining, reset}.
	rec, out = a.do(postVerify(`{"key": "` + scoped + `", "scope": "sms:send", "ip": "10.0.0.9"}`))
	want = map[string]any{"valid": true, "key_id": "k2", "org_id": "o1", "org": "acme", "environment": "live", "kind": "private", "product": "default",
		"scopes": []any{"sms:send"}, "ratelimit": map[string]any{"limit": 2.0, "remaining": 1.0, "reset": 60.0}}
	if rec.Code != 200 || !jsonEqual(out, want) {
		t.Fatalf("got %d %s, want %v", rec.Code, rec.Body, want)
	}

	// A refusal: valid false, code, message, nothing about the key.
	rec, out = a.do(postVerify(`{"key": "` + scoped + `", "ip": "10.0.1.1"}`))
	if rec.Code != 200 || out["valid"] != false || out["code"] != verify.CodeIPNotAllowed || out["message"] == "" {
		t.Fatalf("ip refusal: %d %s", rec.Code, rec.Body)
	}
	for _, f := range []string{"key_id", "org_id", "org", "scopes", "retry_after"} {
		if _, ok := out[f]; ok {
			t.Errorf("refusal carries %q: %s", f, rec.Body)
		}
	}

	// The limit runs out: rate_limited with retry_after.
	a.do(postVerify(`{"key": "` + scoped + `", "ip": "10.0.0.9"}`))
	rec, out = a.do(postVerify(`{"key": "` + scoped + `", "ip": "10.0.0.9"}`))
	if rec.Code != 200 || out["valid"] != false || out["code"] != verify.CodeRateLimited || out["retry_after"] != 60.0 {
		t.Fatalf("rate limited: %d %s", rec.Code, rec.Body)
	}

	// The database down, key not cached: 503 in the error shape.
	a.store.mu.Lock()
	a.store.err = errors.New("down")
	a.store.mu.Unlock()
	other, _ := apikey.Generate(nil, "kp", apikey.Private, apikey.Live)
	rec, out = a.do(postVerify(`{"key": "` + other + `"}`))
	wantErrorShape(t, rec, out, 503, verify.CodeUnavailable)
	req := httptest.NewRequest(http.MethodGet, "/v1/auth", nil)
	req.Header.Set("X-Api-Key", other)
	rec, out = a.do(req)
	wantErrorShape(t, rec, out, 503, verify.CodeUnavailable)
	req = httptest.NewRequest(http.MethodGet, "/v1/me", nil)
	req.Header.Set("X-Api-Key", other)
	rec, out = a.do(req)
	wantErrorShape(t, rec, out, 503, verify.CodeUnavailable)
	// A cached key keeps verifying.
	rec, out = a.do(postVerify(`{"key": "` + noScopes + `"}`))
	if rec.Code != 200 || out["valid"] != true {
		t.Fatalf("cached key with the database down: %d %s", rec.Code, rec.Body)
	}
}

func TestMeShape(t *testing.T) {
	a := newAPIEnv(t)
	created := time.Date(2029, 12, 1, 8, 0, 0, 0, time.FixedZone("x", 3600))
	secret := a.add(t, &verify.Key{ID: "k1", OrgID: "o1", OrgSlug: "acme", OrgName: "Acme Inc", Hint: "kp_sk_live_…abcd",
		Description: "billing", Kind: apikey.Private, Environment: apikey.Live, CreatedAt: created})
	req := httptest.NewRequest(http.MethodGet, "/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	rec, out := a.do(req)
	want := map[string]any{
		"org": map[string]any{"id": "o1", "slug": "acme", "name": "Acme Inc"},
		"key": map[string]any{"id": "k1", "description": "billing", "hint": "kp_sk_live_…abcd", "kind": "private",
			"environment": "live", "product": "default", "scopes": []any{}, "created_at": "2029-12-01T07:00:00Z"},
	}
	if rec.Code != 200 || !jsonEqual(out, want) {
		t.Fatalf("got %d %s, want %v", rec.Code, rec.Body, want)
	}
}

func TestForwardAuthConflict(t *testing.T) {
	a := newAPIEnv(t)
	k1 := a.add(t, &verify.Key{ID: "k1", OrgID: "o1", Kind: apikey.Private, Environment: apikey.Live})
	k2 := a.add(t, &verify.Key{ID: "k2", OrgID: "o1", Kind: apikey.Private, Environment: apikey.Live})
	for _, path := range []string{"/v1/auth", "/v1/me"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("X-Api-Key", k1)
		req.Header.Set("Authorization", "Bearer "+k2)
		rec, out := a.do(req)
		wantErrorShape(t, rec, out, 401, verify.CodeUnauthorized)
		if rec.Header().Get(HeaderKeyID) != "" {
			t.Errorf("%s: identity header on a conflict", path)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
