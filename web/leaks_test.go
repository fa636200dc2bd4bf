package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/leak/leaktest"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestGitHubSecretScanning: GitHub's signed report of tokens found in
// public flags the live keys among them and labels every token; unsigned,
// wrongly signed, malformed and oversized requests change nothing; the
// key's page says where it was found and proposes a rotation without grace;
// the leak policy set on the settings page disables private keys.
func TestGitHubSecretScanning(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		github := leaktest.NewSigner(t, "kid-1")
		ks := leaktest.NewKeyServer(t, github)
		k := newKeysEnv(t, db, map[string]string{"KEYPLANE_GITHUB_KEYS_URL": ks.URL})
		ctx := context.Background()
		live := k.newKeyWithSecret(k.acme.ID, apikey.Input{Description: "Billing backend"})

		post := func(body []byte, headers map[string]string) (*http.Response, []byte) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, k.ts.URL+"/v1/secret-scanning/github", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			for name, v := range headers {
				req.Header.Set(name, v)
			}
			res, err := k.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var buf bytes.Buffer
			buf.ReadFrom(res.Body)
			return res, buf.Bytes()
		}
		signed := func(body []byte) map[string]string {
			return map[string]string{"Github-Public-Key-Identifier": github.ID, "Github-Public-Key-Signature": github.Sign(t, body)}
		}
		flagged := func() bool {
			got, err := k.keys.Get(ctx, k.acme.ID, live.Key.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.LeakedAt != nil
		}
		const where = "https://github.com/acme/app/blob/0123/.env"
		body, _ := json.Marshal([]map[string]string{
			{"token": live.Secret, "type": "keyplane_key", "url": where, "source": "content"},
			{"token": "kp_sk_live_made_up", "type": "keyplane_key", "url": where, "source": "content"},
		})

		// Refused, and nothing changes.
		for _, tc := range []struct {
			name    string
			body    []byte
			headers map[string]string
			status  int
		}{
			// First: GitHub's list is fetched, and does not name it.
			{"unknown key id", body, map[string]string{"Github-Public-Key-Identifier": "kid-unknown", "Github-Public-Key-Signature": github.Sign(t, body)}, http.StatusUnauthorized},
			{"unsigned", body, nil, http.StatusBadRequest},
			{"no signature", body, map[string]string{"Github-Public-Key-Identifier": github.ID}, http.StatusBadRequest},
			{"signed by another", body, map[string]string{"Github-Public-Key-Identifier": github.ID, "Github-Public-Key-Signature": leaktest.NewSigner(t, "x").Sign(t, body)}, http.StatusUnauthorized},
			{"body changed", append(body, ' '), signed(body), http.StatusUnauthorized},
			{"not an array", []byte(`{"token":"x"}`), signed([]byte(`{"token":"x"}`)), http.StatusBadRequest},
			{"oversized", bytes.Repeat([]byte("a"), 2<<20), nil, http.StatusRequestEntityTooLarge},
		} {
			res, raw := post(tc.body, tc.headers)
			if res.StatusCode != tc.status {
				t.Errorf("%s: %d %s, want %d", tc.name, res.StatusCode, raw, tc.status)
			}
			if tc.name == "not an array" && !strings.Contains(string(raw), "cannot unmarshal object") {
				t.Errorf("the 400 does not say what is wrong: %s", raw)
			}
			if flagged() {
				t.Fatalf("%s: the key was flagged", tc.name)
			}
		}

		res, raw := post(body, signed(body))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("signed report: %d %s", res.StatusCode, raw)
		}
		var labels []map[string]string
		if err := json.Unmarshal(raw, &labels); err != nil {
			t.Fatal(err)
		}
		hash := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }
		if len(labels) != 2 || labels[0]["label"] != "true_positive" || labels[0]["token_hash"] != hash(live.Secret) || labels[0]["token_type"] != "keyplane_key" ||
			labels[1]["label"] != "false_positive" || labels[1]["token_hash"] != hash("kp_sk_live_made_up") {
			t.Errorf("labels: %s", raw)
		}
		if strings.Contains(string(raw), live.Secret) {
			t.Error("the answer repeats the token")
		}
		if !flagged() {
			t.Fatal("the live key was not flagged")
		}

		// The key's page: a red banner saying where, and for admins a
		// rotation with no grace period proposed.
		page := k.admin.get("/orgs/acme/keys/" + live.Key.ID)
		wantStatus(t, page, http.StatusOK)
		banner := page.testid("key-leaked")
		if banner.AttrOr("role", "") != "alert" || !strings.Contains(banner.Text(), "Found in public at "+where) || !strings.Contains(banner.Text(), "Rotate it with no grace period") {
			t.Errorf("banner: %q", banner.Text())
		}
		list := k.admin.get("/orgs/acme/keys")
		if got := list.text("row-leaked"); !strings.Contains(got, "Found in public at "+where) {
			t.Errorf("the key's row says %q", got)
		}
		rotate := k.admin.get("/orgs/acme/keys/" + live.Key.ID + "/rotate")
		wantStatus(t, rotate, http.StatusOK)
		if v, _ := rotate.doc.Find(`input[name="grace"][checked]`).Attr("value"); v != "0" {
			t.Errorf("the rotate dialog of a leaked key proposes grace %q, want 0", v)
		}

		// The disable policy, set by an admin on the settings page.
		wantStatus(t, k.admin.post("/orgs/acme/settings/leaks", url.Values{"leak_policy": {"sometimes"}}), http.StatusUnprocessableEntity)
		wantRedirect(t, k.admin.post("/orgs/acme/settings/leaks", url.Values{"leak_policy": {"disable"}}), "/orgs/acme/settings")
		settingsPage := k.admin.get("/orgs/acme/settings")
		if _, ok := settingsPage.doc.Find(`#leak-disable`).Attr("checked"); !ok {
			t.Error("the settings page does not show the disable policy chosen")
		}
		second := k.newKeyWithSecret(k.acme.ID, apikey.Input{Description: "Second"})
		body2, _ := json.Marshal([]map[string]string{{"token": second.Secret, "type": "keyplane_key", "url": where}})
		if res, raw := post(body2, signed(body2)); res.StatusCode != http.StatusOK || !strings.Contains(string(raw), "true_positive") {
			t.Fatalf("second report: %d %s", res.StatusCode, raw)
		}
		got, err := k.keys.Get(ctx, k.acme.ID, second.Key.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.DisabledAt == nil {
			t.Error("under the disable policy the private key found in public still works")
		}

		// GitHub's key list out of reach when a new key id needs it: 503,
		// which GitHub retries.
		ks.Set(http.StatusBadGateway)
		k.clock.Advance(2 * time.Minute)
		body3 := []byte(`[{"token":"x"}]`)
		if res, raw := post(body3, map[string]string{"Github-Public-Key-Identifier": "kid-2", "Github-Public-Key-Signature": github.Sign(t, body3)}); res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("keys unavailable: %d %s, want 503", res.StatusCode, raw)
		}
	})
}

// TestAdminReportLeaks: the platform's own scanner reports through the
// operator API, with GitHub's body; the labels come in data, the key is
// flagged with the token's name as its source, and API keys are refused.
func TestAdminReportLeaks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAdminEnv(t, db)
		secret := a.creds[credRead]
		body, _ := json.Marshal([]map[string]string{{"token": secret, "type": "scanner", "url": "https://pastebin.example/x"}, {"token": "nothing"}})
		r := a.op("POST", "/v1/admin/leaks", "/api/v1/admin/leaks", opValid, string(body))
		if r.status != http.StatusOK {
			t.Fatalf("report: %d %s", r.status, r.raw)
		}
		data, _ := r.body["data"].([]any)
		if len(data) != 2 || data[0].(map[string]any)["label"] != "true_positive" || data[1].(map[string]any)["label"] != "false_positive" {
			t.Errorf("labels: %s", r.raw)
		}
		k, err := a.keys.Get(context.Background(), a.acme.ID, a.ids[credRead])
		if err != nil {
			t.Fatal(err)
		}
		if k.LeakedAt == nil || k.LeakedSource != `operator token "Provisioner"` || k.LeakedURL != "https://pastebin.example/x" {
			t.Errorf("flag: %v %q %q", k.LeakedAt, k.LeakedSource, k.LeakedURL)
		}
		for _, cred := range []string{opOrgManage, opOrgAdmin, opNone} {
			if r := a.op("POST", "/v1/admin/leaks", "/api/v1/admin/leaks", cred, string(body)); r.status != http.StatusUnauthorized {
				t.Errorf("%s: %d, want 401", cred, r.status)
			}
		}
		if r := a.op("POST", "/v1/admin/leaks", "/api/v1/admin/leaks", opValid, `[]`); r.status != http.StatusUnprocessableEntity {
			t.Errorf("an empty batch: %d %s, want 422", r.status, r.raw)
		}
	})
}
