package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestMigrationMovesKeysIntoTheDefaultProduct: keys stored before products
// existed belong to the default product, as generated keys, afterwards.
func TestMigrationMovesKeysIntoTheDefaultProduct(t *testing.T) {
	dsn, _ := storetest.SchemaURL(t)
	for name, opts := range map[string]store.Options{
		"sqlite":   {SQLitePath: filepath.Join(t.TempDir(), "old.db")},
		"postgres": {DatabaseURL: dsn},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, err := store.OpenAt(ctx, opts, 12)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			now := time.Now().UTC()
			orgID, keyID := store.NewID(), store.NewID()
			if err := db.Exec("INSERT INTO organizations (id, name, slug, created_at, updated_at) VALUES (?, 'Acme', 'acme', ?, ?)", orgID, now, now).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Exec(`INSERT INTO api_keys (id, org_id, key_hash, hint, description, kind, environment, created_at, updated_at)
				VALUES (?, ?, ?, 'kp_sk_live_…abcd', 'Old key', 'private', 'live', ?, ?)`, keyID, orgID, []byte("0123456789abcdef0123456789abcdef"), now, now).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			var row struct {
				Product, Source, ExternalID string
			}
			if err := db.Raw("SELECT product, source, external_id FROM api_keys WHERE id = ?", keyID).Scan(&row).Error; err != nil {
				t.Fatal(err)
			}
			if row.Product != "default" || row.Source != "generated" || row.ExternalID != "" {
				t.Errorf("the old key after the migration: %+v", row)
			}
		})
	}
}
