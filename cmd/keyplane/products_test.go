package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"keyplane/internal/config"
	"keyplane/internal/product"
)

// storedProduct reads product slug from the database of getenv.
func storedProduct(t *testing.T, getenv func(string) string, slug string) product.Product {
	t.Helper()
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDB(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := product.NewService(context.Background(), db, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Get(slug)
	if err != nil {
		t.Fatalf("product %s: %v", slug, err)
	}
	return p
}

// TestProductCommands: products are made and changed, and keys made and
// listed by product, on the database and through a remote Keyplane's API,
// with the same flags and the same output.
func TestProductCommands(t *testing.T) {
	t.Run("database", func(t *testing.T) {
		getenv := env(t, nil)
		createOrgWithKeys(t, getenv, "Billing")
		run := func(t *testing.T, args ...string) (int, string, string) {
			t.Helper()
			return runCLI(t, getenv, "", args...)
		}
		productCommands(t, getenv, run, run)
	})
	t.Run("remote", func(t *testing.T) {
		local := env(t, map[string]string{"KEYPLANE_ADDR": "127.0.0.1:0"})
		srv := startServer(t, local)
		createOrgWithKeys(t, local, "Billing")
		_, orgKey, _ := runCLI(t, local, "", "keys", "create", "--org", "acme", "--description", "Automation", "--scope", "keys:manage")
		_, opToken, _ := runCLI(t, local, "", "admin", "create-token", "--name", "Provisioner")
		orgKey, opToken = strings.TrimSpace(orgKey), strings.TrimSpace(opToken)
		admin := func(t *testing.T, args ...string) (int, string, string) {
			t.Helper()
			return runRemote(t, withRemote(t, "http://"+srv.addr, opToken), opToken, args...)
		}
		keys := func(t *testing.T, args ...string) (int, string, string) {
			t.Helper()
			return runRemote(t, withRemote(t, "http://"+srv.addr, orgKey), orgKey, args...)
		}
		productCommands(t, local, admin, keys)
	})
}

type cliRunner func(t *testing.T, args ...string) (int, string, string)

func productCommands(t *testing.T, getenv func(string) string, admin, keys cliRunner) {
	code, out, stderr := keys(t, "keys", "list", "--org", "acme")
	if code != 0 || strings.Contains(out, "PRODUCT") || !strings.HasPrefix(out, "ID ") {
		t.Fatalf("keys list with one product: exit %d %q %q", code, out, stderr)
	}

	code, out, stderr = admin(t, "admin", "create-product", "--slug", "gosend", "--name", "GoSendAPI", "--format", "gsk_{env}_",
		"--scopes", "sms:send=Send SMS; reports:read=Read reports", "--route-scopes", "POST /v1/sms*=sms:send",
		"--kinds", "private", "--max-keys-per-org", "5", "--public-rate-limit", "30", "--public-block", "1h",
		"--api-url", "https://api.gosend.example")
	if code != 0 || out != "created product gosend (GoSendAPI): keys look like gsk_live_…\n" {
		t.Fatalf("create-product: exit %d %q %q", code, out, stderr)
	}
	p := storedProduct(t, getenv, "gosend")
	if p.Name != "GoSendAPI" || p.Format.String() != "gsk_{env}_" || len(p.Scopes) != 4 || p.Scopes[1].Description != "Read reports" ||
		len(p.RouteScopes) != 1 || p.RouteScopes[0].Path != "/v1/sms*" || p.PublicKeys || p.MaxKeysPerOrg != 5 ||
		p.PublicRateLimit != 30 || p.PublicBlock.Minutes() != 60 || p.APIURL != "https://api.gosend.example" {
		t.Errorf("stored %+v", p)
	}
	if code, out, stderr := admin(t, "admin", "create-product", "--slug", "mail", "--name", "Mail", "--format", "ml_{kind}_{env}_"); code != 0 || out != "created product mail (Mail): keys look like ml_sk_live_…\n" {
		t.Fatalf("a minimal product: exit %d %q %q", code, out, stderr)
	}

	for _, c := range []struct {
		args  []string
		field string
	}{
		{[]string{"--slug", "x", "--name", "X", "--format", "x_{env}_"}, "slug: "},
		{[]string{"--slug", "sms", "--name", "SMS", "--format", "sms_"}, "key_format: "},
		{[]string{"--slug", "sms", "--name", "SMS", "--format", "gsk_sms_{env}_"}, "key_format: "},
		{[]string{"--slug", "sms", "--name", "SMS", "--format", "sms_{env}_", "--scopes", "admin=Mine"}, "scopes: "},
		{[]string{"--slug", "sms", "--name", "SMS", "--format", "sms_{env}_", "--route-scopes", "POST /v1/sms=send"}, "route_scopes: "},
		{[]string{"--slug", "sms", "--name", "SMS", "--format", "sms_{env}_", "--kinds", "public"}, "kinds: "},
		{[]string{"--slug", "sms", "--name", "SMS", "--format", "sms_{env}_", "--max-keys-per-org", "0"}, "max_keys_per_org: "},
		{[]string{"--slug", "sms", "--name", "SMS", "--format", "sms_{env}_", "--public-block", "90s"}, "public_block: "},
		{[]string{"--slug", "sms", "--name", "SMS", "--format", "sms_{env}_", "--api-url", "api.example.com"}, "api_url: "},
		{[]string{"--slug", "gosend", "--name", "Again", "--format", "sms_{env}_"}, "exists"},
	} {
		code, out, stderr := admin(t, append([]string{"admin", "create-product"}, c.args...)...)
		if code != 1 || out != "" || !strings.HasPrefix(stderr, "keyplane: ") || !strings.Contains(stderr, c.field) {
			t.Errorf("create-product %v: exit %d %q %q, want 1 naming %s", c.args, code, out, stderr, c.field)
		}
	}
	code, _, stderr = admin(t, "admin", "create-product", "--slug", "-", "--name", " ", "--format", "sms_{env}_")
	if code != 1 || !regexp.MustCompile(`^keyplane: name: .+; slug: .+\n$`).MatchString(stderr) {
		t.Errorf("two wrong fields: exit %d %q", code, stderr)
	}
	for _, args := range [][]string{
		{"admin", "create-product", "--slug", "sms", "--name", "SMS"},
		{"admin", "create-product", "--slug", "sms", "--name", "SMS", "--format", "sms_{env}_", "--max-keys-per-org", "many"},
		{"admin", "create-product", "--slug", "sms", "--name", "SMS", "--format", "sms_{env}_", "--kinds", ""},
		{"admin", "update-product", "--name", "SMS"},
		{"admin", "update-product", "--slug", "gosend", "--colour", "blue"},
	} {
		if code, _, stderr := admin(t, args...); code != 2 || stderr == "" {
			t.Errorf("%v: exit %d %q, want 2", args, code, stderr)
		}
	}

	code, out, stderr = admin(t, "admin", "update-product", "--slug", "gosend", "--name", "GoSend", "--public-block", "0")
	if code != 0 || out != "updated product gosend (GoSend): keys look like gsk_live_…\n" {
		t.Fatalf("update-product: exit %d %q %q", code, out, stderr)
	}
	if q := storedProduct(t, getenv, "gosend"); q.Name != "GoSend" || q.PublicBlock != 0 || len(q.Scopes) != 4 || len(q.RouteScopes) != 1 ||
		q.PublicKeys || q.MaxKeysPerOrg != 5 || q.PublicRateLimit != 30 || q.APIURL != p.APIURL {
		t.Errorf("after update-product --name --public-block: %+v", q)
	}
	if code, _, stderr := admin(t, "admin", "update-product", "--slug", "gosend", "--route-scopes", "GET /v1/x=nope"); code != 1 || !strings.Contains(stderr, "route_scopes: ") {
		t.Errorf("a wrong update: exit %d %q", code, stderr)
	}
	if code, _, stderr := admin(t, "admin", "update-product", "--slug", "default", "--name", "Mine"); code != 1 || !strings.Contains(stderr, "KEYPLANE_*") {
		t.Errorf("update the default product: exit %d %q", code, stderr)
	}
	if code, _, stderr := admin(t, "admin", "update-product", "--slug", "nothing", "--name", "X"); code != 1 || stderr != "keyplane: Product not found.\n" {
		t.Errorf("an unknown product: exit %d %q", code, stderr)
	}

	code, out, stderr = keys(t, "keys", "create", "--org", "acme", "--product", "gosend", "--description", "Sender", "--scope", "sms:send")
	if code != 0 || !regexp.MustCompile(`^gsk_live_[0-9A-Za-z]{36}\n$`).MatchString(out) {
		t.Fatalf("keys create --product: exit %d %q %q", code, out, stderr)
	}
	if code, _, stderr := keys(t, "keys", "create", "--org", "acme", "--product", "gosend", "--description", "X", "--kind", "public", "--domain", "a.example.com"); code != 1 || !strings.Contains(stderr, "kind") {
		t.Errorf("a public key of a private-only product: exit %d %q", code, stderr)
	}
	if code, _, stderr := keys(t, "keys", "create", "--org", "acme", "--product", "nothing", "--description", "X"); code != 1 || !strings.Contains(stderr, "product: ") {
		t.Errorf("an unknown product: exit %d %q", code, stderr)
	}

	code, out, _ = keys(t, "keys", "list", "--org", "acme")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || !regexp.MustCompile(`^ID +HINT +DESCRIPTION +PRODUCT +KIND +ENV`).MatchString(lines[0]) || !strings.Contains(out, " gosend ") || !strings.Contains(out, " default ") {
		t.Errorf("keys list with a key of a second product: %q", out)
	}
	if code, out, _ := keys(t, "keys", "list", "--org", "acme", "--product", "default"); code != 0 || strings.Contains(out, "PRODUCT") || strings.Contains(out, "Sender") {
		t.Errorf("keys list --product default: %q", out)
	}
	code, out, _ = keys(t, "keys", "list", "--org", "acme", "--product", "gosend", "--json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 1 || list[0]["product"] != "gosend" || list[0]["description"] != "Sender" {
		t.Errorf("keys list --product gosend --json: %v %q", err, out)
	}
	code, out, _ = keys(t, "keys", "list", "--org", "acme", "--json")
	list = nil
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) < 2 {
		t.Fatalf("keys list --json: %v %q", err, out)
	}
	for _, k := range list {
		if want := map[bool]string{true: "gosend", false: "default"}[k["description"] == "Sender"]; k["product"] != want {
			t.Errorf("key %v: product %v, want %s", k["description"], k["product"], want)
		}
	}

	// Delete: refused while the product has a key, done for one without.
	if code, _, stderr := admin(t, "admin", "delete-product", "--slug", "gosend"); code != 1 || !strings.Contains(stderr, "cannot be deleted") {
		t.Errorf("delete-product with keys: exit %d %q", code, stderr)
	}
	if code, _, stderr := admin(t, "admin", "create-product", "--slug", "spare", "--name", "Spare", "--format", "spare_{env}_"); code != 0 {
		t.Fatalf("create spare: exit %d %q", code, stderr)
	}
	if code, out, stderr := admin(t, "admin", "delete-product", "--slug", "spare"); code != 0 || out != "deleted product spare (Spare)\n" {
		t.Errorf("delete-product: exit %d %q %q", code, out, stderr)
	}
	if code, _, _ := admin(t, "admin", "delete-product"); code != 2 {
		t.Errorf("delete-product without --slug: exit %d, want 2", code)
	}
}
