package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"keyplane/internal/config"
)

// TestEncryptionKeyGenerated checks that on SQLite, without
// KEYPLANE_ENCRYPTION_KEY, a key is generated into the data dir once and
// kept: a value sealed before a restart opens after it.
func TestEncryptionKeyGenerated(t *testing.T) {
	cfg := config.Config{DataDir: filepath.Join(t.TempDir(), "data")}
	box, err := encryptionBox(cfg)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(cfg.DataDir, "encryption.key"))
	if err != nil || len(key) < 32 {
		t.Fatalf("encryption.key = %q, %v; want 32 bytes or more", key, err)
	}
	st, _ := os.Stat(filepath.Join(cfg.DataDir, "encryption.key"))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("encryption.key mode %v, want 0600", st.Mode().Perm())
	}
	sealed := box.Seal([]byte("seed"), nil)
	again, err := encryptionBox(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Open(sealed, nil); err != nil || string(got) != "seed" {
		t.Fatalf("after a restart Open = %q, %v", got, err)
	}
	secret, _ := os.ReadFile(filepath.Join(cfg.DataDir, "session.key"))
	if bytes.Equal(secret, key) {
		t.Errorf("the encryption key is the session secret")
	}

	// A configured key is used as given; the data dir keeps nothing.
	cfg2 := config.Config{DataDir: filepath.Join(t.TempDir(), "data"), EncryptionKey: []byte(strings.Repeat("k", 32))}
	if _, err := encryptionBox(cfg2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cfg2.DataDir, "encryption.key")); !os.IsNotExist(err) {
		t.Errorf("a configured key was written to the data dir: %v", err)
	}
}

// TestServeRefusesPostgresWithoutEncryptionKey checks the startup error
// names the variable.
func TestServeRefusesPostgresWithoutEncryptionKey(t *testing.T) {
	getenv := env(t, map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x", "KEYPLANE_SESSION_SECRET": testSessionSecret})
	code, _, stderr := runCLI(t, getenv, "", "serve")
	if code == 0 || !strings.Contains(stderr, "KEYPLANE_ENCRYPTION_KEY") {
		t.Fatalf("exit %d, stderr %q; want a failure naming KEYPLANE_ENCRYPTION_KEY", code, stderr)
	}
}
