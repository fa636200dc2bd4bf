package main

import (
	"encoding/json"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// withRemote returns getenv plus KEYPLANE_REMOTE_URL and
// KEYPLANE_REMOTE_TOKEN. Its data dir is a fresh one, so a command that
// opened a database instead of the remote would find nothing there.
func withRemote(t *testing.T, url, token string) func(string) string {
	return env(t, map[string]string{"KEYPLANE_REMOTE_URL": url, "KEYPLANE_REMOTE_TOKEN": token})
}

// runRemote runs the CLI and fails the test if the token shows in its
// output.
func runRemote(t *testing.T, getenv func(string) string, token string, args ...string) (int, string, string) {
	t.Helper()
	code, out, stderr := runCLI(t, getenv, "", args...)
	if strings.Contains(out, token) || strings.Contains(stderr, token) {
		t.Fatalf("%v: the token shows in the output: out %q err %q", args, out, stderr)
	}
	if code != 0 && strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("%v: stderr %q, want one line", args, stderr)
	}
	return code, out, stderr
}

// TestRemoteCommands drives keys and admin commands against `keyplane
// serve` through its API, with an org key and with an operator token.
func TestRemoteCommands(t *testing.T) {
	local := env(t, map[string]string{"KEYPLANE_ADDR": "127.0.0.1:0"})
	srv := startServer(t, local)
	base := "http://" + srv.addr
	createOrgWithKeys(t, local)
	code, out, stderr := runCLI(t, local, "", "keys", "create", "--org", "acme", "--description", "Automation", "--scope", "keys:manage")
	if code != 0 {
		t.Fatalf("keys create: %s", stderr)
	}
	orgKey := strings.TrimSpace(out)
	code, out, stderr = runCLI(t, local, "", "admin", "create-token", "--name", "Provisioner")
	if code != 0 {
		t.Fatalf("create-token: %s", stderr)
	}
	opToken := strings.TrimSpace(out)

	t.Run("keys with an org key", func(t *testing.T) {
		getenv := withRemote(t, base, orgKey)
		code, out, stderr := runRemote(t, getenv, orgKey, "keys", "create", "--description", "Billing", "--kind", "public",
			"--env", "test", "--scope", "read", "--domain", "shop.example.com", "--expires-in", "30d", "--rate-limit", "10", "--block", "90s")
		if code != 0 {
			t.Fatalf("keys create: exit %d: %s", code, stderr)
		}
		secret := strings.TrimSpace(out)
		if !regexp.MustCompile(`^kp_pk_test_[0-9A-Za-z]{36}$`).MatchString(secret) || strings.Count(out, "\n") != 1 {
			t.Fatalf("keys create printed %q, want the key and nothing else", out)
		}
		if code, _, stderr := runRemote(t, getenv, orgKey, "keys", "create", "--org", "acme", "--description", "X", "--scope", "nope"); code != 1 || !strings.Contains(stderr, "scope") {
			t.Fatalf("unknown scope: exit %d stderr %q", code, stderr)
		}
		if code, _, stderr := runRemote(t, getenv, orgKey, "keys", "list", "--org", "beta"); code != 2 || !strings.Contains(stderr, "acme") {
			t.Fatalf("--org of another organization: exit %d stderr %q, want 2 naming the key's", code, stderr)
		}

		code, out, stderr = runRemote(t, getenv, orgKey, "keys", "list", "--org", "acme", "--json")
		if code != 0 {
			t.Fatalf("keys list: %s", stderr)
		}
		var list []map[string]any
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 {
			t.Fatalf("keys list --json: %v %q", err, out)
		}
		k := list[0]
		want := []string{"id", "description", "hint", "product", "kind", "environment", "scopes", "domains", "ips", "status", "created_at", "expires_at", "last_used_at", "requests_24h"}
		if len(k) != len(want) {
			t.Errorf("keys list --json has %d fields, want %d: %v", len(k), len(want), k)
		}
		for _, field := range want {
			if _, ok := k[field]; !ok {
				t.Errorf("keys list --json lacks %q", field)
			}
		}
		if k["description"] != "Billing" || k["status"] != "active" || k["kind"] != "public" || k["environment"] != "test" || k["expires_at"] == nil {
			t.Errorf("keys list --json: %v", k)
		}
		at, _ := time.Parse(time.RFC3339, k["expires_at"].(string))
		if d := time.Until(at); d < 29*24*time.Hour || d > 31*24*time.Hour {
			t.Errorf("expires_at %v, want in 30 days", at)
		}
		if strings.Contains(out, secret) {
			t.Fatal("keys list shows the secret")
		}

		id := k["id"].(string)
		if code, out, stderr := runRemote(t, getenv, orgKey, "keys", "disable", id); code != 0 || out != "disabled "+k["hint"].(string)+" (Billing)\n" {
			t.Fatalf("keys disable: exit %d %q %q", code, out, stderr)
		}
		if code, out, stderr := runRemote(t, getenv, orgKey, "keys", "enable", id); code != 0 || out != "enabled "+k["hint"].(string)+" (Billing)\n" {
			t.Fatalf("keys enable: exit %d %q %q", code, out, stderr)
		}
		if code, out, stderr := runRemote(t, getenv, orgKey, "keys", "revoke", id); code != 0 || !strings.Contains(out, "revoked") || !strings.Contains(out, "(Billing)") {
			t.Fatalf("keys revoke: exit %d %q %q", code, out, stderr)
		}
		if code, _, stderr := runRemote(t, getenv, orgKey, "keys", "revoke", id); code != 1 || !strings.Contains(stderr, "already revoked") {
			t.Fatalf("second revoke: exit %d %q", code, stderr)
		}
		code, out, _ = runRemote(t, getenv, orgKey, "keys", "list")
		if code != 0 || !strings.HasPrefix(out, "ID") || !strings.Contains(out, "revoked") || !strings.Contains(out, "Automation") {
			t.Fatalf("keys list: %q", out)
		}
		if code, _, stderr := runRemote(t, getenv, orgKey, "admin", "create-org", "--name", "B", "--slug", "beta", "--admin", "ada@example.com"); code != 2 || !strings.Contains(stderr, "operator token") {
			t.Fatalf("admin with an org key: exit %d stderr %q, want 2 asking for an operator token", code, stderr)
		}
	})

	t.Run("admin with an operator token", func(t *testing.T) {
		getenv := withRemote(t, base+"/", opToken)
		code, out, stderr := runRemote(t, getenv, opToken, "admin", "create-user", "--email", "Bob@Example.com", "--name", "Bob")
		if code != 0 || !strings.HasPrefix(out, "created user bob@example.com (") {
			t.Fatalf("create-user: exit %d out %q err %q", code, out, stderr)
		}
		if code, _, stderr := runRemote(t, getenv, opToken, "admin", "create-user", "--email", "bob@example.com", "--name", "Bob"); code != 1 || stderr == "" {
			t.Fatalf("taken email: exit %d err %q", code, stderr)
		}
		if code, out, stderr := runRemote(t, getenv, opToken, "admin", "create-org", "--name", "Beta", "--slug", "beta", "--admin", "bob@example.com"); code != 0 || !strings.HasPrefix(out, "created organization beta (") || !strings.HasSuffix(out, " with admin bob@example.com\n") {
			t.Fatalf("create-org: exit %d out %q err %q", code, out, stderr)
		}
		if code, _, stderr := runRemote(t, getenv, opToken, "admin", "create-org", "--name", "X", "--slug", "xyz", "--admin", "nobody@example.com"); code != 1 || !strings.Contains(stderr, "admin: No user has this email") {
			t.Fatalf("unknown admin: exit %d err %q", code, stderr)
		}
		if code, out, stderr := runRemote(t, getenv, opToken, "admin", "add-member", "--org", "acme", "--email", "BOB@example.com", "--role", "member"); code != 0 || out != "added bob@example.com to acme as member\n" {
			t.Fatalf("add-member: exit %d out %q err %q", code, out, stderr)
		}
		if code, _, stderr := runRemote(t, getenv, opToken, "admin", "add-member", "--org", "acme", "--email", "bob@example.com", "--role", "admin"); code != 1 || !strings.Contains(stderr, "already a member") {
			t.Fatalf("duplicate member: exit %d err %q", code, stderr)
		}
		for _, args := range [][]string{
			{"admin", "create-user", "--email", "c@example.com", "--name", "C", "--password-stdin"},
			{"admin", "create-user", "--email", "c@example.com", "--name", "C", "--operator"},
			{"admin", "create-token", "--name", "X"},
			{"admin", "add-member", "--org", "acme", "--email", "bob@example.com", "--role", "owner"},
		} {
			if code, _, stderr := runRemote(t, getenv, opToken, args...); code != 2 || stderr == "" {
				t.Errorf("%v: exit %d err %q, want 2 with a reason", args, code, stderr)
			}
		}
		if code, _, stderr := runRemote(t, getenv, opToken, "keys", "list"); code != 2 || !strings.Contains(stderr, "need an org key") {
			t.Fatalf("keys with an operator token: exit %d err %q", code, stderr)
		}
	})

	t.Run("refused credentials", func(t *testing.T) {
		wrong := "kp_sk_live_" + strings.Repeat("A", 36)
		if code, _, stderr := runRemote(t, withRemote(t, base, wrong), wrong, "keys", "list"); code != 1 || stderr == "" {
			t.Fatalf("unknown key: exit %d err %q", code, stderr)
		}
		if code, _, stderr := runRemote(t, withRemote(t, base, "garbage"), "garbage", "admin", "create-user", "--email", "d@example.com", "--name", "D"); code != 1 || stderr == "" {
			t.Fatalf("unknown operator token: exit %d err %q", code, stderr)
		}
	})
}

// TestRemoteUnreachable: a closed port fails at once with exit 1 and a
// line naming the remote.
func TestRemoteUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	token := "kp_sk_live_" + strings.Repeat("B", 36)
	start := time.Now()
	code, _, stderr := runRemote(t, withRemote(t, "http://"+addr, token), token, "keys", "list")
	if code != 1 || !strings.Contains(stderr, "cannot reach the remote Keyplane at http://"+addr) {
		t.Fatalf("exit %d err %q, want 1 naming the remote", code, stderr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s, want a fast failure", d)
	}
}

// TestRemoteConfig: wrong remote variables exit 2 naming the variable,
// never showing the token.
func TestRemoteConfig(t *testing.T) {
	token := "kp_sk_live_" + strings.Repeat("C", 36)
	for name, vars := range map[string]map[string]string{
		"KEYPLANE_REMOTE_URL":   {"KEYPLANE_REMOTE_TOKEN": token},
		"KEYPLANE_REMOTE_TOKEN": {"KEYPLANE_REMOTE_URL": "https://keys.example.com"},
	} {
		for _, bad := range []string{"", "ftp://keys.example.com", "keys.example.com", "http://"} {
			v := map[string]string{}
			for k, x := range vars {
				v[k] = x
			}
			if name == "KEYPLANE_REMOTE_TOKEN" && bad != "" {
				bad = " "
			}
			v[name] = bad
			code, _, stderr := runRemote(t, env(t, v), token, "keys", "list")
			if code != 2 || !strings.Contains(stderr, name) {
				t.Errorf("%s=%q: exit %d err %q, want 2 naming it", name, bad, code, stderr)
			}
		}
	}
}
