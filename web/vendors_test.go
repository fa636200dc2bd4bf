package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/product"
	"keyplane/internal/store/storetest"
)

// The vendors below configure Keyplane as they would to stand in for
// their own key systems; each scenario walks what their customers and
// backends do.

// forwardAuth asks the data plane about key for product's path (the
// default product at /v1/auth), as a gateway would for method and path.
func (a *apiEnv) forwardAuth(productSlug, key, method, path string) (status int, code, productHeader string) {
	a.t.Helper()
	target := "/v1/auth"
	if productSlug != "" {
		target = "/v1/products/" + productSlug + "/auth"
	}
	req, _ := http.NewRequest(http.MethodGet, a.ts.URL+target, nil)
	req.Header.Set("X-Api-Key", key)
	req.Header.Set("X-Forwarded-Method", method)
	req.Header.Set("X-Forwarded-Uri", path)
	res, err := a.ts.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("X-Keyplane-Error"), res.Header.Get("X-Keyplane-Product")
}

func (a *apiEnv) mustProduct(in product.Input) {
	a.t.Helper()
	if _, err := a.products.Create(context.Background(), in); err != nil {
		a.t.Fatalf("product %s: %v", in.Slug, err)
	}
}

// TestVendorMigoAndTelnxo: two platforms of one company, one Keyplane. A
// MigoSMTP key never opens Telnxo and the reverse; each has its own scope
// catalogue and a limit of 5 keys.
func TestVendorMigoAndTelnxo(t *testing.T) {
	a := newAPIEnv(t, storetest.SQLite(t))
	a.mustProduct(product.Input{Slug: "migosmtp", Name: "MigoSMTP", KeyFormat: "migo_{env}_", Kinds: "private", MaxKeysPerOrg: "5",
		Scopes:      "send=Send email;send:template=Send templated email;reports:read=Read reports;suppressions:write=Edit suppressions;templates:write=Edit templates",
		RouteScopes: "POST /v3/mail/send=send;GET /v3/reports*=reports:read"})
	a.mustProduct(product.Input{Slug: "telnxo", Name: "Telnxo", KeyFormat: "tnx_{env}_", Kinds: "private", MaxKeysPerOrg: "5",
		Scopes:      "sms:send=Send SMS;voice:send=Place calls;whatsapp:send=Send WhatsApp messages;reports:read=Read reports;templates:write=Edit templates",
		RouteScopes: "POST /v2/messages=sms:send"})
	manage := a.creds[credManage]

	create := func(body string) apiResponse { return a.call("POST", "/v1/keys", "/api/v1/keys", manage, body) }
	mail := create(`{"product": "migosmtp", "description": "Newsletter", "scopes": ["send", "reports:read"]}`)
	sms := create(`{"product": "telnxo", "description": "OTP", "scopes": ["sms:send"]}`)
	if mail.status != 201 || sms.status != 201 {
		t.Fatalf("create: %d %s / %d %s", mail.status, mail.raw, sms.status, sms.raw)
	}
	mailKey, smsKey := mail.body["secret"].(string), sms.body["secret"].(string)
	for _, c := range []struct {
		name, product, key, method, path string
		status                           int
		product2                         string
	}{
		{"mail on MigoSMTP", "migosmtp", mailKey, "POST", "/v3/mail/send", 200, "migosmtp"},
		{"mail on Telnxo", "telnxo", mailKey, "POST", "/v2/messages", 401, ""},
		{"SMS on Telnxo", "telnxo", smsKey, "POST", "/v2/messages", 200, "telnxo"},
		{"SMS on MigoSMTP", "migosmtp", smsKey, "POST", "/v3/mail/send", 401, ""},
		{"SMS key on the default product", "", smsKey, "GET", "/", 401, ""},
		{"mail reports", "migosmtp", mailKey, "GET", "/v3/reports/daily", 200, "migosmtp"},
	} {
		status, _, p := a.forwardAuth(c.product, c.key, c.method, c.path)
		if status != c.status || p != c.product2 {
			t.Errorf("%s: %d %q, want %d %q", c.name, status, p, c.status, c.product2)
		}
	}
	if r := create(`{"product": "telnxo", "description": "Wrong catalogue", "scopes": ["send"]}`); r.status != 422 || r.fields()[0] != "scopes" {
		t.Errorf("a MigoSMTP scope on a Telnxo key: %d %s", r.status, r.raw)
	}
	// Five keys per organization and product: the sixth is refused, a
	// Telnxo key still fits.
	for i := 0; i < 4; i++ {
		if r := create(`{"product": "migosmtp", "description": "Worker", "scopes": ["send"]}`); r.status != 201 {
			t.Fatalf("MigoSMTP key %d: %d %s", i+2, r.status, r.raw)
		}
	}
	if r := create(`{"product": "migosmtp", "description": "One too many", "scopes": ["send"]}`); r.status != 409 || r.code() != "limit" {
		t.Errorf("a sixth MigoSMTP key: %d %s", r.status, r.raw)
	}
	if r := create(`{"product": "telnxo", "description": "Voice", "scopes": ["voice:send"]}`); r.status != 201 {
		t.Errorf("a second Telnxo key: %d %s", r.status, r.raw)
	}
}

// TestVendorGoSendAPI: keys like gsk_live_… and gsk_test_…, one per
// customer project, a partner backend provisioning tenants through the
// operator API, and rotation that ends the old key at once.
func TestVendorGoSendAPI(t *testing.T) {
	a := newAdminEnv(t, storetest.SQLite(t))
	a.mustProduct(product.Input{Slug: "gosend", Name: "GoSendAPI", KeyFormat: "gsk_{env}_", Kinds: "private",
		Scopes: "messages:send=Send messages;messages:read=Read messages;webhooks:write=Manage webhooks"})

	// The partner provisions a tenant, its admin and a provisioning key.
	if r := a.op("POST", "/v1/admin/users", "/api/v1/admin/users", opValid, `{"email": "ops@tenant.example", "name": "Tenant Ops"}`); r.status != 201 {
		t.Fatalf("user: %d %s", r.status, r.raw)
	}
	if r := a.op("POST", "/v1/admin/orgs", "/api/v1/admin/orgs", opValid, `{"name": "Tenant", "slug": "tenant", "admin": "ops@tenant.example"}`); r.status != 201 {
		t.Fatalf("org: %d %s", r.status, r.raw)
	}
	tenant, err := a.orgs.BySlug(context.Background(), "tenant")
	if err != nil {
		t.Fatal(err)
	}
	prov := a.mustKey(tenant.ID, apikey.Input{Product: "gosend", Description: "Provisioning", Kind: "private", Environment: "live", Scopes: []string{"keys:manage"}})
	if !strings.HasPrefix(prov.Secret, "gsk_live_") {
		t.Fatalf("a GoSendAPI key: %q", prov.Secret[:9])
	}
	// One key per project and environment.
	keys := map[string]string{}
	for _, project := range []string{"web-shop", "mobile-app"} {
		for _, env := range []string{"live", "test"} {
			r := a.call("POST", "/v1/keys", "/api/v1/keys", prov.Secret,
				`{"product": "gosend", "description": "`+project+` (`+env+`)", "environment": "`+env+`", "scopes": ["messages:send"]}`)
			if r.status != 201 || !strings.HasPrefix(r.body["secret"].(string), "gsk_"+env+"_") {
				t.Fatalf("%s %s: %d %s", project, env, r.status, r.raw)
			}
			keys[project+"/"+env] = r.body["id"].(string) + " " + r.body["secret"].(string)
		}
	}
	id, secret, _ := strings.Cut(keys["web-shop/live"], " ")
	if status, _, p := a.forwardAuth("gosend", secret, "POST", "/v1/messages"); status != 200 || p != "gosend" {
		t.Fatalf("the web shop's key: %d %q", status, p)
	}
	// A leaked project key is rotated with grace 0: the old one stops now.
	r := a.call("POST", "/v1/keys/{id}/rotate", "/api/v1/keys/"+id+"/rotate", prov.Secret, `{"grace": "0"}`)
	if r.status != 201 || !strings.HasPrefix(r.body["secret"].(string), "gsk_live_") {
		t.Fatalf("rotate: %d %s", r.status, r.raw)
	}
	if status, code, _ := a.forwardAuth("gosend", secret, "POST", "/v1/messages"); status != 401 || code != "key_expired" {
		t.Errorf("the old key after a rotation with grace 0: %d %q", status, code)
	}
	if status, _, _ := a.forwardAuth("gosend", r.body["secret"].(string), "POST", "/v1/messages"); status != 200 {
		t.Errorf("the new key: %d", status)
	}
}

// TestVendorMsGine: existing customers' keys (msgine_live_…, stored by the
// vendor as SHA-256) come in by import and keep working; new keys share
// the look.
func TestVendorMsGine(t *testing.T) {
	a := newAPIEnv(t, storetest.SQLite(t))
	ctx := context.Background()
	a.mustProduct(product.Input{Slug: "msgine", Name: "MsGine", KeyFormat: "msgine_{env}_", Kinds: "private", Scopes: "sms=Send SMS;balance=Read the balance"})
	if err := a.products.AddLegacyPrefixes(ctx, "msgine", []string{"msgine_live_"}); err != nil {
		t.Fatal(err)
	}
	old := "msgine_live_" + strings.Repeat("q7", 20) // the vendor's own format, no Keyplane checksum
	sum := sha256.Sum256([]byte(old))
	p, _ := a.products.Get("msgine")
	got, err := a.keys.Import(ctx, a.acme.ID, apikey.Import{Product: "msgine", LegacyPrefixes: p.LegacyPrefixes, Lines: []apikey.ImportLine{
		{SHA256: hex.EncodeToString(sum[:]), Description: "Customer 1042", Scopes: []string{"sms"}, ExternalID: "cus_1042"},
	}}, audit.Actor{})
	if err != nil || got.Created != 1 {
		t.Fatalf("import: %+v %v", got, err)
	}
	if status, _, prod := a.forwardAuth("msgine", old, "POST", "/sms"); status != 200 || prod != "msgine" {
		t.Errorf("an imported customer key: %d %q", status, prod)
	}
	if status, _, _ := a.forwardAuth("msgine", "msgine_live_"+strings.Repeat("x1", 20), "POST", "/sms"); status != 401 {
		t.Errorf("an unknown key of the old format: %d", status)
	}
	fresh := a.mustKey(a.acme.ID, apikey.Input{Product: "msgine", Description: "New customer", Kind: "private", Environment: "live", Scopes: []string{"sms"}})
	if !strings.HasPrefix(fresh.Secret, "msgine_live_") {
		t.Fatalf("a new MsGine key: %q", fresh.Secret[:12])
	}
	if status, _, _ := a.forwardAuth("msgine", fresh.Secret, "POST", "/sms"); status != 200 {
		t.Errorf("a new key: %d", status)
	}
}

// TestVendorMyGPTAssistants: a key whose permission includes key
// management creates and revokes keys; admin alone does not.
func TestVendorMyGPTAssistants(t *testing.T) {
	a := newAPIEnv(t, storetest.SQLite(t))
	manager := a.mustKey(a.acme.ID, apikey.Input{Description: "Key manager", Kind: "private", Environment: "live", Scopes: []string{"admin", "keys:manage"}})
	r := a.call("POST", "/v1/keys", "/api/v1/keys", manager.Secret, `{"description": "Assistant runtime", "scopes": ["read"]}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	if r = a.call("POST", "/v1/keys/{id}/revoke", "/api/v1/keys/"+id+"/revoke", manager.Secret, ""); r.status != 200 {
		t.Errorf("revoke: %d %s", r.status, r.raw)
	}
	if r = a.call("POST", "/v1/keys", "/api/v1/keys", a.creds[credAdmin], `{"description": "Nope"}`); r.status != 403 {
		t.Errorf("admin without keys:manage: %d %s", r.status, r.raw)
	}
}
