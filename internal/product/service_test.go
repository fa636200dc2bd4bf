package product

import (
	"context"
	"strings"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/config"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"KEYPLANE_SESSION_SECRET": strings.Repeat("s", 32), "KEYPLANE_SCOPES": "read=Read;write=Write"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func gosend() Input {
	return Input{
		Slug: "gosend", Name: "GoSendAPI", KeyFormat: "gsk_{env}_",
		Scopes: "send=Send messages;reports:read=Read reports", RouteScopes: "POST /v1/messages=send",
		Kinds: "private", MaxKeysPerOrg: "5",
	}
}

// TestProducts: the default product comes from the variables; a stored
// product is listed, found by slug and by a key's start, and validated.
func TestProducts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		cfg := testConfig(t)
		s, err := NewService(ctx, db, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if l := s.List(); len(l) != 1 || l[0].Slug != DefaultSlug || l[0].Format.String() != "kp_{kind}_{env}_" || l[0].MaxKeysPerOrg != 100 {
			t.Fatalf("a fresh deployment's products: %+v", l)
		}
		p, err := s.Create(ctx, gosend())
		if err != nil {
			t.Fatalf("Create: %v (%v)", err, apperr.FieldsOf(err))
		}
		if p.PublicKeys || p.MaxKeysPerOrg != 5 || p.PublicRateLimit != cfg.PublicRateLimit || len(p.RouteScopes) != 1 {
			t.Errorf("created %+v", p)
		}
		if got := s.List(); len(got) != 2 || got[1].Slug != "gosend" {
			t.Errorf("List after Create: %d products", len(got))
		}
		key, _ := p.Format.Generate(nil, apikey.Private, apikey.Test)
		if found, parsed, ok := s.ByKey(key); !ok || found.Slug != "gosend" || parsed.Environment != apikey.Test {
			t.Errorf("ByKey(%q) = %v %+v %v", key, found, parsed, ok)
		}
		def, _ := s.Default().Format.Generate(nil, apikey.Public, apikey.Live)
		if found, parsed, ok := s.ByKey(def); !ok || found.Slug != DefaultSlug || parsed.Kind != apikey.Public {
			t.Errorf("ByKey(default key) = %v %v", found, ok)
		}
		if _, _, ok := s.ByKey("gsk_live_nope"); ok {
			t.Error("a malformed key has a product")
		}
		if r, ok := s.Rules("gosend"); !ok || r.Product != "gosend" || !r.Policy.PrivateOnly || r.MaxKeys != 5 {
			t.Errorf("Rules = %+v %v", r, ok)
		}

		// Another server sees it after a reload.
		other, err := NewService(ctx, db, cfg, nil)
		if err != nil || len(other.List()) != 2 {
			t.Errorf("a second server's products: %v", err)
		}

		bad := map[string]func(*Input){
			"slug":       func(in *Input) { in.Slug = "Go Send" },
			"name":       func(in *Input) { in.Name = "" },
			"key_format": func(in *Input) { in.KeyFormat = "gsk_" },
			"scopes":     func(in *Input) { in.Scopes = "admin=Mine" },
			"kinds":      func(in *Input) { in.Kinds = "public" },
			"api_url":    func(in *Input) { in.APIURL = "ftp://x" },
		}
		for field, edit := range bad {
			in := gosend()
			in.Slug = "other-" + strings.ReplaceAll(field, "_", "-")
			in.KeyFormat = "o" + field[:2] + "_{env}_"
			edit(&in)
			if _, err := s.Create(ctx, in); apperr.FieldsOf(err)[field] == "" {
				t.Errorf("bad %s: %v %v", field, err, apperr.FieldsOf(err))
			}
		}
		for _, format := range []string{"gsk_{env}_x_", "gs{env}_", "kp_{env}_", "kp{env}_"} {
			in := gosend()
			in.Slug, in.KeyFormat = "overlap", format
			if _, err := s.Create(ctx, in); apperr.FieldsOf(err)["key_format"] == "" {
				t.Errorf("format %s overlapping another product's: %v", format, err)
			}
		}
		in := gosend()
		in.KeyFormat = "gs2_{env}_"
		if _, err := s.Create(ctx, in); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("a taken slug: %v", err)
		}
		in.Slug = DefaultSlug
		if _, err := s.Create(ctx, in); apperr.FieldsOf(err)["slug"] == "" {
			t.Errorf("slug default: %v", err)
		}
	})
}

// TestProductUpdate: settings change; the format only while the product
// has no keys; the default product is read-only.
func TestProductUpdate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, err := NewService(ctx, db, testConfig(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Create(ctx, gosend())
		if err != nil {
			t.Fatal(err)
		}
		in := InputOf(p)
		in.Name, in.KeyFormat, in.MaxKeysPerOrg = "GoSend", "gosend_{env}_", "10"
		up, err := s.Update(ctx, "gosend", in)
		if err != nil || up.Name != "GoSend" || up.Format.Lead() != "gosend_" || up.MaxKeysPerOrg != 10 || len(up.RouteScopes) != 1 {
			t.Fatalf("Update: %+v %v %v", up, err, apperr.FieldsOf(err))
		}
		if got, _ := s.Get("gosend"); got.Name != "GoSend" || got.CreatedAt.Sub(p.CreatedAt).Abs() > time.Millisecond {
			t.Errorf("Get after Update: %+v", got)
		}

		// A key of the product freezes its format.
		svc := apikey.NewService(db, apikey.Options{Prefix: "kp", MaxKeys: 100, Products: s.Rules})
		orgs := org.NewService(db, nil)
		o, err := orgs.CreateWithoutMembers(ctx, "Acme", "acme", audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := svc.Create(ctx, o.ID, "", apikey.Input{Product: "gosend", Description: "x", Kind: "private", Environment: "live", Scopes: []string{"send"}}, audit.Actor{})
		if err != nil {
			t.Fatalf("a key of the product: %v %v", err, apperr.FieldsOf(err))
		}
		if !strings.HasPrefix(c.Secret, "gosend_live_") || c.Key.Product != "gosend" {
			t.Errorf("the key %q of product %q", c.Secret[:12], c.Key.Product)
		}
		in.KeyFormat = "gsnd_{env}_"
		if _, err := s.Update(ctx, "gosend", in); apperr.FieldsOf(err)["key_format"] == "" {
			t.Errorf("changing the format of a product with keys: %v", err)
		}
		in.KeyFormat = "gosend_{env}_"
		in.Name = "GoSend API"
		if _, err := s.Update(ctx, "gosend", in); err != nil {
			t.Errorf("other changes of a product with keys: %v", err)
		}
		if _, err := s.Update(ctx, DefaultSlug, in); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("updating the default product: %v", err)
		}
		if _, err := s.Update(ctx, "nothing", in); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("updating no product: %v", err)
		}
	})
}

// TestLegacyPrefixes: a legacy prefix may lie inside its own product's
// format, never overlap another product's starts, and names its product
// for keys that fail the format; a new product cannot take its start.
func TestLegacyPrefixes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, err := NewService(ctx, db, testConfig(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, gosend()); err != nil {
			t.Fatal(err)
		}
		if err := s.AddLegacyPrefixes(ctx, "gosend", []string{"gsk_live_", "GS-", "GS-", "old_gs_"}); err != nil {
			t.Fatalf("AddLegacyPrefixes: %v", err)
		}
		for prefix, field := range map[string]string{"kp_op_": "legacy_prefix", "kp_o": "legacy_prefix", "gsk_x": "legacy_prefix", "GS-1": "legacy_prefix", "g": "legacy_prefix", "bad prefix": "legacy_prefix"} {
			if err := s.AddLegacyPrefixes(ctx, "default", []string{prefix}); apperr.FieldsOf(err)[field] == "" {
				t.Errorf("legacy prefix %q for default: %v", prefix, err)
			}
		}
		if err := s.AddLegacyPrefixes(ctx, "default", []string{"kp_sk_live_"}); err != nil {
			t.Errorf("a legacy prefix inside its own format: %v", err)
		}
		if err := s.AddLegacyPrefixes(ctx, "nothing", []string{"zz_"}); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("no such product: %v", err)
		}
		g, _ := s.Get("gosend")
		if len(g.LegacyPrefixes) != 3 {
			t.Errorf("gosend's legacy prefixes: %v", g.LegacyPrefixes)
		}
		for key, want := range map[string]string{
			"GS-0123456789":             "gosend",
			"gsk_live_not-our-checksum": "gosend",
			"gsk_test_not-our-checksum": "",
			"GX-0123":                   "",
		} {
			slug, _, ok := s.ProductOf(key)
			if (want == "") == ok || slug != want && ok {
				t.Errorf("ProductOf(%q) = %q %v, want %q", key, slug, ok, want)
			}
		}
		in := gosend()
		in.Slug, in.KeyFormat = "gsx", "old_{env}_"
		if _, err := s.Create(ctx, in); apperr.FieldsOf(err)["key_format"] == "" {
			t.Errorf("a format overlapping only another product's start: %v", err)
		}
		in.KeyFormat = "gx{env}_"
		if _, err := s.Create(ctx, in); err != nil {
			t.Errorf("a format clear of every start: %v", err)
		}
	})
}

// TestProductDelete: a product without keys goes, with its legacy
// prefixes; one with a key (revoked or not) stays; the default stays.
func TestProductDelete(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, err := NewService(ctx, db, testConfig(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, gosend()); err != nil {
			t.Fatal(err)
		}
		if err := s.AddLegacyPrefixes(ctx, "gosend", []string{"GS-"}); err != nil {
			t.Fatal(err)
		}
		keys := apikey.NewService(db, apikey.Options{Prefix: "kp", MaxKeys: 100, Products: s.Rules})
		o, err := org.NewService(db, nil).CreateWithoutMembers(ctx, "Acme", "acme", audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := keys.Create(ctx, o.ID, "", apikey.Input{Product: "gosend", Description: "x", Kind: "private", Environment: "live"}, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.Revoke(ctx, o.ID, c.Key.ID, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Delete(ctx, "gosend"); !apperr.Is(err, apperr.Conflict) || !strings.Contains(apperr.MessageOf(err), "1 keys") {
			t.Errorf("deleting a product with a (revoked) key: %v", err)
		}
		if err := db.Exec("DELETE FROM api_keys WHERE id = ?", c.Key.ID).Error; err != nil {
			t.Fatal(err)
		}
		if p, err := s.Delete(ctx, "gosend"); err != nil || p.Slug != "gosend" {
			t.Fatalf("Delete: %+v %v", p, err)
		}
		if _, err := s.Get("gosend"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("the deleted product is still in the catalogue: %v", err)
		}
		if _, _, ok := s.ProductOf("GS-123456"); ok {
			t.Error("the deleted product's legacy prefix still names it")
		}
		if _, err := s.Delete(ctx, "gosend"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("deleting it again: %v", err)
		}
		if _, err := s.Delete(ctx, DefaultSlug); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("deleting the default product: %v", err)
		}
		// Its slug and start are free again.
		if _, err := s.Create(ctx, gosend()); err != nil {
			t.Errorf("creating it again: %v", err)
		}
	})
}
