package store_test

import (
	"context"
	"strings"
	"testing"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func TestMigrateIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if err := db.Migrate(context.Background()); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		for _, table := range []string{"users", "organizations", "memberships", "sessions", "audit_events"} {
			if !db.Migrator().HasTable(table) {
				t.Errorf("table %s missing", table)
			}
		}
		if err := db.Ping(context.Background()); err != nil {
			t.Fatalf("ping: %v", err)
		}
	})
}

func TestNewIDIsUUIDv7(t *testing.T) {
	a, b := store.NewID(), store.NewID()
	if a == b || !store.ValidID(a) || a[14] != '7' {
		t.Fatalf("ids %q %q are not distinct UUIDv7", a, b)
	}
	for _, bad := range []string{"", "1", "../etc/passwd", "0193c0de-0000-7000-8000-00000000000g", strings.ToUpper(a)} {
		if store.ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}
