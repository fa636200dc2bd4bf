// Package storetest gives tests a fresh, migrated database of each dialect:
// a temporary SQLite file, and a PostgreSQL schema of its own on the server
// named by TEST_DATABASE_URL.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"keyplane/internal/store"
)

// DefaultPostgresURL is used when TEST_DATABASE_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresURL returns the server tests use.
func PostgresURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// Each runs fn as a subtest once on SQLite and once on PostgreSQL, each with
// a fresh migrated database.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// SQLite returns a migrated SQLite database in a temporary directory.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), store.Options{SQLitePath: filepath.Join(dir, "test.db")})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Postgres returns a migrated PostgreSQL database living in a schema of its
// own, dropped when the test ends. A server that cannot be reached fails the
// test: store tests never skip.
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	dsn, schema := SchemaURL(t)
	db, err := store.Open(context.Background(), store.Options{DatabaseURL: dsn})
	if err != nil {
		t.Fatalf("open postgres schema %s: %v", schema, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// SchemaURL creates an empty schema on the test server, drops it when the
// test ends, and returns a URL whose search_path points at it.
func SchemaURL(t testing.TB) (dsn, schema string) {
	t.Helper()
	base := PostgresURL()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable at TEST_DATABASE_URL (%s): %v", redact(base), err)
	}
	defer conn.Close(ctx)
	buf := make([]byte, 8)
	rand.Read(buf)
	schema = "kp_test_" + hex.EncodeToString(buf)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}
