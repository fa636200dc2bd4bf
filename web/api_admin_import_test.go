package web

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"keyplane/internal/apikey"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestAdminAPIImport: an operator imports keys as JSON lines, all or none,
// again without effect; every refusal is a 4xx naming the line, and no key
// reaches the log.
func TestAdminAPIImport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var buf bytes.Buffer
		var mu sync.Mutex
		a := newAdminEnv(t, db, func(d *Deps) {
			d.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
		})
		route, path := "/v1/admin/orgs/{slug}/keys/import", "/api/v1/admin/orgs/other/keys/import"
		send := func(path, body string, hdr ...string) apiResponse {
			t.Helper()
			return a.op("POST", route, path, opValid, body, append([]string{"Content-Type", "application/x-ndjson"}, hdr...)...)
		}
		format, _ := apikey.DefaultFormat("kp")
		own, _ := format.Generate(nil, apikey.Private, apikey.Live)
		legacy := "vendor_live_" + strings.Repeat("k3y", 8)
		body := `{"key": "` + own + `", "description": "Billing", "external_id": "cus_1"}` + "\n\n" +
			`{"key": "` + legacy + `", "scopes": ["read"]}` + "\n" +
			`{"sha256": "` + sha256Hex("vendor_live_hashed") + `", "environment": "test"}` + "\n"
		r := send(path+"?legacy_prefix=vendor_live_", body)
		if r.status != 200 || r.body["created"] != float64(3) || r.body["existing"] != float64(0) {
			t.Fatalf("import: %d %s", r.status, r.raw)
		}
		for _, key := range []string{own, legacy, "vendor_live_hashed"} {
			if code := a.verifyCode(key); code != "" {
				t.Errorf("imported key %.12s…: %q", key, code)
			}
		}
		if r = send(path+"?legacy_prefix=vendor_live_", body); r.status != 200 || r.body["created"] != float64(0) || r.body["existing"] != float64(3) {
			t.Errorf("again: %d %s", r.status, r.raw)
		}
		// Into another organization: the line of a stored key fails it all.
		r = send("/api/v1/admin/orgs/acme/keys/import", `{"sha256": "`+sha256Hex("fresh")+`"}`+"\n"+`{"key": "`+own+`"}`)
		if r.status != 422 || r.code() != "invalid" || !strings.Contains(r.body["error"].(map[string]any)["message"].(string), "line 2: this key belongs to another organization") {
			t.Errorf("a key of another org: %d %s", r.status, r.raw)
		}

		many := strings.Repeat(`{"sha256": "`+sha256Hex("x")+`"}`+"\n", 1001)
		for name, c := range map[string]struct {
			path, body, ctype string
			status            int
			message           string
		}{
			"not JSON":           {path, `{"sha256": "` + sha256Hex("a") + `"}` + "\nnot json\n", "", 422, "line 2: not a JSON object"},
			"unknown field":      {path, `{"sha256": "` + sha256Hex("a") + `", "secret": "x"}`, "", 422, `line 1: unknown field "secret"`},
			"wrong type":         {path, `{"sha256": 42}`, "", 422, "line 1: sha256 has the wrong type"},
			"two objects":        {path, `{"sha256": "` + sha256Hex("a") + `"} {}`, "", 422, "line 1: one JSON object per line"},
			"empty":              {path, "\n\n", "", 422, "no keys to import"},
			"too many":           {path, many, "", 422, "line 1001: at most 1000 keys per import"},
			"a bad key":          {path, `{"key": "nope_live_123"}`, "", 422, "line 1: the key matches neither"},
			"no such product":    {path + "?product=nothing", `{"sha256": "` + sha256Hex("a") + `"}`, "", 422, "correct the highlighted"},
			"bad legacy prefix":  {path + "?legacy_prefix=kp_op_", `{"sha256": "` + sha256Hex("a") + `"}`, "", 422, "correct the highlighted"},
			"no such org":        {"/api/v1/admin/orgs/nothing/keys/import", `{"sha256": "` + sha256Hex("a") + `"}`, "", 404, ""},
			"JSON, not lines":    {path, `[{"sha256": "` + sha256Hex("a") + `"}]`, "application/json", 415, "application/x-ndjson"},
			"over the body size": {path, strings.Repeat(" ", 4<<20+1), "", 413, ""},
		} {
			hdr := []string{}
			if c.ctype != "" {
				hdr = []string{"Content-Type", c.ctype}
			}
			r := send(c.path, c.body, hdr...)
			msg, _ := r.body["error"].(map[string]any)["message"].(string)
			if r.status != c.status || !strings.Contains(msg, c.message) {
				t.Errorf("%s: %d %s", name, r.status, r.raw)
			}
		}
		// A failed import declares no legacy prefix either.
		r = send(path+"?legacy_prefix=typo_", `{"sha256": "`+sha256Hex("ok")+`"}`+"\n"+`{"key": "nope"}`)
		if r.status != 422 {
			t.Errorf("a failed import with a legacy prefix: %d %s", r.status, r.raw)
		}
		var n int64
		db.Table("legacy_prefixes").Where("prefix = ?", "typo_").Count(&n)
		if n != 0 {
			t.Error("a failed import declared its legacy prefix")
		}
		if p, _ := a.products.Get("default"); slices.Contains(p.LegacyPrefixes, "typo_") {
			t.Error("a failed import's legacy prefix is in the catalogue")
		}
		db.Table("api_keys").Where("org_id = ? AND source = ?", a.acme.ID, "imported").Count(&n)
		if n != 0 {
			t.Errorf("%d keys imported into acme by failed imports", n)
		}
		mu.Lock()
		logs := buf.String()
		mu.Unlock()
		for _, secret := range []string{own, legacy} {
			if strings.Contains(logs, secret) {
				t.Errorf("the log shows an imported key")
			}
		}
		if !strings.Contains(logs, "route=/api/v1/admin/orgs/:slug/keys/import") {
			t.Errorf("the import's request log line is missing")
		}
	})
}

func sha256Hex(s string) string {
	return fmt.Sprintf("%x", sha256Sum(s))
}

func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }
