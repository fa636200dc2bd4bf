package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestImportedKeysVerify: imported keys verify like generated ones: a
// plaintext of the format, a plaintext and a SHA-256 of a legacy prefix the
// product declared; an unknown key of that prefix is refused.
func TestImportedKeysVerify(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		ctx := context.Background()
		if err := k.products.AddLegacyPrefixes(ctx, "default", []string{"msgine_live_"}); err != nil {
			t.Fatal(err)
		}
		format, _ := apikey.DefaultFormat("kp")
		own, _ := format.Generate(nil, apikey.Private, apikey.Live)
		legacy := "msgine_live_" + strings.Repeat("Ab3", 10)
		hashedKey := "msgine_live_" + strings.Repeat("Zz9", 10)
		sum := sha256.Sum256([]byte(hashedKey))
		def, _ := k.products.Get("default")
		got, err := k.keys.Import(ctx, k.acme.ID, apikey.Import{LegacyPrefixes: def.LegacyPrefixes, Lines: []apikey.ImportLine{
			{Key: own}, {Key: legacy}, {SHA256: hex.EncodeToString(sum[:])},
		}}, audit.Actor{})
		if err != nil || got.Created != 3 {
			t.Fatalf("Import: %+v %v", got, err)
		}
		for name, key := range map[string]string{"of the format": own, "of a legacy prefix": legacy, "stored as SHA-256": hashedKey} {
			if code := k.verifyCode(key); code != "" {
				t.Errorf("an imported key %s: %q", name, code)
			}
		}
		if code := k.verifyCode("msgine_live_" + strings.Repeat("no", 15)); code != "unauthorized" {
			t.Errorf("an unknown key of the legacy prefix: %q", code)
		}
		if code := k.verifyCode("other_live_" + strings.Repeat("no", 15)); code != "unauthorized" {
			t.Errorf("a key of no prefix: %q", code)
		}
		// The list shows them as imported, with their hints.
		r := k.admin.get("/orgs/acme/keys")
		if !strings.Contains(r.body, "msgine_live_…3Ab3") || r.testid("key-imported").Length() != 3 {
			t.Errorf("the list does not show the legacy key's hint, or the keys as imported: %d %s", r.testid("key-imported").Length(), r.testid("key-hint").Text())
		}
	})
}
