package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func hexSHA(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// TestKeysImport: `keyplane keys import` reads a file (or stdin) of JSON
// lines, all or none, where the database is and through a remote's
// operator API, with the same output.
func TestKeysImport(t *testing.T) {
	local := env(t, map[string]string{"KEYPLANE_ADDR": "127.0.0.1:0"})
	createOrgWithKeys(t, local)
	dir := t.TempDir()
	file := filepath.Join(dir, "keys.jsonl")
	content := `{"sha256": "` + hexSHA("vendor_live_one") + `", "description": "Customer 1", "external_id": "cus_1"}` + "\n" +
		`{"key": "vendor_live_twotwotwotwo", "scopes": ["read"]}` + "\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"keys", "import", "--org", "acme", "--legacy-prefix", "vendor_live_", file}
	if code, out, stderr := runCLI(t, local, "", args...); code != 0 || out != "imported 2 keys (0 there already)\n" {
		t.Fatalf("import: exit %d %q %q", code, out, stderr)
	}
	if code, out, stderr := runCLI(t, local, "", args...); code != 0 || out != "imported 0 keys (2 there already)\n" {
		t.Fatalf("import again: exit %d %q %q", code, out, stderr)
	}
	bad := `{"sha256": "` + hexSHA("fresh") + `"}` + "\n" + `{"key": "nope_live_x"}` + "\n"
	if code, _, stderr := runCLI(t, local, bad, "keys", "import", "--org", "acme", "-"); code != 1 || !strings.Contains(stderr, "line 2: the key matches neither") {
		t.Fatalf("a bad line from stdin: exit %d %q", code, stderr)
	}
	if code, out, _ := runCLI(t, local, "", "keys", "list", "--org", "acme", "--json"); code != 0 || !strings.Contains(out, "Customer 1") || strings.Contains(out, "fresh") {
		t.Fatalf("keys list after the imports: %q", out)
	}
	for _, a := range [][]string{{"keys", "import", "--org", "acme"}, {"keys", "import", "--org", "acme", "a", "b"}} {
		if code, _, _ := runCLI(t, local, "", a...); code != 2 {
			t.Errorf("%v: exit %d, want 2", a, code)
		}
	}
	if code, _, stderr := runCLI(t, local, "", "keys", "import", "--org", "acme", filepath.Join(dir, "missing")); code != 1 || !strings.Contains(stderr, "missing") {
		t.Errorf("a missing file: exit %d %q", code, stderr)
	}

	// Remotely, with an operator token; an org key is refused.
	srv := startServer(t, local)
	code, out, stderr := runCLI(t, local, "", "admin", "create-token", "--name", "Importer")
	if code != 0 {
		t.Fatalf("create-token: %s", stderr)
	}
	op := strings.TrimSpace(out)
	remote := withRemote(t, "http://"+srv.addr, op)
	more := filepath.Join(dir, "more.jsonl")
	os.WriteFile(more, []byte(content+`{"sha256": "`+hexSHA("vendor_live_three")+`"}`+"\n"), 0o600)
	if code, out, stderr := runRemote(t, remote, op, "keys", "import", "--org", "acme", "--legacy-prefix", "vendor_live_", more); code != 0 || out != "imported 1 keys (2 there already)\n" {
		t.Fatalf("remote import: exit %d %q %q", code, out, stderr)
	}
	if code, _, stderr := runRemote(t, remote, op, "keys", "import", "--org", "acme", "-"); code != 1 || !strings.Contains(stderr, "no keys to import") {
		t.Errorf("remote import of nothing: exit %d %q", code, stderr)
	}
	orgKey := strings.TrimSpace(func() string {
		_, o, _ := runCLI(t, local, "", "keys", "create", "--org", "acme", "--description", "CI", "--scope", "keys:manage")
		return o
	}())
	if code, _, stderr := runRemote(t, withRemote(t, "http://"+srv.addr, orgKey), orgKey, "keys", "import", "--org", "acme", more); code != 2 || !strings.Contains(stderr, "operator token") {
		t.Errorf("remote import with an org key: exit %d %q", code, stderr)
	}
}
