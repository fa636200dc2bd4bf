package apikey

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func sha(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// TestImport: plaintext keys of the format, SHA-256 lines and keys of a
// legacy prefix are stored by hash only, beyond the limit, with one change
// notice; running the import again changes nothing.
func TestImport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 1)
		ctx := context.Background()
		ours, _ := DefaultFormat("kp")
		own, _ := ours.Generate(nil, Public, Test)
		legacy := "msgine_live_" + strings.Repeat("x9_", 10) + "Zz9q"
		hashed := "vendor-secret-42"
		lines := []ImportLine{
			{Key: own, Description: "Widget", Domains: []string{"shop.example.com"}, ExternalID: "ext-1",
				CreatedAt: "2030-01-02T03:04:05Z", LastUsedAt: "2030-06-01T00:00:00Z"},
			{Key: legacy, Scopes: []string{"read"}},
			{SHA256: strings.ToUpper(sha(hashed)), Environment: "test", Description: "Old CI"},
		}
		f.takeChanged()
		got, err := f.svc.Import(ctx, f.org, Import{LegacyPrefixes: []string{"msgine_live_"}, Lines: lines}, f.actor)
		if err != nil {
			t.Fatalf("Import: %v", err)
		}
		if got.Created != 3 || got.Existed != 0 {
			t.Errorf("Import = %+v", got)
		}
		f.assertChanged(t, BulkChange)
		var keys []Key
		if err := db.Where("org_id = ?", f.org).Order("created_at").Find(&keys).Error; err != nil || len(keys) != 3 {
			t.Fatalf("stored %d keys, %v", len(keys), err)
		}
		byHash := map[string]Key{}
		for _, k := range keys {
			byHash[hex.EncodeToString(k.KeyHash)] = k
			if k.Source != SourceImported || k.Product != DefaultProduct {
				t.Errorf("key %s: source %q product %q", k.ID, k.Source, k.Product)
			}
		}
		w := byHash[sha(own)]
		if w.Kind != Public || w.Environment != Test || w.Hint != Hint(own) || w.ExternalID != "ext-1" ||
			w.CreatedAt.UTC().Format(time.RFC3339) != "2030-01-02T03:04:05Z" || w.LastUsedAt == nil || w.RateLimitPerMinute == nil {
			t.Errorf("the plaintext key: %+v", w)
		}
		if l := byHash[sha(legacy)]; l.Hint != "msgine_live_…Zz9q" || l.Kind != Private || l.Environment != Live || l.Description != DefaultImportDescription {
			t.Errorf("the legacy key: %+v", l)
		}
		if h := byHash[sha(hashed)]; h.Hint != "msgine_live_…" || h.Environment != Test || h.Description != "Old CI" {
			t.Errorf("the hashed key: %+v", h)
		}
		// No plaintext anywhere in the row.
		var n int64
		db.Table("api_keys").Where("hint = ? OR description = ? OR external_id = ?", own, legacy, hashed).Count(&n)
		if n != 0 {
			t.Error("a plaintext was stored")
		}
		if evs := f.events(t, f.org, audit.KeysImported); len(evs) != 1 || !strings.Contains(evs[0].Summary, "imported 3 keys") {
			t.Errorf("audit: %+v", evs)
		}

		// Again: nothing changes, nothing is announced.
		got, err = f.svc.Import(ctx, f.org, Import{LegacyPrefixes: []string{"msgine_live_"}, Lines: lines}, f.actor)
		if err != nil || got.Created != 0 || got.Existed != 3 {
			t.Errorf("second Import = %+v, %v", got, err)
		}
		f.assertChanged(t)

		// Another organization cannot take them.
		_, err = f.svc.Import(ctx, f.other, Import{Lines: []ImportLine{{SHA256: sha("fresh")}, {SHA256: sha(hashed)}}}, f.otherActor)
		if !apperr.Is(err, apperr.Invalid) || !strings.Contains(apperr.MessageOf(err), "line 2: this key belongs to another organization") {
			t.Errorf("another org's key: %v", err)
		}
	})
}

// TestImportAllOrNothing: one bad line fails the import with its number,
// and nothing is stored.
func TestImportAllOrNothing(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), 100)
	ctx := context.Background()
	ours, _ := DefaultFormat("kp")
	good, _ := ours.Generate(nil, Private, Live)
	cases := map[string]ImportLine{
		"give key (the plaintext) or sha256":            {},
		"give key or sha256, not both":                  {Key: good, SHA256: sha(good)},
		"sha256 is not 64 hexadecimal digits":           {SHA256: "abc"},
		"matches neither the product's format":          {Key: "sk_live_abcdef"},
		"scopes: Unknown scope":                         {SHA256: sha("a"), Scopes: []string{"nope"}},
		"domains: A public key needs":                   {SHA256: sha("b"), Kind: "public"},
		"environment \"test\" does not match":           {Key: good, Environment: "test"},
		"created_at: give an RFC 3339 time in the past": {SHA256: sha("c"), CreatedAt: "yesterday"},
		"expires_at":               {SHA256: sha("d"), ExpiresAt: "2001-01-01"},
		"external_id: use at most": {SHA256: sha("e"), ExternalID: strings.Repeat("x", 201)},
	}
	for want, bad := range cases {
		lines := []ImportLine{{SHA256: sha("first")}, bad}
		_, err := f.svc.Import(ctx, f.org, Import{Lines: lines}, f.actor)
		if !apperr.Is(err, apperr.Invalid) || !strings.HasPrefix(apperr.MessageOf(err), "line 2: ") || !strings.Contains(apperr.MessageOf(err), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
	_, err := f.svc.Import(ctx, f.org, Import{Lines: []ImportLine{{Key: good}, {SHA256: sha(good)}}}, f.actor)
	if !strings.Contains(apperr.MessageOf(err), "line 2: the same key as line 1") {
		t.Errorf("a key twice: %v", err)
	}
	if _, err := f.svc.Import(ctx, f.org, Import{Product: "nothing", Lines: []ImportLine{{Key: good}}}, f.actor); apperr.FieldsOf(err)["product"] == "" {
		t.Errorf("no such product: %v", err)
	}
	if n := f.countRows(t, "api_keys"); n != 0 {
		t.Errorf("%d keys stored by failed imports", n)
	}
}
