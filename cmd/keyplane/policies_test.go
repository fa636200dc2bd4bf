package main

import (
	"context"
	"strings"
	"testing"

	"keyplane/internal/audit"
	"keyplane/internal/config"
	"keyplane/internal/org"
)

// TestKeysCreateUnderMaxLifetime: keyplane keys create obeys the
// organization's maximum key lifetime like the dashboard: --expires-in
// within it makes the key; longer, or none, fails with one line naming the
// limit.
func TestKeysCreateUnderMaxLifetime(t *testing.T) {
	getenv := env(t, nil)
	if code, _, stderr := runCLI(t, getenv, "a long enough password\n", "admin", "create-user", "--email", "ada@example.com", "--name", "Ada", "--password-stdin"); code != 0 {
		t.Fatalf("create-user: %s", stderr)
	}
	if code, _, stderr := runCLI(t, getenv, "", "admin", "create-org", "--name", "Acme", "--slug", "acme", "--admin", "ada@example.com"); code != 0 {
		t.Fatalf("create-org: %s", stderr)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := openDB(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	orgs := org.NewService(db, nil)
	acme, err := orgs.BySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := orgs.SetKeyPolicy(ctx, acme.ID, org.KeyPolicy{MaxLifetimeDays: 30, IdleDays: 90}, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, args := range [][]string{{}, {"--expires-in", "31d"}} {
		code, out, stderr := runCLI(t, getenv, "", append([]string{"keys", "create", "--org", "acme", "--description", "Long"}, args...)...)
		if code != 1 || out != "" || !strings.Contains(stderr, "must expire within 30 days") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("keys create %v: exit %d, stdout %q, stderr %q", args, code, out, stderr)
		}
	}
	if code, out, stderr := runCLI(t, getenv, "", "keys", "create", "--org", "acme", "--description", "Short", "--expires-in", "30d"); code != 0 || !strings.HasPrefix(out, "kp_sk_live_") {
		t.Errorf("keys create within the limit: exit %d, %q, %q", code, out, stderr)
	}
}
