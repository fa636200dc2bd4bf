package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"keyplane/internal/apikey"
	"keyplane/internal/quota"
	"keyplane/internal/verify"
)

func meteredKey(kind quota.Kind, limit int64) *verify.Key {
	return &verify.Key{ID: "key-q", OrgID: "org-1", OrgSlug: "acme", Kind: apikey.Private, Environment: apikey.Live,
		Quota: &quota.Subject{ID: "key-q", Spec: quota.Spec{Kind: kind, Limit: limit}}}
}

func authRequest(key string, headers ...string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/v1/auth", nil)
	req.Header.Set("X-Api-Key", key)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return req
}

// TestForwardAuthQuota: every answer for a key with a quota carries the
// "quota" RateLimit item; the request past it is 429 quota_exceeded with
// Retry-After until the UTC day ends.
func TestForwardAuthQuota(t *testing.T) {
	a := newAPIEnv(t) // 2030-01-02 03:04:05 UTC
	secret := a.add(t, meteredKey(quota.Day, 2))
	untilMidnight := 24*3600 - (3*3600 + 4*60 + 5)
	for i, want := range []string{
		fmt.Sprintf(`"quota";r=1;t=%d`, untilMidnight),
		fmt.Sprintf(`"quota";r=0;t=%d`, untilMidnight),
	} {
		rec, _ := a.do(authRequest(secret))
		if rec.Code != http.StatusOK || rec.Header().Get("RateLimit") != want {
			t.Fatalf("request %d: %d, RateLimit %q; want 200, %q", i, rec.Code, rec.Header().Get("RateLimit"), want)
		}
		if p := rec.Header().Get("RateLimit-Policy"); p != `"quota";q=2;w=86400` {
			t.Fatalf("RateLimit-Policy %q", p)
		}
	}
	rec, body := a.do(authRequest(secret))
	wantErrorShape(t, rec, body, http.StatusTooManyRequests, verify.CodeQuotaExceeded)
	if rec.Header().Get("X-Keyplane-Error") != verify.CodeQuotaExceeded || rec.Header().Get("Retry-After") != fmt.Sprint(untilMidnight) {
		t.Fatalf("headers %v", rec.Header())
	}
	if got := rec.Header().Get("RateLimit"); got != fmt.Sprintf(`"quota";r=0;t=%d`, untilMidnight) {
		t.Fatalf("RateLimit %q", got)
	}
}

// TestForwardAuthQuotaWithRateLimit lists both limits in one header each.
func TestForwardAuthQuotaWithRateLimit(t *testing.T) {
	a := newAPIEnv(t)
	k := meteredKey(quota.Credits, 10)
	k.RateLimit = 5
	secret := a.add(t, k)
	rec, _ := a.do(authRequest(secret))
	if got := rec.Header().Get("RateLimit"); got != `"default";r=4;t=60, "quota";r=9` {
		t.Fatalf("RateLimit %q", got)
	}
	if got := rec.Header().Get("RateLimit-Policy"); got != `"default";q=5;w=60, "quota";q=10` {
		t.Fatalf("RateLimit-Policy %q", got)
	}
}

// TestCostHeaderOnlyFromTrustedProxies: a gateway inside the trusted
// proxies states the cost; a client's own header is ignored; a gateway's
// malformed one is a 400.
func TestCostHeaderOnlyFromTrustedProxies(t *testing.T) {
	gateway := netip.MustParsePrefix("10.0.0.0/8")
	a := newAPIEnv(t, gateway)
	secret := a.add(t, meteredKey(quota.Credits, 100))
	send := func(peer string, cost ...string) *httptest.ResponseRecorder {
		req := authRequest(secret)
		for _, c := range cost {
			req.Header.Add(HeaderCost, c)
		}
		req.RemoteAddr = peer + ":5555"
		rec, _ := a.do(req)
		return rec
	}
	if rec := send("10.1.2.3", "40"); rec.Header().Get("RateLimit") != `"quota";r=60` {
		t.Fatalf("gateway's cost 40: %d %q", rec.Code, rec.Header().Get("RateLimit"))
	}
	if rec := send("203.0.113.5", "40"); rec.Code != 200 || rec.Header().Get("RateLimit") != `"quota";r=59` {
		t.Fatalf("client's own cost header counted: %d %q", rec.Code, rec.Header().Get("RateLimit"))
	}
	if rec := send("10.1.2.3", "0"); rec.Header().Get("RateLimit") != `"quota";r=59` {
		t.Fatalf("cost 0 spent: %q", rec.Header().Get("RateLimit"))
	}
	for _, bad := range [][]string{{"-1"}, {"1001"}, {"1.5"}, {"ten"}, {""}, {"99999999999999999999"}, {"1", "2"}} {
		rec := send("10.1.2.3", bad...)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("cost %q from the gateway: %d, want 400", bad, rec.Code)
		}
	}
	if rec := send("10.1.2.3", "59"); rec.Code != 200 {
		t.Fatalf("the bad costs spent something: %d %q", rec.Code, rec.Header().Get("RateLimit"))
	}
	if rec := send("10.1.2.3", "1"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("past the balance: %d", rec.Code)
	}
}

// TestVerifyCost: "cost" in /v1/verify, checked and reported.
func TestVerifyCost(t *testing.T) {
	a := newAPIEnv(t)
	secret := a.add(t, meteredKey(quota.Credits, 10))
	public := a.add(t, &verify.Key{ID: "key-p", OrgID: "org-1", Kind: apikey.Public, Environment: apikey.Live})
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"key": "` + secret + `", "cost": -1}`, 400},
		{`{"key": "` + secret + `", "cost": 1001}`, 400},
		{`{"key": "` + secret + `", "cost": 2.5}`, 400},
		{`{"key": "` + secret + `", "cost": "3"}`, 400},
		{`{"key": "` + public + `", "cost": 1}`, 400},
	} {
		rec, body := a.do(postVerify(tc.body))
		wantErrorShape(t, rec, body, tc.status, CodeBadRequest)
	}
	rec, body := a.do(postVerify(`{"key": "` + secret + `", "cost": 7}`))
	q, _ := body["quota"].(map[string]any)
	if rec.Code != 200 || body["valid"] != true || q["limit"] != 10.0 || q["remaining"] != 3.0 || q["reset"] != nil {
		t.Fatalf("cost 7: %d %v", rec.Code, body)
	}
	rec, body = a.do(postVerify(`{"key": "` + secret + `", "cost": 4}`))
	if body["valid"] != false || body["code"] != verify.CodeQuotaExceeded {
		t.Fatalf("cost 4 with 3 left: %v", body)
	}
	// /v1/me checks without spending.
	req := httptest.NewRequest(http.MethodGet, "/v1/me", nil)
	req.Header.Set("X-Api-Key", secret)
	if rec, _ := a.do(req); rec.Code != 200 || rec.Header().Get("RateLimit") != `"quota";r=3` {
		t.Fatalf("/v1/me: %d %q", rec.Code, rec.Header().Get("RateLimit"))
	}
	if _, body = a.do(postVerify(`{"key": "` + secret + `", "cost": 3}`)); body["valid"] != true {
		t.Fatalf("cost 3 with 3 left: %v", body)
	}
}

// TestQuotaHeadersNameTheRefusingQuota: when the organization's enforced
// quota refuses, the answer shows its balance, at 0, even though the
// key's report-only quota has less left.
func TestQuotaHeadersNameTheRefusingQuota(t *testing.T) {
	a := newAPIEnv(t)
	k := meteredKey(quota.Day, 1)
	k.Report = verify.ReportQuota
	k.OrgQuota = &quota.Subject{ID: "org-1", Spec: quota.Spec{Kind: quota.Credits, Limit: 3}}
	secret := a.add(t, k)
	for range 2 {
		a.do(authRequest(secret))
	}
	rec, body := a.do(authRequest(secret, HeaderCost, "2")) // untrusted: costs 1, leaves the org 0
	if rec.Code != http.StatusOK {
		t.Fatalf("third request: %d %v", rec.Code, body)
	}
	rec, body = a.do(authRequest(secret))
	wantErrorShape(t, rec, body, http.StatusTooManyRequests, verify.CodeQuotaExceeded)
	if got := rec.Header().Get("RateLimit"); got != `"quota";r=0` {
		t.Fatalf("RateLimit %q, want the organization's credits at 0 (no reset)", got)
	}
	if got := rec.Header().Get("Retry-After"); got != "" {
		t.Fatalf("Retry-After %q for credits that never refill", got)
	}
}
