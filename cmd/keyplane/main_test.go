package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"keyplane/internal/optoken"
)

// env returns a getenv over vars, with the data dir in a temporary folder.
func env(t *testing.T, vars map[string]string) func(string) string {
	dir := t.TempDir()
	return func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		if k == "KEYPLANE_DATA_DIR" {
			return dir
		}
		return ""
	}
}

// runCLI runs the program and returns its exit status, stdout and stderr.
func runCLI(t *testing.T, getenv func(string) string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, getenv, strings.NewReader(stdin), &out, &errOut)
	code := exitCode(err, &errOut)
	return code, out.String(), errOut.String()
}

func TestBadConfigExitsTwoNamingTheVariable(t *testing.T) {
	cases := map[string]string{
		"DATABASE_URL":              "mysql://x",
		"KEYPLANE_ADDR":             "nonsense",
		"KEYPLANE_MAX_KEYS_PER_ORG": "lots",
		"KEYPLANE_SESSION_IDLE":     "forever",
		"KEYPLANE_LOG_FORMAT":       "xml",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := runCLI(t, env(t, map[string]string{name: value}), "", "migrate")
			if code != 2 {
				t.Fatalf("exit %d, want 2 (stderr %q)", code, stderr)
			}
			if lines := strings.Count(strings.TrimSpace(stderr), "\n"); lines != 0 || !strings.Contains(stderr, name) {
				t.Fatalf("stderr %q: want one line naming %s", stderr, name)
			}
		})
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	getenv := env(t, nil)
	for _, args := range [][]string{
		{"frobnicate"},
		{"admin"},
		{"admin", "create-user", "--email", "a@example.com"},
		{"admin", "create-user", "--email", "a@example.com", "--name", "A"},
		{"admin", "add-member", "--org", "acme", "--email", "a@example.com", "--role", "owner"},
		{"admin", "create-org", "--bogus"},
		{"serve", "extra"},
	} {
		if code, _, stderr := runCLI(t, getenv, "", args...); code != 2 || stderr == "" {
			t.Errorf("%v: exit %d stderr %q, want 2 with a message", args, code, stderr)
		}
	}
}

func TestVersionAndMigrate(t *testing.T) {
	getenv := env(t, nil)
	if code, out, _ := runCLI(t, getenv, "", "version"); code != 0 || !strings.HasPrefix(out, "keyplane ") {
		t.Fatalf("version: exit %d out %q", code, out)
	}
	if code, out, stderr := runCLI(t, getenv, "", "migrate"); code != 0 || !strings.Contains(out, "migrations applied") {
		t.Fatalf("migrate: exit %d out %q err %q", code, out, stderr)
	}
}

func TestAdminCommands(t *testing.T) {
	getenv := env(t, nil)
	code, out, stderr := runCLI(t, getenv, "a long enough password\n", "admin", "create-user", "--email", "Ada@Example.com", "--name", "Ada", "--operator", "--password-stdin")
	if code != 0 || !strings.Contains(out, "ada@example.com") {
		t.Fatalf("create-user: exit %d out %q err %q", code, out, stderr)
	}
	code, _, stderr = runCLI(t, getenv, "short\n", "admin", "create-user", "--email", "bob@example.com", "--name", "Bob", "--password-stdin")
	if code != 1 || !strings.Contains(stderr, "password") {
		t.Fatalf("short password: exit %d err %q, want 1 naming the password", code, stderr)
	}
	code, _, _ = runCLI(t, getenv, "another long password\n", "admin", "create-user", "--email", "bob@example.com", "--name", "Bob", "--password-stdin")
	if code != 0 {
		t.Fatalf("create bob: exit %d", code)
	}
	if code, out, stderr = runCLI(t, getenv, "", "admin", "create-org", "--name", "Acme", "--slug", "acme", "--admin", "ada@example.com"); code != 0 || !strings.Contains(out, "acme") {
		t.Fatalf("create-org: exit %d out %q err %q", code, out, stderr)
	}
	if code, _, stderr = runCLI(t, getenv, "", "admin", "create-org", "--name", "X", "--slug", "admin", "--admin", "ada@example.com"); code != 1 || !strings.Contains(stderr, "reserved") {
		t.Fatalf("reserved slug: exit %d err %q", code, stderr)
	}
	if code, _, stderr = runCLI(t, getenv, "", "admin", "create-org", "--name", "X", "--slug", "xyz", "--admin", "nobody@example.com"); code != 1 || !strings.Contains(stderr, "nobody@example.com") {
		t.Fatalf("unknown admin: exit %d err %q", code, stderr)
	}
	if code, out, stderr = runCLI(t, getenv, "", "admin", "add-member", "--org", "acme", "--email", "BOB@example.com", "--role", "member"); code != 0 || !strings.Contains(out, "bob@example.com") {
		t.Fatalf("add-member: exit %d out %q err %q", code, out, stderr)
	}
	if code, _, stderr = runCLI(t, getenv, "", "admin", "add-member", "--org", "acme", "--email", "bob@example.com", "--role", "admin"); code != 1 || !strings.Contains(stderr, "already a member") {
		t.Fatalf("duplicate member: exit %d err %q", code, stderr)
	}
}

// TestAdminCreateToken: create-token prints the operator token and nothing
// else; only its hash is stored.
func TestAdminCreateToken(t *testing.T) {
	getenv := env(t, nil)
	code, out, stderr := runCLI(t, getenv, "", "admin", "create-token", "--name", "Provisioner", "--expires-in", "90d", "--ip", "10.0.0.0/8", "--ip", "192.0.2.7")
	token := strings.TrimSuffix(out, "\n")
	if code != 0 || optoken.Parse(token, "kp") != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("create-token: exit %d out %q err %q", code, out, stderr)
	}
	if code, _, stderr = runCLI(t, getenv, "", "admin", "create-token", "--name", "X", "--ip", "not-an-ip"); code != 1 || !strings.Contains(stderr, "not-an-ip") {
		t.Fatalf("bad ip: exit %d err %q", code, stderr)
	}
	for _, args := range [][]string{{"admin", "create-token"}, {"admin", "create-token", "--name", "X", "--expires-in", "soon"}} {
		if code, _, _ := runCLI(t, getenv, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServePrintsAGeneratedSetupToken(t *testing.T) {
	getenv := env(t, map[string]string{"KEYPLANE_ADDR": "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, getenv, strings.NewReader(""), io.Discard, logs) }()
	tokenRE := regexp.MustCompile(`setup_token=[0-9a-f]{32}\b`)
	deadline := time.Now().Add(10 * time.Second)
	for !tokenRE.MatchString(logs.String()) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if !tokenRE.MatchString(logs.String()) {
		t.Fatalf("no generated setup token in the log:\n%s", logs)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	getenv := env(t, map[string]string{"KEYPLANE_ADDR": "127.0.0.1:0", "KEYPLANE_SETUP_TOKEN": "a-setup-token-for-tests"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, getenv, strings.NewReader(""), io.Discard, logs) }()

	addrRE := regexp.MustCompile(`msg="keyplane listening" addr=(\S+)`)
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("server did not start; logs:\n%s", logs)
	}
	res, err := http.Get("http://" + addr + "/healthz")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", res, err)
	}
	res.Body.Close()
	// A token the operator chose stays out of the log.
	if strings.Contains(logs.String(), "a-setup-token-for-tests") {
		t.Fatalf("the configured setup token was logged:\n%s", logs)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after shutdown, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10s of the signal")
	}
}

func TestKeysCommands(t *testing.T) {
	getenv := env(t, nil)
	if code, _, stderr := runCLI(t, getenv, "a long enough password\n", "admin", "create-user", "--email", "ada@example.com", "--name", "Ada", "--password-stdin"); code != 0 {
		t.Fatalf("create-user: %s", stderr)
	}
	if code, _, stderr := runCLI(t, getenv, "", "admin", "create-org", "--name", "Acme", "--slug", "acme", "--admin", "ada@example.com"); code != 0 {
		t.Fatalf("create-org: %s", stderr)
	}
	code, out, stderr := runCLI(t, getenv, "", "keys", "create", "--org", "acme", "--description", "Billing", "--kind", "public",
		"--env", "test", "--scope", "read", "--domain", "shop.example.com", "--expires-in", "30d", "--rate-limit", "10", "--block", "90s")
	if code != 0 {
		t.Fatalf("keys create: exit %d: %s", code, stderr)
	}
	secret := strings.TrimSpace(out)
	if !regexp.MustCompile(`^kp_pk_test_[0-9A-Za-z]{36}$`).MatchString(secret) || strings.Count(out, "\n") != 1 {
		t.Fatalf("keys create printed %q, want the key and nothing else", out)
	}
	if code, _, stderr := runCLI(t, getenv, "", "keys", "create", "--org", "acme", "--description", "X", "--scope", "nope"); code != 1 || !strings.Contains(stderr, "scope") {
		t.Fatalf("unknown scope: exit %d stderr %q", code, stderr)
	}
	if code, _, _ := runCLI(t, getenv, "", "keys", "create", "--org", "acme"); code != 2 {
		t.Fatalf("missing description: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, getenv, "", "keys", "create", "--org", "acme", "--description", "X", "--expires-in", "soon"); code != 2 {
		t.Fatalf("bad --expires-in: exit %d, want 2", code)
	}

	code, out, stderr = runCLI(t, getenv, "", "keys", "list", "--org", "acme", "--json")
	if code != 0 {
		t.Fatalf("keys list: %s", stderr)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("keys list --json: %v %q", err, out)
	}
	k := list[0]
	for _, field := range []string{"id", "description", "hint", "product", "kind", "environment", "scopes", "domains", "ips", "status", "created_at", "expires_at", "last_used_at", "requests_24h"} {
		if _, ok := k[field]; !ok {
			t.Errorf("keys list --json lacks %q", field)
		}
	}
	if k["status"] != "active" || k["kind"] != "public" || k["requests_24h"] != float64(0) || k["last_used_at"] != nil || k["expires_at"] == nil {
		t.Errorf("keys list --json: %v", k)
	}
	if strings.Contains(out, secret) {
		t.Fatal("keys list shows the secret")
	}

	id := k["id"].(string)
	if code, out, stderr := runCLI(t, getenv, "", "keys", "disable", "--org", "acme", id); code != 0 || !strings.HasPrefix(out, "disabled kp_pk_test_") {
		t.Fatalf("keys disable: exit %d %q %q", code, out, stderr)
	}
	if code, out, _ := runCLI(t, getenv, "", "keys", "list", "--org", "acme"); code != 0 || !strings.Contains(out, "disabled") {
		t.Fatalf("keys list of a disabled key: %q", out)
	}
	if code, out, stderr := runCLI(t, getenv, "", "keys", "enable", "--org", "acme", id); code != 0 || !strings.HasPrefix(out, "enabled kp_pk_test_") {
		t.Fatalf("keys enable: exit %d %q %q", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, getenv, "", "keys", "enable", "--org", "acme"); code != 2 || !strings.Contains(stderr, "KEY_ID") {
		t.Fatalf("keys enable without an id: exit %d %q", code, stderr)
	}
	if code, out, stderr := runCLI(t, getenv, "", "keys", "revoke", "--org", "acme", id); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("keys revoke: exit %d %q %q", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, getenv, "", "keys", "revoke", "--org", "acme", id); code != 1 || !strings.Contains(stderr, "already revoked") {
		t.Fatalf("second revoke: exit %d %q", code, stderr)
	}
	if code, out, _ := runCLI(t, getenv, "", "keys", "list", "--org", "acme"); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("keys list: %q", out)
	}
}

// TestUnusableSpillDirExitsTwo: a spill dir that cannot hold files stops the
// server at start, not at the shutdown that would need it.
func TestUnusableSpillDirExitsTwo(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := env(t, map[string]string{"KEYPLANE_ADDR": "127.0.0.1:0", "KEYPLANE_SPILL_DIR": filepath.Join(file, "spill")})
	code, _, stderr := runCLI(t, getenv, "", "serve")
	if code != 2 || !strings.Contains(stderr, "KEYPLANE_SPILL_DIR") {
		t.Fatalf("exit %d, stderr %q; want 2 naming KEYPLANE_SPILL_DIR", code, stderr)
	}
}
