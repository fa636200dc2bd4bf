package main

import (
	"context"
	"strings"
	"testing"

	"keyplane/internal/apikey"
	"keyplane/internal/config"
)

// storedModes reads the report-only modes of key id from the command
// line's database.
func storedModes(t *testing.T, getenv func(string) string, id string) apikey.ReportOnly {
	t.Helper()
	return storedKey(t, getenv, "id = ?", id).ReportOnly()
}

// storedKey reads the key that where (with args) names from the command
// line's database.
func storedKey(t *testing.T, getenv func(string) string, where string, args ...any) apikey.Key {
	t.Helper()
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDB(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var k apikey.Key
	if err := db.Where(where, args...).Take(&k).Error; err != nil {
		t.Fatal(err)
	}
	return k
}

// TestKeysReportOnly: keys create takes --report-only (commas or the flag
// again), and keys enforce and keys report-only switch one restriction;
// unknown restrictions and missing arguments are usage errors.
func TestKeysReportOnly(t *testing.T) {
	getenv := env(t, nil)
	createOrgWithKeys(t, getenv)
	code, _, stderr := runCLI(t, getenv, "", "keys", "create", "--org", "acme", "--description", "Partner feed", "--scope", "read",
		"--ip", "203.0.113.0/24", "--report-only", "ips,scopes", "--report-only", "rate_limit")
	if code != 0 {
		t.Fatalf("keys create: exit %d %s", code, stderr)
	}
	list := listKeysJSON(t, getenv)
	if len(list) != 1 {
		t.Fatalf("%d keys", len(list))
	}
	id, hint := list[0]["id"].(string), list[0]["hint"].(string)
	if got := storedModes(t, getenv, id); got != (apikey.ReportOnly{IPs: true, Scopes: true, RateLimit: true}) {
		t.Errorf("created %+v", got)
	}

	code, out, stderr := runCLI(t, getenv, "", "keys", "enforce", "--org", "acme", id, "ips")
	if code != 0 || out != "enforced ips of "+hint+" (Partner feed)\n" {
		t.Fatalf("keys enforce: exit %d %q %q", code, out, stderr)
	}
	code, out, stderr = runCLI(t, getenv, "", "keys", "report-only", "--org", "acme", id, "quota")
	if code != 0 || out != "set quota of "+hint+" (Partner feed) to report only\n" {
		t.Fatalf("keys report-only: exit %d %q %q", code, out, stderr)
	}
	if got := storedModes(t, getenv, id); got != (apikey.ReportOnly{Scopes: true, RateLimit: true, Quota: true}) {
		t.Errorf("after switching %+v", got)
	}

	for _, args := range [][]string{
		{"keys", "create", "--org", "acme", "--description", "X", "--report-only", "ip"},
		{"keys", "enforce", "--org", "acme", id},
		{"keys", "enforce", "--org", "acme", id, "everything"},
		{"keys", "report-only", "--org", "acme"},
		{"keys", "enforce", id, "ips"},
	} {
		if code, _, stderr := runCLI(t, getenv, "", args...); code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || stderr == "" {
			t.Errorf("%v: exit %d %q, want 2 with one line", args, code, stderr)
		}
	}
	if code, _, stderr := runCLI(t, getenv, "", "keys", "revoke", "--org", "acme", id); code != 0 {
		t.Fatal(stderr)
	}
	if code, _, stderr := runCLI(t, getenv, "", "keys", "enforce", "--org", "acme", id, "scopes"); code != 1 || !strings.Contains(stderr, "revoked") {
		t.Errorf("a revoked key: exit %d %q", code, stderr)
	}
}

// TestRemoteKeysReportOnly: the same through a remote Keyplane's API.
func TestRemoteKeysReportOnly(t *testing.T) {
	local := env(t, map[string]string{"KEYPLANE_ADDR": "127.0.0.1:0"})
	srv := startServer(t, local)
	createOrgWithKeys(t, local)
	code, out, stderr := runCLI(t, local, "", "keys", "create", "--org", "acme", "--description", "Automation", "--scope", "keys:manage")
	if code != 0 {
		t.Fatalf("keys create: %s", stderr)
	}
	orgKey := strings.TrimSpace(out)
	getenv := withRemote(t, "http://"+srv.addr, orgKey)
	if code, _, stderr := runRemote(t, getenv, orgKey, "keys", "create", "--description", "Partner feed", "--ip", "203.0.113.7", "--report-only", "ips"); code != 0 {
		t.Fatalf("remote keys create: %s", stderr)
	}
	var id, hint string
	for _, k := range listKeysJSON(t, local) {
		if k["description"] == "Partner feed" {
			id, hint = k["id"].(string), k["hint"].(string)
		}
	}
	if got := storedModes(t, local, id); got != (apikey.ReportOnly{IPs: true}) {
		t.Errorf("created %+v", got)
	}
	code, out, stderr = runRemote(t, getenv, orgKey, "keys", "enforce", id, "ips")
	if code != 0 || out != "enforced ips of "+hint+" (Partner feed)\n" {
		t.Fatalf("remote keys enforce: exit %d %q %q", code, out, stderr)
	}
	code, out, stderr = runRemote(t, getenv, orgKey, "keys", "report-only", id, "scopes")
	if code != 0 || out != "set scopes of "+hint+" (Partner feed) to report only\n" {
		t.Fatalf("remote keys report-only: exit %d %q %q", code, out, stderr)
	}
	if got := storedModes(t, local, id); got != (apikey.ReportOnly{Scopes: true}) {
		t.Errorf("after switching %+v", got)
	}
	if code, _, stderr := runRemote(t, getenv, orgKey, "keys", "enforce", "01960b1e-7c3a-7d7e-9f3a-2b8c4d5e6f70", "ips"); code != 1 || !strings.Contains(stderr, "not found") {
		t.Errorf("an unknown key: exit %d %q", code, stderr)
	}
}
