package web

import (
	"encoding/json"
	"net/http"
	"testing"

	"keyplane/internal/apikey"
	"keyplane/internal/store/storetest"
)

// TestGatewayQuota runs README.md's nginx and Caddy configurations in
// front of a key with 3 credits: a client's own X-Keyplane-Cost never
// reaches Keyplane (each request costs 1), and the fourth request is 429
// quota_exceeded, with the quota's RateLimit header, that never reaches
// the upstream.
func TestGatewayQuota(t *testing.T) {
	for _, gw := range []struct {
		name  string
		start gatewayStart
	}{{"nginx", startNginx}, {"caddy", startCaddy}} {
		t.Run(gw.name, func(t *testing.T) {
			g := newGatewayEnv(t, storetest.SQLite(t), gw.name, nil)
			metered := g.key(apikey.Input{Quota: apikey.QuotaInput{Kind: "credits", Limit: "3"}})
			g.startGateway(gw.start)
			hdr := map[string]string{"X-Api-Key": metered.Secret, "X-Keyplane-Cost": "1000"}
			for i := range 3 {
				r := g.call(http.MethodGet, "/v1/sms", "", hdr)
				if r.status != http.StatusOK {
					t.Fatalf("request %d: status %d; body %s", i+1, r.status, r.body)
				}
				if got := g.auth.last(t).header.Values("X-Keyplane-Cost"); len(got) != 0 {
					t.Fatalf("the client's X-Keyplane-Cost %q reached Keyplane", got)
				}
			}
			hits := g.seen.count()
			r := g.call(http.MethodGet, "/v1/sms", "", hdr)
			var body struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(r.body, &body); err != nil || r.status != http.StatusTooManyRequests || body.Error.Code != "quota_exceeded" || body.Error.Message == "" {
				t.Fatalf("past the quota: status %d, body %s", r.status, r.body)
			}
			if got := r.header.Get("X-Keyplane-Error"); got != "quota_exceeded" {
				t.Errorf("X-Keyplane-Error %q", got)
			}
			if got := r.header.Get("RateLimit"); got != `"quota";r=0` {
				t.Errorf("RateLimit %q, want %q (credits never refilled: no reset)", got, `"quota";r=0`)
			}
			if n := g.seen.count(); n != hits {
				t.Fatalf("the refused request reached the upstream")
			}
		})
	}
}
